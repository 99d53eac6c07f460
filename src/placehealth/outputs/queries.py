"""The one set of read functions behind every output: pages, API, reports, exports and the CLI.

Every table leaves through :func:`placehealth.outputs.disclosure.protect`, applied to the whole
table (so every filtered view of it agrees), then filtered. ``placehealth build`` writes each
table's protected copy into the store (:mod:`placehealth.outputs.disclosed`), so a request reads
only the rows it asks for, filtered in the engine; a table without a current copy is protected
whole in memory. What is read is kept until the store file changes.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from placehealth import levels
from placehealth.outputs import disclosed
from placehealth.outputs.disclosure import SUPPRESSED, Policy, get_policy
from placehealth.store import Store, no_store, resolve_db, store_exists
from placehealth.tables import ROW_LEVEL


class NotFound(LookupError):
    """An unknown table, code or name (HTTP 404)."""


class StoreBusy(RuntimeError):
    """The store is locked by a writer (e.g. ``placehealth build`` running): HTTP 503."""


class BadRequest(ValueError):
    """A malformed request: unknown column, bad filter value, bad paging (HTTP 422)."""


#: Tables that describe loading rather than people; listed but never needing protection.
INTERNAL = {"loads"}
#: The profile table of each level (where unit names come from), from the level registry.
PROFILE_OF = levels.profile_tables()


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
        self._held: Store | None = None

    # ---------------------------------------------------------------- store access
    def version(self) -> object:
        """Changes whenever the store file does (modification time and size)."""
        if "://" in self.location:
            return self.location
        if not store_exists(self.location):
            raise NotFound(no_store(self.location))
        path = Path(self.location)
        stat = path.stat()
        wal = path.with_name(path.name + ".wal")
        return (stat.st_mtime_ns, stat.st_size, wal.stat().st_mtime_ns if wal.exists() else 0)

    def peek(self, key: str) -> Any:
        """What ``memo`` holds for ``key`` if the store is unchanged, else None (never builds).
        Takes no lock, so a built page answers at once while another page is being built (a
        dict read is atomic; at worst a page just cleared is built again by ``memo``)."""
        try:
            version = self.version()
        except NotFound:
            return None
        return self._cache.get(key) if version == self._version else None

    def memo(self, key: str, make):
        """Keep ``make()`` until the store changes (a view reads many tables through one
        connection, and the PCN page's charts take Altair a few hundred milliseconds to build)."""
        return self._cached(key, make)

    def _cached(self, key: str, make):
        with self._lock:
            version = self.version()
            if version != self._version:
                self._cache.clear()
                self._version = version
            if key not in self._cache:
                with self.session():
                    self._cache[key] = make()
            return self._cache[key]

    @contextmanager
    def session(self) -> Iterator[Store]:
        """One read-only connection for every read inside (opening one costs ~0.1-0.2 s); it is
        closed at the end so a build can take the store between requests."""
        with self._lock:
            if self._held is not None:
                yield self._held
                return
            self._held = self._open()
            try:
                yield self._held
            finally:
                self._held.close()
                self._held = None

    @contextmanager
    def writer(self) -> Iterator[Store]:
        """A read-write connection (the registers' web forms), taken while no read holds the
        store; StoreBusy when another process (a load, a build, another worker) holds it."""
        with self._lock:
            try:
                store = Store(self.location)
            except Exception as exc:
                if "lock" in str(exc).lower() or "different configuration" in str(exc).lower():
                    raise StoreBusy("the store is in use (a load, build or another edit); try "
                                    "again in a moment") from None
                raise
            try:
                yield store
            finally:
                store.close()

    def _open(self) -> Store:
        if not store_exists(self.location):
            raise NotFound(no_store(self.location))
        try:
            return Store(self.location, read_only=True)
        except Exception as exc:  # DuckDB refuses readers while a writer holds the file
            if "lock" in str(exc).lower():
                raise StoreBusy("the store is being updated (a load or build is running); "
                                "try again in a moment") from None
            raise

    def _read_raw(self, name: str) -> pd.DataFrame:
        with self.session() as store:
            return store.table(name).to_pandas()

    def tables(self) -> list[str]:
        """The tables outputs may show: every table but the row-level ones (tables.ROW_LEVEL),
        which never leave the engine."""
        def make() -> list[str]:
            with self.session() as store:
                return [t for t in store.list_tables() if t not in ROW_LEVEL]
        return self._cached("__tables__", make)

    def _copy(self, name: str) -> dict | None:
        """The ledger entry of a current protected copy of ``name`` (see :mod:`disclosed`)."""
        def make() -> dict | None:
            with self.session() as store:
                entries = self._cached("__ledger__", lambda: disclosed.ledger(store))
                return disclosed.valid_copy(store, name, self.policy, entries)
        return self._cached(f"copy:{name}", make)

    def _select(self, name: str, narrow) -> pd.DataFrame | None:
        """Rows of a table's current protected copy narrowed in the engine (``narrow(t) -> t``),
        or None when there is no current copy."""
        if f"table:{name}" in self._cache and self._version == self._safe_version():
            return None  # the whole protected table is already in memory
        if self._plain(name):
            with self.session() as store:
                return narrow(store.table(name)).to_pandas().assign(**{SUPPRESSED: ""})
        entry = self._copy(name)
        if entry is None:
            return None
        with self.session() as store:
            return disclosed.read_copy(store, name, self.policy, entry, narrow)

    def _plain(self, name: str) -> bool:
        """Whether the table holds nothing disclosure control changes (read as stored)."""
        def make() -> bool:
            with self.session() as store:
                return not disclosed.needs_protection(store, name)
        return self._cached(f"plain:{name}", make)

    def _safe_version(self) -> object:
        try:
            return self.version()
        except NotFound:
            return None

    def periods(self, name: str, column: str = "period") -> list[str]:
        """Distinct periods of a table, oldest first (read in the engine)."""
        def make() -> list[str]:
            with self.session() as store:
                return store.periods(name, column)
        return self._cached(f"periods:{name}:{column}", make)

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
        if self._plain(name):
            return self._read_raw(name).assign(**{SUPPRESSED: ""})
        entry = self._copy(name)
        if entry is not None:
            with self.session() as store:
                return disclosed.read_copy(store, name, self.policy, entry)
        return disclosed.protected_table(self._read_raw, name, self.policy,
                                         lambda other: self.protected(other) if self.has(other) else None)

    def loads(self) -> pd.DataFrame:
        return self.protected("loads") if self.has("loads") else pd.DataFrame()

    # ---------------------------------------------------------------- generic queries
    def query(self, name: str, filters: dict[str, str] | None = None, *, limit: int = 100,
              offset: int = 0, sort: str | None = None) -> Page:
        """Rows of a table: ``filters`` column -> value (text, compared as the column's type;
        ``a|b`` means either), ``sort`` a column (``-col`` descending), then a page (``limit`` 0 =
        every row)."""
        with self.session():
            return self._query(name, filters or {}, limit, offset, sort)

    def _query(self, name: str, filters: dict[str, str], limit: int, offset: int,
               sort: str | None) -> Page:
        self.require(name)
        if limit < 0 or offset < 0:
            raise BadRequest("limit and offset must be zero or more")

        def narrow(t: ir.Table) -> ir.Table:
            for column, value in filters.items():
                if column not in _shown(t):
                    raise BadRequest(f"unknown column {column!r} in {name}; columns: "
                                     f"{', '.join(_shown(t))}")
                t = t.filter(_matches_expr(t[column], value, column))
            return t

        frame = self._select(name, narrow) if filters else None
        if frame is None:
            frame = self.protected(name)
            for column, value in filters.items():
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
        with self.session():
            return self._rows(name, latest, equal)

    def _rows(self, name: str, latest: bool, equal: dict[str, Any]) -> pd.DataFrame:
        if not self.has(name):
            return pd.DataFrame()

        def narrow(t: ir.Table) -> ir.Table:
            for column, value in equal.items():
                if column not in _shown(t):
                    return t.filter(ibis.literal(False))
                t = t.filter(t[column].isin(list(value)) if isinstance(value, list | set | tuple)
                             else t[column] == value)
            return t

        frame = self._select(name, narrow) if equal else None
        if frame is None:
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
        """A GeoJSON FeatureCollection of stored boundaries (optionally of some codes); only the
        shapes asked for are read and parsed (a national table holds 35,000 LSOAs)."""
        if not self.has("boundaries"):
            return {"type": "FeatureCollection", "features": []}
        shapes: dict[str, tuple[str, str, Any] | None] = self._cached("boundaries", dict)
        if codes is None:
            frame = self.rows("boundaries", latest=False, **({"level": level} if level else {}))
            wanted = list(frame["area_code"]) if "area_code" in frame else []
        else:
            wanted = list(dict.fromkeys(codes))
            frame = None
        todo = [c for c in wanted if c not in shapes]
        if todo:
            if frame is None:
                frame = self.rows("boundaries", latest=False, area_code=todo)
            for row in frame[frame["area_code"].isin(todo)].itertuples():
                shapes[row.area_code] = ((row.level, row.area_name,
                                          json.loads(row.geometry, parse_float=_coordinate))
                                         if row.geometry else None)
            for code in todo:
                shapes.setdefault(code, None)
        features = [{"type": "Feature", "id": code,
                     "properties": {"code": code, "name": shapes[code][1], "level": shapes[code][0]},
                     "geometry": shapes[code][2]}
                    for code in wanted if shapes.get(code) and (level is None or shapes[code][0] == level)]
        return {"type": "FeatureCollection", "features": features}


def _shown(t: ir.Table) -> list[str]:
    """A table's columns as outputs know them (a protected copy's row numbers, by which it is
    joined to its table, are not one of them)."""
    return [c for c in t.columns if c != disclosed.ROW]


def _coordinate(text: str) -> float:
    """A GeoJSON number to 5 decimal places (about 1 metre; rounded as it is parsed): maps need
    no more, pages are smaller."""
    return round(float(text), 5)


def _options(kind: str, text: str, column: str) -> list[Any]:
    """The values a filter text stands for, as the column's type (``a|b`` = either)."""
    options = str(text).split("|")
    if kind == "bool":
        wanted = []
        for option in options:
            if option.lower() not in {"true", "false", "1", "0"}:
                raise BadRequest(f"{column} is true or false, not {option!r}")
            wanted.append(option.lower() in {"true", "1"})
        return wanted
    if kind == "number":
        try:
            return [float(option) for option in options]
        except ValueError:
            raise BadRequest(f"{column} is a number; {text!r} is not") from None
    return options


def _matches_expr(values: ir.Column, text: str, column: str) -> ir.BooleanValue:
    """:func:`_matches` in the engine."""
    kind = values.type()
    if kind.is_boolean():
        return values.isin(_options("bool", text, column))
    if kind.is_numeric():
        return values.cast("float64").isin(_options("number", text, column))
    return values.cast("string").isin(_options("text", text, column))


def _matches(values: pd.Series, text: str, column: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values.isin(_options("bool", text, column))
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64").isin(_options("number", text, column))
    return values.astype(str).isin(_options("text", text, column))
