"""``ProductRetriever``: a langchain-core retriever over the product collection.

``invoke("red running shoes")`` or ``invoke(ProductQuery(text=..., image=..., filters=..., k=...))``; sync and
async. Documents carry a readable product card as ``page_content`` and, in ``metadata``, the product's fields,
its image reference, the fused score and each field's own score and rank.
"""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import BaseModel, ConfigDict, Field

from multimodal_rag.catalog.images import ImageFetcher, load_image
from multimodal_rag.config import Config, load_config
from multimodal_rag.retrieval.rerank import ProductReranker
from multimodal_rag.store.filters import build_filter, combine
from multimodal_rag.store.search import Hit, ProductSearcher, resolve_query_photo_side

CARD_ATTRIBUTES = 8
CARD_DESCRIPTION_CHARS = 300


class ProductQuery(BaseModel):
    """A query: text, an image (path, URL, bytes or PIL image), or both; filters as data."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    text: str | None = None
    image: Any = None
    filters: dict[str, Any] | None = None
    raw_filter: str | None = Field(default=None, description="a raw Milvus expression, used as given")
    k: int | None = None


def product_card(fields: Mapping[str, Any]) -> str:
    """A product as a shopper (or an LLM) reads it: title, price, brand, category, key attributes, description."""
    lines = [str(fields.get("title") or "")]
    price = fields.get("price")
    if price is not None:
        text = f"Price: {price:,.2f} {fields.get('currency') or ''}".rstrip()
        if fields.get("list_price") and fields["list_price"] > price:
            text += f" (list price {fields['list_price']:,.2f})"
        lines.append(text)
    for label, key in (("Brand", "brand"), ("Category", "category")):
        if fields.get(key):
            lines.append(f"{label}: {fields[key]}")
    attributes = fields.get("attributes") or {}
    if attributes:
        shown = list(attributes.items())[:CARD_ATTRIBUTES]
        lines.append("Attributes: " + "; ".join(f"{k}: {v}" for k, v in shown))
    description = (fields.get("description") or "").strip()
    if description:
        if len(description) > CARD_DESCRIPTION_CHARS:
            description = description[:CARD_DESCRIPTION_CHARS].rsplit(" ", 1)[0] + " ..."
        lines.append(f"Description: {description}")
    return "\n".join(lines)


def hit_to_document(hit: Hit, rank: int) -> Document:
    metadata = dict(hit.fields)
    metadata.update(id=hit.id, rank=rank, score=hit.score, scores=dict(hit.scores), ranks=dict(hit.ranks))
    return Document(page_content=product_card(hit.fields), metadata=metadata, id=hit.id)


class ProductRetriever(BaseRetriever):
    """Products for a text, an image or both, fused across every field that can take the query."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    searcher: ProductSearcher
    k: int = 10
    filters: dict[str, Any] | None = None
    explain: bool = True
    fetcher: ImageFetcher = Field(default_factory=ImageFetcher)
    reranker: ProductReranker | None = None
    rerank_candidates: int = 30

    @classmethod
    def from_config(cls, config: Config | str | None = None, *, collection: str | None = None,
                    **kwargs: Any) -> "ProductRetriever":
        """Open the configured collection (it must exist) with the config's embedders and search settings."""
        from multimodal_rag.pipelines.ingest import load_embedders, open_store

        if not isinstance(config, Config):
            config = load_config(config)
        embedders = load_embedders(config)
        store = open_store(config, embedders, collection=collection, create=False)
        s = config.search
        side = resolve_query_photo_side(s.query_photo_side, store.photo_side)
        searcher = ProductSearcher(store, embedders, config.vectors, fusion=s.fusion, rrf_k=s.rrf_k,
                                   weights=s.weights, fields=s.fields, query_photo_side=side)
        if "reranker" not in kwargs and config.reranker.spec != "none":
            kwargs["reranker"] = ProductReranker.from_spec(config.reranker.spec)
        kwargs.setdefault("rerank_candidates", config.reranker.candidates)
        return cls(searcher=searcher, k=kwargs.pop("k", s.k), **kwargs)

    def close(self) -> None:
        self.searcher.store.close()

    def _search(self, query: str | ProductQuery) -> list[Document]:
        if isinstance(query, str):
            query = ProductQuery(text=query)
        elif isinstance(query, Mapping):
            query = ProductQuery(**query)
        elif not isinstance(query, ProductQuery):
            raise TypeError(f"a query is a string or a ProductQuery, not {type(query).__name__}")
        image = None if query.image is None else load_image(query.image, self.fetcher)
        filters = {**(self.filters or {}), **(query.filters or {})}
        expr = combine(build_filter(filters), query.raw_filter or "")
        k = query.k or self.k
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        first_k = max(k, self.rerank_candidates) if self.reranker is not None else k
        hits = self.searcher.search(query.text or None, image, k=first_k, expr=expr, explain=self.explain)
        docs = [hit_to_document(h, rank) for rank, h in enumerate(hits, start=1)]
        if self.reranker is not None:
            docs = list(self.reranker.compress_documents(docs, query))[:k]
        return docs

    def _get_relevant_documents(self, query: str | ProductQuery, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return self._search(query)

    async def _aget_relevant_documents(self, query: str | ProductQuery, *,
                                       run_manager: AsyncCallbackManagerForRetrieverRun) -> list[Document]:
        # Embedding and the Milvus client block; run them off the event loop.
        return await asyncio.to_thread(self._search, query)
