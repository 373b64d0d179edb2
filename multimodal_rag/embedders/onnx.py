"""ONNX Runtime for image towers on CPU: export a torch module once into the cache, check it against torch, run it.

A module here takes one float tensor ``pixel_values`` (N, C, H, W) and returns one feature tensor (N, D). The export
is written under a temporary name, compared with torch on a random batch, and only then moved into place, so a
cached file is always one that matched.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from multimodal_rag.embedders.base import EmbedderError

log = logging.getLogger(__name__)

# Largest difference to torch accepted, relative to the largest feature value (at least 1).
EXPORT_TOLERANCE = 1e-4

Runner = Callable[[np.ndarray], np.ndarray]


def export_checked(module, sample_shape: tuple[int, ...], path: Path, name: str) -> float:
    """Export ``module`` to ``path`` (atomically) after checking ONNX Runtime against torch; returns the
    relative difference. Raises EmbedderError when they differ."""
    import onnxruntime as ort
    import torch

    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    sample = torch.from_numpy(np.random.default_rng(0).standard_normal(sample_shape, dtype=np.float32))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (sample,), str(tmp), input_names=["pixel_values"], output_names=["features"],
                              dynamic_axes={"pixel_values": {0: "batch"}, "features": {0: "batch"}},
                              opset_version=17, dynamo=False)
        with torch.inference_mode():
            expected = module(sample).float().numpy()
        got = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"]).run(
            None, {"pixel_values": sample.numpy()})[0]
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise EmbedderError(f"ONNX export of {name} failed: {type(exc).__name__}: {exc}") from exc
    diff = float(np.abs(got - expected).max() / max(1.0, float(np.abs(expected).max())))
    if diff > EXPORT_TOLERANCE:
        tmp.unlink(missing_ok=True)
        raise EmbedderError(f"ONNX export of {name} differs from torch by {diff:.2e} (relative)")
    os.replace(tmp, path)
    log.info("exported %s to %s (relative difference to torch %.1e)", name, path, diff)
    return diff


def onnx_runner(module, sample_shape: tuple[int, ...], path: Path, name: str) -> Runner:
    """``run(batch) -> features`` in ONNX Runtime, exporting ``module`` to ``path`` first if it is not there."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise EmbedderError(f"the ONNX backend of {name} needs onnxruntime (pip install onnxruntime)") from None
    if not path.exists():
        export_checked(module, sample_shape, path, name)
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("MMRAG_ORT_THREADS", "0"))
    options.enable_cpu_mem_arena = False  # the arena keeps the peak batch's activations for the process' life
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {"pixel_values": np.ascontiguousarray(batch, dtype=np.float32)})[0]

    return run
