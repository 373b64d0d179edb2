"""Embedder families on transformers model classes: ``resnet50:``, ``clip:``, ``siglip:``.

Each loads by hub name (on a machine that reaches the hub) or from a local folder holding the model, its
tokenizer and its image processor. CLIP and SigLIP are dual encoders: text and images land in one space, so a
text query can search an image field. Weights load lazily on first use, on CUDA (fp16), MPS or CPU.

On CPU, ResNet's image tower runs in ONNX Runtime (exported once into the cache and checked against torch): measured
1.3-2x faster than eager torch for ResNet-50, while CLIP ViT-B/32 ran at the same speed with more memory, so the
vision transformers stay on torch. ``MMRAG_ONNX=1`` exports every family's image tower, ``MMRAG_ONNX=0`` none; a
model that does not export stays on torch with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from multimodal_rag.embedders.base import (
    EmbedderError,
    ImageEmbedder,
    TextEmbedder,
    l2_normalize,
    register_embedder,
)
from multimodal_rag.embedders.cache import cache_dir
from multimodal_rag.embedders.hub import unreachable_model
from multimodal_rag.embedders.onnx import Runner, onnx_runner

log = logging.getLogger(__name__)


def pick_device() -> str:
    """``$MMRAG_DEVICE`` if set, else CUDA, then MPS, then CPU."""
    import torch

    wanted = os.environ.get("MMRAG_DEVICE")
    if wanted:
        return wanted
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _features(output: Any):
    """transformers 5 returns a ModelOutput from get_*_features; 4.x returned the tensor itself."""
    return output if hasattr(output, "shape") else output.pooler_output


class HFModel:
    """A transformers model loaded lazily with its tokenizer and/or image processor."""

    def __init__(self, family: str, name: str, model_class: str, *, tokenizer: bool, image_processor: bool,
                 image_processor_kwargs: dict | None = None):
        if not name:
            raise EmbedderError(f"{family} needs a model: {family}:<name-or-path>")
        self.family, self.name = family, name
        self.model_class = model_class
        self.wants = (tokenizer, image_processor)
        self.image_processor_kwargs = dict(image_processor_kwargs or {})
        self._loaded = None
        self._lock = threading.Lock()

    def load(self):
        with self._lock:
            if self._loaded is None:
                try:
                    import torch
                    import transformers
                except ImportError as exc:
                    raise EmbedderError(f"{self.family} needs the package {exc.name} (pip install {exc.name})") from None
                why = unreachable_model(self.name, f"{self.family}:{self.name}")
                if why:
                    raise EmbedderError(why)
                device = pick_device()
                dtype = torch.float16 if device == "cuda" else torch.float32
                try:
                    model = getattr(transformers, self.model_class).from_pretrained(self.name, dtype=dtype)
                    tokenizer = transformers.AutoTokenizer.from_pretrained(self.name) if self.wants[0] else None
                    processor = (transformers.AutoImageProcessor.from_pretrained(
                        self.name, **self.image_processor_kwargs) if self.wants[1] else None)
                except ImportError as exc:  # e.g. a model whose code needs sentencepiece or timm
                    raise EmbedderError(f"{self.family}:{self.name} needs a missing package: {exc}") from None
                except OSError as exc:
                    raise EmbedderError(f"cannot load {self.family}:{self.name} (a local folder, or a hub name "
                                        f"on a machine that reaches the hub): {exc}") from None
                self._loaded = (model.to(device).eval(), tokenizer, processor, device, dtype)
            return self._loaded

    def files_key(self) -> str:
        """Changes when the model's config or weight files change: names exports derived from it."""
        config = self.load()[0].config
        parts = [self.family, self.name, json.dumps(config.to_dict(), sort_keys=True, default=str),
                 str(getattr(config, "_commit_hash", "") or "")]
        folder = Path(self.name)
        if folder.is_dir():
            for f in sorted([*folder.glob("*.safetensors"), *folder.glob("*.bin")]):
                stat = f.stat()
                parts.append(f"{f.name}:{stat.st_size}:{stat.st_mtime_ns}")
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def onnx_wanted(device: str, family_default: bool) -> bool:
    """ONNX Runtime for an image tower: on CPU only, as ``MMRAG_ONNX`` says (1 or 0), else the family's default."""
    if device != "cpu":
        return False
    setting = os.environ.get("MMRAG_ONNX", "")
    return setting == "1" if setting in ("0", "1") else family_default


class HFImageEmbedder(ImageEmbedder):
    """Images through a transformers model: its image processor prepares, ``_image_features`` embeds."""

    hf: HFModel
    batch_size: int
    _runner: Runner | None = None
    _runner_lock = threading.Lock()  # one export at a time, process-wide
    backend: str | None = None  # "onnx" or "torch", known after the first batch
    onnx_by_default = False  # where ONNX Runtime measured faster than torch on CPU (benchmarks/embedders.py)

    def _image_features(self, model, pixels):
        raise NotImplementedError

    def prepare(self, image: Image.Image) -> np.ndarray:
        processor = self.hf.load()[2]
        return processor(images=image, return_tensors="np")["pixel_values"][0]

    def encode_prepared(self, prepared: Sequence[Any], *, batch_size: int | None = None) -> np.ndarray:
        if not len(prepared):
            return np.zeros((0, self.dimension), np.float32)
        run = self._get_runner(np.shape(prepared[0]))
        step = batch_size or self.batch_size
        out = [run(np.stack(prepared[i:i + step])) for i in range(0, len(prepared), step)]
        return l2_normalize(np.concatenate(out))

    def _get_runner(self, item_shape: tuple[int, ...]) -> Runner:
        with self._runner_lock:
            if self._runner is None:
                self._runner, self.backend = self._make_runner(item_shape)
            return self._runner

    def _make_runner(self, item_shape: tuple[int, ...]) -> tuple[Runner, str]:
        import torch

        model, _, _, device, dtype = self.hf.load()
        features = self._image_features

        class ImageTower(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, pixel_values):
                return features(self.model, pixel_values)

        tower = ImageTower().eval()
        if onnx_wanted(device, self.onnx_by_default):
            path = cache_dir("onnx") / f"{self.hf.family}-image-{self.hf.files_key()}.onnx"
            try:
                return onnx_runner(tower, (2, *item_shape), path, self.spec), "onnx"
            except EmbedderError as exc:
                log.warning("%s; %s stays on torch", exc, self.spec)

        def run(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return tower(torch.from_numpy(batch).to(device, dtype)).float().cpu().numpy()

        return run, "torch"


class ResNetEmbedder(HFImageEmbedder):
    """transformers ResNet (e.g. microsoft/resnet-50): globally pooled last stage, 2048-d for ResNet-50."""

    onnx_by_default = True

    def __init__(self, name: str, *, batch_size: int = 32):
        self.spec = f"resnet50:{name}"
        self.hf = HFModel("resnet50", name, "ResNetModel", tokenizer=False, image_processor=True)
        self.batch_size = batch_size

    @property
    def dimension(self) -> int:
        return int(self.hf.load()[0].config.hidden_sizes[-1])

    def _image_features(self, model, pixels):
        return model(pixel_values=pixels).pooler_output.flatten(1)


class DualEncoderEmbedder(TextEmbedder, HFImageEmbedder):
    """CLIP or SigLIP: text and images into one space (the model's projection), L2-normalised."""

    def __init__(self, family: str, name: str, model_class: str, *, pad_to_max_length: bool,
                 batch_size: int = 32):
        self.spec = f"{family}:{name}"
        self.hf = HFModel(family, name, model_class, tokenizer=True, image_processor=True)
        # SigLIP was trained on text padded to its full length (64 tokens); shorter padding changes its vectors.
        self.pad_to_max_length = pad_to_max_length
        self.batch_size = batch_size
        self.truncated = 0  # texts cut to the model's limit so far

    @property
    def dimension(self) -> int:
        config = self.hf.load()[0].config
        return int(getattr(config, "projection_dim", None) or config.text_config.hidden_size)

    @property
    def max_tokens(self) -> int:
        return int(self.hf.load()[0].config.text_config.max_position_embeddings)

    def encode_texts(self, texts: Sequence[str], *, query: bool = False,
                     batch_size: int | None = None) -> np.ndarray:
        import torch

        model, tokenizer, _, device, _ = self.hf.load()
        limit = self.max_tokens
        out = []
        step = batch_size or self.batch_size
        for i in range(0, len(texts), step):
            batch = list(texts[i:i + step])
            lengths = tokenizer(batch, truncation=False)["input_ids"]
            self.truncated += sum(len(ids) > limit for ids in lengths)
            tokens = tokenizer(batch, padding="max_length" if self.pad_to_max_length else True, truncation=True,
                               max_length=limit, return_tensors="pt")
            inputs = {k: v.to(device) for k, v in tokens.items() if k in ("input_ids", "attention_mask")}
            if self.pad_to_max_length:
                inputs.pop("attention_mask", None)  # SigLIP attends to the padding, as in training
            with torch.inference_mode():
                out.append(_features(model.get_text_features(**inputs)).float().cpu().numpy())
        return l2_normalize(np.concatenate(out)) if out else np.zeros((0, self.dimension), np.float32)

    def _image_features(self, model, pixels):
        return _features(model.get_image_features(pixel_values=pixels))


@register_embedder("resnet50")
def _resnet50(argument: str) -> ResNetEmbedder:
    return ResNetEmbedder(argument or "microsoft/resnet-50")


@register_embedder("clip")
def _clip(argument: str) -> DualEncoderEmbedder:
    return DualEncoderEmbedder("clip", argument, "CLIPModel", pad_to_max_length=False)


@register_embedder("siglip")
def _siglip(argument: str) -> DualEncoderEmbedder:
    return DualEncoderEmbedder("siglip", argument, "SiglipModel", pad_to_max_length=True)
