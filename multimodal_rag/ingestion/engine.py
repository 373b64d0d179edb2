"""What every ingest engine is given and gives back, and what every run does after its writes.

An engine (``local.LocalEngine``, ``ray_engine.RayEngine``) runs the steps of ``steps`` over a catalog into the
configured collection; ``multimodal_rag.ingestion.ingest`` picks one by name.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from collections import Counter
from typing import Callable, Iterable, Mapping

from multimodal_rag.catalog.facets import FacetCounter, FacetVocabulary, most_common
from multimodal_rag.catalog.photos import PhotoProfile, PhotoStats
from multimodal_rag.catalog.product import product_text
from multimodal_rag.config import Config
from multimodal_rag.embedders.mteb import language_gap
from multimodal_rag.ingestion.steps import ErrorReport
from multimodal_rag.store.milvus import FACET_FIELDS, ProductStore


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
    language: str | None = None  # the catalog language its text is analysed in (read from it when "auto")
    notes: list[str] = field(default_factory=list)  # what the user should know: a text model not for the language

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
                  photos: list[PhotoStats], catalog_root: Path | None,
                  counted: VocabularyCounter | None = None) -> None:
    """After the writes: ``prune`` deletes stored products the catalog does not name; the collection records the
    photo profile, the facet vocabulary (``counted`` when the engine counted it along the way, see
    ``record_vocabulary``) and (for a local catalog) the folder its photos may be served from."""
    if prune:
        stale = [pid for pid in store.iter_ids() if pid not in seen]
        summary.deleted = store.delete(stale)
    store.flush()
    store.record_photo_profile(PhotoProfile.from_stats(photos))
    record_vocabulary(store, counted)
    if catalog_root is not None:
        store.record_catalog_root(catalog_root)
    summary.index_changed = store.fit_index() is not None
    summary.index = store.index


# The spelling vocabulary keeps the catalog's most frequent words, enough for any shop's own words while its
# collection property stays small (54,667 Home Depot titles: ~25,000 words, ~150 KB compressed).
MAX_SPELLING_WORDS = 200_000
MAX_WORD_LENGTH = 40
# Products per read when the vocabulary is read back from the store: each read of Milvus Lite passes over the
# stored rows, so fewer, larger reads (54,667 Home Depot products: 17.8 s in reads of 1,000, 6.3 s of 16,000;
# a query's window is at most 16,384).
READ_BATCH = 16_000


class VocabularyCounter:
    """The facet vocabulary and the counts of the searchable words (analysed in the collection's language), counted
    product by product from rows as stored."""

    def __init__(self, store: ProductStore):
        self.analyzer = store.analyzer
        self.sources = store.bm25_sources
        self.facets = FacetCounter()
        self.words: Counter[str] = Counter()

    @property
    def products(self) -> int:
        return self.facets.products

    def add(self, rows: Iterable[Mapping]) -> None:
        for row in rows:
            self.facets.add(row)
            if self.analyzer is not None:
                self.words.update(self.analyzer.words(product_text(row, self.sources)))

    def spelling_words(self) -> dict[str, int] | None:
        """The words spelling is corrected against, or None when the collection's text is not analysed here."""
        if self.analyzer is None:
            return None
        return {w: n for w, n in most_common(self.words, MAX_SPELLING_WORDS) if len(w) <= MAX_WORD_LENGTH}


def record_vocabulary(store: ProductStore, counted: VocabularyCounter | None = None) -> FacetVocabulary:
    """Record the facet vocabulary and the word counts spelling is corrected against with the collection.
    ``counted`` (what an ingest counted of the products it wrote or found unchanged) is recorded when the
    collection holds exactly those products, that is as many (a fresh or pruned ingest, or one of the whole
    catalog again); otherwise every stored product is read once."""
    if counted is None or counted.products != store.count():
        counted = VocabularyCounter(store)
        counted.add(store.rows(sorted({*FACET_FIELDS, *store.bm25_sources}), batch_size=READ_BATCH))
    vocabulary = counted.facets.vocabulary()
    store.record_vocabulary(vocabulary, counted.spelling_words())
    return vocabulary


@dataclass(frozen=True)
class IngestJob:
    """One ingest: the catalog (a file; for the Ray engine also a folder of shards, a glob or an object-store URL),
    the config (its store says where the collection is), and how to run. ``prune`` deletes stored products whose
    id is not in the catalog; ``on_chunk`` is called with the running summary after each chunk."""

    catalog: str | Path
    config: Config
    prune: bool = False
    errors_path: str | Path | None = None
    columns: Mapping[str, str] | None = None
    progress: bool = True
    on_chunk: Callable[[IngestSummary], None] | None = None


class IngestEngine(ABC):
    """Runs an ingest job. Engines differ in where the work runs, never in the collection they leave: the same
    validation, planning, embedding and rows, the same summary and error report."""

    @abstractmethod
    def run(self, job: IngestJob) -> IngestSummary: ...


def language_notes(config: Config, language: str | None) -> list[str]:
    """A note per text field whose model does not speak the catalog's language (queries then leave it out)."""
    return [f"vectors.{v.name}: {gap}" for v in config.vectors
            if v.modality == "text" and (gap := language_gap(v.embedder, language))]
