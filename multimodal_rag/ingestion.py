"""``ingest``: catalog file -> validated products -> content hashes -> embeddings -> Milvus.

Composes the steps of ``multimodal_rag.indexing``: a background stage looks up stored hashes, fetches and decodes
images for the next chunk while the current chunk is embedded and written. Every write is a full entity carrying
its hashes, so a run killed at any point leaves only complete products, and the next run embeds only what is
missing or changed. After the writes (and ``prune``) the collection records its photo profile and facet
vocabulary. ``engine="ray"`` runs the same steps on a Ray cluster (``multimodal_rag.ray_ingest``).

From the command line: ``mmrag ingest``.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

from multimodal_rag.catalog.images import ImageFetcher
from multimodal_rag.catalog.loaders import detect_format, load_catalog
from multimodal_rag.catalog.photos import PhotoProfile, PhotoStats
from multimodal_rag.config import Config, resolve_config
from multimodal_rag.embedders.base import Embedder
from multimodal_rag.embedders.fields import load_embedders
from multimodal_rag.embedders.cache import EmbeddingCache
from multimodal_rag.indexing import (
    ChunkPlan,
    ChunkPlanner,
    ErrorReport,
    build_rows,
    chunked,
    embed_chunk,
    valid_products,
)
from multimodal_rag.store.milvus import ProductStore, open_store

PREFETCH_CHUNKS = 2
ENGINES = ("local", "ray")


@dataclass
class IngestSummary:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    deleted: int = 0
    seconds: float = 0.0
    products_per_s: float = 0.0
    embedded: dict[str, int] = field(default_factory=dict)
    cache_hits: int = 0  # of the embedded vectors, how many were read from the embedding cache
    errors_path: str | None = None
    bulk_files: list[str] = field(default_factory=list)  # files written for Milvus' bulk import (--bulk)
    index: str = ""  # the collection's vector index after the run
    index_changed: bool = False  # store.index = "auto" switched it (to HNSW) in this run

    def as_dict(self) -> dict:
        return asdict(self)

    def count(self, statuses: Iterable[str], embedded: Mapping[str, int]) -> None:
        """Add a written chunk: each product's status (new, updated, unchanged), vectors computed per field."""
        for status in statuses:
            setattr(self, status, getattr(self, status) + 1)
        for name, n in embedded.items():
            self.embedded[name] = self.embedded.get(name, 0) + n

    def close(self, report: ErrorReport, started: float) -> "IngestSummary":
        self.failed = report.rows_failed
        self.errors_path = str(report.path) if report.rows_failed and report.path else None
        self.seconds = round(time.perf_counter() - started, 3)
        handled = self.new + self.updated + self.unchanged
        self.products_per_s = round(handled / self.seconds, 2) if self.seconds else 0.0
        return self


def finish_ingest(store: ProductStore, summary: IngestSummary, *, seen: Mapping[str, object], prune: bool,
                  photos: list[PhotoStats], catalog_root: Path | None) -> None:
    """After the writes: ``prune`` deletes stored products the catalog does not name; the collection records the
    photo profile, the facet vocabulary and (for a local catalog) the folder its photos may be served from."""
    if prune:
        stale = [pid for pid in store.iter_ids() if pid not in seen]
        summary.deleted = store.delete(stale)
    store.flush()
    store.record_photo_profile(PhotoProfile.from_stats(photos))
    store.record_vocabulary()
    if catalog_root is not None:
        store.record_catalog_root(catalog_root)
    summary.index_changed = store.fit_index() is not None
    summary.index = store.index


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


def ingest(catalog: str | Path, config: Config | str | Path | None = None, *, db: str | None = None,
           uri: str | None = None, collection: str | None = None, prune: bool = False,
           errors_path: str | Path | None = None, columns: Mapping[str, str] | None = None,
           progress: bool = True, on_chunk: Callable[[IngestSummary], None] | None = None,
           embedders: Mapping[str, Embedder] | None = None, engine: str = "local",
           ray_address: str | None = None, ray_actors: int | None = None,
           bulk: str | None = None) -> IngestSummary:
    """Ingest a catalog file into the configured collection and return what happened.

    ``config`` is a ``Config``, a TOML path or None (the default); ``db`` (a Milvus Lite file), ``uri`` (a
    server) and ``collection`` say where the store is. ``prune`` deletes stored products whose id is not in the
    file; without it nothing is deleted. ``on_chunk`` is called with the running summary after each chunk.

    ``engine="ray"`` spreads the work over a Ray cluster (``ray_address``: "auto", "ray://host:10001", or None
    for a local Ray; ``ray_actors``: embedding actors per vector field); the catalog may then also be a folder
    of shards, a glob or an object-store URL, and ``bulk`` (a folder, or ``s3://bucket/prefix`` for a Milvus
    server's object store) writes new products as bulk-import files instead of upserts. See docs/scale-out.md.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    if engine == "ray":
        if embedders is not None:
            raise ValueError("the Ray engine loads the embedders in its actors; do not pass embedders")
        from multimodal_rag.ray_ingest import ingest_with_ray

        return ingest_with_ray(catalog, resolve_config(config, db=db, uri=uri, collection=collection),
                               prune=prune, errors_path=errors_path, columns=columns, progress=progress,
                               on_chunk=on_chunk, address=ray_address, actors=ray_actors, bulk=bulk)
    if bulk is not None:
        raise ValueError("bulk import files are written by the Ray engine: pass engine='ray' (--engine ray)")
    from tqdm.auto import tqdm

    config = resolve_config(config, db=db, uri=uri, collection=collection)
    started = time.perf_counter()
    catalog = Path(catalog)
    rows = load_catalog(catalog, columns=columns)  # fails now on a missing file, before the store opens
    embedders = dict(embedders) if embedders is not None else load_embedders(config)
    store = open_store(config, embedders)
    report = ErrorReport(errors_path)
    summary = IngestSummary(embedded={v.name: 0 for v in config.vectors})
    settings = config.ingest
    fetcher = ImageFetcher(timeout_s=settings.image_timeout_s, retries=settings.image_retries,
                           max_bytes=settings.max_image_bytes)
    seen: dict[str, int] = {}
    photos: list[PhotoStats] = []
    cache = EmbeddingCache() if settings.embedding_cache else None
    chunk_size = max(settings.batch_size, 1) * 4
    bar = tqdm(total=count_rows(catalog), unit="product", desc="ingest", disable=not progress, leave=False)
    try:
        with ThreadPoolExecutor(max_workers=max(settings.image_workers, 1),
                                thread_name_prefix="mmrag-image") as pool:
            planner = ChunkPlanner(config, embedders, store, report, fetcher, pool)
            products = valid_products(rows, report, seen)
            plans = (planner.plan(chunk) for chunk in chunked(products, chunk_size))
            for chunk in _prefetch(plans, PREFETCH_CHUNKS):
                vectors = embed_chunk(config, embedders, chunk.products, cache)
                store.upsert(build_rows(store, chunk.products, vectors))
                summary.count((p.status for p in chunk.products), {n: len(v) for n, v in vectors.items()})
                photos.extend(p.photo for p in chunk.products if p.photo is not None)
                summary.failed = report.rows_failed
                bar.update(len(chunk.products))
                bar.set_postfix(new=summary.new, updated=summary.updated, failed=summary.failed, refresh=False)
                if on_chunk is not None:
                    on_chunk(summary)
        finish_ingest(store, summary, seen=seen, prune=prune, photos=photos, catalog_root=catalog.parent)
    finally:
        bar.close()
        report.close()
        store.close()
        if cache is not None:
            summary.cache_hits = cache.hits
            cache.close()
    return summary.close(report, started)
