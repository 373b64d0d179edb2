"""``ProductRetriever``: a langchain-core retriever over the product collection.

``invoke("red running shoes")``, ``invoke("mug", k=3, filters={...})`` or ``invoke(ProductQuery(text=...,
image=..., filters=..., k=...))``; sync and async, and ``batch`` sends many queries in one pass. Documents carry a
readable product card as ``page_content`` and, in ``metadata``, the product's fields, its image reference, the
fused score, each field's own score and rank, and what was understood from the query.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Mapping, Sequence

from dataclasses import replace

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManager,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import get_config_list
from pydantic import BaseModel, ConfigDict, Field

from multimodal_rag.catalog.images import ImageFetcher, load_image
from multimodal_rag.catalog.photos import QueryPhotoAdapter
from multimodal_rag.config import UNDERSTAND, Config, resolve_config
from multimodal_rag.embedders.base import TextEmbedder
from multimodal_rag.embedders.fields import load_embedders
from multimodal_rag.embedders.mteb import language_gap
from multimodal_rag.retrieval.catalog import StoreCatalog, product_card
from multimodal_rag.retrieval.rerank import ProductReranker
from multimodal_rag.retrieval.keywords import QueryKeywords
from multimodal_rag.retrieval.searcher import BM25, RELAXED, UNDERSTOOD, Boost, Hit, ProductSearcher, SearchQuery
from multimodal_rag.retrieval.understanding import Constraint, QueryUnderstanding, Understanding
from multimodal_rag.store.filters import build_filter, combine
from multimodal_rag.store.milvus import ProductStore, open_store
from multimodal_rag.store.schema import SCALAR_FIELDS

logger = logging.getLogger(__name__)


class ProductQuery(BaseModel):
    """A query: text, an image (path, URL, bytes or PIL image), or both; filters as data."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    text: str | None = None
    image: Any = None
    filters: dict[str, Any] | None = None
    raw_filter: str | None = Field(default=None, description="a raw Milvus expression, used as given")
    k: int | None = None
    understand: str | None = Field(default=None, description='"boost", "filter" or "off"; None: the retriever\'s')
    understood: Understanding | None = Field(
        default=None, description="constraints already understood (a conversation's); used instead of the text's")


# What ``invoke`` takes as keyword arguments besides the query itself.
QUERY_KEYWORDS = frozenset({"k", "filters", "image", "raw_filter", "understand", "understood"})


SEARCH_RESULT_KEYS = ("id", "title", "score", "price", "currency", "brand", "category", "image", "scores", "ranks",
                      "rerank_score", "understood")


def search_result(doc: Document) -> dict[str, Any]:
    """One found product as ``mmrag search --json`` and ``POST /api/search`` give it."""
    return {k: doc.metadata.get(k) for k in SEARCH_RESULT_KEYS}


def hit_to_document(hit: Hit, rank: int, understood: Understanding | None = None) -> Document:
    metadata = dict(hit.fields)
    metadata.update(id=hit.id, rank=rank, score=hit.score, scores=dict(hit.scores), ranks=dict(hit.ranks))
    if understood is not None and understood.reported:
        metadata["understood"] = understood.as_dict()
    return Document(page_content=product_card(hit.fields), metadata=metadata, id=hit.id)


class ProductRetriever(BaseRetriever):
    """Products for a text, an image or both, fused across every field that can take the query.

    Keyword arguments at invoke time are part of the query: ``invoke("mug", k=3, filters={"price": {"lt": 500}},
    image="photo.jpg")``. With ``understanding`` (the catalog's facets) a text query's constraints ("red mugs under
    300") are used as ``understand`` says: "boost" adds one ranked list of the products that satisfy them (then of
    those that miss only soft constraints, a colour), "filter" keeps only those (dropping constraints, soft ones
    first, then the last named, when that leaves nothing), "off" ignores them. A
    price bound filters in both modes, and "cheapest"/"most expensive" sorts the matching products by price.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    searcher: ProductSearcher
    k: int = 10
    filters: dict[str, Any] | None = None
    fetcher: ImageFetcher = Field(default_factory=ImageFetcher)
    reranker: ProductReranker | None = None
    rerank_candidates: int = 30
    understanding: QueryUnderstanding | None = None
    understand: str = "boost"
    # A text query's BM25 terms and spelling corrections (None: its text as typed, for Milvus' tokenizer).
    keywords: QueryKeywords | None = None
    # With a price order but no product kind understood, the best this many by relevance are sorted by price.
    sort_candidates: int = 100

    @classmethod
    def from_config(cls, config: Config | str | None = None, *, db: str | None = None, uri: str | None = None,
                    collection: str | None = None, **kwargs: Any) -> "ProductRetriever":
        """Open the configured collection (it must exist) with the config's embedders and search settings.

        ``config`` is a ``Config``, a TOML path or None (the default); ``db`` (a Milvus Lite file), ``uri`` (a
        server) and ``collection`` say where the store is; other keywords set the retriever's fields (``k``...)."""
        config = resolve_config(config, db=db, uri=uri, collection=collection)
        embedders = load_embedders(config)
        store = open_store(config, embedders, create=False)
        try:
            s = config.search
            photos = QueryPhotoAdapter.from_settings(s.query_photo_size, s.query_photo_fit, s.query_photo_crop,
                                                     store.photo_profile)
            searcher = ProductSearcher(store, embedders, config.vectors, fusion=s.fusion, rrf_k=s.rrf_k,
                                       weights=s.weights, fields=_spoken_fields(config, store), query_photo=photos,
                                       depth=s.depth)
            if "keywords" not in kwargs:
                analyzer = store.analyzer
                words = store.word_counts() if s.spelling and analyzer is not None else None
                kwargs["keywords"] = QueryKeywords.for_catalog(analyzer, words, s.spelling)
            if "reranker" not in kwargs and config.reranker.spec != "none":
                kwargs["reranker"] = ProductReranker.from_spec(config.reranker.spec)
            kwargs.setdefault("rerank_candidates", config.reranker.candidates)
            kwargs.setdefault("understand", s.understand)
            if kwargs["understand"] != "off" and "understanding" not in kwargs:
                kwargs["understanding"] = QueryUnderstanding(store.vocabulary(), s.synonyms, s.relax_first,
                                                             language=store.language or "en")
            return cls(searcher=searcher, k=kwargs.pop("k", s.k), **kwargs)
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        self.searcher.store.close()

    def catalog(self) -> StoreCatalog:
        """The catalog this retriever searches, read beyond a search (a ``CatalogReader``)."""
        return StoreCatalog(self.searcher.store)

    def text_encoder(self):
        """``encode(texts) -> normalised vectors`` with the first text field's embedder (query side) that queries
        search, or None when no such field embeds text alone (one whose model does not speak the catalog's language
        is left out of queries, and its nearness of two sentences is noise too)."""
        searched = self.searcher.fields
        for v in self.searcher.vectors:
            embedder = self.searcher.embedders[v.name]
            if v.modality == "text" and isinstance(embedder, TextEmbedder) and (not searched or v.name in searched):
                return lambda texts: embedder.encode_texts(list(texts), query=True)
        return None

    # -- queries ---------------------------------------------------------------------------------------------

    def as_query(self, query: Any, **kwargs: Any) -> ProductQuery:
        """A string, mapping or ``ProductQuery``, with invoke-time keyword arguments folded in."""
        unknown = sorted(set(kwargs) - QUERY_KEYWORDS)
        if unknown:
            raise TypeError(f"unknown keyword argument(s) {unknown}; a query takes {sorted(QUERY_KEYWORDS)}")
        if isinstance(query, str):
            query = ProductQuery(text=query)
        elif isinstance(query, Mapping):
            query = ProductQuery(**query)
        elif not isinstance(query, ProductQuery):
            raise TypeError(f"a query is a string, a mapping or a ProductQuery, not {type(query).__name__}")
        if kwargs:
            if "filters" in kwargs:
                kwargs["filters"] = {**(query.filters or {}), **(kwargs["filters"] or {})}
            query = query.model_copy(update=kwargs)
        return query

    def _plan(self, query: ProductQuery) -> tuple[SearchQuery, Understanding | None, int, str]:
        """The search a query becomes, what was understood from its text, how many documents it returns, and how
        the understood constraints are used."""
        k = query.k or self.k
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a whole number of at least 1, got {k!r}")
        mode = query.understand or self.understand
        if mode not in UNDERSTAND:
            raise ValueError(f"understand must be one of {UNDERSTAND}, not {mode!r}")
        image = None if query.image is None else load_image(query.image, self.fetcher)
        filters = {**(self.filters or {}), **(query.filters or {})}
        expr = combine(build_filter(filters), query.raw_filter or "")
        understood = query.understood if mode != "off" else None
        if understood is None and self.understanding is not None and mode != "off" and query.text:
            understood = self.understanding.understand(query.text)
        first_k = max(k, self.rerank_candidates) if self.reranker is not None else k
        search = SearchQuery(query.text or None, image, expr, first_k)
        if query.text and self.keywords is not None:
            keywords = self.keywords(query.text)
            search = replace(search, keywords=keywords.terms, dense_text=keywords.text)
            if keywords.corrections:
                understood = replace(understood or Understanding(query.text), corrections=keywords.corrections)
        return search, understood, k, mode

    @staticmethod
    def _constrained(search: SearchQuery, understood: Understanding | None, mode: str) -> SearchQuery:
        """The search with the understood constraints applied: prices always as a filter, the rest as the mode
        says: "filter" adds them to the filter; "boost" adds a list of the candidates that satisfy them all, and
        when some are soft (a colour) one of those that satisfy the others."""
        if not understood:
            return search
        prices = [c for c in understood.constraints if c.facet == "price"]
        others = [c for c in understood.constraints if c.facet != "price"]
        expr = combine(search.expr, build_filter(understood.filters(prices)))
        if mode == "filter":
            return replace(search, expr=combine(expr, build_filter(understood.filters(others))))
        if not others:
            return replace(search, expr=expr)
        boosts = [_boost(UNDERSTOOD, understood, others)]
        hard = [c for c in others if not c.soft]
        if hard and len(hard) < len(others):
            boosts.append(_boost(RELAXED, understood, hard))
        return replace(search, expr=expr, boosts=tuple(boosts))

    def _search_many(self, queries: Sequence[ProductQuery]) -> list[list[Document]]:
        plans = [self._plan(q) for q in queries]
        results: list[list[Document] | None] = [None] * len(plans)
        batch = []
        for i, (search, understood, k, mode) in enumerate(plans):
            if understood is not None and understood.sort:
                results[i] = self._sorted_by_price(search, understood, k, mode)
                if results[i]:
                    continue
                # Nothing found has a price (a catalog without prices): the products by relevance, the order
                # given up and said so.
                plans[i] = (search, understood.unsorted(), k, mode)
            batch.append(i)
        found = self.searcher.search_batch([self._constrained(*plans[i][:2], plans[i][3]) for i in batch])
        for i, hits in zip(batch, found):
            search, understood, k, mode = plans[i]
            if not hits and understood:
                hits, understood = self._relaxed(search, understood, mode)
            docs = [hit_to_document(h, rank, understood) for rank, h in enumerate(hits, start=1)]
            if self.reranker is not None:
                docs = list(self.reranker.compress_documents(docs, queries[i]))[:k]
            results[i] = docs[:k]
        return results

    def _relaxed(self, search: SearchQuery, understood: Understanding,
                 mode: str) -> tuple[list[Hit], Understanding]:
        """Constraints that leave nothing are dropped, soft ones (a colour) first, then the last named, until
        something is found."""
        hits: list[Hit] = []
        while understood.constraints and not hits:
            understood = understood.without(understood.loosest())
            hits = self.searcher.search_batch([self._constrained(search, understood, mode)])[0]
        return hits, understood

    def _sorted_by_price(self, search: SearchQuery, understood: Understanding, k: int,
                         mode: str) -> list[Document]:
        """The cheapest (or dearest) products that satisfy every understood constraint, by price. Without a
        product kind understood ("the cheapest one you have"), the best ``sort_candidates`` by relevance are
        sorted instead of the whole catalog."""
        descending = understood.sort == "desc"
        kinds = [c for c in understood.constraints if c.facet != "price"]
        if not kinds:
            ranked = self.searcher.search_batch([replace(self._constrained(search, understood, mode),
                                                         k=self.sort_candidates)])[0]
            priced = sorted((h for h in ranked if h.fields.get("price") is not None),
                            key=lambda h: h.fields["price"], reverse=descending)
            return [hit_to_document(h, rank, understood) for rank, h in enumerate(priced[:k], start=1)]
        while True:
            expr = combine(search.expr, build_filter(understood.filters()))
            rows = self.searcher.store.by_price(expr, k, descending=descending)
            if rows or not understood.constraints:
                break
            understood = understood.without(understood.loosest())
        hits = [Hit(str(row["id"]), float(row["price"]), {f: row.get(f) for f in SCALAR_FIELDS}) for row in rows]
        return [hit_to_document(h, rank, understood) for rank, h in enumerate(hits, start=1)]

    # -- LangChain -------------------------------------------------------------------------------------------

    def _get_relevant_documents(self, query: Any, *, run_manager: CallbackManagerForRetrieverRun,
                                **kwargs: Any) -> list[Document]:
        return self._search_many([self.as_query(query, **kwargs)])[0]

    async def _aget_relevant_documents(self, query: Any, *, run_manager: AsyncCallbackManagerForRetrieverRun,
                                       **kwargs: Any) -> list[Document]:
        # Embedding and the Milvus client block; run them off the event loop.
        return (await asyncio.to_thread(self._search_many, [self.as_query(query, **kwargs)]))[0]

    def batch(self, inputs: list[Any], config: RunnableConfig | list[RunnableConfig] | None = None, *,
              return_exceptions: bool = False, **kwargs: Any) -> list[Any]:
        """Many queries in one pass: one model batch per embedder and one Milvus call per field (``invoke`` one
        at a time gives the same documents). Each query still reports its own retriever run to callbacks."""
        if not inputs:
            return []
        configs = get_config_list(config, len(inputs))
        runs = [self._start_run(q, c) for q, c in zip(inputs, configs)]
        try:
            results: list[Any] = self._search_many([self.as_query(q, **kwargs) for q in inputs])
        except Exception as exc:
            if not return_exceptions:
                for run in runs:
                    run.on_retriever_error(exc)
                raise
            # One bad query must not fail the others: answer them one by one.
            results = []
            for q in inputs:
                try:
                    results.append(self._search_many([self.as_query(q, **kwargs)])[0])
                except Exception as one:
                    results.append(one)
        for run, result in zip(runs, results):
            run.on_retriever_error(result) if isinstance(result, Exception) else run.on_retriever_end(result)
        return results

    async def abatch(self, inputs: list[Any], config: RunnableConfig | list[RunnableConfig] | None = None, *,
                     return_exceptions: bool = False, **kwargs: Any) -> list[Any]:
        return await asyncio.to_thread(self.batch, inputs, config, return_exceptions=return_exceptions, **kwargs)

    def _start_run(self, query: Any, config: RunnableConfig):
        manager = CallbackManager.configure(config.get("callbacks"), None, inheritable_tags=config.get("tags"),
                                            local_tags=self.tags, inheritable_metadata=config.get("metadata"),
                                            local_metadata=self.metadata)
        text = query if isinstance(query, str) else str(getattr(query, "text", None) or query)
        return manager.on_retriever_start(None, text, name=config.get("run_name") or self.get_name(),
                                          run_id=config.get("run_id"))


def _boost(name: str, understood: Understanding, constraints: Sequence[Constraint]) -> Boost:
    """The list of the products that satisfy every one of the constraints: as a test of a product's stored fields,
    and as a filter."""
    return Boost(name, replace(understood, constraints=tuple(constraints)).satisfied_by,
                 build_filter(understood.filters(constraints)))


def _spoken_fields(config: Config, store: ProductStore) -> tuple[str, ...]:
    """The fields a query searches: the configured ones (none: all), less a text field whose model the MTEB
    table says does not speak the collection's language (an English model on a Chinese catalog ranks its
    products as noise: 0.25 nDCG@10 against BM25's 0.92 on our zh dev store), unless nothing else would be left."""
    routed = list(config.search.fields) or [v.name for v in config.vectors] + [BM25] * (store.bm25 is not None)
    silent = set()
    for v in config.vectors:
        if v.modality == "text" and v.name in routed and (gap := language_gap(v.embedder, store.language)):
            silent.add(v.name)
            logger.warning("%s field %r: %s", store.collection, v.name, gap)
    kept = [name for name in routed if name not in silent]
    return tuple(kept) if kept else tuple(config.search.fields)
