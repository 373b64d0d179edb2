"""Milvus' fusion formulas, computed on the client: several fields' ranked lists into one score per product.

Pure functions of the lists; ``tests/test_fusion_formulas.py`` checks them against Milvus' ``hybrid_search``.
"""

from __future__ import annotations

import math
from typing import Sequence


def rrf_scores(ranked: Sequence[Sequence[str]], k: int) -> dict[str, float]:
    """Reciprocal rank fusion as Milvus computes it: the sum over lists of 1 / (k + rank), ranks from 1."""
    out: dict[str, float] = {}
    for ids in ranked:
        for rank, pid in enumerate(ids, start=1):
            out[pid] = out.get(pid, 0.0) + 1.0 / (k + rank)
    return out


def normalised(distance: float, metric: str) -> float:
    """Milvus' score normalisation for weighted fusion: IP to 0.5 + atan(d)/pi, BM25 to 2 atan(d)/pi."""
    if metric == "BM25":
        return 2.0 * math.atan(distance) / math.pi
    return 0.5 + math.atan(distance) / math.pi


def weighted_scores(scored: Sequence[Sequence[tuple[str, float, str]]], weights: Sequence[float]) -> dict[str, float]:
    """Weighted fusion as Milvus computes it: the weighted sum of each list's normalised scores."""
    out: dict[str, float] = {}
    for hits, weight in zip(scored, weights):
        for pid, distance, metric in hits:
            out[pid] = out.get(pid, 0.0) + weight * normalised(distance, metric)
    return out
