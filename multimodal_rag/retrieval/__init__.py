"""Retrieval: the LangChain retriever over the product collection."""

from multimodal_rag.retrieval.rerank import ProductReranker
from multimodal_rag.retrieval.retriever import ProductQuery, ProductRetriever, product_card

__all__ = ["ProductQuery", "ProductReranker", "ProductRetriever", "product_card"]
