"""Catalogs into the product collection: ``ingest`` with a local or a Ray engine, ``migrate`` to a new config.

- ``steps``: validate, hash, plan, fetch, embed, build rows, report: what every engine composes.
- ``engine``: the job an engine is given, the summary it returns, and what every run does after its writes.
- ``local``: the engine that runs in this process; ``ray_engine``: the same steps as Ray Data stages on a cluster,
  with Milvus bulk-import files (``bulk``) for first loads.
- ``migrate``: the collection moved to a new config behind its alias, re-embedding only what changed.

From the command line: ``mmrag ingest``, ``mmrag migrate``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

from multimodal_rag.config import Config, resolve_config
from multimodal_rag.embedders.base import Embedder
from multimodal_rag.ingestion.engine import IngestEngine, IngestJob, IngestSummary
from multimodal_rag.ingestion.local import LocalEngine
from multimodal_rag.ingestion.ray_engine import RayEngine

ENGINES = ("local", "ray")

__all__ = ["ENGINES", "IngestEngine", "IngestJob", "IngestSummary", "LocalEngine", "RayEngine", "ingest",
           "make_engine"]


def make_engine(name: str, *, embedders: Mapping[str, Embedder] | None = None, ray_address: str | None = None,
                ray_actors: int | None = None, bulk: str | None = None) -> IngestEngine:
    """The engine called ``name`` ("local" or "ray") with its options; an option of the other engine is refused."""
    if name == "local":
        if bulk is not None:
            raise ValueError("bulk import files are written by the Ray engine: pass engine='ray' (--engine ray)")
        return LocalEngine(embedders)
    if name == "ray":
        if embedders is not None:
            raise ValueError("the Ray engine loads the embedders in its actors; do not pass embedders")
        return RayEngine(address=ray_address, actors=ray_actors, bulk=bulk)
    raise ValueError(f"engine must be one of {ENGINES}, not {name!r}")


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
    runner = make_engine(engine, embedders=embedders, ray_address=ray_address, ray_actors=ray_actors, bulk=bulk)
    job = IngestJob(catalog, resolve_config(config, db=db, uri=uri, collection=collection), prune=prune,
                    errors_path=errors_path, columns=columns, progress=progress, on_chunk=on_chunk)
    return runner.run(job)
