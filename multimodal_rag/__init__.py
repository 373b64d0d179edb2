"""multimodal-rag: product search and product Q&A over Milvus.

The public API::

    from multimodal_rag import ProductRetriever, ProductQA, ingest, load_config

Names are imported on first use, so ``import multimodal_rag`` stays light (no torch until a model is needed).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# public name -> module that defines it
_EXPORTS = {
    "Config": "multimodal_rag.config",
    "ConfigError": "multimodal_rag.config",
    "load_config": "multimodal_rag.config",
    "ingest": "multimodal_rag.ingestion",
    "IngestSummary": "multimodal_rag.ingestion",
    "migrate": "multimodal_rag.ingestion.migrate",
    "ProductQuery": "multimodal_rag.retrieval.retriever",
    "ProductRetriever": "multimodal_rag.retrieval.retriever",
    "ProductQA": "multimodal_rag.qa.chain",
    "QAResult": "multimodal_rag.qa.schema",
    "StoreError": "multimodal_rag.store.milvus",
}

__all__ = sorted(_EXPORTS) + ["__version__"]

if TYPE_CHECKING:
    from multimodal_rag.config import Config, ConfigError, load_config
    from multimodal_rag.ingestion import IngestSummary, ingest
    from multimodal_rag.ingestion.migrate import migrate
    from multimodal_rag.qa.chain import ProductQA
    from multimodal_rag.qa.schema import QAResult
    from multimodal_rag.retrieval.retriever import ProductQuery, ProductRetriever
    from multimodal_rag.store.milvus import StoreError


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'multimodal_rag' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
