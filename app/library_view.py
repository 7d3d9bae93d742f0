"""The library view: upload, (re-)ingest with progress and a per-file report, list, remove."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from app.i18n import t
from app.library import delete_saved, document_rows, documents_dir, save_uploads
from app.markup import escape_markdown_inline
from app.ui import error_sentence, flash

if TYPE_CHECKING:
    from rag.kb import KnowledgeBase
    from rag.types import IngestReport

UPLOADER = "uploader_n"
LAST_REPORT = "last_report"


def library_view(kb: KnowledgeBase, lang: str) -> None:
    settings = kb.settings
    folder = documents_dir(settings)
    st.subheader(f"{t(lang, 'library')} · {kb.name}")
    st.caption(t(lang, "folder", folder=folder))

    n = st.session_state.setdefault(UPLOADER, 0)
    files = st.file_uploader(
        t(lang, "upload", types=" ".join(settings.extensions), mb=settings.max_file_mb),
        type=[ext.lstrip(".") for ext in settings.extensions],
        accept_multiple_files=True,
        max_upload_size=max(1, math.ceil(settings.max_file_mb)),
        key=f"uploader-{n}",
    )
    left, right = st.columns(2)
    if left.button(t(lang, "upload_button"), key="add_uploads", disabled=not files, type="primary"):
        _add_uploads(kb, list(files or []), folder, lang)
    if right.button(t(lang, "reingest"), key="reingest", help=t(lang, "reingest_help")):
        _ingest(kb, folder, lang)
        st.rerun()

    report = st.session_state.get(LAST_REPORT)
    if report is not None and report.kb == kb.name and report.files:
        with st.expander(t(lang, "report"), expanded=not report.ok):
            st.dataframe(
                [
                    {
                        t(lang, "col_source"): f.source,
                        t(lang, "col_status"): f.status,
                        t(lang, "col_chunks"): f.chunks,
                        t(lang, "col_reason"): f.reason,
                    }
                    for f in report.files
                ],
                hide_index=True,
                width="stretch",
            )

    st.markdown(f"#### {t(lang, 'documents')}")
    try:
        records = kb.documents()
    except Exception as exc:  # noqa: BLE001
        st.error(error_sentence(exc, "action_open", lang))
        return
    if not records:
        st.caption(t(lang, "no_documents"))
        return
    st.dataframe(
        [
            {
                t(lang, "col_source"): row.source,
                t(lang, "col_pages"): row.pages,
                t(lang, "col_chunks"): row.chunks,
                t(lang, "col_ingested"): row.ingested,
            }
            for row in document_rows(records)
        ],
        hide_index=True,
        width="stretch",
    )
    source = st.selectbox(t(lang, "remove"), [r.source for r in records], key="remove_source")
    if st.button(t(lang, "remove_button"), key="remove", disabled=source is None):
        try:
            chunks = kb.remove(str(source))
            delete_saved(folder, str(source))
        except Exception as exc:  # noqa: BLE001
            flash("error", error_sentence(exc, "action_remove", lang))
        else:
            flash(
                "success", t(lang, "removed", source=escape_markdown_inline(str(source)), n=chunks)
            )
        st.rerun()


def _add_uploads(kb: KnowledgeBase, files: list, folder: Path, lang: str) -> None:
    try:
        saved, refused = save_uploads(files, folder, kb.settings)
    except Exception as exc:  # noqa: BLE001
        flash("error", error_sentence(exc, "action_upload", lang))
        st.rerun()
    for r in refused:
        reason = t(lang, f"refuse_{r.code}", mb=kb.settings.max_file_mb)
        flash(
            "warning", t(lang, "refused", name=escape_markdown_inline(r.name[:80]), reason=reason)
        )
    if saved:
        flash("info", t(lang, "saved", n=len(saved)))
        _ingest(kb, folder, lang)
    st.session_state[UPLOADER] = st.session_state.get(UPLOADER, 0) + 1  # empties the uploader
    st.rerun()


def _ingest(kb: KnowledgeBase, folder: Path, lang: str) -> None:
    """Ingest the documents folder with a progress bar; the report is flashed for the rerun."""
    folder.mkdir(parents=True, exist_ok=True)
    bar = st.progress(0.0, text=t(lang, "ingesting", source="…", i=0, n="?"))

    def progress(i: int, n: int, source: str) -> None:
        bar.progress(i / max(n, 1), text=t(lang, "ingesting", source=source, i=i, n=n))

    try:
        report = kb.ingest(folder, progress=progress)
    except Exception as exc:  # noqa: BLE001
        flash("error", error_sentence(exc, "action_ingest", lang))
        return
    finally:
        bar.empty()
    _flash_report(report, lang)


def _flash_report(report: IngestReport, lang: str) -> None:
    summary = t(
        lang,
        "ingest_done",
        added=report.files_added,
        updated=report.files_updated,
        unchanged=report.files_unchanged,
        removed=report.files_removed,
        failed=report.files_failed,
        chunks=report.chunks_written,
    )
    flash("success" if report.ok else "warning", summary)
    st.session_state[LAST_REPORT] = report
    for f in report.files:
        if f.status in ("failed", "skipped"):
            flash(
                "error" if f.status == "failed" else "info",
                t(
                    lang,
                    "ingest_failed_file",
                    source=escape_markdown_inline(f.source),
                    reason=f.reason or f.status,
                ),
            )
