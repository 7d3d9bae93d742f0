"""Ingest a folder in a child process that the crash test kills at a random moment.

    python tests/crash_driver.py PERSIST_DIR CORPUS

Prints READY once the models are loaded, so the kill lands inside the ingest itself.
"""

from __future__ import annotations

import sys

import ingest.pipeline
from rag.kb import KnowledgeBase

if __name__ == "__main__":
    ingest.pipeline.FLUSH_CHUNKS = 16  # many index() calls, so kills land between and inside them
    kb = KnowledgeBase(persist_dir=sys.argv[1], kb="crash")
    kb.embeddings.embed_query("warm up")
    kb.writable_store()
    print("READY", flush=True)
    report = kb.ingest(sys.argv[2])
    print("DONE", report.chunks_written, flush=True)
