"""The ``kbqa serve`` command: the HTTP API (``rag.api.app``) on 127.0.0.1.

It listens on loopback only unless ``--allow-remote`` says otherwise (privacy by default: a
server on 0.0.0.0 would answer anyone on the network from your documents). The models load
once, before the server listens, and every knowledge base shares them.

>>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost")
(True, True, True)
>>> is_loopback("0.0.0.0"), is_loopback("192.168.1.5"), is_loopback("example.org")
(False, False, False)
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Callable
from typing import Any

# Read here, not in Settings: only the server uses it, and it is a secret (never in kbqa.toml
# examples or the settings table).
API_KEY_ENV = "KBQA_API_KEY"
DEFAULT_PORT = 8502  # beside the app's 8501


def is_loopback(host: str) -> bool:
    """Whether ``host`` is an address only this machine reaches."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def add_serve_command(
    sub: Any, common: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]
) -> None:
    """Add ``serve`` to the ``kbqa`` command's subparsers (``common`` adds --kb, --persist-dir)."""
    p = common(
        sub.add_parser(
            "serve", help="the HTTP API (OpenAI-compatible chat completions) on 127.0.0.1"
        )
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    p.add_argument(
        "--api-key",
        help=f"require 'Authorization: Bearer KEY' on every request (default: ${API_KEY_ENV})",
    )
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host other machines can reach (use with --api-key)",
    )
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    if not is_loopback(args.host) and not args.allow_remote:
        print(
            f"kbqa: refusing to listen on {args.host}: other machines could ask your documents."
            " kbqa serves 127.0.0.1 only unless you pass --allow-remote (with --api-key).",
            file=sys.stderr,
        )
        return 2
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    if not is_loopback(args.host) and not api_key:
        print(
            f"kbqa: warning: listening on {args.host} without an API key; anyone who reaches"
            " this port can ask your documents and change them",
            file=sys.stderr,
        )
    try:
        import uvicorn

        from rag.api.app import KnowledgeBases, create_app
    except ImportError as exc:
        print(f"kbqa: serve needs {exc.name}: pip install fastapi uvicorn", file=sys.stderr)
        return 1
    from rag.settings import Settings

    overrides = {"kb": args.kb, "persist_dir": args.persist_dir}
    settings = Settings(**{k: v for k, v in overrides.items() if v})
    provider = KnowledgeBases(settings)
    print(f"kbqa serve: loading {settings.embedder} and {settings.llm_model}…", file=sys.stderr)
    _ = provider.models.embeddings
    _ = provider.models.llm
    from rag.llm import resolve_backend

    app = create_app(
        provider,
        api_key=api_key,
        default_kb=settings.kb,
        # A model server takes concurrent requests; the in-process model answers one at a time.
        one_answer_at_a_time=resolve_backend(settings) != "openai",
    )
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"kbqa serve: OpenAI base URL http://{host}:{args.port}/v1"
        f" (knowledge bases: {', '.join(provider.names()) or 'none yet'};"
        f" API key {'required' if api_key else 'off'})",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", server_header=False)
    return 0
