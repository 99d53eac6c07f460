"""Every route in the OpenAPI document and every page, against each role; the headers on all."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from placehealth.outputs.web.app import create_app

from support.tiny_targeting import SECRET

#: Values for the path parameters of the tiny targeting place.
PARAMS = {"name": "partners", "code": "U00001", "level": "pcn", "register": "reg",
          "partner_id": "P1"}
#: Paths that may answer 404/422 on the tiny place (nothing of that kind is loaded), never 5xx.
MAY_BE_ABSENT = ("/practice/", "/lsoa/", "/la/", "/group/", "/boundaries", "/report.pdf",
                 "/intervention/")


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


def test_the_route_table_covers_the_openapi_document(place):
    app = create_app(place)
    listed = {re.sub(r"{(\w+)}", lambda m: PARAMS.get(m.group(1), "x"), p)
              for p, ops in app.openapi()["paths"].items() if "get" in ops}
    assert listed <= set(urls(app)) and len(listed) >= 10


def expected(url: str, role: str, required: bool) -> set[int]:
    """The statuses a role may get at a URL."""
    register = "partners" in url and ("/api/tables" in url or "/download" in url)
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
def test_every_route_against_each_role(client_for, role, required):
    client = client_for(role, required)
    for url in urls(client.app):
        if url in ("/signout",):
            continue
        response = client.get(url, follow_redirects=False)
        assert response.status_code in expected(url, role, required), (url, role, response.status_code)
        assert SECRET not in response.text, url
        if response.status_code == 200 and url == "/api/tables/partners":
            rows = response.json()["rows"]
            assert "contact" not in rows[0]
            if role == "partner":
                assert {r["register"] for r in rows} == {"reg"}


def test_security_headers_on_every_kind_of_response(place):
    client = TestClient(create_app(place))
    for url in ("/", "/pcn/U00001", "/api/tables", "/static/placehealth.css", "/no/such/page",
                "/download/partners?format=csv"):
        headers = client.get(url).headers
        csp = headers["content-security-policy"]
        script = csp.split("script-src")[1].split(";")[0]
        assert script.split() == ["'self'"], url   # no inline script, no eval, no other host
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, url
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "strict-transport-security" not in headers     # plain HTTP: no HSTS
    secure = TestClient(create_app(place), base_url="https://testserver").get("/")
    assert secure.headers["strict-transport-security"].startswith("max-age=31536000")


def test_pages_carry_no_inline_script(place):
    """The CSP forbids inline script: pages use only /static scripts and JSON data blocks."""
    client = TestClient(create_app(place))
    for url in ("/", "/pcn/U00001", "/target/pcn/U00001", "/compare", "/api-docs", "/signin"):
        html = client.get(url).text
        for attributes, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
            assert 'type="application/json"' in attributes or ("src=" in attributes and not body.strip()), url
        assert not re.search(r"\son[a-z]+\s*=", html), url      # no inline event handlers
        assert "javascript:" not in html
