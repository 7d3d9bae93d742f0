"""Evaluation datasets: read SQuAD JSON, JSON Lines or a dev-set folder; sample, split, write.

>>> import json, tempfile
>>> from pathlib import Path
>>> tmp = Path(tempfile.mkdtemp())
>>> squad = {"data": [{"title": "Andes", "paragraphs": [{"context": "The Andes are long.",
...     "qas": [{"id": "q1", "question": "What is long?", "answers": [{"text": "The Andes"}]}]}]}]}
>>> _ = (tmp / "dev.json").write_text(json.dumps(squad), encoding="utf-8")
>>> ds = load_dataset(tmp / "dev.json")
>>> ds.name, list(ds.articles), ds.questions[0].answers, ds.questions[0].gold_source
('dev', ['Andes'], ['The Andes'], 'Andes.txt')
>>> [p.name for p in write_corpus(ds, ["Andes"], tmp / "corpus")]
['Andes.txt']
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from rag.errors import ConfigError
from rag.eval.devset import is_devset, jsonl_records, load_devset
from rag.eval.questions import EvalConversation, EvalDataset, EvalQuestion

__all__ = [
    "HOLDOUT_FRACTION",
    "EvalConversation",
    "EvalDataset",
    "EvalQuestion",
    "article_filename",
    "article_display_title",
    "load_dataset",
    "questions_for_articles",
    "sample_questions",
    "split_for_abstention",
    "write_corpus",
]

HOLDOUT_FRACTION = 0.1  # of an article dataset's articles, kept out of the KB to test refusal
MAX_FILENAME_CHARS = 120
_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")
_JSONL_SUFFIXES = {".jsonl", ".ndjson"}


def article_filename(title: str) -> str:
    """A stable, safe ``.txt`` file name for an article title: only ``[A-Za-z0-9._-]``, ≤ 120 chars.

    A title that is already safe keeps its name; otherwise the sanitised name gets a short hash
    of the original title, so different titles never share a file name.

    >>> article_filename("Armenian_Apostolic_Church")
    'Armenian_Apostolic_Church.txt'
    >>> article_filename("Sierra_Nevada_(U.S.)")
    'Sierra_Nevada_U.S-e8a54134.txt'
    >>> article_filename("北京") == article_filename("上海")
    False
    """
    # URL escapes are decoded first, so "Marxism%E2%80%93Leninism" reads as Marxism_Leninism.
    safe = re.sub(r"_{2,}", "_", _UNSAFE_RE.sub("_", unquote(title))).strip("._-")
    limit = MAX_FILENAME_CHARS - len(".txt")
    if safe and safe == title and len(safe) <= limit:
        return f"{safe}.txt"
    digest = hashlib.sha1(title.encode("utf-8")).hexdigest()[:8]
    stem = safe[: limit - len(digest) - 1].rstrip("._-") or "article"
    return f"{stem}-{digest}.txt"


def article_display_title(title: str) -> str:
    """The readable form of a Wikipedia-style title: URL escapes decoded, underscores as spaces.

    >>> article_display_title("Marxism%E2%80%93Leninism")
    'Marxism–Leninism'
    >>> article_display_title("Republican_Party_(United_States)")
    'Republican Party (United States)'
    """
    return unquote(title).replace("_", " ").strip()


# --- reading -------------------------------------------------------------------------------------


def load_dataset(path: Path) -> EvalDataset:
    """Read a SQuAD v1.1 JSON file, a JSON Lines file of questions or a dev-set folder.

    A folder (or a ``questions.jsonl`` beside a ``corpus/`` folder) is read by
    ``rag.eval.devset.load_devset``: its documents are ingested as they are.

    SQuAD: ``data[] -> title, paragraphs[] -> context, qas[] -> question, id, answers[] -> text``;
    each question's gold passage is its paragraph, its article the title and its gold source
    ``article_filename(title)``. SQuAD 2.0 questions marked ``is_impossible`` are skipped.

    JSON Lines (``.jsonl``, or any file that is not one JSON document): one object a line with
    ``question`` and ``answers`` (strings or ``{"text": ...}``), optional ``id``,
    ``source``/``gold_source``, ``context``/``passage`` and ``article``/``title``. A line with
    ``article`` and ``context`` but no ``question`` adds a passage no question is asked about
    (distractors). An article's passages are kept in the order they first appear.

    Raises ``ConfigError`` naming the file and the problem when it is missing or malformed.
    """
    path = Path(path)
    if is_devset(path):
        return load_devset(path)
    if not path.is_file():
        raise ConfigError(f"{path}: dataset file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read dataset as UTF-8 text ({err})") from err
    if not text.strip():
        raise ConfigError(f"{path}: dataset file is empty")

    if path.suffix.lower() in _JSONL_SUFFIXES:
        return _parse_jsonl(path, text)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        if err.msg == "Extra data":  # several JSON documents: JSON Lines
            return _parse_jsonl(path, text)
        raise ConfigError(
            f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from err
    if isinstance(document, dict) and "data" in document:
        return _parse_squad(path, document)
    if isinstance(document, dict) and "question" in document:  # JSON Lines with one line
        return _parse_jsonl(path, text)
    raise ConfigError(
        f"{path}: unknown dataset layout: expected SQuAD JSON (an object with a 'data' list) "
        "or JSON Lines (one object with 'question' and 'answers' a line)"
    )


def _answer_texts(raw: Any, where: str, path: Path) -> list[str]:
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: {where}: 'answers' must be a list, got {type(raw).__name__}")
    texts: list[str] = []
    for i, answer in enumerate(raw):
        value = answer.get("text") if isinstance(answer, dict) else answer
        if not isinstance(value, str):
            raise ConfigError(
                f"{path}: {where}: answers[{i}] must be a string or an object with a 'text' string"
            )
        texts.append(value.strip())
    # Crowd answers repeat; order kept, duplicates and empty strings dropped.
    return [t for t in dict.fromkeys(texts) if t]


def _required_str(record: dict[str, Any], key: str, where: str, path: Path) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: {where}: '{key}' must be a non-empty string")
    return value


def _optional_str(record: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    return None


def _list_at(container: dict[str, Any], key: str, where: str, path: Path) -> list[Any]:
    value = container.get(key)
    if not isinstance(value, list):
        raise ConfigError(f"{path}: {where}: '{key}' must be a list")
    return value


def _add_question(
    questions: list[EvalQuestion],
    seen_ids: set[str],
    question: EvalQuestion,
    where: str,
    path: Path,
) -> None:
    if question.id in seen_ids:
        raise ConfigError(f"{path}: {where}: duplicate question id {question.id!r}")
    seen_ids.add(question.id)
    questions.append(question)


def _parse_squad(path: Path, document: dict[str, Any]) -> EvalDataset:
    articles: dict[str, list[str]] = {}
    questions: list[EvalQuestion] = []
    seen_ids: set[str] = set()
    for a, article in enumerate(_list_at(document, "data", "top level", path)):
        where_a = f"data[{a}]"
        if not isinstance(article, dict):
            raise ConfigError(f"{path}: {where_a} must be an object")
        title = _required_str(article, "title", where_a, path)
        paragraphs = articles.setdefault(title, [])  # a repeated title adds to the same article
        for p, paragraph in enumerate(_list_at(article, "paragraphs", where_a, path)):
            where_p = f"{where_a}.paragraphs[{p}]"
            if not isinstance(paragraph, dict):
                raise ConfigError(f"{path}: {where_p} must be an object")
            context = _required_str(paragraph, "context", where_p, path)
            paragraphs.append(context)
            for q, qa in enumerate(_list_at(paragraph, "qas", where_p, path)):
                where_q = f"{where_p}.qas[{q}]"
                if not isinstance(qa, dict):
                    raise ConfigError(f"{path}: {where_q} must be an object")
                if qa.get("is_impossible"):
                    continue
                answers = _answer_texts(qa.get("answers"), where_q, path)
                if not answers:
                    raise ConfigError(f"{path}: {where_q}: no answers")
                qid = _optional_str(qa, ("id",)) or f"{title}-{p}-{q}"
                question = EvalQuestion(
                    id=qid,
                    question=_required_str(qa, "question", where_q, path).strip(),
                    answers=answers,
                    gold_source=article_filename(title),
                    gold_passage=context,
                    article=title,
                )
                _add_question(questions, seen_ids, question, where_q, path)
    if not questions:
        raise ConfigError(f"{path}: no questions found")
    return EvalDataset(name=path.stem, articles=articles, questions=questions)


def _add_passage_line(
    articles: dict[str, list[str]], record: dict[str, Any], where: str, path: Path
) -> None:
    article = _optional_str(record, ("article", "title"))
    passage = _optional_str(record, ("context", "passage"))
    if article is None or passage is None:
        raise ConfigError(
            f"{path}: {where}: a line needs 'question' and 'answers', or 'article' and 'context'"
            " (a passage without a question)"
        )
    paragraphs = articles.setdefault(article, [])
    if passage not in paragraphs:
        paragraphs.append(passage)


def _parse_jsonl(path: Path, text: str) -> EvalDataset:
    articles: dict[str, list[str]] = {}
    questions: list[EvalQuestion] = []
    seen_ids: set[str] = set()
    for where, record in jsonl_records(path, text):
        if "question" not in record:  # a passage line: more text for the article to hold
            _add_passage_line(articles, record, where, path)
            continue
        if "answers" not in record:
            raise ConfigError(f"{path}: {where}: missing 'answers'")
        answers = _answer_texts(record["answers"], where, path)
        if not answers:
            raise ConfigError(f"{path}: {where}: no answers")
        article = _optional_str(record, ("article", "title"))
        passage = _optional_str(record, ("context", "passage"))
        source = _optional_str(record, ("gold_source", "source"))
        if article is not None:
            paragraphs = articles.setdefault(article, [])
            if passage is not None and passage not in paragraphs:
                paragraphs.append(passage)
            if source is None:
                source = article_filename(article)
        question = EvalQuestion(
            id=_optional_str(record, ("id",)) or where.replace(" ", "-"),
            question=_required_str(record, "question", where, path).strip(),
            answers=answers,
            gold_source=source,
            gold_passage=passage,
            article=article,
        )
        _add_question(questions, seen_ids, question, where, path)
    if not questions:
        raise ConfigError(f"{path}: no questions found")
    return EvalDataset(name=path.stem, articles=articles, questions=questions)


# --- sampling and splitting ----------------------------------------------------------------------


def _group_key(question: EvalQuestion) -> str:
    return question.article or question.gold_source or ""


def sample_questions(ds: EvalDataset, limit: int | None, seed: int = 0) -> list[EvalQuestion]:
    """Up to ``limit`` questions (all when None), spread across articles, the same for one seed.

    Articles are shuffled, each article's questions are shuffled, then questions are taken
    round-robin: one from each article, then a second from each, and so on. A smaller limit
    gives a prefix of a larger one.

    >>> ds = EvalDataset("toy", questions=[
    ...     EvalQuestion(f"{a}{i}", "?", ["x"], article=a) for a in "ABC" for i in range(3)])
    >>> sorted(q.article for q in sample_questions(ds, 3))
    ['A', 'B', 'C']
    """
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be 0 or more, got {limit}")
    groups: dict[str, list[EvalQuestion]] = {}
    for question in ds.questions:
        groups.setdefault(_group_key(question), []).append(question)
    rng = random.Random(seed)
    order = list(groups)
    rng.shuffle(order)
    queues = []
    for key in order:
        queue = list(groups[key])
        rng.shuffle(queue)
        queues.append(queue)
    wanted = len(ds.questions) if limit is None else min(limit, len(ds.questions))
    sample: list[EvalQuestion] = []
    depth = 0
    while len(sample) < wanted:
        for queue in queues:
            if depth < len(queue):
                sample.append(queue[depth])
                if len(sample) == wanted:
                    break
        depth += 1
    return sample


def split_for_abstention(
    ds: EvalDataset, holdout_fraction: float = HOLDOUT_FRACTION, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Split article titles into (kept, held out), both in dataset order.

    Held-out articles stay out of the knowledge base; their questions test refusal. About
    ``holdout_fraction`` of the articles are held out, at least one when there are two or more
    (and at least one is always kept).

    >>> ds = EvalDataset("toy", articles={t: ["..."] for t in "ABCDEFGHIJ"})
    >>> kept, held = split_for_abstention(ds, 0.2)
    >>> len(kept), len(held), set(kept) & set(held)
    (8, 2, set())
    """
    if not 0 < holdout_fraction < 1:
        raise ConfigError(f"holdout_fraction must be between 0 and 1, got {holdout_fraction}")
    titles = list(ds.articles)
    n_held = round(len(titles) * holdout_fraction)
    n_held = min(max(n_held, 1), len(titles) - 1) if len(titles) >= 2 else 0
    shuffled = list(titles)
    random.Random(seed).shuffle(shuffled)
    held = set(shuffled[:n_held])
    return [t for t in titles if t not in held], [t for t in titles if t in held]


def questions_for_articles(ds: EvalDataset, titles: list[str]) -> list[EvalQuestion]:
    """The dataset's questions asked on the given articles, in dataset order.

    >>> ds = EvalDataset("toy", questions=[EvalQuestion("1", "?", ["x"], article="A"),
    ...                                    EvalQuestion("2", "?", ["y"], article="B")])
    >>> [q.id for q in questions_for_articles(ds, ["B"])]
    ['2']
    """
    wanted = set(titles)
    return [q for q in ds.questions if q.article in wanted]


# --- writing -------------------------------------------------------------------------------------


def _article_text(title: str, paragraphs: list[str]) -> str:
    # Blank lines inside a paragraph are squeezed so blank lines separate paragraphs only.
    body = [re.sub(r"\n\s*\n", "\n", p.strip()) for p in paragraphs if p.strip()]
    return "\n\n".join([article_display_title(title), *body]) + "\n"


def write_corpus(ds: EvalDataset, titles: list[str], out_dir: Path) -> list[Path]:
    """Write one UTF-8 ``.txt`` per article for ingestion; return the paths in ``titles`` order.

    Each file is named ``article_filename(title)`` and holds the readable title on the first line,
    then the paragraphs separated by blank lines. Files whose content is unchanged are not
    rewritten.
    """
    out_dir = Path(out_dir)
    unknown = [t for t in titles if t not in ds.articles]
    if unknown:
        raise ConfigError(f"{ds.name}: no article titled {unknown[0]!r}")
    unique_titles = list(dict.fromkeys(titles))
    names = [article_filename(t) for t in unique_titles]
    folded: dict[str, str] = {}
    for title, name in zip(unique_titles, names, strict=True):
        # Case-insensitive file systems would put "Apple" and "apple" into one file.
        other = folded.setdefault(name.lower(), title)
        if other != title:
            raise ConfigError(
                f"{out_dir}: articles {other!r} and {title!r} differ only in letter case"
            )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{out_dir}: cannot create corpus folder ({err})") from err
    paths: list[Path] = []
    for title, name in zip(unique_titles, names, strict=True):
        path = out_dir / name
        text = _article_text(title, ds.articles[title])
        try:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8", newline="\n")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: cannot write corpus file ({err})") from err
        paths.append(path)
    return paths
