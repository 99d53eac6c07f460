"""Generic siting inputs: demand points, candidate sites and an optional list of costs (CSV).

Used by ``placehealth target site`` on an analyst's own files; nothing is stored. Coordinates are
metres on the British National Grid (EPSG:27700). Each problem is an :class:`InputError` naming
the file, line (1 = header) and field.

- demand: ``id,x,y,weight`` (optional ``core20``: 1/0, true/false, yes/no);
- sites: ``id,x,y``;
- costs: ``demand_id,site_id,cost`` (a pair not listed is unreachable).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from placehealth.sources.validate import (
    InputError,
    check_unique,
    open_source,
    read_table,
    resolve_columns,
    to_numbers,
)

TRUE = {"1", "true", "yes", "y", "t"}
FALSE = {"0", "false", "no", "n", "f", ""}


def _read(path: str | Path, columns: list[str], optional: tuple[str, ...] = (),
          what: str = "") -> pd.DataFrame:
    frame = read_table(open_source(path))
    wanted = {c: [c] for c in [*columns, *optional]}
    frame = resolve_columns(frame, wanted, optional=optional, layout=what)
    for column in frame.columns:
        frame[column] = frame[column].astype(str).str.strip()
    return frame


def _ids(frame: pd.DataFrame, column: str, what: str) -> None:
    blank = frame[column] == ""
    if blank.any():
        raise InputError(frame.attrs.get("source", "input"), f"blank {what} id",
                         line=int(blank[blank].index[0]), field=column)
    check_unique(frame, [column], what)


def _coordinates(frame: pd.DataFrame) -> np.ndarray:
    xy = np.column_stack([to_numbers(frame, c, allow_missing=False) for c in ("x", "y")])
    bad = ~np.isfinite(xy).all(axis=1)
    if bad.any():
        line = int(frame.index[np.flatnonzero(bad)[0]])
        raise InputError(frame.attrs.get("source", "input"), "coordinate is not finite",
                         line=line, field="x" if not np.isfinite(xy[bad][0, 0]) else "y")
    return xy


def _not_negative(frame: pd.DataFrame, values: pd.Series, column: str, what: str) -> None:
    bad = (values < 0) | ~np.isfinite(values)
    if bad.any():
        line = int(bad[bad].index[0])
        raise InputError(frame.attrs.get("source", "input"),
                         f"{what} {frame.loc[line, column]!r} must be a number not below 0",
                         line=line, field=column)


def read_demand(path: str | Path) -> pd.DataFrame:
    """Demand points: ``id``, ``x``, ``y``, ``weight`` (need, not negative), ``core20`` (bool,
    missing when the file has no such column); index = line number."""
    frame = _read(path, ["id", "x", "y", "weight"], ("core20",), "siting demand (id,x,y,weight)")
    _ids(frame, "id", "demand point")
    xy = _coordinates(frame)
    weight = to_numbers(frame, "weight", allow_missing=False)
    _not_negative(frame, weight, "weight", "weight")
    out = pd.DataFrame({"id": frame["id"], "x": xy[:, 0], "y": xy[:, 1], "weight": weight},
                       index=frame.index)
    if "core20" in frame:
        flag = frame["core20"].str.lower()
        bad = ~flag.isin(TRUE | FALSE)
        if bad.any():
            line = int(bad[bad].index[0])
            raise InputError(frame.attrs["source"], f"core20 {frame.loc[line, 'core20']!r} is "
                             "not 1/0, true/false or yes/no", line=line, field="core20")
        out["core20"] = flag.isin(TRUE)
    out.attrs.update(frame.attrs)
    return out


def read_sites(path: str | Path) -> pd.DataFrame:
    """Candidate sites: ``id``, ``x``, ``y``; index = line number."""
    frame = _read(path, ["id", "x", "y"], (), "siting candidates (id,x,y)")
    _ids(frame, "id", "site")
    xy = _coordinates(frame)
    out = pd.DataFrame({"id": frame["id"], "x": xy[:, 0], "y": xy[:, 1]}, index=frame.index)
    out.attrs.update(frame.attrs)
    return out


def read_costs(path: str | Path, demand_ids: pd.Series, site_ids: pd.Series,
               demand_file: str = "demand", sites_file: str = "sites") -> pd.DataFrame:
    """Costs between demand points and sites: ``demand_id``, ``site_id``, ``cost`` (not
    negative), each id known in the demand or sites file and each pair listed once."""
    frame = _read(path, ["demand_id", "site_id", "cost"], (), "siting costs "
                  "(demand_id,site_id,cost)")
    source = frame.attrs["source"]
    for column, known, other in (("demand_id", demand_ids, demand_file),
                                 ("site_id", site_ids, sites_file)):
        unknown = ~frame[column].isin(set(known))
        if unknown.any():
            line = int(unknown[unknown].index[0])
            raise InputError(source, f"{frame.loc[line, column]!r} is not an id in {other}"
                             + (f" ({int(unknown.sum()) - 1} more rows like it)"
                                if unknown.sum() > 1 else ""), line=line, field=column)
    check_unique(frame, ["demand_id", "site_id"], "demand-site pair")
    cost = to_numbers(frame, "cost", allow_missing=False)
    _not_negative(frame, cost, "cost", "cost")
    out = pd.DataFrame({"demand_id": frame["demand_id"], "site_id": frame["site_id"],
                        "cost": cost}, index=frame.index)
    out.attrs.update(frame.attrs)
    return out
