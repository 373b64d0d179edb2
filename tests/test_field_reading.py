"""The field a question asks, read from the catalog's own vocabulary in a catalog the wordings data never saw.

The catalog is built here: fields ``season``, ``usage``, ``occasion`` and ``fit`` that no concept of
``language/data/en/fields.toml`` names, and whose questions use wordings that table gives to other fields
("suited to", "meant for" are ideal-for phrases there).
"""

from __future__ import annotations

import pytest

from multimodal_rag.catalog.facets import FacetVocabulary
from multimodal_rag.qa.fields import FieldResolver
from multimodal_rag.qa.lookup import lookup

SEASONS = ["Summer", "Winter", "Spring", "Fall"]
USAGES = ["Casual", "Formal", "Sports"]
OCCASIONS = ["Wedding", "Office", "Party"]
FITS = ["Slim", "Regular", "Loose"]
KINDS = ["Jacket", "Blazer", "Hoodie", "Kurta", "Trousers", "Sneakers"]
BRANDS = ["Northwind", "Altamira", "Kestrel"]


def _catalog() -> list[dict]:
    rows = []
    for i in range(36):
        kind, brand = KINDS[i % len(KINDS)], BRANDS[i % len(BRANDS)]
        rows.append({"id": f"p{i}", "title": f"{brand} {kind} {i}", "brand": brand, "category": "Apparel",
                     "price": 100.0 + i,
                     "attributes": {"season": SEASONS[i % 4], "usage": USAGES[i % 3], "occasion": OCCASIONS[i % 3],
                                    "fit": FITS[(i // 3) % 3]}})
    return rows


@pytest.fixture(scope="module")
def catalog():
    rows = _catalog()
    return {r["title"]: r for r in rows}, FacetVocabulary.from_products(rows)


@pytest.mark.parametrize("question, field, how", [
    ("Which season is the Northwind Jacket 0 suited to?", "season", "name"),
    ("Northwind Jacket 0 - what usage is it made for?", "usage", "name"),
    ("What occasion is the Northwind Jacket 0 meant for?", "occasion", "name"),
    ("How is the fit of the Northwind Jacket 0?", "fit", "name"),
    ("Is the Northwind Jacket 0 meant for spring, summer, fall or winter?", "season", "offered"),
    ("Is the Northwind Jacket 0 for casual, formal or sports wear?", "usage", "offered"),
    ("Northwind Jacket 0: slim, regular or loose?", "fit", "offered"),
])
def test_a_field_named_or_offered_by_the_catalog_is_read_before_the_wordings_table(catalog, question, field, how):
    by_title, vocabulary = catalog
    product = by_title["Northwind Jacket 0"]
    look = lookup(question, [product], FieldResolver(), vocabulary)
    assert (look.field.name, look.field.how) == (field, how)
    assert [(f.product_id, f.value) for f in look.facts] == [("p0", product["attributes"][field])]


def test_values_near_the_question_words_name_a_field_the_question_does_not_name(catalog, default_embedders):
    """No name, no value, no phrase of the table: "cold months", "warm weather" are nearest to catalog seasons."""
    by_title, vocabulary = catalog
    text_embedder = default_embedders["text"]
    resolver = FieldResolver(embed=lambda texts: text_embedder.encode_texts(texts, query=True))
    product = by_title["Kestrel Hoodie 2"]
    look = lookup("Can I wear the Kestrel Hoodie 2 in the cold months, or is it for warm weather?", [product],
                  resolver, vocabulary)
    assert (look.field.name, look.field.how) == ("season", "embedding")
    assert [f.value for f in look.facts] == ["Spring"]


def test_the_core_fields_keep_their_wordings(catalog):
    by_title, vocabulary = catalog
    product = by_title["Altamira Blazer 1"]
    look = lookup("How much does the Altamira Blazer 1 cost?", [product], FieldResolver(), vocabulary)
    assert (look.field.name, [f.value for f in look.facts]) == ("price", ["101"])
