"""The errors a person can act on: raised on purpose, with a message that says what happened and what to do.

The CLI prints them as one line (no traceback without ``--verbose``); the server answers them as JSON with a 4xx.
"""

from __future__ import annotations

from multimodal_rag.catalog.images import ImageError
from multimodal_rag.catalog.loaders import CatalogError
from multimodal_rag.config import ConfigError
from multimodal_rag.embedders.base import EmbedderError
from multimodal_rag.eval.tasks import TaskError
from multimodal_rag.indexing import IngestError
from multimodal_rag.qa.llm import LLMError
from multimodal_rag.store.filters import FilterError
from multimodal_rag.store.milvus import StoreError

USER_ERRORS = (TaskError, ConfigError, CatalogError, EmbedderError, StoreError, FilterError, ImageError, LLMError,
               IngestError, FileNotFoundError)


def store_unavailable(exc: BaseException) -> bool:
    """True for a Milvus server that went away or does not answer (as opposed to a bad request)."""
    from pymilvus.exceptions import MilvusException

    text = str(exc).lower()
    return isinstance(exc, (MilvusException, ConnectionError)) and any(
        word in text for word in ("unavailable", "connect", "deadline", "closed", "refused", "timeout", "channel"))


def user_message(exc: BaseException) -> str | None:
    """The message of an error a person can act on; None for an unexpected one (a bug)."""
    if isinstance(exc, USER_ERRORS) or isinstance(exc, ValueError):
        return str(exc)
    if store_unavailable(exc):
        return f"the store does not answer ({str(exc)[:200]}); check that the Milvus server is running"
    return None
