"""The sentences the chain composes from catalog facts.

Every sentence here is composed from a product's stored fields (its title, price and a field's value) and cites
the product by its number among the products the model was given: what the chain says when the model's answer
fails a check, or when no model call is needed.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from langchain_core.documents import Document

from multimodal_rag.qa.lookup import FieldAnswer, format_price
from multimodal_rag.retrieval.understanding import Understanding

CATALOG_SENTENCE_PRODUCTS = 3


def fact_sentence(fact: FieldAnswer) -> str:
    if fact.value is None:
        return f"The catalog does not list the {fact.field.lower()} of {fact.title} [{fact.position}]."
    return f"The {fact.field.lower()} of {fact.title} is {fact.value} [{fact.position}]."


def ambiguous_sentence(facts: Sequence[FieldAnswer]) -> str:
    values = "; ".join(f"{f.title} [{f.position}]: {f.value if f.value is not None else 'not listed'}"
                       for f in facts)
    return f"Several products match that name, with different {facts[0].field.lower()}: {values}."


def priced(doc: Document, position: int) -> str:
    """A product as the catalog names it: "Title at 349 INR [2]"."""
    m = doc.metadata
    price = f" at {format_price(m['price'], m.get('currency'))}" if m.get("price") is not None else ""
    return f"{m.get('title')}{price} [{position}]"


def catalog_sentence(products: Sequence[Document]) -> str:
    """The closest products with their prices, each cited: what the catalog itself says about a question."""
    shown = [priced(doc, i) for i, doc in enumerate(products[:CATALOG_SENTENCE_PRODUCTS], start=1)]
    return "The closest products in the catalog are " + "; ".join(shown) + "."


def cited_sentence(shown: Mapping[int, Document], positions: Sequence[int]) -> str:
    """A sentence composed from the facts of the products at ``positions`` among the ``shown`` ones: each one's
    title and price, cited ("Bergner Kadhai NA L at 1,499 INR [1]; ...")."""
    return "; ".join(priced(shown[p], p) for p in positions) + "."


def shopping_sentence(understood: Understanding, products: Sequence[Document], positions: Sequence[int]) -> str:
    """Products that satisfy every constraint, in the order the question asks for."""
    listed = "; ".join(priced(products[p - 1], p) for p in positions[:CATALOG_SENTENCE_PRODUCTS])
    if understood.sort == "asc":
        return f"The cheapest that match ({understood.describe()}): {listed}."
    if understood.sort == "desc":
        return f"The most expensive that match ({understood.describe()}): {listed}."
    return f"Products that match ({understood.describe()}): {listed}."


def no_match_sentence(understood: Understanding, instead: Sequence[Document]) -> str:
    """None satisfies every constraint: say so, and what the catalog has closest."""
    closest = "; ".join(priced(d, i) for i, d in enumerate(instead[:CATALOG_SENTENCE_PRODUCTS], start=1))
    answer = f"No product matches {understood.describe()}."
    return f"{answer} The closest in the catalog: {closest}." if closest else answer
