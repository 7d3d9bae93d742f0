"""The library view: upload (refusals in kbqa's words, next to the file), (re-)ingest with
progress and a per-file report, list, remove with confirmation; and the chat's landing section
(the documents loaded and example questions drawn from them)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from app.i18n import t
from app.library import (
    Refused,
    check_upload,
    delete_saved,
    document_rows,
    documents_dir,
    example_questions,
    file_kind,
    format_families,
    headings_from_metadata,
    save_uploads,
)
from app.markup import escape_markdown_inline
from app.ui import error_sentence, flash

if TYPE_CHECKING:
    from rag.kb import KnowledgeBase
    from rag.settings import Settings
    from rag.types import IngestReport

UPLOADER = "uploader_n"
LAST_REPORT = "last_report"
REMOVE = "remove_source"
CONFIRM_REMOVE = "confirm_remove_source"
LANDING_DOCS = 8  # documents listed on the landing page before "and N more"
# Chunks read for headings on the landing page (metadata only; a large store is sampled).
HEADING_CHUNKS = 2000


def formats_sentence(extensions: list[str], lang: str) -> str:
    """The formats kbqa reads, in words: "PDF, Word, spreadsheets, …"."""
    names = [
        t(lang, f"fmt_{f}") if not f.startswith(".") else f for f in format_families(extensions)
    ]
    return t(lang, "list_sep").join(names)


def refusal_sentence(refused: Refused, settings: Settings, lang: str) -> str:
    """Why an upload is not taken, in kbqa's words: "setup.exe: kbqa reads PDF, …; this one is
    an executable."."""
    name = escape_markdown_inline(refused.name[:80]) or "?"
    if refused.code == "extension":
        return t(
            lang,
            "refuse_type",
            name=name,
            formats=formats_sentence(settings.extensions, lang),
            kind=t(lang, f"kind_{file_kind(refused.name)}"),
        )
    reason = t(lang, f"refuse_{refused.code}", mb=settings.max_file_mb)
    return t(lang, "refused_file", name=name, reason=reason)


def _size(upload: Any) -> int:
    size = getattr(upload, "size", None)
    return int(size) if size is not None else len(upload.getvalue())


def library_view(kb: KnowledgeBase, lang: str) -> None:
    settings = kb.settings
    folder = documents_dir(settings)
    st.subheader(f"{t(lang, 'library')} · {kb.name}")
    st.caption(t(lang, "folder", folder=folder))

    n = st.session_state.setdefault(UPLOADER, 0)
    # Any file type: kbqa checks each one itself and says why it refuses it (the browser's own
    # refusal is a clipped tooltip in its words, "application/x-… files are not allowed").
    files = st.file_uploader(
        t(
            lang,
            "upload_any",
            formats=formats_sentence(settings.extensions, lang),
            mb=settings.max_file_mb,
        ),
        accept_multiple_files=True,
        max_upload_size=max(1, math.ceil(settings.max_file_mb)),
        key=f"uploader-{n}",
    )
    files = list(files or [])
    problems = {id(f): check_upload(f.name, _size(f), settings) for f in files}
    for f in files:
        problem = problems[id(f)]
        if problem is not None:
            st.error(refusal_sentence(problem, settings, lang), icon=":material/block:")
    good = [f for f in files if problems[id(f)] is None]
    left, right = st.columns(2)
    if left.button(t(lang, "upload_button"), key="add_uploads", disabled=not good, type="primary"):
        _add_uploads(kb, good, folder, lang)
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
    _remove_section(kb, [r.source for r in records], folder, lang)


def _remove_section(kb: KnowledgeBase, sources: list[str], folder: Path, lang: str) -> None:
    """Pick a document (none is preselected), then confirm: removing is not undone."""
    pending = st.session_state.get(CONFIRM_REMOVE)
    source = st.selectbox(
        t(lang, "remove"),
        sources,
        index=None,
        placeholder=t(lang, "remove_placeholder"),
        key=REMOVE,
        disabled=pending is not None,
    )
    if pending is None or pending not in sources:
        st.session_state.pop(CONFIRM_REMOVE, None)
        st.button(
            t(lang, "remove_button"),
            key="remove",
            disabled=source is None,
            on_click=_ask_remove,
            args=(source,),
        )
        return
    st.warning(t(lang, "confirm_remove", source=escape_markdown_inline(pending)))
    yes, no = st.columns(2)
    yes.button(
        t(lang, "confirm_remove_button"),
        key="confirm_remove",
        type="primary",
        on_click=_remove,
        args=(kb, pending, folder, lang),
    )
    no.button(t(lang, "cancel"), key="cancel_remove", on_click=_cancel_remove)


def _remove(kb: KnowledgeBase, source: str, folder: Path, lang: str) -> None:
    """Button callback: runs before the rerun, so the picker can be emptied."""
    st.session_state.pop(CONFIRM_REMOVE, None)
    st.session_state.pop(REMOVE, None)
    try:
        chunks = kb.remove(source)
        delete_saved(folder, source)
    except Exception as exc:  # noqa: BLE001
        flash("error", error_sentence(exc, "action_remove", lang))
    else:
        flash("success", t(lang, "removed", source=escape_markdown_inline(source), n=chunks))


def _ask_remove(source: str | None) -> None:
    if source is not None:
        st.session_state[CONFIRM_REMOVE] = source


def _cancel_remove() -> None:
    st.session_state.pop(CONFIRM_REMOVE, None)


def _add_uploads(kb: KnowledgeBase, files: list, folder: Path, lang: str) -> None:
    try:
        saved, refused = save_uploads(files, folder, kb.settings)
    except Exception as exc:  # noqa: BLE001
        flash("error", error_sentence(exc, "action_upload", lang))
        st.rerun()
    for r in refused:  # checked already; a file that changed between the check and the save
        flash("warning", refusal_sentence(r, kb.settings, lang))
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


# -- the chat's landing section ------------------------------------------------------------------


def _headings(kb: KnowledgeBase) -> dict[str, list[str]]:
    try:
        got = kb.store.collection.get(include=["metadatas"], limit=HEADING_CHUNKS)
    except Exception:  # noqa: BLE001 - headings only make the examples better
        return {}
    return headings_from_metadata(got.get("metadatas") or [])


def landing(kb: KnowledgeBase, lang: str) -> str | None:
    """What a chat with no messages shows: the documents loaded (count, names, pages, chunks)
    and example questions drawn from them; returns the example clicked, to be asked."""
    try:
        records = kb.documents()
    except Exception:  # noqa: BLE001 - the chat view reports an unreadable knowledge base
        return None
    if not records:
        return None
    with st.container(border=True, key="landing"):
        st.markdown(t(lang, "landing_docs", n=len(records), kb=escape_markdown_inline(kb.name)))
        lines = [
            t(
                lang,
                "landing_doc",
                source=escape_markdown_inline(r.source),
                pages=r.pages,
                chunks=r.chunks,
            )
            for r in records[:LANDING_DOCS]
        ]
        if len(records) > LANDING_DOCS:
            lines.append(t(lang, "landing_more", n=len(records) - LANDING_DOCS))
        st.markdown("\n".join(f"- {line}" for line in lines))
        examples = example_questions(records, _headings(kb))
        if not examples:
            return None
        st.caption(t(lang, "landing_try"))
        picked = None
        for i, q in enumerate(examples):
            if st.button(q.text, key=f"example-{i}", icon=":material/help:", type="tertiary"):
                picked = q.text
        return picked
