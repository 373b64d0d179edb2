"""Searching the product collection: embed a query, route it to every field that can take it, search each field once
(``ProductStore.search``), and fuse on the client with exactly Milvus' own RRF and weighted formulas (``fusion``).

One pass per query: each field's search returns its candidates with their scores, so every hit carries its
per-field score and rank without a second search, and the fields are searched concurrently. Many queries go
together: their texts and photos are embedded in one model batch per embedder, and each field is searched once
for all of them (one Milvus call with many vectors). ``tests/test_fusion_formulas.py`` checks the fused order
and scores against Milvus' ``hybrid_search`` on the same requests.

A query photo is first brought to what the catalog's photos look like (``QueryPhotoAdapter``). A text query goes
to text vector fields, to BM25 and to image fields whose embedder is a dual encoder; an image query goes to image
fields; fused fields (``fusion:``) take either, and a text-and-image query as one vector combined with the
field's weights. A ``boost`` adds a ranked list of the candidates that satisfy query understanding's constraints,
in the text field's order, and another of those followed by the ones that miss only a constraint a shopper gives
up first (a colour), so they rise without the others being dropped.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from PIL import Image

from multimodal_rag.catalog.photos import QueryPhotoAdapter
from multimodal_rag.config import FUSIONS, VectorFieldConfig
from multimodal_rag.embedders.base import Embedder, ImageEmbedder, TextEmbedder
from multimodal_rag.retrieval.fusion import rrf_scores, weighted_scores
from multimodal_rag.store.milvus import ProductStore
from multimodal_rag.store.schema import BM25_FIELD

BM25 = "bm25"
UNDERSTOOD = "understood"  # the boost list's name among the per-field scores
RELAXED = "understood_relaxed"  # the list of what satisfies the constraints once the soft ones are given up
MAX_PARALLEL_SEARCHES = 8
# A boosted query's fields are searched this deep (the fused list is still cut to k): the products that satisfy
# the understood constraints may rank low in every field. "black shirts for men" on myntra_dev: none of text's or
# BM25's first 10 is a black men's shirt (BM25 prefers "Scullers For Her ... Shirts"); text's 15th is.
BOOST_DEPTH = 100


class UnsupportedQuery(ValueError):
    """No configured field can take the query (say, a text query on an image-only config)."""


@dataclass
class Hit:
    """A product found: its fused score, its stored fields, and each field's own score and rank (1-based)
    among that field's candidates, for the fields where it was a candidate."""

    id: str
    score: float
    fields: dict[str, Any]
    scores: dict[str, float] = field(default_factory=dict)
    ranks: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchQuery:
    """One query: text, a photo (already decoded), or both; a filter expression; how many products; and an
    optional ``boost``: each candidate's tier (0: satisfies every understood constraint, 1: misses only soft ones)
    or None; tier 0 is one more ranked list, and tiers 0 and 1 by tier another.

    The boost works on the candidates the other fields found (searched ``BOOST_DEPTH`` deep), on the client: a
    filtered search for it would cost Milvus Lite seconds per query at 15,000 products (it evaluates filters row
    by row in Python)."""

    text: str | None = None
    image: Image.Image | None = None
    expr: str = ""
    k: int = 10
    boost: Callable[[Mapping[str, Any]], int | None] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class FieldRequest:
    name: str        # vector field name from the config, "bm25", or "understood"
    anns_field: str
    data: Any        # a vector, or the query text for BM25
    expr: str
    metric: str      # "IP" or "BM25"


def _score(request: FieldRequest, distance: float) -> float:
    # Milvus Lite returns BM25 scores negated; report them as positive relevance.
    return abs(float(distance)) if request.metric == "BM25" else float(distance)


class ProductSearcher:
    def __init__(self, store: ProductStore, embedders: Mapping[str, Embedder],
                 vectors: Sequence[VectorFieldConfig], *, fusion: str = "rrf", rrf_k: int = 60,
                 weights: Mapping[str, float] | None = None, fields: Sequence[str] = (),
                 query_photo: QueryPhotoAdapter | None = None):
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, not {fusion!r}")
        self.store = store
        self.embedders = embedders
        self.vectors = tuple(vectors)
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.weights = dict(weights or {})
        self.fields = frozenset(fields)  # empty: every field
        self.query_photo = query_photo or QueryPhotoAdapter()  # default: query photos as they come
        self._pool = ThreadPoolExecutor(max_workers=MAX_PARALLEL_SEARCHES, thread_name_prefix="mmrag-search")

    def _routed(self, name: str) -> bool:
        return not self.fields or name in self.fields

    # -- requests -------------------------------------------------------------------------------------------

    def _encode(self, queries: Sequence[SearchQuery]) -> list[dict[str, Any]]:
        """Per query, the vector each routed field gets (field name -> vector), each embedder called once."""
        # Photos are adapted and prepared in the pool: PIL's resizing releases the GIL, so both cores work on a
        # batch's photos (~3 ms a query photo on Myntra, 40% of the model's time).
        photos = list(self._pool.map(lambda q: None if q.image is None else self.query_photo.adapt(q.image),
                                     queries))
        out: list[dict[str, Any]] = [{} for _ in queries]
        for v in self.vectors:
            if not self._routed(v.name):
                continue
            emb = self.embedders[v.name]
            both = [i for i, q in enumerate(queries) if v.modality == "fused" and q.text and photos[i] is not None]
            texts = [i for i, q in enumerate(queries) if q.text and i not in both and isinstance(emb, TextEmbedder)]
            images = [i for i, q in enumerate(queries)
                      if photos[i] is not None and i not in both and isinstance(emb, ImageEmbedder)]
            if both:
                vectors = emb.encode_fused([queries[i].text for i in both], [emb.prepare(photos[i]) for i in both],
                                           query=True)
                for i, vec in zip(both, vectors):
                    out[i][v.name] = vec
            if texts:
                for i, vec in zip(texts, emb.encode_texts([queries[i].text for i in texts], query=True)):
                    out[i].setdefault(v.name, []).append(vec)
            if images:
                prepared = list(self._pool.map(emb.prepare, [photos[i] for i in images]))
                for i, vec in zip(images, emb.encode_prepared(prepared)):
                    out[i].setdefault(v.name, []).append(vec)
        return out

    def requests(self, query: SearchQuery, vectors: Mapping[str, Any]) -> list[FieldRequest]:
        out = []
        for v in self.vectors:
            if v.name not in vectors:
                continue
            given = vectors[v.name]
            for vec in given if isinstance(given, list) else [given]:
                out.append(FieldRequest(v.name, v.vector_field, [float(x) for x in vec], query.expr, "IP"))
        return out + self._keyword_requests(query)

    def _keyword_requests(self, query: SearchQuery) -> list[FieldRequest]:
        """The BM25 request of a text query (it needs no model, so it can start before the embedders run)."""
        if query.text and self.store.bm25_sources and self._routed(BM25):
            return [FieldRequest(BM25, BM25_FIELD, query.text, query.expr, "BM25")]
        return []

    def _boosted(self, query: SearchQuery, requests: list[FieldRequest], lists: list[list[dict]]) -> None:
        """Add the ``understood`` list: the candidates ``query.boost`` puts in tier 0, in the first text field's
        order (then the other fields' candidates in theirs); and when some are in tier 1, the ``understood_relaxed``
        list of tiers 0 and 1, by tier. Satisfying products are in both lists, so they stay ahead of those that
        miss a soft constraint. Only a query with text gets them."""
        text_fields = {v.name for v in self.vectors if v.modality == "text"} | {BM25}
        source = next((i for i, r in enumerate(requests) if r.name in text_fields), None)
        if query.boost is None or source is None:
            return
        order = [lists[source], *(hits for i, hits in enumerate(lists) if i != source)]
        floor = lists[source][-1]["distance"] if lists[source] else 0.0
        seen: set[str] = set()
        tiered = []
        for n, hits in enumerate(order):
            for h in hits:
                tier = query.boost(h["entity"]) if h["id"] not in seen else None
                if tier is not None:
                    tiered.append((tier, len(tiered), h if n == 0 else {**h, "distance": floor}))
                seen.add(h["id"])
        field, metric = requests[source].anns_field, requests[source].metric
        requests.append(FieldRequest(UNDERSTOOD, field, None, "", metric))
        lists.append([h for tier, _, h in tiered if tier == 0][: query.k])
        if any(tier > 0 for tier, _, _ in tiered):
            requests.append(FieldRequest(RELAXED, field, None, "", metric))
            lists.append([h for _, _, h in sorted(tiered, key=lambda t: t[:2])][: query.k])

    # -- search ---------------------------------------------------------------------------------------------

    def search(self, text: str | None = None, image: Image.Image | None = None, *, k: int = 10,
               expr: str = "", boost: Callable[[Mapping[str, Any]], int | None] | None = None) -> list[Hit]:
        """The top ``k`` products, best first, each with its per-field scores and ranks."""
        return self.search_batch([SearchQuery(text, image, expr, k, boost)])[0]

    def search_batch(self, queries: Sequence[SearchQuery]) -> list[list[Hit]]:
        """``search`` for many queries: one model batch per embedder, one Milvus call per field and filter."""
        for q in queries:
            if not q.text and q.image is None:
                raise ValueError("a query needs text, an image, or both")
        depth = [max(q.k, BOOST_DEPTH) if q.boost is not None else q.k for q in queries]
        # The keyword searches need no model: they start first and run while the embedders encode.
        futures = self._submit([self._keyword_requests(q) for q in queries], depth)
        encoded = self._encode(queries)
        per_query = [self.requests(q, vectors) for q, vectors in zip(queries, encoded)]
        for q, requests in zip(queries, per_query):
            if not requests:
                kinds = " and ".join(k for k, v in (("text", q.text), ("image", q.image is not None)) if v)
                raise UnsupportedQuery(f"no configured field can take a {kinds} query")
        futures.update(self._submit([[r for r in requests if r.name != BM25] for requests in per_query], depth))
        # Every group lists its queries in order, and a query has at most one BM25 request (its last), so these
        # groups pair with the results of the searches started apart.
        found: list[list[list[dict]]] = [[[] for _ in r] for r in per_query]
        for key, members in self._groups(per_query).items():
            for (qi, ri), hits in zip(members, futures[key].result()):
                if per_query[qi][ri].metric == "IP":
                    # Products whose input for this field was missing hold a zero vector (inner product exactly
                    # 0): never rank them. Dropped here rather than filtered in Milvus, where a filter on every
                    # search costs Milvus Lite ~8 ms per query at 15,000 products.
                    hits = [h for h in hits if h["distance"] != 0.0]
                found[qi][ri] = list(hits)[: depth[qi]]
        for q, requests, lists in zip(queries, per_query, found):
            self._boosted(q, requests, lists)
        return [self._fuse(requests, lists, q.k) for q, requests, lists in zip(queries, per_query, found)]

    @staticmethod
    def _groups(per_query: Sequence[Sequence[FieldRequest]]) -> dict[tuple[str, str], list[tuple[int, int]]]:
        """Requests on the same field with the same filter, which go to Milvus together: (query, request) pairs."""
        groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for qi, requests in enumerate(per_query):
            for ri, r in enumerate(requests):
                groups.setdefault((r.anns_field, r.expr), []).append((qi, ri))
        return groups

    def _submit(self, per_query: Sequence[Sequence[FieldRequest]], depth: Sequence[int]) -> dict[tuple[str, str], Any]:
        """One search per group of requests, started in the pool; each as deep as its deepest query needs."""
        return {key: self._pool.submit(self._field_search, [per_query[qi][ri].data for qi, ri in members],
                                       key[0], key[1], max(depth[qi] for qi, _ in members))
                for key, members in self._groups(per_query).items()}

    def _field_search(self, data: list, anns_field: str, expr: str, limit: int) -> list:
        return self.store.search(data, anns_field, expr, limit)

    def _fuse(self, requests: Sequence[FieldRequest], lists: Sequence[Sequence[dict]], k: int) -> list[Hit]:
        entities: dict[str, dict] = {}
        for hits in lists:
            for h in hits:
                entities.setdefault(h["id"], h["entity"])
        if len(requests) == 1:
            fused = {h["id"]: _score(requests[0], h["distance"]) for h in lists[0]}
        elif self.fusion == "rrf":
            fused = rrf_scores([[h["id"] for h in hits] for hits in lists], self.rrf_k)
        else:
            weights = [float(self.weights.get(r.name, 1.0)) for r in requests]
            fused = weighted_scores([[(h["id"], _score(r, h["distance"]), r.metric) for h in hits]
                                     for r, hits in zip(requests, lists)], weights)
        # Equal scores are ordered by id, as Milvus orders them.
        order = sorted(fused, key=lambda pid: (-fused[pid], pid))[:k]
        out = {pid: Hit(pid, fused[pid], entities[pid]) for pid in order}
        for r, hits in zip(requests, lists):
            for rank, h in enumerate(hits, start=1):
                hit = out.get(h["id"])
                if hit is not None and r.name not in hit.ranks:
                    hit.scores[r.name], hit.ranks[r.name] = _score(r, h["distance"]), rank
        return list(out.values())
