"""kbqa's HTTP API: a FastAPI application over a provider of knowledge bases.

``create_app(provider)`` serves

- ``POST /v1/chat/completions``: OpenAI-compatible; the knowledge base is the ``model``, the
  last user message the question, earlier user/assistant messages the history; ``stream``
  answers in ``chat.completion.chunk`` server-sent events ending with ``data: [DONE]``;
- ``GET /v1/models`` (and ``/v1/models/{name}``): the knowledge bases;
- ``POST /v1/documents`` (multipart ``files``; ``kb`` as a form field or query parameter),
  ``GET /v1/documents?kb=…`` and ``DELETE /v1/documents/{source}?kb=…``: ingest, list and
  remove documents, uploads kept where the app keeps them (``app.library.documents_dir``).

The provider hands out knowledge bases by name (``KnowledgeBases``: one shared ``Models``, one
``KnowledgeBase`` per name, as the app does), so a test passes fakes and loads no weights.
Errors come back in OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``.

>>> from fastapi.testclient import TestClient
>>> class NoKbs:
...     def names(self): return []
...     def open(self, name): raise AssertionError(name)
>>> client = TestClient(create_app(NoKbs()))
>>> client.get("/v1/models").json()
{'object': 'list', 'data': []}
>>> client.post("/v1/chat/completions", json={"model": "notes", "messages": []}).status_code
404
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import FastAPI, File, Form, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.library import Refused, delete_saved, documents_dir, save_uploads
from rag.api import openai_format as oa
from rag.errors import (
    ConfigError,
    EmbedderMismatchError,
    EmptyKnowledgeBaseError,
    IngestLockedError,
    KbqaError,
    KnowledgeBaseNotFoundError,
    LoaderError,
    ModelError,
    QuestionError,
    SplitterMismatchError,
)
from rag.kb import KnowledgeBase, Models
from rag.settings import Settings
from rag.types import Answer, FileRecord, FileResult, IngestReport

log = logging.getLogger("kbqa.api")


# -- what the API needs from a knowledge base ----------------------------------------------------
class AnswerStreamLike(Protocol):
    """``rag.chain.AnswerStream``: text pieces, then the checked ``answer``."""

    answer: Answer | None

    def __iter__(self) -> Iterator[str]: ...


class KnowledgeBaseLike(Protocol):
    """The part of ``rag.kb.KnowledgeBase`` the API calls."""

    settings: Settings

    def stream(
        self, question: str, history: Sequence[tuple[str, str]] | None = None, **overrides: Any
    ) -> AnswerStreamLike: ...

    def documents(self) -> list[FileRecord]: ...

    def remove(self, source: str) -> int: ...

    def ingest(
        self, path: str | Path, *, prune: bool = True, only: set[str] | None = None
    ) -> IngestReport: ...


class KnowledgeBaseProvider(Protocol):
    """Knowledge bases by name: ``names()`` those that exist, ``open(name)`` one (created on
    its first ingest)."""

    def names(self) -> list[str]: ...

    def open(self, name: str) -> KnowledgeBaseLike: ...


class KnowledgeBases:
    """The real provider: one ``Models`` for the process, one ``KnowledgeBase`` per name.

    Models load once, on first use (``kbqa serve`` loads them before it listens); every
    knowledge base shares them, as the Streamlit app's ``resources`` do.
    """

    def __init__(self, settings: Settings, models: Models | None = None) -> None:
        self.settings = settings
        self.models = models or Models(settings)
        self._opened: dict[str, KnowledgeBase] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return KnowledgeBase.list(self.settings)

    def open(self, name: str) -> KnowledgeBase:
        with self._lock:
            kb = self._opened.get(name)
            if kb is None:
                try:
                    kb = KnowledgeBase(self.settings, models=self.models, kb=name)
                except ValidationError as exc:
                    raise ConfigError("; ".join(e["msg"] for e in exc.errors())) from None
                self._opened[name] = kb
            return kb


# -- errors ----------------------------------------------------------------------------------------
class ApiError(Exception):
    """An error answered as is: HTTP status, OpenAI error type, code and parameter."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        param: str | None = None,
        type_: oa.ErrorType = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.type_ = (
            status,
            message,
            code,
            param,
            type_,
        )

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        body = oa.error_body(self.message, self.type_, self.code, self.param)
        return JSONResponse(body, status_code=self.status, headers=headers)


# (error class, HTTP status, code); the first that matches wins, so subclasses come first.
_KBQA_ERRORS: tuple[tuple[type[KbqaError], int, str], ...] = (
    (KnowledgeBaseNotFoundError, 404, "model_not_found"),
    (EmptyKnowledgeBaseError, 400, "empty_knowledge_base"),
    (IngestLockedError, 409, "ingest_in_progress"),
    (EmbedderMismatchError, 409, "embedder_mismatch"),
    (SplitterMismatchError, 409, "splitter_mismatch"),
    (ModelError, 503, "model_unavailable"),
    (QuestionError, 400, "invalid_question"),
    (ConfigError, 400, "invalid_value"),
    (LoaderError, 400, "unreadable_document"),
    (KbqaError, 400, "kbqa_error"),
)


def api_error(exc: BaseException) -> ApiError:
    """The ``ApiError`` for any exception: kbqa's typed errors keep their one sentence."""
    if isinstance(exc, ApiError):
        return exc
    for cls, status, code in _KBQA_ERRORS:
        if isinstance(exc, cls):
            type_: oa.ErrorType = "server_error" if status >= 500 else "invalid_request_error"
            return ApiError(status, str(exc), code, type_=type_)
    log.error("unexpected error", exc_info=exc)
    return ApiError(
        500,
        f"internal error ({type(exc).__name__}); the server log has the details",
        "internal_error",
        type_="server_error",
    )


class RequireApiKey:
    """Every request must carry ``Authorization: Bearer KEY`` (401 in OpenAI's shape if not)."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.key = api_key.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorised(scope):
            error = ApiError(
                401,
                "missing or wrong API key: send the header 'Authorization: Bearer KEY'"
                " with the key the server was started with (--api-key or KBQA_API_KEY)",
                "invalid_api_key",
                type_="authentication_error",
            )
            await error.response({"WWW-Authenticate": "Bearer"})(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authorised(self, scope: Scope) -> bool:
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, token = header.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.key)


# -- answering -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Event:
    kind: str  # "piece" (answer text), "answer" (the checked Answer, last) or "error" (last)
    value: Any


async def answer_events(
    kb: KnowledgeBaseLike,
    question: str,
    history: list[tuple[str, str]],
    options: dict[str, Any],
    lock: AbstractContextManager[Any],
) -> AsyncGenerator[_Event, None]:
    """The answer's pieces as they are generated, then the ``Answer`` (or the error).

    Generation runs in its own thread holding ``lock`` from the question to the checked answer;
    closing this iterator (a client that went away) stops it at the next piece.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[_Event] = asyncio.Queue()
    stop = threading.Event()

    def put(kind: str, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, _Event(kind, value))
        except RuntimeError:  # the event loop is closed: the server is shutting down
            stop.set()

    def work() -> None:
        try:
            with lock:
                if stop.is_set():  # the client left while waiting for its turn
                    return
                stream = kb.stream(question, history, **options)
                for piece in stream:
                    if stop.is_set():
                        return
                    put("piece", piece)
                put("answer", stream.answer)
        except BaseException as exc:  # noqa: BLE001 - handed to the request, which answers it
            put("error", exc)

    threading.Thread(target=work, name="kbqa-answer", daemon=True).start()
    try:
        while True:
            event = await queue.get()
            yield event
            if event.kind != "piece":
                return
    finally:
        stop.set()


async def _sse_body(
    first: _Event, events: AsyncGenerator[_Event, None], cid: str, created: int, model: str
) -> AsyncIterator[str]:
    try:
        yield oa.sse(oa.chunk(cid, created, model, {"role": "assistant", "content": ""}))
        event = first
        while True:
            if event.kind == "piece":
                yield oa.sse(oa.chunk(cid, created, model, {"content": event.value}))
            elif event.kind == "answer":
                yield oa.sse(oa.final_chunk(cid, created, model, event.value))
                break
            else:  # the openai client raises an APIError for an event carrying "error"
                error = api_error(event.value)
                yield oa.sse(oa.error_body(error.message, error.type_, error.code))
                break
            event = await anext(events)
        yield oa.sse("[DONE]")
    finally:
        await events.aclose()


# -- documents -------------------------------------------------------------------------------------
@dataclass
class _Upload:
    """An upload read into memory, in the shape ``app.library.save_uploads`` takes."""

    name: str
    data: bytes

    def getvalue(self) -> bytes:
        return self.data


def _too_large(name: str, size: int, limit_mb: float) -> Refused:
    return Refused(
        name, "too_large", f"{size / 1024 / 1024:.1f} MB is over the {limit_mb:g} MB limit"
    )


def ingest_uploads(
    kb: KnowledgeBaseLike, uploads: list[_Upload], refused: list[Refused]
) -> IngestReport:
    """Save uploads where the app keeps them and ingest exactly those files.

    Refused uploads and files ingest could not read are in the report with their reason and
    are not kept; the other documents of the knowledge base are left as they are.
    """
    folder = documents_dir(kb.settings)
    saved, not_saved = save_uploads(uploads, folder, kb.settings)
    if saved:
        report = kb.ingest(folder, only={p.name for p in saved}, prune=False)
    else:
        report = IngestReport(kb=kb.settings.kb, root=str(folder))
    for result in report.files:
        if result.status in ("failed", "skipped"):
            delete_saved(folder, result.source)
    report.files.extend(FileResult(r.name, "failed", reason=r.reason) for r in refused + not_saved)
    report.files.sort(key=lambda f: f.source)
    return report


# -- the application -------------------------------------------------------------------------------
def create_app(
    provider: KnowledgeBaseProvider,
    *,
    api_key: str | None = None,
    default_kb: str = "default",
    one_answer_at_a_time: bool = True,
) -> FastAPI:
    """The API over ``provider``; with ``api_key`` every request must present it.

    ``one_answer_at_a_time`` queues answers (the in-process generator); ``kbqa serve`` turns
    it off when a model server generates (``KBQA_LLM_BASE_URL``), which batches requests itself.
    """
    app = FastAPI(
        title="kbqa",
        summary="Ask your own documents: OpenAI-compatible chat completions with sources.",
        # Swagger UI and ReDoc load their scripts from a CDN; kbqa's pages never do.
        docs_url=None,
        redoc_url=None,
    )
    if api_key:
        app.add_middleware(RequireApiKey, api_key=api_key)
    # One answer at a time: every knowledge base shares one generator, and two answers at once
    # on a two-core machine only make both slower.
    generation: AbstractContextManager[Any] = (
        threading.Lock() if one_answer_at_a_time else nullcontext()
    )

    # ApiError and KbqaError are answered by their own handlers; Exception's (a 500) runs in the
    # outermost middleware, which also logs the traceback.
    @app.exception_handler(ApiError)
    @app.exception_handler(KbqaError)
    @app.exception_handler(Exception)
    async def _error(request: Request, exc: Exception) -> JSONResponse:
        return api_error(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        type_: oa.ErrorType = "server_error" if exc.status_code >= 500 else "invalid_request_error"
        return ApiError(exc.status_code, str(exc.detail), type_=type_).response()

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        return ApiError(400, f"invalid request: {problems}", "invalid_request").response()

    async def existing(name: str, param: str) -> KnowledgeBaseLike:
        names = await run_in_threadpool(provider.names)
        if name not in names:
            raise ApiError(
                404,
                f"knowledge base {name!r} does not exist; knowledge bases:"
                f" {', '.join(names) or 'none yet'} (add documents to create one:"
                f" POST /v1/documents or kbqa ingest DIR --kb NAME)",
                "model_not_found",
                param,
            )
        return await run_in_threadpool(provider.open, name)

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        names = await run_in_threadpool(provider.names)
        return {"object": "list", "data": [_model(name) for name in names]}

    @app.get("/v1/models/{model}")
    async def get_model(model: str) -> dict[str, Any]:
        await existing(model, "model")
        return _model(model)

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(body: oa.ChatRequest) -> dict[str, Any] | StreamingResponse:
        kb = await existing(body.model, "model")
        if body.n not in (None, 1):
            raise ApiError(400, "n must be 1: kbqa writes one answer", "invalid_value", "n")
        question, history = oa.split_messages(body.messages)
        events = answer_events(kb, question, history, oa.ask_options(body), generation)
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        handed_over = False  # to the streamed response's body, which closes ``events`` itself
        try:
            first = await anext(events)
            if first.kind == "error":
                raise api_error(first.value)
            if body.stream:
                handed_over = True
                return StreamingResponse(
                    _sse_body(first, events, cid, created, body.model),
                    media_type="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
                )
            event = first
            while event.kind == "piece":
                event = await anext(events)
            if event.kind == "error":
                raise api_error(event.value)
            return oa.completion(cid, created, body.model, event.value)
        finally:
            if not handed_over:
                await events.aclose()

    @app.post("/v1/documents")
    async def add_documents(
        files: Annotated[list[UploadFile] | None, File()] = None,
        file: Annotated[list[UploadFile] | None, File()] = None,
        kb_form: Annotated[str | None, Form(alias="kb")] = None,
        kb_query: Annotated[str | None, Query(alias="kb")] = None,
    ) -> dict[str, Any]:
        parts = [*(files or []), *(file or [])]
        if not parts:
            raise ApiError(
                400,
                "no files: send them as multipart form fields named 'files'",
                "no_files",
                "files",
            )
        kb = await run_in_threadpool(provider.open, kb_form or kb_query or default_kb)
        limit_mb = kb.settings.max_file_mb
        limit = int(limit_mb * 1024 * 1024)
        uploads: list[_Upload] = []
        refused: list[Refused] = []
        for part in parts:
            name = part.filename or ""
            if part.size is not None and part.size > limit:  # not read into memory at all
                refused.append(_too_large(name, part.size, limit_mb))
                continue
            # One byte over the limit is enough for save_uploads to refuse it.
            uploads.append(_Upload(name, await part.read(limit + 1)))
        report = await run_in_threadpool(ingest_uploads, kb, uploads, refused)
        return {**report.to_dict(), "ok": report.ok}

    @app.get("/v1/documents")
    async def list_documents(kb: str | None = None) -> dict[str, Any]:
        name = kb or default_kb
        opened = await existing(name, "kb")
        records = await run_in_threadpool(opened.documents)
        return {"object": "list", "kb": name, "data": [asdict(r) for r in records]}

    @app.delete("/v1/documents/{source:path}")
    async def remove_document(source: str, kb: str | None = None) -> dict[str, Any]:
        name = kb or default_kb
        opened = await existing(name, "kb")
        records = await run_in_threadpool(opened.documents)
        if source not in {r.source for r in records}:
            known = ", ".join(r.source for r in records[:10]) or "none"
            raise ApiError(
                404,
                f"{source!r} is not in knowledge base {name!r} (documents: {known})",
                "document_not_found",
                "source",
            )
        chunks = await run_in_threadpool(opened.remove, source)
        file_deleted = await run_in_threadpool(delete_saved, documents_dir(opened.settings), source)
        return {
            "kb": name,
            "source": source,
            "deleted": True,
            "chunks": chunks,
            "file_deleted": file_deleted,
        }

    return app


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "kbqa"}
