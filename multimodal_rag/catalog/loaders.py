"""Catalog loaders: JSONL, CSV and Parquet, streamed row by row into validated products.

A row that cannot become a product is yielded with its error, never raised, so one bad row does not stop a run.
A catalog is a local path or an object-store URL (``s3://``, ``gs://``, ``hdfs://``... through pyarrow's
filesystems); ``catalog_files`` expands a folder of shards or a glob into its files.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import posixpath
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping

from multimodal_rag.catalog.product import KNOWN_COLUMNS, Product, RowError, product_from_row
from multimodal_rag.errors import UserError

FORMATS = ("jsonl", "csv", "parquet")


@dataclass(frozen=True)
class CatalogRow:
    """One row of a catalog file: its line (1-based; for Parquet the row number), and a product or an error."""

    line: int
    id: str
    product: Product | None = None
    error: RowError | None = None


class CatalogError(UserError, ValueError):
    """The catalog file itself cannot be read (missing, unknown format)."""


ENDINGS = {"jsonl": (".jsonl", ".ndjson", ".json"), "csv": (".csv", ".tsv"), "parquet": (".parquet", ".pq")}


def detect_format(path: str | Path) -> str:
    suffix = posixpath.splitext(str(path))[1].lower()
    for fmt, endings in ENDINGS.items():
        if suffix in endings:
            return fmt
    raise CatalogError(f"{path}: cannot tell the format from the name; use .jsonl, .csv or .parquet")


def is_url(ref: str) -> bool:
    """An object-store or web URL (not a local path, not a Windows drive letter)."""
    scheme = ref.split("://", 1)[0] if "://" in ref else ""
    return len(scheme) > 1 and scheme.lower() != "file"


def _filesystem(uri: str):
    """(pyarrow filesystem, path inside it) for a URL or a local path."""
    import pyarrow.fs as pafs

    if not is_url(uri):
        return pafs.LocalFileSystem(), str(Path(uri.removeprefix("file://")).expanduser().resolve())
    try:
        return pafs.FileSystem.from_uri(uri)
    except Exception as exc:  # pyarrow raises ArrowInvalid / ArrowNotImplementedError with its own words
        raise CatalogError(f"cannot open {uri}: {exc}") from None


def catalog_files(spec: str | Path) -> list[str]:
    """The catalog files ``spec`` names: one file, a folder of shards (its catalog files, in name order) or a glob
    (``shards/*.parquet``); local paths or object-store URLs. Fails when it names nothing readable."""
    import pyarrow.fs as pafs

    text = str(spec)
    fs, path = _filesystem(text)
    prefix = text.split("://", 1)[0] + "://" if is_url(text) else ""
    if any(c in path for c in "*?["):
        base = path[:min(path.index(c) for c in "*?[" if c in path)].rsplit("/", 1)[0] or "/"
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        pattern = _glob_pattern(path)
        found = sorted(i.path for i in infos if i.type == pafs.FileType.File and pattern.fullmatch(i.path))
        if not found:
            raise CatalogError(f"no catalog file matches {text}")
    else:
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            raise CatalogError(f"catalog file not found: {text}")
        if info.type == pafs.FileType.Directory:
            infos = fs.get_file_info(pafs.FileSelector(path, recursive=False))
            found = sorted(i.path for i in infos if i.type == pafs.FileType.File
                           and posixpath.splitext(i.path)[1].lower() in sum(ENDINGS.values(), ()))
            if not found:
                raise CatalogError(f"{text} is a folder with no catalog file (.jsonl, .csv, .parquet) in it")
        else:
            found = [path]
    for name in found:
        detect_format(name)  # every shard's format is known before anything is read
    return [prefix + name for name in found]


def _glob_pattern(glob: str) -> "re.Pattern[str]":
    """A shell glob as a regex: ``*`` and ``?`` stay within one folder, ``**/`` spans any number of folders."""
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 1:]:
            end = glob.index("]", i + 1)
            out.append("[" + glob[i + 1:end].replace("!", "^", 1) + "]")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out))


def load_catalog(path: str | Path, *, columns: Mapping[str, str] | None = None,
                 fmt: str | None = None) -> Iterator[CatalogRow]:
    """Stream a catalog file (a local path or an object-store URL) as CatalogRows; a missing file or an unknown
    format fails here, at the call.

    ``columns`` maps the file's column names to ours (``{"name": "title", "img": "image"}``); columns that
    are not ours are kept as attributes. Relative image paths are resolved against the catalog file's folder.
    """
    import pyarrow.fs as pafs

    text = str(path)
    fmt = fmt or detect_format(text)
    readers = {"jsonl": _read_jsonl, "csv": _read_csv, "parquet": _read_parquet}
    if fmt not in readers:
        raise CatalogError(f"unknown catalog format {fmt!r}; use one of {FORMATS}")
    if is_url(text):
        fs, inner = _filesystem(text)
        if fs.get_file_info(inner).type != pafs.FileType.File:
            raise CatalogError(f"catalog file not found: {text}")
        opener: Callable[[], IO[bytes]] = (lambda: fs.open_input_file(inner))
        base: str | Path = text.rsplit("/", 1)[0]
    else:
        local = Path(text)
        if not local.is_file():
            raise CatalogError(f"catalog file not found: {local}")
        opener, base = (lambda: local.open("rb")), local.resolve().parent
    name = text.rsplit("/", 1)[-1]
    mapping = dict(columns or {})
    return _rows(_checked(readers[fmt](opener, name), mapping, name), mapping, base)


REQUIRED_COLUMNS = ("id", "title")
COLUMN_CHECK_ROWS = 20  # rows read before a column no row has is called missing from the file


def _checked(raws: Iterator[tuple[int, Any]], mapping: Mapping[str, str], name: str) -> Iterator[tuple[int, Any]]:
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
        raise CatalogError(f"{name} has no {' or '.join(repr(m) for m in missing)} column (its columns: "
                           f"{', '.join(list(seen)[:12])}); name yours with --column THEIRS=OURS, e.g. {example}")
    return itertools.chain(head, raws)


def _rows(raws: Iterator[tuple[int, Any]], mapping: Mapping[str, str], base: Path | str) -> Iterator[CatalogRow]:
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


def resolve_image_ref(ref: str, base: Path | str) -> str:
    """A URL stays as it is; a relative path becomes absolute against the catalog's folder (a local folder, or
    the folder URL of a catalog in an object store)."""
    if "://" in ref:
        return ref
    if isinstance(base, str):
        return ref if ref.startswith("/") else posixpath.join(base, ref)
    p = Path(ref).expanduser()
    return str(p if p.is_absolute() else (base / p))


def _read_jsonl(opener: Callable[[], IO[bytes]], name: str) -> Iterator[tuple[int, Any]]:
    with io.TextIOWrapper(opener(), encoding="utf-8", errors="replace") as f:
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


def _read_csv(opener: Callable[[], IO[bytes]], name: str) -> Iterator[tuple[int, Any]]:
    delimiter = "\t" if name.lower().endswith(".tsv") else ","
    with io.TextIOWrapper(opener(), encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        for row in reader:
            # A short row leaves None for missing columns; a long one puts extras under the None key.
            extra = row.pop(None, None)
            if extra:
                yield reader.line_num, RowError("csv", f"{len(extra)} more value(s) than header columns")
                continue
            yield reader.line_num, row


def _read_parquet(opener: Callable[[], IO[bytes]], name: str) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    line = 0
    with opener() as f:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                line += 1
                yield line, row
