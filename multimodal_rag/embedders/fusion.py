"""``fusion:<dual-encoder-spec>``: one vector per product from its photo and its text, through one dual encoder.

A dual encoder (``clip:``, ``siglip:``, ``aligned:``) puts photos and texts in one space, so a weighted sum of a
product's two normalised vectors is a point in that space too: ``w_image * image + w_text * text``, normalised
again. A field built this way answers text queries, photo queries and both together (the query's parts combined
with the field's weights). A product without a photo, or without text, gets the part it has.

The weights come from the config (``weights = {image = 0.6, text = 0.4}`` on the vector field); the ingest
binds them with ``with_weights``, and they are part of the identity, so changing them re-embeds the field.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from multimodal_rag.config import DEFAULT_FUSION_WEIGHTS
from multimodal_rag.embedders.base import (
    EmbedderError,
    FusedEmbedder,
    ImageEmbedder,
    TextEmbedder,
    l2_normalize,
    load_embedder,
    register_embedder,
)


class FusionEmbedder(FusedEmbedder):
    """A dual encoder's photo and text vectors of a product, combined with fixed weights."""

    def __init__(self, inner_spec: str, weights: tuple[float, float] = DEFAULT_FUSION_WEIGHTS,
                 inner: TextEmbedder | None = None):
        if not inner_spec:
            raise EmbedderError("fusion needs a dual encoder: fusion:<spec>, "
                                "say fusion:clip:openai/clip-vit-base-patch32")
        self.spec = f"fusion:{inner_spec}"
        self.inner = inner if inner is not None else load_embedder(inner_spec)
        if not (isinstance(self.inner, TextEmbedder) and isinstance(self.inner, ImageEmbedder)):
            raise EmbedderError(f"{self.spec}: {inner_spec!r} does not put text and images in one space; fusion "
                                "takes a dual encoder (clip:, siglip:, aligned:)")
        image_weight, text_weight = (float(w) for w in weights)
        if image_weight < 0 or text_weight < 0 or image_weight + text_weight == 0:
            raise EmbedderError(f"{self.spec}: weights must be 0 or more and not both 0, got {weights!r}")
        self.weights = (image_weight, text_weight)

    def with_weights(self, weights: tuple[float, float]) -> "FusionEmbedder":
        """The same dual encoder (loaded once) with other weights."""
        return FusionEmbedder(self.spec.removeprefix("fusion:"), weights, inner=self.inner)

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def identity(self) -> str:
        image_weight, text_weight = self.weights
        return f"fusion(image={image_weight:g},text={text_weight:g})|{self.inner.identity}"

    @property
    def truncated(self) -> int:
        return getattr(self.inner, "truncated", 0)

    def encode_texts(self, texts: Sequence[str], *, query: bool = False,
                     batch_size: int | None = None) -> np.ndarray:
        return self.inner.encode_texts(texts, query=query, batch_size=batch_size)

    def prepare(self, image: Image.Image) -> Any:
        return self.inner.prepare(image)

    def encode_prepared(self, prepared: Sequence[Any], *, batch_size: int | None = None) -> np.ndarray:
        return self.inner.encode_prepared(prepared, batch_size=batch_size)

    def encode_fused(self, texts: Sequence[str | None], prepared: Sequence[Any | None], *, query: bool = False,
                     batch_size: int | None = None) -> np.ndarray:
        return self.fuse(
            texts, prepared,
            lambda idx: self.inner.encode_texts([texts[i] for i in idx], query=query, batch_size=batch_size),
            lambda idx: self.inner.encode_prepared([prepared[i] for i in idx], batch_size=batch_size))

    def fuse(self, texts: Sequence[str | None], prepared: Sequence[Any | None],
             text_vectors: Callable[[list[int]], np.ndarray],
             image_vectors: Callable[[list[int]], np.ndarray]) -> np.ndarray:
        """Fused vectors for items of text and/or prepared photo, the parts' vectors coming from
        ``text_vectors(positions)`` and ``image_vectors(positions)`` (the dual encoder, or a cache in front of it).
        Weights apply where both parts exist; an item with one part is that part alone."""
        if len(texts) != len(prepared):
            raise ValueError(f"{len(texts)} texts but {len(prepared)} images")
        with_text = [i for i, t in enumerate(texts) if t]
        with_image = [i for i, p in enumerate(prepared) if p is not None]
        empty = sorted(set(range(len(texts))) - set(with_text) - set(with_image))
        if empty:
            raise ValueError(f"items {empty} have neither text nor an image to fuse")
        text_vecs = np.zeros((len(texts), self.dimension), np.float32)
        image_vecs = np.zeros((len(texts), self.dimension), np.float32)
        if with_text:
            text_vecs[with_text] = text_vectors(with_text)
        if with_image:
            image_vecs[with_image] = image_vectors(with_image)
        both = np.zeros(len(texts), bool)
        both[sorted(set(with_text) & set(with_image))] = True
        image_weight, text_weight = np.where(both, self.weights[0], 1.0), np.where(both, self.weights[1], 1.0)
        return l2_normalize(image_weight[:, None] * image_vecs + text_weight[:, None] * text_vecs)


@register_embedder("fusion")
def _fusion(argument: str) -> FusionEmbedder:
    return FusionEmbedder(argument)
