"""``aligned:DIR``: a text tower and an image tower joined by projection heads trained on a catalog.

``mmrag align`` trains the heads (frozen towers, LiT-style) and writes ``DIR/heads.safetensors`` and
``DIR/aligned.json``. The result is a dual encoder like ``clip:`` or ``siglip:``: texts and images land in one
space, so a text query can search an image field. It refuses to load when the towers here are not the ones it
was trained on (their identity changes with the model and its preprocessing).

Each head reads more than its tower's vector, because the towers were never trained to meet each other:
- the text head also reads the text's words (tf-idf over the words of the training catalog's texts): a linear map
  of words learns what "striped", "navy" or "kurta" look like, which a sentence vector blurs;
- the image head also reads the photo's colours (a hue/saturation/value histogram of its non-white pixels): the
  image tower was trained to ignore colour, and shoppers name it.
On myntra_dev title2image (its products held out of training) each added 0.05 and 0.02 nDCG@10 over the towers'
vectors alone (``docs/benchmarks.md``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

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
from multimodal_rag.words import tokens

FORMAT = "mmrag-aligned/2"
CONFIG_FILE = "aligned.json"
HEADS_FILE = "heads.safetensors"
COLOUR_BINS = (8, 4, 4)      # hue, saturation, value
COLOUR_WEIGHT = 0.5          # of the colour histogram's square root beside the unit-length tower vector
WHITE = 235                  # pixels with every channel above it are background (or padding), not product


class WordFeatures:
    """Tf-idf over a fixed vocabulary: one L2-normalised row per text."""

    def __init__(self, words: Sequence[str], idf: np.ndarray):
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.idf = np.asarray(idf, dtype=np.float32)

    @classmethod
    def fit(cls, texts: Iterable[str], min_count: int) -> "WordFeatures":
        """The words of at least ``min_count`` texts, with their inverse document frequencies."""
        texts = list(texts)
        counts = Counter(w for t in texts for w in set(tokens(t)))
        words = sorted(w for w, n in counts.items() if n >= min_count)
        idf = np.array([math.log(len(texts) / counts[w]) for w in words], dtype=np.float32)
        return cls(words, idf)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.words)), dtype=np.float32)
        for row, text in enumerate(texts):
            for w in set(tokens(text)):
                i = self.index.get(w)
                if i is not None:
                    out[row, i] = self.idf[i]
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def colour_features(prepared: Sequence[Any]) -> np.ndarray:
    """``COLOUR_WEIGHT`` times the square root of each photo's HSV histogram (``COLOUR_BINS``) over its non-white
    pixels; photos as uint8 HxWx3 arrays (what an image tower's ``prepare`` gives)."""
    bins = np.array(COLOUR_BINS)
    out = np.zeros((len(prepared), int(bins.prod())), dtype=np.float32)
    for row, pixels in enumerate(prepared):
        rgb = np.asarray(pixels, dtype=np.uint8).reshape(-1, 3)
        hsv = np.asarray(Image.fromarray(rgb.reshape(1, -1, 3), "RGB").convert("HSV")).reshape(-1, 3)
        product = ~(rgb > WHITE).all(axis=1)
        if product.sum() > 20:
            hsv = hsv[product]
        cells = np.ravel_multi_index(tuple((hsv.astype(np.int64) * bins // 256).T), COLOUR_BINS)
        histogram = np.bincount(cells, minlength=out.shape[1]).astype(np.float32)
        out[row] = np.sqrt(histogram / max(histogram.sum(), 1.0))
    return COLOUR_WEIGHT * out


def is_pixel_array(prepared: Any) -> bool:
    return isinstance(prepared, np.ndarray) and prepared.dtype == np.uint8 and prepared.ndim == 3 \
        and prepared.shape[-1] == 3


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
        raise EmbedderError(f"aligned:{folder}: format {config.get('format')!r}, this version reads {FORMAT}; "
                            "retrain it with `mmrag align`")
    return config, ProjectionHeads(load_file(str(heads_path)))


class AlignedEmbedder(TextEmbedder, ImageEmbedder):
    """Text and images through their frozen towers (plus words and colours), then the trained heads;
    L2-normalised, one space."""

    def __init__(self, folder: str):
        if not folder:
            raise EmbedderError("aligned needs the adapter folder: aligned:<dir written by mmrag align>")
        self.folder = Path(folder)
        self.spec = f"aligned:{folder}"
        self.config, self.heads = read_adapter(self.folder)
        self.text_tower = self._tower("text")
        self.image_tower = self._tower("image")
        words = self.config.get("words")
        self.words = WordFeatures(words, self.heads.weights["text.idf"]) if words else None
        self.colours = bool(self.config.get("colours"))
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

    def text_features(self, texts: Sequence[str], tower_vectors: np.ndarray) -> np.ndarray:
        """What the text head reads: the tower's vectors, and the texts' words when the adapter has them."""
        if self.words is None:
            return tower_vectors
        return np.concatenate([tower_vectors, self.words(texts)], axis=1)

    def image_features(self, prepared: Sequence[Any], tower_vectors: np.ndarray) -> np.ndarray:
        """What the image head reads: the tower's vectors, and the photos' colours when the adapter has them."""
        if not self.colours:
            return tower_vectors
        return np.concatenate([tower_vectors, colour_features(prepared)], axis=1)

    def encode_texts(self, texts: Sequence[str], *, query: bool = False,
                     batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        vectors = self.text_tower.encode_texts(texts, query=query, batch_size=batch_size)
        return self.heads.project("text", self.text_features(texts, vectors))

    def prepare(self, image: Image.Image) -> Any:
        return self.image_tower.prepare(image)

    def encode_prepared(self, prepared: Sequence[Any], *, batch_size: int | None = None) -> np.ndarray:
        if not prepared:
            return np.zeros((0, self.dimension), np.float32)
        vectors = self.image_tower.encode_prepared(prepared, batch_size=batch_size)
        return self.heads.project("image", self.image_features(prepared, vectors))


@register_embedder("aligned")
def _aligned(argument: str) -> AlignedEmbedder:
    return AlignedEmbedder(argument)
