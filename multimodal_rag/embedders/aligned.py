"""``aligned:DIR``: a text tower and an image tower joined by projection heads trained on a catalog.

``mmrag align`` trains the heads (frozen towers, LiT-style) and writes ``DIR/heads.safetensors`` and
``DIR/aligned.json``. The result is a dual encoder like ``clip:`` or ``siglip:``: texts and images land in one
space, so a text query can search an image field. It refuses to load when the towers here are not the ones it
was trained on (their identity changes with the model and its preprocessing).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from multimodal_rag.embedders.base import (
    EmbedderError,
    ImageEmbedder,
    TextEmbedder,
    l2_normalize,
    load_embedder,
    register_embedder,
)

FORMAT = "mmrag-aligned/1"
CONFIG_FILE = "aligned.json"
HEADS_FILE = "heads.safetensors"


class ProjectionHeads:
    """The trained part: ``text`` and ``image`` linear maps into the shared space, and the temperature."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.weights = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}

    def project(self, side: str, features: np.ndarray) -> np.ndarray:
        w, b = self.weights[f"{side}.weight"], self.weights[f"{side}.bias"]
        return l2_normalize(np.asarray(features, dtype=np.float32) @ w.T + b)

    @property
    def dimension(self) -> int:
        return int(self.weights["text.weight"].shape[0])


def read_adapter(folder: str | Path) -> tuple[dict, ProjectionHeads]:
    from safetensors.numpy import load_file

    folder = Path(folder)
    config_path, heads_path = folder / CONFIG_FILE, folder / HEADS_FILE
    if not config_path.is_file() or not heads_path.is_file():
        raise EmbedderError(f"aligned:{folder}: not an adapter folder (needs {CONFIG_FILE} and {HEADS_FILE}; "
                            "`mmrag align` writes them)")
    config = json.loads(config_path.read_text())
    if config.get("format") != FORMAT:
        raise EmbedderError(f"aligned:{folder}: format {config.get('format')!r}, this version reads {FORMAT}")
    return config, ProjectionHeads(load_file(str(heads_path)))


class AlignedEmbedder(TextEmbedder, ImageEmbedder):
    """Text and images through their frozen towers, then the trained heads; L2-normalised, one space."""

    modalities = frozenset({"text", "image"})

    def __init__(self, folder: str):
        if not folder:
            raise EmbedderError("aligned needs the adapter folder: aligned:<dir written by mmrag align>")
        self.folder = Path(folder)
        self.spec = f"aligned:{folder}"
        self.config, self.heads = read_adapter(self.folder)
        self.text_tower = self._tower("text")
        self.image_tower = self._tower("image")
        self._digest = hashlib.sha256((self.folder / HEADS_FILE).read_bytes()).hexdigest()[:16]

    def _tower(self, side: str):
        saved = self.config[f"{side}_tower"]
        tower = load_embedder(saved["spec"])
        if tower.identity != saved["identity"]:
            raise EmbedderError(
                f"{self.spec}: trained on the {side} tower {saved['identity']!r}, but {saved['spec']!r} here is "
                f"{tower.identity!r}; retrain with `mmrag align` for these towers")
        return tower

    @property
    def dimension(self) -> int:
        return self.heads.dimension

    @property
    def identity(self) -> str:
        return f"aligned:{self._digest}|{self.text_tower.identity}|{self.image_tower.identity}"

    @property
    def truncated(self) -> int:
        return getattr(self.text_tower, "truncated", 0)

    def encode_texts(self, texts: Sequence[str], *, query: bool = False,
                     batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        return self.heads.project("text", self.text_tower.encode_texts(texts, query=query, batch_size=batch_size))

    def prepare(self, image: Image.Image) -> Any:
        return self.image_tower.prepare(image)

    def encode_prepared(self, prepared: Sequence[Any], *, batch_size: int | None = None) -> np.ndarray:
        if not prepared:
            return np.zeros((0, self.dimension), np.float32)
        return self.heads.project("image", self.image_tower.encode_prepared(prepared, batch_size=batch_size))


@register_embedder("aligned")
def _aligned(argument: str) -> AlignedEmbedder:
    return AlignedEmbedder(argument)
