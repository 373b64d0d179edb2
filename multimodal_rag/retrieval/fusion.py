"""Fusion formulas, computed on the client: several fields' ranked lists into one score per product.

``rrf_scores`` and ``weighted_scores`` are Milvus' own (``tests/test_fusion_formulas.py`` checks them against its
``hybrid_search``); ``relative_scores`` scales each list by its own range first (Weaviate's relative score fusion),
so a BM25 list whose scores run 8-30 and a cosine list at 0.3-0.6 weigh what their weights say. Pure functions of
the lists.
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


def relative_scores(scored: Sequence[Sequence[tuple[str, float]]], weights: Sequence[float]) -> dict[str, float]:
    """Relative score fusion: each list's scores scaled to 0..1 by its own best and worst candidate (all 1 when they
    are equal), then the weighted sum over the lists (a product missing from a list gets nothing from it)."""
    out: dict[str, float] = {}
    for hits, weight in zip(scored, weights):
        if not hits:
            continue
        values = [score for _, score in hits]
        best, worst = max(values), min(values)
        span = best - worst
        for pid, score in hits:
            out[pid] = out.get(pid, 0.0) + weight * ((score - worst) / span if span > 0 else 1.0)
    return out
