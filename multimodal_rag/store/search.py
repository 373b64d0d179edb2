"""Searching the product collection: route a query to every field that can take it, fuse in Milvus.

A query photo larger than the catalog's thumbnails is first shrunk to their size (``query_photo_side``): a CNN
compares a sharp 224-pixel photo with an upscaled 60x80 thumbnail of the same item poorly (measured on Myntra's
image2product: nDCG@10 0.089 as is, 0.550 shrunk to the thumbnails' 80-pixel side first).

A text query goes to text vector fields, to BM25 and to image fields whose embedder is a dual encoder; an
image query goes to image fields; fused fields (``fusion:``) take either, and a text-and-image query as one
vector combined with the field's weights. Several fields are fused with Milvus hybrid search (RRF or weighted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from pymilvus import AnnSearchRequest, RRFRanker, WeightedRanker
from PIL import Image

from multimodal_rag.catalog.images import fit_within
from multimodal_rag.config import FUSIONS, VectorFieldConfig
from multimodal_rag.embedders.base import Embedder, ImageEmbedder, TextEmbedder
from multimodal_rag.store.filters import combine, quote
from multimodal_rag.store.milvus import BM25_FIELD, MISSING, SCALAR_FIELDS, ProductStore

BM25 = "bm25"
MODEL_INPUT_SIDE = 224  # the input side of the common image models: catalogs with smaller photos hold thumbnails


def resolve_query_photo_side(setting: int | str, catalog_side: int | None) -> int:
    """The side query photos are shrunk to: a number as given; "auto" the catalog's median photo side when it is
    below a model's input (thumbnails), else 0 (no shrinking)."""
    if setting == "auto":
        return catalog_side if catalog_side and catalog_side < MODEL_INPUT_SIDE else 0
    return int(setting)


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
class FieldRequest:
    name: str        # vector field name from the config, or "bm25"
    anns_field: str
    data: Any
    expr: str


class ProductSearcher:
    def __init__(self, store: ProductStore, embedders: Mapping[str, Embedder],
                 vectors: Sequence[VectorFieldConfig], *, fusion: str = "rrf", rrf_k: int = 60,
                 weights: Mapping[str, float] | None = None, fields: Sequence[str] = (),
                 query_photo_side: int = 0):
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, not {fusion!r}")
        self.store = store
        self.embedders = embedders
        self.vectors = tuple(vectors)
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.weights = dict(weights or {})
        self.fields = frozenset(fields)  # empty: every field
        self.query_photo_side = query_photo_side  # 0: query photos as they come

    def _routed(self, name: str) -> bool:
        return not self.fields or name in self.fields

    def requests(self, text: str | None, image: Image.Image | None, expr: str = "") -> list[FieldRequest]:
        if image is not None and self.query_photo_side:
            image = fit_within(image, self.query_photo_side)
        out = []
        for v in self.vectors:
            if not self._routed(v.name):
                continue
            emb = self.embedders[v.name]
            # Products whose input for this field was missing hold a zero vector: never rank them here.
            field_expr = combine(expr, f"{v.hash_field} != {quote(MISSING)}")
            if v.modality == "fused" and text and image is not None:
                vector = emb.encode_fused([text], [emb.prepare(image)], query=True)[0]
                out.append(FieldRequest(v.name, v.vector_field, vector.tolist(), field_expr))
                continue
            if text and isinstance(emb, TextEmbedder):
                out.append(FieldRequest(v.name, v.vector_field,
                                        emb.encode_texts([text], query=True)[0].tolist(), field_expr))
            if image is not None and isinstance(emb, ImageEmbedder):
                out.append(FieldRequest(v.name, v.vector_field, emb.encode_images([image])[0].tolist(), field_expr))
        if text and self.store.bm25_sources and self._routed(BM25):
            out.append(FieldRequest(BM25, BM25_FIELD, text, expr))
        return out

    def search(self, text: str | None = None, image: Image.Image | None = None, *, k: int = 10,
               expr: str = "", explain: bool = True) -> list[Hit]:
        """The top ``k`` products, best first. With several fields the fusion is Milvus hybrid search;
        ``explain`` also runs each field's own search so every hit carries its per-field score and rank."""
        if not text and image is None:
            raise ValueError("a query needs text, an image, or both")
        requests = self.requests(text, image, expr)
        if not requests:
            kinds = " and ".join(k for k, v in (("text", text), ("image", image is not None)) if v)
            raise UnsupportedQuery(f"no configured field can take a {kinds} query")
        client, name = self.store.client, self.store.collection
        if len(requests) == 1:
            [r] = requests
            hits = [Hit(h["id"], _score(r, h["distance"]), h["entity"]) for h in self._field_search(r, k)]
            for rank, h in enumerate(hits, start=1):
                h.scores[r.name], h.ranks[r.name] = h.score, rank
            return hits
        reqs = [AnnSearchRequest(data=[r.data], anns_field=r.anns_field, param={}, limit=k, expr=r.expr or None)
                for r in requests]
        if self.fusion == "rrf":
            ranker = RRFRanker(self.rrf_k)
        else:
            ranker = WeightedRanker(*[float(self.weights.get(r.name, 1.0)) for r in requests])
        result = client.hybrid_search(name, reqs, ranker, limit=k, output_fields=list(SCALAR_FIELDS))[0]
        hits = [Hit(h["id"], float(h["distance"]), h["entity"]) for h in result]
        if explain:
            by_id = {h.id: h for h in hits}
            for r in requests:
                for rank, found in enumerate(self._field_search(r, k, output=["id"]), start=1):
                    if found["id"] in by_id:
                        by_id[found["id"]].scores[r.name] = _score(r, found["distance"])
                        by_id[found["id"]].ranks[r.name] = rank
        return hits

    def _field_search(self, r: FieldRequest, k: int, output: Sequence[str] = SCALAR_FIELDS) -> list[dict]:
        return self.store.client.search(self.store.collection, data=[r.data], anns_field=r.anns_field, limit=k,
                                        filter=r.expr, output_fields=list(output))[0]


def _score(request: FieldRequest, distance: float) -> float:
    # Milvus Lite returns BM25 scores negated; report them as positive relevance.
    return abs(float(distance)) if request.name == BM25 else float(distance)
