"""The JSON API: ``/api/search``, ``/api/ask`` (server-sent events or one JSON object), ``/api/products/{id}``,
``/api/products/{id}/image``, and ``/healthz``. One router per concern; the shared state comes in as a dependency."""

from __future__ import annotations

import asyncio
import json
import mimetypes
from typing import Any, AsyncIterator

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.datastructures import UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from PIL import Image
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from multimodal_rag.catalog.images import ImageError, ImageFetcher
from multimodal_rag.server.errors import user_message
from multimodal_rag.qa import QAInput, Turn
from multimodal_rag.retrieval import ProductQuery
from multimodal_rag.retrieval.retriever import search_result
from multimodal_rag.server.state import AppState, Busy, ServeLimits
from multimodal_rag.server.uploads import image_format, read_photo
from multimodal_rag.store.milvus import SCALAR_FIELDS

LIMITS = ServeLimits()


def state(request: Request) -> AppState:
    return request.app.state.mmrag


# -- request models ---------------------------------------------------------------------------------------------

class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=LIMITS.max_text_chars, description="what the shopper typed")
    filters: dict[str, Any] | None = Field(default=None, description='filters as data, e.g. {"price": {"lt": 500}}')
    k: int = Field(default=10, ge=1, le=LIMITS.max_k)


class HistoryTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(max_length=LIMITS.max_text_chars)
    answer: str = Field(max_length=4 * LIMITS.max_text_chars)
    products: list[dict[str, Any]] = Field(default_factory=list, max_length=20)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=LIMITS.max_text_chars)
    history: list[HistoryTurn] = Field(default_factory=list, max_length=LIMITS.max_history_turns)
    filters: dict[str, Any] | None = None

    @field_validator("question")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the question is blank")
        return value


def _json_form(value: str | None, name: str) -> Any:
    if value is None or value == "":
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise HTTPException(400, f"the form field `{name}` must be JSON: {exc.msg}") from None


def _validated(model: type[BaseModel], data: Any) -> Any:
    """A request model from a body read by hand (JSON or a form): invalid fields answer 422 like FastAPI's own."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


def _turns(history: list[HistoryTurn]) -> list[Turn]:
    return [Turn(t.question, t.answer, t.products) for t in history]


# -- search ---------------------------------------------------------------------------------------------------

search_router = APIRouter(tags=["search"])


async def _search(app: AppState, query: ProductQuery) -> list[dict]:
    docs = await asyncio.to_thread(app.retriever.invoke, query)
    return [search_result(d) for d in docs]


@search_router.post("/api/search", summary="Products for a text (JSON body) or a photo (multipart, field `image`)")
async def search(request: Request, app: AppState = Depends(state)) -> list[dict]:
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await search_by_photo(request, app)
    try:
        body = _validated(SearchRequest, await request.json())
    except json.JSONDecodeError:
        raise HTTPException(400, "the body must be JSON {\"text\", \"filters\", \"k\"}, or multipart with a file "
                                 "field `image`") from None
    return await _search(app, ProductQuery(text=body.text, filters=body.filters, k=body.k))


async def search_by_photo(request: Request, app: AppState) -> list[dict]:
    form = await request.form(max_files=1, max_fields=8)
    upload = form.get("image")
    if not isinstance(upload, UploadFile):
        raise HTTPException(400, "multipart search needs a file field `image`")
    photo = await read_photo(upload, app.limits)
    text = form.get("text")
    if isinstance(text, str) and len(text) > app.limits.max_text_chars:
        raise HTTPException(422, f"`text` is limited to {app.limits.max_text_chars} characters")
    k = _json_form(form.get("k") if isinstance(form.get("k"), str) else None, "k") or 10
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= app.limits.max_k:
        raise HTTPException(422, f"`k` must be a whole number from 1 to {app.limits.max_k}")
    filters = _json_form(form.get("filters") if isinstance(form.get("filters"), str) else None, "filters")
    return await _search(app, ProductQuery(text=text or None, image=photo, filters=filters, k=k))


# -- ask ------------------------------------------------------------------------------------------------------

ask_router = APIRouter(tags=["ask"])


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def _answer_events(app: AppState, qa_input: QAInput) -> AsyncIterator[bytes]:
    """Server-sent events: ``queue`` (while waiting for the chat model), ``products``, ``answer`` pieces,
    ``result``; ``error`` when something fails half way. A client that goes away stops the generation."""
    ahead = app.queue.enter()
    holding = False
    try:
        if ahead:
            yield _event("queue", {"ahead": ahead})
        await app.queue.acquire()
        holding = True
        stream = app.qa.astream(qa_input)
        try:
            async for event in stream:
                if "products" in event:
                    yield _event("products", [search_result(d) for d in event["products"]])
                elif "answer" in event:
                    yield _event("answer", {"text": event["answer"]})
                elif "result" in event:
                    yield _event("result", event["result"].as_dict())
        finally:
            await stream.aclose()
    except Exception as exc:  # headers are sent: the error travels as an event
        yield _event("error", {"error": error_message(exc)})
    finally:
        app.queue.leave(holding)


@ask_router.post("/api/ask", summary="Answer a question from the catalog, citing products",
                 description="JSON {question, history, filters} or multipart with a file `image`. Streams "
                             "server-sent events `queue`, `products`, `answer`, `result`; with "
                             "`Accept: application/json`, only the final object.")
async def ask(request: Request, app: AppState = Depends(state)) -> Response:
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=8)
        question = form.get("question")
        body = _validated(AskRequest, {
            "question": question if isinstance(question, str) else "",
            "history": _json_form(form.get("history") if isinstance(form.get("history"), str) else None,
                                  "history") or [],
            "filters": _json_form(form.get("filters") if isinstance(form.get("filters"), str) else None,
                                  "filters")})
        upload = form.get("image")
        photo = await read_photo(upload, app.limits) if isinstance(upload, UploadFile) else None
    else:
        try:
            body = _validated(AskRequest, await request.json())
        except json.JSONDecodeError:
            raise HTTPException(400, "the body must be JSON {\"question\", \"history\", \"filters\"}") from None
        photo = None
    qa_input = QAInput(question=body.question, image=photo, filters=body.filters, history=_turns(body.history))
    if "application/json" in request.headers.get("accept", "") and "text/event-stream" not in request.headers.get(
            "accept", ""):
        try:
            app.queue.enter()
        except Busy as exc:
            raise HTTPException(429, str(exc)) from None
        await app.queue.acquire()
        try:
            return JSONResponse((await app.qa.ainvoke(qa_input)).as_dict())
        finally:
            app.queue.leave(True)
    return StreamingResponse(_answer_events(app, qa_input), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# -- products -------------------------------------------------------------------------------------------------

products_router = APIRouter(tags=["products"])


def _product(app: AppState, product_id: str) -> dict:
    if not product_id or len(product_id) > 256:
        raise HTTPException(404, "no such product")
    found = app.store.get([product_id], list(SCALAR_FIELDS))
    if product_id not in found:
        raise HTTPException(404, f"no product with id {product_id!r}")
    return found[product_id]


@products_router.get("/api/products/{product_id}", summary="A product's stored fields")
async def product(product_id: str, app: AppState = Depends(state)) -> dict:
    return await asyncio.to_thread(_product, app, product_id)


@products_router.get("/api/products/{product_id}/image", summary="A product's photo",
                     response_class=Response)
async def product_image(product_id: str, app: AppState = Depends(state)) -> Response:
    row = await asyncio.to_thread(_product, app, product_id)
    ref = str(row.get("image") or "")
    if not ref:
        raise HTTPException(404, f"product {product_id!r} has no photo")
    if "://" in ref and not ref.startswith("file://"):
        fetcher = ImageFetcher(max_bytes=app.limits.max_upload_bytes)
        try:
            data = await asyncio.to_thread(fetcher.fetch, ref)
        except ImageError as exc:
            raise HTTPException(502, f"the photo of {product_id!r} cannot be fetched: {exc}") from None
    else:
        path = app.image_path(ref.removeprefix("file://"))
        if path is None:
            raise HTTPException(404, f"the photo of {product_id!r} is not inside the catalog's folders")
        if path.stat().st_size > app.limits.max_upload_bytes:
            raise HTTPException(413, f"the photo of {product_id!r} is over the size limit")
        data = await asyncio.to_thread(path.read_bytes)
    kind = image_format(data)
    if kind is None:
        raise HTTPException(415, f"the stored photo of {product_id!r} is not an image")
    media = Image.MIME.get(kind) or mimetypes.types_map.get(f".{kind.lower()}", "application/octet-stream")
    return Response(data, media_type=media, headers={"Cache-Control": "max-age=3600"})


# -- health ---------------------------------------------------------------------------------------------------

health_router = APIRouter(tags=["health"])


@health_router.get("/healthz", summary="200 when the store answers, 503 with the reason when it does not")
async def healthz(app: AppState = Depends(state)) -> JSONResponse:
    ok, detail = await asyncio.to_thread(app.health)
    if ok:
        return JSONResponse({"status": "ok", "products": detail})
    return JSONResponse({"status": "unavailable", "reason": detail}, status_code=503)


def error_message(exc: BaseException) -> str:
    """What a client is told about a failure: the message of an error we raise on purpose, else its kind."""
    return user_message(exc) or f"internal error ({type(exc).__name__})"
