"""Regenerate the settings table in README.md from the ``Settings`` model: ``python -m rag.docs``."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from rag.settings import settings_table

BEGIN, END = "<!-- settings-table:begin -->", "<!-- settings-table:end -->"


def refresh(readme: Path) -> bool:
    text = readme.read_text(encoding="utf-8")
    new = re.sub(
        re.escape(BEGIN) + r".*?" + re.escape(END),
        lambda _: f"{BEGIN}\n{settings_table()}\n{END}",
        text,
        flags=re.S,
    )
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    changed = refresh(Path(sys.argv[1] if len(sys.argv) > 1 else "README.md"))
    print("README settings table", "updated" if changed else "already current")
