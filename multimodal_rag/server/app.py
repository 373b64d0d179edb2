"""``mmrag serve``: the REST API and the web shop assistant, on FastAPI.

``create_app(config)`` opens the store and the models once (at start-up) and serves:
- ``/api/...`` (``multimodal_rag.server.api``): search, ask, products, with OpenAPI at ``/docs``;
- ``/healthz``;
- ``/``: the chat page (static files, no build step).

Security: every ``/api`` call needs ``Authorization: Bearer <key>`` when an API key is set; request bodies and
uploads are capped; errors are JSON with a message and no stack trace; CORS is off unless origins are given.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from langchain_core.language_models import BaseChatModel
from starlette.types import ASGIApp, Receive, Scope, Send

from multimodal_rag import __version__
from multimodal_rag.config import Config
from multimodal_rag.server.errors import store_unavailable, user_message
from multimodal_rag.server.api import ask_router, health_router, products_router, search_router
from multimodal_rag.server.schemas import request_schemas
from multimodal_rag.server.state import AppState, Busy, ServeLimits

log = logging.getLogger(__name__)
STATIC = resources.files("multimodal_rag.server") / "static"


class BodyLimit:
    """Refuses a request body over ``limit`` bytes with 413, whether or not it declares its length."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _reply(send, 413, f"the request body is over the {self.limit:,} byte limit")
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge()
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _reply(send, 413, f"the request body is over the {self.limit:,} byte limit")


class _TooLarge(Exception):
    pass


async def _reply(send: Send, status: int, message: str) -> None:
    body = JSONResponse({"error": message}, status_code=status).body
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def api_key_check(api_key: str | None):
    """A dependency: with a key set, the request must carry ``Authorization: Bearer <key>``."""
    bearer = HTTPBearer(auto_error=False)

    async def check(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if api_key is None:
            return
        if credentials is None:
            raise HTTPException(401, "this server needs an API key: send Authorization: Bearer <key>",
                                headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(credentials.credentials.encode(), api_key.encode()):
            raise HTTPException(403, "wrong API key")

    return check


def create_app(config: Config, *, api_key: str | None = None, cors_origins: Sequence[str] = (),
               llm: BaseChatModel | str | None = None, limits: ServeLimits = ServeLimits(),
               image_roots: Sequence[str | Path] = ()) -> FastAPI:
    """The app for a config. The store and the models open when the app starts (not per request)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.mmrag = await asyncio.to_thread(AppState, config, llm=llm, limits=limits,
                                                  image_roots=image_roots)
        try:
            yield
        finally:
            app.state.mmrag.close()

    app = FastAPI(title="multimodal-rag", version=__version__, lifespan=lifespan,
                  description="Product search and grounded product Q&A over a Milvus catalog.")
    protected = [Depends(api_key_check(api_key))]
    for router in (search_router, ask_router, products_router):
        app.include_router(router, dependencies=protected)
    app.include_router(health_router)
    app.add_middleware(BodyLimit, limit=limits.max_body_bytes)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "Accept"])

    @app.middleware("http")
    async def bounded(request: Request, call_next):
        """Every request within the time limit, and every failure answered as JSON without a stack trace. (An
        answer's event stream starts at once and keeps its own deadline: ``api.answer_events``.)"""
        try:
            return await asyncio.wait_for(call_next(request), timeout=limits.request_timeout_s)
        except asyncio.TimeoutError:
            return JSONResponse({"error": f"the request took over {limits.request_timeout_s:g} s"}, status_code=504)
        except Exception as exc:
            if store_unavailable(exc):
                return JSONResponse({"error": user_message(exc)}, status_code=503)
            message = user_message(exc)
            if message is not None:
                return JSONResponse({"error": message}, status_code=400)
            log.exception("request %s %s failed", request.method, request.url.path)
            return JSONResponse({"error": f"internal error ({type(exc).__name__}); the server log has the "
                                          "details"}, status_code=500)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
                             for e in exc.errors())
        return JSONResponse({"error": f"invalid request: {problems}"}, status_code=422)

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=429, headers={"Retry-After": "5"})

    @app.get("/", include_in_schema=False)
    async def page() -> Any:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.openapi = with_request_schemas(app)
    return app


def with_request_schemas(app: FastAPI):
    """``app.openapi`` that also holds the request models' schemas: ``/api/search`` and ``/api/ask`` declare
    their two body kinds by reference to them (``schemas.body_kinds``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            generate().setdefault("components", {}).setdefault("schemas", {}).update(request_schemas())
        return app.openapi_schema

    return openapi
