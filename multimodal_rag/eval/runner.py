"""Run a task's queries through the deployed retrieval path and score them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

from multimodal_rag.config import Config
from multimodal_rag.eval.metrics import evaluate
from multimodal_rag.eval.tasks import Task

QUERY_BATCH = 32


def collection_for(corpus: Path, config: Config) -> str:
    """One collection per (corpus, config): rerunning an evaluation reuses what is already ingested."""
    vectors = [(v.name, v.embedder, v.sources) + ((v.weights,) if v.modality == "fused" else ())
               for v in config.vectors]
    key = json.dumps({"corpus": str(corpus), "vectors": vectors, "bm25": config.bm25.model_dump(mode="json"),
                      "language": config.catalog.language}, sort_keys=True)
    return "eval_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def run_queries(task: Task, retriever, *, k: int, progress: bool = True,
                batch_size: int = QUERY_BATCH) -> dict[str, dict[str, float]]:
    """BEIR run: query id -> {product id: score}, scores decreasing with rank. Queries go to the retriever in
    batches (one model batch and one Milvus call per field each), which gives the same documents as one by one."""
    from tqdm.auto import tqdm

    from multimodal_rag.retrieval import ProductQuery
    from multimodal_rag.retrieval.searcher import UnsupportedQuery

    run = {}
    bar = tqdm(total=len(task.queries), desc=f"eval {task.name}", unit="query", disable=not progress, leave=False)
    for start in range(0, len(task.queries), batch_size):
        chunk = task.queries[start:start + batch_size]
        found = retriever.batch([ProductQuery(text=q.text, image=q.image, k=k) for q in chunk],
                                return_exceptions=True)
        for q, docs in zip(chunk, found):
            if isinstance(docs, UnsupportedQuery):
                docs = []  # the config cannot serve this modality: the query finds nothing, as it would for a user
            elif isinstance(docs, Exception):
                raise docs
            # The rank, not the raw score, orders the run: fused and reranked scores need not be comparable.
            run[q.id] = {d.metadata["id"]: float(len(docs) - i) for i, d in enumerate(docs)}
        bar.update(len(chunk))
    bar.close()
    return run


def ingest_corpus(corpus: Path, config: Config, *, progress: bool = True,
                  on_ingest: Callable[[dict], None] | None = None) -> Config:
    """Ingest an evaluation corpus into its own collection (a no-op when unchanged); the config pointing at it."""
    from multimodal_rag.ingestion import ingest

    config = config.model_copy(update={
        "store": config.store.model_copy(update={"collection": collection_for(corpus, config)}),
        "ingest": config.ingest.model_copy(update={"embedding_cache": True})})
    errors = Path(config.store.db).with_suffix(".errors.jsonl") if not config.store.uri else None
    summary = ingest(corpus, config, progress=progress, errors_path=errors)
    if on_ingest is not None:
        on_ingest(summary.as_dict())
    return config


def evaluate_task(task: Task, config: Config, *, k: int = 100, progress: bool = True,
                  on_ingest: Callable[[dict], None] | None = None) -> dict[str, float]:
    """Ingest the task's corpus with ``config`` (reused when unchanged), run every query, return the metrics."""
    from multimodal_rag.retrieval import ProductRetriever

    config = ingest_corpus(task.corpus, config, progress=progress, on_ingest=on_ingest)
    retriever = ProductRetriever.from_config(config)
    try:
        run = run_queries(task, retriever, k=k, progress=progress)
    finally:
        retriever.close()
    return evaluate(task.qrels, run)
