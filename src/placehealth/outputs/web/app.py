"""The FastAPI application: pages, the JSON API, downloads and static assets."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from placehealth import levels
from placehealth.outputs import html
from placehealth.outputs.disclosure import Policy
from placehealth.outputs.queries import BadRequest, Data, NotFound, StoreBusy
from placehealth.outputs.web import admin, api, auth, forms, pages, security

STATIC = Path(__file__).resolve().parent / "static"
#: Pages and API views addressed by an official code (ODS, ONS), which is upper case.
_CODED_LEVELS = "|".join(name for name in levels.REGISTRY if name not in ("group", "england"))
CODED = re.compile(rf"^(/(?:api/)?(?:target/)?(?:{_CODED_LEVELS})/)([^/]+)(.*)$")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/api"


def _error(request: Request, status: int, heading: str, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": message, "status": status}, status_code=status)
    policy_note = ""
    data = getattr(request.app.state, "data", None)
    if data is not None:
        from placehealth.outputs.disclosure import explanation
        policy_note = explanation(data.policy)
    return pages.error_page(status, heading, message, policy_note)


#: PCN pages built ahead of the first visitor; beyond an ICB's worth they are built on demand.
WARM_PAGES = 100
#: Warming waits this long after start, and for this long after any request, so visitors
#: never queue behind it (a page build holds the store's one connection).
WARM_QUIET = 1.5


class Traffic:
    """Requests in flight and when the last one started (warming gives way to visitors)."""

    def __init__(self) -> None:
        self.active = 0
        self.last = time.monotonic()

    def quiet(self) -> bool:
        return self.active == 0 and time.monotonic() - self.last > WARM_QUIET


def warm(data: Data, traffic: Traffic | None = None) -> None:
    """Build the home page, then the PCN pages, before visitors ask (run in a thread), only
    while no one is asking."""
    try:
        pages.home_page(data)   # where everyone lands, after sign-in too
        for code in list(data.names("pcn"))[:WARM_PAGES]:
            while traffic is not None and not traffic.quiet():
                time.sleep(0.2)
            data.memo(f"html:pcn:{code}:None", lambda code=code: html.pcn_page(data, code, None))
    except Exception:  # warming is best effort; requests report their own errors
        return


def create_app(db: str | os.PathLike[str] | None = None, policy: str | Policy | None = None,
               *, warm_up: bool = False, auth_required: bool | None = None) -> FastAPI:
    """The web app over one store (read-only but for the registers' forms; the store may be
    rebuilt while it runs). ``auth_required``: every page needs sign-in (see :mod:`.web.auth`)."""
    app = FastAPI(title="placehealth", version="0.1.0",
                  description="Health inequalities in Primary Care Networks: every table and page "
                  "view as JSON, after disclosure control (small counts suppressed, others rounded).",
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.data = Data(db, policy)
    traffic = Traffic()

    @app.middleware("http")
    async def count(request: Request, call_next):
        traffic.active += 1
        traffic.last = time.monotonic()
        try:
            return await call_next(request)
        finally:
            traffic.active -= 1
            traffic.last = time.monotonic()

    if warm_up:
        threading.Thread(target=warm, args=(app.state.data, traffic), daemon=True).start()
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def upper_case_codes(request: Request, call_next):
        """``/pcn/u05734`` is sent to ``/pcn/U05734``, as the CLI accepts codes in any case."""
        match = CODED.match(request.url.path)
        if match and match.group(2) != match.group(2).upper():
            url = match.group(1) + match.group(2).upper() + match.group(3)
            return RedirectResponse(f"{url}?{request.url.query}" if request.url.query else url, status_code=308)
        return await call_next(request)

    auth.install(app, db, auth_required)
    app.include_router(forms.router)
    app.include_router(admin.router)
    app.include_router(api.router)
    app.include_router(api.downloads)
    app.include_router(pages.router)
    security.install(app)  # last, so outermost: its headers go on every response

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return _error(request, 404, "Page not found", str(exc).strip("'\""))

    @app.exception_handler(StoreBusy)
    async def busy(request: Request, exc: StoreBusy) -> Response:
        return _error(request, 503, "The data is being updated", str(exc))

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> Response:
        return _error(request, 422, "There is a problem with the request", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return _error(request, 422, "There is a problem with the request", problems)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        heading = "Page not found" if exc.status_code == 404 else "There is a problem"
        message = "No page at this address. Check the code, or start from the list of PCNs." \
            if exc.status_code == 404 else str(exc.detail)
        return _error(request, exc.status_code, heading, message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:  # pragma: no cover - last resort
        return _error(request, 500, "Sorry, there is a problem with the service",
                      f"{type(exc).__name__}: {exc}")

    return app
