"""Where an eval run keeps its knowledge base and outputs: names and settings apart from the user's.

>>> default_kb_name("../shared/datasets/new_wiki_v1.0.json"), default_out_dir("dev.json").as_posix()
('eval-new_wiki_v1.0', 'eval-out/dev')
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from rag.settings import Settings

__all__ = ["default_kb_name", "default_out_dir", "eval_settings"]

_KB_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")


def _stem(dataset_path: str | Path) -> str:
    # A dev-set folder is named by the folder ("realistic/"), a file by its stem.
    path = Path(dataset_path)
    return path.name if path.is_dir() or not path.suffix else path.stem


def default_kb_name(dataset_path: str | Path) -> str:
    """``eval-<dataset stem>``, made to fit the knowledge-base name rules of ``Settings.kb``.

    A stem with no usable character (a Chinese file name) becomes a short hash of it.

    >>> default_kb_name("../shared/datasets/new_wiki_v1.0.json")
    'eval-new_wiki_v1.0'
    >>> default_kb_name("my data (v2)!.jsonl")
    'eval-my-data-v2'
    >>> default_kb_name("北京.json")
    'eval-685e1518'
    >>> default_kb_name("bench/data/realistic")
    'eval-realistic'
    """
    stem = _stem(dataset_path)
    safe = _KB_UNSAFE_RE.sub("-", stem).strip("-._")
    if not safe:
        safe = hashlib.sha1(stem.encode("utf-8")).hexdigest()[:8]
    # Settings.kb allows 62 characters: first, up to 60 middle, last.
    return re.sub(r"[^A-Za-z0-9]+$", "", f"eval-{safe}"[:62])


def default_out_dir(dataset_path: str | Path) -> Path:
    """``./eval-out/<dataset stem>``.

    >>> default_out_dir("data/dev.json").as_posix(), default_out_dir("bench/data/realistic/").as_posix()
    ('eval-out/dev', 'eval-out/realistic')
    """
    return Path("eval-out") / _stem(dataset_path)


def eval_settings(
    dataset_path: str | Path,
    out_dir: str | Path,
    *,
    kb: str | None = None,
    persist_dir: str | Path | None = None,
    **overrides: Any,
) -> Settings:
    """Settings for an eval run, kept apart from the user's store.

    The knowledge base defaults to ``default_kb_name(dataset_path)`` (plus the embedder's id when
    it is not the default one) and the store to ``<out_dir>/store``; ``None`` overrides are
    ignored, the rest come from env and kbqa.toml.

    >>> s = eval_settings("dev.json", "/tmp/eval-out", top_k=None)
    >>> s.kb, s.persist_dir.as_posix()
    ('eval-dev', '/tmp/eval-out/store')
    >>> eval_settings("dev.json", "/tmp/eval-out", embedder="multilingual-e5-small").kb
    'eval-dev-multilingual-e5-small'
    """
    values = {k: v for k, v in overrides.items() if v is not None}
    values["kb"] = kb or default_kb_name(dataset_path)
    values["persist_dir"] = Path(persist_dir) if persist_dir else Path(out_dir) / "store"
    settings = Settings(**values)
    if kb is None and settings.embedder != Settings.model_fields["embedder"].default:
        # One knowledge base per embedder in the eval store: comparing embedders needs no reindex.
        settings.kb = _embedder_kb_name(settings.kb, settings.embedder)
    return settings


def _embedder_kb_name(kb: str, embedder: str) -> str:
    """``kb`` with the embedder's id appended, within the knowledge-base name rules.

    >>> _embedder_kb_name("eval-dev", "use-multilingual")
    'eval-dev-use-multilingual'
    """
    from rag.models import embedder_id

    suffix = _KB_UNSAFE_RE.sub("-", embedder_id(embedder)).strip("-._") or "embedder"
    return re.sub(r"[^A-Za-z0-9]+$", "", f"{kb}-{suffix}"[:62])
