"""The JSON API: ``/api/search``, ``/api/ask`` (server-sent events or one JSON object), ``/api/products/{id}``,
``/api/products/{id}/image``, and ``/healthz``. One router per concern; the shared state comes in as a dependency."""

from __future__ import annotations

import asyncio
import mimetypes
from typing import Annotated, Any, AsyncIterator

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from PIL import Image
from sse_starlette import EventSourceResponse, JSONServerSentEvent
from starlette.background import BackgroundTask

from multimodal_rag.catalog.images import ImageError, ImageFetcher
from multimodal_rag.server.errors import user_message
from multimodal_rag.qa import QAInput, Turn
from multimodal_rag.retrieval import ProductQuery
from multimodal_rag.retrieval.retriever import search_result
from multimodal_rag.server.schemas import (Answer, AskForm, AskRequest, ErrorBody, PhotoSearchForm, SearchHit,
                                           SearchRequest, body_kinds, read_body)
from multimodal_rag.server.state import AppState, Place
from multimodal_rag.server.uploads import image_format, read_photo


def state(request: Request) -> AppState:
    return request.app.state.mmrag


StateDep = Annotated[AppState, Depends(state)]


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route gives: JSON ``{"error": message}``."""
    said = {400: "a body that is not JSON, a bad filter", 413: "a body or photo over the limits",
            415: "an upload that is not an image", 422: "a field out of range or of the wrong kind",
            429: "the line for the chat model is full (Retry-After says when to try again)"}
    return {code: {"model": ErrorBody, "description": said[code]} for code in codes}


# -- search ---------------------------------------------------------------------------------------------------

search_router = APIRouter(tags=["search"])


@search_router.post("/api/search", response_model=list[SearchHit], responses=errors(400, 413, 415, 422),
                    summary="Products for a text (JSON) or a photo (multipart, file `image`)",
                    openapi_extra=body_kinds(SearchRequest, PhotoSearchForm))
async def search(request: Request, app: StateDep) -> list[dict[str, Any]]:
    body = await read_body(request, SearchRequest, PhotoSearchForm)
    if isinstance(body, PhotoSearchForm):
        photo = await read_photo(body.image, app.limits)
        query = ProductQuery(text=body.text or None, image=photo, filters=body.filters, k=body.k)
    else:
        query = ProductQuery(text=body.text, filters=body.filters, k=body.k)
    docs = await asyncio.to_thread(app.retriever.invoke, query)
    return [search_result(d) for d in docs]


# -- ask ------------------------------------------------------------------------------------------------------

ask_router = APIRouter(tags=["ask"])
LINE_END = "\n"  # the events' line end as before sse-starlette (its default is CRLF): clients that split on "\n\n" work
EVENTS = {"description": "server-sent events: `queue` {ahead} while waiting for the chat model, `products` (the "
                         "search results), `answer` {text} pieces, `result` (the Answer object); `error` {error} "
                         "when the answer fails or passes the time limit",
          "content": {"text/event-stream": {"schema": {"type": "string"}}}}


@ask_router.post("/api/ask", response_model=Answer, responses={200: EVENTS, **errors(400, 413, 415, 422, 429)},
                 summary="Answer a question from the catalog, citing products",
                 description="JSON or multipart (with a file `image`). Streams server-sent events; with "
                             "`Accept: application/json`, only the final object.",
                 openapi_extra=body_kinds(AskRequest, AskForm))
async def ask(request: Request, app: StateDep) -> Any:
    body = await read_body(request, AskRequest, AskForm)
    photo = await read_photo(body.image, app.limits) if isinstance(body, AskForm) and body.image else None
    qa_input = QAInput(question=body.question, image=photo, filters=body.filters,
                       history=[Turn(t.question, t.answer, t.products) for t in body.history])
    place = app.queue.admit()  # a full line raises Busy: 429 (app.py), before any answer starts
    if wants_one_object(request):
        try:
            await place.turn()
            return (await app.qa.ainvoke(qa_input)).as_dict()
        finally:
            place.leave()
    deadline = asyncio.get_running_loop().time() + app.limits.request_timeout_s
    # The generator leaves the line when it ends, is cut or its client goes; the background task when it never
    # started (a client gone before the first event).
    return EventSourceResponse(answer_events(app, qa_input, place, deadline), ping=app.limits.keepalive_s,
                               sep=LINE_END, background=BackgroundTask(place.leave))


def wants_one_object(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/event-stream" not in accept


async def answer_events(app: AppState, qa_input: QAInput, place: Place,
                        deadline: float) -> AsyncIterator[JSONServerSentEvent]:
    """The answer's events (``EVENTS``), until ``deadline`` (event-loop time): past it, a last ``error`` event.
    A client that goes away stops the generation."""
    loop = asyncio.get_running_loop()

    def within_deadline(step):
        return asyncio.wait_for(step, max(deadline - loop.time(), 0))

    try:
        if place.ahead:
            yield sse("queue", {"ahead": place.ahead})
        await within_deadline(place.turn())
        stream = app.qa.astream(qa_input)
        try:
            while (event := await within_deadline(anext(stream, None))) is not None:
                if "products" in event:
                    yield sse("products", [search_result(d) for d in event["products"]])
                elif "answer" in event:
                    yield sse("answer", {"text": event["answer"]})
                elif "result" in event:
                    yield sse("result", event["result"].as_dict())
        finally:
            await stream.aclose()
    except Exception as exc:  # headers are sent: the error travels as an event
        cut = isinstance(exc, asyncio.TimeoutError) and loop.time() >= deadline
        yield sse("error", {"error": f"the answer passed the {app.limits.request_timeout_s:g} s limit and was cut"
                            if cut else error_message(exc)})
    finally:
        place.leave()


def sse(name: str, data: Any) -> JSONServerSentEvent:
    return JSONServerSentEvent(data, event=name, sep=LINE_END)


# -- products -------------------------------------------------------------------------------------------------

products_router = APIRouter(tags=["products"])


def _product(app: AppState, product_id: str) -> dict:
    if not product_id or len(product_id) > 256:
        raise HTTPException(404, "no such product")
    found = app.catalog.product(product_id)
    if found is None:
        raise HTTPException(404, f"no product with id {product_id!r}")
    return found


@products_router.get("/api/products/{product_id}", summary="A product's stored fields")
async def product(product_id: str, app: StateDep) -> dict:
    return await asyncio.to_thread(_product, app, product_id)


@products_router.get("/api/products/{product_id}/image", summary="A product's photo",
                     response_class=Response)
async def product_image(product_id: str, app: StateDep) -> Response:
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
async def healthz(app: StateDep) -> JSONResponse:
    ok, detail = await asyncio.to_thread(app.health)
    if ok:
        return JSONResponse({"status": "ok", "products": detail})
    return JSONResponse({"status": "unavailable", "reason": detail}, status_code=503)


def error_message(exc: BaseException) -> str:
    """What a client is told about a failure: the message of an error we raise on purpose, else its kind."""
    return user_message(exc) or f"internal error ({type(exc).__name__})"
