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
from typing import Callable, Iterable, Iterator, Mapping

from multimodal_rag.catalog.facets import FacetVocabulary
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
                  photos: list[PhotoStats], catalog_root: Path | None) -> None:
    """After the writes: ``prune`` deletes stored products the catalog does not name; the collection records the
    photo profile, the facet vocabulary and (for a local catalog) the folder its photos may be served from."""
    if prune:
        stale = [pid for pid in store.iter_ids() if pid not in seen]
        summary.deleted = store.delete(stale)
    store.flush()
    store.record_photo_profile(PhotoProfile.from_stats(photos))
    record_vocabulary(store)
    if catalog_root is not None:
        store.record_catalog_root(catalog_root)
    summary.index_changed = store.fit_index() is not None
    summary.index = store.index


# The spelling vocabulary keeps the catalog's most frequent words, enough for any shop's own words while its
# collection property stays small (54,667 Home Depot titles: ~25,000 words, ~150 KB compressed).
MAX_SPELLING_WORDS = 200_000
MAX_WORD_LENGTH = 40


def record_vocabulary(store: ProductStore) -> FacetVocabulary:
    """Read every stored product once: its facets make the facet vocabulary, and the words of its searchable text
    (analysed in the collection's language) with their counts the vocabulary spelling is corrected against."""
    analyzer = store.analyzer
    sources = store.bm25_sources
    words: Counter[str] = Counter()

    def counted(rows: Iterable[dict]) -> Iterator[dict]:
        for row in rows:
            words.update(analyzer.words(product_text(row, sources)))
            yield row

    rows = store.rows(sorted({*FACET_FIELDS, *sources}))
    vocabulary = FacetVocabulary.from_products(counted(rows) if analyzer is not None else rows)
    kept = {w: n for w, n in words.most_common(MAX_SPELLING_WORDS) if len(w) <= MAX_WORD_LENGTH}
    store.record_vocabulary(vocabulary, kept if analyzer is not None else None)
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
