"""Embedders: a small protocol, a registry of families, specs as strings."""

from multimodal_rag.embedders import aligned as _aligned  # noqa: F401  (registers aligned:DIR)
from multimodal_rag.embedders import fusion as _fusion  # noqa: F401  (registers fusion:<dual encoder>)
from multimodal_rag.embedders import gme as _gme  # noqa: F401  (registers gme:<Qwen2-VL GME model>)
from multimodal_rag.embedders import hf as _hf  # noqa: F401  (registers resnet50, clip, siglip)
from multimodal_rag.embedders import image as _image  # noqa: F401  (registers efficientnet-lite0)
from multimodal_rag.embedders import text as _text  # noqa: F401  (registers sentence-transformers)
from multimodal_rag.embedders.base import (
    Embedder,
    EmbedderError,
    FusedEmbedder,
    ImageEmbedder,
    TextEmbedder,
    load_embedder,
    register_embedder,
    registered_families,
)

__all__ = [
    "Embedder", "EmbedderError", "FusedEmbedder", "ImageEmbedder", "TextEmbedder", "load_embedder", "register_embedder",
    "registered_families",
]
