"""Follow-ups: which questions need the chat's history, how they are rewritten, what that costs.

The chain tests run over two fake documents with a keyword search in which the follow-up's own
words lead to the WRONG document: only the referent borrowed from history reaches the right one,
so these tests fail when the rewrite is wrong (the old ones could not).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.language_models import GenericFakeChatModel

from rag.chain import AnswerChain
from rag.followup import needs_history, resolve, rule_rewrite, subject, validate_rewrite
from rag.types import Passage

LAYOUT = Passage(
    1, "a", "layoutparser.pdf", 1,
    "LayoutParser is a toolkit for document image analysis. Zejiang Shen wrote it in 2021; "
    "its model zoo holds PubLayNet and PRImA layouts.", 1.0,
)  # fmt: skip
TRAVEL = Passage(
    2, "b", "travel.md", None,
    "Anna wrote the travel policy. Receipts must be uploaded within 45 days.", 1.0,
)  # fmt: skip
WENKAI = Passage(
    3, "c", "wenkai.md", None, "霞鹜文楷是一款开源字体，个人和企业都可以免费商用。", 1.0
)
OTHER_FONT = Passage(
    4, "d", "other-font.md", None, "这套思源宋体也开源，可以免费商用，但不能单独出售。", 1.0
)
LOCAL_LLM = Passage(
    5,
    "e",
    "local-llm.zh.txt",
    None,
    "本地部署大模型的好处：数据不出本地，成本可控，离线可用。",
    1.0,
)


def _terms(text: str) -> set[str]:
    """Lower-cased words and Chinese character pairs: what a keyword index would match."""
    words = {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}
    han = re.sub(r"[^\u4e00-\u9fff]", " ", text)
    pairs = {run[i : i + 2] for run in han.split() for i in range(len(run) - 1)}
    return (words - {"who", "the", "and", "its", "what", "does", "which"}) | pairs


class KeywordSearch:
    """Ranks passages by shared terms with the query; ties keep the given order (the wrong
    document first), so a query that does not name the right subject gets the wrong file."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        self.passages = list(passages)
        self.queries: list[str] = []

    def retrieve(self, query, *, top_k=None, sources=None, hybrid=None) -> list[Passage]:
        self.queries.append(query)
        q = _terms(query)
        ranked = sorted(self.passages, key=lambda p: -len(q & _terms(p.text)))
        return ranked[:1]

    def evidence(self, question: str, passages: Sequence[Passage]) -> float:
        return 1.0


class CountingChat(GenericFakeChatModel):
    """GenericFakeChatModel that records each call's prompt (``invoke`` and ``stream`` both
    reach ``_generate``)."""

    calls: list[str] = []

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> Any:
        self.calls.append("\n".join(str(m.content) for m in messages))
        return super()._generate(messages, stop, run_manager, **kwargs)


def counting_chat(*replies: str) -> CountingChat:
    return CountingChat(messages=iter(replies), calls=[])


def never_loaded() -> Any:
    raise AssertionError("the chat model was loaded")


# --- deciding, with no model ---------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "Who wrote it?",
        "And which datasets are in its model zoo?",
        "And the default?",
        "In Python?",
        "What about on Windows?",
        "How many of those are kept for superusers?",
        "Which one should I use?",
        "Which PEP added the module?",
        "Is there a JIT?",
        "它可以免费商用吗？",
        "那中文呢？",
        "第二个呢？",
        "多久刷一次盘？",
        "书里说最重要的软件包是哪个？",
    ],
)
def test_follow_ups_need_history(question):
    assert needs_history(question)


@pytest.mark.parametrize(
    "question",
    [
        "本地部署大模型有哪些好处？",
        "Who wrote the zoo FAQ?",
        "Where does PostgreSQL put its Unix socket by default?",  # "its" points inside
        "How do I leave a Python virtual environment?",
        "Is there a JIT compiler in Python 3.11?",
        "os-release 里给用户显示发行版名称该用哪个字段？",  # 该 here is "should"
        "Debian 能在多少种架构上运行？",
    ],
)
def test_questions_that_stand_alone_do_not(question):
    assert not needs_history(question)


def test_the_rule_rewrite_borrows_only_the_referent():
    history = [
        ("user", "Which OCR engines does LayoutParser support?"),
        ("assistant", "Tesseract."),
    ]
    r = resolve("And which datasets are in its model zoo?", history)
    assert r.question == "Which datasets are in LayoutParser's model zoo?"
    assert (r.method, r.referent, r.model_calls) == ("rules", "LayoutParser", 0)
    assert subject("Who are the authors of the zoo paper?") == "the zoo paper"
    assert rule_rewrite("那退出码是多少？", "timeout") == "关于 timeout，退出码是多少？"


def test_the_referent_comes_from_the_last_question_that_stood_alone():
    """After a follow-up, the next one still refers to the first question's subject, and after a
    topic switch to the new topic's subject."""
    history = [("user", "What does pg_dump do?"), ("user", "Does it block other users?")]
    assert resolve("Can it do incremental backups?", history).question == (
        "Can pg_dump do incremental backups?"
    )
    history += [("user", "What does createdb wrap?")]
    assert resolve("Can it run remotely?", history).question == "Can createdb run remotely?"


def test_an_elliptic_english_follow_up_borrows_the_previous_question_it_continues():
    history = [
        ("user", "How do I create a virtual environment in Python?"),
        ("user", "How do I activate it on Unix?"),
    ]
    # The fragment takes the place of the previous question's phrase with the same preposition.
    assert resolve("What about on Windows?", history).question == (
        "How do I activate a virtual environment in Python on Windows?"
    )
    history = [("user", "What's new in Python 3.11?"), ("assistant", "Faster CPython.")]
    assert resolve("And in 3.12?", history).question == "What's new in Python 3.12?"
    assert resolve("And for Windows?", history).question == "What's new in Python 3.11 for Windows?"


# --- the model's rewrite, validated --------------------------------------------------------

OCR_HISTORY = [
    ("user", "Which OCR engines does LayoutParser support?"),
    ("assistant", "Tesseract and EasyOCR [1]."),
]


def test_a_model_rewrite_that_repeats_the_previous_question_is_rejected():
    follow_up = "And which datasets are in its model zoo?"
    repeated = "Which OCR engines does LayoutParser support? Which OCR engines does LayoutParser"
    assert validate_rewrite(repeated, follow_up, OCR_HISTORY) is not None
    model = counting_chat(repeated)
    r = resolve(follow_up, OCR_HISTORY, model, mode="model")
    assert r.method == "rules-fallback" and r.model_calls == 1 and len(model.calls) == 1
    assert r.question == "Which datasets are in LayoutParser's model zoo?"


def test_a_model_rewrite_that_keeps_the_intent_is_used():
    model = counting_chat("Which datasets are in the LayoutParser model zoo?")
    r = resolve("And which datasets are in its model zoo?", OCR_HISTORY, model, mode="model")
    assert (r.method, r.question) == ("model", "Which datasets are in the LayoutParser model zoo?")


def test_a_chinese_model_rewrite_that_drops_the_follow_up_is_rejected():
    history = [("user", "霞鹜文楷是基于哪款字体做的？")]
    model = counting_chat("霞鹜文楷是基于哪款字体做的？")
    r = resolve("它可以免费商用吗？", history, model, mode="model")
    assert r.method == "rules-fallback" and r.question == "霞鹜文楷可以免费商用吗？"


def test_auto_asks_the_model_only_when_no_referent_is_found():
    history = [("user", "hello there"), ("assistant", "Hi.")]
    model = counting_chat("Who wrote hello?")
    r = resolve("Who wrote it?", history, model)  # no subject in "hello there"
    assert r.model_calls == 1 and len(model.calls) == 1
    model = counting_chat("unused")
    r = resolve("Who wrote it?", OCR_HISTORY, lambda: model)
    assert r.model_calls == 0 and model.calls == [] and r.question == "Who wrote LayoutParser?"


# --- in the chain: the right document, and what it costs -------------------------------------


def test_a_follow_up_naming_no_topic_reaches_the_right_document_only_through_its_referent():
    search = KeywordSearch([TRAVEL, LAYOUT])
    model = counting_chat("Zejiang Shen wrote it [1].")
    history = [("user", "What is the LayoutParser toolkit for?"), ("assistant", "Layouts [1].")]
    answer = AnswerChain(search, model).ask("Who wrote it?", history=history)
    assert search.queries == ["Who wrote LayoutParser?"]
    assert answer.passages[0].source == "layoutparser.pdf"  # "Who wrote it?" alone: travel.md
    assert answer.standalone_question == "Who wrote LayoutParser?"
    assert len(model.calls) == 1 and "rewrite" in answer.timings  # the answer only
    assert "Who wrote LayoutParser?" in model.calls[0]  # the model answers the rewritten question


def test_a_chinese_follow_up_reaches_the_document_its_pronoun_points_to():
    search = KeywordSearch([OTHER_FONT, WENKAI])
    model = counting_chat("可以免费商用[1]。")
    history = [("user", "霞鹜文楷是基于哪款字体做的？"), ("assistant", "Klee One。")]
    answer = AnswerChain(search, model).ask("它可以免费商用吗？", history=history)
    assert answer.standalone_question == "霞鹜文楷可以免费商用吗？"
    assert answer.passages[0].source == "wenkai.md"  # "它可以免费商用吗？" alone: other-font.md


def test_a_topic_switch_is_searched_with_its_own_words_and_costs_no_model_call():
    search = KeywordSearch([LAYOUT, LOCAL_LLM])
    history = [
        ("user", "What is the LayoutParser toolkit for?"),
        ("assistant", "Layouts [1]."),
        ("user", "Who wrote it?"),
        ("assistant", "Zejiang Shen [1]."),
    ]
    # The evidence gate refuses, so no answer is generated: the model must not even be loaded.
    chain = AnswerChain(search, never_loaded, abstain_below=2.0)
    answer = chain.ask("本地部署大模型有哪些好处？", history=history)
    assert search.queries == ["本地部署大模型有哪些好处？"]
    assert answer.passages[0].source == "local-llm.zh.txt"
    assert answer.standalone_question is None and answer.timings["rewrite"] < 0.05


def test_a_self_contained_follow_up_costs_one_model_call_like_the_question_alone():
    alone, in_chat = counting_chat("Receipts within 45 days [1]."), counting_chat("45 days [1].")
    question = "Within how many days must travel receipts be uploaded?"
    AnswerChain(KeywordSearch([TRAVEL]), alone).ask(question)
    answer = AnswerChain(KeywordSearch([TRAVEL]), in_chat).ask(question, history=OCR_HISTORY)
    assert len(alone.calls) == len(in_chat.calls) == 1
    assert answer.standalone_question is None


# --- the real models ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.integration
def test_follow_ups_with_the_real_models(make_kb, tmp_path):
    """Real embedder, real small generator, two small real documents: the pronoun follow-up
    retrieves its referent's file and a Chinese topic switch its own."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "pgdump.md").write_text(
        "# pg_dump\n\npg_dump is a utility for backing up a PostgreSQL database. It makes"
        " consistent backups even if the database is being used concurrently. pg_dump does not"
        " block other users accessing the database (readers or writers).\n",
        encoding="utf-8",
    )
    (folder / "本地部署.txt").write_text(
        "本地部署大模型有三个好处：数据不出本地，保护隐私；不按调用次数付费，成本可控；"
        "断网也能使用。\n",
        encoding="utf-8",
    )
    kb = make_kb()
    kb.ingest(folder)
    history = [("user", "What does pg_dump do?"), ("assistant", "It backs up a database [1].")]
    follow_up = kb.ask("Does it block other users while it runs?", history=history)
    assert follow_up.standalone_question == "Does pg_dump block other users while it runs?"
    assert follow_up.passages[0].source == "pgdump.md"
    switch = kb.ask("本地部署大模型有哪些好处？", history=history)
    assert switch.standalone_question is None
    assert switch.passages[0].source == "本地部署.txt"


class ChainKB:
    """The two methods of ``KnowledgeBase`` the CLI's answer printer uses, over a chain."""

    def __init__(self, chain: AnswerChain) -> None:
        self.chain = chain

    def stream(self, question, history=None, **overrides):
        return self.chain.stream(question, history)

    def ask(self, question, history=None, **overrides):
        return self.chain.ask(question, history)


def test_the_cli_shows_how_a_follow_up_was_understood(capsys):
    from argparse import Namespace

    from rag.cli import _answer

    args = Namespace(top_k=None, temperature=None, source=None, json=False)
    history = [("user", "What is the LayoutParser toolkit for?"), ("assistant", "Layouts [1].")]
    kb = ChainKB(AnswerChain(KeywordSearch([TRAVEL, LAYOUT]), counting_chat("Zejiang Shen [1].")))
    _answer(kb, "Who wrote it?", history, args)
    out = capsys.readouterr().out
    assert out.startswith("(understood as: Who wrote LayoutParser?)\nZejiang Shen")
    kb = ChainKB(AnswerChain(KeywordSearch([TRAVEL]), counting_chat("45 days [1].")))
    _answer(kb, "Within how many days must receipts be uploaded?", history, args)
    assert "understood as" not in capsys.readouterr().out  # a question that stood on its own


def test_a_follow_up_with_no_subject_to_borrow_keeps_the_previous_question_in_reach():
    history = [
        ("user", "Which class must I fly on flights under six hours?"),
        ("assistant", "Economy."),
    ]
    r = resolve("And the receipts, by when?", history, mode="rules")
    assert r.rewritten and r.model_calls == 0
    assert r.question.startswith("And the receipts, by when?") and "six hours" in r.question


# --- phenomena: contrast, persons, Chinese ellipsis, list items -------------------------------

UNIX = Passage(6, "f", "venv-unix.md", None, "Activate a virtual environment on Unix: source bin/activate.", 1.0)  # fmt: skip
WINDOWS = Passage(7, "g", "venv-windows.md", None, "On Windows, activate a virtual environment with Scripts\\activate.bat.", 1.0)  # fmt: skip


def test_what_about_replaces_the_contrasted_phrase_instead_of_adding_the_old_one():
    """The old rewrite kept "on Unix" in the query, which then found the Unix page."""
    search = KeywordSearch([UNIX, WINDOWS])
    history = [
        ("user", "How do I create a virtual environment in Python?"),
        ("assistant", "python3 -m venv env [1]."),
        ("user", "How do I activate it on Unix?"),
        ("assistant", "source env/bin/activate [1]."),
    ]
    model = counting_chat("Scripts\\activate.bat [1].")
    answer = AnswerChain(search, model).ask("What about on Windows?", history=history)
    assert answer.standalone_question == (
        "How do I activate a virtual environment in Python on Windows?"
    )
    assert "Unix" not in search.queries[0]
    assert answer.passages[0].source == "venv-windows.md"


def test_he_and_his_point_to_a_person_not_to_the_document_asked_about():
    history = [("user", "Who are the authors of the zoo paper?"), ("assistant", "")]
    r = resolve("And what's his email address?", history)
    assert "zoo paper's" not in r.question and "his email" in r.question
    assert "the zoo paper" in r.question  # the topic still goes along, in brackets
    history = [("user", "Who is Ian Murdock?"), ("assistant", "Debian's founder [1].")]
    assert resolve("What's his email address?", history).question == (
        "What's Ian Murdock's email address?"
    )


def test_a_chinese_ellipsis_without_its_own_question_word_carries_the_previous_question():
    history = [("user", "timeout 超时以后默认给命令发什么信号？"), ("user", "那退出码是多少？")]
    assert resolve("要是命令根本找不到呢？", history).question == (
        "关于 timeout，要是命令根本找不到呢？（退出码是多少，timeout 超时以后默认给命令发什么信号）"
    )
    history = [("user", "tomllib 是哪个版本加进来的？"), ("user", "它能写 TOML 文件吗？")]
    assert resolve("那要写的话用什么？", history).question == (
        "关于 tomllib，要写的话用什么？（tomllib 能写 TOML 文件吗）"
    )
    # a pronoun follow-up asks its own question: its referent is enough, nothing carried
    assert resolve("它能读 TOML 文件吗？", history).question == "tomllib 能读 TOML 文件吗？"


@pytest.mark.parametrize(
    ("answer", "question", "expected"),
    [
        ("The authors are Achim Zeileis and Gabor Grothendieck [1].",
         "Which university is the first one at?", "Which university is Achim Zeileis at?"),
        ("Supported engines:\n1. **Tesseract**: by Google [1]\n2. EasyOCR [2]\n3. PaddleOCR [2]",
         "Who makes the second one?", "Who makes EasyOCR?"),
        ("Tesseract, EasyOCR and PaddleOCR [1].", "Is the last one free?", "Is PaddleOCR free?"),
    ],
)  # fmt: skip
def test_the_second_one_is_the_second_item_of_the_last_answer(answer, question, expected):
    history = [("user", "Which OCR engines does LayoutParser support?"), ("assistant", answer)]
    r = resolve(question, history)
    assert (r.question, r.rewritten, r.model_calls) == (expected, True, 0)


def test_an_ordinal_with_no_list_in_the_last_answer_borrows_the_previous_question():
    history = [("user", "Which OCR engines does LayoutParser support?"), ("assistant", "")]
    r = resolve("Who makes the second one?", history)
    assert r.question == "Who makes the second one? (Which OCR engines does LayoutParser support)"
    history[-1] = ("assistant", "No, it does not block other users [1].")  # a clause, not a list
    assert resolve("Who makes the second one?", history).question == r.question


EMBEDDER = Passage(8, "h", "embedder.md", None, "kbqa's default embedder is all-MiniLM-L6-v2.", 1.0)
GENERATOR = Passage(9, "i", "generator.md", None, "kbqa's default generator is Qwen2.5-Coder.", 1.0)


def test_and_the_generator_asks_about_the_generator_not_the_previous_attribute():
    """The issue's failure: the old rewrite carried 'default embedder' along, so search (and the
    model, which reads the rewritten question) answered the previous question again."""
    search = KeywordSearch([EMBEDDER, GENERATOR])
    history = [("user", "What is kbqa's default embedder?"), ("assistant", "all-MiniLM [1].")]
    model = counting_chat("Qwen2.5-Coder [1].")
    answer = AnswerChain(search, model).ask("And the generator?", history=history)
    assert answer.standalone_question == "What is kbqa's default generator?"
    assert answer.passages[0].source == "generator.md"
    assert "embedder" not in model.calls[0].split("Question")[-1]
    history += [("user", "And the generator?"), ("assistant", "Qwen [1].")]
    # "it" is now the generator, not kbqa
    assert resolve("Can I swap it for my own GGUF file?", history).question == (
        "Can I swap kbqa's generator for my own GGUF file?"
    )


@pytest.mark.parametrize(
    ("before", "follow_up", "expected"),
    [
        ("What port does PostgreSQL listen on by default?",
         "And the default maximum number of connections?",
         "What is PostgreSQL's default maximum number of connections?"),
        ("How much faster is Python 3.11 than 3.10?", "And startup?",
         "How much faster is Python 3.11 startup than 3.10?"),
        ("What does pg_dump do?", "What about pg_restore?", "What does pg_restore do?"),
        ("When was Debian 12 released?", "And Debian 11?", "When was Debian 11 released?"),
        ("What is PostgreSQL's port by default?", "And the socket?",
         "What is PostgreSQL's socket?"),
        ("How do I create a virtual environment in Python?", "And a conda environment?",
         "And a conda environment? (How do I create a virtual environment in Python)"),
    ],
)  # fmt: skip
def test_a_noun_phrase_follow_up_takes_the_previous_questions_frame(before, follow_up, expected):
    assert resolve(follow_up, [("user", before), ("assistant", "")]).question == expected


def test_a_fragment_with_a_pronoun_is_left_to_the_pronoun_rule():
    history = [("user", "What is LayoutParser?"), ("assistant", "A toolkit [1].")]
    assert resolve("And its license?", history).question == "And LayoutParser's license?"
    assert resolve("And then?", history).question == "And then? (What is LayoutParser)"


def test_is_there_asks_inside_the_referent():
    history = [("user", "How much faster is Python 3.11 than 3.10?"), ("assistant", "")]
    assert resolve("Is there a JIT?", history).question == "Is there a JIT in Python 3.11?"
    assert resolve("Are there any limits?", history).question == (
        "Are there any limits in Python 3.11?"
    )
