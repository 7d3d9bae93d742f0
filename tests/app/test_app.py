"""The Streamlit app driven through ``AppTest`` with the real small generator and real Chroma.

Each test starts the app script as ``kbqa app`` would (settings from ``KBQA_*``); the models load
once per test process (``st.cache_resource``), the ingested store once per module.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.chats import ChatStore, export_markdown
from app.library import documents_dir, save_uploads
from app.markup import escape_markdown, marker
from app.ui import cited_sources
from rag.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.integration]

APP = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"

LARGEST = "What is the largest planet in the Solar System?"
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


def saved_chats(kb: str = "default") -> ChatStore:
    """The chats the app saved for ``kb``, read from disk as a restarted server would."""
    settings = Settings(persist_dir=os.environ["KBQA_PERSIST_DIR"], kb=kb)
    return ChatStore(settings.kb_dir / "chats.json")


def open_chat(at: AppTest, kb: str = "default"):
    chat = saved_chats(kb).get(at.session_state["open_chat"][kb])
    assert chat is not None
    return chat


def last_answer(at: AppTest, kb: str = "default"):
    return open_chat(at, kb).messages[-1].answer


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
    # The checked text replaced the stream, its markers numbered 1, 2, ... in order of use.
    assert texts[0] == _answer_markdown(cited_sources(answer)[0])
    headings = [t for t in texts if t.startswith(":blue[") and "`" in t]
    # Numbered 1, 2, ... as the answer uses them, each with its place; no "score 1.00".
    assert [h.split("]", 1)[0] for h in headings] == [
        marker(i).split("]", 1)[0] for i in range(1, len(headings) + 1)
    ]
    assert any("`solar.md" in h for h in headings) and not any("score" in h for h in headings)
    assert any("**planet**" in t for t in texts)  # matched words marked
    assert at.query_params["chat"] == at.session_state["open_chat"]["default"]

    # A follow-up goes out with the history, so the chain condenses it first.
    ask(at, "And which one is called the red planet?")
    assert len(at.chat_message) == 4
    follow_up = last_answer(at)
    assert follow_up.standalone_question is not None
    assert follow_up.passages and follow_up.passages[0].source == "solar.md"
    searched = [c.value for c in at.chat_message[3].caption if "Searched for" in c.value]
    assert searched, "the rewritten question is shown"

    # "New chat" starts an empty one; the first stays saved and listed by its first question.
    first = at.session_state["open_chat"]["default"]
    at.button(key="new_chat").click().run()
    assert_clean(at)
    assert len(at.chat_message) == 0 and "chat" not in at.query_params
    listed = at.sidebar.button(key=f"open-chat-{first}")
    assert plain(listed.label) == LARGEST
    listed.click().run()
    assert len(at.chat_message) == 4


def _answer_markdown(text: str) -> str:
    from app.markup import answer_markdown

    return answer_markdown(text)


def test_abstains_once_with_this_questions_passages_folded_and_honours_top_k(use_env, store):
    use_env(store)
    at = start()
    ask(at, LARGEST)
    at.slider(key="top_k").set_value(2)
    at.button(key="new_chat").click().run()  # no history: the refusal is this question's own
    ask(at, ABSENT)
    answer = last_answer(at)
    assert answer.abstained
    assistant = at.chat_message[1]
    # Said once: the refusal is the one info line, not also the answer text above it.
    assert [i.value for i in assistant.info] == [_answer_markdown(answer.answer)]
    assert not [t for t in markdown_of(assistant) if "do not" in t]
    assert len(answer.passages) == 2  # the per-answer top-k reached the chain
    (folded,) = assistant.expander
    assert "Closest passages (2)" in folded.label and not folded.proto.expanded
    headings = [t for t in markdown_of(folded) if "similarity" in t]
    assert len(headings) == 2
    shown = " ".join(markdown_of(folded))
    assert "Jupiter" not in shown or any("Jupiter" in p.text for p in answer.passages)


def test_upload_ingest_ask_remove_and_switch_knowledge_base(use_env, store):
    use_env(store)
    at = start()

    # Create a knowledge base: it is selected, empty, and greets with what to do.
    at.text_input(key="new_kb_name").input("volcanoes").run()  # "Create" waits for a name
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
    at.selectbox(key="remove_source").set_value("etna.txt").run()  # nothing is preselected
    at.button(key="remove").click().run()
    at.button(key="confirm_remove").click().run()  # removing asks first
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
    at.selectbox(key="kb_name").set_value("volcanoes").run()
    assert len(at.chat_message) == 2  # each knowledge base keeps its own chats


def test_bad_knowledge_base_name_shows_the_settings_message(use_env, store):
    use_env(store)
    at = start()
    at.text_input(key="new_kb_name").input("../etc").run()
    assert_clean(at)
    assert at.session_state["kb_name"] == "default"
    assert at.button(key="create_kb").disabled  # the name is refused before "Create"
    message = plain(" ".join(c.value for c in at.caption))
    # kbqa's words, not the validator's ("kb: … must be 3-63 letters").
    assert "use only English letters, digits" in message and "Traceback" not in message
    assert "kb:" not in message and "must be 3-63" not in message


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


def test_interface_in_chinese_is_remembered_by_the_server(use_env, tmp_path):
    use_env(tmp_path / "fresh")
    at = start()
    at.radio(key="ui_lang").set_value("zh").run()
    assert_clean(at)
    assert at.title[0].value == "kbqa — 向你的文档提问"
    assert at.chat_input(key="question").placeholder == "就你的文档提问"
    # A new browser session (a reload, another tab) opens in Chinese: the server kept it.
    again = start()
    assert again.title[0].value == "kbqa — 向你的文档提问"
    again.radio(key="ui_lang").set_value("en").run()
    assert start().title[0].value == "kbqa — ask your documents"


def test_chats_survive_a_new_session_and_are_renamed_exported_and_deleted(use_env, store):
    use_env(store)
    at = start()
    ask(at, LARGEST)
    chat_id = at.session_state["open_chat"]["default"]
    assert saved_chats().get(chat_id) is not None  # on disk, not in the browser

    # A new session with the page's URL (a reload, or the server restarted) opens the chat.
    again = AppTest.from_file(str(APP), default_timeout=120)
    again.query_params.update(at.query_params)
    again.run()
    assert_clean(again)
    assert len(again.chat_message) == 2
    assert plain(markdown_of(again.chat_message[0])[0]) == LARGEST
    assert again.session_state["open_chat"]["default"] == chat_id

    # Rename: the sidebar lists the new name.
    again.sidebar.text_input(key=f"chat-title-{chat_id}").input("Planets")
    again.button(key="rename_chat").click().run()
    assert saved_chats().get(chat_id).title == "Planets"
    assert plain(again.sidebar.button(key=f"open-chat-{chat_id}").label) == "Planets"

    # Export: a Markdown file with the question, the answer and its sources.
    assert again.download_button(key="export_chat").proto.label == "Export as Markdown"
    exported = export_markdown(saved_chats().get(chat_id), "default")
    answer = last_answer(again)
    assert f"## {LARGEST}" in exported and "Sources:" in exported
    assert f"[1] {answer.citations[0].location}" in exported

    # Delete asks first; cancel keeps it; confirm removes it and opens a new chat.
    again.button(key="delete_chat").click().run()
    assert saved_chats().get(chat_id) is not None
    assert any("cannot be undone" in w.value for w in again.warning)
    again.button(key="delete_chat_no").click().run()
    assert saved_chats().get(chat_id) is not None and not again.warning
    again.button(key="delete_chat").click().run()
    again.button(key="delete_chat_yes").click().run()
    assert_clean(again)
    assert saved_chats().get(chat_id) is None
    assert len(again.chat_message) == 0 and "chat" not in again.query_params
    assert not [b for b in again.sidebar.button if b.key == f"open-chat-{chat_id}"]


def test_a_citation_opens_the_whole_passage_in_its_text(use_env, store):
    use_env(store)
    at = start()
    ask(at, LARGEST)
    answer = last_answer(at)
    view = next(b for b in at.button if b.key and b.key.endswith("-c1-view"))
    view.click().run()
    assert_clean(at)
    source = at.session_state["viewing"]
    assert source.n == 1 and source.source == answer.citations[0].source
    shown = " ".join(str(m.value) for m in at.markdown)
    # The passage marked inside the file's own text, with the text around it.
    assert f":orange-background[{escape_markdown(source.text)}]" in shown
    assert "The Solar System" in plain(shown)
