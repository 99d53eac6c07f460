"""Sign-in, roles and CSRF for the web app (accounts in :mod:`placehealth.outputs.accounts`).

Modes: with no accounts the app is public and read-only, as before (open dashboards, ``make
demo``). Once an account exists, visitors may sign in; the registers (partners, interventions)
leave the API and downloads only to signed-in roles (a partner sees their own register's rows).
With ``required`` (``placehealth serve --auth``, or ``PLACEHEALTH_AUTH=required``) every page
and API call needs a signed-in user.

Cookies: ``ph_session`` (the signed session id) and ``ph_anon`` (a signed random id that binds
the sign-in form's CSRF token before there is a session); both HttpOnly, SameSite=Lax, Secure
when the request came over HTTPS (behind a proxy: uvicorn ``--proxy-headers``).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from placehealth.outputs.accounts import (
    PUBLIC,
    Accounts,
    User,
    csrf_token,
    sign,
    unsign,
    users_path,
)
from placehealth.outputs.html import render
from placehealth.outputs.web.oidc import Config, Provider, SignInRefused
from placehealth.sources.validate import InputError

ENV_AUTH = "PLACEHEALTH_AUTH"
SESSION_COOKIE, ANON_COOKIE, OIDC_COOKIE = "ph_session", "ph_anon", "ph_oidc"
#: Tables that hold registers kept by partners (not open data).
REGISTERS = ("partners", "interventions")
#: What anyone may reach when sign-in is required.
OPEN_PATHS = ("/signin", "/static/")

router = APIRouter(include_in_schema=False)


class Forbidden(Exception):
    """The signed-in role may not do this (403), or no one is signed in (401)."""

    def __init__(self, message: str, status: int = 403):
        super().__init__(message)
        self.status = status


def accounts(request: Request) -> Accounts:
    return request.app.state.accounts


def user(request: Request) -> User:
    return getattr(request.state, "user", PUBLIC)


def require(request: Request, role: str) -> User:
    """The signed-in user if they have ``role`` (or a stronger one); else 401/403."""
    who = user(request)
    if who.role == "public":
        raise Forbidden("sign in to do this", 401)
    if not who.can(role):
        raise Forbidden(f"this needs the {role} role (you are {who.role})")
    return who


def register_scope(request: Request, table: str) -> dict[str, str]:
    """Extra filters on a register table for this visitor (a partner: their register), or
    Forbidden for the public once accounts exist. Open data tables: no filter."""
    if table not in REGISTERS or not request.app.state.auth_on():
        return {}
    who = user(request)
    if who.role == "public":
        raise Forbidden(f"{table} is a register kept by partners: sign in to see it", 401)
    if who.role == "partner":
        if table != "partners":   # the intervention register names no organisation
            raise Forbidden(f"{table} is kept by analysts: a partner sees their own register")
        return {"register": who.organisation or ""}
    return {}


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax", path="/",
                        secure=request.url.scheme == "https")


def form_token(request: Request) -> str:
    """The CSRF token for forms on this page (bound to the session, or the anonymous cookie)."""
    secret = request.app.state.secret()
    sid = getattr(request.state, "session", None) or getattr(request.state, "anon", None)
    if sid is None:
        sid = request.state.anon = secrets.token_urlsafe(24)
        request.state.new_anon = True
    return csrf_token(secret, sid)


def check_csrf(request: Request, token: str | None) -> None:
    """Refuse a form whose token is not this visitor's (403)."""
    secret = request.app.state.secret()
    sid = getattr(request.state, "session", None) or getattr(request.state, "anon", None)
    if not token or sid is None or not secrets.compare_digest(token, csrf_token(secret, sid)):
        raise Forbidden("the form has expired or did not come from this site: reload it and try again")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _local(target: str | None) -> str:
    """A redirect target on this site only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return urlsplit(target).path or "/"


def page(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    """A page of the signed-in app, with the visitor and a CSRF token for its forms."""
    response = HTMLResponse(render(template, who=user(request), csrf=form_token(request),
                                   disclosure="", **context), status_code=status)
    if getattr(request.state, "new_anon", False):
        _cookie(response, request, ANON_COOKIE, sign(request.app.state.secret(), request.state.anon), 3600)
    return response


def signin_page(request: Request, status: int = 200, next: str = "/", message: str | None = None
                ) -> HTMLResponse:
    """The sign-in form, with the OpenID Connect provider's button when one is configured."""
    return page(request, "signin.html", status, next=_local(next), message=message,
                oidc=request.app.state.oidc is not None)


@router.get("/signin", response_class=HTMLResponse)
def signin_form(request: Request, next: str = "/") -> HTMLResponse:
    if not request.app.state.auth_on():
        return signin_page(request, 404, message="No accounts exist: this dashboard is public "
                           "and read-only (placehealth users add makes one).")
    return signin_page(request, next=next)


def _start_session(request: Request, session: str, target: str) -> Response:
    """Redirect to ``target`` with the new session's cookie (any older session ends)."""
    old = getattr(request.state, "session", None)
    if old:
        accounts(request).sign_out(old)
    response = RedirectResponse(target, status_code=303)
    _cookie(response, request, SESSION_COOKIE, sign(request.app.state.secret(), session), 8 * 3600)
    response.delete_cookie(ANON_COOKIE, path="/")
    response.delete_cookie(OIDC_COOKIE, path="/")
    return response


@router.get("/signin/oidc")
def oidc_start(request: Request, next: str = "/") -> Response:
    """Off to the OpenID Connect provider, with a fresh state, nonce and PKCE verifier kept in a
    signed cookie for the callback (10 minutes)."""
    provider: Provider | None = request.app.state.oidc
    if provider is None:
        return signin_page(request, 404, message="No OpenID Connect provider is configured here.")
    try:
        started = provider.start()
    except SignInRefused as exc:
        return signin_page(request, 503, next, f"Sign-in through your organisation failed: {exc}.")
    kept = {"state": started["state"], "nonce": started["nonce"],
            "verifier": started["code_verifier"], "next": _local(next)}
    response = RedirectResponse(started["url"], status_code=303)
    _cookie(response, request, OIDC_COOKIE, sign(request.app.state.secret(), base64.urlsafe_b64encode(
        json.dumps(kept).encode()).decode()), 600)
    return response


@router.get("/signin/oidc/callback")
def oidc_callback(request: Request, state: str = "", code: str = "", error: str = "") -> Response:
    """Back from the provider: the state must be the one this browser was sent with, the ID token
    valid and for the nonce sent; the account is made at the first sign-in, refused if disabled."""
    provider: Provider | None = request.app.state.oidc
    if provider is None:
        return signin_page(request, 404, message="No OpenID Connect provider is configured here.")
    kept_text = unsign(request.app.state.secret(), request.cookies.get(OIDC_COOKIE))
    kept = json.loads(base64.urlsafe_b64decode(kept_text)) if kept_text else None
    if kept is None or not state or not secrets.compare_digest(state, kept["state"]):
        return signin_page(request, 400, message="The sign-in did not start in this browser, or "
                           "took longer than 10 minutes: try again.")
    if error or not code:
        return signin_page(request, 401, kept["next"], f"Your organisation did not sign you in "
                           f"({error or 'no code'}).")
    try:
        claims = provider.finish(code, kept["verifier"], kept["nonce"])
    except SignInRefused as exc:
        return signin_page(request, 401, kept["next"], f"Sign-in through your organisation failed: {exc}.")
    role = provider.config.role_for(claims)
    if role is None:
        return signin_page(request, 403, kept["next"], "Your organisation signed you in, but "
                           "gives you no role here: ask an admin.")
    username = str(claims.get("email") or claims.get("preferred_username") or claims["sub"])
    subject = f"{claims['iss']}|{claims['sub']}"
    try:
        result = accounts(request).sign_in_external(subject, username, *role)
    except InputError as exc:
        return signin_page(request, 403, kept["next"], exc.message + ".")
    if result is None:
        return signin_page(request, 403, kept["next"], "This account is disabled: ask an admin.")
    who, session, before = result
    if before is not None:
        after = {"username": who.username, "role": who.role, "organisation": who.organisation}
        accounts(request).audit(who.username, "user.add" if before == {} else "user.role",
                                f"users/{who.username}", before or None, {**after, "via": "OpenID Connect"})
    return _start_session(request, session, kept["next"])


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    target = _local(str(form.get("next", "/")))
    store = accounts(request)
    if store.blocked(username, _client(request)):
        return signin_page(request, 429, target, "Too many failed sign-ins: wait 15 minutes and "
                           "try again.")
    result = store.sign_in(username, password, _client(request))
    if result is None:
        return signin_page(request, 401, target, "The user name or password is wrong.")
    return _start_session(request, result[1], target)


@router.post("/signout")
async def signout(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    if getattr(request.state, "session", None):
        accounts(request).sign_out(request.state.session)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api") or request.url.path.startswith("/download")


def install(app: FastAPI, db, required: bool | None = None) -> None:
    """Add accounts, sign-in and the role checks to the app."""
    store = Accounts(users_path(db)) if "://" not in str(db or "") or os.environ.get("PLACEHEALTH_USERS") \
        else None
    app.state.accounts = store
    required = (os.environ.get(ENV_AUTH, "").lower() == "required") if required is None else required
    app.state.auth_required = required
    config = Config.from_env()
    app.state.oidc = Provider(config) if config is not None and store is not None else None
    app.state.auth_on = lambda: required or app.state.oidc is not None or (
        store is not None and store.exists())
    app.state.secret = lambda: store.secret() if store is not None else b""
    app.include_router(router)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": str(exc), "status": exc.status}, status_code=exc.status)
        if exc.status == 401 and request.method == "GET":
            return RedirectResponse(f"/signin?next={request.url.path}", status_code=303)
        return page(request, "error.html", exc.status, title="Not allowed", heading="Not allowed",
                    message=str(exc))

    @app.middleware("http")
    async def who(request: Request, call_next):
        request.state.user, request.state.session, request.state.anon = PUBLIC, None, None
        if store is not None and app.state.auth_on():
            secret = store.secret()
            session = unsign(secret, request.cookies.get(SESSION_COOKIE))
            found = store.session_user(session) if session else None
            if found is not None:
                request.state.user, request.state.session = found, session
            request.state.anon = unsign(secret, request.cookies.get(ANON_COOKIE))
        if request.method not in ("GET", "HEAD", "OPTIONS") and request.headers.get("sec-fetch-site") \
                == "cross-site":
            return JSONResponse({"detail": "cross-site form refused", "status": 403}, status_code=403)
        path = request.url.path
        if required and request.state.user.role == "public" and not path.startswith(OPEN_PATHS):
            if _wants_json(request) or path == "/openapi.json":
                return JSONResponse({"detail": "sign in first (POST /signin)", "status": 401},
                                    status_code=401)
            return RedirectResponse(f"/signin?next={_local(path)}", status_code=303)
        response = await call_next(request)
        if app.state.auth_on() and response.headers.get("content-type", "").startswith("text/html") \
                and "attachment" not in response.headers.get("content-disposition", ""):
            return await personalise(request, response)
        return response


#: Where each page's navigation holds the visitor's links (base.html); pages are cached for
#: every visitor, so the links are filled in per request.
ACCOUNT_SLOT = b"<!--ph:account-->"


async def personalise(request: Request, response: Response) -> Response:
    """The page with the visitor's navigation: sign-in, or their name, role, the pages their
    role opens and sign-out."""
    body = b"".join([chunk async for chunk in response.body_iterator])
    if ACCOUNT_SLOT in body:
        who = user(request)
        links = render("_nav_account.html", who=who,
                       csrf=form_token(request) if who.role != "public" else "",
                       here="/" if request.url.path == "/signin" else _local(request.url.path))
        body = body.replace(ACCOUNT_SLOT, links.encode())
    out = Response(body, status_code=response.status_code)
    out.raw_headers = [(k, v) for k, v in response.raw_headers if k != b"content-length"] + \
        [(b"content-length", str(len(body)).encode())]
    return out
