"""What multimodal-rag keeps on disk: ``cache_dir`` (``$MMRAG_CACHE_DIR``, else ~/.cache/multimodal-rag) for derived
files (exported ONNX models, a de-quantised chat model), and the embeddings, keyed by content hash (which includes
the embedder's identity).

Evaluation ingests one corpus under many configs, and ``mmrag align`` embeds a whole catalog with two towers
for every training run; with the cache each (model, content) pair is computed once per machine. One SQLite file
(``$MMRAG_CACHE_DIR/embeddings.sqlite``): concurrent readers and writers are safe, and a killed run leaves
only whole rows.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

_SQLITE_VARIABLES = 900  # stay under SQLite's limit on bound parameters per statement


def cache_dir(*parts: str) -> Path:
    root = os.environ.get("MMRAG_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "multimodal-rag")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


class EmbeddingCache:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else cache_dir() / "embeddings.sqlite"
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, dim INTEGER, vec BLOB)")
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), _SQLITE_VARIABLES):
                part = keys[start:start + _SQLITE_VARIABLES]
                marks = ",".join("?" * len(part))
                for key, dim, blob in self._db.execute(
                        f"SELECT key, dim, vec FROM vectors WHERE key IN ({marks})", part):
                    vector = np.frombuffer(blob, dtype=np.float32)
                    if vector.shape == (dim,):
                        found[key] = vector
        return found

    def put(self, items: Mapping[str, np.ndarray]) -> None:
        rows = [(k, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO vectors (key, dim, vec) VALUES (?, ?, ?)", rows)

    def through(self, keys: Sequence[str], compute: Callable[[list[int]], np.ndarray]) -> np.ndarray:
        """Vectors for ``keys`` in order: cached ones read, the rest computed by ``compute(missing positions)``
        (one call, rows in the order of the positions) and stored."""
        found = self.get(keys)
        missing = [i for i, k in enumerate(keys) if k not in found]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            computed = np.asarray(compute(missing), dtype=np.float32)
            fresh = {keys[i]: computed[row] for row, i in enumerate(missing)}
            self.put(fresh)
            found.update(fresh)
        return np.stack([found[k] for k in keys]) if keys else np.zeros((0, 0), dtype=np.float32)

    def close(self) -> None:
        with self._lock:
            self._db.close()
