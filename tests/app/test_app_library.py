"""``save_uploads`` and the library helpers: no upload may write outside the documents folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.library import (
    check_name,
    check_upload,
    delete_kb,
    delete_saved,
    document_rows,
    documents_dir,
    file_kind,
    format_families,
    kb_name_problem,
    original_file,
    rename_kb,
    save_uploads,
)
from rag.errors import KbqaError
from rag.settings import Settings
from rag.store import FileRecord


class FakeUpload:
    """What ``st.file_uploader`` hands over: a name as the browser sent it, and the bytes."""

    def __init__(self, name: str, data: bytes = b"some text") -> None:
        self.name = name
        self._data = data

    def getvalue(self) -> bytes:
        return self._data


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(persist_dir=tmp_path / "store", kb="notes", max_file_mb=0.01)


@pytest.fixture
def folder(settings) -> Path:
    return documents_dir(settings)


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_documents_folder_is_per_knowledge_base(settings, tmp_path):
    assert documents_dir(settings) == tmp_path / "store" / "documents" / "notes"


def test_plain_upload_is_saved(settings, folder):
    saved, refused = save_uploads([FakeUpload("notes.md", b"# Notes\n")], folder, settings)
    assert saved == [folder / "notes.md"] and refused == []
    assert (folder / "notes.md").read_bytes() == b"# Notes\n"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("../../x.pdf", "traversal"),
        ("..\\..\\x.pdf", "traversal"),
        ("docs/../../x.txt", "traversal"),
        ("..", "traversal"),
        ("/etc/passwd.txt", "absolute"),
        ("\\\\server\\share\\x.txt", "absolute"),
        ("C:\\Windows\\x.txt", "absolute"),
        ("a\x00b.txt", "control"),
        ("a\nb.txt", "control"),
        ("x" * 300 + ".txt", "too_long"),
        ("长" * 70 + ".txt", "too_long"),  # 70 characters, 214 bytes
        ("setup.exe", "extension"),
        ("notes", "extension"),
        ("notes.txt.exe", "extension"),
        (".bashrc.txt", "hidden"),
        ("", "empty"),
        ("   ", "empty"),
        ("docs/", "empty"),
    ],
)
def test_unsafe_names_are_refused_and_nothing_is_written(tmp_path, settings, folder, name, code):
    saved, refused = save_uploads([FakeUpload(name)], folder, settings)
    assert saved == []
    assert [(r.name, r.code) for r in refused] == [(name, code)]
    assert refused[0].reason
    assert files_under(tmp_path) == set()


def test_oversize_upload_is_refused(tmp_path, settings, folder):
    big = FakeUpload("big.txt", b"x" * (int(0.01 * 1024 * 1024) + 1))
    saved, refused = save_uploads([big], folder, settings)
    assert saved == [] and refused[0].code == "too_large" and "MB" in refused[0].reason
    assert files_under(tmp_path) == set()


def test_directories_are_stripped(settings, folder):
    saved, refused = save_uploads([FakeUpload("sub/dir/report.txt")], folder, settings)
    assert saved == [folder / "report.txt"] and not refused


def test_awkward_characters_are_replaced(settings, folder):
    saved, _ = save_uploads([FakeUpload('a<b>c:d"e|f?g*.txt')], folder, settings)
    assert saved == [folder / "a_b_c_d_e_f_g_.txt"]


def test_good_files_are_saved_beside_refused_ones(tmp_path, settings, folder):
    uploads = [FakeUpload("../evil.txt"), FakeUpload("good.txt"), FakeUpload("bad.exe")]
    saved, refused = save_uploads(uploads, folder, settings)
    assert saved == [folder / "good.txt"]
    assert [r.name for r in refused] == ["../evil.txt", "bad.exe"]
    assert files_under(tmp_path) == {"store/documents/notes/good.txt"}


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path, settings, folder):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    folder.mkdir(parents=True)
    os.symlink(outside, folder / "trap.txt")
    saved, refused = save_uploads([FakeUpload("trap.txt", b"new")], folder, settings)
    assert saved == [folder / "trap.txt"] and not refused
    assert outside.read_text() == "keep me"
    assert not (folder / "trap.txt").is_symlink() and (folder / "trap.txt").read_bytes() == b"new"


def test_same_name_replaces_the_previous_upload(settings, folder):
    save_uploads([FakeUpload("a.txt", b"one")], folder, settings)
    save_uploads([FakeUpload("a.txt", b"two")], folder, settings)
    assert (folder / "a.txt").read_bytes() == b"two"
    assert files_under(folder) == {"a.txt"}  # no temporary files left behind


def test_check_name_keeps_unicode_names():
    assert check_name("长城.txt", [".txt"]) == "长城.txt"
    assert check_name("Report 2024.PDF", [".pdf"]) == "Report 2024.PDF"


def test_delete_saved_never_leaves_the_folder(tmp_path, folder):
    folder.mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    assert delete_saved(folder, "../../../outside.txt") is False
    assert delete_saved(folder, str(outside)) is False
    assert outside.exists()
    assert delete_saved(folder, "a.txt") is True and not (folder / "a.txt").exists()
    assert delete_saved(folder, "a.txt") is False


def record(source: str, root: str = "", ingested_at: float = 1_700_000_000.0) -> FileRecord:
    return FileRecord(source, "sha", 10, 3, 2, "t", "en", ingested_at, root)


def test_original_file_is_found_in_its_ingest_root(tmp_path, folder):
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.md").write_text("a")
    assert original_file(record("sub/a.md", str(root)), folder) == root / "sub" / "a.md"
    assert original_file(record("gone.md", str(root)), folder) is None
    (root / "other.md").write_text("outside the root")
    assert original_file(record("../other.md", str(root / "sub")), folder) is None


def test_document_rows_show_the_ingest_date():
    (row,) = document_rows([record("a.md", ingested_at=1_700_000_000.0)])
    assert (row.source, row.pages, row.chunks) == ("a.md", 2, 3)
    assert len(row.ingested) == 10 and row.ingested.startswith("2023-11-1")


# -- kbqa's words for a refused upload ------------------------------------------------------------
def test_check_upload_names_what_is_wrong_before_anything_is_saved(settings):
    exe = check_upload("setup.exe", 2, settings)
    assert exe is not None and exe.code == "extension"
    assert file_kind("setup.exe") == "executable" and file_kind("Report.DOC") == "old_office"
    assert file_kind("movie.mp4") == "video" and file_kind("README") == "none"
    big = check_upload("big.txt", 10 * 1024 * 1024, settings)
    assert big is not None and big.code == "too_large"
    assert check_upload("notes.md", 10, settings) is None


def test_format_families_cover_every_default_extension():
    from rag.settings import DEFAULT_EXTENSIONS

    families = format_families(DEFAULT_EXTENSIONS)
    assert not [f for f in families if f.startswith(".")], families
    assert families[:2] == ["pdf", "word"]


# -- knowledge-base names, rename and delete ------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ab", "length"),
        ("x" * 64, "length"),
        ("my notes", "chars"),
        ("笔记本", "chars"),
        ("kb:notes", "chars"),
        ("_notes", "edge"),
        ("notes.", "edge"),
        ("default", "exists"),
        ("notes-2024.v1", None),
    ],
)
def test_kb_name_problem(name, problem):
    assert kb_name_problem(name, ["default"]) == problem


def test_every_name_kbqa_accepts_is_one_the_settings_accept(tmp_path):
    for name in ("abc", "notes-2024.v1", "A_b", "x" * 63):
        assert kb_name_problem(name, []) is None
        assert Settings(persist_dir=tmp_path, kb=name).kb == name


@pytest.fixture
def fake_kb(tmp_path):
    """A knowledge base with a real (embedded) Chroma collection, an upload and a registry row;
    fake embeddings, so no model loads."""
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from rag.kb import KnowledgeBase, Models

    def make(name: str) -> KnowledgeBase:
        settings = Settings(persist_dir=tmp_path / "store", kb=name)
        models = Models(settings, load_embedder=lambda: DeterministicFakeEmbedding(size=8))
        kb = KnowledgeBase(settings, models=models)
        kb.writable_store()
        docs = documents_dir(settings)
        docs.mkdir(parents=True, exist_ok=True)
        (docs / "a.md").write_text("# A\n")
        kb.registry.put(record("a.md", str(docs.resolve())))
        return kb

    return make


def test_rename_moves_the_collection_files_and_uploads(fake_kb, tmp_path):
    from rag.kb import KnowledgeBase

    kb = fake_kb("notes")
    other = fake_kb("other")
    (kb.settings.kb_dir / "feedback.jsonl").write_text("{}\n")
    with pytest.raises(KbqaError, match="cannot be used"):
        rename_kb(kb, "other")
    new = rename_kb(kb, "papers")
    assert new.kb == "papers"
    assert KnowledgeBase.list(new) == ["other", "papers"]
    assert not kb.settings.kb_dir.exists() and not documents_dir(kb.settings).exists()
    assert (new.kb_dir / "feedback.jsonl").is_file()
    renamed = KnowledgeBase(new, models=other.models)
    (row,) = renamed.documents()
    # The upload's record follows it, so the app still finds the original for downloads.
    assert original_file(row, documents_dir(new)) == documents_dir(new) / "a.md"
    assert renamed.exists() and renamed.store.count() == 0


def test_delete_removes_collection_files_and_uploads_and_nothing_else(fake_kb, tmp_path):
    from rag.kb import KnowledgeBase

    kb = fake_kb("notes")
    keep = fake_kb("other")
    delete_kb(kb)
    assert KnowledgeBase.list(kb.settings) == ["other"]
    assert not kb.settings.kb_dir.exists() and not documents_dir(kb.settings).exists()
    assert (documents_dir(keep.settings) / "a.md").is_file() and keep.documents()


# -- the app itself (AppTest, real embedder and generator; slow) ---------------------------------
APP = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"


def start_app():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert_clean(at)
    return at


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    texts = [str(e.value) for kind in (at.error, at.warning, at.info, at.markdown) for e in kind]
    assert not any("Traceback" in t for t in texts), texts


def page_text(at) -> str:
    parts = [
        str(e.value)
        for kind in (at.markdown, at.caption, at.error, at.warning, at.info, at.success)
        for e in kind
    ]
    return "\n".join(parts).replace("\\", "")


def kb_names(store: Path) -> list[str]:
    from rag.kb import KnowledgeBase

    return KnowledgeBase.list(Settings(persist_dir=store))


@pytest.mark.slow
@pytest.mark.integration
def test_landing_lists_the_documents_and_asks_an_example_when_clicked(use_env, store):
    use_env(store)
    at = start_app()
    text = page_text(at)
    assert "**default** holds 3 document(s):" in text, text
    for source in ("solar.md", "baking.txt", "长城.txt"):
        assert source in text
    assert "page(s)" in text and "passage(s)" in text
    examples = [b for b in at.button if b.key and b.key.startswith("example-")]
    labels = [b.label for b in examples]
    assert len(examples) >= 3, labels
    assert "What is “The Solar System” about?" in labels, labels
    assert any(label.startswith("《长城") for label in labels), labels  # in the document's language

    examples[labels.index("What is “The Solar System” about?")].click().run(timeout=300)
    assert_clean(at)
    user = at.chat_message[0]
    assert user.name == "user" and "The Solar System" in user.markdown[0].value
    assert at.chat_message[1].name == "assistant"
    # The chat has started: the landing section gives way to it.
    assert not [b for b in at.button if b.key and b.key.startswith("example-")]


@pytest.mark.slow
@pytest.mark.integration
def test_create_is_disabled_until_the_name_is_good_and_says_why_in_kbqas_words(use_env, store):
    use_env(store)
    at = start_app()
    assert at.button(key="create_kb").disabled  # empty name
    for name, words in (
        ("my notes", "use only English letters, digits"),
        ("kb:x", "use only English letters, digits"),
        ("ab", "use 3 to 63 characters"),
        ("-notes", "must start and end with a letter or a digit"),
        ("default", "already exists"),
    ):
        at.text_input(key="new_kb_name").input(name).run()
        assert_clean(at)
        assert at.button(key="create_kb").disabled, name
        text = page_text(at)
        assert words in text, (name, text)
        assert "kb:" not in text.replace("kb:x", "") and "must be 3-63" not in text
    at.text_input(key="new_kb_name").input("notes-2").run()
    assert not at.button(key="create_kb").disabled
    assert "already exists" not in page_text(at)


@pytest.mark.slow
@pytest.mark.integration
def test_rename_and_delete_a_knowledge_base_each_after_a_confirmation(use_env, store):
    use_env(store)
    at = start_app()
    at.text_input(key="new_kb_name").input("volcanoes").run()
    at.button(key="create_kb").click().run()
    assert at.session_state["kb_name"] == "volcanoes" and "volcanoes" in kb_names(store)
    uploads = store / "documents" / "volcanoes"
    (uploads / "etna.txt").write_text("Mount Etna is an active volcano on Sicily.")

    # Rename: asked first; cancelling changes nothing.
    at.text_input(key="rename_kb_name").input("lava").run()
    at.button(key="rename_kb").click().run()
    assert_clean(at)
    assert "Rename **volcanoes** to **lava**?" in "\n".join(w.value for w in at.warning)
    assert "volcanoes" in kb_names(store)
    at.button(key="cancel_kb").click().run()
    assert not at.warning and "volcanoes" in kb_names(store)

    at.text_input(key="rename_kb_name").input("lava").run()
    at.button(key="rename_kb").click().run()
    at.button(key="confirm_rename_kb").click().run()
    assert_clean(at)
    assert at.session_state["kb_name"] == "lava"
    names = kb_names(store)
    assert "lava" in names and "volcanoes" not in names
    assert (store / "documents" / "lava" / "etna.txt").is_file() and not uploads.exists()
    assert any("Renamed knowledge base volcanoes to lava" in s.value for s in at.success)

    # Delete: asked first, then the collection, files and uploads go.
    at.button(key="delete_kb").click().run()
    assert "Delete the knowledge base **lava**" in "\n".join(w.value for w in at.warning)
    assert "lava" in kb_names(store)
    at.button(key="confirm_delete_kb").click().run()
    assert_clean(at)
    assert "lava" not in kb_names(store) and not (store / "documents" / "lava").exists()
    assert at.session_state["kb_name"] == "default"
    assert any("Deleted knowledge base lava" in s.value for s in at.success)


@pytest.mark.slow
@pytest.mark.integration
def test_upload_refusal_is_in_kbqas_words_next_to_the_file(use_env, store):
    use_env(store)
    at = start_app()
    at.radio(key="view").set_value("library").run()
    uploader = at.file_uploader(key="uploader-0")
    assert not uploader.allowed_type  # any type: kbqa, not the browser, refuses
    uploader.set_value([("setup.exe", b"MZ", "application/x-msdownload")]).run()
    assert_clean(at)
    (error,) = [e.value.replace("\\", "").replace("*", "") for e in at.error]
    assert error.startswith("setup.exe: kbqa reads PDF, Word (.docx)"), error
    assert "this one is a program (an executable)" in error and "not allowed" not in error
    assert at.button(key="add_uploads").disabled

    uploader = at.file_uploader(key="uploader-0")
    uploader.set_value(
        [
            ("setup.exe", b"MZ", "application/x-msdownload"),
            ("kiln.txt", b"A kiln fires clay.", "text/plain"),
        ]
    ).run()
    assert not at.button(key="add_uploads").disabled
    at.button(key="add_uploads").click().run(timeout=300)
    assert_clean(at)
    folder = store / "documents" / "default"
    assert (folder / "kiln.txt").is_file() and not (folder / "setup.exe").exists()
    assert any("1 added" in s.value for s in at.success)
    # The uploader is emptied after adding, and with it the refusal.
    assert not at.error
    at.selectbox(key="remove_source").set_value("kiln.txt").run()
    at.button(key="remove").click().run()
    at.button(key="confirm_remove").click().run()
    assert not (folder / "kiln.txt").exists()


@pytest.mark.slow
@pytest.mark.integration
def test_remove_asks_first_and_nothing_is_preselected(use_env, store):
    use_env(store)
    folder = store / "documents" / "default"
    (folder / "kiln.txt").write_text("A kiln fires clay into ceramics.")
    at = start_app()
    at.radio(key="view").set_value("library").run()
    at.button(key="reingest").click().run(timeout=300)
    picker = at.selectbox(key="remove_source")
    assert picker.value is None and "kiln.txt" in picker.options
    assert at.button(key="remove").disabled

    picker.set_value("kiln.txt").run()
    at.button(key="remove").click().run()
    assert_clean(at)
    assert "Remove **kiln.txt** from the knowledge base?" in at.warning[0].value.replace("\\", "")
    assert (folder / "kiln.txt").exists()
    at.button(key="cancel_remove").click().run()
    assert (folder / "kiln.txt").exists() and not at.warning

    at.selectbox(key="remove_source").set_value("kiln.txt").run()
    at.button(key="remove").click().run()
    at.button(key="confirm_remove").click().run()
    assert_clean(at)
    assert not (folder / "kiln.txt").exists()
    assert any("Removed kiln.txt" in s.value.replace("\\", "") for s in at.success)
    assert at.selectbox(key="remove_source").value is None
    assert "kiln.txt" not in at.selectbox(key="remove_source").options


@pytest.mark.slow
@pytest.mark.integration
def test_view_radio_is_sent_again_in_the_new_language(use_env, store):
    """The browser keeps a radio's value as its label: after switching to 中文 "Library" names no
    option, so the page must send the value again (it showed nothing selected)."""
    use_env(store)
    at = start_app()
    at.radio(key="view").set_value("library").run()
    at.radio(key="ui_lang").set_value("zh").run()
    assert_clean(at)
    view = at.radio(key="view")
    assert view.value == "library" and list(view.options) == ["对话", "文档库"]
    assert view.proto.set_value and view.proto.raw_value == "文档库"
