"""The embedder protocol and the registry that builds embedders from spec strings.

A spec is ``family:argument`` (``sentence-transformers:all-MiniLM-L6-v2``, ``clip:/models/clip``) or a bare
family name (``efficientnet-lite0``). Families register a factory; ``load_embedder`` builds each spec once per
process and loads weights lazily on first use.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from multimodal_rag.errors import UserError


class EmbedderError(UserError, RuntimeError):
    """An embedder that cannot be built or used; the message says what to install or change."""


class Embedder(ABC):
    """Base of every embedder: a spec and an output dimension. What it encodes is its class: ``TextEmbedder``,
    ``ImageEmbedder``, or both."""

    spec: str

    @property
    @abstractmethod
    def dimension(self) -> int: ...

    @property
    def identity(self) -> str:
        """What determines the vectors: changes when the model or its preprocessing changes."""
        return self.spec


class TextEmbedder(Embedder):
    @abstractmethod
    def encode_texts(self, texts: Sequence[str], *, query: bool = False,
                     batch_size: int | None = None) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text; ``query`` selects the query-side form."""


class ImageEmbedder(Embedder):
    @abstractmethod
    def prepare(self, image: Image.Image) -> Any:
        """CPU preprocessing of one RGB image; thread-safe, so loaders can run it beside inference."""

    @abstractmethod
    def encode_prepared(self, prepared: Sequence[Any], *, batch_size: int | None = None) -> np.ndarray:
        """L2-normalised float32 vectors for images already passed through ``prepare``."""

    def encode_images(self, images: Sequence[Image.Image], *, batch_size: int | None = None) -> np.ndarray:
        return self.encode_prepared([self.prepare(img) for img in images], batch_size=batch_size)


class FusedEmbedder(TextEmbedder, ImageEmbedder):
    """Texts and images into one space, and a product's photo and text together into one vector of it
    (``fusion:`` combines a dual encoder's two vectors; ``gme:`` reads both in one model pass)."""

    @abstractmethod
    def encode_fused(self, texts: Sequence[str | None], prepared: Sequence[Any | None], *, query: bool = False,
                     batch_size: int | None = None) -> np.ndarray:
        """One L2-normalised vector per item from its text and its prepared photo; either may be missing
        (None or empty), not both."""


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


Factory = Callable[[str], Embedder]
_FACTORIES: dict[str, Factory] = {}
_INSTANCES: dict[str, Embedder] = {}
_LOCK = threading.RLock()  # re-entrant: an adapter spec loads the specs of its towers


def register_embedder(family: str) -> Callable[[Factory], Factory]:
    """Register ``factory(argument) -> Embedder`` for specs ``family:argument`` (or bare ``family``)."""

    def decorator(factory: Factory) -> Factory:
        _FACTORIES[family] = factory
        return factory

    return decorator


def registered_families() -> list[str]:
    return sorted(_FACTORIES)


def parse_spec(spec: str) -> tuple[str, str]:
    spec = spec.strip()
    family, sep, argument = spec.partition(":")
    if family not in _FACTORIES:
        raise EmbedderError(f"unknown embedder {spec!r}; known families: {', '.join(registered_families())}")
    return family, argument if sep else ""


def load_embedder(spec: str) -> Embedder:
    """The embedder for a spec, built once per process (weights load on first use)."""
    with _LOCK:
        if spec not in _INSTANCES:
            family, argument = parse_spec(spec)
            _INSTANCES[spec] = _FACTORIES[family](argument)
        return _INSTANCES[spec]
