"""The human-readable ingest report: per-file failures and a summary table."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from rag.types import IngestReport


def print_report(report: IngestReport, console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    problems = [f for f in report.files if f.status in ("failed", "skipped")]
    if problems:
        table = Table(title="Files not ingested", show_lines=False)
        table.add_column("file")
        table.add_column("status")
        table.add_column("reason")
        for f in problems:
            table.add_row(f.source, f.status, f.reason)
        console.print(table)
    summary = Table(title=f"Ingest into {report.kb!r} from {report.root}")
    summary.add_column("files / chunks")
    summary.add_column("count", justify="right")
    for label, value in (
        ("added", report.files_added),
        ("updated", report.files_updated),
        ("unchanged", report.files_unchanged),
        ("removed", report.files_removed),
        ("failed", report.files_failed),
        ("skipped", report.files_skipped),
        ("chunks written", report.chunks_written),
        ("chunks deleted", report.chunks_deleted),
        ("seconds", f"{report.seconds:.1f}"),
    ):
        summary.add_row(label, str(value))
    console.print(summary)
