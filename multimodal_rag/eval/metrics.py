"""Ranking metrics as BEIR / pytrec_eval define them: plain data in, plain numbers out.

``qrels``: ``{query_id: {doc_id: grade}}`` (grade > 0 is relevant); ``run``: ``{query_id: {doc_id: score}}``.
A run is ranked by score, ties broken by doc id in descending order, as trec_eval does. Queries whose qrels hold
no relevant document are skipped, as trec_eval does; queries missing from the run score 0. Identical query and
document ids are not ignored. nDCG uses the grade itself as gain with a log2 discount, the ideal ranking built
from every judged document.
"""

from __future__ import annotations

import math
from typing import Mapping

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]


def ranked(scores: Mapping[str, float]) -> list[str]:
    """Documents best first: score descending, then doc id descending (trec_eval's order)."""
    return [doc for doc, _ in sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)]


def ndcg_at(ranking: list[str], judged: Mapping[str, int], k: int) -> float:
    dcg = sum(judged.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranking[:k]) if judged.get(doc, 0) > 0)
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def mrr_at(ranking: list[str], judged: Mapping[str, int], k: int) -> float:
    for i, doc in enumerate(ranking[:k]):
        if judged.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def recall_at(ranking: list[str], judged: Mapping[str, int], k: int) -> float:
    relevant = {d for d, g in judged.items() if g > 0}
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def hit_at(ranking: list[str], judged: Mapping[str, int], k: int) -> float:
    return 1.0 if any(judged.get(doc, 0) > 0 for doc in ranking[:k]) else 0.0


def map_at(ranking: list[str], judged: Mapping[str, int], k: int) -> float:
    relevant = sum(1 for g in judged.values() if g > 0)
    found, total = 0, 0.0
    for i, doc in enumerate(ranking[:k]):
        if judged.get(doc, 0) > 0:
            found += 1
            total += found / (i + 1)
    return total / relevant


FUNCTIONS = {"ndcg": ndcg_at, "mrr": mrr_at, "recall": recall_at, "hit": hit_at, "map": map_at}


def evaluate(qrels: Qrels, run: Run, ks: Mapping[str, int] | None = None) -> dict[str, float]:
    """Mean of each metric over the judged queries, e.g. ``{"ndcg@10": .., "map@100": .., "queries": N}``.

    ``ks`` maps metric name to cutoff; default nDCG/MRR/Recall/Hit at 10 and MAP at 100.
    """
    ks = dict(ks or {"ndcg": 10, "mrr": 10, "recall": 10, "hit": 10, "map": 100})
    totals = {name: 0.0 for name in ks}
    queries = 0
    for qid, judged in qrels.items():
        if not any(g > 0 for g in judged.values()):
            continue
        queries += 1
        ranking = ranked(run.get(qid, {}))
        for name, k in ks.items():
            totals[name] += FUNCTIONS[name](ranking, judged, k)
    out = {f"{name}@{k}": (totals[name] / queries if queries else 0.0) for name, k in ks.items()}
    out["queries"] = queries
    return out
