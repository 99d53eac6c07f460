"""Admin pages: the accounts (add, disable) and the audit log (read, export as CSV).

The same rules as ``placehealth users`` (:class:`placehealth.outputs.accounts.Accounts`); every
change is audited, without the password. An admin cannot disable their own account, so a place
is never left without one by a slip.
"""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from placehealth.outputs.accounts import ROLES
from placehealth.outputs.web.auth import Forbidden, accounts, check_csrf, page, require
from placehealth.sources.validate import InputError

router = APIRouter(include_in_schema=False)


def _users_page(request: Request, message: str | None = None, values: dict | None = None,
                status: int = 200) -> Response:
    return page(request, "users.html", status, title="Users", users=accounts(request).list(),
                roles=ROLES[1:], message=message, values=values or {})


@router.get("/admin/users")
def users(request: Request) -> Response:
    require(request, "admin")
    return _users_page(request)


@router.post("/admin/users")
async def add_user(request: Request) -> Response:
    who = require(request, "admin")
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    values = {k: str(form.get(k) or "").strip() for k in ("username", "role", "organisation")}
    try:
        added = accounts(request).add(values["username"], str(form.get("password") or ""),
                                      values["role"], values["organisation"] or None)
    except InputError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        return _users_page(request, f"{exc.message}{hint}", values, 422)
    accounts(request).audit(who.username, "user.add", f"users/{added.username}", None,
                            {"username": added.username, "role": added.role,
                             "organisation": added.organisation})
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{username}/disable")
async def disable_user(request: Request, username: str) -> Response:
    who = require(request, "admin")
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    if username == who.username:
        raise Forbidden("you cannot disable your own account (another admin can)")
    store = accounts(request)
    before = next((u for u in store.list() if u["username"] == username), None)
    try:
        store.disable(username)
    except InputError as exc:
        return _users_page(request, exc.message, status=404)
    store.audit(who.username, "user.disable", f"users/{username}", before, {**before, "disabled": True})
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/audit")
def audit(request: Request) -> Response:
    require(request, "admin")
    return page(request, "audit.html", title="Audit log", entries=accounts(request).audit_log()[::-1])


@router.get("/admin/audit.csv")
def audit_csv(request: Request) -> Response:
    require(request, "admin")
    entries = accounts(request).audit_log()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, ["id", "at", "username", "action", "target", "before", "after"])
    writer.writeheader()
    for entry in entries:   # a cell starting = + - @ would be a formula in a spreadsheet
        writer.writerow({k: f"'{v}" if isinstance(v, str) and v[:1] in "=+-@" else v
                         for k, v in entry.items()})
    return Response(buffer.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="placehealth-audit.csv"'})
