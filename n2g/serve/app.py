"""The web application: `create_app(db)` opens the store read-only and returns a FastAPI app with the pages
(`pages`), the JSON API (`api`), the static files and an OpenAPI description at `/openapi.json`.

Errors: an `N2GError` (bad input) is a 400 with its one line, `NotFound` a 404, an unknown address a 404, a bad
path value a 400; `/api/...` answers JSON `{"error": ..., "status": ...}`, pages an HTML page saying the same. Any
other exception is a 500 that names nothing but its type (the traceback goes to the server's log, never to the
client). Every route is GET; the store is opened read-only, and the API takes no Cypher.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from n2g import __version__
from n2g.errors import N2GError, redact
from n2g.serve import api, pages
from n2g.serve.backend import Backend
from n2g.serve.neuron import NotFound

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("n2g.serve")


def _validation_message(err: RequestValidationError) -> str:
    first = err.errors()[0] if err.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
    return f"{where}: {first.get('msg', 'invalid value')}" + (f" (got {first['input']!r})" if "input" in first
                                                                 and isinstance(first["input"], (str, int)) else "")


def _error(request: Request, status: int, message: str) -> Response:
    message = " ".join(redact(message).split()) or "failed"
    if request.url.path.startswith("/api/") or request.url.path == "/openapi.json":
        return api.StrictJSON({"error": message, "status": status}, status_code=status)
    return pages.error_page(status, message)


class ServerTiming:
    """ASGI middleware: every response says how long the app took to make it (`Server-Timing: app;dur=MS`), the
    figure `benchmarks/serve.py` reports and a browser's developer tools show."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed(message: Any) -> None:
            if message["type"] == "http.response.start":
                duration = f"app;dur={(time.perf_counter() - start) * 1000:.2f}".encode()
                message = {**message, "headers": [*message.get("headers", []), (b"server-timing", duration)]}
            await send(message)

        await self.app(scope, receive, timed)


def create_app(db: str, exemplars: Sequence[str | Path] = (), work_dirs: Sequence[str | Path] = (),
               tokenizers: bool = True, backend: Backend | None = None) -> FastAPI:
    """The app over the store `db` (a LadybugDB file or a Neo4j address), opened read-only now, so a wrong `db`
    fails here; closed when the app shuts down."""
    served = backend or Backend(db, exemplars, work_dirs, tokenizers=tokenizers)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            served.close()

    app = FastAPI(title="n2g", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description=f"Neuron graphs in {served.location}, read-only: the searches of n2g-search and "
                  "each neuron as its page shows it. Errors are JSON {\"error\": one line, \"status\": code}.")
    app.state.backend = served

    @app.exception_handler(N2GError)
    async def user_error(request: Request, err: N2GError) -> Response:
        return _error(request, 404 if isinstance(err, NotFound) else 400, str(err))

    @app.exception_handler(RequestValidationError)
    async def bad_value(request: Request, err: RequestValidationError) -> Response:
        return _error(request, 400, _validation_message(err))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> Response:
        message = {404: f"no such page: {request.url.path}",
                   405: f"{request.method} is not allowed here: the server only reads (use GET)"}.get(
            err.status_code, str(err.detail))
        return _error(request, err.status_code, message)

    @app.exception_handler(Exception)
    async def internal(request: Request, err: Exception) -> Response:
        log.error("n2g serve: %s on %s", type(err).__name__, request.url.path, exc_info=err)
        return _error(request, 500, f"internal error ({type(err).__name__}); the server's log has the details")

    app.include_router(api.router(served))
    app.include_router(pages.router(served))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(ServerTiming)
    return app


def app_from_env() -> Any:
    """For `uvicorn --factory n2g.serve.app:app_from_env`: the store named by N2G_DB (default n2g.lbdb)."""
    import os

    from ingest.store import DEFAULT_DB

    return create_app(os.environ.get("N2G_DB", DEFAULT_DB))
