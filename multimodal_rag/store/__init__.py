"""Milvus side: schema and writes, search, and the one filter builder."""

from multimodal_rag.store.filters import FilterError, build_filter
from multimodal_rag.store.milvus import ProductStore, StoreError, connect

__all__ = ["FilterError", "ProductStore", "StoreError", "build_filter", "connect"]
