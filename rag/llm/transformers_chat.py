"""A thin LangChain chat model over a locally loaded transformers causal LM.

Why not langchain-huggingface's ChatHuggingFace over HuggingFacePipeline: it does not stream
from a local pipeline, re-renders the chat template outside the model's tokenizer, and cannot
continue a pre-started assistant turn, which the small default model needs to stay on task. This
class is the minimum: the model's own chat template, sampling knobs as fields and per-call
overrides, and token streaming through ``TextIteratorStreamer``.

Prompt reuse: the KV cache of the last generation (its prompt and answer) is kept, and the next
prompt reads only what follows the longest token prefix it shares with it: the system prompt
for a new question, the whole earlier conversation in a chat. Nothing here knows the prompt's
text; greedy answers are the same with and without reuse (tests/rag/test_llm_backends.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import Field, PrivateAttr

from rag.errors import ModelError
from rag.llm.base import StreamingChat, check_fits, sampling_settings

if TYPE_CHECKING:
    from rag.settings import Settings

_ROLES = {"human": "user", "ai": "assistant", "system": "system"}
# A shorter shared prefix is not worth keeping a cache for (the chat template's first tokens).
MIN_REUSE_TOKENS = 8


def common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share.

    >>> common_prefix([1, 2, 3, 4], [1, 2, 5]), common_prefix([], [1])
    (2, 0)
    """
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class TransformersChat(StreamingChat):
    """Chat model over ``model``/``tokenizer`` already in memory.

    A final ``AIMessage`` in the input is continued, not answered: that is how a prompt
    pre-starts the assistant's turn ("Answer:"). The stream's last chunk carries the token counts
    (``usage_metadata``), ``model_name`` and ``finish_reason``, as LangChain's standard tests ask.
    """

    hf_model: Any = Field(exclude=True)
    tokenizer: Any = Field(exclude=True)
    accepts_logits_processor: ClassVar[bool] = True  # per-call ``logits_processor=[...]``
    prompt_reuse: bool = True  # keep the last generation's KV cache for the next prompt's prefix
    _stop_cache: dict[tuple[str, ...], Any] = PrivateAttr(default_factory=dict)
    # (token ids the cache holds, DynamicCache); taken out while a generation uses it.
    _kv: tuple[list[int], Any] | None = PrivateAttr(default=None)
    _kv_lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "kbqa-transformers"

    # -- prompt ------------------------------------------------------------------------------
    def render(self, messages: list[BaseMessage]) -> str:
        """The prompt text exactly as the model will read it (its own chat template)."""
        chat = [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]
        prefill = chat[-1]["role"] == "assistant"
        return self.tokenizer.apply_chat_template(
            chat,
            tokenize=False,
            add_generation_prompt=not prefill,
            continue_final_message=prefill,
        )

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _generate_kwargs(self, stop: list[str] | None, overrides: dict[str, Any]) -> dict[str, Any]:
        knobs = self.knobs(overrides)
        kwargs: dict[str, Any] = {
            "max_new_tokens": int(knobs["max_new_tokens"]),
            "repetition_penalty": float(knobs["repetition_penalty"]),
            "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        }
        if float(knobs["temperature"]) > 0:
            kwargs.update(
                do_sample=True, temperature=float(knobs["temperature"]), top_p=float(knobs["top_p"])
            )
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if overrides.get("logits_processor") is not None:  # rag.llm.scoring's first-step probe
            kwargs["logits_processor"] = overrides["logits_processor"]
        if stop:
            from transformers import StoppingCriteriaList

            kwargs["stopping_criteria"] = StoppingCriteriaList([self._stop_criteria(tuple(stop))])
        return kwargs

    def _stop_criteria(self, stop: tuple[str, ...]) -> Any:
        """One ``StopStringCriteria`` per set of stop strings, kept for the model's life.

        Not ``generate(stop_strings=...)``: that builds the criteria on every call, reading the
        whole 151k-token vocabulary each time (0.32 s here, even with transformers' own cache),
        which made the chain's first token 0.26 s slower than plain ``generate``.
        """
        from transformers import StopStringCriteria

        if stop not in self._stop_cache:
            self._stop_cache[stop] = StopStringCriteria(self.tokenizer, list(stop))
        return self._stop_cache[stop]

    def _inputs(self, messages: list[BaseMessage], max_new_tokens: int) -> dict[str, Any]:
        prompt = self.render(messages)
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        n_prompt = int(inputs["input_ids"].shape[1])
        check_fits(n_prompt, max_new_tokens, self.context_window)
        return dict(inputs)

    # -- prompt reuse ------------------------------------------------------------------------
    def _take_cache(self, ids: list[int], reuse: bool) -> tuple[Any, int]:
        """A KV cache for ``ids`` and how many of its leading tokens it already holds.

        The kept cache is cropped to the prefix it shares with ``ids`` (never the whole prompt:
        the last token must be read to give the first new token's logits). A new, empty cache
        when there is none, reuse is off, or the shared prefix is shorter than
        ``MIN_REUSE_TOKENS``. The kept one is taken out, so a concurrent call starts afresh.
        """
        with self._kv_lock:
            held, self._kv = self._kv, None
        if reuse and held is not None:
            old, cache = held
            n = min(common_prefix(old, ids), len(ids) - 1)
            if n >= MIN_REUSE_TOKENS:
                try:
                    if cache.get_seq_length() > n:
                        cache.crop(n - cache.get_seq_length())
                    return cache, n
                except (ValueError, NotImplementedError, AttributeError):
                    pass  # a cache layout that cannot be cropped: read the prompt in full
        from transformers import DynamicCache

        return DynamicCache(config=self.hf_model.config), 0

    def _keep_cache(self, cache: Any, sequence: list[int]) -> None:
        """Keep ``cache`` (it holds the KV of ``sequence``'s first tokens) for the next call."""
        held = cache.get_seq_length()
        with self._kv_lock:
            self._kv = (sequence[:held], cache)

    def forget_prompts(self) -> None:
        """Drop the kept KV cache (the next prompt is read in full)."""
        with self._kv_lock:
            self._kv = None

    # -- generation --------------------------------------------------------------------------
    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        import torch
        from transformers import TextIteratorStreamer

        gen_kwargs = self._generate_kwargs(stop, kwargs)
        inputs = self._inputs(messages, gen_kwargs["max_new_tokens"])
        ids = inputs["input_ids"][0].tolist()
        cache, n_cached = self._take_cache(ids, bool(kwargs.get("prompt_reuse", self.prompt_reuse)))
        gen_kwargs["cache"] = cache
        streamer = TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600
        )
        errors: list[BaseException] = []
        generated: list[Any] = []

        def work() -> None:
            try:
                with torch.inference_mode():
                    generated.append(
                        self.hf_model.generate(**inputs, **gen_kwargs, streamer=streamer)
                    )
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(exc)
                streamer.end()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        for piece in streamer:
            if not piece:
                continue
            if stop:
                cut = min((piece.find(s) for s in stop if s in piece), default=-1)
                if cut >= 0:
                    piece = piece[:cut]
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        thread.join()
        if errors:
            raise ModelError(f"generation failed: {errors[0]}") from errors[0]
        if generated:
            self._keep_cache(cache, generated[0][0].tolist())
        n_prompt = int(inputs["input_ids"].shape[1])
        n_new = int(generated[0].shape[-1]) - n_prompt if generated else 0
        finish = "length" if n_new >= gen_kwargs["max_new_tokens"] else "stop"
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata={
                    "input_tokens": n_prompt,
                    "output_tokens": n_new,
                    "total_tokens": n_prompt + n_new,
                    # prompt tokens not read again: their KV came from the previous call
                    "input_token_details": {"cache_read": n_cached},
                },
                response_metadata={"model_name": self.model_name, "finish_reason": finish},
                chunk_position="last",
            )
        )


def load_transformers_chat(settings: Settings) -> TransformersChat:
    """Load the configured generator (float32, CPU) and wrap it as a chat model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rag.models import apply_offline_env, generator_folder

    apply_offline_env(settings.offline)
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    folder, extra = generator_folder(settings)
    started = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            folder, local_files_only=settings.offline, **extra
        )
        # float32: these CPUs have no native bf16, and bf16 reads prompts about 6x slower.
        model = AutoModelForCausalLM.from_pretrained(
            folder, dtype=torch.float32, local_files_only=settings.offline, **extra
        )
    except Exception as exc:  # noqa: BLE001
        raise ModelError(
            f"could not load generator {settings.llm_model!r} from {folder}: {exc}"
            " (setting: KBQA_LLM_MODEL)"
        ) from exc
    model.eval()
    if tokenizer.chat_template is None:
        raise ModelError(
            f"generator {settings.llm_model!r} has no chat template; use an instruction-tuned model"
        )
    window = settings.context_window or int(
        getattr(model.config, "max_position_embeddings", 0) or 4096
    )
    chat = TransformersChat(
        hf_model=model,
        tokenizer=tokenizer,
        **sampling_settings(settings),
        context_window=window,
    )
    chat.metadata = {"load_seconds": round(time.perf_counter() - started, 2), "folder": folder}
    return chat
