"""Configuration: a TOML file, overridable with ``--set key=value``.

A config names the store, each vector field (embedder spec and source fields), the BM25 sources and the
ingest settings. ``configs/default.toml`` (shipped as ``multimodal_rag.configs``) runs when none is given.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from multimodal_rag.catalog.photos import FITS, parse_photo_crop, parse_photo_size
from multimodal_rag.catalog.product import PRODUCT_TEXT_FIELDS

IMAGE_SOURCE = "image"
TEXT_SOURCES = frozenset(PRODUCT_TEXT_FIELDS)
FUSIONS = ("rrf", "weighted")
REWRITES = ("rules", "llm")
UNDERSTAND = ("boost", "filter", "off")


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the key."""


class VectorFieldNames:
    """The Milvus fields behind a configured vector field ``name``: its vector and its content hash."""

    name: str

    @property
    def vector_field(self) -> str:
        return f"{self.name}_vec"

    @property
    def hash_field(self) -> str:
        return f"{self.name}_hash"


FUSION_PARTS = ("image", "text")
DEFAULT_FUSION_WEIGHTS = (0.5, 0.5)


@dataclass(frozen=True)
class VectorFieldConfig(VectorFieldNames):
    name: str
    embedder: str
    sources: tuple[str, ...]
    # (image, text) weights of a field fused by ``fusion:`` (None: not set, DEFAULT_FUSION_WEIGHTS apply).
    weights: tuple[float, float] | None = None

    @property
    def modality(self) -> str:
        """"image" when the field embeds the product photo, "text" when it embeds text built from fields,
        "fused" when it combines the photo with text (a ``fusion:`` or ``gme:`` embedder)."""
        if IMAGE_SOURCE not in self.sources:
            return "text"
        return "image" if len(self.sources) == 1 else "fused"

    @property
    def text_sources(self) -> tuple[str, ...]:
        return tuple(s for s in self.sources if s != IMAGE_SOURCE)


# Connection settings a deployment sets in its environment rather than in a file (secrets above all).
STORE_ENVIRONMENT = {"MMRAG_MILVUS_URI": "uri", "MMRAG_MILVUS_TOKEN": "token", "MMRAG_MILVUS_DB_NAME": "db_name"}


LITE_SUFFIX = ".db"
LITE_FILE = "mmrag.db"


def lite_db_path(db: str | os.PathLike) -> str:
    """Milvus Lite keeps a store in a file whose name ends in ``.db``. A name without a suffix (``./store``) is
    taken as a folder holding ``mmrag.db``; any other suffix is refused with the rule."""
    text = os.fspath(db)
    path = Path(text).expanduser()
    if path.suffix == LITE_SUFFIX:
        return text
    if path.suffix and not path.is_dir():
        raise ConfigError(f"store.db {text!r}: a Milvus Lite store is a file ending in {LITE_SUFFIX}, "
                          f"for example --db ./shop.db (or a folder name such as ./store, kept as ./store/{LITE_FILE})")
    return str(Path(text) / LITE_FILE)


@dataclass(frozen=True)
class StoreConfig:
    db: str = "./mmrag.db"
    uri: str | None = None
    token: str | None = field(default=None, repr=False)  # never printed
    db_name: str | None = None
    collection: str = "products"
    index: str = "auto"  # "auto": FLAT, then HNSW once the collection holds 10,000 products; or an index type
    timeout_s: float = 30.0
    retries: int = 2  # further connection attempts to a server (with backoff) before an error

    def __post_init__(self) -> None:
        object.__setattr__(self, "db", lite_db_path(self.db))


@dataclass(frozen=True)
class IngestConfig:
    batch_size: int = 64
    image_workers: int = 8
    image_timeout_s: float = 10.0
    image_retries: int = 2
    max_image_bytes: int = 20_000_000
    max_image_pixels: int = 40_000_000
    # Reuse vectors computed before for the same content by the same model, across collections (a SQLite file
    # in the cache folder). `mmrag eval`, `eval-qa` and `align` always use it.
    embedding_cache: bool = False


@dataclass(frozen=True)
class SearchConfig:
    fusion: str = "rrf"          # "rrf" or "weighted"
    rrf_k: int = 60
    weights: Mapping[str, float] = field(default_factory=dict)  # per field name ("text", "image", "bm25")
    k: int = 10
    # Which fields queries are routed to (vector field names and/or "bm25"); empty means every field.
    fields: tuple[str, ...] = ()
    # Query photos meet the catalog's photos (see multimodal_rag.catalog.photos): shrunk to "WxH", or "auto" to
    # the catalog's median size when it holds thumbnails (0: never), fitted by "stretch", "crop" or "keep"; and
    # centre-cropped to a fraction of their shorter side, or "auto": scene photos against product shots only.
    query_photo_size: int | str = "auto"
    query_photo_fit: str = "stretch"
    query_photo_crop: float | str = "auto"
    # The catalog's facets read from a query's text: "boost" (products satisfying them get one more ranked list),
    # "filter" (only those), or "off"; and a shopper's words for facet values, {"gents": "Men"}.
    understand: str = "boost"
    synonyms: Mapping[str, str] = field(default_factory=dict)
    # Facets a shopper gives up first (attribute names, or "brand"): products missing only these rank right after
    # those that satisfy everything, and a search that finds nothing drops them first.
    relax_first: tuple[str, ...] = ("colour", "color", "basecolour")


@dataclass(frozen=True)
class RerankerConfig:
    spec: str = "none"           # "none", "cross-encoder:<name-or-path>", "llm:<llm-spec>"
    candidates: int = 30         # first-stage products the reranker sees; the best `k` are returned


@dataclass(frozen=True)
class QAConfig:
    llm: str = "smollm2"         # smollm2 (offline), hf:<name-or-path>, openai:<model>, ollama:<model>
    context_k: int = 5           # numbered products in the prompt
    max_new_tokens: int = 96
    rewrite: str = "rules"       # follow-ups made standalone by "rules" (no model call) or by the "llm"
    # More words for a field: {field or attribute name: [phrases]}, added to the built-in synonyms
    synonyms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    store: StoreConfig
    vectors: tuple[VectorFieldConfig, ...]
    bm25_sources: tuple[str, ...]
    ingest: IngestConfig
    search: SearchConfig = field(default_factory=SearchConfig)
    reranker: RerankerConfig = field(default_factory=RerankerConfig)
    qa: QAConfig = field(default_factory=QAConfig)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def default_config_text() -> str:
    return resources.files("multimodal_rag.configs").joinpath("default.toml").read_text()


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                **sections: Mapping[str, Any]) -> Config:
    """Read a TOML config (the shipped default when ``path`` is None), then the ``MMRAG_MILVUS_*`` environment
    variables, then sections given as keywords (``store={"db": "./shop.db"}``), then ``key=value`` overrides
    (the command line wins)."""
    raw = _read_toml(path, seen=())
    for variable, key in STORE_ENVIRONMENT.items():
        if os.environ.get(variable):
            raw.setdefault("store", {})[key] = os.environ[variable]
    for name, section in sections.items():
        if not isinstance(section, Mapping):
            raise ConfigError(f"load_config({name}=...): a section is a mapping such as {{'db': './shop.db'}}")
        raw = _overlay(raw, {name: section})
    if isinstance(overrides, str):
        overrides = [overrides]
    for item in overrides:
        apply_override(raw, item)
    return config_from_dict(raw)


def resolve_config(config: "Config | str | Path | None" = None, *, db: str | None = None,
                   uri: str | None = None, collection: str | None = None) -> Config:
    """A ``Config`` from a config, a TOML path or None (the default), with the store's place given by keyword:
    ``db`` (a Milvus Lite file), ``uri`` (a server) and ``collection``."""
    if not isinstance(config, Config):
        config = load_config(config)
    store = config.store
    if db is not None:
        store = replace(store, db=db, uri=None)
    if uri is not None:
        store = replace(store, uri=uri)
    if collection is not None:
        store = replace(store, collection=collection)
    return replace(config, store=store)


def _read_toml(path: str | Path | None, seen: tuple[Path, ...]) -> dict:
    """A config as a dict; ``extends = "other.toml"`` (relative to the file) is read first and overlaid."""
    if path is None:
        return tomllib.loads(default_config_text())
    p = Path(path).resolve()
    if p in seen:
        raise ConfigError(f"{p}: `extends` loops back to itself")
    if not p.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    return _overlay(_read_toml(p.parent / parent, seen + (p,)), raw)


def _overlay(base: dict, top: Mapping) -> dict:
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _overlay(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_override(raw: dict, item: str) -> None:
    """Set ``a.b.c=value`` in a nested dict; the value is parsed as TOML/JSON when it can be, else kept as text."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set takes key=value, got {item!r}")
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part!r} is not a table")
    node[parts[-1]] = _parse_value(value.strip())


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def config_from_dict(raw: Mapping[str, Any]) -> Config:
    store = StoreConfig(**_known(raw.get("store", {}), StoreConfig, "store"))
    ingest = IngestConfig(**_known(raw.get("ingest", {}), IngestConfig, "ingest"))
    search = SearchConfig(**_known(raw.get("search", {}), SearchConfig, "search"))
    if isinstance(search.relax_first, str) or not all(isinstance(n, str) and n.strip() for n in search.relax_first):
        raise ConfigError('search.relax_first must be a list of facet names, e.g. ["colour", "baseColour"]')
    search = replace(search, fields=tuple(search.fields), relax_first=tuple(search.relax_first))
    if search.fusion not in FUSIONS:
        raise ConfigError(f"search.fusion must be one of {FUSIONS}, not {search.fusion!r}")
    try:
        parse_photo_size(search.query_photo_size)
        parse_photo_crop(search.query_photo_crop)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if search.understand not in UNDERSTAND:
        raise ConfigError(f"search.understand must be one of {UNDERSTAND}, not {search.understand!r}")
    if not isinstance(search.synonyms, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and k.strip() and v.strip() for k, v in search.synonyms.items()):
        raise ConfigError('search.synonyms must be a table of word -> facet value, e.g. {gents = "Men"}')
    if search.query_photo_fit not in FITS:
        raise ConfigError(f"search.query_photo_fit must be one of {FITS}, not {search.query_photo_fit!r}")
    reranker = RerankerConfig(**_known(raw.get("reranker", {}), RerankerConfig, "reranker"))
    qa = QAConfig(**_known(raw.get("qa", {}), QAConfig, "qa"))
    if qa.rewrite not in REWRITES:
        raise ConfigError(f"qa.rewrite must be one of {REWRITES}, not {qa.rewrite!r}")
    if not isinstance(qa.synonyms, Mapping) or not all(
            isinstance(v, (list, tuple)) and all(isinstance(p, str) and p.strip() for p in v)
            for v in qa.synonyms.values()):
        raise ConfigError('qa.synonyms must be a table of field name -> list of phrases, e.g. '
                          '{"Warranty Summary" = ["guarantee"]}')
    if qa.context_k < 1:
        raise ConfigError(f"qa.context_k must be at least 1, not {qa.context_k}")
    vectors = []
    for name, spec in (raw.get("vectors") or {}).items():
        if not name.isidentifier():
            raise ConfigError(f"vectors.{name}: a field name must be a plain identifier")
        if not isinstance(spec, Mapping) or not spec.get("embedder"):
            raise ConfigError(f"vectors.{name}: needs an `embedder` spec")
        sources = tuple(spec.get("sources") or ())
        if not sources:
            raise ConfigError(f"vectors.{name}: needs `sources` (product fields to embed)")
        _check_sources(f"vectors.{name}.sources", sources, allow_image=True)
        weights = _fusion_weights(f"vectors.{name}", spec, sources)
        vectors.append(VectorFieldConfig(name=name, embedder=str(spec["embedder"]), sources=sources,
                                         weights=weights))
    bm25 = tuple((raw.get("bm25") or {}).get("sources") or ())
    _check_sources("bm25.sources", bm25, allow_image=False)
    searchable = {v.name for v in vectors} | ({"bm25"} if bm25 else set())
    unknown = sorted(set(search.fields) - searchable)
    if unknown:
        raise ConfigError(f"search.fields: {unknown} are not fields of this config; use {sorted(searchable)}")
    if not vectors and not bm25:
        raise ConfigError("the config has no vector field and no bm25 sources: nothing to search")
    return Config(store=store, vectors=tuple(vectors), bm25_sources=bm25, ingest=ingest, search=search,
                  reranker=reranker, qa=qa, raw=raw)


def _check_sources(key: str, sources: tuple[str, ...], *, allow_image: bool) -> None:
    if IMAGE_SOURCE in sources and not allow_image:
        raise ConfigError(f"{key}: BM25 works on text only, not {IMAGE_SOURCE!r}")
    unknown = [s for s in sources if s not in TEXT_SOURCES and s != IMAGE_SOURCE]
    if unknown:
        raise ConfigError(f"{key}: unknown source field(s) {unknown}; use {sorted(TEXT_SOURCES)} or 'image'")


def _fusion_weights(key: str, spec: Mapping, sources: tuple[str, ...]) -> tuple[float, float] | None:
    """``weights = {image = 0.6, text = 0.4}`` of a field whose sources mix the photo and text."""
    known = {"embedder", "sources", "weights"}
    if set(spec) - known:
        raise ConfigError(f"{key}: unknown key(s) {sorted(set(spec) - known)}; known: {sorted(known)}")
    fused = IMAGE_SOURCE in sources and len(sources) > 1
    if "weights" not in spec:
        return None
    if not fused:
        raise ConfigError(f"{key}.weights: only a field whose sources mix {IMAGE_SOURCE!r} and text is weighted")
    weights = spec["weights"]
    if not isinstance(weights, Mapping) or set(weights) - set(FUSION_PARTS):
        raise ConfigError(f"{key}.weights: a table with keys {list(FUSION_PARTS)}, got {weights!r}")
    out = []
    for part in FUSION_PARTS:
        w = weights.get(part, 0.0)
        if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 or w != w:
            raise ConfigError(f"{key}.weights.{part}: a number of 0 or more, got {w!r}")
        out.append(float(w))
    if sum(out) == 0:
        raise ConfigError(f"{key}.weights: at least one of {list(FUSION_PARTS)} must be above 0")
    return out[0], out[1]


def _known(section: Any, cls: type, name: str) -> dict:
    if not isinstance(section, Mapping):
        raise ConfigError(f"[{name}] must be a table")
    allowed = set(cls.__dataclass_fields__)
    unknown = set(section) - allowed
    if unknown:
        raise ConfigError(f"[{name}] unknown key(s) {sorted(unknown)}; known: {sorted(allowed)}")
    return dict(section)
