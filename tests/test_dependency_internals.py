"""The private attributes kbqa reads from its dependencies exist on the installed versions.

kbqa reads each one in a single wrapper (``rag.store.embedded_clients``,
``rag.store.chroma_collection``, ``rag.models.embedder_tokens``; ``ingest.split`` subclasses
LangChain's recursive splitter). An upgrade that moves one fails here, loudly, instead of
in a user's ingest; the wrappers themselves then raise a ``KbqaError`` naming the version.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import pytest

from rag.errors import KbqaError


def test_chromadb_keeps_its_embedded_client_cache():
    from rag.store import embedded_clients

    assert isinstance(embedded_clients(), dict)


def test_langchain_chroma_keeps_the_collection_on_the_store(tmp_path):
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma

    from rag.store import chroma_collection

    client = chromadb.PersistentClient(
        path=str(tmp_path), settings=ChromaSettings(anonymized_telemetry=False)
    )
    store = Chroma(client=client, collection_name="probe")
    assert chroma_collection(store).name == "probe"


def test_a_moved_attribute_is_an_error_naming_the_version():
    from rag.models import embedder_tokens
    from rag.store import chroma_collection

    with pytest.raises(KbqaError, match=f"langchain-chroma {version('langchain-chroma')}"):
        chroma_collection(object())
    with pytest.raises(KbqaError, match="langchain-huggingface"):
        embedder_tokens(object(), "probe")  # type: ignore[arg-type]


def test_langchain_text_splitters_keeps_what_the_splitter_subclass_uses():
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=10, chunk_overlap=2)
    assert (splitter._chunk_size, splitter._chunk_overlap) == (10, 2)
    assert callable(splitter._split_text)


@pytest.mark.slow  # imports torch through sentence-transformers (about 6 s here); no weights
def test_langchain_huggingface_keeps_the_model_in_client():
    from langchain_huggingface import HuggingFaceEmbeddings
    from sentence_transformers import SentenceTransformer

    assert "self._client = " in inspect.getsource(HuggingFaceEmbeddings.__init__)
    assert isinstance(SentenceTransformer.tokenizer, property)
    assert isinstance(SentenceTransformer.max_seq_length, property)
