"""Where multimodal-rag keeps derived files (exported ONNX models): ``$MMRAG_CACHE_DIR`` or ~/.cache."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    root = os.environ.get("MMRAG_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "multimodal-rag")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
