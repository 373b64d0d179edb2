"""Retrieval: the LangChain retriever over the product collection: query understanding, query embedding and
fusion of the fields' searches (``searcher``, ``fusion``), reranking."""

from multimodal_rag.retrieval.rerank import ProductReranker
from multimodal_rag.retrieval.catalog import product_card
from multimodal_rag.retrieval.retriever import ProductQuery, ProductRetriever

__all__ = ["ProductQuery", "ProductReranker", "ProductRetriever", "product_card"]
