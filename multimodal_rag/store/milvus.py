"""The product collection in Milvus, on pymilvus ``MilvusClient``: explicit schema, plain calls.

One entity per product: scalar fields, JSON attributes, a content hash per vector field (and one for the
scalars), one vector field per configured embedder, and a BM25 sparse field filled by Milvus' built-in function.
The collection records the config it was made with, so opening it with another config fails at once.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from multimodal_rag.catalog.facets import FacetVocabulary
from multimodal_rag.catalog.photos import PhotoProfile
from multimodal_rag.config import Config, StoreConfig
from multimodal_rag.errors import UserError
from multimodal_rag.store.filters import ids_filter
from multimodal_rag.language.analysis import TextAnalyzer
from multimodal_rag.store.schema import (
    BM25_FIELD,
    SCALAR_FIELDS,
    STANDARD_ANALYSIS,
    Bm25Spec,
    VectorSpec,
    collection_schema,
    fingerprint,
    vector_index,
    vector_specs,
)

log = logging.getLogger(__name__)

# Collection property holding the config a collection was made with (Lite keeps no description).
FINGERPRINT_PROPERTY = "mmrag.fingerprint"
# What the catalog's photos look like (median width and height, share of product shots), recorded by each ingest
# that fetched photos; search brings query photos to it (see multimodal_rag.catalog.photos).
PHOTO_PROFILE_PROPERTY = "mmrag.photos"
# The catalog's facet vocabulary (see multimodal_rag.catalog.facets), collected from the stored products.
FACETS_PROPERTY = "mmrag.facets"
# The words of the products' searchable text with their counts (zlib-compressed JSON, base64): what a query word
# is spelled against.
WORDS_PROPERTY = "mmrag.words"
FACET_FIELDS = ("category", "brand", "attributes", "price")
# The folders the catalogs were ingested from: `mmrag serve` serves local product photos from inside these only.
CATALOG_ROOTS_PROPERTY = "mmrag.catalog_roots"
MAX_CATALOG_ROOTS = 50
INDEX_TYPES = ("FLAT", "IVF_FLAT", "IVF_SQ8", "HNSW", "HNSW_SQ", "AUTOINDEX")
# store.index = "auto": exact FLAT search while the collection is small, HNSW from this many products on
# (benchmarks/scale.py on Milvus Lite: HNSW recall@10 against FLAT 0.998 at 15,000, photo queries 5x faster).
AUTO_HNSW_FROM = 10_000
HNSW_EF = 128  # the candidate list an HNSW search keeps (at least the limit)
QUERY_BATCH = 500
DEFAULT_LANGUAGE = "en"  # a new collection's language when nothing tells another


class StoreError(UserError, RuntimeError):
    """The store cannot be opened or does not fit the config; the message says what to do."""


# Milvus Lite runs one in-process server per folder and keeps it (and the folder's lock) until the process
# exits; we count our own clients per folder and stop the server when the last one closes.
_LITE_CLIENTS: dict[str, int] = {}
_LITE_LOCK = threading.Lock()


# pymilvus pings its channel every 10 s, idle or not; Milvus Lite's in-process server keeps gRPC's default policy
# and answers idle pings with GOAWAY ("too_many_pings"), which fails the next call of a long-lived client (a
# server left idle). Without calls in flight the client does not ping the local server at all.
LITE_GRPC_OPTIONS = {"grpc.keepalive_time_ms": 330_000, "grpc.keepalive_permit_without_calls": False}


def _lite_path(store: StoreConfig) -> str | None:
    return None if store.uri else os.path.abspath(Path(store.db).expanduser())


def release(store: StoreConfig, client: MilvusClient) -> None:
    """Close a client from ``connect``; for Milvus Lite, free the folder once no client of ours uses it."""
    client.close()
    path = _lite_path(store)
    if path is None:
        return
    with _LITE_LOCK:
        _LITE_CLIENTS[path] -= 1
        last = _LITE_CLIENTS[path] == 0
        if last:
            del _LITE_CLIENTS[path]
    if last:
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(path)


def connect(store: StoreConfig) -> MilvusClient:
    """A MilvusClient for the configured store: a Milvus Lite folder (``db``) or a server (``uri``).

    Close it with ``release`` so a Lite folder is free for other processes afterwards."""
    kwargs: dict[str, Any] = {"timeout": store.timeout_s}
    if store.uri:
        target = store.uri
        if store.token:
            kwargs["token"] = store.token
        if store.db_name:
            kwargs["db_name"] = store.db_name
    else:
        target = str(Path(store.db).expanduser())
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        kwargs["grpc_options"] = LITE_GRPC_OPTIONS
    # A server that is starting or restarting refuses for a moment: try again, with backoff, before giving up.
    attempts = 1 + (max(store.retries, 0) if store.uri else 0)
    for attempt in range(attempts):
        try:
            client = MilvusClient(uri=target, **kwargs)
            break
        except Exception as exc:  # pymilvus wraps Lite's lock error in a generic connection error
            failure = exc
            if attempt + 1 < attempts:
                time.sleep(min(0.5 * 2 ** attempt, 5.0))
    else:
        text = _error_chain_text(failure)
        if not store.uri and ("lock" in text.lower() or "open local milvus failed" in text.lower()):
            raise StoreError(
                f"the Milvus Lite store {target} is already open in another process (Lite allows one process "
                f"per folder). Stop that process, or share the store: run `mmrag db serve --db {target}` "
                "and point every process at it with --uri http://127.0.0.1:PORT") from None
        where = redact(store.uri) if store.uri else target
        raise StoreError(f"cannot open the Milvus store at {where} ({attempts} attempt(s)): "
                         f"{_short(redact_text(text, store))}") from None
    path = _lite_path(store)
    if path is not None:
        with _LITE_LOCK:
            _LITE_CLIENTS[path] = _LITE_CLIENTS.get(path, 0) + 1
    return client


def redact(uri: str) -> str:
    """A URI fit to print: credentials in it (``http://user:secret@host``) replaced."""
    import urllib.parse

    parts = urllib.parse.urlsplit(uri)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return uri


def redact_text(text: str, store: StoreConfig) -> str:
    """``text`` with the store's token and URI credentials taken out."""
    if store.token:
        text = text.replace(store.token, "***")
    if store.uri:
        text = text.replace(store.uri, redact(store.uri))
    return text


def _error_chain_text(exc: BaseException) -> str:
    parts = []
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return " <- ".join(parts)


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


class ProductStore:
    """The product collection: schema from the config, checked on open, written and read in batches."""

    def __init__(self, client: MilvusClient, collection: str, vectors: Sequence[VectorSpec],
                 bm25: Bm25Spec | None, index: str = "FLAT", *, store_config: StoreConfig | None = None):
        if index.upper() not in (*INDEX_TYPES, "AUTO"):
            raise StoreError(f"store.index {index!r} is not supported; use \"auto\" or one of {INDEX_TYPES}")
        self.client = client
        self.collection = collection
        self.vectors = tuple(vectors)
        self.bm25 = bm25 if bm25 is not None and bm25.sources else None
        self._analyzer: TextAnalyzer | None = None
        self.configured_index = index.upper()
        # The vector index the collection has (read when it is opened); "auto" creates FLAT.
        self.index = "FLAT" if self.configured_index == "AUTO" else self.configured_index
        self.store_config = store_config

    @classmethod
    def open(cls, config: Config, dimensions: Mapping[str, int], identities: Mapping[str, str],
             *, collection: str | None = None, create: bool = True,
             language: Callable[[], str] | None = None) -> "ProductStore":
        """Open (and with ``create`` make) the configured collection; fails if it was made with another config.

        With ``[catalog] language = "auto"`` an existing collection keeps the language it was made for, and a new
        one takes ``language()`` (an ingest reads it from the catalog), else English."""
        vectors = vector_specs(config, dimensions, identities)
        client = connect(config.store)
        try:
            auto = config.catalog.language == "auto"
            store = cls(client, collection or config.store.collection, vectors, bm25_spec(config),
                        config.store.index, store_config=config.store)
            store.ensure(create=create, language=(language or (lambda: DEFAULT_LANGUAGE)) if auto else None)
        except BaseException:
            release(config.store, client)  # free the Lite folder for the next opener
            raise
        return store

    # -- schema ---------------------------------------------------------------------------------------------

    @property
    def fingerprint(self) -> dict:
        return fingerprint(self.vectors, self.bm25)

    @property
    def bm25_sources(self) -> tuple[str, ...]:
        return self.bm25.sources if self.bm25 is not None else ()

    @property
    def analyzer(self) -> TextAnalyzer | None:
        """The analysis of the BM25 text (products and queries alike); None when Milvus tokenizes raw text."""
        if self.bm25 is None or self.bm25.analysis == STANDARD_ANALYSIS:
            return None
        if self._analyzer is None or self._analyzer.identity != self.bm25.analysis:
            self._analyzer = TextAnalyzer.from_identity(self.bm25.analysis)
        return self._analyzer

    @property
    def language(self) -> str | None:
        """The catalog language the collection's BM25 text is analysed in."""
        return self.bm25.language if self.bm25 is not None else None

    def adopt_language(self, language: str) -> None:
        """Analyse the BM25 text in ``language`` (a config whose language is "auto")."""
        if self.bm25 is not None and self.bm25.analysis != STANDARD_ANALYSIS:
            self.bm25 = replace(self.bm25, analysis=TextAnalyzer(language).identity)

    def ensure(self, *, create: bool = True, language: Callable[[], str] | None = None) -> None:
        """Check the collection (or the alias readers use) against the config; with ``create``, make it as
        version 1 behind an alias of the configured name, so ``mmrag migrate`` can later switch versions.
        ``language`` (a config's "auto"): an existing collection's language is kept, a new one takes
        ``language()``."""
        if self.client.has_collection(self.collection):
            if language is not None:
                stored = Bm25Spec.from_described(self.stored_fingerprint().get("bm25"))
                if stored is not None and stored.language is not None:
                    self.adopt_language(stored.language)
            self._check_fingerprint()
        elif create:
            if language is not None:
                self.adopt_language(language())
            self.create_version(1)
            self.client.create_alias(version_name(self.collection, 1), self.collection)
        else:
            where = ""
            if self.store_config is not None:
                where = (f" --uri {redact(self.store_config.uri)}" if self.store_config.uri
                         else f" --db {self.store_config.db}")
            if self.collection != "products":
                where += f" --collection {self.collection}"
            raise StoreError(f"collection {self.collection!r} does not exist in this store yet; put a catalog in "
                             f"it first: mmrag ingest products.jsonl{where}")
        self.index = self.stored_index() or self.index
        self.client.load_collection(self.collection)

    def stored_index(self) -> str | None:
        """The index type of the collection's first vector field (searches pass its parameters)."""
        if not self.vectors:
            return None
        physical = self.physical_name()
        try:
            names = self.client.list_indexes(physical, field_name=self.vectors[0].vector_field)
            described = self.client.describe_index(physical, names[0]) if names else {}
        except MilvusException:
            return None
        return str(described.get("index_type") or "").upper() or None

    def fit_index(self) -> str | None:
        """With ``store.index = "auto"``: rebuild the vector indexes as HNSW once the collection holds
        ``AUTO_HNSW_FROM`` products. Returns the index type when it changed, else None."""
        if self.configured_index != "AUTO" or self.index != "FLAT" or self.count() < AUTO_HNSW_FROM:
            return None
        physical = self.physical_name()
        self.client.release_collection(physical)
        index = MilvusClient.prepare_index_params()
        for v in self.vectors:
            for name in self.client.list_indexes(physical, field_name=v.vector_field):
                self.client.drop_index(physical, name)
            index.add_index(v.vector_field, **vector_index("HNSW"))
        self.client.create_index(physical, index)
        self.client.load_collection(physical)
        self.index = "HNSW"
        return self.index

    def stored_fingerprint(self) -> dict:
        """The config the collection was made with, as recorded in it."""
        properties = self.client.describe_collection(self.collection).get("properties") or {}
        try:
            stored = json.loads(properties.get(FINGERPRINT_PROPERTY, ""))
        except json.JSONDecodeError:
            stored = None
        if not isinstance(stored, dict) or "mmrag_schema" not in stored:
            raise StoreError(f"collection {self.collection!r} was not made by multimodal-rag; "
                             "choose another name with --collection")
        return stored

    def _properties(self) -> dict:
        return self.client.describe_collection(self.collection).get("properties") or {}

    @property
    def photo_profile(self) -> PhotoProfile | None:
        """What the catalog's photos look like, as the last ingest that fetched photos recorded it."""
        return PhotoProfile.from_json(self._properties().get(PHOTO_PROFILE_PROPERTY))

    def property_list(self, name: str) -> list[str]:
        """A collection property holding a JSON list of strings (empty when absent or unreadable)."""
        try:
            value = json.loads(self._properties().get(name) or "[]")
        except json.JSONDecodeError:
            return []
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

    def record_catalog_root(self, folder: str | Path) -> None:
        roots = self.property_list(CATALOG_ROOTS_PROPERTY)
        folder = str(Path(folder).resolve())
        if folder not in roots:
            roots = [*roots, folder][-MAX_CATALOG_ROOTS:]
            self.client.alter_collection_properties(self.physical_name(),
                                                    properties={CATALOG_ROOTS_PROPERTY: json.dumps(roots)})

    def vocabulary(self) -> FacetVocabulary:
        """The catalog's facet vocabulary as last recorded (empty before the first ingest)."""
        return FacetVocabulary.from_json(self._properties().get(FACETS_PROPERTY))

    def flush(self) -> None:
        """Seal what was written. Call it once at the end of a write: reading every product (the vocabulary) and
        building indexes run on sealed segments, ~5x faster than over growing ones (15,000 Myntra products on
        Lite: the vocabulary 12.3 s unsealed, 2.6 s after a 6.0 s flush that closing the store would pay anyway)."""
        self.client.flush(self.physical_name())

    def rows(self, fields: Sequence[str], *, batch_size: int = 1000) -> Iterator[dict]:
        """Every stored product's ``fields``, in batches of ``batch_size`` (call ``flush`` after writes first)."""
        iterator = self.client.query_iterator(self.collection, batch_size=batch_size, output_fields=list(fields))
        try:
            while batch := iterator.next():
                yield from batch
        finally:
            iterator.close()

    def record_vocabulary(self, vocabulary: FacetVocabulary, words: Mapping[str, int] | None = None) -> None:
        """Record the catalog's facet vocabulary and the counts of its searchable words with the collection."""
        properties = {FACETS_PROPERTY: vocabulary.to_json()}
        if words is not None:
            packed = json.dumps(dict(words), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            properties[WORDS_PROPERTY] = base64.b64encode(zlib.compress(packed, 9)).decode("ascii")
        self.client.alter_collection_properties(self.physical_name(), properties=properties)

    def word_counts(self) -> dict[str, int]:
        """The searchable words of the catalog with their counts, as the last ingest recorded them."""
        value = self._properties().get(WORDS_PROPERTY)
        if not value:
            return {}
        try:
            words = json.loads(zlib.decompress(base64.b64decode(value)))
        except (ValueError, zlib.error):
            log.warning("collection %s: its word counts are unreadable; spelling is not corrected", self.collection)
            return {}
        return {str(w): int(n) for w, n in words.items()} if isinstance(words, dict) else {}

    def record_photo_profile(self, profile: PhotoProfile | None) -> None:
        """Record the profile of the photos a run saw (nothing when it saw none)."""
        if profile is not None:
            self.client.alter_collection_properties(self.physical_name(),
                                                    properties={PHOTO_PROFILE_PROPERTY: profile.to_json()})

    def physical_name(self) -> str:
        """The collection behind the configured name: the alias' target, or the name itself."""
        try:
            return self.client.describe_alias(self.collection)["collection_name"]
        except MilvusException:
            return self.collection

    def _check_fingerprint(self) -> None:
        stored = self.stored_fingerprint()
        if stored != self.fingerprint:
            raise StoreError(
                f"collection {self.collection!r} was made with another config: it has "
                f"{_describe(stored)}, the config asks for {_describe(self.fingerprint)}. Use the config it was "
                "made with, ingest into a new collection with --collection NAME, or move it with `mmrag migrate`")

    def create_version(self, version: int) -> str:
        """Create collection ``<name>__v<version>`` with this store's schema; returns its name."""
        collection = version_name(self.collection, version)
        schema, index = self.schema()
        self.client.create_collection(collection, schema=schema, index_params=index, consistency_level="Strong",
                                      properties={FINGERPRINT_PROPERTY: json.dumps(self.fingerprint, sort_keys=True)})
        return collection

    def schema(self):
        """The collection's schema and index parameters, as this config makes them (bulk-import files follow it)."""
        return collection_schema(self.vectors, self.bm25, self.index)

    # -- reads ----------------------------------------------------------------------------------------------

    @property
    def hash_fields(self) -> list[str]:
        return ["row_hash", *(v.hash_field for v in self.vectors)]

    def _read(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A read that loads the collection again when the server lost it (a restarted Milvus Lite server
        comes back with its collections released) and tries once more."""
        try:
            return method(self.collection, *args, **kwargs)
        except MilvusException as exc:
            text = str(exc).lower()
            if "released" not in text and "not loaded" not in text:
                raise
        log.warning("collection %s was not loaded on the server; loading it again", self.collection)
        self.client.load_collection(self.collection)
        return method(self.collection, *args, **kwargs)

    def search(self, data: list, anns_field: str, expr: str, limit: int,
               output_fields: Sequence[str] = SCALAR_FIELDS) -> list:
        """One search of one vector (or the BM25) field, for each query in ``data``."""
        params = {}
        if self.index.startswith("HNSW") and anns_field != BM25_FIELD:
            # Milvus' default ef (the search's candidate list) is the limit itself; a list of at least 128 keeps
            # recall@10 against exact search at 0.998-1.000 on 15,000-100,000 products (benchmarks/scale.py).
            params = {"search_params": {"params": {"ef": max(HNSW_EF, limit)}}}
        return self._read(self.client.search, data=data, anns_field=anns_field, limit=limit, filter=expr,
                          output_fields=list(output_fields), **params)

    def get(self, ids: Sequence[str], fields: Sequence[str]) -> dict[str, dict]:
        """The given fields of the stored products among ``ids``, by id (missing ids are left out)."""
        found: dict[str, dict] = {}
        ids = list(ids)
        for start in range(0, len(ids), QUERY_BATCH):
            chunk = ids[start:start + QUERY_BATCH]
            rows = self._read(self.client.query, filter=ids_filter(chunk), output_fields=["id", *fields],
                              limit=len(chunk))
            for row in rows:
                found[row["id"]] = row
        return found

    def by_price(self, expr: str, k: int, *, descending: bool = False) -> list[dict]:
        """The ``k`` cheapest (or dearest) products matching ``expr`` that have a price, with their scalar fields.

        Milvus Lite ignores a query's ``order_by``, so the matching products' prices are read in batches (ids and
        prices only) and the best ``k`` kept; only those are then read whole."""
        import heapq

        iterator = self.client.query_iterator(self.collection, batch_size=2000, filter=expr or "",
                                              output_fields=["id", "price"])
        best: list[tuple[float, str]] = []
        sign = -1.0 if descending else 1.0
        try:
            while batch := iterator.next():
                for row in batch:
                    if row.get("price") is not None:
                        # a max-heap of the k best: the worst kept is on top
                        item = (-sign * float(row["price"]), row["id"])
                        if len(best) < k:
                            heapq.heappush(best, item)
                        elif item > best[0]:
                            heapq.heapreplace(best, item)
        finally:
            iterator.close()
        order = [pid for _, pid in sorted(best, key=lambda item: (-item[0], item[1]))]
        rows = self.get(order, list(SCALAR_FIELDS))
        return [rows[pid] for pid in order if pid in rows]

    def iter_ids(self) -> Iterator[str]:
        iterator = self.client.query_iterator(self.collection, batch_size=1000, output_fields=["id"])
        try:
            while True:
                batch = iterator.next()
                if not batch:
                    return
                for row in batch:
                    yield row["id"]
        finally:
            iterator.close()

    def count(self) -> int:
        rows = self._read(self.client.query, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    # -- writes ---------------------------------------------------------------------------------------------

    def upsert(self, rows: Sequence[Mapping[str, Any]]) -> int:
        if not rows:
            return 0
        for row in rows:
            for v in self.vectors:
                got = len(row[v.vector_field])
                if got != v.dimension:
                    raise StoreError(f"product {row['id']!r}: field {v.vector_field} got a {got}-d vector, the "
                                     f"collection holds {v.dimension}-d (embedder {v.embedder}); the embedder "
                                     "does not match the collection")
        try:
            self.client.upsert(self.collection, list(rows))
        except MilvusException as exc:
            raise StoreError(f"writing {len(rows)} products failed: {_short(str(exc))}. Products already written "
                             "are complete; once the store is reachable, rerun the same ingest to finish") from exc
        return len(rows)

    def delete(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        for start in range(0, len(ids), QUERY_BATCH):
            self.client.delete(self.collection, ids=ids[start:start + QUERY_BATCH])
        return len(ids)

    def close(self) -> None:
        if self.store_config is not None:
            release(self.store_config, self.client)
        else:
            self.client.close()

    def __enter__(self) -> "ProductStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_store(config: Config, embedders: Mapping[str, Any], *, collection: str | None = None,
               create: bool = True, language: Callable[[], str] | None = None) -> ProductStore:
    """The configured collection for these embedders (their dimensions and identities)."""
    return ProductStore.open(config, {n: e.dimension for n, e in embedders.items()},
                             {n: e.identity for n, e in embedders.items()}, collection=collection, create=create,
                             language=language)


def bm25_spec(config: Config) -> Bm25Spec | None:
    """The BM25 field a config asks for; with ``[catalog] language = "auto"`` analysed in English until the
    collection's own language is known (``ProductStore.ensure``)."""
    if not config.bm25_sources:
        return None
    settings = config.bm25
    if settings.analyzer == "standard":
        analysis = STANDARD_ANALYSIS
    else:
        language = config.catalog.language
        analysis = TextAnalyzer(DEFAULT_LANGUAGE if language == "auto" else language).identity
    return Bm25Spec(tuple(settings.sources), analysis)


def version_name(alias: str, version: int) -> str:
    return f"{alias}__v{version}"


def _describe(fp: Mapping) -> str:
    vectors = ", ".join(f"{n}={v.get('embedder')}/{v.get('dim')}d" for n, v in (fp.get("vectors") or {}).items())
    return f"vectors [{vectors}] bm25 {fp.get('bm25')}"

