"""The server's view of an error: a message a person can act on (answered with a 4xx), the store gone away (503),
or a bug (500, its type only)."""

from __future__ import annotations

from multimodal_rag.errors import UserError


def store_unavailable(exc: BaseException) -> bool:
    """True for a Milvus server that went away or does not answer (as opposed to a bad request)."""
    from pymilvus.exceptions import MilvusException

    text = str(exc).lower()
    return isinstance(exc, (MilvusException, ConnectionError)) and any(
        word in text for word in ("unavailable", "connect", "deadline", "closed", "refused", "timeout", "channel"))


def user_message(exc: BaseException) -> str | None:
    """The message of an error a person can act on; None for an unexpected one (a bug)."""
    # ConfigError and the checks of request values are ValueErrors
    if isinstance(exc, (UserError, ValueError, FileNotFoundError)):
        return str(exc)
    if store_unavailable(exc):
        return f"the store does not answer ({str(exc)[:200]}); check that the Milvus server is running"
    return None
