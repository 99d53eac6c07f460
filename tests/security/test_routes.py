"""Every route in the OpenAPI document and every page, against each role; the headers on all.

These tests only read, so they share one copy of the place and one app for each mode: pages are
built once and kept, as a running server keeps them (the roles are checked on every request).
"""

from __future__ import annotations

import re
import shutil
import threading
import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from placehealth.outputs.accounts import Accounts, users_path
from placehealth.outputs.web.app import create_app

from support.signin import PASSWORD, USERS, sign_in
from support.tiny_targeting import SECRET

#: Values for the path parameters of the tiny targeting place.
PARAMS = {"name": "partners", "code": "U00001", "level": "pcn", "register": "reg",
          "partner_id": "P1"}
#: Paths that may answer 404/422 on the tiny place (nothing of that kind is loaded), never 5xx.
MAY_BE_ABSENT = ("/practice/", "/lsoa/", "/la/", "/group/", "/boundaries", "/report.pdf",
                 "/intervention/")


@pytest.fixture(scope="module")
def apps(built_place, tmp_path_factory) -> dict[bool, FastAPI]:
    """Sign-in required or not -> the app over one read-only copy of the place with accounts."""
    db = tmp_path_factory.mktemp("routes") / "place.duckdb"
    shutil.copy(built_place, db)
    with pytest.MonkeyPatch.context() as env:
        env.delenv("PLACEHEALTH_USERS", raising=False)
        env.delenv("PLACEHEALTH_AUTH", raising=False)
        store = Accounts(users_path(db))
        for role, name in USERS.items():
            store.add(name, PASSWORD, role, "reg" if role == "partner" else None)
        return {required: create_app(db, auth_required=required) for required in (False, True)}


def client(apps: dict[bool, FastAPI], role: str, required: bool = False, **kwargs) -> TestClient:
    """A client of the shared app, signed in as ``role`` ('public': nobody)."""
    made = TestClient(apps[required], **kwargs)
    if role != "public":
        assert sign_in(made, USERS[role]).status_code == 303
    return made


def urls(app) -> list[str]:
    """Every GET route of the app (the OpenAPI document's and the pages'), made concrete."""
    found = []
    routes = [r for top in app.routes for r in (top.original_router.routes  # included routers
                                                 if hasattr(top, "original_router") else [top])]
    for route in routes:
        methods = getattr(route, "methods", None) or set()
        if "GET" not in methods or route.path.startswith(("/static", "/openapi", "/docs")):
            continue
        found.append(re.sub(r"{(\w+)}", lambda m: PARAMS.get(m.group(1), "x"), route.path))
    return sorted(set(found))


def test_the_route_table_covers_the_openapi_document(apps):
    app = apps[False]
    listed = {re.sub(r"{(\w+)}", lambda m: PARAMS.get(m.group(1), "x"), p)
              for p, ops in app.openapi()["paths"].items() if "get" in ops}
    assert listed <= set(urls(app)) and len(listed) >= 10


def expected(url: str, role: str, required: bool) -> set[int]:
    """The statuses a role may get at a URL."""
    register = "partners" in url and ("/api/tables" in url or "/download" in url)
    if url.startswith("/signin/oidc"):
        return {404}                       # no OpenID Connect provider here (test_oidc.py has one)
    if required and role == "public" and url != "/signin":
        return {401} if url.startswith(("/api", "/download")) else {303}
    if register and role == "public":
        return {401}
    if url == "/signin":
        return {200}
    signed_in_only = url.startswith(("/registers", "/admin", "/interventions"))
    if signed_in_only and role == "public":
        return {303}                       # to the sign-in page
    if url.startswith("/admin"):
        return {200} if role == "admin" else {403}
    if url.startswith("/interventions"):
        if role == "partner":
            return {403}
        return {404} if url == "/interventions/partners" else {200}   # none by that name
    ok = {200}
    if any(part in url for part in MAY_BE_ABSENT):
        ok |= {404, 422, 503}
    return ok


@pytest.mark.parametrize("required", [False, True], ids=["open", "auth-required"])
@pytest.mark.parametrize("role", ["public", "partner", "analyst", "admin"])
def test_every_route_against_each_role(apps, role, required):
    visitor = client(apps, role, required)
    for url in urls(visitor.app):
        if url in ("/signout",):
            continue
        response = visitor.get(url, follow_redirects=False)
        assert response.status_code in expected(url, role, required), (url, role, response.status_code)
        assert SECRET not in response.text, url
        if response.status_code == 200 and url == "/api/tables/partners":
            rows = response.json()["rows"]
            assert "contact" not in rows[0]
            if role == "partner":
                assert {r["register"] for r in rows} == {"reg"}


def test_security_headers_on_every_kind_of_response(apps):
    visitor = client(apps, "public")
    for url in ("/", "/pcn/U00001", "/api/tables", "/static/placehealth.css", "/no/such/page",
                "/download/partners?format=csv"):
        headers = visitor.get(url).headers
        csp = headers["content-security-policy"]
        script = csp.split("script-src")[1].split(";")[0]
        assert script.split() == ["'self'"], url   # no inline script, no eval, no other host
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, url
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "strict-transport-security" not in headers     # plain HTTP: no HSTS
    secure = client(apps, "public", base_url="https://testserver").get("/")
    assert secure.headers["strict-transport-security"].startswith("max-age=31536000")


@pytest.mark.parametrize("role", ["public", "admin"])
def test_pages_carry_no_inline_script(apps, role):
    """The CSP forbids inline script: pages use only /static scripts and JSON data blocks."""
    visitor = client(apps, role)
    for url in ("/", "/pcn/U00001", "/target/pcn/U00001", "/compare", "/api-docs", "/signin",
                "/registers", "/admin/users", "/admin/audit"):
        html = visitor.get(url).text
        for attributes, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
            assert 'type="application/json"' in attributes or ("src=" in attributes and not body.strip()), url
        assert not re.search(r"\son[a-z]+\s*=", html), url      # no inline event handlers
        assert "javascript:" not in html


def test_the_home_page_is_built_ahead_and_answers_while_another_page_builds(apps):
    """Everyone lands on the home page, after sign-in too: warming builds it first, and once
    built it answers even while a page build holds the store."""
    from placehealth.outputs.web.app import warm

    data = apps[False].state.data
    warm(data)
    assert data.peek("html:home") is not None
    held, release = threading.Event(), threading.Event()

    def build_elsewhere():
        with data._lock:          # what a page build holds
            held.set()
            release.wait(10)
    builder = threading.Thread(target=build_elsewhere)
    builder.start()
    held.wait(5)
    try:
        started = time.monotonic()
        assert client(apps, "public").get("/").status_code == 200
        assert time.monotonic() - started < 5
    finally:
        release.set()
        builder.join()
