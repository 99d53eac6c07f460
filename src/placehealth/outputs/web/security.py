"""Security headers on every response of the web app.

Content-Security-Policy allows scripts from this site only: no inline script and no eval, so a
name or note that slipped past escaping still could not run; styles may be inline because the
chart and map libraries set them. Vega would compile chart expressions with ``Function()``; the
pages ask vega-embed for ``ast: true`` instead, so expressions are evaluated by Vega's CSP-safe
interpreter (the ``vega-interpreter`` package, bundled in vega-embed's build).
``frame-ancestors 'none'`` (and X-Frame-Options for old browsers) refuses framing; nosniff, a strict Referrer-Policy, and HSTS when the request came
over HTTPS (behind a proxy: uvicorn ``--proxy-headers`` sets the scheme). Downloaded reports
(``/pcn/CODE/report``) are self-contained files with inline scripts and are sent as
attachments without a CSP.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Request

from placehealth.outputs.html import TILES_ENV

HSTS = "max-age=31536000; includeSubDomains"


def policy() -> str:
    """The CSP: this site only; map tiles also from the tile server ``$PLACEHEALTH_TILES`` names."""
    tiles = os.environ.get(TILES_ENV, "")
    origin = "/".join(tiles.split("/")[:3]) if tiles.startswith("https://") else ""
    images = f"'self' data: {origin}".strip()
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"img-src {images}; connect-src 'self'; font-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def exempt(path: str) -> bool:
    """Self-contained report files (inline scripts by design; downloaded, not browsed)."""
    return path.endswith("/report")


def install(app: FastAPI) -> None:
    csp = policy()

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        if not exempt(request.url.path):
            response.headers["Content-Security-Policy"] = csp
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if request.url.scheme == "https":
            response.headers["Strict-Transport-Security"] = HSTS
        return response
