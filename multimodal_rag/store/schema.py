"""The product collection's fields, described once.

Creating a collection, migrating to a new version and writing bulk-import files all take the Milvus schema from
``collection_schema``; rows are built and searches read the fields of ``PRODUCT_FIELDS``; the filter builder
knows the string and number fields from it; the fingerprint a collection records comes from ``fingerprint``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from pymilvus import DataType, Function, FunctionType, MilvusClient

from multimodal_rag.config import Config, VectorFieldNames

# 2: the `facets` field, and BM25 input analysed on the client (its analysis and parameters in the fingerprint).
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class ScalarField:
    name: str
    kind: str           # "varchar", "double" (nullable: a product may lack a price or a rating) or "json"
    max_bytes: int = 0  # a VARCHAR's limit: longer values are cut on a character boundary when rows are built


# A product as stored, in the order rows are built and searches return its fields.
PRODUCT_FIELDS = (
    ScalarField("id", "varchar", 256),
    ScalarField("title", "varchar", 2048),
    ScalarField("description", "varchar", 65_535),
    ScalarField("category", "varchar", 1024),
    ScalarField("brand", "varchar", 512),
    ScalarField("price", "double"),
    ScalarField("list_price", "double"),
    ScalarField("currency", "varchar", 16),
    ScalarField("rating", "double"),
    ScalarField("url", "varchar", 2048),
    ScalarField("image", "varchar", 4096),
    ScalarField("attributes", "json"),
)
SCALAR_FIELDS = tuple(f.name for f in PRODUCT_FIELDS)
STRING_FIELDS = frozenset(f.name for f in PRODUCT_FIELDS if f.kind == "varchar")
NUMBER_FIELDS = frozenset(f.name for f in PRODUCT_FIELDS if f.kind == "double")
# The hash of a product's scalar fields and BM25 input: an unchanged row is not written again.
ROW_HASH = ScalarField("row_hash", "varchar", 64)
# The product's facets as one text, "|brand=acme|category=mugs|attributes.color=blue|": a facet filter is a LIKE on
# it. Milvus Lite evaluates a filter on a JSON key (attributes["color"] == "Blue") row by row, ~1.5-2 s a search at
# 15,000 products; a LIKE on a VARCHAR takes ~15 ms there (and a server can index it).
FACETS = ScalarField("facets", "varchar", 16_384)
FACET_SEPARATOR = "|"
HASH_BYTES = 64  # a vector field's content hash (sha256, hex)
# BM25: Milvus' built-in function fills the sparse field from the text input.
BM25_INPUT, BM25_FIELD = "bm25_text", "sparse"
BM25_INPUT_BYTES = 65_535
VARCHAR_LIMITS = {**{f.name: f.max_bytes for f in (*PRODUCT_FIELDS, ROW_HASH, FACETS) if f.kind == "varchar"},
                  BM25_INPUT: BM25_INPUT_BYTES}
# The hash of a vector field whose input is absent or failed: its vector is zeros, it is never searched,
# and the next ingest tries the input again.
MISSING = ""


@dataclass(frozen=True)
class VectorSpec(VectorFieldNames):
    """What a vector field holds: the identity of its embedder, its dimension and its sources."""

    name: str
    embedder: str
    dimension: int
    sources: tuple[str, ...]

    def described(self) -> dict:
        """The field as a collection's fingerprint records it."""
        return {"embedder": self.embedder, "dim": self.dimension, "sources": list(self.sources)}


def vector_specs(config: Config, dimensions: Mapping[str, int], identities: Mapping[str, str]) -> list[VectorSpec]:
    return [VectorSpec(v.name, identities[v.name], int(dimensions[v.name]), v.sources) for v in config.vectors]


STANDARD_ANALYSIS = "standard"  # Milvus' standard tokenizer on the raw text


@dataclass(frozen=True)
class Bm25Spec:
    """What the BM25 field indexes: the text of ``sources``, analysed by ``analysis`` (a ``TextAnalyzer`` identity,
    or "standard": Milvus' own tokenizer on the raw text). Scored with Milvus' defaults (k1 1.2, b 0.75): Milvus Lite
    3.2.2 ignores bm25_k1 and bm25_b, at index and at search time alike."""

    sources: tuple[str, ...]
    analysis: str = STANDARD_ANALYSIS

    @property
    def language(self) -> str | None:
        """The catalog language of a language analysis ("en/v1/..." -> "en"); None for "standard"."""
        return None if self.analysis == STANDARD_ANALYSIS else self.analysis.split("/", 1)[0]

    def described(self) -> dict:
        return {"sources": list(self.sources), "analysis": self.analysis}

    @classmethod
    def from_described(cls, described: object) -> "Bm25Spec | None":
        """The spec a fingerprint records; None when it records none (or in an older form)."""
        if not isinstance(described, Mapping) or not described.get("sources"):
            return None
        return cls(tuple(described["sources"]), str(described.get("analysis", STANDARD_ANALYSIS)))


def fingerprint(vectors: Sequence[VectorSpec], bm25: Bm25Spec | None) -> dict:
    """What a collection records of the config it was made with; opening it with another config fails."""
    return {"mmrag_schema": SCHEMA_VERSION, "vectors": {v.name: v.described() for v in vectors},
            "bm25": bm25.described() if bm25 is not None and bm25.sources else None}


def facet_token(name: str, value: str) -> str:
    """One facet as the ``facets`` field holds it and a filter looks for it: ``name=value`` in lower case, spaces
    collapsed, and LIKE's wildcards and the separator turned into spaces (so a value is matched literally on every
    backend: Milvus Lite honours no escape inside a LIKE pattern)."""
    text = f"{name}={value}".lower()
    for ch in "%_|\\":
        text = text.replace(ch, " ")
    return " ".join(text.split())


def facets_text(product: Mapping) -> str:
    """The ``facets`` field of a product (its stored fields): brand, each category level, each attribute."""
    tokens = []
    if product.get("brand"):
        tokens.append(facet_token("brand", str(product["brand"])))
    for level in str(product.get("category") or "").split(">"):
        if level.strip():
            tokens.append(facet_token("category", level.strip()))
    for key, value in (product.get("attributes") or {}).items():
        if value is not None and str(value).strip():
            tokens.append(facet_token(f"attributes.{key}", str(value)))
    return FACET_SEPARATOR + FACET_SEPARATOR.join(dict.fromkeys(tokens)) + FACET_SEPARATOR if tokens else ""


def vector_index(index_type: str) -> dict:
    """The index parameters of a vector field."""
    return {"index_type": index_type, "metric_type": "IP",
            **({"params": {"M": 16, "efConstruction": 200}} if index_type.startswith("HNSW") else {})}


_TYPES = {"varchar": DataType.VARCHAR, "double": DataType.DOUBLE, "json": DataType.JSON}


def collection_schema(vectors: Sequence[VectorSpec], bm25: Bm25Spec | None, index_type: str):
    """The Milvus schema and index parameters of a product collection with these vector fields."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    for f in (*PRODUCT_FIELDS, ROW_HASH, FACETS):
        options: dict = {"max_length": f.max_bytes} if f.kind == "varchar" else {}
        if f.kind == "double":
            options["nullable"] = True
        schema.add_field(f.name, _TYPES[f.kind], is_primary=f.name == "id", **options)
    index = MilvusClient.prepare_index_params()
    for v in vectors:
        schema.add_field(v.vector_field, DataType.FLOAT_VECTOR, dim=v.dimension)
        schema.add_field(v.hash_field, DataType.VARCHAR, max_length=HASH_BYTES)
        index.add_index(v.vector_field, **vector_index(index_type))
    if bm25 is not None and bm25.sources:
        # Analysed text arrives as terms separated by spaces, each one the standard tokenizer keeps whole; raw text
        # ("standard") is tokenized by it.
        schema.add_field(BM25_INPUT, DataType.VARCHAR, max_length=BM25_INPUT_BYTES,
                         enable_analyzer=True, analyzer_params={"type": "standard"})
        schema.add_field(BM25_FIELD, DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=[BM25_INPUT], output_field_names=[BM25_FIELD]))
        index.add_index(BM25_FIELD, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    return schema, index


def fit_varchar(value: str, field: str) -> str:
    """``value`` cut to the field's byte limit on a character boundary."""
    limit = VARCHAR_LIMITS[field]
    data = value.encode("utf-8")
    if len(data) <= limit:
        return value
    return data[:limit].decode("utf-8", errors="ignore")
