"""One typed ``Settings`` object: every knob kbqa has, with its default and what it does.

Precedence, highest first: keyword arguments in Python, ``KBQA_*`` environment variables,
``kbqa.toml`` (or the file named by ``KBQA_CONFIG``, read each time a ``Settings`` is built), the
defaults below. Building one also points the Hugging Face offline switches at its ``offline``
(``rag.environment``). Fields marked ``loads_model`` are the ones a loaded model depends on.

>>> from rag import Settings
>>> Settings(top_k=3).top_k
3
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonDict
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from rag import registry
from rag.environment import apply_hub_env

DEFAULT_EXTENSIONS = (
    ".pdf .txt .text .md .markdown .rst .html .htm .docx .xlsx .ods .pptx .png .jpg .jpeg .tif .tiff"
    " .csv .json .jsonl .log"
).split()

# Marks a field a loaded model depends on: changing it means loading models again (the app keys
# its shared models on these, ``model_setting_names``).
LOADS_MODEL: JsonDict = {"loads_model": True}
_LANGUAGES = {("en",): "English", ("en", "zh"): "Chinese and English"}


def _embedder_aliases() -> str:
    return "; ".join(
        f"{m.alias}, {_LANGUAGES.get(m.languages, ' '.join(m.languages))}"
        for m in registry.EMBEDDERS.values()
    )


def _calibrated_thresholds() -> str:
    return ", ".join(f"{m.abstain_below} {m.alias}" for m in registry.EMBEDDERS.values())


class Settings(BaseSettings):
    """kbqa's settings. Field descriptions are the documentation (README table is generated)."""

    model_config = SettingsConfigDict(
        env_prefix="KBQA_",
        extra="forbid",
        validate_assignment=True,
    )

    # --- where things live -------------------------------------------------------------------
    persist_dir: Path = Field(
        Path("./vectorstore"), description="Folder of the embedded Chroma store and its indexes."
    )
    kb: str = Field("default", description="Knowledge base name (one Chroma collection each).")
    model_cache_dir: Path = Field(
        Path("~/.cache/kbqa"),
        description="Folder for converted model caches (safetensors).",
        json_schema_extra=LOADS_MODEL,
    )
    chroma_url: str | None = Field(
        None, description="Chroma server URL (http://127.0.0.1:8000); unset = embedded store."
    )

    # --- models ------------------------------------------------------------------------------
    embedder: str = Field(
        registry.DEFAULT_EMBEDDER,
        description=f"Embedder: a packaged alias ({_embedder_aliases()}), a local folder, or a hub"
        " id.",
        json_schema_extra=LOADS_MODEL,
    )
    llm_model: str = Field(
        registry.DEFAULT_GENERATOR,
        description=f"Generator: packaged alias ({', '.join(registry.GENERATORS)}), folder, .gguf"
        " or hub id.",
        json_schema_extra=LOADS_MODEL,
    )
    llm_backend: Literal["auto", "transformers", "llamacpp", "openai"] = Field(
        "auto",
        description="Generation backend: auto = openai when llm_base_url is set, llamacpp for a"
        " .gguf path, transformers for a folder; for a packaged model the faster here, measured"
        " once (rag.probe).",
        json_schema_extra=LOADS_MODEL,
    )
    llm_base_url: str | None = Field(
        None,
        description="OpenAI-compatible server (vLLM, TGI, llama.cpp server, Ollama) /v1 URL.",
        json_schema_extra=LOADS_MODEL,
    )
    llm_api_key: str | None = Field(
        None,
        description="API key for llm_base_url, if it needs one.",
        json_schema_extra=LOADS_MODEL,
    )
    llm_timeout: float = Field(
        60.0, gt=0, description="Seconds to wait for a model server.", json_schema_extra=LOADS_MODEL
    )
    offline: bool = Field(
        True,
        description="Never contact a model hub (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE).",
        json_schema_extra=LOADS_MODEL,
    )
    torch_threads: int | None = Field(
        None,
        description="CPU threads for torch and llama.cpp; unset = all cores.",
        json_schema_extra=LOADS_MODEL,
    )

    # --- generation --------------------------------------------------------------------------
    # The chat model is built with these as its defaults (a call may override them).
    temperature: float = Field(
        0.0,
        ge=0.0,
        le=2.0,
        description="Sampling temperature; 0 = greedy.",
        json_schema_extra=LOADS_MODEL,
    )
    top_p: float = Field(
        0.9,
        gt=0.0,
        le=1.0,
        description="Nucleus sampling mass (temperature > 0).",
        json_schema_extra=LOADS_MODEL,
    )
    max_new_tokens: int = Field(
        200,
        ge=1,
        le=8192,
        description="Most tokens one answer may have.",
        json_schema_extra=LOADS_MODEL,
    )
    repetition_penalty: float = Field(
        1.05,
        ge=1.0,
        le=2.0,
        description="Penalty on repeated tokens (1 = none).",
        json_schema_extra=LOADS_MODEL,
    )
    context_window: int | None = Field(
        None,
        ge=256,
        description="Model context in tokens; unset = read from the model config.",
        json_schema_extra=LOADS_MODEL,
    )
    answer_language: Literal["auto", "en", "zh"] = Field(
        "auto", description="Prompt and refusal language; auto = the question's language."
    )

    # --- ingestion ---------------------------------------------------------------------------
    chunk_size: int = Field(
        200, ge=16, le=8192, description="Chunk size in embedder tokens (MiniLM reads 256 at most)."
    )
    chunk_overlap: int = Field(30, ge=0, description="Overlap between chunks, in embedder tokens.")
    # 8, not the usual 32-64: on this CPU, batches of 4-16 encode MiniLM 10-25 % faster than 64
    # (less padding and smaller attention matrices) and peak 400 MB lower (docs/benchmarks.md).
    embed_batch_size: int = Field(
        8,
        ge=1,
        description="Chunks per embedder forward pass (small is faster on CPU).",
        json_schema_extra=LOADS_MODEL,
    )
    max_file_mb: float = Field(50.0, gt=0, description="Files larger than this are refused.")
    extensions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EXTENSIONS),
        description="File extensions ingest reads; others are skipped and listed.",
    )
    pdf_password: str | None = Field(None, description="Password for encrypted PDFs.")
    file_timeout: float = Field(
        120.0,
        ge=0,
        description="Seconds one file may take to load and split (in a child process);"
        " 0 = no limit, read in-process.",
    )
    file_memory_mb: int = Field(
        2048, ge=256, description="Memory the file reader may use for one file, in MB."
    )

    # --- retrieval ---------------------------------------------------------------------------
    top_k: int = Field(4, ge=1, le=50, description="Passages given to the model.")
    fetch_k: int = Field(
        20, ge=1, le=500, description="Candidates each retriever returns before fusion."
    )
    hybrid: bool = Field(True, description="Fuse BM25 keyword search with dense search.")
    fusion: Literal["score", "rrf"] = Field(
        "score",
        description="How dense and keyword hits are fused: 'score' adds cosine similarity and"
        " keyword_score_weight x BM25 / best BM25; 'rrf' adds reciprocal ranks (rrf_k,"
        " keyword_weight).",
    )
    keyword_score_weight: float = Field(
        0.4, ge=0.0, description="Score fusion: weight of the scaled BM25 score beside the cosine."
    )
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant (fusion 'rrf').")
    keyword_weight: float = Field(
        1.0, ge=0.0, description="Weight of keyword ranks in reciprocal-rank fusion."
    )
    language_fusion: bool = Field(
        True,
        description="When dense search ranks first a passage in another language than the"
        " question's (keyword search cannot find it), it keeps a place among the top_k; needs a"
        " bilingual embedder.",
    )
    # Off by default: +0.205 passage given on cross-language questions, but -0.030 English,
    # -0.078 Chinese and +1.3 s a question here (docs/evaluation.md, "translated queries").
    translate_queries: bool = Field(
        False,
        description="In a knowledge base holding both English and Chinese documents, also search"
        " with the question translated into the other language by the generator (one short"
        " call, about 1.3 s here); a one-language knowledge base never calls the model.",
    )
    mmr: bool = Field(False, description="Diversify passages with maximal marginal relevance.")
    reranker: str | None = Field(
        None,
        description="Local cross-encoder folder that reranks the fused candidates (none ships).",
        json_schema_extra=LOADS_MODEL,
    )
    relevance_threshold: float | None = Field(
        None,
        ge=-1.0,
        le=1.0,
        description="Abstain when the evidence score (0.4 x IDF-weighted question coverage +"
        " 0.6 x best cosine similarity) is below this; unset = calibrated for the embedder"
        f" ({_calibrated_thresholds()}; docs/evaluation.md).",
    )
    citation_threshold: float = Field(
        0.8, ge=0.0, le=1.0, description="Least support score for an answer sentence to be cited."
    )

    # --- app ---------------------------------------------------------------------------------
    app_host: str = Field("127.0.0.1", description="Address the Streamlit app binds.")
    app_port: int = Field(8501, ge=1, le=65535, description="Port of the Streamlit app.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file is looked up now, not when the class is defined: KBQA_CONFIG may change.
        toml_file = os.environ.get("KBQA_CONFIG", "kbqa.toml")
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file))

    @field_validator("kb")
    @classmethod
    def _kb_name(cls, value: str) -> str:
        import re

        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]", value):
            raise ValueError(
                f"knowledge base name {value!r} must be 3-63 letters, digits, '.', '_' or '-'"
                " and start and end with a letter or digit"
            )
        return value

    @field_validator("extensions")
    @classmethod
    def _extensions(cls, value: list[str]) -> list[str]:
        return [v.lower() if v.startswith(".") else "." + v.lower() for v in value]

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size"
                f" ({self.chunk_size})"
            )
        return self

    @model_validator(mode="after")
    def _hub_env_follows_offline(self) -> Settings:
        apply_hub_env(self.offline)
        return self

    @property
    def cache_dir(self) -> Path:
        return self.model_cache_dir.expanduser()

    @property
    def abstain_below(self) -> float:
        """``relevance_threshold``, or the embedder's calibrated one when it is unset."""
        if self.relevance_threshold is not None:
            return self.relevance_threshold
        return registry.abstain_below(self.embedder)

    @property
    def kb_dir(self) -> Path:
        """Per-knowledge-base files beside Chroma: record manager, keyword index, lock."""
        return self.persist_dir / "kbqa" / self.kb


def loads_model(field: FieldInfo) -> bool:
    extra = field.json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("loads_model"))


def model_setting_names() -> frozenset[str]:
    """The settings a loaded model depends on (marked ``LOADS_MODEL``); the rest (store,
    retrieval, ingestion, app) can change without loading any model again.

    >>> sorted(model_setting_names())[:3]
    ['context_window', 'embed_batch_size', 'embedder']
    """
    return frozenset(name for name, field in Settings.model_fields.items() if loads_model(field))


def settings_table() -> str:
    """The settings as a Markdown table (README's table is generated from this)."""
    rows = ["| setting | env var | default | description |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        if isinstance(default, list):
            default = " ".join(default)
        rows.append(
            f"| `{name}` | `KBQA_{name.upper()}` | `{default}` | {field.description or ''} |"
        )
    return "\n".join(rows)
