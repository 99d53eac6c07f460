"""Web forms that edit the registers (every change audited; admins read the log, :mod:`.admin`).

A partner keeps the partner register named by their organisation; analysts and admins keep
any, and the intervention register (which names no organisation). The
validation, history and audit are :mod:`placehealth.outputs.edits`'s; a bad value is answered
with the form again, a message naming the field, and 422 (never a 500).
"""

from __future__ import annotations

import re

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from placehealth.outputs import edits
from placehealth.outputs.queries import Data, NotFound
from placehealth.outputs.web.auth import Forbidden, accounts, check_csrf, page, require
from placehealth.sources.partners import KINDS
from placehealth.sources.validate import InputError

router = APIRouter(include_in_schema=False)
REGISTER = re.compile(r"^[a-z0-9_]{1,60}$")


def _data(request: Request) -> Data:
    return request.app.state.data


def _keeper(request: Request, register: str):
    """The signed-in user if they may edit ``register``; else 401/403 (404 for a bad name)."""
    if not REGISTER.match(register):
        raise NotFound(f"{register!r} is not a register name (lower case letters, digits, _)")
    who = require(request, "partner")
    if who.role == "partner" and who.organisation != register:
        raise Forbidden(f"you keep the register {who.organisation!r}, not {register!r}")
    return who


def _current(rows: pd.DataFrame, period: str | None) -> pd.DataFrame:
    if rows.empty or period is None:
        return rows
    day = period if len(period) == 10 else f"{period[:7]}-01"
    open_ = rows["valid_to"].isna() | (rows["valid_to"].astype(str) > day)
    return rows[open_].sort_values("name")


@router.get("/registers")
def registers(request: Request) -> Response:
    who = require(request, "partner")
    with _data(request).session() as store:
        names = edits.registers(store)
        if who.role == "partner":
            names = [who.organisation] if who.organisation else []
        shown = []
        for name in names:
            period, rows = edits.latest(store, name)
            shown.append({"name": name, "period": period,
                          "rows": [edits.public(r) for _, r in _current(rows, period).iterrows()]})
    return page(request, "registers.html", title="Registers", registers=shown)


def _form(request: Request, register: str, values: dict, *, partner_id: str | None,
          message: str | None = None, status: int = 200) -> Response:
    return page(request, "partner_form.html", status, title="Partner", register=register,
                values=values, partner_id=partner_id, kinds=list(KINDS), message=message)


@router.get("/registers/{register}/new")
def new_partner(request: Request, register: str) -> Response:
    _keeper(request, register)
    return _form(request, register, {}, partner_id=None)


@router.get("/registers/{register}/{partner_id}")
def edit_partner(request: Request, register: str, partner_id: str) -> Response:
    _keeper(request, register)
    with _data(request).session() as store:
        _, rows = edits.latest(store, register)
    match = rows[rows["partner_id"] == partner_id]
    if match.empty:
        raise NotFound(f"no partner {partner_id!r} in register {register!r}")
    return _form(request, register, edits.public(match.iloc[0]), partner_id=partner_id)


async def _submitted(request: Request) -> dict[str, str]:
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    return {k: str(v) for k, v in form.items() if k in edits.FIELDS or k == "action"}


def _save(request: Request, register: str, fields: dict[str, str], partner_id: str | None) -> Response:
    who = _keeper(request, register)
    retire = fields.pop("action", "save") == "retire"
    try:
        with _data(request).writer() as store:
            before, after = edits.change(store, register, fields, partner_id=partner_id, retire=retire)
    except InputError as exc:
        where = f"{exc.field}: " if exc.field else ""
        hint = f" ({exc.hint})" if exc.hint else ""
        status = 404 if "no partner" in exc.message else 422
        return _form(request, register, fields, partner_id=partner_id,
                     message=f"{where}{exc.message}{hint}", status=status)
    action = "retire" if retire else "edit" if partner_id else "add"
    accounts(request).audit(who.username, f"partner.{action}",
                            f"partners/{register}/{after['partner_id']}", before, after)
    return RedirectResponse("/registers", status_code=303)


@router.post("/registers/{register}/new")
async def add_partner(request: Request, register: str) -> Response:
    _keeper(request, register)
    return _save(request, register, await _submitted(request), None)


@router.post("/registers/{register}/{partner_id}")
async def change_partner(request: Request, register: str, partner_id: str) -> Response:
    _keeper(request, register)
    return _save(request, register, await _submitted(request), partner_id)


INTERVENTION_FIELDS = ("name", "description", "level", "unit_codes", "start", "end", "indicators")


@router.get("/interventions")
def intervention_list(request: Request) -> Response:
    require(request, "analyst")
    with _data(request).session() as store:
        _, register = edits.interventions(store)
    return page(request, "interventions.html", title="Interventions",
                rows=[{k: (None if pd.isna(v) else v) for k, v in r.items()}
                      for r in register.to_dict("records")])


def _intervention_form(request: Request, values: dict, name: str | None, message: str | None = None,
                       status: int = 200) -> Response:
    return page(request, "intervention_form.html", status, title="Intervention", values=values,
                entry=name, message=message)


@router.get("/interventions/new")
def intervention_new(request: Request) -> Response:
    require(request, "analyst")
    return _intervention_form(request, {}, None)


@router.get("/interventions/{name}")
def intervention_edit(request: Request, name: str) -> Response:
    require(request, "analyst")
    with _data(request).session() as store:
        _, register = edits.interventions(store)
    match = register[register["name"] == name]
    if match.empty:
        raise NotFound(f"no intervention {name!r} on the register")
    return _intervention_form(request, match.iloc[0].to_dict(), name)


async def _intervention_save(request: Request, name: str | None) -> Response:
    who = require(request, "analyst")
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    fields = {k: str(form.get(k) or "") for k in INTERVENTION_FIELDS}
    delete = form.get("action") == "delete" and name is not None
    try:
        with _data(request).writer() as store:
            before, after = edits.record_intervention(store, fields, name=name, delete=delete)
    except InputError as exc:
        status = 404 if exc.message.startswith("no intervention") else 422
        where = f"{exc.field}: " if exc.field else ""
        return _intervention_form(request, fields, name, f"{where}{exc.message}", status)
    action = "delete" if delete else "change" if name else "add"
    accounts(request).audit(who.username, f"intervention.{action}",
                            f"interventions/{after['name']}", before, after)
    return RedirectResponse("/interventions", status_code=303)


@router.post("/interventions/new")
async def intervention_add(request: Request) -> Response:
    return await _intervention_save(request, None)


@router.post("/interventions/{name}")
async def intervention_change(request: Request, name: str) -> Response:
    return await _intervention_save(request, name)
