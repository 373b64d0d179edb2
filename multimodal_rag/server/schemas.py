"""What the API takes and gives, as pydantic models, and how one route takes two kinds of body.

``/api/search`` and ``/api/ask`` take JSON or multipart on the same path (the README's contract). FastAPI reads
one kind of body per route, so these routes read theirs here (``read_body``) through the same pydantic models
that ``body_kinds`` declares in OpenAPI: ``/docs`` shows both request schemas of both routes, and a body is
checked by the model its schema comes from.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar

from fastapi import HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Json, ValidationError
from pydantic.json_schema import models_json_schema

from multimodal_rag.server.state import ServeLimits

LIMITS = ServeLimits()
SCHEMAS = "#/components/schemas/"


# -- request fields, shared by the JSON and the multipart models ----------------------------------------------

def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("the question is blank")
    return value


Question = Annotated[str, Field(min_length=1, max_length=LIMITS.max_text_chars, description="what the shopper asks"),
                     AfterValidator(_not_blank)]
Filters = Annotated[dict[str, Any], Field(description='filters as data, e.g. {"price": {"lt": 500}}')]
Count = Annotated[int, Field(ge=1, le=LIMITS.max_k, description="how many products")]
Photo = Annotated[UploadFile, Field(description="a photo: JPEG, PNG, WebP, GIF or BMP (recognised by content)")]


class HistoryTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(max_length=LIMITS.max_text_chars)
    answer: str = Field(max_length=4 * LIMITS.max_text_chars)
    products: list[dict[str, Any]] = Field(default_factory=list, max_length=20)


History = Annotated[list[HistoryTurn], Field(max_length=LIMITS.max_history_turns,
                                             description="the conversation so far, oldest first")]


class SearchRequest(BaseModel):
    """The JSON body of POST /api/search: products for a text."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=LIMITS.max_text_chars, description="what the shopper typed")
    filters: Filters | None = None
    k: Count = 10


class PhotoSearchForm(BaseModel):
    """POST /api/search as multipart: products for a photo (and an optional text); `filters` is JSON."""

    model_config = ConfigDict(extra="forbid")

    image: Photo
    text: str | None = Field(default=None, max_length=LIMITS.max_text_chars, description="words to search with")
    filters: Json[Filters] | None = None
    k: Count = 10


class AskRequest(BaseModel):
    """The JSON body of POST /api/ask."""

    model_config = ConfigDict(extra="forbid")

    question: Question
    history: History = Field(default_factory=list)
    filters: Filters | None = None


class AskForm(BaseModel):
    """POST /api/ask as multipart, with a photo; `history` and `filters` are JSON."""

    model_config = ConfigDict(extra="forbid")

    question: Question
    image: Photo | None = None
    history: Json[History] = Field(default_factory=list)
    filters: Json[Filters] | None = None


# -- responses ----------------------------------------------------------------------------------------------

class ConstraintOut(BaseModel):
    facet: str
    values: list[str]
    op: str
    low: float | None
    high: float | None
    words: list[str]
    note: str


class Understood(BaseModel):
    """What a query was understood to ask: its constraints and price order, the words left, those dropped, the
    price order given up (no product found has a price), and its spelling corrections (a query word -> the
    catalog's word searched beside it)."""

    text: str
    constraints: list[ConstraintOut]
    sort: Literal["asc", "desc"] | None
    rest: str
    dropped: list[str]
    unordered: Literal["asc", "desc"] | None = None
    corrected: dict[str, str] = {}


class SearchHit(BaseModel):
    """One found product, as `mmrag search --json` gives it."""

    id: str
    title: str | None
    score: float
    price: float | None
    currency: str | None
    brand: str | None
    category: str | None
    image: str | None
    scores: dict[str, float] = Field(description="each field's similarity")
    ranks: dict[str, int] = Field(description="the product's rank in each field's list")
    rerank_score: float | None
    understood: Understood | None


class ProductSummary(BaseModel):
    id: str
    title: str | None
    price: float | None
    currency: str | None
    brand: str | None
    category: str | None
    image: str | None


class Answer(BaseModel):
    """An answer, as `mmrag ask --json` gives it: the cited products and how the answer was grounded."""

    question: str
    query: str = Field(description="the question as searched (a follow-up completed from the history)")
    answer: str
    cited: list[ProductSummary]
    products: list[ProductSummary]
    grounding: str
    written_by: Literal["model", "chain"]
    field: str | None
    understood: Understood | None


class ErrorBody(BaseModel):
    error: str


# -- two body kinds on one path -----------------------------------------------------------------------------

REQUEST_MODELS: tuple[type[BaseModel], ...] = (SearchRequest, PhotoSearchForm, AskRequest, AskForm)


def request_schemas() -> dict[str, Any]:
    """The request models' schemas (and those they use), for OpenAPI's components."""
    _, schemas = models_json_schema([(m, "validation") for m in REQUEST_MODELS], ref_template=SCHEMAS + "{model}")
    return schemas["$defs"]


def body_kinds(json_model: type[BaseModel], form_model: type[BaseModel]) -> dict[str, Any]:
    """A route's ``openapi_extra``: it takes ``json_model`` as JSON or ``form_model`` as multipart (both must be
    in ``REQUEST_MODELS``, whose schemas the app adds to OpenAPI's components)."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": SCHEMAS + json_model.__name__}},
        "multipart/form-data": {"schema": {"$ref": SCHEMAS + form_model.__name__}}}}}


J = TypeVar("J", bound=BaseModel)
F = TypeVar("F", bound=BaseModel)


async def read_body(request: Request, json_model: type[J], form_model: type[F]) -> J | F:
    """The request's body as ``form_model`` when it is multipart, else as ``json_model``. Invalid fields answer
    422 naming them (FastAPI's own validation error); a body that is not JSON answers 400."""
    try:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=8)
            return form_model.model_validate(dict(form))
        return json_model.model_validate_json(await request.body())
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" and not e["loc"] for e in exc.errors()):
            fields = ", ".join(json.dumps(name) for name in json_model.model_fields)
            raise HTTPException(400, f"the body must be JSON {{{fields}}}, or multipart/form-data with the fields "
                                     f"of {form_model.__name__} (see /docs)") from None
        raise RequestValidationError(exc.errors()) from None
