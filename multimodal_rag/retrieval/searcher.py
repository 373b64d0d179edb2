"""Searching the product collection: embed a query, route it to every field that can take it, search each field once
(``ProductStore.search``), and fuse the fields' lists on the client (``fusion``).

One pass per query: each field's search returns its candidates, ``depth`` deep, with their stored fields, so every
hit carries its per-field score and rank and the products returned need no second read; the fields are searched
concurrently. Many queries go together: their texts and photos are embedded in one model batch per embedder, and
each field is searched once for all of them (one Milvus call with many vectors). ``tests/test_fusion_formulas.py``
checks RRF and weighted fusion against Milvus' ``hybrid_search`` on the same requests.

A query photo is first brought to what the catalog's photos look like (``QueryPhotoAdapter``). A text query goes
to text vector fields (its text as corrected), to BM25 (its analysed terms, corrections included) and to image
fields whose embedder is a dual encoder; an image query goes to image fields; fused fields (``fusion:``) take
either, and a text-and-image query as one vector combined with the field's weights. A query's ``boosts`` are more
lists drawn from the candidates of its BM25 field (else its first text field), each keeping those whose stored
fields satisfy a condition: what the query names ("understood"), and the same once the facets a shopper gives up
first are dropped ("understood_relaxed", the full matches first); fused with the rest, they rise without the others
being dropped. Drawn on the client, a boost costs no search (a filtered search on Milvus Lite costs more than the
query's other searches together: ~20 ms at 15,000 products, the filter read row by row); only when the candidates
hold fewer than k matches is the field searched under the boost's filter, so the matches reach past them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from PIL import Image

from multimodal_rag.catalog.photos import QueryPhotoAdapter
from multimodal_rag.config import FUSIONS, UNDERSTOOD_LIST, SearchConfig, VectorFieldConfig
from multimodal_rag.embedders.base import Embedder, ImageEmbedder, TextEmbedder
from multimodal_rag.retrieval.fusion import relative_scores, rrf_scores, weighted_scores
from multimodal_rag.store.filters import combine
from multimodal_rag.store.milvus import ProductStore
from multimodal_rag.store.schema import BM25_FIELD, SCALAR_FIELDS

BM25 = "bm25"
UNDERSTOOD = UNDERSTOOD_LIST  # the list of the products that satisfy what the query names
RELAXED = "understood_relaxed"  # ... once the facets a shopper gives up first are dropped (weighted as UNDERSTOOD)
MAX_PARALLEL_SEARCHES = 8
DEFAULT_DEPTH = SearchConfig.model_fields["depth"].default
# What a boost keeps of its source list's candidates: a test on a product's stored fields.
ProductTest = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class Boost:
    """One more list for a query: ``name`` (its weight's), the candidates of its source field that pass ``test``,
    or, when fewer than the query's k do, that field searched under ``expr`` (the same condition as a filter)."""

    name: str
    test: ProductTest
    expr: str


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
    """One query: text, a photo (already decoded), or both; a filter expression; how many products. ``keywords``:
    what BM25 searches (the text's analysed terms; None: the text as written); ``dense_text``: what text vector
    fields embed (None: the text); ``boosts``: more lists, each the candidates of the BM25 field (else the first
    text field) that pass its test."""

    text: str | None = None
    image: Image.Image | None = None
    expr: str = ""
    k: int = 10
    keywords: str | None = None
    dense_text: str | None = None
    boosts: tuple[Boost, ...] = ()


@dataclass(frozen=True)
class FieldRequest:
    name: str        # vector field name from the config, "bm25", "understood" or "understood_relaxed"
    anns_field: str
    data: Any        # a vector, or the analysed query text for BM25
    expr: str
    metric: str      # "IP" or "BM25"
    keeps: ProductTest | None = None  # a boost: the source request's candidates that pass this test (else: expr)


def _score(request: FieldRequest, distance: float) -> float:
    # Milvus Lite returns BM25 scores negated; report them as positive relevance.
    return abs(float(distance)) if request.metric == "BM25" else float(distance)


class ProductSearcher:
    def __init__(self, store: ProductStore, embedders: Mapping[str, Embedder],
                 vectors: Sequence[VectorFieldConfig], *, fusion: str = "rrf", rrf_k: int = 60,
                 weights: Mapping[str, float] | None = None, fields: Sequence[str] = (),
                 query_photo: QueryPhotoAdapter | None = None, depth: int = DEFAULT_DEPTH):
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
        self.depth = depth
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
        texts_of = [q.dense_text or q.text for q in queries]
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
                vectors = emb.encode_fused([texts_of[i] for i in both], [emb.prepare(photos[i]) for i in both],
                                           query=True)
                for i, vec in zip(both, vectors):
                    out[i][v.name] = vec
            if texts:
                for i, vec in zip(texts, emb.encode_texts([texts_of[i] for i in texts], query=True)):
                    out[i].setdefault(v.name, []).append(vec)
            if images:
                prepared = list(self._pool.map(emb.prepare, [photos[i] for i in images]))
                for i, vec in zip(images, emb.encode_prepared(prepared)):
                    out[i].setdefault(v.name, []).append(vec)
        return out

    def requests(self, query: SearchQuery, vectors: Mapping[str, Any],
                 keyword: Sequence[FieldRequest] | None = None) -> list[FieldRequest]:
        """The query's requests: one per field that takes it (a text field of a dual encoder may get a photo and a
        text vector; ``keyword``: its BM25 request, when already made), then its boosts, each drawn from the
        candidates of the first text field's request."""
        out = []
        for v in self.vectors:
            if v.name not in vectors:
                continue
            given = vectors[v.name]
            for vec in given if isinstance(given, list) else [given]:
                out.append(FieldRequest(v.name, v.vector_field, [float(x) for x in vec], query.expr, "IP"))
        out += self._keyword_requests(query) if keyword is None else keyword
        # Boosts draw on BM25 where the query has it: every product whose facets match holds their words (the BM25
        # text includes them), so its candidates hold the matches a shopper's words point at.
        text_fields = [BM25] + [v.name for v in self.vectors if v.modality == "text"]
        source = min((r for r in out if r.name in text_fields), key=lambda r: text_fields.index(r.name), default=None)
        if source is not None:
            out += [FieldRequest(b.name, source.anns_field, source.data, combine(source.expr, b.expr), source.metric,
                                 b.test) for b in query.boosts]
        return out

    def _keyword_requests(self, query: SearchQuery) -> list[FieldRequest]:
        """The BM25 request of a text query (it needs no model, so it can start before the embedders run)."""
        terms = query.keywords if query.keywords is not None else query.text
        if query.text and terms and self.store.bm25_sources and self._routed(BM25):
            return [FieldRequest(BM25, BM25_FIELD, terms, query.expr, "BM25")]
        return []

    # -- search ---------------------------------------------------------------------------------------------

    def search(self, text: str | None = None, image: Image.Image | None = None, *, k: int = 10,
               expr: str = "", **query: Any) -> list[Hit]:
        """The top ``k`` products, best first, each with its per-field scores and ranks."""
        return self.search_batch([SearchQuery(text, image, expr, k, **query)])[0]

    def search_batch(self, queries: Sequence[SearchQuery]) -> list[list[Hit]]:
        """``search`` for many queries: one model batch per embedder, one Milvus call per field and filter, one
        read of the products returned."""
        for q in queries:
            if not q.text and q.image is None:
                raise ValueError("a query needs text, an image, or both")
        depth = [max(q.k, self.depth) for q in queries]
        # The keyword searches need no model: they start first and run while the embedders encode.
        keyword = [self._keyword_requests(q) for q in queries]
        early = self._submit(keyword, depth)
        encoded = self._encode(queries)
        per_query = [self.requests(q, vectors, started) for q, vectors, started in zip(queries, encoded, keyword)]
        for q, requests in zip(queries, per_query):
            if not requests:
                kinds = " and ".join(k for k, v in (("text", q.text), ("image", q.image is not None)) if v)
                raise UnsupportedQuery(f"no configured field can take a {kinds} query")
        rest = [[r for r in requests if r.keeps is None and not any(r is k for k in started)]
                for requests, started in zip(per_query, keyword)]
        # A query with one list (a photo on one image field) has nothing to fuse: its first k are the answer.
        late = self._submit(rest, [q.k if len(requests) == 1 else d
                                   for q, requests, d in zip(queries, per_query, depth)])
        found: list[list[list[dict]]] = [[] for _ in queries]
        for qi, requests in enumerate(per_query):
            by_request = {id(r): hits for r, hits in [*self._results(early, keyword, qi),
                                                       *self._results(late, rest, qi)]}
            found[qi] = [by_request[id(r)] if r.keeps is None else _kept(r, requests, by_request) for r in requests]
        self._top_up(queries, per_query, found, depth)
        for requests, lists in zip(per_query, found):
            _tiered(requests, lists)
        return [self._fuse(requests, lists, q.k) for q, requests, lists in zip(queries, per_query, found)]

    def _top_up(self, queries: Sequence[SearchQuery], per_query: Sequence[Sequence[FieldRequest]],
                found: list[list[list[dict]]], depth: Sequence[int]) -> None:
        """A boost whose source's candidates hold fewer than the query's k products that pass its test becomes the
        source field searched under the boost's filter: what a shopper names then reaches past what the fields
        ranked (the 10 black men's shirts below 274 T-shirts), at the cost of a filtered search only then."""
        thin = [[r for r, hits in zip(requests, lists) if r.keeps is not None and len(hits) < q.k]
                for q, requests, lists in zip(queries, per_query, found)]
        if not any(thin):
            return
        submitted = self._submit(thin, depth)
        for qi, requests in enumerate(per_query):
            for request, hits in self._results(submitted, thin, qi):
                found[qi][next(i for i, r in enumerate(requests) if r is request)] = hits

    @staticmethod
    def _groups(per_query: Sequence[Sequence[FieldRequest]]) -> dict[tuple[str, str], list[tuple[int, int]]]:
        """Requests on the same field with the same filter, which go to Milvus together: (query, request) pairs."""
        groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for qi, requests in enumerate(per_query):
            for ri, r in enumerate(requests):
                groups.setdefault((r.anns_field, r.expr), []).append((qi, ri))
        return groups

    def _submit(self, per_query: Sequence[Sequence[FieldRequest]], depth: Sequence[int]) -> list:
        """One search per group of requests, started in the pool, each as deep as its deepest query needs, its
        candidates with their stored fields: (the group's (query, request) pairs, the future of its results)."""
        return [(members, self._pool.submit(self.store.search, [per_query[qi][ri].data for qi, ri in members],
                                            key[0], key[1], max(depth[qi] for qi, _ in members), SCALAR_FIELDS))
                for key, members in self._groups(per_query).items()]

    @staticmethod
    def _results(submitted: list, per_query: Sequence[Sequence[FieldRequest]], qi: int):
        """(request, its candidates) for query ``qi``'s requests among the ``submitted`` groups."""
        for members, future in submitted:
            for (member, ri), hits in zip(members, future.result()):
                if member != qi:
                    continue
                request = per_query[qi][ri]
                if request.metric == "IP":
                    # Products whose input for this field was missing hold a zero vector (inner product exactly
                    # 0): never rank them. Dropped here rather than filtered in Milvus, where a filter on every
                    # search costs Milvus Lite ~8 ms per query at 15,000 products.
                    hits = [h for h in hits if h["distance"] != 0.0]
                yield request, list(hits)

    def _weight(self, request: FieldRequest) -> float:
        return float(self.weights.get(UNDERSTOOD if request.name == RELAXED else request.name, 1.0))

    def _fuse(self, requests: Sequence[FieldRequest], lists: Sequence[Sequence[dict]], k: int) -> list[Hit]:
        """The best ``k`` of the lists by the configured fusion (ties by id, as Milvus orders them), each with its
        stored fields and every list's own score and rank of it."""
        if len(requests) == 1:
            fused = {h["id"]: _score(requests[0], h["distance"]) for h in lists[0]}
        elif self.fusion == "rrf":
            fused = rrf_scores([[h["id"] for h in hits] for hits in lists], self.rrf_k)
        elif self.fusion == "relative":
            # A boost list says which products satisfy what the query names, all alike: each member counts whole
            # (scaled by its own range, the last would count nothing).
            fused = relative_scores([[(h["id"], 1.0 if r.name in (UNDERSTOOD, RELAXED) else _score(r, h["distance"]))
                                      for h in hits] for r, hits in zip(requests, lists)],
                                    [self._weight(r) for r in requests])
        else:
            fused = weighted_scores([[(h["id"], _score(r, h["distance"]), r.metric) for h in hits]
                                     for r, hits in zip(requests, lists)], [self._weight(r) for r in requests])
        order = sorted(fused, key=lambda pid: (-fused[pid], pid))[:k]
        out = {pid: Hit(pid, fused[pid], {}) for pid in order}
        for r, hits in zip(requests, lists):
            for rank, h in enumerate(hits, start=1):
                hit = out.get(h["id"])
                if hit is not None and r.name not in hit.ranks:
                    hit.scores[r.name], hit.ranks[r.name] = _score(r, h["distance"]), rank
                    hit.fields = hit.fields or {name: h["entity"].get(name) for name in SCALAR_FIELDS}
        return list(out.values())


def _tiered(requests: Sequence[FieldRequest], lists: list[list[dict]]) -> None:
    """The relaxed list by tier: the products that satisfy everything (the understood list, which satisfy the
    relaxed filter too) first, then those that miss only a soft facet, so the full matches stay ahead in it too."""
    names = [r.name for r in requests]
    if UNDERSTOOD in names and RELAXED in names:
        full = lists[names.index(UNDERSTOOD)]
        ids = {h["id"] for h in full}
        at = names.index(RELAXED)
        lists[at] = (full + [h for h in lists[at] if h["id"] not in ids])[: max(len(lists[at]), len(full))]


def _kept(boost: FieldRequest, requests: Sequence[FieldRequest], found: Mapping[int, list[dict]]) -> list[dict]:
    """A boost's list: the candidates of its source request (the searched one on the same field) that pass its
    test, in the source's order."""
    source = next(r for r in requests if r.keeps is None and r.anns_field == boost.anns_field)
    return [h for h in found[id(source)] if boost.keeps(h["entity"])]
