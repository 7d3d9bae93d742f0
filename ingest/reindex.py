"""``kbqa reindex``: rebuild a knowledge base with the current embedder and splitter settings.

The rebuild goes into a new collection beside the old one; the old one keeps answering until the
new one is complete, and only then are they switched. A rebuild in which a file fails leaves the
old knowledge base in place (unless ``--force``).
"""

from __future__ import annotations

import argparse
import shutil
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import KbqaError, KnowledgeBaseNotFoundError
from rag.types import FileResult, IngestReport

if TYPE_CHECKING:
    from rag.kb import KnowledgeBase, Models


def reindex(
    kb: KnowledgeBase, *, force: bool = False, models: Models | None = None
) -> IngestReport:
    """Rebuild ``kb`` from the files its registry lists; returns the report.

    ``models`` embed the rebuild; by default ``kb``'s, or, for a knowledge base kept on the
    embedder it was built with (``kb.kept_embedder``), the configured embedder's, sharing
    ``kb``'s generator.
    """
    from rag.kb import KnowledgeBase

    if not kb.exists():
        raise KnowledgeBaseNotFoundError(
            f"knowledge base {kb.name!r} does not exist; nothing to rebuild"
        )
    temp_name = f"{kb.name}.reindex"
    # Rebuilt with the embedder the settings name, which may not be the one the knowledge base
    # was kept on (``KnowledgeBase.kept_embedder``: built before the default changed).
    settings = kb.settings.model_copy(update={"kb": temp_name, "embedder": kb.configured_embedder})
    if models is None:
        models = kb.models
        if kb.kept_embedder is not None:
            from rag.kb import Models

            shared = kb.models
            models = Models(
                settings, load_llm=lambda: shared.llm, load_reranker=lambda: shared.reranker
            )
    temp = KnowledgeBase(settings, models=models)
    temp.drop()  # leftovers of an interrupted rebuild
    by_root: dict[str, set[str]] = defaultdict(set)
    for record in kb.documents():
        by_root[record.root].add(record.source)
    total = IngestReport(kb=kb.name, root=", ".join(sorted(by_root)))
    for root, sources in sorted(by_root.items()):
        part = temp.ingest(Path(root), prune=False, only=sources)
        total.files.extend(part.files)
        total.chunks_written += part.chunks_written
        total.seconds += part.seconds
        missing = sources - {f.source for f in part.files}
        for source in sorted(missing):
            total.files.append(FileResult(source, "failed", reason=f"no longer found under {root}"))
    if not total.ok and not force:
        temp.drop()
        raise KbqaError(
            f"rebuild of {kb.name!r} failed for {total.files_failed} file(s) "
            f"({', '.join(f.source for f in total.files if f.status == 'failed')[:300]});"
            " the old knowledge base is unchanged. Fix or remove them, or use --force"
        )
    _switch(kb, temp)
    if models is not kb.models:  # from now on ``kb`` answers with the new embedder too
        kb.adopt_embedder(models)
    return total


def _switch(kb: KnowledgeBase, temp: KnowledgeBase) -> None:
    """Swap the rebuilt collection and its files in place of the old ones."""
    client = kb.client
    old_name = f"{kb.name}.old"
    for stale in (old_name,):
        if stale in [c.name for c in client.list_collections()]:
            client.delete_collection(stale)
    kb.close()  # release SQLite handles before moving their files
    temp.close()
    client.get_collection(kb.name).modify(name=old_name)
    client.get_collection(temp.name).modify(name=kb.name)
    old_dir = kb.settings.kb_dir.with_name(old_name)
    shutil.rmtree(old_dir, ignore_errors=True)
    if kb.settings.kb_dir.exists():
        kb.settings.kb_dir.rename(old_dir)
    temp.settings.kb_dir.rename(kb.settings.kb_dir)
    client.delete_collection(old_name)
    shutil.rmtree(old_dir, ignore_errors=True)


def add_reindex_command(
    sub: Any, common: Any, open_kb: Callable[[argparse.Namespace], KnowledgeBase]
) -> None:
    """Add ``kbqa reindex``; ``open_kb`` opens the knowledge base the arguments name."""
    p = common(
        sub.add_parser(
            "reindex", help="rebuild a knowledge base after changing embedder or chunking"
        )
    )
    p.add_argument("--force", action="store_true", help="switch even if some files fail")
    p.set_defaults(func=lambda args: _cmd_reindex(args, open_kb))


def _cmd_reindex(
    args: argparse.Namespace, open_kb: Callable[[argparse.Namespace], KnowledgeBase]
) -> int:
    from ingest.report import print_report

    kb = open_kb(args)
    report = reindex(kb, force=args.force)
    print_report(report)
    print(
        f"knowledge base {kb.name!r} rebuilt with embedder {kb.embedder_id!r} and the current splitter"
    )
    return 0 if report.ok else 1
