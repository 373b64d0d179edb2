"""Milvus only: the fields described once (``schema``), the collection's writes, reads, searches and properties
(``milvus``), the one filter builder (``filters``), and a Lite folder served to other processes (``server``)."""

from multimodal_rag.store.filters import FilterError, build_filter
from multimodal_rag.store.milvus import ProductStore, StoreError, connect

__all__ = ["FilterError", "ProductStore", "StoreError", "build_filter", "connect"]
