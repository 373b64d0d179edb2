"""The local engine: catalog file -> validated products -> content hashes -> embeddings -> Milvus, in this process.

Composes the steps of ``multimodal_rag.ingestion.steps``: a background stage looks up stored hashes, fetches and
decodes images for the next chunk while the current chunk is embedded and written. Every write is a full entity
carrying its hashes, so a run killed at any point leaves only complete products, and the next run embeds only what
is missing or changed. After the writes (and ``prune``) the collection records its photo profile and facet
vocabulary (``engine.finish_ingest``), the vocabulary as counted from the chunks when the run saw every product the
collection holds.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Mapping

from multimodal_rag.catalog.images import ImageFetcher
from multimodal_rag.catalog.loaders import detect_format, load_catalog
from multimodal_rag.catalog.photos import PhotoStats
from multimodal_rag.embedders.base import Embedder
from multimodal_rag.embedders.cache import EmbeddingCache
from multimodal_rag.embedders.fields import load_embedders
from multimodal_rag.ingestion.engine import (
    IngestEngine,
    IngestJob,
    IngestSummary,
    VocabularyCounter,
    finish_ingest,
    language_notes,
)
from multimodal_rag.ingestion.steps import (
    ChunkPlan,
    ChunkPlanner,
    ErrorReport,
    build_rows,
    catalog_language,
    chunked,
    embed_chunk,
    valid_products,
)
from multimodal_rag.store.milvus import open_store

PREFETCH_CHUNKS = 2


def count_rows(path: Path) -> int | None:
    """Rows in a catalog for the progress bar, when cheap to know."""
    fmt = detect_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if fmt == "jsonl":
        with path.open("rb") as f:
            return sum(1 for line in f if line.strip())
    return None


def _prefetch(plans: Iterator[ChunkPlan], depth: int) -> Iterator[ChunkPlan]:
    """Run ``plans`` in a background thread, ``depth`` chunks ahead; errors surface in the consumer."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce():
        try:
            for item in plans:
                if stop.is_set():
                    return
                q.put(item)
        except BaseException as exc:  # re-raised in the consuming thread
            q.put(exc)
        finally:
            q.put(done)

    thread = threading.Thread(target=produce, name="mmrag-ingest-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)


class LocalEngine(IngestEngine):
    """Runs the job in this process. ``embedders`` (field name -> embedder) stand in for the config's: tests and
    benchmarks pass models they already hold."""

    def __init__(self, embedders: Mapping[str, Embedder] | None = None):
        self.embedders = embedders

    def run(self, job: IngestJob) -> IngestSummary:
        from tqdm.auto import tqdm

        config = job.config
        started = time.perf_counter()
        catalog = Path(job.catalog)
        rows = load_catalog(catalog, columns=job.columns)  # fails now on a missing file, before the store opens
        embedders = dict(self.embedders) if self.embedders is not None else load_embedders(config)
        # A new collection under [catalog] language = "auto" is analysed in the language of the catalog's text.
        store = open_store(config, embedders,
                           language=lambda: catalog_language(load_catalog(catalog, columns=job.columns)))
        report = ErrorReport(job.errors_path)
        summary = IngestSummary(embedded={v.name: 0 for v in config.vectors}, language=store.language,
                                notes=language_notes(config, store.language))
        settings = config.ingest
        fetcher = ImageFetcher(timeout_s=settings.image_timeout_s, retries=settings.image_retries,
                               max_bytes=settings.max_image_bytes)
        seen: dict[str, int] = {}
        photos: list[PhotoStats] = []
        # Every product written or found unchanged is counted for the vocabulary as it passes, so a run that leaves
        # the collection holding just the catalog's products need not read them back (finish_ingest).
        counted = VocabularyCounter(store)
        cache = EmbeddingCache() if settings.embedding_cache else None
        chunk_size = max(settings.batch_size, 1) * 4
        bar = tqdm(total=count_rows(catalog), unit="product", desc="ingest", disable=not job.progress,
                   leave=False)
        try:
            with ThreadPoolExecutor(max_workers=max(settings.image_workers, 1),
                                    thread_name_prefix="mmrag-image") as pool:
                planner = ChunkPlanner(config, embedders, store, report, fetcher, pool)
                products = valid_products(rows, report, seen)
                plans = (planner.plan(chunk) for chunk in chunked(products, chunk_size))
                for chunk in _prefetch(plans, PREFETCH_CHUNKS):
                    vectors = embed_chunk(config, embedders, chunk.products, cache)
                    store.upsert(build_rows(store, chunk.products, vectors))
                    counted.add(p.row for p in chunk.products)
                    summary.count((p.status for p in chunk.products), {n: len(v) for n, v in vectors.items()})
                    photos.extend(p.photo for p in chunk.products if p.photo is not None)
                    summary.failed = report.rows_failed
                    bar.update(len(chunk.products))
                    bar.set_postfix(new=summary.new, updated=summary.updated, failed=summary.failed, refresh=False)
                    if job.on_chunk is not None:
                        job.on_chunk(summary)
            finish_ingest(store, summary, seen=seen, prune=job.prune, photos=photos, catalog_root=catalog.parent,
                          counted=counted)
        finally:
            bar.close()
            report.close()
            store.close()
            if cache is not None:
                summary.cache_hits = cache.hits
                cache.close()
        return summary.close(report, started)
