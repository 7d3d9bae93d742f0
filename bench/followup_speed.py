"""A self-contained follow-up in a chat against the same question alone (issue 16 target 3),
and the peak RSS of a process with the default models loaded (target 4).

    python bench/followup_speed.py [--backend llamacpp] [--threads 1] [--rounds 3]

A knowledge base over data/; each round asks another question, then the question alone, then the
other question again, then the first one as a follow-up with that history. Both timed calls
follow the same question, so both find the same prompt in the backend's cache (prompt reuse
keeps only the last prompt: had the alone question followed the follow-up, whose answer prompt
is the same, it would find its whole prompt there and come back in half a second). Prints each
round's timings (rewrite, retrieve, first token, total), whether the two answers are the same,
the medians, and VmHWM.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import REPO  # noqa: E402

ALONE = "What happens to files that cannot be read during ingest?"
BEFORE = "Which command adds a folder of documents to kbqa?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from rag.kb import KnowledgeBase

    with tempfile.TemporaryDirectory() as store:
        kb = KnowledgeBase(
            persist_dir=Path(store), llm_backend=args.backend, torch_threads=args.threads
        )
        kb.ingest(REPO / "data")
        kb.ask("Say hello")  # loads the generator; warm-up
        rows = []
        for _ in range(args.rounds):
            kb.ask(BEFORE)
            alone = kb.ask(ALONE)
            first = kb.ask(BEFORE)
            follow = kb.ask(ALONE, history=[("user", BEFORE), ("assistant", first.answer)])
            rows.append((alone.timings, follow.timings, alone.answer == follow.answer))
            print("alone", alone.timings, "\nfollow-up", follow.timings, "same:", rows[-1][2])
        for key in ("first_token", "total"):
            print(
                f"median {key}: alone {statistics.median(a.get(key, 0) for a, _, _ in rows)} s,"
                f" follow-up {statistics.median(f.get(key, 0) for _, f, _ in rows)} s"
            )
        print("generator:", type(kb.models.llm).__name__)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            print("peak RSS:", line.split(":", 1)[1].strip())


if __name__ == "__main__":
    main()
