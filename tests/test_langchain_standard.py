"""LangChain's own standard suites (``langchain-tests``): the retriever against a real Lite collection of 40 Flipkart
products, the chat model on the offline SmolLM2, and the text embeddings on MiniLM."""

import json
import tempfile
from functools import lru_cache
from pathlib import Path

import pytest
from langchain_tests.integration_tests import (
    ChatModelIntegrationTests,
    EmbeddingsIntegrationTests,
    RetrieversIntegrationTests,
)

from multimodal_rag.config import load_config
from multimodal_rag.embedders.langchain import SpecEmbeddings
from multimodal_rag.ingestion import ingest
from multimodal_rag.llms.chat import LocalChatModel, SMOLLM2_GGUF, smollm2_folder
from multimodal_rag.retrieval import ProductRetriever
from tests.conftest import flipkart_subset


@lru_cache(maxsize=1)
def flipkart_40():
    """A Lite collection of 40 Flipkart products, made once per test run."""
    folder = Path(tempfile.mkdtemp(prefix="mmrag-standard-"))
    config = load_config(None, [f"store.db={json.dumps(str(folder / 'standard.db'))}"])
    ingest(flipkart_subset(folder, 40), config, progress=False)
    return config


def open_retriever(**params) -> ProductRetriever:
    return ProductRetriever.from_config(flipkart_40(), **params)


class TestProductRetriever(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self):
        return open_retriever

    @property
    def retriever_query_example(self) -> str:
        return "cotton curtain"


class TestLocalChatModel(ChatModelIntegrationTests):
    """SmolLM2-135M through transformers: text in, text out, streamed; no tools, structured output, JSON mode or
    images, declared here as the model lacks them."""

    @property
    def chat_model_class(self):
        return LocalChatModel

    @property
    def chat_model_params(self) -> dict:
        return {"model_path": str(smollm2_folder()), "gguf_file": SMOLLM2_GGUF, "max_new_tokens": 16}

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False

    @property
    def supports_json_mode(self) -> bool:
        return False

    @property
    def supports_image_inputs(self) -> bool:
        return False

    @property
    def returns_usage_metadata(self) -> bool:
        return True

    @property
    def supported_usage_metadata_details(self) -> dict:
        return {"invoke": [], "stream": []}


class TestSpecEmbeddings(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self):
        return SpecEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"spec": "sentence-transformers:all-MiniLM-L6-v2"}


def test_unknown_invoke_keywords_are_refused_by_name():
    retriever = open_retriever()
    with pytest.raises(TypeError, match=r"unknown keyword argument\(s\) \['top_k'\]"):
        retriever.invoke("cotton curtain", top_k=2)
    docs = retriever.invoke("cotton curtain", k=2, filters={"price": {"lt": 500}})
    assert len(docs) == 2 and all(d.metadata["price"] < 500 for d in docs)
