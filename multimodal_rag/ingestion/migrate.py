"""``migrate``: move a collection to a new config without downtime and without re-embedding what is unchanged.

Readers use the configured name, an alias. The migration builds the next version of the collection from the
products stored in the current one, copies every vector whose field keeps its embedder, dimension and sources
(its content hash proves the input is the same), embeds only new or changed fields (images fetched again from
their stored reference), then points the alias at the new version in one call. The old version stays, so a
rollback is one alias switch. Writes made to the old version while the migration runs are not carried over:
pause ingests, or rerun the ingest afterwards (it only fills in what differs).

From the command line: ``mmrag migrate --config NEW``.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Iterator, Mapping

from multimodal_rag.catalog.images import ImageFetcher
from multimodal_rag.catalog.photos import PhotoProfile, PhotoStats
from multimodal_rag.catalog.product import RowError, product_from_row
from multimodal_rag.config import Config
from multimodal_rag.embedders.base import Embedder
from multimodal_rag.embedders.fields import load_embedders
from multimodal_rag.ingestion.engine import record_vocabulary
from multimodal_rag.ingestion.steps import ChunkPlanner, ErrorReport, build_rows, embed_chunk
from multimodal_rag.language.detect import detect_language
from multimodal_rag.store.milvus import (CATALOG_ROOTS_PROPERTY, ProductStore, StoreError, bm25_spec, connect, release,
                                         version_name)
from multimodal_rag.store.schema import SCALAR_FIELDS, Bm25Spec, vector_specs

BATCH = 256


@dataclass
class MigrateSummary:
    source: str = ""
    target: str = ""
    alias: str = ""
    products: int = 0
    reused: dict[str, int] = field(default_factory=dict)
    embedded: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def reusable_fields(old: Mapping, new: ProductStore) -> list[str]:
    """New vector fields whose old namesake has the same embedder identity, dimension and sources."""
    old_vectors = old.get("vectors") or {}
    return [v.name for v in new.vectors if old_vectors.get(v.name) == v.described()]


def _stored_rows(source: ProductStore) -> Iterator[list[dict]]:
    iterator = source.client.query_iterator(source.collection, batch_size=BATCH, output_fields=list(SCALAR_FIELDS))
    try:
        while batch := iterator.next():
            yield batch
    finally:
        iterator.close()


def _catalog_language(source: ProductStore, fingerprint: Mapping) -> str:
    """The language the source collection was analysed in; read from its products when it was not recorded (a
    collection of an earlier version, or analysed by Milvus' standard tokenizer)."""
    stored = Bm25Spec.from_described(fingerprint.get("bm25"))
    if stored is not None and stored.language is not None:
        return stored.language
    return detect_language(f"{row.get('title') or ''} {row.get('description') or ''}"
                           for row in source.rows(["title", "description"]))


def _next_version(source: ProductStore, alias: str) -> int:
    match = re.fullmatch(re.escape(alias) + r"__v(\d+)", source.physical_name())
    version = int(match.group(1)) + 1 if match else 2
    while source.client.has_collection(version_name(alias, version)):
        version += 1  # a migration that stopped half way left this one: keep it for inspection
    return version


def migrate(config: Config, *, progress: bool = True,
                embedders: Mapping[str, Embedder] | None = None) -> MigrateSummary:
    """Move the collection named ``config.store.collection`` to ``config``'s fields; returns what was done."""
    from tqdm.auto import tqdm

    started = time.perf_counter()
    embedders = dict(embedders) if embedders is not None else load_embedders(config)
    alias = config.store.collection
    specs = vector_specs(config, {n: e.dimension for n, e in embedders.items()},
                         {n: e.identity for n, e in embedders.items()})
    client = connect(config.store)
    try:
        if not client.has_collection(alias):
            raise StoreError(f"collection {alias!r} does not exist: nothing to migrate (run `mmrag ingest`)")
        source = ProductStore(client, alias, [], None)  # read through the alias, as any reader does
        if source.physical_name() == alias:
            raise StoreError(f"collection {alias!r} was made before versioned collections; ingest into a new "
                             "collection with --collection NAME instead")
        old = source.stored_fingerprint()
        builder = ProductStore(client, alias, specs, bm25_spec(config), config.store.index)
        if config.catalog.language == "auto":
            builder.adopt_language(_catalog_language(source, old))
        if old == builder.fingerprint:
            raise StoreError(f"collection {alias!r} already has this config: nothing to migrate")
        target = ProductStore(client, builder.create_version(_next_version(source, alias)), specs,
                              builder.bm25, config.store.index)
        client.load_collection(target.collection)
        reuse = reusable_fields(old, target)
        summary = MigrateSummary(source=source.physical_name(), target=target.collection, alias=alias,
                                 reused={n: 0 for n in reuse}, embedded={v.name: 0 for v in config.vectors})
        report = ErrorReport(None)
        settings = config.ingest
        fetcher = ImageFetcher(timeout_s=settings.image_timeout_s, retries=settings.image_retries,
                               max_bytes=settings.max_image_bytes)
        donor_hashes = [v.hash_field for v in target.vectors if v.name in reuse]
        bar = tqdm(total=source.count(), unit="product", desc="migrate", disable=not progress, leave=False)
        with ThreadPoolExecutor(max_workers=max(settings.image_workers, 1)) as pool:
            # What the old version stores stands in for "already stored": equal hashes mean the vector is copied.
            planner = ChunkPlanner(config, embedders, target, report, fetcher, pool,
                                   stored_state=lambda ids: source.get(ids, donor_hashes))
            photos: list[PhotoStats] = []
            for batch in _stored_rows(source):
                chunk = []
                for row in batch:
                    try:
                        chunk.append((0, product_from_row(row)))
                    except RowError as exc:
                        report.add(0, row.get("id", ""), exc.field, exc.reason)
                plans = planner.plan(chunk).products
                vectors = embed_chunk(config, embedders, plans)
                target.upsert(build_rows(target, plans, vectors, kept_source=source))
                for p in plans:
                    for name in p.keep:
                        summary.reused[name] += 1
                    if p.photo is not None:
                        photos.append(p.photo)
                for name, by_id in vectors.items():
                    summary.embedded[name] += len(by_id)
                summary.products += len(plans)
                bar.update(len(batch))
        bar.close()
        summary.failed = report.rows_failed
        written = target.count()
        if written != summary.products:
            raise StoreError(f"{target.collection} holds {written} products, {summary.products} were written; "
                             f"the alias {alias!r} still points at {summary.source}")
        target.flush()
        target.record_photo_profile(PhotoProfile.from_stats(photos) or source.photo_profile)
        record_vocabulary(target)
        for root in source.property_list(CATALOG_ROOTS_PROPERTY):
            target.record_catalog_root(root)
        target.fit_index()
        client.alter_alias(target.collection, alias)  # readers switch here, between two of their calls
    finally:
        release(config.store, client)
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary
