"""Any text embedder of ours as a LangChain ``Embeddings``, to use in other LangChain vector stores."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from multimodal_rag.embedders.base import EmbedderError, TextEmbedder, load_embedder


class SpecEmbeddings(Embeddings):
    """``SpecEmbeddings("sentence-transformers:all-MiniLM-L6-v2")``: documents and queries embedded as our text
    fields embed them (a model's document and query prompts included), L2-normalised, as lists of floats."""

    def __init__(self, spec: str = "sentence-transformers:all-MiniLM-L6-v2", batch_size: int | None = None):
        embedder = load_embedder(spec)
        if not isinstance(embedder, TextEmbedder):
            raise EmbedderError(f"{spec} does not embed text")
        self.spec, self.embedder, self.batch_size = spec, embedder, batch_size

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors = self.embedder.encode_texts(list(texts), batch_size=self.batch_size)
        return [[float(x) for x in row] for row in vectors]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.embedder.encode_texts([text], query=True, batch_size=self.batch_size)[0]]
