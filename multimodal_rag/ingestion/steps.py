"""The steps every ingest engine composes: validate, hash, plan, fetch, embed, build rows, report.

Each step is a plain function or a small class; the local engine (``local``), the Ray engine (``ray_engine``)
and ``migrate`` compose them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from multimodal_rag.catalog.images import ImageError, ImageFetcher, decode_image
from multimodal_rag.catalog.photos import PhotoStats, photo_stats, profile_weight
from multimodal_rag.catalog.loaders import CatalogRow
from multimodal_rag.catalog.product import Product
from multimodal_rag.config import Config, VectorFieldConfig
from multimodal_rag.embedders.base import Embedder
from multimodal_rag.embedders.cache import EmbeddingCache
from multimodal_rag.embedders.fusion import FusionEmbedder
from multimodal_rag.errors import UserError
from multimodal_rag.language.analysis import TextAnalyzer
from multimodal_rag.language.detect import detect_language
from multimodal_rag.store.milvus import ProductStore
from multimodal_rag.store.schema import BM25_INPUT, FACETS, MISSING, SCALAR_FIELDS, Bm25Spec, facets_text, fit_varchar


class IngestError(UserError, RuntimeError):
    """An ingest that cannot run or went wrong as a whole (a missing engine, a failed cluster job); the message
    says what to do. Bad rows never raise: they go to the ``ErrorReport``."""


# -- error report --------------------------------------------------------------------------------------------

class ErrorReport:
    """Bad rows as JSONL (line, id, field, reason; ``file`` too for a catalog of several files); the file is
    created on the first error only. With ``keep`` the entries are also kept in ``entries`` (a Ray worker's
    report, sent back to the driver's)."""

    def __init__(self, path: str | Path | None, *, keep: bool = False):
        self.path = Path(path) if path else None
        self.entries: list[dict] | None = [] if keep else None
        self._rows: set[tuple[str, int, str]] = set()
        self._lock = threading.Lock()
        self._file = None

    def add(self, line: int, pid: str, field: str, reason: str, *, file: str | None = None) -> None:
        entry = {"line": line, "id": pid, "field": field, "reason": reason}
        if file is not None:
            entry = {"file": file, **entry}
        with self._lock:
            self._rows.add((file or "", line, pid))
            if self.entries is not None:
                self.entries.append(entry)
            if self.path is not None:
                if self._file is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._file = self.path.open("w", encoding="utf-8")
                self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
                self._file.flush()

    @property
    def rows_failed(self) -> int:
        """Rows with at least one error: a row counts once however many of its fields failed."""
        return len(self._rows)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# -- validation ----------------------------------------------------------------------------------------------

def valid_products(rows: Iterable[CatalogRow], report: ErrorReport, seen: dict[str, int]) -> Iterator[tuple[int, Product]]:
    """Products from catalog rows; bad rows and repeated ids go to the report. ``seen`` collects every id
    named in the file (bad rows included, so pruning never deletes a product only because its row broke)."""
    for row in rows:
        if row.error is not None:
            if row.id:
                seen.setdefault(row.id, row.line)
            report.add(row.line, row.id, row.error.field, row.error.reason)
            continue
        first = seen.get(row.id)
        if first is not None:
            report.add(row.line, row.id, "id", duplicate_id_reason(f"line {first}"))
            continue
        seen[row.id] = row.line
        yield row.line, row.product


def duplicate_id_reason(first: str) -> str:
    """The report's reason for a repeated id; ``first`` says where the id first came ("line 4")."""
    return f"duplicate id (first on {first}); this row is skipped"


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def catalog_language(rows: Iterable[CatalogRow]) -> str:
    """The language a catalog is written in, read from its first products' titles and descriptions."""
    return detect_language(f"{r.product.title}\n{r.product.description}" for r in rows if r.product is not None)


# -- hashing and rows ----------------------------------------------------------------------------------------

def content_hash(identity: str, payload: bytes | str) -> str:
    h = hashlib.sha256(identity.encode("utf-8"))
    h.update(b"\x00")
    h.update(payload.encode("utf-8") if isinstance(payload, str) else payload)
    return h.hexdigest()


def scalar_row(product: Product, bm25: Bm25Spec | None, analyzer: TextAnalyzer | None) -> dict[str, Any]:
    """The product's scalar fields as stored (VARCHARs cut to fit), its facets, the BM25 input (analysed by
    ``analyzer``, or raw for Milvus' tokenizer) and ``row_hash``."""
    row: dict[str, Any] = {}
    for name in SCALAR_FIELDS:
        value = getattr(product, name)
        if isinstance(value, str):
            value = fit_varchar(value, name)
        elif name == "attributes":
            value = dict(value)
        row[name] = value
    row[FACETS.name] = fit_varchar(facets_text(row), FACETS.name)
    if bm25 is not None:
        text = product.text(bm25.sources)
        row[BM25_INPUT] = fit_varchar(analyzer.analyze(text) if analyzer is not None else text, BM25_INPUT)
    row["row_hash"] = content_hash("row", json.dumps(row, sort_keys=True, ensure_ascii=False))
    return row


# -- planning a chunk ----------------------------------------------------------------------------------------

@dataclass
class ProductPlan:
    line: int
    product: Product
    row: dict[str, Any]
    hashes: dict[str, str]                       # vector field name -> content hash of its input now
    stored: dict[str, Any] | None                # stored hashes, None when the product is new
    embed: set[str] = field(default_factory=set)  # vector fields to (re)compute
    keep: set[str] = field(default_factory=set)   # vector fields whose stored vector is reused
    prepared: dict[str, Any] = field(default_factory=dict)  # image field -> embedder-prepared input
    # fusion: field -> cache keys of its (text, photo) parts under the dual encoder, None for an absent part
    parts: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    image_failed: bool = False
    photo: PhotoStats | None = None  # size and border of the product photo, when fetched and in the profile sample

    @property
    def status(self) -> str:
        if self.stored is None:
            return "new"
        if self.embed or self.stored.get("row_hash") != self.row["row_hash"]:
            return "updated"
        # A failed image with nothing stored to keep is retried next run, but this run writes nothing new.
        return "unchanged"


@dataclass
class ChunkPlan:
    products: list[ProductPlan]


class ChunkPlanner:
    """Looks up what is stored, fetches and hashes images, and prepares the inputs that must be embedded.

    Runs in a background thread ahead of embedding, so downloads and decoding overlap inference.
    """

    def __init__(self, config: Config, embedders: Mapping[str, Embedder], store: ProductStore,
                 report: ErrorReport, fetcher: ImageFetcher, pool: ThreadPoolExecutor,
                 stored_state: Callable[[list[str]], Mapping[str, dict]] | None = None):
        """``stored_state(ids)`` gives what is stored per id (hash fields); default: the target store's."""
        self.stored_state = stored_state or (lambda ids: store.get(ids, store.hash_fields))
        self.config = config
        self.embedders = embedders
        self.store = store
        self.report = report
        self.fetcher = fetcher
        self.pool = pool
        self.text_fields = [v for v in config.vectors if v.modality == "text"]
        # Fields that need the photo: image fields, and fused fields (photo and text together).
        self.image_fields = [v for v in config.vectors if v.modality in ("image", "fused")]

    def plan(self, chunk: Sequence[tuple[int, Product]]) -> ChunkPlan:
        stored = self.stored_state([p.id for _, p in chunk])
        plans = [self._plan_text(line, product, stored.get(product.id)) for line, product in chunk]
        if self.image_fields:
            list(self.pool.map(self._plan_images, plans))
        return ChunkPlan(plans)

    def _plan_text(self, line: int, product: Product, stored: dict | None) -> ProductPlan:
        plan = ProductPlan(line=line, product=product, row=scalar_row(product, self.store.bm25, self.store.analyzer),
                           hashes={}, stored=stored)
        for v in self.text_fields:
            text = product.text(v.sources)
            plan.hashes[v.name] = content_hash(self.embedders[v.name].identity, text) if text else MISSING
            self._decide(plan, v)
        return plan

    def _decide(self, plan: ProductPlan, v: VectorFieldConfig) -> None:
        new_hash = plan.hashes[v.name]
        old_hash = None if plan.stored is None else plan.stored.get(v.hash_field)
        if new_hash == old_hash and plan.stored is not None:
            plan.keep.add(v.name)
        elif new_hash == MISSING:
            if old_hash:  # the input failed this time; keep what was stored rather than lose it
                plan.hashes[v.name] = old_hash
                plan.keep.add(v.name)
        else:
            plan.embed.add(v.name)

    def _plan_images(self, plan: ProductPlan) -> None:
        product = plan.product
        data = None
        if product.image:
            try:
                data = self.fetcher.fetch(product.image)
                if weight := profile_weight(plan.line):
                    plan.photo = photo_stats(data, weight)
            except ImageError as exc:
                self._image_error(plan, str(exc))
        for v in self.image_fields:
            plan.hashes[v.name] = self._image_hash(plan, v, data)
            self._decide(plan, v)
        wanted = [v for v in self.image_fields if v.name in plan.embed and data]
        if not wanted:
            return
        try:
            image = decode_image(data, max_pixels=self.config.ingest.max_image_pixels)
            for v in wanted:
                plan.prepared[v.name] = self.embedders[v.name].prepare(image)
        except ImageError as exc:
            self._image_error(plan, str(exc))
            for v in wanted:
                plan.embed.discard(v.name)
                plan.prepared.pop(v.name, None)
                plan.hashes[v.name] = self._image_hash(plan, v, None)
                self._decide(plan, v)

    def _image_hash(self, plan: ProductPlan, v: VectorFieldConfig, data: bytes | None) -> str:
        """The content hash of an image or fused field's input; MISSING when there is nothing to embed, or
        when the photo failed and a stored vector can stand in until the next run retries it."""
        emb = self.embedders[v.name]
        if v.modality == "image":
            return content_hash(emb.identity, data) if data else MISSING
        text = plan.product.text(v.text_sources)
        if isinstance(emb, FusionEmbedder):  # the same keys a text or image field of the dual encoder has
            inner = emb.inner.identity
            plan.parts[v.name] = (content_hash(inner, text) if text else None,
                                  content_hash(inner, data) if data else None)
        stored = plan.stored.get(v.hash_field) if plan.stored else None
        if plan.image_failed and stored:
            return MISSING
        if not data and not text:
            return MISSING
        photo = hashlib.sha256(data).hexdigest() if data else ""
        return content_hash(emb.identity, f"{photo}\x00{text}")

    def _image_error(self, plan: ProductPlan, reason: str) -> None:
        plan.image_failed = True
        self.report.add(plan.line, plan.product.id, "image", reason + "; stored with its text, image retried next run")


# -- embedding and rows --------------------------------------------------------------------------------------

def embed_chunk(config: Config, embedders: Mapping[str, Embedder], plans: Sequence[ProductPlan],
                cache: EmbeddingCache | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Vectors for every (product, field) the plans ask for: field name -> product id -> vector. With a cache,
    vectors already computed for the same content (by the same embedder) are read instead. Each embedder runs
    at its own batch size (the fastest for its model on a CPU: 4 photos for EfficientNet-Lite0, 16 texts for
    sentence-transformers), not the chunk's."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for v in config.vectors:
        todo = [p for p in plans if v.name in p.embed]
        if not todo:
            continue
        emb = embedders[v.name]
        if v.modality == "image":
            inputs = [p.prepared.pop(v.name) for p in todo]
            encode = emb.encode_prepared
        elif v.modality == "fused":
            inputs = [(p.product.text(v.text_sources), p.prepared.pop(v.name, None)) for p in todo]
            if cache is not None and isinstance(emb, FusionEmbedder):
                out[v.name] = dict(zip([p.product.id for p in todo],
                                       fuse_through_cache(emb, cache, [p.parts[v.name] for p in todo], inputs)))
                continue
            encode = lambda items: emb.encode_fused([t for t, _ in items], [i for _, i in items])  # noqa: E731
        else:
            inputs = [p.product.text(v.sources) for p in todo]
            encode = emb.encode_texts
        if cache is None:
            vectors = encode(inputs)
        else:
            vectors = cache.through([p.hashes[v.name] for p in todo], lambda idx: encode([inputs[i] for i in idx]))
        out[v.name] = {p.product.id: vec for p, vec in zip(todo, vectors)}
    return out


def fuse_through_cache(emb: FusionEmbedder, cache: EmbeddingCache, parts: Sequence[tuple[str | None, str | None]],
                       inputs: Sequence[tuple[str, Any]]) -> np.ndarray:
    """Fused vectors whose text and photo parts go through the cache under the dual encoder's own keys, so new
    weights, or a text or image field of the same dual encoder, reuse them: only the weighted sum is new."""
    texts, prepared = [t for t, _ in inputs], [i for _, i in inputs]

    def text_vectors(idx: list[int]) -> np.ndarray:
        return cache.through([parts[i][0] for i in idx],
                             lambda missing: emb.inner.encode_texts([texts[idx[j]] for j in missing]))

    def image_vectors(idx: list[int]) -> np.ndarray:
        return cache.through([parts[i][1] for i in idx],
                             lambda missing: emb.inner.encode_prepared([prepared[idx[j]] for j in missing]))

    return emb.fuse(texts, prepared, text_vectors, image_vectors)


def build_rows(store: ProductStore, plans: Sequence[ProductPlan], vectors: Mapping[str, Mapping[str, np.ndarray]],
               kept_source: ProductStore | None = None) -> list[dict[str, Any]]:
    """Full entities for every product that changed: new vectors, kept vectors read back from ``kept_source``
    (default: the target store), zeros for missing inputs."""
    changed = [p for p in plans if p.status != "unchanged"]
    reuse = {p.product.id for p in changed if p.keep}
    specs = {spec.name: spec for spec in store.vectors}
    kept_fields = sorted({specs[name].vector_field for p in changed for name in p.keep})
    kept = (kept_source or store).get(sorted(reuse), kept_fields) if reuse else {}
    rows = []
    for p in changed:
        row = dict(p.row)
        for spec in specs.values():
            if spec.name in vectors and p.product.id in vectors[spec.name]:
                vec = vectors[spec.name][p.product.id]
            elif spec.name in p.keep:
                vec = kept[p.product.id][spec.vector_field]
            else:
                vec = np.zeros(spec.dimension, dtype=np.float32)
            row[spec.vector_field] = np.asarray(vec, dtype=np.float32).tolist()  # in C: 10x a loop of float()
            row[spec.hash_field] = p.hashes[spec.name]
        rows.append(row)
    return rows

