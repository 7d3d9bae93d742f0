"""The Streamlit app driven through ``AppTest`` with the real small generator and real Chroma.

Each test starts the app script as ``kbqa app`` would (settings from ``KBQA_*``); the models load
once per test process (``st.cache_resource``), the ingested store once per module.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.library import documents_dir, save_uploads
from rag.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.integration]

APP = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"

LARGEST = "Which planet is the largest planet in the Solar System?"
ABSENT = "What is the boiling point of liquid nitrogen?"


class FakeUpload:
    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self._data = data

    def getvalue(self) -> bytes:
        return self._data


def start() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert_clean(at)
    return at


def assert_clean(at: AppTest) -> None:
    """No exception element, and no traceback text anywhere on the page."""
    assert not at.exception, [e.value for e in at.exception]
    texts = [str(e.value) for kind in (at.error, at.warning, at.info, at.markdown) for e in kind]
    assert not any("Traceback" in t for t in texts), texts


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input(key="question").set_value(question).run()
    assert_clean(at)
    return at


def last_answer(at: AppTest, kb: str = "default"):
    return at.session_state["chats"][kb][-1].answer


def plain(markdown: str) -> str:
    """Markdown as it reads on the page (the app escapes error text)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def markdown_of(block) -> list[str]:
    return [str(m.value) for m in block.markdown]


def test_answer_streams_with_numbered_sources_then_follow_up_and_new_chat(use_env, store):
    use_env(store)
    at = start()
    assert not at.info, "a knowledge base with documents must not show the empty greeting"

    ask(at, LARGEST)
    user, assistant = at.chat_message
    assert user.name == "user" and assistant.name == "assistant"
    answer = last_answer(at)
    assert not answer.abstained and answer.citations
    texts = markdown_of(assistant)
    assert texts[0] == _answer_markdown(answer.answer)  # the checked text replaced the stream
    citation = answer.citations[0]
    heading = next(t for t in texts if "`solar.md`" in t)
    assert heading.startswith(f":blue[**\\[{citation.n}\\]**]")  # numbered like the markers
    assert f"score {citation.score:.2f}" in heading
    assert any("**planet**" in t for t in texts)  # matched words marked

    # A follow-up goes out with the history, so the chain condenses it first.
    ask(at, "And which one is called the red planet?")
    assert len(at.chat_message) == 4
    follow_up = last_answer(at)
    assert follow_up.standalone_question is not None
    assert follow_up.passages and follow_up.passages[0].source == "solar.md"

    at.button(key="new_chat").click().run()
    assert_clean(at)
    assert len(at.chat_message) == 0


def _answer_markdown(text: str) -> str:
    from app.markup import answer_markdown

    return answer_markdown(text)


def test_abstains_plainly_with_the_nearest_passages_and_honours_top_k(use_env, store):
    use_env(store)
    at = start()
    at.slider(key="top_k").set_value(2)
    ask(at, ABSENT)
    answer = last_answer(at)
    assert answer.abstained
    assistant = at.chat_message[1]
    assert markdown_of(assistant)[0] == "The documents do not contain the answer."
    assert "do not hold the answer" in assistant.info[0].value
    assert len(answer.passages) == 2  # the per-answer top-k reached the chain
    headings = [t for t in markdown_of(assistant) if "similarity" in t]
    assert len(headings) == 2


def test_upload_ingest_ask_remove_and_switch_knowledge_base(use_env, store):
    use_env(store)
    at = start()

    # Create a knowledge base: it is selected, empty, and greets with what to do.
    at.text_input(key="new_kb_name").input("volcanoes")
    at.button(key="create_kb").click().run()
    assert_clean(at)
    assert at.session_state["kb_name"] == "volcanoes"
    assert any("Created knowledge base volcanoes" in s.value for s in at.success)
    at.radio(key="view").set_value("chat").run()
    assert "kbqa ingest DIR --kb volcanoes" in at.info[0].value
    assert at.chat_input(key="question").proto.disabled

    # An upload lands in the KB's documents folder; "re-ingest folder" indexes it.
    folder = documents_dir(Settings(persist_dir=store, kb="volcanoes"))
    saved, refused = save_uploads(
        [
            FakeUpload(
                "etna.txt",
                b"Mount Etna is an active volcano on the island of Sicily. It erupts often.",
            )
        ],
        folder,
        Settings(persist_dir=store, kb="volcanoes"),
    )
    assert [p.name for p in saved] == ["etna.txt"] and not refused
    at.radio(key="view").set_value("library").run()
    at.button(key="reingest").click().run()
    assert_clean(at)
    assert any("1 added" in s.value for s in at.success), [s.value for s in at.success]
    table = at.dataframe[-1].value
    assert list(table["source"]) == ["etna.txt"] and int(table["chunks"][0]) >= 1

    at.radio(key="view").set_value("chat").run()
    ask(at, "On which island is Mount Etna?")
    answer = last_answer(at, "volcanoes")
    assert answer.passages[0].source == "etna.txt"
    assert any("`etna.txt`" in t for t in markdown_of(at.chat_message[1]))

    # Remove it: gone from the index, the table and the documents folder.
    at.radio(key="view").set_value("library").run()
    at.selectbox(key="remove_source").set_value("etna.txt")
    at.button(key="remove").click().run()
    assert_clean(at)
    assert any("Removed etna.txt" in plain(s.value) for s in at.success)
    assert not (folder / "etna.txt").exists()
    assert any("No documents yet" in c.value for c in at.caption)

    # Back to the first knowledge base: its documents answer again, each KB keeps its chat.
    at.selectbox(key="kb_name").set_value("default").run()
    at.radio(key="view").set_value("chat").run()
    assert_clean(at)
    assert not at.info and len(at.chat_message) == 0
    assert not at.chat_input(key="question").proto.disabled


def test_bad_knowledge_base_name_shows_the_settings_message(use_env, store):
    use_env(store)
    at = start()
    at.text_input(key="new_kb_name").input("../etc")
    at.button(key="create_kb").click().run()
    assert_clean(at)
    assert at.session_state["kb_name"] == "default"
    (message,) = [plain(e.value) for e in at.error]
    assert "must be 3-63 letters" in message and "Traceback" not in message


def test_empty_store_greets_with_what_to_do(use_env, tmp_path):
    use_env(tmp_path / "fresh")
    at = start()
    greeting = at.info[0].value
    assert "holds no documents yet" in greeting
    assert "kbqa ingest DIR --kb default" in greeting and "Library" in greeting
    assert at.chat_input(key="question").proto.disabled


def test_generator_that_fails_to_load_names_the_setting(use_env, store):
    use_env(store, KBQA_LLM_MODEL="./no/such.gguf")
    at = start()
    errors = plain(" ".join(e.value for e in at.error))
    assert "./no/such.gguf" in errors and "KBQA_LLM_MODEL" in errors
    assert "KBQA_LLM_MODEL" in at.info[0].value  # the setting to change
    assert at.chat_input(key="question").proto.disabled
    # The library still works: the embedder loaded.
    at.radio(key="view").set_value("library").run()
    assert_clean(at)
    assert list(at.dataframe[-1].value["source"]) == ["baking.txt", "solar.md", "长城.txt"]


def test_invalid_setting_is_one_sentence(use_env, store, monkeypatch):
    use_env(store)
    monkeypatch.setenv("KBQA_TOP_K", "0")
    at = start()
    (message,) = [plain(e.value) for e in at.error]
    assert message.startswith("kbqa: invalid setting: top_k")


def test_interface_in_chinese(use_env, store):
    use_env(store)
    at = start()
    at.radio(key="ui_lang").set_value("zh").run()
    assert_clean(at)
    assert at.title[0].value == "kbqa — 向你的文档提问"
    assert at.chat_input(key="question").placeholder == "就你的文档提问"
    at.radio(key="view").set_value("library").run()
    assert "文件" in at.dataframe[-1].value.columns
