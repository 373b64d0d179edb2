"""Stored products as their readers see them: the product card (``product_card``), and ``CatalogReader``, the
small interface through which the answer chain reads the catalog beyond a search (its facet vocabulary, the cheapest
products that match a filter), with ``StoreCatalog`` implementing it over the Milvus store, and what the web app
reads besides (a product by id, the count, the folders photos may be served from)."""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

from langchain_core.documents import Document

from multimodal_rag.catalog.facets import FacetVocabulary
from multimodal_rag.store.filters import build_filter
from multimodal_rag.store.milvus import CATALOG_ROOTS_PROPERTY, ProductStore
from multimodal_rag.store.schema import SCALAR_FIELDS

CARD_ATTRIBUTES = 8
CARD_DESCRIPTION_CHARS = 300


def product_card(fields: Mapping[str, Any], include: Sequence[str] = ()) -> str:
    """A product as a shopper (or an LLM) reads it: title, price, brand, category, key attributes (the first
    ``CARD_ATTRIBUTES``, and those named in ``include``), description."""
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
        shown = [(k, v) for i, (k, v) in enumerate(attributes.items()) if i < CARD_ATTRIBUTES or k in include]
        lines.append("Attributes: " + "; ".join(f"{k}: {v}" for k, v in shown))
    description = (fields.get("description") or "").strip()
    if description:
        if len(description) > CARD_DESCRIPTION_CHARS:
            description = description[:CARD_DESCRIPTION_CHARS].rsplit(" ", 1)[0] + " ..."
        lines.append(f"Description: {description}")
    return "\n".join(lines)


def product_document(row: Mapping[str, Any]) -> Document:
    """A stored product's row as a document: its card, its fields as metadata."""
    return Document(page_content=product_card(row), metadata={**row, "id": row["id"]}, id=row["id"])


class CatalogReader(Protocol):
    """What the answer chain reads of the catalog besides search results."""

    def facets(self) -> FacetVocabulary:
        """The catalog's facet vocabulary (brands, category levels, attribute values) as recorded at ingest."""
        ...

    def words(self) -> set[str]:
        """The words of the catalog's searchable text (lower case, as segmented) as recorded at ingest; empty when
        none were recorded (a collection whose text Milvus analyses)."""
        ...

    def cheapest(self, filters: Mapping[str, Any] | None, k: int, *, descending: bool = False) -> list[Document]:
        """The ``k`` cheapest (``descending``: dearest) products that match ``filters`` (filter data, as
        ``build_filter`` takes it) and have a price, cheapest first."""
        ...


class StoreCatalog:
    """``CatalogReader`` over a ``ProductStore``."""

    def __init__(self, store: ProductStore):
        self.store = store

    def facets(self) -> FacetVocabulary:
        return self.store.vocabulary()

    def words(self) -> set[str]:
        return set(self.store.word_counts())

    def cheapest(self, filters: Mapping[str, Any] | None, k: int, *, descending: bool = False) -> list[Document]:
        return [product_document(r) for r in self.store.by_price(build_filter(filters), k, descending=descending)]

    def product(self, product_id: str) -> dict[str, Any] | None:
        """A stored product's fields, or None when no product has this id."""
        return self.store.get([product_id], SCALAR_FIELDS).get(product_id)

    def count(self) -> int:
        return self.store.count()

    def photo_folders(self) -> list[str]:
        """The folders the catalog was ingested from: where its local photos lie."""
        return self.store.property_list(CATALOG_ROOTS_PROPERTY)
