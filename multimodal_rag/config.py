"""Configuration: a TOML file, the environment and ``--set key=value``, checked by typed models.

A config names the store, each vector field (embedder spec and source fields), the BM25 sources and the
ingest, search, reranker and Q&A settings. ``configs/default.toml`` (shipped as ``multimodal_rag.configs``) runs
when none is given. Each later layer overrides the one before, key by key:

1. the TOML file, after the file it ``extends``;
2. the documented connection variables ``MMRAG_MILVUS_URI``, ``MMRAG_MILVUS_TOKEN``, ``MMRAG_MILVUS_DB_NAME``;
3. ``MMRAG_<SECTION>__<KEY>`` variables for any key (``MMRAG_STORE__URI``, ``MMRAG_SEARCH__K=5``);
4. sections given to ``load_config`` as keywords, then ``--set`` overrides (the command line wins).

Each section is a frozen model: a key's type, range and choices are declared on its field, unknown keys are
refused, and a value is taken as written (``batch_size = "64"`` is text, not a number). Any mistake becomes one
``ConfigError`` line that names the key and says what to write. A new section is a ``Section`` subclass and a field
on ``Config``; a new key is a field on its section (a ``description`` says what to write when it is wrong).
"""

from __future__ import annotations

import copy
import json
import os
import reprlib
import sys
from importlib import resources
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Callable, Literal, Mapping, NamedTuple, Sequence, Union, get_args, get_origin

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, NonNegativeFloat, NonNegativeInt,
                      PositiveFloat, PositiveInt, SecretStr, TypeAdapter, ValidationError, ValidationInfo,
                      field_validator, model_validator)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from multimodal_rag.catalog.photos import FITS, parse_photo_crop, parse_photo_size
from multimodal_rag.catalog.product import PRODUCT_TEXT_FIELDS

IMAGE_SOURCE = "image"
UNDERSTOOD_LIST = "understood"  # the ranked list of the products that satisfy what a query names (search.weights)
Fusion = Literal["relative", "rrf", "weighted"]
Bm25Analyzer = Literal["language", "standard"]
Rewrite = Literal["rules", "llm"]
Parser = Literal["auto", "rules", "llm"]
Understand = Literal["boost", "filter", "off"]
FUSIONS: tuple[str, ...] = get_args(Fusion)
REWRITES: tuple[str, ...] = get_args(Rewrite)
PARSERS: tuple[str, ...] = get_args(Parser)
UNDERSTAND: tuple[str, ...] = get_args(Understand)
TextSource = Literal[PRODUCT_TEXT_FIELDS]  # type: ignore[valid-type]
Source = Literal[PRODUCT_TEXT_FIELDS + (IMAGE_SOURCE,)]  # type: ignore[valid-type]
PhotoFit = Literal[FITS]  # type: ignore[valid-type]


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the key."""


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    return text


def _identifier(name: str) -> str:
    if not name.isidentifier():
        raise ValueError("a field name must be a plain identifier (letters, digits and _)")
    return name


def _accepted_by(parse: Callable[[Any], Any]) -> BeforeValidator:
    """A value that ``parse`` accepts, kept as written; its ValueError names the key."""
    def check(value: Any) -> Any:
        try:
            parse(value)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return value
    return BeforeValidator(check)


Word = Annotated[str, AfterValidator(_not_blank)]
# TOML arrays arrive as lists: the list itself is taken as a tuple, its items stay checked as written.
Words = Annotated[tuple[Word, ...], Field(strict=False)]


class Section(BaseModel):
    """A table of the config: frozen, values checked as written, unknown keys refused."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


class VectorFieldNames:
    """The Milvus fields behind a configured vector field ``name``: its vector and its content hash."""

    name: str

    @property
    def vector_field(self) -> str:
        return f"{self.name}_vec"

    @property
    def hash_field(self) -> str:
        return f"{self.name}_hash"


class FusionWeights(NamedTuple):
    """How much a fused field's vector leans on the photo and on the text: ``{image = 0.6, text = 0.4}``."""

    image: NonNegativeFloat = 0.0
    text: NonNegativeFloat = 0.0


DEFAULT_FUSION_WEIGHTS = FusionWeights(0.5, 0.5)


class VectorFieldConfig(VectorFieldNames, Section):
    """``[vectors.<name>]``: one Milvus vector field, filled by ``embedder`` from the product's ``sources``."""

    name: str = Field(exclude=True)  # the table's key, set by Config
    embedder: Word = Field(description='an embedder spec, e.g. "sentence-transformers:all-MiniLM-L6-v2"')
    sources: Annotated[tuple[Source, ...], Field(strict=False, min_length=1)] = Field(
        description=f'a list of the product fields to embed, e.g. ["title", "brand"] or ["{IMAGE_SOURCE}"]')
    # Only a field whose sources mix the photo and text (one made by ``fusion:``); None: DEFAULT_FUSION_WEIGHTS.
    weights: FusionWeights | None = Field(None, description="a table such as {image = 0.6, text = 0.4}")

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

    @field_validator("weights")
    @classmethod
    def _weights_of_a_fused_field(cls, weights: FusionWeights | None, info: ValidationInfo) -> FusionWeights | None:
        sources = info.data.get("sources", ())
        if weights is not None and not (IMAGE_SOURCE in sources and len(sources) > 1):
            raise ValueError(f"only a field whose sources mix {IMAGE_SOURCE!r} and text is weighted")
        if weights is not None and sum(weights) == 0:
            raise ValueError(f"at least one of {list(FusionWeights._fields)} must be above 0")
        return weights


# A dict key checked as a name; the values are validated under their names, so errors say vectors.<name>.<key>.
_VECTOR_TABLE = TypeAdapter(dict[Annotated[str, AfterValidator(_identifier)], VectorFieldConfig])


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


class StoreConfig(Section):
    db: Annotated[str, AfterValidator(lite_db_path)] = "./mmrag.db"
    uri: str | None = None
    # A secret: shown as ********** in repr and dumps; ``token`` gives the text to the client.
    secret_token: SecretStr | None = Field(None, alias="token")
    db_name: str | None = None
    collection: Word = "products"
    index: Word = "auto"  # "auto": FLAT, then HNSW once the collection holds 10,000 products; or an index type
    timeout_s: PositiveFloat = 30.0
    retries: NonNegativeInt = 2  # further connection attempts to a server (with backoff) before an error

    @property
    def token(self) -> str | None:
        return self.secret_token.get_secret_value() if self.secret_token is not None else None


class IngestConfig(Section):
    batch_size: PositiveInt = 64
    image_workers: PositiveInt = 8
    image_timeout_s: PositiveFloat = 10.0
    image_retries: NonNegativeInt = 2
    max_image_bytes: PositiveInt = 20_000_000
    max_image_pixels: PositiveInt = 40_000_000
    # Reuse vectors computed before for the same content by the same model, across collections (a SQLite file
    # in the cache folder). `mmrag eval`, `eval-qa` and `align` always use it.
    embedding_cache: bool = False


class SearchConfig(Section):
    # How each field's list is fused: "relative" (each list's scores scaled to 0..1 over its candidates, then a
    # weighted sum), "rrf" (Milvus' reciprocal rank fusion) or "weighted" (Milvus' weighted sum of atan-normalised
    # scores); weights per field name ("bm25", a vector field, "understood").
    fusion: Fusion = "rrf"
    rrf_k: PositiveInt = 60
    # How many candidates each field hands to the fusion (the answer is still cut to k), each with its stored fields
    # (what the understood boosts test, and what the products returned carry: no second read). 50: Home Depot's
    # real queries 0.002-0.003 nDCG@10 under 100, the other dev sets equal, at 3/4 of its cost (docs/benchmarks.md,
    # "Fusion depth").
    depth: Annotated[int, Field(ge=1, le=1000)] = 50
    # Query words the catalog never uses are also searched as the catalog word they misspell (see `understood`).
    spelling: bool = True
    weights: dict[str, NonNegativeFloat] = Field(
        {}, description='a table of weights per field name, e.g. {text = 1.0, image = 0.5, bm25 = 0.3}')
    k: PositiveInt = 10
    # Which fields queries are routed to (vector field names and/or "bm25"); empty means every field.
    fields: Words = Field((), description='a list of field names, e.g. ["text", "bm25"]')
    # Query photos meet the catalog's photos (see multimodal_rag.catalog.photos): shrunk to "WxH", or "auto" to
    # the catalog's median size when it holds thumbnails (0: never), fitted by "stretch", "crop" or "keep"; and
    # centre-cropped to a fraction of their shorter side, or "auto": scene photos against product shots only.
    query_photo_size: Annotated[int | str, _accepted_by(parse_photo_size)] = "auto"
    query_photo_fit: PhotoFit = "stretch"
    query_photo_crop: Annotated[float | str, _accepted_by(parse_photo_crop)] = "auto"
    # The catalog's facets read from a query's text: "boost" (the candidates satisfying them get one more list),
    # "filter" (only those), or "off"; and a shopper's words for facet values, {"gents": "Men"}.
    understand: Understand = "boost"
    synonyms: dict[Word, Word] = Field({}, description='a table of word -> facet value, e.g. {gents = "Men"}')
    # Facets a shopper gives up first (attribute names, or "brand"): products missing only these rank right after
    # those that satisfy everything, and a search that finds nothing drops them first.
    relax_first: Words = Field(("color",),
                               description='a list of facet names, e.g. ["colour", "baseColour"]')


class Bm25Config(Section):
    # Milvus' built-in BM25 function over these text fields; none: no sparse field.
    sources: Annotated[tuple[TextSource, ...], Field(strict=False)] = Field(
        (), description='a list of product text fields, e.g. ["title", "description"]')
    # "language": products and queries analysed alike here, in the catalog's language (units, stop words, stems,
    # Chinese and Korean words; multimodal_rag.language), Milvus given the terms; "standard": Milvus' standard
    # tokenizer on the raw text.
    analyzer: Bm25Analyzer = "language"


def _language(code: str) -> str:
    if code != "auto" and not (len(code) == 2 and code.isascii() and code.isalpha() and code.islower()):
        raise ValueError('must be "auto" or a two-letter ISO 639-1 code such as "en", "zh", "ko"')
    return code


class CatalogConfig(Section):
    # The language the catalog is written in (ISO 639-1): its BM25 analysis and the wordings queries and questions
    # are read with. "auto": read from the catalog's own text at its first ingest, then kept with the collection.
    language: Annotated[str, AfterValidator(_language)] = "auto"


class RerankerConfig(Section):
    spec: Word = "none"          # "none", "cross-encoder:<name-or-path>", "llm:<llm-spec>"
    candidates: PositiveInt = 30  # first-stage products the reranker sees; the best `k` are returned


class QAConfig(Section):
    llm: Word = "smollm2"         # smollm2 (offline), hf:<name-or-path>, openai:<model>, ollama:<model>
    context_k: PositiveInt = 5    # numbered products in the prompt
    max_new_tokens: PositiveInt = 96
    rewrite: Rewrite = "rules"    # follow-ups made standalone by "rules" (no model call) or by the "llm"
    # Who reads a question: "rules" (offline), "llm" (the chat model's structured output: a model that calls
    # tools, e.g. openai:), "auto" (the chat model's when it calls tools, else the rules)
    parser: Parser = "auto"
    # More words for a field: {field or attribute name: [phrases]}, added to the built-in synonyms
    synonyms: dict[str, Words] = Field(
        {}, description='a table of field name -> list of phrases, e.g. {"Warranty Summary" = ["guarantee"]}')


class Config(BaseSettings):
    """The whole config. ``MMRAG_<SECTION>__<KEY>`` environment variables name its keys (see ``load_config``)."""

    model_config = SettingsConfigDict(env_prefix="MMRAG_", env_nested_delimiter="__", env_ignore_empty=True,
                                      strict=True, extra="forbid", frozen=True)

    store: StoreConfig = StoreConfig()
    catalog: CatalogConfig = CatalogConfig()
    # Written as [vectors.<name>] tables; kept in the file's order.
    vectors: tuple[VectorFieldConfig, ...] = Field(
        (), description='a table such as [vectors.text] with embedder = "..." and sources = [...]')
    bm25: Bm25Config = Bm25Config()
    ingest: IngestConfig = IngestConfig()
    search: SearchConfig = SearchConfig()
    reranker: RerankerConfig = RerankerConfig()
    qa: QAConfig = QAConfig()

    @property
    def bm25_sources(self) -> tuple[str, ...]:
        return self.bm25.sources

    @field_validator("vectors", mode="before")
    @classmethod
    def _named_vector_fields(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        named = {name: {**spec, "name": name} if isinstance(spec, Mapping) else spec for name, spec in value.items()}
        return tuple(_VECTOR_TABLE.validate_python(named).values())

    @model_validator(mode="after")
    def _fields_exist(self) -> Config:
        """Rules across sections: something to search, and the search settings name only configured fields."""
        searchable = [v.name for v in self.vectors] + (["bm25"] if self.bm25_sources else [])
        if not searchable:
            raise ConfigError("the config has no vector field and no bm25 sources: nothing to search")
        # The list of products that satisfy what a query names is weighted like a field.
        for key, names, known in (("search.fields", self.search.fields, searchable),
                                  ("search.weights", self.search.weights, [*searchable, UNDERSTOOD_LIST])):
            unknown = sorted(set(names) - set(known))
            if unknown:
                raise ConfigError(f"{key}: {unknown} are not fields of this config; use {sorted(known)}")
        return self


def default_config_text() -> str:
    return resources.files("multimodal_rag.configs").joinpath("default.toml").read_text()


# The documented connection variables (secrets above all): a deployment sets them rather than a file.
STORE_ENVIRONMENT = {"MMRAG_MILVUS_URI": "uri", "MMRAG_MILVUS_TOKEN": "token", "MMRAG_MILVUS_DB_NAME": "db_name"}


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                **sections: Mapping[str, Any]) -> Config:
    """Read a TOML config (the shipped default when ``path`` is None), then the environment, then sections given
    as keywords (``store={"db": "./shop.db"}``), then ``key=value`` overrides (the command line wins)."""
    raw = _read_toml(path, seen=())
    for layer in _environment():
        raw = _overlay(raw, layer)
    for name, section in sections.items():
        if not isinstance(section, Mapping):
            raise ConfigError(f"load_config({name}=...): a section is a mapping such as {{'db': './shop.db'}}")
        raw = _overlay(raw, {name: section})
    if isinstance(overrides, str):
        overrides = [overrides]
    for item in overrides:
        apply_override(raw, item)
    return config_from_dict(raw)


def config_from_dict(raw: Mapping[str, Any]) -> Config:
    """A checked ``Config`` from a config's tables; ``ConfigError`` (one line) for the first mistake."""
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None


def resolve_config(config: "Config | str | Path | None" = None, *, db: str | None = None,
                   uri: str | None = None, collection: str | None = None) -> Config:
    """A ``Config`` from a config, a TOML path or None (the default), with the store's place given by keyword:
    ``db`` (a Milvus Lite file), ``uri`` (a server) and ``collection``."""
    if not isinstance(config, Config):
        config = load_config(config)
    changes: dict[str, Any] = {}
    if db is not None:
        changes.update(db=lite_db_path(db), uri=None)
    if uri is not None:
        changes["uri"] = uri
    if collection is not None:
        changes["collection"] = collection
    return config.model_copy(update={"store": config.store.model_copy(update=changes)})


def _environment() -> list[dict]:
    """The environment's layers, the documented ``MMRAG_MILVUS_*`` variables first (lower)."""
    milvus = {key: os.environ[name] for name, key in STORE_ENVIRONMENT.items() if os.environ.get(name)}
    return [{"store": milvus}, _typed(Config, EnvSettingsSource(Config)())]


def _typed(annotation: Any, value: Any) -> Any:
    """Environment values are text: each is read as a ``--set`` value is (TOML, else text), except for keys whose
    type is text, so that ``MMRAG_SEARCH__K=5`` is a number and ``MMRAG_STORE__TOKEN=12345`` stays text."""
    if isinstance(value, Mapping):
        return {key: _typed(_entry(annotation, key), v) for key, v in value.items()}
    if isinstance(value, str) and not _takes_text_only(annotation):
        return _parse_value(value)
    return value


def _entry(annotation: Any, key: str) -> Any:
    """The type of ``key``'s value in a table of type ``annotation``."""
    section, by_name = _section(annotation)
    if by_name:
        return section
    if section is not None:
        field = _keys(section).get(key)
        return field.annotation if field is not None else Any
    return get_args(annotation)[-1] if get_origin(annotation) is dict else Any


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


# -- one-line errors -----------------------------------------------------------------------------------------

# What to write instead, by pydantic's error type (a field's ``description`` says it better where there is one).
_EXPECTED = {
    "int_type": "a whole number", "int_from_float": "a whole number", "float_type": "a number",
    "bool_type": "true or false", "string_type": "text in quotes", "tuple_type": "a list", "dict_type": "a table",
    "model_type": "a table", "named_tuple_type": "a table", "finite_number": "a finite number",
}
_BOUNDS = {"greater_than": "above {gt}", "greater_than_equal": "at least {ge}", "less_than": "below {lt}",
           "less_than_equal": "at most {le}", "too_short": "a list of at least {min_length} item(s)"}


def _one_line(exc: ValidationError) -> str:
    """The first mistake, named by its key path, with what to write."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(part for part in first["loc"] if part != "[key]")
    path = ".".join(map(str, loc))
    kind, ctx = first["type"], first.get("ctx") or {}
    if kind == "value_error":
        error = ctx["error"]
        return str(error) if isinstance(error, ConfigError) else f"{path}: {error}"
    if kind == "extra_forbidden":
        parent = loc[:-1]
        unknown = sorted(e["loc"][-1] for e in errors if e["type"] == "extra_forbidden" and e["loc"][:-1] == parent)
        known = sorted(_keys(_schema_at(parent)[0]))
        where = ".".join(map(str, parent)) or "the config"
        return f"{where}: unknown key(s) {unknown}; known: {known}"
    field = _schema_at(loc)[1]
    if kind == "missing":
        what = f": {field.description}" if field is not None and field.description else ""
        return f"{path} is missing{what}"
    if kind == "literal_error":
        expected = f"one of {ctx['expected']}"
    elif kind in _BOUNDS:
        expected = _BOUNDS[kind].format(**ctx)
    elif field is not None and field.description and kind in _EXPECTED:
        expected = field.description
    elif kind in _EXPECTED:
        expected = _EXPECTED[kind]
    else:
        return f"{path}: {first['msg']}"
    secret = field is not None and SecretStr in _members(field.annotation)
    return f"{path} must be {expected}" + ("" if secret else f", not {reprlib.repr(first['input'])}")


def _keys(model: type) -> dict[str, FieldInfo]:
    """A section's keys as written in a file (aliases included, the table-key ``name`` left out)."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        return {field.alias or name: field for name, field in model.model_fields.items() if not field.exclude}
    return {name: FieldInfo(annotation=Any) for name in getattr(model, "_fields", ())}  # a NamedTuple's keys


def _members(annotation: Any) -> tuple[Any, ...]:
    """The types a value of ``annotation`` may have (``Annotated`` constraints set aside)."""
    members = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    return tuple(get_args(m)[0] if get_origin(m) is Annotated else m for m in members)


def _section(annotation: Any) -> tuple[type | None, bool]:
    """The table type a key holds, if any, and whether it holds such tables by name ([vectors.<name>])."""
    for member in _members(annotation):
        if get_origin(member) in (tuple, dict):
            member, by_name = get_args(member)[-1 if get_origin(member) is dict else 0], True
        else:
            by_name = False
        if isinstance(member, type) and (issubclass(member, BaseModel) or hasattr(member, "_fields")):
            return member, by_name
    return None, False


def _schema_at(loc: Sequence) -> tuple[type | None, FieldInfo | None]:
    """The table type a key path leads to and the field of its last key (None where it leaves the schema)."""
    table: type | None = Config
    field = None
    parts = list(loc)
    while parts:
        field = _keys(table).get(parts.pop(0)) if table is not None else None
        if field is None:
            return None, None
        table, by_name = _section(field.annotation)
        if by_name and parts:
            parts.pop(0)  # the table's name
    return table, field


def _takes_text_only(annotation: Any) -> bool:
    return all(member in (str, SecretStr, NoneType) for member in _members(annotation))
