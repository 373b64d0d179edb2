"""Catalog loaders: JSONL, CSV and Parquet, streamed row by row into validated products.

A row that cannot become a product is yielded with its error, never raised, so one bad row does not stop a run.
"""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Mapping

from multimodal_rag.catalog.product import KNOWN_COLUMNS, Product, RowError, product_from_row

FORMATS = ("jsonl", "csv", "parquet")


@dataclass(frozen=True)
class CatalogRow:
    """One row of a catalog file: its line (1-based; for Parquet the row number), and a product or an error."""

    line: int
    id: str
    product: Product | None = None
    error: RowError | None = None


class CatalogError(ValueError):
    """The catalog file itself cannot be read (missing, unknown format)."""


def detect_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    for fmt, endings in (("jsonl", (".jsonl", ".ndjson", ".json")), ("csv", (".csv", ".tsv")),
                         ("parquet", (".parquet", ".pq"))):
        if suffixes and suffixes[-1] in endings:
            return fmt
    raise CatalogError(f"{path}: cannot tell the format from the name; use .jsonl, .csv or .parquet")


def load_catalog(path: str | Path, *, columns: Mapping[str, str] | None = None,
                 fmt: str | None = None) -> Iterator[CatalogRow]:
    """Stream a catalog file as CatalogRows; a missing file or an unknown format fails here, at the call.

    ``columns`` maps the file's column names to ours (``{"name": "title", "img": "image"}``); columns that
    are not ours are kept as attributes. Image paths are resolved against the catalog file's folder.
    """
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"catalog file not found: {path}")
    fmt = fmt or detect_format(path)
    readers = {"jsonl": _read_jsonl, "csv": _read_csv, "parquet": _read_parquet}
    if fmt not in readers:
        raise CatalogError(f"unknown catalog format {fmt!r}; use one of {FORMATS}")
    mapping = dict(columns or {})
    return _rows(_checked(readers[fmt](path), mapping, path), mapping, path.resolve().parent)


REQUIRED_COLUMNS = ("id", "title")
COLUMN_CHECK_ROWS = 20  # rows read before a column no row has is called missing from the file


def _checked(raws: Iterator[tuple[int, Any]], mapping: Mapping[str, str], path: Path) -> Iterator[tuple[int, Any]]:
    """The rows, after checking that the file has our required columns: when none of its first rows has one, the
    file names it otherwise (``name`` for ``title``), and every row would fail; say so once, with the fix."""
    head: list[tuple[int, Any]] = []
    for item in raws:
        head.append(item)
        if sum(isinstance(raw, dict) for _, raw in head) >= COLUMN_CHECK_ROWS:
            break
    seen: dict[str, None] = {}
    for _, raw in head:
        if isinstance(raw, dict):
            seen.update(dict.fromkeys(mapping.get(k, k) for k in raw))
    missing = [c for c in REQUIRED_COLUMNS if seen and c not in seen]
    if "title" in missing and "image" in seen:
        missing.remove("title")  # an image-only corpus (photos found by text through a dual encoder)
    if missing:
        theirs = [c for c in seen if c not in KNOWN_COLUMNS][:8]
        example = " ".join(f"--column {t}={m}" for t, m in zip(theirs, missing)) or "--column THEIRS=id"
        raise CatalogError(f"{path.name} has no {' or '.join(repr(m) for m in missing)} column (its columns: "
                           f"{', '.join(list(seen)[:12])}); name yours with --column THEIRS=OURS, e.g. {example}")
    return itertools.chain(head, raws)


def _rows(raws: Iterator[tuple[int, Any]], mapping: Mapping[str, str], base: Path) -> Iterator[CatalogRow]:
    for line, raw in raws:
        if isinstance(raw, RowError):
            yield CatalogRow(line=line, id="", error=raw)
            continue
        row = {mapping.get(k, k): v for k, v in raw.items()}
        raw_id = row.get("id")
        rid = "" if raw_id is None else str(raw_id).strip()
        try:
            product = product_from_row(row)
        except RowError as exc:
            yield CatalogRow(line=line, id=rid, error=exc)
            continue
        if product.image:
            product = replace(product, image=resolve_image_ref(product.image, base))
        yield CatalogRow(line=line, id=product.id, product=product)


def resolve_image_ref(ref: str, base: Path) -> str:
    """A URL stays as it is; a relative path becomes absolute against the catalog's folder."""
    if "://" in ref:
        return ref
    p = Path(ref).expanduser()
    return str(p if p.is_absolute() else (base / p))


def _read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open("r", encoding="utf-8", errors="replace") as f:
        for line, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield line, RowError("json", f"not valid JSON: {exc.msg}")
                continue
            if not isinstance(obj, dict):
                yield line, RowError("json", "a line must hold a JSON object")
                continue
            yield line, obj


def _read_csv(path: Path) -> Iterator[tuple[int, Any]]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        for row in reader:
            # A short row leaves None for missing columns; a long one puts extras under the None key.
            extra = row.pop(None, None)
            if extra:
                yield reader.line_num, RowError("csv", f"{len(extra)} more value(s) than header columns")
                continue
            yield reader.line_num, row


def _read_parquet(path: Path) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    line = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            line += 1
            yield line, row
