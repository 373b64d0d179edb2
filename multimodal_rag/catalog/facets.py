"""The catalog's facet vocabulary: what its products can be told apart by, with product counts.

Category path values per level, brands, attribute names and their values, and the price range. Collected from the
stored products after every ingest, prune and migration (so it follows the collection, restarts included) and kept
with the collection. Query understanding reads shoppers' facets from it ("navy blue shirts for men"); the answer
check reads the values an answer may not invent from it.

Attribute values that only one product has (model numbers, sizes in free text) are not facets and are left out;
so is everything past the most frequent ``MAX_VALUES`` values of one facet, which keeps the vocabulary small
enough to travel with the collection for catalogs of millions.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

MIN_PRODUCTS = 2      # an attribute value held by fewer products is not a facet value
MAX_VALUES = 2000     # per facet (each category level, brands, each attribute), the most frequent kept
MAX_VALUE_LENGTH = 60  # longer attribute values are descriptions, not facet values
MAX_FIELDS = 200      # attribute names recorded (``fields``), the most common kept
FORMAT = 1


def category_levels(path: str) -> list[str]:
    return [part.strip() for part in str(path or "").split(">") if part.strip()]


def most_common(counter: Counter, n: int) -> list[tuple[str, int]]:
    """The ``n`` most frequent, ties in alphabetical order: the same vocabulary whatever order products come in
    (an ingest counts them in catalog order, a read of the store in its own)."""
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:n]


def _top(counter: Counter, minimum: int = 1) -> dict[str, int]:
    return {value: n for value, n in most_common(counter, MAX_VALUES) if n >= minimum}


@dataclass(frozen=True)
class FacetVocabulary:
    categories: tuple[dict[str, int], ...] = ()        # level -> value -> products
    brands: dict[str, int] = field(default_factory=dict)
    attributes: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> value -> products
    price_min: float | None = None
    price_max: float | None = None
    products: int = 0
    # Every attribute name the products hold, most common first, facet or not ("Warranty Summary" has no value
    # two products share): the fields a question may ask. Empty in a vocabulary recorded before it was kept.
    fields: tuple[str, ...] = ()

    @classmethod
    def from_products(cls, rows: Iterable[Mapping[str, Any]]) -> "FacetVocabulary":
        """From stored products (mappings with ``category``, ``brand``, ``attributes``, ``price``)."""
        counter = FacetCounter()
        for row in rows:
            counter.add(row)
        return counter.vocabulary()

    @property
    def field_names(self) -> tuple[str, ...]:
        """The attribute names a question may ask: ``fields``, or the facets' names in a vocabulary that lacks it."""
        return self.fields or tuple(self.attributes)

    def values(self) -> set[str]:
        """Every facet value: category levels, brands, attribute values."""
        out = set(self.brands)
        for level in self.categories:
            out.update(level)
        for values in self.attributes.values():
            out.update(values)
        return out

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "categories": list(self.categories), "brands": self.brands,
                           "attributes": self.attributes, "price_min": self.price_min,
                           "price_max": self.price_max, "products": self.products, "fields": list(self.fields)},
                          ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> "FacetVocabulary":
        """The vocabulary recorded with a collection; empty when none was recorded (or in another format)."""
        try:
            raw = json.loads(text or "")
        except ValueError:
            return cls()
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            return cls()
        return cls(categories=tuple(raw.get("categories") or ()), brands=raw.get("brands") or {},
                   attributes=raw.get("attributes") or {}, price_min=raw.get("price_min"),
                   price_max=raw.get("price_max"), products=int(raw.get("products") or 0),
                   fields=tuple(raw.get("fields") or ()))


class FacetCounter:
    """Counts products' facets one product at a time (an ingest counts each chunk as it writes it); ``vocabulary``
    gives what ``FacetVocabulary.from_products`` would over the same products. Holds counts, not products."""

    def __init__(self) -> None:
        self.levels: list[Counter] = []
        self.brands: Counter = Counter()
        self.attributes: dict[str, Counter] = {}
        self.names: Counter = Counter()
        self.price_min: float | None = None
        self.price_max: float | None = None
        self.products = 0

    def add(self, row: Mapping[str, Any]) -> None:
        self.products += 1
        for depth, value in enumerate(category_levels(row.get("category") or "")):
            if depth == len(self.levels):
                self.levels.append(Counter())
            self.levels[depth][value] += 1
        if row.get("brand"):
            self.brands[str(row["brand"]).strip()] += 1
        for name, value in (row.get("attributes") or {}).items():
            self.names[str(name)] += 1
            value = " ".join(str(value).split())
            if value and len(value) <= MAX_VALUE_LENGTH:
                self.attributes.setdefault(str(name), Counter())[value] += 1
        if row.get("price") is not None:
            price = float(row["price"])
            self.price_min = price if self.price_min is None else min(self.price_min, price)
            self.price_max = price if self.price_max is None else max(self.price_max, price)

    def vocabulary(self) -> FacetVocabulary:
        kept = {name: _top(values, MIN_PRODUCTS) for name, values in self.attributes.items()}
        return FacetVocabulary(categories=tuple(_top(level) for level in self.levels), brands=_top(self.brands),
                               attributes={name: values for name, values in kept.items() if values},
                               price_min=self.price_min, price_max=self.price_max, products=self.products,
                               fields=tuple(name for name, _ in most_common(self.names, MAX_FIELDS)))
