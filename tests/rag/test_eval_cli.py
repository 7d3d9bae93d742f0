"""rag.eval.cli: ``kbqa eval`` options and errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from rag.eval.cli import add_eval_command


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kbqa")
    sub = parser.add_subparsers(dest="command")

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--kb")
        p.add_argument("--persist-dir")
        return p

    add_eval_command(sub, common)
    return parser.parse_args(["eval", *argv])


def test_cli_options() -> None:
    args = parse("dev.json", "--limit", "5", "--no-generate", "--hybrid", "--top-k", "3",
                 "--llm-model", "smollm2-135m", "--seed", "2", "--kb", "x-eval")  # fmt: skip
    assert (args.limit, args.generate, args.hybrid, args.top_k, args.seed) == (5, False, True, 3, 2)
    assert (args.llm_model, args.kb, args.out) == ("smollm2-135m", "x-eval", None)
    assert parse("dev.json").hybrid is None and parse("dev.json").generate is True
    for bad in (["--limit", "-1"], ["--hybrid", "--dense-only"]):
        with pytest.raises(SystemExit):
            parse("dev.json", *bad)


def test_missing_dataset_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rag.cli import main

    code = main(["eval", str(tmp_path / "nope.json"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "dataset file not found" in err and "Traceback" not in err


def test_a_folder_without_corpus_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rag.cli import main

    (tmp_path / "dev").mkdir()
    code = main(["eval", str(tmp_path / "dev"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "corpus/ folder" in err and "Traceback" not in err
