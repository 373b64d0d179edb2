"""The product model: one validated catalog row, and the text views embedders and BM25 read from it."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

# Fields a vector field or BM25 may take its text from, in the order they are joined.
PRODUCT_TEXT_FIELDS = ("title", "category", "brand", "attributes", "description")

# Catalog columns with a meaning of their own; any other column becomes an attribute.
KNOWN_COLUMNS = frozenset(
    {"id", "title", "description", "category", "brand", "price", "list_price", "currency",
     "attributes", "rating", "url", "image"}
)

MAX_ID_LENGTH = 256


class RowError(ValueError):
    """A catalog row that cannot become a product; ``field`` names the column at fault."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Product:
    id: str
    title: str
    description: str = ""
    category: str = ""
    brand: str = ""
    price: float | None = None
    list_price: float | None = None
    currency: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    rating: float | None = None
    url: str = ""
    image: str = ""  # a path (absolute, resolved against the catalog's folder) or a URL

    def text(self, sources: tuple[str, ...] | list[str]) -> str:
        """The text an embedder or BM25 sees: the named fields in order, empty ones left out."""
        return product_text({name: getattr(self, name) for name in sources}, sources)


def product_text(fields: Mapping[str, Any], sources: Sequence[str]) -> str:
    """The text of a product's ``sources`` fields (a product, or its fields as stored), in order, empty ones left
    out; attributes as "name: value; ..."."""
    parts = []
    for name in sources:
        value = fields.get(name)
        if name == "attributes":
            value = "; ".join(f"{k}: {v}" for k, v in (value or {}).items() if v)
        if value:
            parts.append(str(value))
    return ". ".join(parts)


def product_from_row(row: Mapping[str, Any]) -> Product:
    """Validate one catalog row (already renamed to our column names) into a Product."""
    pid = _text(row.get("id"))
    if not pid:
        raise RowError("id", "missing or empty")
    if len(pid) > MAX_ID_LENGTH:
        raise RowError("id", f"longer than {MAX_ID_LENGTH} characters")
    title = _text(row.get("title"))
    if not title and not _text(row.get("image")):
        # An image-only product (a corpus of photos) can still be found by its picture.
        raise RowError("title", "missing or empty, and no image to find the product by")
    attributes = _attributes(row.get("attributes"))
    for key, value in row.items():
        if key not in KNOWN_COLUMNS and not _is_missing(value):
            attributes.setdefault(str(key), _text(value))
    return Product(
        id=pid,
        title=title,
        description=_text(row.get("description")),
        category=_text(row.get("category")),
        brand=_text(row.get("brand")),
        price=_number(row.get("price"), "price"),
        list_price=_number(row.get("list_price"), "list_price"),
        currency=_text(row.get("currency")),
        attributes=attributes,
        rating=_optional_number(row.get("rating")),
        url=_text(row.get("url")),
        image=_text(row.get("image")),
    )


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _text(value: Any) -> str:
    if _is_missing(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def _number(value: Any, name: str) -> float | None:
    if _is_missing(value):
        return None
    if isinstance(value, bool):
        raise RowError(name, f"not a number: {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip().replace(",", "")
        try:
            number = float(text)
        except ValueError:
            raise RowError(name, f"not a number: {str(value)[:80]!r}") from None
    if not math.isfinite(number) or number < 0:
        raise RowError(name, f"must be a finite number >= 0, got {value!r}")
    return number


def _optional_number(value: Any) -> float | None:
    """Ratings come as free text in real catalogs ("No rating available"): unreadable means unknown."""
    try:
        return _number(value, "rating")
    except RowError:
        return None


def _attributes(value: Any) -> dict[str, str]:
    if _is_missing(value):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise RowError("attributes", "not a JSON object") from None
    if not isinstance(value, Mapping):
        raise RowError("attributes", f"must be an object of strings, got {type(value).__name__}")
    return {str(k): _text(v) for k, v in value.items() if not _is_missing(v)}
