"""``kbqa eval DATASET``: score retrieval, answers, citations, refusals and latency on a dataset.

The knowledge base is built from the dataset's own passages into ``--out`` (never the user's
default store), and reused by the next run. ``rag.cli`` adds this command when it is importable.

>>> import argparse
>>> parser = argparse.ArgumentParser(prog="kbqa")
>>> sub = parser.add_subparsers(dest="command")
>>> add_eval_command(sub, lambda p: p)
>>> args = parser.parse_args(["eval", "dev.json", "--limit", "20", "--dense-only"])
>>> args.limit, args.hybrid, args.generate
(20, False, True)
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_eval_command", "cmd_eval"]


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def add_eval_command(sub: Any, common: Any) -> None:
    """Register ``kbqa eval`` on the ``kbqa`` sub-parsers; ``common`` adds --kb/--persist-dir."""
    p = common(
        sub.add_parser(
            "eval",
            help="score retrieval and answers on a QA dataset (SQuAD JSON, JSON Lines or a folder)",
            description="Build a knowledge base from the dataset's passages (some articles held"
            " out to test refusals) or, for a folder, from its corpus/ documents as they are; ask"
            " its questions and conversations and write report.md, results.json and plots."
            " --kb defaults to eval-<dataset name>, --persist-dir to OUT/store.",
        )
    )
    p.add_argument(
        "dataset",
        help="SQuAD-style JSON, JSON Lines of {question, answers, source?}, or a folder holding"
        " corpus/, questions.jsonl and optionally conversations.jsonl",
    )
    p.add_argument(
        "--limit",
        type=_count,
        help="answerable questions to ask, plus max(2, LIMIT/4) to refuse and as many"
        " conversations (default: all)",
    )
    p.add_argument("--out", help="output folder (default: ./eval-out/<dataset stem>)")
    p.add_argument("--top-k", type=int, help="passages given to the model (default: settings)")
    p.add_argument(
        "--no-generate",
        dest="generate",
        action="store_false",
        help="retrieval metrics only: no LLM, fast (for tuning chunking, top-k, hybrid)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--hybrid",
        dest="hybrid",
        action="store_true",
        default=None,
        help="fuse keyword and dense search (default: settings.hybrid)",
    )
    mode.add_argument("--dense-only", dest="hybrid", action="store_false", help="dense search only")
    p.add_argument("--llm-model", help="generator to use instead of settings.llm_model")
    p.add_argument(
        "--embedder",
        help="embedder to use instead of settings.embedder (e.g. use-multilingual,"
        " multilingual-e5-small); each embedder gets its own eval knowledge base",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the question sample and hold-out split"
    )
    p.set_defaults(func=cmd_eval)


class _ProgressBars:
    """One tqdm bar per stage on stderr; silent when stderr is not a terminal."""

    def __init__(self) -> None:
        self._bars: dict[str, Any] = {}
        self._enabled = sys.stderr.isatty()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self._enabled:
            return
        bar = self._bars.get(stage)
        if bar is None:
            from tqdm import tqdm

            unit = "file" if stage == "ingest" else "question"
            bar = self._bars[stage] = tqdm(total=total, desc=stage, unit=unit, file=sys.stderr)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


def _command_line(args: argparse.Namespace) -> str:
    """The command as typed when this process is ``kbqa eval``; rebuilt from the options if not."""
    argv = sys.argv[1:]
    if argv and "eval" in argv and args.dataset in argv:
        return shlex.join(["kbqa", *argv[argv.index("eval") :]])
    parts = ["kbqa", "eval", args.dataset]
    options = (
        ("--kb", args.kb),
        ("--persist-dir", args.persist_dir),
        ("--limit", args.limit),
        ("--out", args.out),
        ("--top-k", args.top_k),
        ("--llm-model", args.llm_model),
        ("--embedder", args.embedder),
    )
    for flag, value in options:
        if value is not None:
            parts += [flag, str(value)]
    if not args.generate:
        parts.append("--no-generate")
    if args.hybrid is not None:
        parts.append("--hybrid" if args.hybrid else "--dense-only")
    if args.seed:
        parts += ["--seed", str(args.seed)]
    return shlex.join(parts)


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.eval.harness import run_eval
    from rag.eval.naming import default_out_dir, eval_settings
    from rag.eval.report import summary_table, write_report

    out_dir = Path(args.out) if args.out else default_out_dir(args.dataset)
    settings = eval_settings(
        args.dataset,
        out_dir,
        kb=args.kb,
        persist_dir=args.persist_dir,
        top_k=args.top_k,
        hybrid=args.hybrid,
        llm_model=args.llm_model,
        embedder=args.embedder,
    )
    bars = _ProgressBars()
    try:
        result = run_eval(
            args.dataset,
            settings,
            limit=args.limit,
            out_dir=out_dir,
            generate=args.generate,
            seed=args.seed,
            progress=bars,
        )
    finally:
        bars.close()
    result.command = _command_line(args)
    outputs = write_report(result, out_dir)
    print(summary_table(result))
    print()
    for path in (outputs.report, outputs.results, *outputs.plots):
        print(f"wrote {path}")
    for warning in outputs.warnings:
        print(f"kbqa: {warning}", file=sys.stderr)
    return 0
