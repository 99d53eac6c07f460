"""The one set of read functions behind every output: pages, API, reports and exports.

Every table leaves through :func:`placehealth.outputs.disclosure.protect`, applied to the whole
table (so every filtered view of it agrees), then filtered. Protected tables are kept in memory
until the store file changes: protection must see whole tables, and pages read the same few
tables many times.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from placehealth.outputs.disclosure import FOLLOWS, SUPPRESSED, Policy, get_policy, protect
from placehealth.store import Store, resolve_db


class NotFound(LookupError):
    """An unknown table, code or name (HTTP 404)."""


class StoreBusy(RuntimeError):
    """The store is locked by a writer (e.g. ``placehealth build`` running): HTTP 503."""


class BadRequest(ValueError):
    """A malformed request: unknown column, bad filter value, bad paging (HTTP 422)."""


#: Tables that describe loading rather than people; listed but never needing protection.
INTERNAL = {"loads"}
#: The profile table of each level (where unit names come from).
PROFILE_OF = {"practice": "practice_profile", "pcn": "pcn_profile", "sub_icb": "sub_icb_profile",
              "icb": "icb_profile", "lsoa": "lsoa_profile", "la": "la_profile", "ward": "ward_profile",
              "group": "group_profile"}


@dataclass
class Page:
    """A page of a protected table: rows, the total matching, and the paging used."""

    frame: pd.DataFrame
    total: int
    limit: int
    offset: int


class Data:
    """Read-only, disclosure-controlled access to one store."""

    def __init__(self, db: str | os.PathLike[str] | None = None, policy: str | Policy | None = None):
        self.location = resolve_db(db)
        self.policy = get_policy(policy)
        self._lock = threading.RLock()
        self._cache: dict[str, Any] = {}
        self._version: object = None

    # ---------------------------------------------------------------- store access
    def version(self) -> object:
        """Changes whenever the store file does (modification time and size)."""
        if "://" in self.location:
            return self.location
        path = Path(self.location)
        if not path.exists():
            raise NotFound(f"no store at {self.location}: run `placehealth demo` or "
                           "`placehealth ingest` first")
        stat = path.stat()
        wal = path.with_name(path.name + ".wal")
        return (stat.st_mtime_ns, stat.st_size, wal.stat().st_mtime_ns if wal.exists() else 0)

    def peek(self, key: str) -> Any:
        """What ``memo`` holds for ``key`` if the store is unchanged, else None (never builds)."""
        try:
            version = self.version()
        except NotFound:
            return None
        with self._lock:
            return self._cache.get(key) if version == self._version else None

    def memo(self, key: str, make):
        """Keep ``make()`` until the store changes (views are built from whole protected tables,
        and the PCN page's charts take Altair a few hundred milliseconds to build)."""
        return self._cached(key, make)

    def _cached(self, key: str, make):
        with self._lock:
            version = self.version()
            if version != self._version:
                self._cache.clear()
                self._version = version
            if key not in self._cache:
                self._cache[key] = make()
            return self._cache[key]

    def _open(self) -> Store:
        try:
            return Store(self.location, read_only=True)
        except Exception as exc:  # DuckDB refuses readers while a writer holds the file
            if "lock" in str(exc).lower():
                raise StoreBusy("the store is being updated (a load or build is running); "
                                "try again in a moment") from None
            raise

    def _read_raw(self, name: str) -> pd.DataFrame:
        with self._open() as store:
            return store.table(name).to_pandas()

    def tables(self) -> list[str]:
        def make() -> list[str]:
            with self._open() as store:
                return store.list_tables()
        return self._cached("__tables__", make)

    def has(self, name: str) -> bool:
        return name in self.tables()

    def require(self, name: str) -> None:
        if not self.has(name):
            raise NotFound(f"table {name!r} is not in the store; it has: {', '.join(self.tables())}")

    def protected(self, name: str) -> pd.DataFrame:
        """The whole table after disclosure control (suppressed cells null, named per row)."""
        self.require(name)
        return self._cached(f"table:{name}", lambda: self._protect(name))

    def _protect(self, name: str) -> pd.DataFrame:
        frame = protect(self._read_raw(name), name, self.policy)
        if name in FOLLOWS and self.has(FOLLOWS[name][0]):
            frame = _follow(frame, self.protected(FOLLOWS[name][0]), *FOLLOWS[name][1:])
        return frame

    def loads(self) -> pd.DataFrame:
        return self.protected("loads") if self.has("loads") else pd.DataFrame()

    # ---------------------------------------------------------------- generic queries
    def query(self, name: str, filters: dict[str, str] | None = None, *, limit: int = 100,
              offset: int = 0, sort: str | None = None) -> Page:
        """Rows of a table: ``filters`` column -> value (text, compared as the column's type;
        ``a|b`` means either), ``sort`` a column (``-col`` descending), then a page."""
        frame = self.protected(name)
        if limit < 0 or offset < 0:
            raise BadRequest("limit and offset must be zero or more")
        for column, value in (filters or {}).items():
            if column not in frame.columns:
                raise BadRequest(f"unknown column {column!r} in {name}; columns: "
                                 f"{', '.join(frame.columns)}")
            frame = frame[_matches(frame[column], value, column)]
        if sort:
            column = sort.lstrip("-")
            if column not in frame.columns:
                raise BadRequest(f"cannot sort by unknown column {column!r} in {name}")
            frame = frame.sort_values(column, ascending=not sort.startswith("-"),
                                      na_position="last", kind="stable")
        total = len(frame)
        page = frame.iloc[offset: offset + limit] if limit else frame.iloc[offset:]
        return Page(page, total, limit, offset)

    def rows(self, name: str, latest: bool = True, **equal: Any) -> pd.DataFrame:
        """Rows equal on the given columns ([] if the table is missing), latest period only."""
        if not self.has(name):
            return pd.DataFrame()
        frame = self.protected(name)
        for column, value in equal.items():
            if column not in frame.columns:
                return frame.iloc[0:0]  # a table without the column has no such rows
            frame = frame[frame[column].isin(value) if isinstance(value, list | set | tuple)
                          else frame[column] == value]
        if latest and "period" in frame.columns and len(frame):
            frame = frame[frame["period"] == frame["period"].max()]
        return frame

    # ---------------------------------------------------------------- lookups
    def names(self, level: str) -> dict[str, str]:
        """Code -> name of the units of a level, from its profile."""
        table = PROFILE_OF.get(level)
        if not table or not self.has(table):
            return {}
        frame = self.rows(table, latest=False)
        frame = frame.sort_values("period").drop_duplicates("unit_code", keep="last")
        return dict(zip(frame["unit_code"], frame["unit_name"].astype(str), strict=True))

    def boundaries(self, codes: list[str] | None = None, level: str | None = None) -> dict[str, Any]:
        """A GeoJSON FeatureCollection of stored boundaries (optionally of some codes)."""
        if not self.has("boundaries"):
            return {"type": "FeatureCollection", "features": []}

        def make() -> dict[str, tuple[str, str, Any]]:
            frame = self.protected("boundaries")
            return {row.area_code: (row.level, row.area_name, _rounded(json.loads(row.geometry)))
                    for row in frame.itertuples() if row.geometry}
        shapes = self._cached("boundaries", make)
        wanted = shapes.keys() if codes is None else [c for c in codes if c in shapes]
        features = [{"type": "Feature", "id": code,
                     "properties": {"code": code, "name": shapes[code][1], "level": shapes[code][0]},
                     "geometry": shapes[code][2]}
                    for code in wanted if level is None or shapes[code][0] == level]
        return {"type": "FeatureCollection", "features": features}


def _rounded(geometry: Any, digits: int = 5) -> Any:
    """GeoJSON coordinates to 5 decimal places (about 1 metre): maps need no more, pages are smaller."""
    if isinstance(geometry, dict):
        return {k: (_rounded(v, digits) if k == "coordinates" else v) for k, v in geometry.items()}
    if isinstance(geometry, list):
        return [_rounded(v, digits) for v in geometry]
    return round(geometry, digits) if isinstance(geometry, float) else geometry


def _matches(values: pd.Series, text: str, column: str) -> pd.Series:
    options = str(text).split("|")
    if pd.api.types.is_bool_dtype(values):
        wanted = []
        for option in options:
            if option.lower() not in {"true", "false", "1", "0"}:
                raise BadRequest(f"{column} is true or false, not {option!r}")
            wanted.append(option.lower() in {"true", "1"})
        return values.isin(wanted)
    if pd.api.types.is_numeric_dtype(values):
        try:
            numbers = [float(option) for option in options]
        except ValueError:
            raise BadRequest(f"{column} is a number; {text!r} is not") from None
        return values.astype("float64").isin(numbers)
    return values.astype(str).isin(options)


def _follow(frame: pd.DataFrame, other: pd.DataFrame, keys: tuple[str, ...],
            columns: dict[str, str]) -> pd.DataFrame:
    """Hide the cells of ``frame`` whose counterparts in ``other`` are hidden."""
    keys = [k for k in keys if k in frame and k in other]
    if not keys or SUPPRESSED not in other:
        return frame
    hidden = other[other[SUPPRESSED] != ""][[*keys, SUPPRESSED]].drop_duplicates(keys)
    merged = frame.merge(hidden.rename(columns={SUPPRESSED: "_other"}), on=keys, how="left")
    merged.index = frame.index
    out = frame.copy()
    other_hidden = merged["_other"].fillna("").str.split(",")
    for column, source in columns.items():
        if column not in out:
            continue
        flag = other_hidden.map(lambda names, s=source: s in names).to_numpy(dtype=bool)
        if flag.any():
            out.loc[flag, column] = None
            out.loc[flag, SUPPRESSED] = [",".join(x for x in [old, column] if x)
                                         for old in out.loc[flag, SUPPRESSED]]
    return out
