"""The ``kbqa`` command line: ingest, ask, chat, status, remove, models, app, reindex, eval.

Every ``KbqaError`` becomes one sentence on stderr and exit status 1; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

EXIT_WORDS = {"exit", "quit", "退出", ":q"}


def _settings(args: argparse.Namespace, **extra: Any) -> Any:
    from rag.settings import Settings

    overrides = {k: v for k, v in extra.items() if v is not None}
    if getattr(args, "kb", None):
        overrides["kb"] = args.kb
    if getattr(args, "persist_dir", None):
        overrides["persist_dir"] = args.persist_dir
    return Settings(**overrides)


def _kb(args: argparse.Namespace, **extra: Any) -> Any:
    from rag.kb import KnowledgeBase

    return KnowledgeBase(_settings(args, **extra))


# --------------------------------------------------------------------------------------------
def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.report import print_report

    kb = _kb(args, pdf_password=args.pdf_password)
    report = kb.ingest(args.path, prune=args.prune, show_progress=None if not args.json else False)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_report(report)
    return 0 if report.ok else 1


def _print_sources(answer: Any) -> None:
    if answer.abstained and answer.passages:
        print("\nNearest passages (not enough to answer):")
        for p in answer.passages[:3]:
            print(f"  - {p.location} (similarity {p.dense_score:.2f})")
        return
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            print(f"  [{c.n}] {c.location}: {c.snippet}")
    elif answer.passages:
        print("\nSources: no sentence of this answer is supported by the passages; passages read:")
        for p in answer.passages:
            print(f"  [{p.n}] {p.location}")
    if answer.unsupported_sentences and answer.citations:
        print("\nNot supported by the documents:")
        for sentence in answer.unsupported_sentences:
            print(f"  - {sentence}")


def _answer(
    kb: Any, question: str, history: list[tuple[str, str]] | None, args: argparse.Namespace
) -> Any:
    overrides = {
        "top_k": args.top_k,
        "temperature": args.temperature,
        "sources": args.source or None,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if getattr(args, "json", False):
        answer = kb.ask(question, history, **overrides)
        print(answer.to_json(indent=2))
        return answer
    stream = kb.stream(question, history, **overrides)
    for number, piece in enumerate(stream):
        if number == 0 and getattr(stream, "standalone_question", None):
            print(f"(understood as: {stream.standalone_question})")
        print(piece, end="", flush=True)
    answer = stream.answer
    print()
    if answer.citations and answer.answer != answer.raw_answer:
        print(f"\nWith checked citations: {answer.answer}")
    _print_sources(answer)
    return answer


def cmd_ask(args: argparse.Namespace) -> int:
    kb = _kb(args)
    _answer(kb, args.question, None, args)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    kb = _kb(args)
    history: list[tuple[str, str]] = []
    print(f"kbqa chat on knowledge base {kb.name!r}. Type exit, quit or 退出 to leave.")
    from rag.errors import KbqaError

    while True:
        try:
            question = input("\n? ").strip()
        except EOFError:
            print()
            return 0
        if question.lower() in EXIT_WORDS:
            return 0
        if not question:
            continue
        try:
            answer = _answer(kb, question, history, args)
        except KbqaError as exc:
            print(f"kbqa: {exc}", file=sys.stderr)
            continue
        history += [("user", question), ("assistant", answer.answer)]


def cmd_status(args: argparse.Namespace) -> int:
    from rag.kb import KnowledgeBase

    settings = _settings(args)
    kbs = KnowledgeBase.list(settings)
    kb = KnowledgeBase(settings)
    info = kb.status() if kb.exists() else {"kb": kb.name, "exists": False}
    info["knowledge_bases"] = kbs
    if args.json:
        info["files"] = [r.__dict__ for r in kb.documents()]
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return 0
    for key, value in info.items():
        print(f"{key:>16}: {value}")
    for r in kb.documents():
        print(f"  {r.source}  ({r.chunks} chunks, {r.pages} pages)")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    kb = _kb(args)
    n = kb.remove(args.source)
    print(f"removed {args.source} ({n} chunks) from {kb.name!r}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from rag.models import embedder_status, generator_status

    settings = _settings(args)
    rows = [embedder_status(settings), generator_status(settings)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        mark = "ready" if row.get("ready") else "NOT READY"
        print(f"{row['role']}: {row['name']} [{mark}]")
        for key in ("kind", "backend", "probe", "recommended", "location", "cache", "detail"):
            if row.get(key):
                print(f"  {key}: {row[key]}")
    return 0 if all(r.get("ready") for r in rows) else 1


def cmd_app(args: argparse.Namespace) -> int:
    from pathlib import Path

    settings = _settings(args)
    script = Path(__file__).resolve().parent.parent / "app" / "streamlit_app.py"
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.address",
        args.host or settings.app_host,
        "--server.port",
        str(args.port or settings.app_port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "minimal",
        "--client.showErrorDetails",
        "none",
    ]
    env = dict(os.environ)
    if args.kb:
        env["KBQA_KB"] = args.kb
    if args.persist_dir:
        env["KBQA_PERSIST_DIR"] = str(args.persist_dir)
    os.execvpe(cmd[0], cmd, env)
    return 0  # pragma: no cover


# --------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kbqa",
        description="Ask questions about your own documents, answered by a local LLM with cited sources.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--kb", help="knowledge base name (default: settings.kb, 'default')")
        p.add_argument("--persist-dir", help="folder of the store (default: ./vectorstore)")
        return p

    p = common(
        sub.add_parser("ingest", help="add a folder or file of documents to a knowledge base")
    )
    p.add_argument("path", help="folder or file")
    p.add_argument(
        "--no-prune", dest="prune", action="store_false", help="keep chunks of files that are gone"
    )
    p.add_argument("--pdf-password", help="password for encrypted PDFs")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_ingest)

    for name, func, text in (
        ("ask", cmd_ask, "answer one question"),
        ("chat", cmd_chat, "interactive questions with history"),
    ):
        p = common(sub.add_parser(name, help=text))
        if name == "ask":
            p.add_argument("question")
            p.add_argument("--json", action="store_true", help="print the Answer object as JSON")
        p.add_argument("--top-k", type=int, help="passages given to the model")
        p.add_argument("--temperature", type=float, help="sampling temperature (0 = greedy)")
        p.add_argument(
            "--source", action="append", help="only search this file or glob (repeatable)"
        )
        p.set_defaults(func=func)

    p = common(sub.add_parser("status", help="knowledge bases, documents and chunk counts"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = common(sub.add_parser("remove", help="remove one document from a knowledge base"))
    p.add_argument("source", help="the document's path as `kbqa status` lists it")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("models", help="which models are configured, where they live, whether ready")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models, kb=None, persist_dir=None)

    p = common(sub.add_parser("app", help="start the Streamlit app on 127.0.0.1"))
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=cmd_app)

    from rag.api.command import add_serve_command  # the HTTP API; imports nothing heavy

    add_serve_command(sub, common)
    _add_optional_commands(sub, common)
    return parser


def _add_optional_commands(sub: Any, common: Any) -> None:
    """Commands that live in their own modules (reindex, eval), when present."""
    try:
        from rag.eval.cli import add_eval_command
    except ImportError:
        pass
    else:
        add_eval_command(sub, common)
    try:
        from app.feedback import add_feedback_command
    except ImportError:
        pass
    else:
        add_feedback_command(sub)
    try:
        from ingest.reindex import add_reindex_command
    except ImportError:
        pass
    else:
        add_reindex_command(sub, common, _kb)


def main(argv: Sequence[str] | None = None) -> int:
    from pydantic import ValidationError

    from rag.errors import KbqaError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        print(f"kbqa: invalid setting: {problems}", file=sys.stderr)
        return 2
    except KbqaError as exc:
        print(f"kbqa: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
