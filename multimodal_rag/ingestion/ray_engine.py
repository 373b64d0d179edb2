"""The Ray engine: the local engine's steps, spread over a Ray cluster with Ray Data.

Stages, each a Ray Data operator with its own progress bar:

- **read** (tasks, one per catalog file): rows validated by the same loaders as the local engine. The catalog is
  read twice: first ids and row errors only, so the driver can find repeated ids across all files (a repeated id
  keeps its first row, as locally) and write the error report; then the products themselves.
- **plan** (tasks): stored hashes looked up, photos fetched, decoded and prepared (``steps.ChunkPlanner``).
- **embed** (one actor pool per vector field): the field's model loaded once per actor, a GPU share each when the
  cluster has GPUs; ``steps.embed_chunk`` on the products whose input changed.
- **write** (an actor pool): full entities built by ``steps.build_rows`` and upserted, or, with ``bulk``, the
  new products written as bulk-import files (``bulk``) and imported by the server at the end.

Every stage is idempotent per product (a full entity with its hashes), so Ray retrying a task or restarting a
killed actor, or a rerun after the whole job died, ends with the collection a clean ingest makes. The driver
keeps the ids of the catalog (for repeated ids and ``prune``), counts the summary, and at the end records the
photo profile and facet vocabulary. A Milvus Lite file is served to the workers over loopback for the job, so it
works with a Ray on this machine only; a cluster's workers need a Milvus server (``--uri``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from multimodal_rag.catalog.images import ImageFetcher
from multimodal_rag.catalog.loaders import catalog_files, is_url, load_catalog
from multimodal_rag.config import Config
from multimodal_rag.embedders.fields import load_embedders
from multimodal_rag.ingestion.engine import IngestEngine, IngestJob, IngestSummary, finish_ingest, language_notes
from multimodal_rag.ingestion.steps import (
    ChunkPlanner,
    ErrorReport,
    IngestError,
    build_rows,
    catalog_language,
    duplicate_id_reason,
    embed_chunk,
)
from multimodal_rag.store.milvus import ProductStore

# each vector field's dimension and embedder identity: what a store is opened with
EmbedderShape = tuple[dict[str, int], dict[str, str]]


RAY_HINT = "the Ray engine needs Ray Data: pip install 'multimodal-rag[ray]'"
IO_CPUS = 0.5          # logical CPUs kept for the plan tasks and the writers (they wait on I/O)
TASK_CPUS = 0.25       # a plan task's or a writer's share
CPUS_PER_ACTOR = 4     # on a CPU cluster, an embedding actor's threads at most
READ_CHUNK = 10_000    # rows per block of the id check's read
# Ray Data's blocks (128 MiB by default) would hold ~900 prepared photos: the embedding stages would wait on
# the whole plan stage of small catalogs, and a retried block would redo that much. Blocks of a few dozen
# products keep the stages streaming.
BLOCK_BYTES = 8 * 1024 * 1024


def _pack(obj: Any) -> bytes:
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def _unpack(data: bytes) -> Any:
    return pickle.loads(data)


def _column(items: list) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


# -- read ----------------------------------------------------------------------------------------------------

class _ReadRows:
    """Ray Data ``map_batches`` over catalog files (one file per call), yielding blocks of ``chunk`` rows so the
    later stages start on the first rows of a file: with ``products`` False, every row's id and error (for the
    driver's id check and report); with it True, the valid products, less the rows in ``skip`` (repeated ids)."""

    def __init__(self, files: list[str], columns: Mapping[str, str] | None, chunk: int, products: bool,
                 skip: frozenset[tuple[int, int]] = frozenset()):
        self.files, self.columns, self.chunk = files, dict(columns or {}), chunk
        self.products, self.skip = products, skip

    def __call__(self, batch: dict) -> Iterator[dict]:
        for index in batch["file"]:
            rows: list[dict] = []
            for row in load_catalog(self.files[int(index)], columns=self.columns):
                if not self.products:
                    rows.append({"file": int(index), "line": row.line, "id": row.id,
                                 "field": row.error.field if row.error else "",
                                 "reason": row.error.reason if row.error else ""})
                elif row.product is not None and (int(index), row.line) not in self.skip:
                    rows.append({"file": int(index), "line": row.line, "product": _pack(row.product)})
                if len(rows) >= self.chunk:
                    yield _columns(rows)
                    rows = []
            if rows:
                yield _columns(rows)


def _columns(rows: list[dict]) -> dict:
    return {key: _column([r[key] for r in rows]) for key in rows[0]}


class _IdCheck:
    """The driver's view of every row id: repeated ids resolved to their first row (by file, then line), as the
    local engine resolves them; ``seen`` is every id the catalog names (bad rows too), for ``prune``."""

    def __init__(self, files: list[str], report: ErrorReport):
        self.files, self.report = files, report
        self.seen: dict[str, tuple[tuple[int, int], bool]] = {}  # id -> its first row read (file, line), valid
        self.repeats: dict[str, list[tuple[tuple[int, int], bool]]] = {}  # id -> its other rows

    def file_name(self, index: int) -> str | None:
        """The file a report entry names: only for a catalog of several files."""
        return self.files[index] if len(self.files) > 1 else None

    def add(self, index: int, line: int, pid: str, field: str, reason: str) -> None:
        if field:
            self.report.add(line, pid, field, reason, file=self.file_name(index))
        if not pid:
            return
        row = ((index, line), not field)
        if pid in self.seen:
            self.repeats.setdefault(pid, []).append(row)
        else:
            self.seen[pid] = row

    def skipped(self) -> frozenset[tuple[int, int]]:
        """The rows to skip: valid rows whose id came earlier in the catalog; each is reported."""
        skip = set()
        for pid, more in self.repeats.items():
            rows = sorted([self.seen[pid], *more])
            (first_file, first_line), _ = rows[0]
            for (index, line), valid in rows[1:]:
                if not valid:
                    continue
                where = f"line {first_line}" if first_file == index else \
                    f"line {first_line} of {self.files[first_file]}"
                self.report.add(line, pid, "id", duplicate_id_reason(where), file=self.file_name(index))
                skip.add((index, line))
        return frozenset(skip)


# -- plan ----------------------------------------------------------------------------------------------------

_WORKER_STATE: dict[str, tuple] = {}  # the current job's, in this worker process
_WORKER_LOCK = threading.Lock()


def _embedder_shape(config: Config) -> EmbedderShape:
    """Each field's vector dimension and embedder identity (a worker loads the models to know them: the driver,
    often a small head node, never does)."""
    embedders = load_embedders(config)
    return ({n: e.dimension for n, e in embedders.items()}, {n: e.identity for n, e in embedders.items()})


def _open_store(config: Config, shape: EmbedderShape, *, create: bool = False,
                language: Callable[[], str] | None = None) -> ProductStore:
    return ProductStore.open(config, *shape, create=create, language=language)


def _worker_state(config: Config, shape: EmbedderShape) -> tuple:
    """Per worker process, built once: embedders (for identities and photo preparation; models load lazily),
    the store, the image fetcher and its thread pool."""
    key = hashlib.sha256(_pack(config)).hexdigest()
    with _WORKER_LOCK:
        if key not in _WORKER_STATE:
            for _, old_store, _, old_pool in _WORKER_STATE.values():  # an earlier job's, in a reused worker
                old_pool.shutdown(wait=False)
                old_store.close()
            _WORKER_STATE.clear()
            embedders = load_embedders(config)
            store = _open_store(config, shape)
            settings = config.ingest
            fetcher = ImageFetcher(timeout_s=settings.image_timeout_s, retries=settings.image_retries,
                                   max_bytes=settings.max_image_bytes)
            pool = ThreadPoolExecutor(max_workers=max(settings.image_workers, 1), thread_name_prefix="mmrag-image")
            _WORKER_STATE[key] = (embedders, store, fetcher, pool)
        return _WORKER_STATE[key]


def _plan_batch(batch: dict, config: Config, shape: EmbedderShape) -> dict:
    """Ray Data ``map_batches`` task: what each product needs (stored hashes, photo fetched and prepared)."""
    embedders, store, fetcher, pool = _worker_state(config, shape)
    report = ErrorReport(None, keep=True)
    chunk = [(int(line), _unpack(data)) for line, data in zip(batch["line"], batch["product"])]
    plans = ChunkPlanner(config, embedders, store, report, fetcher, pool).plan(chunk).products
    errors: dict[str, list] = {}
    for entry in report.entries or []:
        errors.setdefault(entry["id"], []).append(entry)
    return {"file": batch["file"], "plan": _column([_pack(p) for p in plans]),
            "vectors": _column([_pack({}) for _ in plans]),
            "errors": _column([_pack(errors.get(p.product.id, [])) for p in plans])}


# -- embed ---------------------------------------------------------------------------------------------------

class _EmbedField:
    """Ray Data actor: one vector field's embedder, loaded once; embeds the products whose input changed."""

    def __init__(self, config: Config, name: str, threads: int):
        import torch

        torch.set_num_threads(max(1, threads))
        os.environ["MMRAG_ORT_THREADS"] = str(max(1, threads))  # ONNX Runtime models: the same, not every core
        self.config = config.model_copy(update={"vectors": tuple(v for v in config.vectors if v.name == name)})
        self.embedders = load_embedders(config, [name])
        self.name = name

    def __call__(self, batch: dict) -> dict:
        plans = [_unpack(p) for p in batch["plan"]]
        vectors = embed_chunk(self.config, self.embedders, plans).get(self.name, {})
        merged = []
        for plan, packed in zip(plans, batch["vectors"]):
            own = _unpack(packed)
            if plan.product.id in vectors:
                own[self.name] = vectors[plan.product.id]
            merged.append(_pack(own))
        # the plans go on without the prepared photos embed_chunk consumed
        return {**batch, "plan": _column([_pack(p) for p in plans]), "vectors": _column(merged)}


# -- write ---------------------------------------------------------------------------------------------------

class _WriteRows:
    """Ray Data actor: builds full entities and upserts them; with ``bulk``, new products go to bulk files."""

    def __init__(self, config: Config, shape: EmbedderShape, bulk: str | None):
        self.store = _open_store(config, shape)
        self.bulk = None
        if bulk is not None:
            from multimodal_rag.ingestion.bulk import BulkFiles

            self.bulk = BulkFiles(self.store.schema()[0], bulk)

    def __call__(self, batch: dict) -> dict:
        plans = [_unpack(p) for p in batch["plan"]]
        by_field: dict[str, dict[str, np.ndarray]] = {}
        embedded = []
        for plan, packed in zip(plans, batch["vectors"]):
            own = _unpack(packed)
            for name, vec in own.items():
                by_field.setdefault(name, {})[plan.product.id] = vec
            embedded.append(_pack(sorted(own)))
        rows = build_rows(self.store, plans, by_field)
        files: list[list[str]] = []
        if self.bulk is not None:
            new = {p.product.id for p in plans if p.status == "new"}
            files = self.bulk.write([r for r in rows if r["id"] in new])
            rows = [r for r in rows if r["id"] not in new]
        self.store.upsert(rows)
        bulk_files = [_pack(files if i == 0 else []) for i in range(len(plans))]  # the batch's, on its first row
        return {"status": _column([p.status for p in plans]), "embedded": _column(embedded),
                "photo": _column([_pack(p.photo) for p in plans]), "errors": batch["errors"],
                "file": batch["file"], "files": _column(bulk_files)}


# -- the job -------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _reachable_store(config: Config) -> Iterator[Config]:
    """The config the workers use: a Milvus server as it is; a Milvus Lite folder served on loopback for the job
    (Lite allows one process per folder), stopped at the end."""
    if config.store.uri:
        yield config
        return
    from multimodal_rag.store.server import open_server

    Path(config.store.db).expanduser().parent.mkdir(parents=True, exist_ok=True)  # as the local engine's connect
    with open_server(config.store.db) as uri:
        yield config.model_copy(update={"store": config.store.model_copy(update={"uri": uri})})


def _start_ray(address: str | None, progress: bool) -> bool:
    """Connect to (or start) Ray; True when this call started it, so the job shuts it down."""
    import ray
    from ray.data import DataContext

    context = DataContext.get_current()
    context.target_max_block_size = BLOCK_BYTES
    context.enable_progress_bars = progress
    context.print_on_execution_start = progress
    if not progress:
        logging.getLogger("ray").setLevel(logging.ERROR)
        logging.getLogger("ray.data").setLevel(logging.ERROR)
    if ray.is_initialized():
        return False
    with contextlib.ExitStack() as quiet:
        if not progress:  # the C++ core's own log lines (warnings about actor restarts) stay out of quiet output
            os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
            quiet.enter_context(_stderr_to_devnull())  # where the core says it read that setting
        ray.init(address=address, include_dashboard=False, log_to_driver=progress, logging_level=logging.WARNING,
                 configure_logging=progress, runtime_env={"env_vars": {"TOKENIZERS_PARALLELISM": "false"}})
    return True


@contextlib.contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    """File descriptor 2 (which C++ code writes to directly) sent to /dev/null for the duration."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _actors(n_fields: int, actors: int | None) -> tuple[int, dict]:
    """Embedding actors per field and each one's resources, from what the cluster has."""
    import ray

    resources = ray.cluster_resources()
    gpus, cpus = float(resources.get("GPU", 0)), float(resources.get("CPU", 1))
    if gpus:
        actors = actors or max(1, int(gpus // n_fields))
        return actors, {"num_gpus": min(1.0, gpus / (n_fields * actors)), "num_cpus": TASK_CPUS}
    spare = max(cpus - IO_CPUS, TASK_CPUS)
    actors = actors or max(1, int(spare // (n_fields * CPUS_PER_ACTOR)))
    return actors, {"num_cpus": min(float(CPUS_PER_ACTOR), spare / (n_fields * actors))}


class RayEngine(IngestEngine):
    """Runs the job on a Ray cluster. ``address``: "auto", "ray://host:10001", or None for a Ray started on this
    machine; ``actors``: embedding actors per vector field (default: from the cluster's CPUs or GPUs); ``bulk``:
    a folder, or ``s3://bucket/prefix`` for a Milvus server's object store, where new products are written as
    bulk-import files instead of upserts. See docs/scale-out.md."""

    def __init__(self, *, address: str | None = None, actors: int | None = None, bulk: str | None = None):
        self.address, self.actors, self.bulk = address, actors, bulk

    def run(self, job: IngestJob) -> IngestSummary:
        try:
            import ray
            import ray.data  # noqa: F401
        except ImportError:
            raise IngestError(RAY_HINT) from None
        config, bulk = job.config, self.bulk
        if bulk is not None:
            from multimodal_rag.ingestion.bulk import check_destination

            check_destination(bulk, config.store)
        started = time.perf_counter()
        files = catalog_files(job.catalog)  # fails now on a missing catalog, before Ray or the store start
        summary = IngestSummary(embedded={v.name: 0 for v in config.vectors})
        report = ErrorReport(job.errors_path)
        # Ray first: starting its processes forks this one, which the gRPC of a served Lite folder would rather
        # not see.
        started_ray = _start_ray(self.address, job.progress)
        try:
            shape = ray.get(ray.remote(num_cpus=TASK_CPUS)(_embedder_shape).remote(config))
            # A new collection under [catalog] language = "auto" is analysed in the language of the first file.
            language = lambda: catalog_language(load_catalog(files[0], columns=job.columns))  # noqa: E731
            with _reachable_store(config) as shared, _open_store(shared, shape, create=True,
                                                                  language=language) as store:
                summary.language = store.language
                summary.notes = language_notes(config, store.language)
                ids = _IdCheck(files, report)
                _check_ids(ids, files, job.columns)
                stages = _Stages(shared, shape, files, job.columns, ids, ids.skipped(), self.actors, bulk)
                photos, bulk_files = stages.run(summary, report, job.on_chunk)
                if bulk_files:
                    _import(shared, store, bulk, bulk_files, summary)
                local = [Path(f) for f in files if not is_url(f)]
                root = Path(os.path.commonpath([p.parent for p in local])) if len(local) == len(files) else None
                finish_ingest(store, summary, seen=ids.seen, prune=job.prune, photos=photos, catalog_root=root)
        except ray.exceptions.RayError as exc:
            raise IngestError(f"the Ray job failed: {_cause(exc)}. Products already written are complete; "
                              "rerun the same ingest to finish") from exc
        finally:
            report.close()
            if started_ray:
                ray.shutdown()
        return summary.close(report, started)


def _file_indices(files: list[str]):
    """A dataset of the catalog's file numbers, one block each, so each file is read by its own task."""
    import ray.data

    return ray.data.from_items([{"file": i} for i in range(len(files))], override_num_blocks=len(files))


def _check_ids(ids: _IdCheck, files: list[str], columns: Mapping[str, str] | None) -> None:
    """The first read: every row's id and error, into the driver's id check."""
    read = _ReadRows(files, columns, READ_CHUNK, products=False)
    for batch in _file_indices(files).map_batches(read, batch_size=1, num_cpus=TASK_CPUS).iter_batches(batch_size=None):
        for index, line, pid, field, reason in zip(batch["file"], batch["line"], batch["id"], batch["field"],
                                                   batch["reason"]):
            ids.add(int(index), int(line), str(pid), str(field), str(reason))


class _Stages:
    """The second read and the plan, embed and write stages, run and counted as their blocks come back."""

    def __init__(self, config: Config, shape: EmbedderShape, files: list[str], columns: Mapping[str, str] | None,
                 ids: _IdCheck, skip: frozenset[tuple[int, int]], actors: int | None, bulk: str | None):
        self.ids = ids
        chunk = max(config.ingest.batch_size, 1)  # one embedding batch per block: the stages overlap early
        n_actors, resources = _actors(len(config.vectors), actors)
        # An actor's threads: the CPUs of one actor of every field. The fields' loads are uneven (here
        # MiniLM costs 2-3x the photo model), so a busy actor may use the cores an idle one leaves; measured
        # on 2 CPUs: 136 s for flipkart_1050 against 159 s with threads = its own share.
        threads = 1 if "num_gpus" in resources else max(1, math.ceil(resources["num_cpus"] * len(config.vectors)))
        data = _file_indices(files).map_batches(_ReadRows(files, columns, chunk, products=True, skip=skip),
                                                batch_size=1, num_cpus=TASK_CPUS)
        data = data.map_batches(_plan_batch, fn_kwargs={"config": config, "shape": shape}, batch_size=chunk,
                                num_cpus=TASK_CPUS)
        for v in config.vectors:
            data = data.map_batches(_EmbedField, batch_size=chunk, concurrency=n_actors, **resources,
                                    fn_constructor_kwargs={"config": config, "name": v.name, "threads": threads})
        self.data = data.map_batches(_WriteRows, batch_size=chunk, concurrency=n_actors, num_cpus=TASK_CPUS,
                                     fn_constructor_kwargs={"config": config, "shape": shape, "bulk": bulk})

    def run(self, summary: IngestSummary, report: ErrorReport,
            on_chunk: Callable[[IngestSummary], None] | None) -> tuple[list, list[list[str]]]:
        """Drive the stages; returns the photos' stats and the bulk files written."""
        photos, bulk_files = [], []
        for batch in self.data.iter_batches(batch_size=None):
            embedded: dict[str, int] = {}
            for names in batch["embedded"]:
                for name in _unpack(names):
                    embedded[name] = embedded.get(name, 0) + 1
            summary.count((str(s) for s in batch["status"]), embedded)
            photos.extend(p for p in map(_unpack, batch["photo"]) if p is not None)
            for index, entries in zip(batch["file"], batch["errors"]):
                for entry in _unpack(entries):
                    report.add(entry["line"], entry["id"], entry["field"], entry["reason"],
                               file=self.ids.file_name(int(index)))
            for made in batch["files"]:
                bulk_files.extend(_unpack(made))
            summary.failed = report.rows_failed
            if on_chunk is not None:
                on_chunk(summary)
        return photos, bulk_files


def _import(config: Config, store: ProductStore, bulk: str, groups: list[list[str]], summary: IngestSummary) -> None:
    """Import the bulk files into the collection (remote destinations); a local folder's files are only listed."""
    from multimodal_rag.ingestion.bulk import import_files, is_remote

    summary.bulk_files = [f for group in groups for f in group]
    if is_remote(bulk):
        import_files(config.store, store.physical_name(), groups)


def _cause(exc: BaseException) -> str:
    """The last line (the error itself, after any traceback) of the innermost error a Ray task raised."""
    inner = getattr(exc, "cause", None) or exc
    text = str(inner).strip().splitlines()
    return text[-1] if text else type(inner).__name__
