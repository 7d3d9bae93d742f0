"""The unpack limit: how far a compressed container (DOCX zip, PDF stream) may inflate.

It scales with ``max_file_mb``: a file may unpack to ``UNPACK_FACTOR`` times the largest file kbqa
reads (200 MB at the default 50 MB). Real documents stay far below that (Word XML inflates about
10 times, PDF content streams about 5), while a decompression bomb inflates a thousand times and
more, so a bomb is refused before it can fill memory.

>>> bomb_reason(200 * 1024 * 1024)
'decompresses to more than 200 MB; refused as a possible decompression bomb (limit: 4 x max_file_mb)'
"""

from __future__ import annotations

UNPACK_FACTOR = 4
MB = 1024 * 1024


def max_unpacked_bytes(max_file_mb: float) -> int:
    return int(UNPACK_FACTOR * max_file_mb * MB)


def bomb_reason(limit_bytes: int, limit_name: str = f"{UNPACK_FACTOR} x max_file_mb") -> str:
    return (
        f"decompresses to more than {limit_bytes / MB:.3g} MB; refused as a possible"
        f" decompression bomb (limit: {limit_name})"
    )
