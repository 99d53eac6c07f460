"""Editing the registers from the web: partners (add, edit, retire) and interventions (add,
change, delete), one entry at a time.

The edited row is written as a one-row register file and read by the register's own reader
(:func:`placehealth.sources.partners.read_register`), so a form is validated exactly as a file
is (kind from the fixed list, dates, LSOA codes, postcodes placed through the loaded lookup,
non-negative capacity and radius, valid_to not before valid_from). The change is then written
as the register's snapshot of today (``period`` = YYYY-MM-DD): the latest snapshot's other rows
unchanged, this row added, replaced or closed (``valid_to`` = today). Older snapshots are never
touched, so history is kept by snapshot and by ``valid_from``/``valid_to``; every change also
goes in the audit log with the row before and after (never the contact).

Interventions are checked by the register's own :func:`~placehealth.sources.interventions.entries`
and, as there, never overwritten: a change or a deletion is a new row.
"""

from __future__ import annotations

import csv
import hashlib
import io
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from placehealth.sources import ReadOptions, read_file
from placehealth.sources import interventions as intervention_register
from placehealth.sources.base import ReadResult
from placehealth.sources.partners import PARTNER_COLUMNS, PUBLICATION
from placehealth.sources.postcodes import locate
from placehealth.sources.validate import InputError
from placehealth.store import Store

#: The fields a form may set (the reader's own column names).
FIELDS = ("partner_id", "name", "kind", "services", "postcode", "easting", "northing",
          "lsoa_code", "serves_lsoas", "radius_m", "capacity", "contact", "valid_from", "valid_to")
FORM = "web form"
#: Columns shown and audited (the contact never is).
SHOWN = [c for c in PARTNER_COLUMNS if c != "contact"]


def registers(store: Store) -> list[str]:
    if not store.has("partners"):
        return []
    return sorted(store.table("partners").select("register").distinct().to_pandas()["register"]
                  .dropna().tolist())


def latest(store: Store, register: str) -> tuple[str | None, pd.DataFrame]:
    """The register's latest snapshot (period, rows as stored, contact included)."""
    if not store.has("partners"):
        return None, pd.DataFrame(columns=PARTNER_COLUMNS)
    t = store.table("partners")
    rows = t.filter(t.register == register).to_pandas()
    if rows.empty:
        return None, rows.reindex(columns=PARTNER_COLUMNS)
    period = str(rows["period"].max())
    return period, rows[rows["period"] == period][PARTNER_COLUMNS].reset_index(drop=True)


def public(row: pd.Series | dict | None) -> dict[str, Any] | None:
    """A row as the audit log and pages keep it: no contact, missing values as None."""
    if row is None:
        return None
    return {c: (None if pd.isna(row.get(c)) else row.get(c)) for c in SHOWN if c in row}


def _lookup(store: Store):
    def lookup(postcodes):
        frames = []
        if store.has("postcodes"):
            t = store.table("postcodes")
            frames.append(t.filter(t.postcode.isin(list(postcodes))).to_pandas())
        return locate(postcodes, frames)
    return lookup


def validate(store: Store, fields: dict[str, str], period: str) -> pd.Series:
    """One partner row checked by the register reader; InputError (naming the field) if bad."""
    values = {k: str(fields.get(k) or "").strip() for k in FIELDS}
    for key, value in values.items():
        if len(value) > 2000:
            raise InputError(FORM, f"{key} is longer than 2000 characters", field=key)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "form.csv"
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(FIELDS)
        writer.writerow([values[k] for k in FIELDS])
        path.write_text(buffer.getvalue(), encoding="utf-8")
        try:
            result = read_file(path, "partners", ReadOptions(period=period, postcodes=_lookup(store)))
        except InputError as exc:
            raise InputError(FORM, exc.message, field=exc.field, hint=exc.hint) from None
    return result.tables["partners"].iloc[0]


def change(store: Store, register: str, fields: dict[str, str], *, partner_id: str | None = None,
           retire: bool = False, today: str | None = None) -> tuple[dict | None, dict | None]:
    """Add (``partner_id`` None), edit, or retire one partner; returns (before, after)."""
    today = today or date.today().isoformat()
    period, rows = latest(store, register)
    if period is not None and period > today:
        raise InputError(FORM, f"register {register!r} has a snapshot dated after today ({period})")
    before_row = None
    if partner_id is not None:
        match = rows[rows["partner_id"] == partner_id]
        if match.empty:
            raise InputError(FORM, f"no partner {partner_id!r} in register {register!r}",
                             field="partner_id")
        before_row = match.iloc[0]
        base = {k: ("" if pd.isna(before_row.get(k)) else before_row.get(k)) for k in FIELDS}
        if before_row.get("located_by") not in ("grid", "latlon"):
            base["easting"] = base["northing"] = ""   # placed again from postcode or LSOA
        fields = {**base, **{k: v for k, v in fields.items() if k != "partner_id"},
                  "partner_id": partner_id}
        if not str(fields.get("contact") or "").strip():
            fields["contact"] = base["contact"]        # a blank contact box keeps the contact
        if retire:
            fields["valid_to"] = today
    elif str(fields.get("partner_id") or "").strip() in set(rows["partner_id"]):
        raise InputError(FORM, f"partner_id {fields['partner_id']!r} is already in register "
                         f"{register!r}", field="partner_id")
    elif not str(fields.get("valid_from") or "").strip():
        fields = {**fields, "valid_from": today}
    row = validate(store, fields, today)
    row["register"], row["period"] = register, today
    kept = rows[rows["partner_id"] != row["partner_id"]].assign(period=today)
    snapshot = pd.concat([kept, row.to_frame().T], ignore_index=True)[PARTNER_COLUMNS]
    result = ReadResult("partners", PUBLICATION, today, {"partners": snapshot},
                        file_name=f"{FORM}: register {register}, {today}")
    store.ingest([result], replace=True)
    return public(before_row), public(row)


# ------------------------------------------------------------------------------ interventions
def interventions(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(every entry ever made, the register now)."""
    history = store.read("interventions") if store.has("interventions") else pd.DataFrame(
        columns=intervention_register.COLUMNS)
    return history, intervention_register.current(history)


def record_intervention(store: Store, fields: dict[str, str], *, name: str | None = None,
                        delete: bool = False) -> tuple[dict | None, dict | None]:
    """Add, change (``name`` given) or delete an intervention, checked as the register file and
    ``placehealth intervention add`` are; entries are never overwritten (a change or deletion is
    a new row). Returns (before, after)."""
    _, register = interventions(store)
    by_name = register.set_index("name", drop=False)
    if name is not None and name not in by_name.index:
        raise InputError(FORM, f"no intervention {name!r} on the register", field="name")
    if name is None and str(fields.get("name") or "").strip() in by_name.index:
        raise InputError(FORM, f"intervention {fields['name']!r} is already on the register",
                         field="name")
    before = None if name is None else by_name.loc[name].to_dict()
    if delete:
        rows = intervention_register.deletion(by_name.loc[name])
    else:
        values = {k: str(fields.get(k) or "") for k in intervention_register.COLUMNS}
        if name is not None:
            values["name"] = name
        rows = intervention_register.entries([values], FORM)
    digest = hashlib.sha256(rows.to_csv(index=False).encode()).hexdigest()
    store.ingest([ReadResult("interventions", intervention_register.PUBLICATION,
                             rows["recorded_at"].iloc[0][:10], {"interventions": rows},
                             file_name=f"{FORM}: intervention {rows['name'].iloc[0]}", sha256=digest)])
    after = rows.iloc[0].to_dict()
    clean = lambda d: None if d is None else {k: (None if pd.isna(v) else v) for k, v in d.items()}  # noqa: E731
    return clean(before), clean(after)
