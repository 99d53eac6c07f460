"""The intervention register (table ``interventions``): what was done, where, when and to move
which indicators which way, recorded before the results are seen.

One CSV row (``--as interventions``) or one ``placehealth intervention add`` is one entry:
``name``, ``description``, ``level`` (pcn, practice, group, lsoa, or utla for a council's
programme), ``unit_codes`` (codes separated by ``;``: the PCN, the practices, the group's name,
the set of LSOAs or the councils), ``start``
and optional ``end`` (written like the series: 2023-04, 2023Q2, 2023-24, 2023, or a date),
``indicators`` (``indicator:up`` or ``indicator:down``, separated by ``;``). ``recorded_at`` is
set by placehealth when the entry is stored (a column of that name in a file is ignored), and
entries are never overwritten: :func:`entries` builds the rows, :func:`current` reads the
register as each name's latest row, a deletion being a row with ``status = deleted``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd

from placehealth.sources.base import ReadOptions, ReadResult, has_columns, reader
from placehealth.sources.series import LEVEL_PATTERNS, series_period
from placehealth.sources.validate import (
    LSOA,
    PCN,
    PRACTICE,
    InputError,
    SourceFile,
    read_table,
    resolve_columns,
)

PUBLICATION = "Intervention register (name, where, when, indicators and intended direction)"
LEVELS = {"pcn": PCN, "practice": PRACTICE, "lsoa": LSOA, "group": None,
          "utla": LEVEL_PATTERNS["utla"]}
DIRECTIONS = ("up", "down")
COLUMNS = ["name", "recorded_at", "status", "description", "level", "unit_codes", "start", "end",
           "indicators"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def now() -> str:
    """The time an entry is recorded (UTC, to the microsecond so two entries never share it)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _check(row: dict[str, str], file: str, line: int | None) -> dict[str, str]:
    """One entry checked and normalised; errors name the file, line and field."""
    def fail(message: str, field: str) -> InputError:
        return InputError(file, message, line=line, field=field)

    name = str(row.get("name") or "").strip()
    if not _NAME.match(name):
        raise fail(f"name {name!r}: use letters, digits, '_', '-' or '.' (no spaces)", "name")
    level = str(row.get("level") or "").strip().lower()
    if level not in LEVELS:
        raise fail(f"level {level!r} is not one of {', '.join(LEVELS)}", "level")
    codes = [c.strip() for c in str(row.get("unit_codes") or "").split(";") if c.strip()]
    if not codes:
        raise fail("no unit codes (separate several with ';')", "unit_codes")
    pattern = LEVELS[level]
    if pattern is not None:
        codes = [c.upper() for c in codes]
        wrong = [c for c in codes if not pattern.match(c)]
        if wrong:
            raise fail(f"{level} code {wrong[0]!r} does not match {pattern.pattern}", "unit_codes")
    periods = {}
    for field in ("start", "end"):
        text = str(row.get(field) or "").strip()
        if not text:
            periods[field] = None
            continue
        try:
            periods[field] = series_period(text)[0]
        except ValueError as exc:
            raise fail(str(exc), field) from None
    if periods["start"] is None:
        raise fail("no start (the first period of the intervention)", "start")
    aims = []
    for part in (p.strip() for p in str(row.get("indicators") or "").split(";") if p.strip()):
        indicator, _, direction = part.partition(":")
        indicator, direction = indicator.strip(), direction.strip().lower()
        if not re.fullmatch(r"[a-z0-9_]+", indicator) or direction not in DIRECTIONS:
            raise fail(f"{part!r}: write each aim as indicator:up or indicator:down",
                       "indicators")
        aims.append(f"{indicator}:{direction}")
    if not aims:
        raise fail("no target indicators (indicator:up or indicator:down)", "indicators")
    description = str(row.get("description") or "").strip()
    return {"name": name, "status": "active", "description": description or None,
            "level": level, "unit_codes": ";".join(dict.fromkeys(codes)),
            "start": periods["start"], "end": periods["end"], "indicators": ";".join(aims)}


def entries(rows: list[dict[str, str]], file: str = "the register",
            lines: list[int] | None = None) -> pd.DataFrame:
    """Register rows (``COLUMNS``) for new entries, each recorded now."""
    checked = [_check(row, file, lines[i] if lines else None) for i, row in enumerate(rows)]
    names = [r["name"] for r in checked]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice:
        raise InputError(file, f"intervention {twice!r} appears twice",
                         line=lines[names.index(twice, names.index(twice) + 1)] if lines else None,
                         field="name")
    stamp = now()
    return pd.DataFrame([{**r, "recorded_at": stamp} for r in checked], columns=COLUMNS)


def deletion(entry: pd.Series) -> pd.DataFrame:
    """The row that deletes a registered entry (its history stays)."""
    row = {c: entry[c] for c in COLUMNS} | {"status": "deleted", "recorded_at": now()}
    return pd.DataFrame([row], columns=COLUMNS)


def current(history: pd.DataFrame) -> pd.DataFrame:
    """The register now: each name's latest row, deleted names left out."""
    if history.empty:
        return pd.DataFrame(columns=COLUMNS)
    latest = history.sort_values("recorded_at").groupby("name", sort=True).tail(1)
    return latest[latest["status"] == "active"].sort_values("name", ignore_index=True)


def aims(entry: pd.Series) -> dict[str, str]:
    """indicator -> intended direction (up or down) of a register entry."""
    return dict(p.split(":", 1) for p in str(entry["indicators"]).split(";") if p)


@reader("interventions", PUBLICATION,
        has_columns("name", "level", "unit_codes", "start", "indicators"),
        example="placehealth ingest interventions.csv --as interventions")
def read_interventions(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Register entries from a CSV (see the module doc)."""
    raw = read_table(source)
    frame = resolve_columns(
        raw, {c: [c] for c in ("name", "description", "level", "unit_codes", "start", "end",
                               "indicators")},
        mapping=options.mapping, optional=["description", "end"], layout="interventions")
    frame = frame.fillna("")
    rows = entries(frame.to_dict(orient="records"), source.name, [int(i) for i in frame.index])
    return ReadResult("interventions", PUBLICATION, rows["recorded_at"].iloc[0][:10],
                      {"interventions": rows})


__all__ = ["COLUMNS", "aims", "current", "deletion", "entries", "read_interventions"]
