"""The embedders of a config's vector fields: built from their specs and checked against each field's sources."""

from __future__ import annotations

from typing import Mapping, Sequence

from multimodal_rag.config import Config
from multimodal_rag.embedders.base import (
    Embedder,
    EmbedderError,
    FusedEmbedder,
    ImageEmbedder,
    TextEmbedder,
    load_embedder,
)
from multimodal_rag.embedders.fusion import FusionEmbedder


def load_embedders(config: Config, names: Sequence[str] | None = None) -> dict[str, Embedder]:
    """Each vector field's embedder (or the named fields' only); a ``fusion:`` field's carries the field's weights."""
    fields = [v for v in config.vectors if names is None or v.name in names]
    embedders = {v.name: load_embedder(v.embedder) for v in fields}
    check_embedders(config, embedders)
    for v in fields:
        if v.weights is not None:
            embedders[v.name] = embedders[v.name].with_weights(v.weights)
    return embedders


def check_embedders(config: Config, embedders: Mapping[str, Embedder]) -> None:
    """Each vector field's embedder must encode the field's modality; a field mixing the photo with text takes
    a fused embedder (``fusion:``, ``gme:``), and weights only mean something to ``fusion:``."""
    for v in config.vectors:
        if v.name not in embedders:
            continue
        emb = embedders[v.name]
        if v.modality == "fused":
            if not isinstance(emb, FusedEmbedder):
                raise EmbedderError(f"vectors.{v.name}: {v.embedder} cannot embed a photo and text together "
                                    f"(sources {list(v.sources)}); use fusion:<dual-encoder-spec> or gme:<model>")
            if v.weights is not None and not isinstance(emb, FusionEmbedder):
                raise EmbedderError(f"vectors.{v.name}.weights: {v.embedder} fuses the photo and text inside the "
                                    "model; weights apply to fusion: fields")
            continue
        if isinstance(emb, FusionEmbedder):
            raise EmbedderError(f"vectors.{v.name}: {v.embedder} combines the photo with text; give the field "
                                f"sources with 'image' and text fields, or use the dual encoder itself")
        if not isinstance(emb, ImageEmbedder if v.modality == "image" else TextEmbedder):
            raise EmbedderError(f"vectors.{v.name}: {v.embedder} cannot embed {v.modality} "
                                f"(sources {list(v.sources)})")
