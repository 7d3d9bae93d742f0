"""``kbqa serve``: the HTTP API.

Fast tests drive ``create_app`` with FastAPI's TestClient over fake knowledge bases (no
weights). The slow tests start the real server in a subprocess with the small test generator
and talk to it with the official ``openai`` client, as another tool would.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from rag.api.app import answer_events, create_app
from rag.errors import ConfigError, EmptyKnowledgeBaseError
from rag.options import AskOptions
from rag.settings import Settings
from rag.types import Answer, Citation, FileRecord, FileResult, IngestReport, Passage
from tests.helpers import stop

REPO = Path(__file__).resolve().parents[1]
QUESTION = "Which planet is the largest planet in the Solar System?"
REFUSAL = "The documents do not contain the answer."


# -- fakes -----------------------------------------------------------------------------------------
class FakeStream:
    """Pieces, then ``answer`` (set only once the pieces are used up), like AnswerStream."""

    def __init__(self, pieces: list[str], answer: Answer, kb: FakeKb, fail_after: int | None):
        self.answer: Answer | None = None
        self._gen = self._run(pieces, answer, kb, fail_after)

    def __iter__(self):
        return self._gen

    def _run(self, pieces, answer, kb, fail_after):
        gauge = kb.gauge
        gauge.active += 1
        gauge.most = max(gauge.most, gauge.active)
        try:
            for i, piece in enumerate(pieces):
                if fail_after is not None and i == fail_after:
                    raise (kb.error or RuntimeError("generator crashed"))
                time.sleep(kb.piece_seconds)
                yield piece
            self.answer = answer
        finally:
            gauge.active -= 1


@dataclass
class Gauge:
    """Answers being generated now, and the most at once (shared by a provider's fakes)."""

    active: int = 0
    most: int = 0


@dataclass
class FakeKb:
    """The part of KnowledgeBase the API uses, with canned answers and an in-memory registry."""

    settings: Settings
    asked: list[tuple[str, list, dict]] = field(default_factory=list)
    records: dict[str, FileRecord] = field(default_factory=dict)
    refuse: bool = False
    fail_after: int | None = None
    error: Exception | None = None
    piece_seconds: float = 0.0
    gauge: Gauge = field(default_factory=lambda: Gauge())

    def stream(self, question, history=None, **overrides):
        AskOptions.from_kwargs(**overrides)  # unknown names and bad values raise, as for real
        self.asked.append((question, list(history or []), overrides))
        if self.refuse:
            passage = Passage(1, "c1", "solar.md", None, "The Sun is a star.", 0.1)
            # a citation left on an abstained answer must not be shown as a source
            cite = Citation(1, "solar.md", None, "The Sun is a star.", 0.2)
            answer = Answer(question, REFUSAL, [cite], [passage], True, language="en")
            return FakeStream([REFUSAL], answer, self, self.fail_after)
        cite = Citation(1, "solar.md", 2, "Jupiter is the largest planet", 0.9)
        text = "Jupiter is the largest planet [1]."
        answer = Answer(question, text, [cite], [], False, evidence=0.8, raw_answer=text)
        return FakeStream(["Jupiter is", " the largest planet."], answer, self, self.fail_after)

    def documents(self):
        return list(self.records.values())

    def remove(self, source):
        return self.records.pop(source).chunks

    def ingest(self, path, *, prune=True, only=None):
        assert prune is False  # ingesting only the uploads must not prune the others
        report = IngestReport(kb=self.settings.kb, root=str(path))
        for file in sorted(Path(path).iterdir()):
            if only is not None and file.name not in only:
                continue
            if file.read_bytes().startswith(b"%PDF"):
                report.files.append(FileResult(file.name, "failed", reason="encrypted PDF"))
                continue
            self.records[file.name] = FileRecord(file.name, "sha", 5, 1, 0, file.stem, "en", 1.0)
            report.files.append(FileResult(file.name, "added", chunks=1))
        return report


class FakeKbs:
    """A provider: knowledge bases exist once opened or listed in ``existing``."""

    def __init__(self, persist_dir: Path, existing=("notes",)):
        self.persist_dir = persist_dir
        self.kbs: dict[str, FakeKb] = {}
        self.gauge = Gauge()
        for name in existing:
            self.open(name)

    def names(self):
        return sorted(self.kbs)

    def open(self, name):
        if name not in self.kbs:
            try:
                settings = Settings(persist_dir=self.persist_dir, kb=name)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            self.kbs[name] = FakeKb(settings, gauge=self.gauge)
        return self.kbs[name]


@pytest.fixture
def kbs(tmp_path):
    return FakeKbs(tmp_path / "store")


@pytest.fixture
def client(kbs):
    return TestClient(create_app(kbs, default_kb="notes"))


def ask(client, content=QUESTION, **body):
    return client.post(
        "/v1/chat/completions",
        json={"model": "notes", "messages": [{"role": "user", "content": content}], **body},
    )


def sse_events(response) -> list:
    """The ``data:`` payloads of a server-sent-events body, JSON decoded except [DONE]."""
    events = []
    for line in response.text.splitlines():
        if line.startswith("data: "):
            data = line[len("data: ") :]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


# -- chat completions ------------------------------------------------------------------------------
def test_completion_has_the_checked_answer_its_sources_and_footnotes(client):
    response = ask(client)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "notes"
    message = body["choices"][0]["message"]
    assert message["role"] == "assistant" and body["choices"][0]["finish_reason"] == "stop"
    assert (
        message["content"]
        == "Jupiter is the largest planet [1].\n\n**Sources**  \n[1]: solar.md, p. 2"
    )
    assert body["sources"] == [
        {
            "marker": "[1]",
            "n": 1,
            "source": "solar.md",
            "page": 2,
            "location": "solar.md, p. 2",
            "snippet": "Jupiter is the largest planet",
            "score": 0.9,
        }
    ]
    assert body["kbqa"]["abstained"] is False
    assert body["kbqa"]["answer"] == "Jupiter is the largest planet [1]."


def test_history_and_sampling_options_reach_the_knowledge_base(client, kbs):
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "What is the Sun?"},
        {"role": "assistant", "content": "A star [1].\n\n**Sources**  \n[1]: solar.md"},
        {"role": "user", "content": [{"type": "text", "text": "And the largest planet?"}]},
    ]
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": "notes",
            "messages": messages,
            "temperature": 0.3,
            "top_p": 0.5,
            "max_tokens": 20,
            "presence_penalty": 0.1,  # an OpenAI field kbqa does not use: accepted, ignored
        },
    )
    assert response.status_code == 200, response.text
    question, history, options = kbs.kbs["notes"].asked[-1]
    assert question == "And the largest planet?"
    assert history == [("user", "What is the Sun?"), ("assistant", "A star [1].")]
    assert options == {"temperature": 0.3, "top_p": 0.5, "max_new_tokens": 20}


def test_streamed_answer_is_openai_chunks_ending_with_done(client):
    with client.stream(
        "POST",
        "/v1/chat/completions",
        json={
            "model": "notes",
            "messages": [{"role": "user", "content": QUESTION}],
            "stream": True,
        },
    ) as response:
        response.read()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert content == "Jupiter is the largest planet.\n\n**Sources**  \n[1]: solar.md, p. 2"
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert [s["source"] for s in last["sources"]] == ["solar.md"]
    assert last["kbqa"]["answer"] == "Jupiter is the largest planet [1]."
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])


def test_a_refusal_is_an_ordinary_answer_without_sources(client, kbs):
    kbs.kbs["notes"].refuse = True
    body = ask(client).json()
    assert body["choices"][0]["message"]["content"] == REFUSAL
    assert body["sources"] == [] and body["kbqa"]["abstained"] is True


def test_unknown_model_is_a_404_naming_the_knowledge_bases(client, kbs):
    kbs.open("work")
    response = client.post(
        "/v1/chat/completions",
        json={"model": "nope", "messages": [{"role": "user", "content": "q"}]},
    )
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "model_not_found"
    assert error["param"] == "model"
    assert "'nope'" in error["message"] and "notes, work" in error["message"]
    assert client.get("/v1/models/nope").status_code == 404


def test_models_lists_the_knowledge_bases(client, kbs):
    kbs.open("work")
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["notes", "work"]
    assert {m["object"] for m in body["data"]} == {"model"}
    assert client.get("/v1/models/work").json()["id"] == "work"


@pytest.mark.parametrize(
    ("body", "param_or_words"),
    [
        ({"temperature": -1}, "temperature must be a number"),
        ({"top_p": 2}, "top_p must be a number"),
        ({"max_tokens": 0}, "max_new_tokens must be a whole number"),
        ({"n": 2}, "n must be 1"),
    ],
)
def test_bad_sampling_values_are_400_in_openai_shape(client, body, param_or_words):
    response = ask(client, **body)
    assert response.status_code == 400
    assert param_or_words in response.json()["error"]["message"]


def test_the_last_message_must_be_the_users(client):
    response = client.post(
        "/v1/chat/completions",
        json={"model": "notes", "messages": [{"role": "assistant", "content": "hi"}]},
    )
    assert response.status_code == 400
    assert "last message must be the user's" in response.json()["error"]["message"]
    assert client.post("/v1/chat/completions", json={"model": "notes"}).status_code == 400


def test_error_before_the_first_token_is_a_json_error_even_when_streaming(client, kbs):
    kbs.kbs["notes"].fail_after = 0
    kbs.kbs["notes"].error = EmptyKnowledgeBaseError("knowledge base 'notes' holds no documents")
    response = ask(client, stream=True)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "empty_knowledge_base"


def test_error_during_the_stream_is_an_error_event(client, kbs):
    kbs.kbs["notes"].fail_after = 1
    response = ask(client, stream=True)
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    assert events[-2]["error"]["type"] == "server_error"
    assert "RuntimeError" in events[-2]["error"]["message"]
    assert not any("sources" in e for e in events[:-1])


@pytest.mark.parametrize("one_at_a_time", [True, False])
def test_answers_are_generated_one_at_a_time(kbs, one_at_a_time):
    kbs.kbs["notes"].piece_seconds = 0.05
    kbs.open("work").piece_seconds = 0.05
    app = create_app(kbs, one_answer_at_a_time=one_at_a_time)

    async def both():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kbqa") as http:
            requests = [
                http.post(
                    "/v1/chat/completions",
                    json={"model": name, "messages": [{"role": "user", "content": QUESTION}]},
                )
                for name in ("notes", "notes", "work")
            ]
            return await asyncio.gather(*requests)

    responses = asyncio.run(both())
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert kbs.gauge.active == 0
    if one_at_a_time:  # one lock for all: no two answers overlapped, same kb or not
        assert kbs.gauge.most == 1
    else:  # without it (a model server generates) they overlap
        assert kbs.gauge.most >= 2


def test_a_client_that_leaves_stops_its_answer_and_frees_the_generator():
    produced: list[int] = []

    class SlowStream:
        answer = None

        def __iter__(self):
            for i in range(1000):
                produced.append(i)
                time.sleep(0.002)
                yield f"{i} "

    class SlowKb:
        def stream(self, question, history=None, **options):
            return SlowStream()

    lock = threading.Lock()

    async def leave_after_the_first_piece():
        events = answer_events(SlowKb(), QUESTION, [], {}, lock)
        assert (await anext(events)).value == "0 "
        await events.aclose()  # what the server does when the client disconnects

    asyncio.run(leave_after_the_first_piece())
    assert lock.acquire(timeout=5)  # the next request's turn
    assert len(produced) < 1000


# -- API key ---------------------------------------------------------------------------------------
def test_with_a_key_every_endpoint_requires_it(kbs):
    client = TestClient(create_app(kbs, api_key="s3cret", default_kb="notes"))
    for method, path in [
        ("GET", "/v1/models"),
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/documents"),
        ("POST", "/v1/documents"),
        ("DELETE", "/v1/documents/solar.md"),
        ("GET", "/openapi.json"),
    ]:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            response = client.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.json()["error"]["type"] == "authentication_error"
            assert response.headers["www-authenticate"] == "Bearer"
    ok = client.get("/v1/models", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert ask(client).status_code == 401


def test_without_a_key_no_header_is_needed(client):
    assert client.get("/v1/models").status_code == 200


# -- documents -------------------------------------------------------------------------------------
def test_upload_list_and_remove_documents(client, kbs):
    response = client.post(
        "/v1/documents",
        data={"kb": "notes"},
        files=[
            ("files", ("planets.md", b"# Planets\nJupiter is big.", "text/markdown")),
            ("files", ("setup.exe", b"MZ\x90\x00", "application/octet-stream")),
            ("files", ("../../escape.txt", b"out", "text/plain")),
            ("files", ("locked.pdf", b"%PDF-1.7 encrypted", "application/pdf")),
        ],
    )
    assert response.status_code == 200, response.text
    report = response.json()
    by_source = {f["source"]: f for f in report["files"]}
    assert by_source["planets.md"]["status"] == "added"
    assert by_source["setup.exe"]["status"] == "failed"
    assert ".exe is not a type kbqa reads" in by_source["setup.exe"]["reason"]
    assert by_source["../../escape.txt"]["reason"] == "the name climbs out of its folder ('..')"
    assert by_source["locked.pdf"] == {
        "source": "locked.pdf",
        "status": "failed",
        "chunks": 0,
        "reason": "encrypted PDF",
    }
    assert report["files_added"] == 1 and report["files_failed"] == 3 and report["ok"] is False
    folder = kbs.persist_dir / "documents" / "notes"  # where the app keeps uploads
    assert sorted(p.name for p in folder.iterdir()) == ["planets.md"]  # failures not kept
    assert not (kbs.persist_dir / "escape.txt").exists()

    listed = client.get("/v1/documents", params={"kb": "notes"}).json()
    assert listed["kb"] == "notes"
    assert [d["source"] for d in listed["data"]] == ["planets.md"]

    removed = client.delete("/v1/documents/planets.md", params={"kb": "notes"})
    assert removed.status_code == 200
    assert removed.json() == {
        "kb": "notes",
        "source": "planets.md",
        "deleted": True,
        "chunks": 1,
        "file_deleted": True,
    }
    assert client.get("/v1/documents").json()["data"] == []
    assert not (folder / "planets.md").exists()
    again = client.delete("/v1/documents/planets.md")
    assert again.status_code == 404 and again.json()["error"]["code"] == "document_not_found"


def test_upload_to_a_new_knowledge_base_by_query_parameter(client, kbs):
    response = client.post(
        "/v1/documents?kb=fresh", files=[("file", ("a.txt", b"alpha", "text/plain"))]
    )
    assert response.status_code == 200
    assert response.json()["kb"] == "fresh" and "fresh" in kbs.names()
    assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["fresh", "notes"]
    assert [d["source"] for d in client.get("/v1/documents?kb=fresh").json()["data"]] == ["a.txt"]


def test_bad_knowledge_base_names_and_unknown_ones(client):
    bad = client.post("/v1/documents?kb=../x", files=[("files", ("a.txt", b"a", "text/plain"))])
    assert bad.status_code == 400 and "knowledge base name" in bad.json()["error"]["message"]
    missing = client.get("/v1/documents?kb=nothere")
    assert missing.status_code == 404 and "notes" in missing.json()["error"]["message"]
    assert client.post("/v1/documents").status_code == 400


def test_an_upload_over_the_size_limit_is_refused(tmp_path):
    kbs = FakeKbs(tmp_path / "store")
    kbs.kbs["notes"].settings = Settings(
        persist_dir=tmp_path / "store", kb="notes", max_file_mb=0.001
    )
    client = TestClient(create_app(kbs, default_kb="notes"))
    response = client.post(
        "/v1/documents", files=[("files", ("big.txt", b"x" * 2000, "text/plain"))]
    )
    (result,) = response.json()["files"]
    assert result["status"] == "failed" and "over the 0.001 MB limit" in result["reason"]


# -- the command -----------------------------------------------------------------------------------
def test_serve_refuses_a_non_loopback_host(capsys):
    from rag.cli import main

    assert main(["serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0" in err and "--allow-remote" in err


# -- the real server, with the official openai client ------------------------------------------------
API_KEY = "kbqa-test-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``kbqa serve`` with the small test generator, a fresh store and the tiny corpus uploaded."""
    from tests.conftest import MODEL_CACHE

    work = tmp_path_factory.mktemp("serve")
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "KBQA_LLM_MODEL": "smollm2-135m",
        "KBQA_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "KBQA_MAX_NEW_TOKENS": "48",
        "KBQA_PERSIST_DIR": str(work / "store"),
        "KBQA_CONFIG": str(work / "none.toml"),
    }
    env.pop("KBQA_API_KEY", None)
    log = (work / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--kb", "notes", "--port", str(port)]
        + ["--api-key", API_KEY],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, (work / "server.log").read_text()
            try:
                if httpx.get(f"{base}/v1/models", headers=headers, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (work / "server.log").read_text()
            time.sleep(0.5)
        corpus = [
            (
                "solar.md",
                "# The Solar System\n\nThe Sun is a star at the centre of the Solar System.\n\n"
                "## Planets\n\nJupiter is the largest planet in the Solar System. Mars is called"
                " the red planet because iron oxide covers its surface.\n",
            ),
            (
                "baking.txt",
                "Sourdough bread rises because wild yeast and lactic acid bacteria ferment the"
                " dough. A starter must be fed with flour and water every day.\n",
            ),
        ]
        upload = httpx.post(
            f"{base}/v1/documents",
            headers=headers,
            files=[("files", (name, text.encode(), "text/plain")) for name, text in corpus],
            timeout=300,
        )
        assert upload.status_code == 200, upload.text
        assert upload.json()["files_added"] == 2, upload.text
        yield {"base": base, "headers": headers, "work": work}
    finally:
        stop(proc, grace=30)
        log.close()


@pytest.fixture
def openai_client(server):
    from openai import OpenAI

    return OpenAI(base_url=f"{server['base']}/v1", api_key=API_KEY, max_retries=0, timeout=300)


@pytest.mark.slow
def test_real_server_lists_knowledge_bases_as_models(openai_client):
    assert [m.id for m in openai_client.models.list()] == ["notes"]


@pytest.mark.slow
def test_real_server_answers_with_sources(openai_client):
    completion = openai_client.chat.completions.create(
        model="notes",
        messages=[{"role": "user", "content": QUESTION}],
        temperature=0,
        max_tokens=48,
    )
    content = completion.choices[0].message.content
    sources = completion.model_extra["sources"]
    assert sources and sources[0]["source"] == "solar.md", content
    assert sources[0]["marker"] in content
    assert content.endswith(
        "**Sources**  \n" + "  \n".join(f"{s['marker']}: {s['source']}" for s in sources)
    )


@pytest.mark.slow
def test_real_server_streams_chunks_with_sources_at_the_end(openai_client):
    stream = openai_client.chat.completions.create(
        model="notes",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        temperature=0,
    )
    chunks = list(stream)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    # the model's tokens as they came (the 135M model may answer in one), then the footnotes
    assert len(pieces) >= 2 and pieces[-1].startswith("\n\n**Sources**  \n")
    assert chunks[-1].choices[0].finish_reason == "stop"
    sources = chunks[-1].model_extra["sources"]
    assert sources and sources[0]["source"] == "solar.md"
    assert "".join(pieces).endswith(f"{sources[-1]['marker']}: {sources[-1]['source']}")


@pytest.mark.slow
def test_real_server_unknown_model_and_wrong_key(openai_client, server):
    import openai

    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.chat.completions.create(
            model="elsewhere", messages=[{"role": "user", "content": QUESTION}]
        )
    assert "'elsewhere' does not exist" in str(caught.value) and "notes" in str(caught.value)
    wrong = openai.OpenAI(base_url=f"{server['base']}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    assert httpx.get(f"{server['base']}/v1/documents").status_code == 401


@pytest.mark.slow
def test_real_server_upload_list_remove(server):
    base, headers = server["base"], server["headers"]
    report = httpx.post(
        f"{base}/v1/documents?kb=notes",
        headers=headers,
        files=[
            (
                "files",
                ("tea.txt", b"Green tea is steeped at 80 degrees for two minutes.", "text/plain"),
            ),
            ("files", ("tool.exe", b"MZ\x90\x00\x03", "application/octet-stream")),
        ],
        timeout=300,
    ).json()
    status = {f["source"]: (f["status"], f["reason"]) for f in report["files"]}
    assert status["tea.txt"] == ("added", "")
    assert status["tool.exe"][0] == "failed" and "not a type kbqa reads" in status["tool.exe"][1]
    listed = httpx.get(f"{base}/v1/documents?kb=notes", headers=headers).json()["data"]
    assert {"tea.txt", "solar.md", "baking.txt"} == {d["source"] for d in listed}
    assert (server["work"] / "store" / "documents" / "notes" / "tea.txt").is_file()
    removed = httpx.delete(f"{base}/v1/documents/tea.txt?kb=notes", headers=headers).json()
    assert removed["deleted"] and removed["chunks"] >= 1 and removed["file_deleted"]
    listed = httpx.get(f"{base}/v1/documents?kb=notes", headers=headers).json()["data"]
    assert {"solar.md", "baking.txt"} == {d["source"] for d in listed}


@pytest.mark.slow
def test_real_serve_refuses_a_non_loopback_host(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rag.cli",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(_free_port()),
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0" in result.stderr
