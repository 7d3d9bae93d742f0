"""rag.eval.naming: the eval knowledge base's name, store and output folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.eval.naming import default_kb_name, default_out_dir, eval_settings
from rag.settings import Settings


@pytest.mark.parametrize("stem", ["new_wiki_v1.0", "a", "my data (v2)!", "x" * 90, "北京"])
def test_default_kb_name_is_a_valid_kb_name(stem: str) -> None:
    name = default_kb_name(f"/data/{stem}.json")
    assert Settings(kb=name).kb == name and name.startswith("eval")


def test_eval_settings_keep_out_of_the_users_store(tmp_path: Path) -> None:
    s = eval_settings("data/dev.jsonl", tmp_path / "out", top_k=None, hybrid=False)
    assert (s.kb, s.persist_dir, s.hybrid) == ("eval-dev", tmp_path / "out" / "store", False)
    given = eval_settings("dev.json", tmp_path, kb="mine", persist_dir=tmp_path / "p", top_k=7)
    assert (given.kb, given.persist_dir, given.top_k) == ("mine", tmp_path / "p", 7)


def test_a_dataset_folder_is_named_by_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "realistic"
    folder.mkdir()
    assert default_kb_name(folder) == "eval-realistic"
    assert default_out_dir(f"{folder}/") == Path("eval-out/realistic")
