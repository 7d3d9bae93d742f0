"""Hybrid retrieval: dense search in Chroma and BM25 keyword search, fused by score (cosine plus
scaled BM25, ``score_fuse``; the default) or by reciprocal rank (``rrf_fuse``).

Why not LangChain's EnsembleRetriever: it fuses ranks but drops scores, and kbqa needs each
passage's cosine similarity to decide when to abstain and its keyword rank to explain results.
``KbRetriever`` exposes the same search as a LangChain ``BaseRetriever`` for notebook pipelines.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from difflib import get_close_matches
from typing import TYPE_CHECKING, Any, ClassVar

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import AliasChoices, ConfigDict, Field

from rag.errors import ConfigError, UnknownOptionError
from rag.text import detect_language, tokenize
from rag.types import Passage

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from rag.store import KbStore


def rrf_fuse(rankings: Sequence[tuple[Sequence[str], float]], k: int) -> dict[str, float]:
    """Weighted reciprocal-rank fusion: ``sum(w / (k + rank))`` over the rankings.

    >>> sorted(rrf_fuse([(["a", "b"], 1.0), (["b", "c"], 1.0)], k=60).items())[0][0]
    'a'
    >>> max(rrf_fuse([(["a", "b"], 1.0), (["b", "c"], 1.0)], k=60).items(), key=lambda x: x[1])[0]
    'b'
    """
    scores: dict[str, float] = {}
    for ids, weight in rankings:
        for rank, chunk_id in enumerate(ids, 1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (k + rank)
    return scores


KEYWORD_SCORE_WEIGHT = 0.4  # score fusion: cosine + 0.4 x BM25 / best BM25 (docs/evaluation.md)
FUSIONS = ("score", "rrf")


def score_fuse(
    cosines: Mapping[str, float], keyword_hits: Sequence[tuple[str, float]], weight: float
) -> dict[str, float]:
    """Score fusion: each candidate's cosine plus ``weight`` x its BM25 score over the best one.

    Reciprocal-rank fusion throws the scores away: a passage whose cosine stands far above the
    rest (dense rank 1 only: 1/61) loses to any passage that both searches rank, however weakly
    (dense rank 5 and keyword rank 1: 1/65 + 1/61). Adding the scores keeps the gap; BM25 is
    divided by the best hit's score so its scale does not depend on the question's length.
    ``cosines`` holds every candidate (dense hits and keyword hits); one keyword search did not
    find gets its cosine alone.

    >>> fused = score_fuse({"a": 0.9, "b": 0.6, "c": 0.55}, [("b", 8.0), ("c", 2.0)], 0.4)
    >>> sorted(fused, key=lambda c: -fused[c]), round(fused["b"], 2)
    (['b', 'a', 'c'], 1.0)
    >>> score_fuse({"a": 0.9, "b": 0.3}, [("b", 8.0)], 0.4)["a"] > 0.3 + 0.4  # a far better cosine
    True
    """
    best = keyword_hits[0][1] if keyword_hits else 0.0
    keyword = {cid: score / best for cid, score in keyword_hits} if best > 0 else {}
    return {cid: cos + weight * keyword.get(cid, 0.0) for cid, cos in cosines.items()}


def reserve_cross_language_slot(
    order: Sequence[str], dense_ids: Sequence[str], foreign: Collection[str], k: int
) -> list[str]:
    """``order`` with dense search's best passage in place ``k`` when it is ``foreign`` (in
    another language than the question) and the fusion left it out of the first ``k``.

    Keyword search matches words, so it never finds a passage in the other language, while
    same-language passages that share a word or two with the question gain a second rank: under
    reciprocal-rank fusion any of them outranks a passage only dense search found (dense rank 1:
    1/61; dense rank 5 and keyword rank 1: 1/65 + 1/61), at any keyword weight. One place is
    kept for the passage dense search ranks first; the rest of the fused order is unchanged
    (docs/evaluation.md, "Chinese and cross-language by default": giving every cross-language
    passage its dense rank as a keyword rank too cost English questions in a mixed knowledge
    base 4 points). Under score fusion (the default) a keyword hit adds up to
    ``KEYWORD_SCORE_WEIGHT`` to a cosine, which still outweighs USE's cosine gap between
    languages: without the place, cross-language questions lose 0.13 there too.

    >>> reserve_cross_language_slot(["zh2", "zh1", "zh3", "en1"], ["en1", "zh1"], {"en1"}, 2)
    ['zh2', 'en1', 'zh1', 'zh3']
    >>> reserve_cross_language_slot(["zh2", "en1"], ["en1"], {"en1"}, 2)  # already given
    ['zh2', 'en1']
    """
    if not dense_ids or dense_ids[0] not in foreign or dense_ids[0] in order[:k]:
        return list(order)
    best = dense_ids[0]
    rest = [c for c in order if c != best]
    return [*rest[: k - 1], best, *rest[k - 1 :]]


def passage_language(text: str, metadata: Mapping[str, Any]) -> str:
    """The passage's language: its document's ``lang`` (set at ingest), else its own text's."""
    lang = metadata.get("lang")
    return str(lang) if lang in ("en", "zh") else detect_language(text)


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


MMR_LAMBDA = 0.6  # weight of relevance against redundancy when ``mmr`` diversifies passages


def mmr_order(
    query_vector: Sequence[float],
    candidates: Sequence[str],
    vectors: Mapping[str, Sequence[float]],
    top_k: int,
    lam: float = MMR_LAMBDA,
) -> list[str]:
    """The ``top_k`` candidates maximal marginal relevance picks, in the order it picks them.

    LangChain's ``maximal_marginal_relevance``: relevance is a candidate's cosine to the
    question, redundancy its highest cosine to a passage already picked. langchain-core calls
    that module private; ``test_mmr_prefers_diverse_passages`` fails at once if it moves.

    >>> vectors = {"a": [0.99, 0.14], "a_again": [1.0, 0.0], "b": [0.6, 0.8]}
    >>> mmr_order([1.0, 0.3], ["a", "a_again", "b"], vectors, top_k=2, lam=0.5)
    ['a', 'b']
    """
    import numpy as np
    from langchain_core.vectorstores.utils import maximal_marginal_relevance

    picked = maximal_marginal_relevance(
        np.asarray(query_vector, dtype=float),
        [list(map(float, vectors[c])) for c in candidates],
        lambda_mult=lam,
        k=top_k,
    )
    return [candidates[i] for i in picked]


DENSE_WEIGHT = 0.6  # evidence = 0.4 * question coverage + 0.6 * best cosine (docs/evaluation.md)


def question_coverage(
    question: str, passages: Sequence[Passage], doc_freq: Callable[[str], int], n_chunks: int
) -> float:
    """IDF-weighted share of the question's content words that occur in the passages (0..1).

    A question about something the documents never mention names words (people, places,
    terms) that no passage contains; rare words weigh most.

    >>> p = [Passage(1, "c", "a.md", None, "Jupiter is the largest planet.", 1.0)]
    >>> round(question_coverage("Which planet is largest?", p, lambda t: 1, 10), 2)
    1.0
    >>> round(question_coverage("How cold is Neptune?", p, lambda t: 1, 10), 2)
    0.0
    """
    terms = set(tokenize(question, drop_stopwords=True))
    if not terms:
        return 1.0
    present = {t for p in passages for t in tokenize(p.text)}
    stems = {t[:5] for t in present}
    weights = {t: math.log((n_chunks + 1) / (doc_freq(t) + 0.5)) + 1.0 for t in terms}
    found = sum(w for t, w in weights.items() if t in present or (len(t) > 4 and t[:5] in stems))
    return found / sum(weights.values())


def evidence_score(coverage: float, best_dense: float) -> float:
    """How well the passages cover the question: below ``relevance_threshold`` kbqa abstains."""
    return (1 - DENSE_WEIGHT) * coverage + DENSE_WEIGHT * best_dense


class HybridSearch:
    """Dense + keyword search over one knowledge base.

    ``top_k``, ``fetch_k``, ``rrf_k``, ``fusion`` ("score" or "rrf") and
    ``keyword_score_weight`` are validated here, so a bad value fails at once.
    """

    def __init__(
        self,
        store: KbStore,
        embeddings: Embeddings,
        *,
        top_k: int = 4,
        fetch_k: int = 20,
        hybrid: bool = True,
        rrf_k: int = 60,
        keyword_weight: float = 1.0,
        mmr: bool = False,
        reranker: Any = None,
        cross_language: bool = False,
        fusion: str = "score",
        keyword_score_weight: float = KEYWORD_SCORE_WEIGHT,
    ) -> None:
        for name, value in (("top_k", top_k), ("fetch_k", fetch_k), ("rrf_k", rrf_k)):
            if value <= 0:
                raise ConfigError(f"{name} must be positive, got {value}")
        if fusion not in FUSIONS:
            raise ConfigError(f"fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")
        if keyword_score_weight < 0:
            raise ConfigError(f"keyword_score_weight must be 0 or more, got {keyword_score_weight}")
        self.store = store
        self.embeddings = embeddings
        self.top_k, self.fetch_k = top_k, max(fetch_k, top_k)
        self.hybrid, self.rrf_k, self.keyword_weight, self.mmr = hybrid, rrf_k, keyword_weight, mmr
        # How dense and keyword hits are combined: "score" adds the cosine and the scaled BM25
        # score (``score_fuse``), "rrf" their reciprocal ranks (``rrf_fuse``, kbqa's first rule).
        self.fusion, self.keyword_score_weight = fusion, keyword_score_weight
        self.reranker = reranker  # a sentence-transformers CrossEncoder, or None
        # Keep a place for dense search's best passage when it is in another language than the
        # question (``reserve_cross_language_slot``): only for an embedder that matches across
        # languages (with an English-only one, dense ranks across languages are noise).
        self.cross_language = cross_language

    def evidence(self, question: str, passages: Sequence[Passage]) -> float:
        """``evidence_score`` of the passages for the question (see ``question_coverage``)."""
        if not passages:
            return 0.0
        best = max(p.dense_score or 0.0 for p in passages)
        n = self.store.keyword.count()
        coverage = question_coverage(question, passages, self.store.keyword.doc_freq, n)
        return round(evidence_score(coverage, best), 4)

    def sources_matching(self, patterns: Sequence[str], known: Sequence[str]) -> list[str]:
        """Expand file names or globs ("reports/*.pdf") against the sources the KB holds."""
        return sorted({s for s in known for p in patterns if s == p or fnmatch.fnmatch(s, p)})

    def _fetch(self, ids: list[str]) -> Any:
        """Chunks by id with their vectors. A chunk another process is adding right now is not in
        this process's vector index yet (Chroma refuses its vector); embed its text instead."""
        from chromadb.errors import InternalError

        try:
            return self.store.collection.get(
                ids=ids, include=["documents", "metadatas", "embeddings"]
            )
        except InternalError:
            got = self.store.collection.get(ids=ids, include=["documents", "metadatas"])
            got["embeddings"] = self.embeddings.embed_documents(list(got["documents"]))
            return got

    def search(
        self,
        query: str,
        *,
        top_k: int | None = None,
        sources: Sequence[str] | None = None,
        hybrid: bool | None = None,
    ) -> list[Passage]:
        top_k = top_k or self.top_k
        if top_k <= 0:
            raise ConfigError(f"top_k must be positive, got {top_k}")
        if sources is not None and not sources:
            return []
        hybrid = self.hybrid if hybrid is None else hybrid
        fetch_k = max(self.fetch_k, top_k)
        qvec = self.embeddings.embed_query(query)
        where = {"source": {"$in": list(sources)}} if sources is not None else None
        dense = self.store.collection.query(
            query_embeddings=[qvec],
            n_results=fetch_k,
            where=where,
            include=["documents", "metadatas", "distances", "embeddings"],
        )
        records: dict[str, dict[str, Any]] = {}
        dense_ids: list[str] = []
        for i, cid in enumerate(dense["ids"][0]):
            if dense["documents"][0][i] is None:
                continue  # deleted by another process since this one loaded the vector index
            dense_ids.append(cid)
            records[cid] = {
                "text": dense["documents"][0][i],
                "metadata": dense["metadatas"][0][i] or {},
                "dense": 1.0 - float(dense["distances"][0][i]),
                "vector": dense["embeddings"][0][i],
            }
        rankings: list[tuple[Sequence[str], float]] = [(dense_ids, 1.0)]
        keyword_rank: dict[str, int] = {}
        hits: list[tuple[str, float]] = []
        if hybrid:
            hits = self.store.keyword.search(query, fetch_k, sources=sources)
            keyword_ids = [cid for cid, _ in hits]
            keyword_rank = {cid: r for r, cid in enumerate(keyword_ids, 1)}
            missing = [cid for cid in keyword_ids if cid not in records]
            if missing:
                got = self._fetch(missing)
                for i, cid in enumerate(got["ids"]):
                    records[cid] = {
                        "text": got["documents"][i],
                        "metadata": got["metadatas"][i] or {},
                        "dense": _cosine(qvec, got["embeddings"][i]),
                        "vector": got["embeddings"][i],
                    }
            rankings.append(([c for c in keyword_ids if c in records], self.keyword_weight))
        if self.fusion == "score":
            cosines = {cid: float(rec["dense"]) for cid, rec in records.items()}
            found = [(cid, score) for cid, score in hits if cid in records]
            fused = score_fuse(cosines, found, self.keyword_score_weight)  # no hits: cosines
        else:
            fused = rrf_fuse(rankings, self.rrf_k)
        order = sorted(fused, key=lambda cid: -fused[cid])
        rerank: dict[str, float] = {}
        if self.reranker is not None and order:
            pool = order[:fetch_k]
            scores = self.reranker.predict([(query, records[c]["text"]) for c in pool])
            rerank = {c: float(x) for c, x in zip(pool, scores, strict=True)}
            order = sorted(pool, key=lambda c: -rerank[c])
        if self.mmr:
            # Diversify within the fused (or reranked) candidates; MMR scores them by cosine.
            order = mmr_order(qvec, order, {c: records[c]["vector"] for c in order}, top_k)
        if hybrid and self.cross_language and dense_ids:
            best = dense_ids[0]
            lang = detect_language(query)
            if passage_language(records[best]["text"], records[best]["metadata"]) != lang:
                # The slot is within the passages the model is given (``self.top_k``), also
                # when a caller asks for more (the eval ranks 5 to score hit@5).
                k = min(top_k, self.top_k)
                order = reserve_cross_language_slot(order, dense_ids, {best}, k)
        passages = []
        for n, cid in enumerate(order[:top_k], 1):
            rec = records[cid]
            meta = dict(rec["metadata"])
            passages.append(
                Passage(
                    n=n,
                    chunk_id=cid,
                    source=str(meta.get("source", "")),
                    page=int(meta["page"]) if meta.get("page") is not None else None,
                    text=rec["text"],
                    score=round(fused[cid], 6),
                    dense_score=round(float(rec["dense"]), 4),
                    keyword_rank=keyword_rank.get(cid),
                    rerank_score=round(rerank[cid], 4) if cid in rerank else None,
                    metadata=meta,
                )
            )
        return passages


class KbRetriever(BaseRetriever):
    """The hybrid search as a LangChain retriever (Documents carry score metadata).

    ``top_k`` (also accepted as ``k``, LangChain's name) is how many documents come back; one
    call can ask for another number: ``retriever.invoke(question, k=2)``. Any other option is an
    ``UnknownOptionError`` that names the valid ones.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    search: Any  # a HybridSearch, or anything with its ``search(query, top_k=...)``
    top_k: int = Field(4, validation_alias=AliasChoices("top_k", "k"))

    OPTIONS: ClassVar[tuple[str, ...]] = ("k", "top_k")
    # BaseRetriever.invoke reads this one itself and passes it on too.
    _PASSED_THROUGH: ClassVar[frozenset[str]] = frozenset({"verbose"})

    def __init__(self, **fields: Any) -> None:
        super().__init__(**fields)
        if self.top_k <= 0:  # here, not in a validator, so it stays a ConfigError
            raise ConfigError(f"top_k must be positive, got {self.top_k}")

    def call_top_k(self, options: dict[str, Any]) -> int:
        """The number of documents one call asks for (``k`` or ``top_k``), checked.

        >>> KbRetriever(search=None, k=3).call_top_k({"top_k": 1})
        1
        >>> KbRetriever(search=None).call_top_k({"topk": 1})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        rag.errors.UnknownOptionError: unknown retriever option 'topk' (did you mean 'top_k'?); ...
        """
        unknown = sorted(set(options) - set(self.OPTIONS) - self._PASSED_THROUGH)
        if unknown:
            named = [
                f"{name!r}"
                + "".join(
                    f" (did you mean {c!r}?)" for c in get_close_matches(name, self.OPTIONS, n=1)
                )
                for name in unknown
            ]
            raise UnknownOptionError(
                f"unknown retriever option {', '.join(named)}; valid options:"
                f" {', '.join(self.OPTIONS)}"
            )
        asked = {options[name] for name in self.OPTIONS if options.get(name) is not None}
        if len(asked) > 1:
            raise ConfigError(f"k={options['k']} and top_k={options['top_k']} disagree")
        top_k = int(asked.pop()) if asked else self.top_k
        if top_k <= 0:
            raise ConfigError(f"top_k must be positive, got {top_k}")
        return top_k

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **options: Any
    ) -> list[Document]:
        return [
            Document(
                id=p.chunk_id,
                page_content=p.text,
                metadata={**p.metadata, "score": p.score, "dense_score": p.dense_score},
            )
            for p in self.search.search(query, top_k=self.call_top_k(options))
        ]
