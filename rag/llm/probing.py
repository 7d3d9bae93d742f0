"""The backend probe run with the real chat models: load each in-process backend, time it
(``rag.probe`` chooses and caches), and hand back the winner still loaded.

Kept apart from ``rag.probe``, which ``rag.models`` reads without loading any backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag.errors import ModelError
from rag.probe import (
    Measure,
    Measurement,
    ProbeResult,
    available_memory,
    cached_choice,
    probe,
    time_chat,
)

if TYPE_CHECKING:
    from rag.settings import Settings


class RealMeasure:
    """``measure(backend, threads)`` over the real chat models, loaded once per backend (llama.cpp
    once per thread count: its threads are fixed at load). Keeps the last model it loaded of each
    backend, so the winner need not be loaded again."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loaded: dict[str, tuple[int, Any]] = {}  # backend -> (threads, chat)
        self.runs = 0

    def chat(self, backend: str, threads: int) -> Any:
        held = self.loaded.get(backend)
        if held and (held[0] == threads or backend == "transformers"):
            chat = held[1]
        else:
            self.loaded.pop(backend, None)
            chat = load_backend(self.settings, backend, threads)
            self.loaded[backend] = (threads, chat)
            from langchain_core.messages import HumanMessage

            chat.invoke([HumanMessage("Hi")], max_new_tokens=2)  # one-time setup off the clock
        if backend == "transformers":
            import torch

            torch.set_num_threads(threads)
            self.loaded[backend] = (threads, chat)
        return chat

    def __call__(self, backend: str, threads: int) -> Measurement:
        chat = self.chat(backend, threads)
        self.runs += 1
        n_prompt, n_new, first_s, rest_s = time_chat(chat, self.runs)
        decode = (n_new - 1) / rest_s if n_new > 1 and rest_s > 0 else 0.0
        return Measurement(backend, threads, n_prompt / max(first_s, 1e-6), decode)

    def take(self, backend: str, threads: int) -> Any | None:
        """The loaded chat for ``backend`` at ``threads`` (others released), if it is loaded."""
        held = self.loaded.pop(backend, None)
        self.loaded.clear()
        if held is None or held[0] != threads:
            return None
        return held[1]


def load_backend(settings: Settings, backend: str, threads: int) -> Any:
    """One in-process backend's chat model at ``threads`` threads."""
    local = settings.model_copy(update={"torch_threads": threads})
    if backend == "llamacpp":
        from rag.llm.llamacpp import load_llamacpp_chat

        return load_llamacpp_chat(local)
    from rag.llm.transformers_chat import load_transformers_chat

    return load_transformers_chat(local)


def installed_backends(settings: Settings) -> tuple[list[str], dict[str, str]]:
    """The in-process backends that can run the configured model here, and why others cannot."""
    import importlib.util

    from rag import registry

    ok: list[str] = []
    skipped: dict[str, str] = {}
    if importlib.util.find_spec("torch") and importlib.util.find_spec("transformers"):
        spec = registry.GENERATORS.get(settings.llm_model)
        need = _fp32_bytes(spec.size) if spec else 0
        free = available_memory()
        if need and free and need > free:
            skipped["transformers"] = (
                f"float32 weights need ~{need / 2**30:.1f} GiB, {free / 2**30:.1f} GiB available"
            )
        else:
            ok.append("transformers")
    else:
        skipped["transformers"] = "torch/transformers not installed"
    if importlib.util.find_spec("xllamacpp"):
        ok.append("llamacpp")
    else:
        skipped["llamacpp"] = "xllamacpp not installed"
    return ok, skipped


def _fp32_bytes(gguf_size: int) -> int:
    # A Q4_K_M GGUF stores about 5 bits a weight; float32 is 32, plus ~30 % for the load itself.
    return int(gguf_size * 32 / 5 * 1.3)


def probe_and_load(
    settings: Settings,
    *,
    force: bool = False,
    backends: tuple[list[str], dict[str, str]] | None = None,
    measure: Measure | None = None,
) -> tuple[ProbeResult, Any | None]:
    """The probe result for ``settings`` (the cached one unless ``force``), and, when it had to
    measure with the real models, the winning chat model still loaded (else None).

    ``backends`` (which to measure, and why others are skipped) and ``measure`` default to the
    installed backends and ``RealMeasure``; tests pass fakes.
    """
    from rag.locks import exclusive

    with exclusive(settings.cache_dir / "probe" / ".lock"):  # one probe at a time per machine
        cached = None if force else cached_choice(settings)
        if cached is not None:
            return cached, None
        names, skipped = backends or installed_backends(settings)
        if not names:
            raise ModelError(f"no in-process generator backend can run here: {skipped}")
        timer = measure or RealMeasure(settings)
        result = probe(settings, names, timer, skipped=skipped)
        chat = (
            timer.take(result.backend, result.threads) if isinstance(timer, RealMeasure) else None
        )
        return result, chat
