"""Concurrency: questions asked while another process ingests, and many app sessions at once.

The ingest runs as ``python -m ingest`` in a child process, as it does when a user re-ingests
from the command line while the app or a notebook holds the same knowledge base open.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import MODEL_CACHE, REPO

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CHUNK_SIZE = 48  # small chunks: many of them, cheap to embed, several flushes per ingest
FILES = 8
QUESTIONS = (
    "Which planet is the largest?",
    "What does the starter need every day?",
    "What is the lighthouse keeper's cat called?",
)


def corpus(folder: Path) -> None:
    """Add FILES new documents (about 27 chunks each) and change solar.md, so the child both
    adds chunks and deletes the old solar.md ones.

    Every word is numbered by its position, so no two chunks are the same text: exact duplicate
    vectors crowd HNSW's neighbour lists, and the approximate search then missed the one planet
    chunk in about one run in five (the insertion order, hence the graph, varies from run to run).
    """
    words = "river mountain library engine harvest signal glacier copper violin orbit".split()
    for i in range(FILES):
        body = " ".join(f"{words[(i + j) % len(words)]}{j}" for j in range(300))
        (folder / f"notes{i:02d}.txt").write_text(f"Notes {i}. {body}.\n", encoding="utf-8")
    (folder / "lighthouse.txt").write_text(
        "The lighthouse keeper's cat is called Marmalade and sleeps beside the great lamp.\n",
        encoding="utf-8",
    )
    (folder / "solar.md").write_text(
        "# The Solar System, revised\n\nSaturn has the most moons of any planet. Jupiter is"
        " still the largest planet.\n",
        encoding="utf-8",
    )


def child_env(persist_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "KBQA_PERSIST_DIR": str(persist_dir),
        "KBQA_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "KBQA_CHUNK_SIZE": str(CHUNK_SIZE),
        "KBQA_CHUNK_OVERLAP": "8",
    }


def stored_texts(kb, ids: list[str]) -> dict[str, str]:
    got = kb.store.collection.get(ids=ids, include=["documents"])
    return dict(zip(got["ids"], got["documents"], strict=True))


def check_passages(kb, passages, known: dict[str, str]) -> None:
    """No duplicates; each passage is a chunk that exists (or existed: a chunk id is a hash of
    its content, so its text never changes) with exactly the stored text."""
    ids = [p.chunk_id for p in passages]
    assert len(ids) == len(set(ids)), ids
    assert [p.n for p in passages] == list(range(1, len(passages) + 1))
    known.update(stored_texts(kb, ids))
    for p in passages:
        assert p.chunk_id in known, f"{p.chunk_id} ({p.source}) is not a chunk Chroma holds"
        assert isinstance(p.text, str) and p.text == known[p.chunk_id], p


def test_questions_during_another_process_ingest_see_one_consistent_store(tmp_path, make_kb, docs):
    store = tmp_path / "store"
    kb = make_kb(chunk_size=CHUNK_SIZE, chunk_overlap=8)
    assert kb.ingest(docs).ok
    # Every chunk the store ever held: old solar.md chunks included, which the child deletes.
    known = stored_texts(kb, sorted(kb.keyword.ids()))
    old_solar = {cid for cid, text in known.items() if "red planet" in text}
    assert old_solar
    assert kb.retrieve(QUESTIONS[0])  # this process has loaded the store before the child runs
    corpus(docs)

    child = subprocess.Popen(
        [sys.executable, "-m", "ingest", str(docs), "--kb", "default"],
        cwd=REPO,
        env=child_env(store),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    reads, asked, counts = 0, 0, set()
    try:
        while child.poll() is None:
            for question in QUESTIONS:
                for hybrid in (True, False):
                    passages = kb.retrieve(question, hybrid=hybrid)
                    check_passages(kb, passages, known)
                    assert 0.0 <= kb.evidence(question, passages) <= 1.0
                    reads += 1
                for cid, _ in kb.keyword.search(question, 50):
                    # The keyword index may briefly name a chunk Chroma just deleted (retrieval
                    # drops it); it never names one Chroma never had.
                    assert cid in known or cid in stored_texts(kb, [cid]), cid
            counts.add(kb.store.count())
            time.sleep(0.2)  # leave the child most of the CPU
            if asked < 2:
                answer = kb.ask(QUESTIONS[asked], max_new_tokens=8)
                check_passages(kb, answer.passages, known)
                assert {c.source for c in answer.citations} <= {p.source for p in answer.passages}
                asked += 1
        output = child.communicate(timeout=120)[0]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=60)
    assert child.returncode == 0, output[-2000:]
    assert reads >= 6 and asked >= 1, (reads, asked)
    assert len(counts) >= 2, f"no question ran while the child was writing: {counts}"

    # Once the child is done, this process's answers come from the new store, dense search too.
    for hybrid in (True, False):
        top = kb.retrieve(QUESTIONS[2], hybrid=hybrid)
        check_passages(kb, top, known)
        assert top[0].source == "lighthouse.txt", [p.source for p in top]
        solar = kb.retrieve("Which planet has the most moons?", hybrid=hybrid, top_k=10)
        assert not old_solar & {p.chunk_id for p in solar}
        assert any("Saturn" in p.text for p in solar)
    answer = kb.ask(QUESTIONS[2], max_new_tokens=8)
    check_passages(kb, answer.passages, known)
    assert "lighthouse.txt" in {p.source for p in answer.passages}


def test_app_sessions_at_once_share_one_load_of_the_models_and_keep_their_own_chats(
    tmp_path, models, monkeypatch
):
    """Three browser sessions open the app at the same moment on a cold server and each asks
    its own question: the embedder and the generator load once, each chat holds only its own."""
    from streamlit.testing.v1 import AppTest

    import rag.llm
    import rag.models
    from app.resources import get_kb, get_models
    from tests.app.app_support import app_environment, prepare_store

    store = prepare_store(tmp_path / "store", models)
    for name, value in app_environment(store, KBQA_MAX_NEW_TOKENS="8").items():
        monkeypatch.setenv(name, value)
    loads: Counter[str] = Counter()

    def counted(role: str, load):
        def wrapper(*args, **kwargs):
            loads[role] += 1
            return load(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(rag.models, "load_embedder", counted("embedder", rag.models.load_embedder))
    monkeypatch.setattr(rag.llm, "load_chat_model", counted("generator", rag.llm.load_chat_model))
    get_models.clear()  # a cold server: nothing loaded by an earlier test in this process
    get_kb.clear()
    start = threading.Barrier(len(QUESTIONS))

    def session(question: str) -> AppTest:
        at = AppTest.from_file(str(REPO / "app" / "streamlit_app.py"), default_timeout=300)
        start.wait(timeout=60)
        at.run()
        at.chat_input(key="question").set_value(question).run()
        return at

    with ThreadPoolExecutor(len(QUESTIONS)) as pool:
        sessions = list(pool.map(session, QUESTIONS))
    assert loads == {"embedder": 1, "generator": 1}, loads
    from app.chats import ChatStore
    from rag.settings import Settings

    saved = ChatStore(Settings(persist_dir=store, kb="default").kb_dir / "chats.json")
    opened = [at.session_state["open_chat"]["default"] for at in sessions]
    assert len(set(opened)) == len(QUESTIONS)  # each session its own chat
    for at, question, chat_id in zip(sessions, QUESTIONS, opened, strict=True):
        assert not at.exception, [e.value for e in at.exception]
        chat = saved.get(chat_id).messages
        assert [m.text for m in chat if m.role == "user"] == [question]
        assert chat[-1].role == "assistant" and chat[-1].answer is not None
        assert chat[-1].answer.question == question
        assert len(at.chat_message) == 2
