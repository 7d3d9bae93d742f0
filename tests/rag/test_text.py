"""One language rule for questions and ingested files: ``rag.text.detect_language``."""

from __future__ import annotations

from pathlib import Path

import pytest

import ingest.loaders
from ingest.loaders import load_file
from rag.text import cjk_ratio, detect_language


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("这是一个中文句子。", "zh"),
        ("What is Chroma?", "en"),
        ("", "en"),
        ("   \n\t", "en"),
        ("12345 67.8 %", "en"),  # numbers only
        ("2024-01-01 12:00", "en"),
        ("The capital of China is 北京.", "en"),  # an English sentence naming a Chinese place
        ("长城有多长？How long is it?", "zh"),
        # Chinese prose around code and English terms: a reader calls these Chinese.
        ("# 4. 构建 Prompt 并进行 Tokenize", "zh"),
        ('device_map="auto", # 自动将模型加载到可用的设备 (GPU if available, else CPU)', "zh"),
        ("1. 模型获取:Hugging Face Hub —— 开源模型的“App Store”", "zh"),
        (
            "运行 `pip install -r requirements.txt` 安装依赖，然后用 `kbqa ingest ./docs` 导入文档。",
            "zh",
        ),
        ("𠀀𠀁 is rare", "zh"),  # extension-B ideographs count as Chinese too
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_the_share_is_of_visible_characters() -> None:
    assert cjk_ratio("北京 is 2 words") == pytest.approx(2 / 10)
    assert cjk_ratio("") == cjk_ratio(" ") == 0.0


def test_ingested_files_use_the_same_rule_as_questions(tmp_path: Path) -> None:
    assert ingest.loaders.detect_language is detect_language
    note = tmp_path / "notes.md"
    note.write_text(
        "# 4. 构建 Prompt 并进行 Tokenize\n\ndo_sample=True, # 启用采样\n", encoding="utf-8"
    )
    [doc] = load_file(note, tmp_path)
    assert doc.metadata["lang"] == "zh"
