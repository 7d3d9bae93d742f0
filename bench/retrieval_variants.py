"""Retrieval variants scored offline on one knowledge base (issue 13, items 2 and 3).

``kbqa eval --no-generate`` builds a store and ranks every question once; comparing a dozen
fusion rules that way costs a run (and a model load) each. This script loads the store and the
embedder once (``collect``: every chunk's vector, text and metadata, each question's query vector
and BM25 hits, which chunks are gold by the eval's own rule, ``rag.eval.gold.is_gold``) and then
scores any number of ranking rules on that cache in seconds (``score``), with the eval's groups
(en, zh, cross-language, conversations) and its "passage given to the model" (a gold passage in
the top 4).

Conversation turns are ranked with the query the eval used for them (the rule-based rewrite,
``standalone_question`` in the eval's ``results.json``).

Usage (the first under the CPU lock: it loads the embedder)::

    flock /tmp/kbqa-cpu.lock python bench/retrieval_variants.py collect \\
        --persist-dir /tmp/retr/store --results /tmp/retr/base/results.json --cache /tmp/retr/c.pkl
    python bench/retrieval_variants.py score --cache /tmp/retr/c.pkl [--only base,doc_boost]

Dense rankings here are exact cosine over all chunks (Chroma's HNSW index returns the same
order on a store of this size: ``score`` checks the base variant against the eval's own ranks).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOP_K = 4
GROUPS = ("en", "zh", "cross-language", "conversations")


# --- collecting ------------------------------------------------------------------------------


def collect(args: argparse.Namespace) -> None:
    from rag.eval.devset import load_devset
    from rag.eval.gold import is_gold
    from rag.eval.naming import eval_settings
    from rag.followup import resolve as resolve_followup
    from rag.kb import KnowledgeBase
    from rag.text import detect_language

    dataset = Path(args.dataset)
    settings = eval_settings(dataset, args.persist_dir, persist_dir=args.persist_dir)
    t_load = time.perf_counter()
    kb = KnowledgeBase(settings)
    if args.fake:  # a dry run of this script, no model loaded
        from langchain_core.embeddings import DeterministicFakeEmbedding

        embeddings: Any = DeterministicFakeEmbedding(size=512)
    else:
        embeddings = kb.embeddings
    collection = kb.client.get_collection(kb.name)
    got = collection.get(include=["documents", "metadatas", "embeddings"])
    ids = list(got["ids"])
    texts = list(got["documents"])
    metas = [dict(m or {}) for m in got["metadatas"]]
    vectors = np.asarray(got["embeddings"], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    embeddings.embed_query("warm up")
    print(
        f"{len(ids)} chunks; embedder loaded in {time.perf_counter() - t_load:.1f} s",
        file=sys.stderr,
    )
    # Sentence vectors of every chunk (for max-over-sentences scoring), timed: an ingest cost.
    sentences, sentence_chunk = [], []
    for i, text in enumerate(texts if args.sentences else []):
        for sentence in sentence_pieces(text):
            sentences.append(sentence)
            sentence_chunk.append(i)
    t0 = time.perf_counter()
    sentence_vectors = np.asarray(
        embeddings.embed_documents(sentences) if sentences else np.zeros((0, 512)), dtype=np.float32
    )
    sentence_seconds = time.perf_counter() - t0
    sentence_vectors /= np.linalg.norm(sentence_vectors, axis=1, keepdims=True) + 1e-9
    print(f"{len(sentences)} sentences embedded in {sentence_seconds:.1f} s", file=sys.stderr)

    rows = json.loads(Path(args.results).read_text())["rows"]
    by_id = {r["id"]: r for r in rows}
    ds = load_devset(dataset)
    # A conversation turn is ranked with the rule-based rewrite the eval uses without generation
    # (``rag.eval.harness._ask_and_score``): history is the earlier questions, answers empty.
    questions: list[tuple[Any, str | None, str]] = [(q, None, q.question) for q in ds.questions]
    for conv in ds.conversations:
        history: list[tuple[str, str]] = []
        for turn in conv.turns:
            query = resolve_followup(turn.question, history, mode="rules").question
            questions.append((turn, conv.id, query))
            history += [("user", turn.question), ("assistant", "")]
    queries = []
    t0 = time.perf_counter()
    for q, conversation, query in questions[: args.limit]:
        row = by_id.get(q.id, {})
        qvec = np.asarray(embeddings.embed_query(query), dtype=np.float32)
        qvec /= np.linalg.norm(qvec)
        bm25 = kb.keyword.search(query, args.depth)
        gold = (
            [
                i
                for i, (t, m) in enumerate(zip(texts, metas, strict=True))
                if is_gold(
                    q, t, str(m.get("source", "")), starts_document=m.get("start_index") == 0
                )
            ]
            if q.answerable
            else []
        )
        queries.append(
            {
                "id": q.id,
                "query": query,
                "qlang": detect_language(query),
                "lang": q.lang,
                "doc_lang": q.doc_lang,
                "kind": q.kind,
                "answerable": q.answerable,
                "gold_source": q.gold_source,
                "conversation": conversation,
                "qvec": qvec,
                "bm25": bm25,
                "gold": gold,
                "eval_hit_rank": row.get("hit_rank"),
                "eval_retrieved": [x["chunk_id"] for x in row.get("retrieved", [])],
            }
        )
    print(f"{len(queries)} queries in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    with open(args.cache, "wb") as fh:
        pickle.dump(
            {
                "ids": ids,
                "texts": texts,
                "metas": metas,
                "vectors": vectors,
                "queries": queries,
                "sentences": sentences,
                "sentence_chunk": np.asarray(sentence_chunk),
                "sentence_vectors": sentence_vectors,
                "sentence_seconds": sentence_seconds,
            },
            fh,
        )


def sentence_pieces(text: str, min_chars: int = 12) -> list[str]:
    """The chunk's sentences; a piece shorter than ``min_chars`` joins the next one."""
    from rag.text import split_sentences

    out: list[str] = []
    carry = ""
    for sentence in split_sentences(text):
        carry = f"{carry} {sentence}".strip() if carry else sentence
        if len(carry) >= min_chars:
            out.append(carry)
            carry = ""
    if carry:
        if out:
            out[-1] = f"{out[-1]} {carry}"
        else:
            out.append(carry)
    return out


# --- scoring ---------------------------------------------------------------------------------


@dataclass
class Corpus:
    ids: list[str]
    texts: list[str]
    metas: list[dict[str, Any]]
    vectors: np.ndarray
    langs: np.ndarray  # "en" / "zh" per chunk
    sources: np.ndarray
    is_card: np.ndarray
    index: dict[str, int] = field(default_factory=dict)
    prev: np.ndarray | None = None  # the chunk before, same source, or -1
    next: np.ndarray | None = None


def load_corpus(cache: dict[str, Any]) -> Corpus:
    from rag.retrieval import passage_language

    metas = cache["metas"]
    langs = np.array([passage_language(t, m) for t, m in zip(cache["texts"], metas, strict=True)])
    corpus = Corpus(
        ids=cache["ids"],
        texts=cache["texts"],
        metas=metas,
        vectors=cache["vectors"],
        langs=langs,
        sources=np.array([str(m.get("source", "")) for m in metas]),
        is_card=np.array([m.get("kind") == "card" for m in metas]),
    )
    corpus.index = {c: i for i, c in enumerate(corpus.ids)}
    n = len(corpus.ids)
    prev, nxt = np.full(n, -1), np.full(n, -1)
    by_source: dict[str, list[int]] = {}
    for i, m in enumerate(metas):
        if m.get("kind") != "card":
            by_source.setdefault(corpus.sources[i], []).append(i)
    for members in by_source.values():
        members.sort(key=lambda i: (metas[i].get("page") or 0, metas[i].get("start_index") or 0))
        for a, b in zip(members, members[1:], strict=False):
            nxt[a], prev[b] = b, a
    corpus.prev, corpus.next = prev, nxt
    return corpus


@dataclass
class Query:
    """What a ranking rule sees of one question."""

    cos: np.ndarray  # cosine to every chunk
    dense: np.ndarray  # chunk indices by cosine, best first
    bm25: list[tuple[int, float]]  # (chunk index, score), best first
    qlang: str
    record: dict[str, Any]
    smax: np.ndarray | None = None  # best sentence cosine of every chunk


def rrf(lists: list[tuple[list[int], float]], k: float) -> dict[int, float]:
    scores: dict[int, float] = {}
    for ranked, weight in lists:
        for rank, c in enumerate(ranked, 1):
            scores[c] = scores.get(c, 0.0) + weight / (k + rank)
    return scores


def order_of(scores: dict[int, float]) -> list[int]:
    return sorted(scores, key=lambda c: -scores[c])


def reserve(order: list[int], best: int, k: int) -> list[int]:
    if best in order[:k]:
        return order
    rest = [c for c in order if c != best]
    return [*rest[: k - 1], best, *rest[k - 1 :]]


Rule = Callable[[Corpus, Query], list[int]]


def base_rule(
    fetch_k: int = 20, rrf_k: float = 60, kw: float = 1.0, slot: bool = True, dense_w: float = 1.0
) -> Rule:
    """kbqa's default: RRF of dense and BM25 top fetch_k, one place for dense's foreign first."""

    def rule(c: Corpus, q: Query) -> list[int]:
        dense = list(q.dense[:fetch_k])
        kws = [i for i, _ in q.bm25[:fetch_k]]
        order = order_of(rrf([(dense, dense_w), (kws, kw)], rrf_k))
        if slot and c.langs[dense[0]] != q.qlang:
            order = reserve(order, dense[0], TOP_K)
        return order

    return rule


def dense_only(c: Corpus, q: Query) -> list[int]:
    return list(q.dense[:50])


def bm25_only(c: Corpus, q: Query) -> list[int]:
    return [i for i, _ in q.bm25[:50]]


def per_language_rrf(
    fetch_k: int = 20, rrf_k: float = 60, other_w: float = 1.0, slot: bool = False
) -> Rule:
    """Dense ranked separately within each language: RRF of dense-same, dense-other and BM25."""

    def rule(c: Corpus, q: Query) -> list[int]:
        same = [i for i in q.dense if c.langs[i] == q.qlang][:fetch_k]
        other = [i for i in q.dense if c.langs[i] != q.qlang][:fetch_k]
        kws = [i for i, _ in q.bm25[:fetch_k]]
        order = order_of(rrf([(same, 1.0), (other, other_w), (kws, 1.0)], rrf_k))
        if slot and c.langs[q.dense[0]] != q.qlang:
            order = reserve(order, int(q.dense[0]), TOP_K)
        return order

    return rule


def _bm25_norm(q: Query, fetch_k: int) -> dict[int, float]:
    hits = q.bm25[:fetch_k]
    if not hits:
        return {}
    top = hits[0][1]
    return {i: s / top for i, s in hits} if top > 0 else {}


def score_fusion(
    fetch_k: int = 20, alpha: float = 0.3, norm: str = "max", slot: bool = True
) -> Rule:
    """cosine + alpha * normalised BM25 over the union of both candidate lists."""

    def rule(c: Corpus, q: Query) -> list[int]:
        dense = list(q.dense[:fetch_k])
        kw = _bm25_norm(q, fetch_k)
        cands = set(dense) | set(kw)
        if norm == "minmax":
            lo, hi = q.cos[dense[-1]], q.cos[dense[0]]
            dn = {i: (q.cos[i] - lo) / (hi - lo + 1e-9) for i in cands}
        else:
            dn = {i: float(q.cos[i]) for i in cands}
        scores = {i: dn[i] + alpha * kw.get(i, 0.0) for i in cands}
        order = order_of(scores)
        if slot and c.langs[dense[0]] != q.qlang:
            order = reserve(order, dense[0], TOP_K)
        return order

    return rule


def doc_boost(
    inner: Rule, top_docs: int = 2, how: str = "rrf_sum", weight: float = 1.0, depth: int = 20
) -> Rule:
    """Score documents from the inner rule's top ``depth``; chunks of the best documents go first
    (in the inner order), the rest after."""

    def rule(c: Corpus, q: Query) -> list[int]:
        order = inner(c, q)
        doc_score: dict[str, float] = {}
        for rank, i in enumerate(order[:depth], 1):
            s = c.sources[i]
            if how == "rrf_sum":
                doc_score[s] = doc_score.get(s, 0.0) + 1 / (60 + rank)
            elif how == "max":
                doc_score[s] = max(doc_score.get(s, 0.0), 1 / (60 + rank))
            elif how == "cos_max":
                doc_score[s] = max(doc_score.get(s, -1.0), float(q.cos[i]))
        best = set(sorted(doc_score, key=lambda s: -doc_score[s])[:top_docs])
        return [i for i in order if c.sources[i] in best] + [
            i for i in order if c.sources[i] not in best
        ]

    return rule


def cross_slot_delta(
    inner_fetch: int = 20, delta: float = 0.05, places: int = 1, rrf_k: float = 60
) -> Rule:
    """Plain RRF, then up to ``places`` other-language passages whose cosine is within ``delta``
    of the best same-language cosine take the last places."""

    def rule(c: Corpus, q: Query) -> list[int]:
        dense = list(q.dense[:inner_fetch])
        kws = [i for i, _ in q.bm25[:inner_fetch]]
        order = order_of(rrf([(dense, 1.0), (kws, 1.0)], rrf_k))
        best_same = max((q.cos[i] for i in dense if c.langs[i] == q.qlang), default=-1.0)
        foreign = [i for i in dense if c.langs[i] != q.qlang and q.cos[i] >= best_same - delta]
        foreign = [i for i in foreign if i not in order[:TOP_K]][:places]
        if not foreign:
            return order
        rest = [i for i in order if i not in foreign]
        keep = TOP_K - len(foreign)
        return [*rest[:keep], *foreign, *rest[keep:]]

    return rule


def no_cards(inner: Rule, max_cards: int = 1) -> Rule:
    def rule(c: Corpus, q: Query) -> list[int]:
        out, cards = [], 0
        for i in inner(c, q):
            if c.is_card[i]:
                cards += 1
                if cards > max_cards:
                    continue
            out.append(i)
        return out

    return rule


def sentence_rule(
    mix: float = 0.5, fetch_k: int = 20, rrf_k: float = 60, slot: bool = True, three: bool = False
) -> Rule:
    """Dense score = mix * chunk cosine + (1 - mix) * best sentence cosine, fused with BM25; or
    (``three``) chunk dense, sentence dense and BM25 as three RRF lists."""

    def rule(c: Corpus, q: Query) -> list[int]:
        assert q.smax is not None
        if three:
            sent = list(np.argsort(-q.smax)[:fetch_k])
            dense = list(q.dense[:fetch_k])
            lists = [(dense, 1.0), (sent, 1.0)]
        else:
            mixed = mix * q.cos + (1 - mix) * q.smax
            dense = list(np.argsort(-mixed)[:fetch_k])
            lists = [(dense, 1.0)]
        kws = [i for i, _ in q.bm25[:fetch_k]]
        order = order_of(rrf([*lists, (kws, 1.0)], rrf_k))
        if slot and c.langs[dense[0]] != q.qlang:
            order = reserve(order, dense[0], TOP_K)
        return order

    return rule


def drop_short(inner: Rule, min_chars: int = 40) -> Rule:
    """The inner order with chunks shorter than ``min_chars`` (cards kept) moved to the end."""

    def rule(c: Corpus, q: Query) -> list[int]:
        order = inner(c, q)
        short = {i for i in order if len(c.texts[i].strip()) < min_chars and not c.is_card[i]}
        return [i for i in order if i not in short] + [i for i in order if i in short]

    return rule


def score_plus(
    alpha: float = 0.4,
    fetch_k: int = 20,
    slot: bool = True,
    foreign: float = 0.0,
    doc: float = 0.0,
    neighbour: float = 0.0,
    mix: float = 1.0,
    short: int = 0,
) -> Rule:
    """Score fusion with extras: ``foreign`` added to other-language passages, ``doc`` x the
    best score of the chunk's document, ``neighbour`` x the best neighbouring chunk's score,
    dense score ``mix`` x chunk cosine + (1 - mix) x best sentence cosine, chunks under ``short``
    characters last."""

    def rule(c: Corpus, q: Query) -> list[int]:
        dvec = q.cos if mix == 1.0 else mix * q.cos + (1 - mix) * q.smax
        dense = [int(i) for i in np.argsort(-dvec)[:fetch_k]]
        kw = _bm25_norm(q, fetch_k)
        scores = {
            i: float(dvec[i]) + alpha * kw.get(i, 0.0) + (foreign if c.langs[i] != q.qlang else 0)
            for i in set(dense) | set(kw)
        }
        if doc:
            best: dict[str, float] = {}
            for i, x in scores.items():
                best[c.sources[i]] = max(best.get(c.sources[i], -9.0), x)
            scores = {i: x + doc * best[c.sources[i]] for i, x in scores.items()}
        if neighbour:
            plain = dict(scores)
            for i in scores:
                near = [plain[j] for j in (c.prev[i], c.next[i]) if j >= 0 and j in plain]
                scores[i] += neighbour * max(near) if near else 0.0
        order = order_of(scores)
        if short:
            tiny = {i for i in order if len(c.texts[i].strip()) < short and not c.is_card[i]}
            order = [i for i in order if i not in tiny] + [i for i in order if i in tiny]
        if slot and c.langs[dense[0]] != q.qlang:
            order = reserve(order, dense[0], TOP_K)
        return order

    return rule


def variants() -> dict[str, Rule]:
    v: dict[str, Rule] = {
        "base (default)": base_rule(),
        "base, no slot (plain RRF)": base_rule(slot=False),
        "dense only": dense_only,
        "bm25 only": bm25_only,
    }
    for k in (10, 30, 100):
        v[f"base rrf_k={k}"] = base_rule(rrf_k=k)
    for f in (10, 40):
        v[f"base fetch_k={f}"] = base_rule(fetch_k=f)
    for w in (0.5, 0.75, 1.5):
        v[f"base keyword_weight={w}"] = base_rule(kw=w)
    for w in (0.5, 1.0):
        v[f"per-language RRF other_w={w}"] = per_language_rrf(other_w=w)
        v[f"per-language RRF other_w={w} +slot"] = per_language_rrf(other_w=w, slot=True)
    for a in (0.1, 0.2, 0.3, 0.5):
        v[f"score fusion cos+{a}*bm25/max"] = score_fusion(alpha=a)
    for a in (0.3, 0.5, 1.0):
        v[f"score fusion minmax cos+{a}*bm25/max"] = score_fusion(alpha=a, norm="minmax")
    for d in (0.0, 0.03, 0.05, 0.1):
        for p in (1, 2):
            v[f"cross slot delta={d} places={p}"] = cross_slot_delta(delta=d, places=p)
    for n in (1, 2, 3):
        for how in ("rrf_sum", "max", "cos_max"):
            v[f"doc boost top{n} {how}"] = doc_boost(base_rule(), top_docs=n, how=how)
    v["base, max 1 card"] = no_cards(base_rule())
    for m in (0.0, 0.25, 0.5, 0.75):
        v[f"sentence mix={m}"] = sentence_rule(mix=m)
    v["sentence 3 lists"] = sentence_rule(three=True)
    for n in (20, 40, 60, 80, 120):
        v[f"base, short<{n} chars last"] = drop_short(base_rule(), n)
    for a in (0.2, 0.3, 0.4, 0.5, 0.7):
        v[f"score+ a={a}"] = score_plus(a)
    v["score+ a=0.4 no slot"] = score_plus(slot=False)
    for f in (30, 50):
        v[f"score+ a=0.4 fetch_k={f}"] = score_plus(fetch_k=f)
    for b in (0.03, 0.05, 0.08, 0.12):
        v[f"score+ a=0.4 foreign+{b}"] = score_plus(foreign=b)
    for g in (0.1, 0.2, 0.3):
        v[f"score+ a=0.4 doc={g}"] = score_plus(doc=g)
    for n in (0.05, 0.1, 0.2):
        v[f"score+ a=0.4 neighbour={n}"] = score_plus(neighbour=n)
    v["score+ a=0.4 short<60"] = score_plus(short=60)
    v["sentence score+ a=0.4 mix=0.75 short<60"] = score_plus(mix=0.75, short=60)
    return v


def evaluate(corpus: Corpus, queries: list[dict[str, Any]], rule: Rule) -> dict[str, Any]:
    per: dict[str, list[bool]] = {g: [] for g in GROUPS}
    hits: dict[str, bool] = {}
    for rec, q in queries:
        order = rule(corpus, q)
        gold = set(rec["gold"])
        given = any(i in gold for i in order[:TOP_K])
        hits[rec["id"]] = given
        per[group_of(rec)].append(given)
    out = {g: (sum(x) / len(x) if x else None) for g, x in per.items()}
    out["n"] = {g: len(x) for g, x in per.items()}
    out["hits"] = hits
    return out


def group_of(rec: dict[str, Any]) -> str:
    if rec["conversation"] is not None:
        return "conversations"
    doc = rec["doc_lang"] or rec["lang"]
    return rec["lang"] if doc == rec["lang"] else "cross-language"


def prepare(cache: dict[str, Any]) -> tuple[Corpus, list[tuple[dict[str, Any], Query]]]:
    corpus = load_corpus(cache)
    out = []
    for rec in cache["queries"]:
        if not rec["answerable"] or not rec["gold"]:
            continue
        cos = corpus.vectors @ rec["qvec"]
        bm25 = [(corpus.index[c], s) for c, s in rec["bm25"] if c in corpus.index]
        smax = None
        if len(cache.get("sentence_vectors", ())):
            smax = np.full(len(corpus.ids), -1.0, dtype=np.float32)
            np.maximum.at(smax, cache["sentence_chunk"], cache["sentence_vectors"] @ rec["qvec"])
        out.append(
            (
                rec,
                Query(
                    cos=cos,
                    dense=np.argsort(-cos),
                    bm25=bm25,
                    qlang=rec["qlang"],
                    record=rec,
                    smax=smax,
                ),
            )
        )
    return corpus, out


def score(args: argparse.Namespace) -> None:
    with open(args.cache, "rb") as fh:
        cache = pickle.load(fh)
    corpus, queries = prepare(cache)
    # The base rule must reproduce the eval's own ranking (same chunks, same rule).
    base = base_rule()
    agree = sum(
        1
        for rec, q in queries
        if [corpus.ids[i] for i in base(corpus, q)[:TOP_K]] == rec["eval_retrieved"][:TOP_K]
    )
    print(f"base rule = eval top {TOP_K} for {agree} of {len(queries)} queries", file=sys.stderr)
    chosen = variants()
    if not len(cache.get("sentence_vectors", ())):
        chosen = {k: r for k, r in chosen.items() if not k.startswith("sentence")}
    if args.only:
        wanted = args.only.split("|")
        chosen = {k: r for k, r in chosen.items() if any(w in k for w in wanted)}
    results = {}
    print("| variant | en | zh | cross | conv | mean | min |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, rule in chosen.items():
        r = evaluate(corpus, queries, rule)
        results[name] = r
        vals = [r[g] for g in GROUPS if r[g] is not None]
        cells = " | ".join("—" if r[g] is None else f"{r[g]:.3f}" for g in GROUPS)
        print(f"| {name} | {cells} | {sum(vals) / len(vals):.3f} | {min(vals):.3f} |")
    first = next(iter(results.values()))["n"]
    print(f"\nn: {first}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--dataset", default=str(ROOT / "bench/data/realistic"))
    c.add_argument("--persist-dir", required=True)
    c.add_argument(
        "--results",
        required=True,
        help="an eval's results.json on that store (its top passages are compared)",
    )
    c.add_argument("--cache", required=True)
    c.add_argument("--depth", type=int, default=100, help="BM25 hits kept per question")
    c.add_argument("--limit", type=int, help="first N questions only (a dry run)")
    c.add_argument("--sentences", action="store_true", help="also embed every chunk's sentences")
    c.add_argument("--fake", action="store_true", help="fake embedder: a dry run, no model")
    s = sub.add_parser("score")
    s.add_argument("--cache", required=True)
    s.add_argument("--only", help="variants whose name contains one of these (|-separated)")
    s.add_argument("--out")
    args = p.parse_args()
    collect(args) if args.cmd == "collect" else score(args)


if __name__ == "__main__":
    main()
