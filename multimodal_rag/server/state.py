"""What the app shares between requests: the retriever and the Q&A chain (opened once), the one-at-a-time queue
for the chat model, and the limits every request is held to."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from langchain_core.language_models import BaseChatModel

from multimodal_rag.config import Config
from multimodal_rag.qa import ProductQA

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeLimits:
    max_upload_bytes: int = 10_000_000      # a photo upload
    max_upload_pixels: int = 40_000_000     # its decoded size: more is a decompression bomb
    max_body_bytes: int = 12_000_000        # any request body
    max_text_chars: int = 2_000             # a query, a question, one history turn
    max_history_turns: int = 20
    max_k: int = 100
    max_waiting_asks: int = 16              # questions queued for the chat model before "busy"
    request_timeout_s: float = 120.0        # a whole request, an answer's stream included
    keepalive_s: float = 15.0               # a ping on a quiet answer stream, so proxies keep it open


class Busy(RuntimeError):
    """Too many questions are waiting for the chat model."""


@dataclass
class ChatQueue:
    """The chat model answers one question at a time; the others wait in line and can see their place."""

    limit: int
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # held by the question being answered
    waiting: int = 0

    def admit(self) -> "Place":
        """A place in the line, or Busy when the line is full."""
        if self.waiting >= self.limit:
            raise Busy(f"the line for the chat model is full ({self.waiting} waiting); try again shortly")
        self.waiting += 1
        return Place(self, ahead=self.waiting - 1)


@dataclass
class Place:
    """A question's place in the line, from admission until it leaves (answered, cut short, or its client gone).
    ``leave`` may be called more than once: every way a request ends calls it."""

    queue: ChatQueue
    ahead: int  # questions in the line when this one joined
    holding: bool = False
    left: bool = False

    async def turn(self) -> None:
        """Wait until the chat model is this question's."""
        await self.queue.lock.acquire()
        self.holding = True

    def leave(self) -> None:
        if self.left:
            return
        self.left = True
        self.queue.waiting -= 1
        if self.holding:
            self.queue.lock.release()


class AppState:
    """Opens the store and the models once; every request uses these."""

    def __init__(self, config: Config, *, llm: BaseChatModel | str | None = None,
                 limits: ServeLimits = ServeLimits(), image_roots: Sequence[str | Path] = ()):
        self.config = config
        self.limits = limits
        self.qa = ProductQA.from_config(config, llm=llm)
        self.retriever = self.qa.retriever
        self.queue = ChatQueue(limits.max_waiting_asks)
        self.catalog = self.retriever.catalog()
        self.image_roots = [Path(p).resolve() for p in (*self.catalog.photo_folders(), *image_roots)]

    def health(self) -> tuple[bool, str | int]:
        """(True, product count) when the store answers, else (False, why)."""
        try:
            return True, self.catalog.count()
        except Exception as exc:  # any failure to answer is the store being unavailable
            return False, f"the store does not answer: {type(exc).__name__}: {str(exc)[:200]}"

    def image_path(self, ref: str) -> Path | None:
        """A stored local photo reference as a path, only when it lies inside a folder a catalog was ingested
        from (never an arbitrary path); None otherwise."""
        try:
            path = Path(ref).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        for root in self.image_roots:
            if path.is_file() and (path == root or root in path.parents):
                return path
        return None

    def close(self) -> None:
        self.retriever.close()


def loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
