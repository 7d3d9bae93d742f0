"""Saved chats: one JSON file per knowledge base, written atomically; Markdown export."""

from __future__ import annotations

import json
import os

import pytest

from app.chats import Chat, ChatStore, Message, Preferences, export_markdown, write_atomically
from rag.types import Answer, Citation, Passage


def answered_chat() -> Chat:
    passage = Passage(3, "c3", "solar.md", None, "Jupiter is the largest planet.", 0.8, 0.71)
    answer = Answer(
        "Which planet is largest?",
        "Jupiter is the largest planet[1].",
        [
            Citation(
                1, "book.xlsx", 2, "Jupiter is the largest planet.", 1.0, "book.xlsx, sheet Totals"
            )
        ],
        [passage],
        abstained=False,
        raw_answer="Jupiter.",
    )
    chat = Chat.new()
    chat.messages += [
        Message("user", "Which planet is largest?"),
        Message("assistant", answer.answer, answer=answer),
    ]
    return chat


def test_a_saved_chat_reads_back_whole_from_a_new_store(tmp_path):
    chat = answered_chat()
    ChatStore(tmp_path / "chats.json").save(chat)
    back = ChatStore(tmp_path / "chats.json").get(chat.id)  # as after a server restart
    assert back is not None and back.label == "Which planet is largest?"
    answer = back.messages[1].answer
    assert answer == chat.messages[1].answer  # citations and passages are dataclasses again
    assert isinstance(answer.citations[0], Citation) and isinstance(answer.passages[0], Passage)


def test_chats_are_listed_most_recent_first_renamed_and_deleted(tmp_path):
    store = ChatStore(tmp_path / "chats.json")
    first, second = answered_chat(), Chat.new()
    second.messages.append(Message("user", "  What\nabout   Mars? " + "x" * 80))
    store.save(first)
    store.save(second)
    assert [c.id for c in store.list()] == [second.id, first.id]
    assert store.list()[0].label.startswith("What about Mars? x") and store.list()[
        0
    ].label.endswith("…")
    assert store.rename(first.id, "  Planets ")
    assert store.get(first.id).label == "Planets"
    assert store.rename(first.id, "")  # an empty name goes back to the first question
    assert store.get(first.id).label == "Which planet is largest?"
    assert store.delete(second.id) and not store.delete(second.id)
    assert [c.id for c in store.list()] == [first.id]
    assert not store.rename("gone", "x")


def test_a_file_from_a_newer_kbqa_or_a_broken_file_still_opens(tmp_path):
    path = tmp_path / "chats.json"
    chat = answered_chat()
    ChatStore(path).save(chat)
    data = json.loads(path.read_text())
    data["chats"][0]["messages"][1]["answer"]["new_field"] = 1
    data["chats"][0]["messages"][1]["answer"]["citations"][0]["new_field"] = 2
    path.write_text(json.dumps(data))
    assert ChatStore(path).get(chat.id).messages[1].answer.citations[0].n == 1
    path.write_text("{not json")
    assert ChatStore(path).list() == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "chats.json"
    write_atomically(path, "old")

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        write_atomically(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["chats.json"]


def test_export_is_markdown_with_each_answer_and_its_sources():
    chat = answered_chat()
    text = export_markdown(chat, "default")
    assert text.startswith("# Which planet is largest?\n")
    assert "## Which planet is largest?" in text
    assert "Jupiter is the largest planet[1]." in text
    assert "- [1] book.xlsx, sheet Totals — “Jupiter is the largest planet.”" in text


def test_preferences_keep_the_interface_language(tmp_path):
    prefs = Preferences(tmp_path / "app.json")
    assert prefs.get("ui_lang") is None
    prefs.set("ui_lang", "zh")
    assert Preferences(tmp_path / "app.json").get("ui_lang") == "zh"


def test_export_numbers_citations_in_the_order_the_answer_uses_them():
    chat = answered_chat()
    answer = chat.messages[1].answer
    answer.answer = "Mars is red[4]. Jupiter is largest[2]."
    answer.citations = [
        Citation(2, "solar.md", None, "Jupiter is the largest planet.", 1.0),
        Citation(4, "mars.pdf", 3, "Mars is the red planet.", 1.0),
    ]
    text = export_markdown(chat, "default")
    assert "Mars is red[1]. Jupiter is largest[2]." in text
    assert text.index("[1] mars.pdf, p. 3") < text.index("[2] solar.md")
