"""The app for a production server, configured by environment (docs/DEPLOYMENT.md):
``uvicorn --factory placehealth.outputs.web.server:app --workers 4 --proxy-headers``."""

from __future__ import annotations

import os

from fastapi import FastAPI

from placehealth.outputs.web.app import create_app


def app() -> FastAPI:
    """The app over ``$PLACEHEALTH_DB`` with ``$PLACEHEALTH_DISCLOSURE`` (default opensafely);
    sign-in required when ``$PLACEHEALTH_AUTH`` is ``required``."""
    return create_app(None, os.environ.get("PLACEHEALTH_DISCLOSURE") or None, warm_up=True)
