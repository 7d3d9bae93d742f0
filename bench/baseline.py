"""The plain LangChain tutorial RAG pipeline, with kbqa's own models, over the realistic set.

This is the bar issue #13 sets: "the plain LangChain tutorial pipeline with the same model".
It is built the way LangChain's RAG tutorial builds it, and nothing more:

- loaders from langchain-community (``PyPDFLoader``, ``BSHTMLLoader``, ``CSVLoader``,
  ``TextLoader``);
- ``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)``;
- ``HuggingFaceEmbeddings`` on the same packaged all-MiniLM-L6-v2 weights kbqa uses;
- ``Chroma`` (langchain-chroma) in a temporary folder, ``as_retriever()`` with k=4;
- the tutorial's prompt ("You are an assistant for question-answering tasks…") filled with the
  retrieved passages and sent to ``ChatHuggingFace`` over a transformers text-generation pipeline
  on the same Qwen2.5-Coder-0.5B-Instruct weights (float32, greedy, 200 new tokens at most).

No follow-up rewriting, no refusal gate, no citations: what the tutorial has. A conversation's
turns are asked one by one with the history in the prompt, as the tutorial's chat variant does.

It runs as an eval target of ``rag.eval.harness.run_eval``, so the same questions are chosen
and scored by the same rules as ``kbqa eval`` and the report has the same rows
(docs/evaluation.md). Run from the repository root:

    python bench/baseline.py bench/data/realistic [--limit N]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

TUTORIAL_PROMPT = (
    "You are an assistant for question-answering tasks. Use the following pieces of retrieved"
    " context to answer the question. If you don't know the answer, just say that you don't"
    " know. Use three sentences maximum and keep the answer concise.\n"
    "Question: {question}\nContext: {context}\nAnswer:"
)


def load_documents(corpus: Path) -> list[Any]:
    """Every file under ``corpus`` through the community loader the tutorial would pick."""
    from langchain_community.document_loaders import (
        BSHTMLLoader,
        CSVLoader,
        PyPDFLoader,
        TextLoader,
    )

    docs = []
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        suffix = path.suffix.lower()
        try:
            if suffix == ".pdf":
                loaded = PyPDFLoader(str(path)).load()
            elif suffix in (".html", ".htm"):
                loaded = BSHTMLLoader(str(path), open_encoding="utf-8").load()
            elif suffix == ".csv":
                loaded = CSVLoader(str(path), encoding="utf-8").load()
            elif suffix in (".txt", ".md", ".rst", ".text"):
                loaded = TextLoader(str(path), autodetect_encoding=True).load()
            else:
                print(f"baseline: {path.name}: no tutorial loader for {suffix}", file=sys.stderr)
                continue
        except Exception as exc:  # noqa: BLE001 - the tutorial would crash; we note and go on
            print(f"baseline: {path.name}: {exc}", file=sys.stderr)
            continue
        for doc in loaded:
            doc.metadata["source"] = path.relative_to(corpus).as_posix()
        docs.extend(loaded)
    return docs


def build(corpus: Path, persist: Path) -> tuple[Any, Any, list[Any]]:
    """The tutorial's retriever and chat model, and the chunks it indexed."""
    import torch
    from langchain_chroma import Chroma
    from langchain_huggingface import ChatHuggingFace, HuggingFaceEmbeddings, HuggingFacePipeline
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    from rag.models import generator_folder, resolve_embedder
    from rag.settings import Settings

    settings = Settings()
    splits = RecursiveCharacterTextSplitter(
        chunk_size=1000, chunk_overlap=200, add_start_index=True
    ).split_documents(load_documents(corpus))
    embeddings = HuggingFaceEmbeddings(model_name=resolve_embedder("all-minilm-l6-v2"))
    store = Chroma.from_documents(splits, embeddings, persist_directory=str(persist))
    retriever = store.as_retriever(search_kwargs={"k": 4})

    folder, extra = generator_folder(settings)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, **extra)
    model = AutoModelForCausalLM.from_pretrained(
        folder, dtype=torch.float32, local_files_only=True, **extra
    )
    generate = pipeline(
        "text-generation",
        model=model,
        tokenizer=tokenizer,
        max_new_tokens=200,
        do_sample=False,
        return_full_text=False,
    )
    chat = ChatHuggingFace(llm=HuggingFacePipeline(pipeline=generate), tokenizer=tokenizer)
    return retriever, chat, splits


REFUSAL_RE = re.compile(
    r"(don't|do not|doesn't|does not|cannot|can't) (know|find|contain|mention|provide|say)"
    r"|not (mentioned|provided|specified|stated|available|included)|no (information|mention)"
    r"|不知道|没有(提到|提及|说明|相关|找到)|未(提及|提到|说明)|无法(回答|确定|找到)",
    re.IGNORECASE,
)


class TutorialRAG:
    """The tutorial pipeline as an eval target, so ``run_eval`` scores it as it scores kbqa.

    No evidence gate (``evidence`` is always 1.0) and no citations; a reply that says it does
    not know (``REFUSAL_RE``) counts as a refusal.
    """

    def __init__(self, persist: Path) -> None:
        from rag.settings import Settings

        self.settings = Settings(kb="baseline", persist_dir=persist, top_k=4)
        self.name = "baseline"
        self.persist = persist
        self.retriever: Any = None
        self.chat: Any = None
        self.sources: list[str] = []
        self.chunks = 0

    # -- what run_eval needs of a knowledge base ------------------------------------------------
    def ingest(self, path: str | Path, **_: Any) -> Any:
        from rag.types import FileResult, IngestReport

        started = time.perf_counter()
        self.retriever, self.chat, splits = build(Path(path), self.persist)
        self.sources = sorted({d.metadata["source"] for d in splits})
        self.chunks = len(splits)
        report = IngestReport(kb=self.name, root=str(path))
        report.files = [FileResult(s, "added") for s in self.sources]
        report.chunks_written = self.chunks
        report.seconds = time.perf_counter() - started
        return report

    def documents(self) -> list[Any]:
        return [SimpleNamespace(source=s) for s in self.sources]

    def remove(self, source: str) -> int:
        raise NotImplementedError("the tutorial pipeline has no removal")

    def status(self) -> dict[str, Any]:
        return {"chunks": self.chunks}

    def retrieve(self, query: str, *, top_k: int | None = None) -> list[Any]:
        from rag.types import Passage

        docs = self.retriever.vectorstore.similarity_search(query, k=top_k or 4)
        return [
            Passage(
                n=i,
                chunk_id=f"{d.metadata['source']}#{d.metadata.get('start_index', i)}",
                source=d.metadata["source"],
                page=(d.metadata["page"] + 1) if isinstance(d.metadata.get("page"), int) else None,
                text=d.page_content,
                score=1.0 / i,
            )
            for i, d in enumerate(docs, start=1)
        ]

    def evidence(self, question: str, passages: Any) -> float:
        return 1.0

    def ask(self, question: str, history: Any = None, **_: Any) -> Any:
        from langchain_core.messages import AIMessage, HumanMessage

        from rag.text import detect_language
        from rag.types import Answer

        started = time.perf_counter()
        passages = self.retrieve(question, top_k=4)
        context = "\n\n".join(p.text for p in passages)
        messages: list[Any] = [
            HumanMessage(text) if role == "user" else AIMessage(text)
            for role, text in history or []
        ]
        messages.append(HumanMessage(TUTORIAL_PROMPT.format(question=question, context=context)))
        text = str(self.chat.invoke(messages).content).strip()
        return Answer(
            question=question,
            answer=text,
            citations=[],
            passages=passages,
            abstained=bool(REFUSAL_RE.search(text)),
            timings={"total": round(time.perf_counter() - started, 3)},
            raw_answer=text,
            language="zh" if detect_language(question) == "zh" else "en",
        )


def main(argv: list[str] | None = None) -> int:
    from rag.eval.harness import run_eval
    from rag.eval.report import summary_table, write_report

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="folder with corpus/ and questions.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="answerable questions to ask")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/out/baseline"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_eval(
            args.dataset,
            limit=args.limit,
            seed=args.seed,
            out_dir=args.out,
            kb=TutorialRAG(Path(tmp)),
        )
    write_report(result, args.out)
    print(summary_table(result))
    print(f"baseline: report in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
