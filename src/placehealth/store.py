"""The store: one Ibis connection holding the canonical tables, derived tables and the loads ledger.

The default backend is an embedded DuckDB file (``--db PATH``, env ``PLACEHEALTH_DB``, default
``./placehealth.duckdb``); any Ibis connection URL (``duckdb://``, ``postgres://...``) may be given
instead, so analysis code written against :meth:`Store.table` runs unchanged on other engines.
Spark is opened through Ibis's PySpark backend: ``spark://local`` (a ``local[2]`` session on this
machine), ``spark://HOST:PORT`` (a standalone cluster master) or ``sc://HOST:PORT`` (Spark Connect,
e.g. Databricks); see docs/ENGINES.md.

Loads are atomic and idempotent:

- a file whose sha256 is already in ``loads`` changes nothing;
- files are read and validated completely before the store is opened for writing, so a bad file
  leaves the store as it was;
- rows are merged into their partition (period/edition) inside one transaction: a new period is
  added beside the old ones; rows already present with the same values are kept once; a value
  that fills a gap (e.g. a score where only a rank was loaded) is merged in; a value that
  contradicts one already loaded from another file is an error.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pyarrow as pa

from placehealth.sources.base import ReadResult
from placehealth.sources.validate import InputError
from placehealth.tables import CANONICAL, LOADS, LOADS_COLUMNS, TableSpec

DEFAULT_DB = "placehealth.duckdb"
ENV_DB = "PLACEHEALTH_DB"

SPARK_SCHEMES = ("spark://", "sc://")
SPARK_LOCAL_CONFIG = {
    "spark.sql.shuffle.partitions": "2",  # a few small aggregates, not thousands of partitions
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",  # Ibis 12 writes SQL for Spark's non-ANSI semantics
}

_SQL_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "float64": "DOUBLE", "boolean": "BOOLEAN",
              "binary": "BLOB", "date": "DATE"}


def resolve_db(db: str | os.PathLike[str] | None = None) -> str:
    """The store location: the argument, else ``$PLACEHEALTH_DB``, else ./placehealth.duckdb."""
    return str(db or os.environ.get(ENV_DB) or DEFAULT_DB)


def spark_session(url: str):
    """A Spark session for ``url``: ``spark://local`` or ``spark://local[N]`` runs Spark on this
    machine (two cores unless N is given), ``spark://HOST:PORT`` joins a standalone cluster, and
    ``sc://...`` is a Spark Connect endpoint. An active session of the same master is reused."""
    from pyspark.sql import SparkSession  # optional dependency (placehealth[spark])

    if url.startswith("sc://"):
        return SparkSession.builder.remote(url).getOrCreate()
    master = url.removeprefix("spark://")
    if master.startswith("local"):
        master = master if "[" in master else "local[2]"
        warehouse = os.environ.get("PLACEHEALTH_SPARK_WAREHOUSE",
                                   str(Path(tempfile.gettempdir()) / "placehealth-spark"))
    else:
        master, warehouse = url, None
    builder = SparkSession.builder.master(master).appName("placehealth")
    for key, value in SPARK_LOCAL_CONFIG.items():
        builder = builder.config(key, value)
    if warehouse:
        builder = builder.config("spark.sql.warehouse.dir", warehouse)
    return builder.getOrCreate()


class Store:
    """A thin layer over an Ibis backend: canonical tables, derived tables, the loads ledger."""

    def __init__(self, db: str | os.PathLike[str] | None = None, *, read_only: bool = False):
        self.location = resolve_db(db)
        if self.location.startswith(SPARK_SCHEMES):
            self.con = ibis.pyspark.connect(spark_session(self.location))
        elif "://" in self.location:
            self.con = ibis.connect(self.location)
        else:
            Path(self.location).parent.mkdir(parents=True, exist_ok=True)
            self.con = ibis.duckdb.connect(self.location, read_only=read_only)
            # DuckDB draws its own progress bar on stdout for queries over 2 s (England-sized
            # inserts); the CLI has its own progress bars, so keep stdout clean.
            self.con.con.execute("SET enable_progress_bar = false")
        self.read_only = read_only

    # ---------------------------------------------------------------- reading
    def list_tables(self) -> list[str]:
        return sorted(t for t in self.con.list_tables() if not t.startswith("ibis_"))

    def has(self, name: str) -> bool:
        return name in self.con.list_tables()

    def table(self, name: str) -> ibis.Table:
        """An Ibis expression over a stored table (the engine-agnostic way to read)."""
        if not self.has(name):
            raise KeyError(f"table {name!r} is not in the store {self.location}; "
                           f"it has: {', '.join(self.list_tables()) or 'nothing yet'}")
        return self.con.table(name)

    def read(self, name: str, **equal: Any) -> pd.DataFrame:
        """A stored table as pandas, optionally filtered on column == value (lists mean IN)."""
        t = self.table(name)
        for column, value in equal.items():
            if value is None:
                continue
            t = t.filter(t[column].isin(value) if isinstance(value, list | tuple | set)
                         else t[column] == value)
        return t.to_pandas()

    def periods(self, name: str, column: str = "period") -> list[str]:
        """Distinct periods of a table, oldest first."""
        if not self.has(name):
            return []
        t = self.table(name)
        return sorted(v for v in t.select(column).distinct().to_pandas()[column] if v is not None)

    def loads(self) -> pd.DataFrame:
        if not self.has(LOADS):
            return pd.DataFrame(columns=list(LOADS_COLUMNS))
        return self.table(LOADS).order_by("load_id").to_pandas()

    def loaded(self, sha256: str, kind: str | None = None) -> pd.Series | None:
        """The ledger row of a file already loaded (by content, and as ``kind`` when given: one
        file may be read as two kinds, e.g. practice locations and GP sites), if any."""
        loads = self.loads()
        hit = loads[(loads["sha256"] == sha256) & ((loads["kind"] == kind) if kind else True)]
        return None if hit.empty else hit.iloc[0]

    # ---------------------------------------------------------------- writing
    @property
    def _raw(self):
        """The DuckDB connection (for transactions), or None on other backends."""
        return getattr(self.con, "con", None) if self.con.name == "duckdb" else None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all (DuckDB; best effort elsewhere)."""
        raw = self._raw
        if raw is None:
            yield
            return
        raw.begin()
        try:
            yield
        except BaseException:
            raw.rollback()
            raise
        else:
            raw.commit()

    def _execute(self, sql: str, params: list | None = None) -> None:
        raw = self._raw
        if raw is not None:
            raw.execute(sql, params or [])
        else:
            self.con.raw_sql(sql)

    def _ensure(self, name: str, columns: dict[str, str]) -> None:
        if self.has(name):
            existing = set(self.con.table(name).columns)
            for column, kind in columns.items():
                if column not in existing:
                    self._execute(f'ALTER TABLE "{name}" ADD COLUMN "{column}" {_SQL_TYPES[kind]}')
            return
        cols = ", ".join(f'"{c}" {_SQL_TYPES[t]}' for c, t in columns.items())
        self._execute(f'CREATE TABLE "{name}" ({cols})')

    def _insert(self, name: str, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        arrow = pa.Table.from_pandas(frame, preserve_index=False)
        raw = self._raw
        if raw is not None:
            raw.register("_placehealth_rows", arrow)
            try:
                cols = ", ".join(f'"{c}"' for c in frame.columns)
                raw.execute(f'INSERT INTO "{name}" ({cols}) SELECT {cols} FROM _placehealth_rows')
            finally:
                raw.unregister("_placehealth_rows")
        else:
            self.con.insert(name, arrow)

    def ingest(self, results: list[ReadResult], *, replace: bool = False) -> list[dict[str, Any]]:
        """Write already-validated read results, all in one transaction; skip files seen before.
        ``replace``: each result's partitions (e.g. a register's snapshot, as a web form edits
        it) are written whole over what they held, and a result is never skipped.

        Returns one summary per file: its load_id (new or existing), rows, and whether it was new.
        """
        summaries: list[dict[str, Any]] = []
        with self.transaction():
            self._ensure(LOADS, LOADS_COLUMNS)
            for result in results:
                previous = None if replace else self.loaded(result.sha256, result.kind)
                if previous is not None:
                    summaries.append({"file": result.file_name, "load_id": int(previous["load_id"]),
                                      "rows": int(previous["rows"]), "new": False,
                                      "kind": result.kind, "period": result.period})
                    continue
                load_id = self._next_load_id()
                for name in result.in_engine:  # before any write: a repeated period changes nothing
                    self._refuse_loaded(CANONICAL[name], result)
                for name, frame in result.tables.items():
                    if replace:
                        self._drop_partitions(CANONICAL[name], frame)
                    self._merge(CANONICAL[name], frame.assign(load_id=load_id), result.file_name)
                for name, rows in result.in_engine.items():
                    self._insert_in_engine(CANONICAL[name], rows, load_id)
                ledger = pd.DataFrame([{
                    "load_id": load_id, "file_name": result.file_name, "sha256": result.sha256,
                    "kind": result.kind, "publication": result.publication,
                    "period": result.period, "rows": result.rows,
                    "tables": ",".join(result.tables),
                    "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                }])
                self._insert(LOADS, ledger)
                summaries.append({"file": result.file_name, "load_id": load_id,
                                  "rows": result.rows, "new": True, "kind": result.kind,
                                  "period": result.period})
        return summaries

    def _next_load_id(self) -> int:
        loads = self.loads()
        return 1 if loads.empty else int(loads["load_id"].max()) + 1

    def _refuse_loaded(self, spec: TableSpec, result: ReadResult) -> None:
        """A row-level table's period is loaded from one file only (its rows are not merged)."""
        if not self.has(spec.name):
            return
        t = self.con.table(spec.name)
        if t.filter(t.period == result.period).count().execute():
            earlier = self.loads()
            earlier = earlier[(earlier["kind"] == result.kind)
                              & (earlier["period"] == result.period)]["file_name"]
            raise InputError(result.file_name, f"{spec.name} for {result.period} are already "
                             f"loaded from {earlier.iloc[-1] if len(earlier) else 'another file'}",
                             field="period", hint="an extract month is loaded once; to replace "
                             "it, load everything into a new store (--db NEW.duckdb)")

    def _insert_in_engine(self, spec: TableSpec, rows: ibis.Table, load_id: int) -> None:
        """Write rows that are an expression of this engine (a file it reads) by the engine
        itself (INSERT ... SELECT): they never pass through Python."""
        self._ensure(spec.name, spec.columns)
        rows = rows.mutate(load_id=ibis.literal(load_id, "int64")).select(list(spec.columns))
        raw = self._raw
        if raw is not None:
            cols = ", ".join(f'"{c}"' for c in spec.columns)
            raw.execute(f'INSERT INTO "{spec.name}" ({cols}) {self.con.compile(rows)}')
        else:
            self.con.insert(spec.name, rows)

    def _merge(self, spec: TableSpec, frame: pd.DataFrame, file_name: str) -> None:
        """Merge rows into their partitions: keep equal rows once, fill gaps, refuse conflicts."""
        frame = _conform(spec, frame)
        self._ensure(spec.name, spec.columns)
        parts = frame[list(spec.partition)].drop_duplicates()
        t = self.con.table(spec.name)
        where = None
        for _, part in parts.iterrows():
            cond = None
            for column in spec.partition:
                c = t[column] == part[column]
                cond = c if cond is None else cond & c
            where = cond if where is None else where | cond
        existing = t.filter(where).to_pandas() if where is not None else pd.DataFrame()
        if existing.empty:
            self._insert(spec.name, frame)
            return
        key = list(spec.key)
        existing = _conform(spec, existing)
        both = existing.merge(frame, on=key, how="outer", suffixes=("_old", ""), indicator=True)
        merged = both[key].copy()
        for column in spec.value_columns:
            old, new = both[f"{column}_old"], both[column]
            clash = (old.notna() & new.notna() & (old != new)).fillna(False).astype(bool)
            if clash.any():
                row = both[clash].iloc[0]
                label = ", ".join(f"{k}={row[k]}" for k in key)
                earlier = self.loads()
                earlier = earlier[earlier["load_id"] == row["load_id_old"]]["file_name"]
                raise InputError(
                    file_name,
                    f"{column} = '{row[column]}' contradicts '{row[column + '_old']}' already "
                    f"loaded from {earlier.iloc[0] if len(earlier) else 'an earlier file'} "
                    f"({label})",
                    field=column,
                    hint="each period is loaded once, so two files may not disagree about it; to "
                    "replace a release with a corrected one, load everything into a new store "
                    "(--db NEW.duckdb); `placehealth tables` lists what is loaded",
                )
            merged[column] = new.where(new.notna(), old)
        merged["load_id"] = both["load_id"].where(both["_merge"] != "left_only", both["load_id_old"])
        delete = " OR ".join(
            "(" + " AND ".join(f'"{c}" = ?' for c in spec.partition) + ")" for _ in range(len(parts))
        )
        params = [v for _, part in parts.iterrows() for v in part.tolist()]
        self._execute(f'DELETE FROM "{spec.name}" WHERE {delete}', params)
        self._insert(spec.name, _conform(spec, merged))

    def _drop_partitions(self, spec: TableSpec, frame: pd.DataFrame) -> None:
        if not self.has(spec.name):
            return
        where = " AND ".join(f'"{c}" = ?' for c in spec.partition)
        for _, part in frame[list(spec.partition)].drop_duplicates().iterrows():
            self._execute(f'DELETE FROM "{spec.name}" WHERE {where}', [str(v) for v in part.tolist()])

    def replace_table(self, name: str, frame: pd.DataFrame) -> None:
        """Write a derived table whole (built by an analysis), atomically replacing any old one."""
        arrow = pa.Table.from_pandas(frame, preserve_index=False)
        raw = self._raw
        if raw is None:
            self.con.create_table(name, arrow, overwrite=True)
            return
        with self.transaction():
            raw.register("_placehealth_rows", arrow)
            try:
                raw.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _placehealth_rows')
            finally:
                raw.unregister("_placehealth_rows")

    def close(self) -> None:
        disconnect = getattr(self.con, "disconnect", None)
        if disconnect:
            disconnect()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Arrow-backed strings: str(value) for present values, NaN for missing ones, zero-copy to Arrow.
_STRING = pd.StringDtype("pyarrow", na_value=float("nan"))


def _conform(spec: TableSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """Columns in spec order and type (readers have already checked required values)."""
    out = pd.DataFrame(index=frame.index)
    for column, kind in spec.columns.items():
        values = frame[column] if column in frame else pd.Series(None, index=frame.index)
        if kind == "int64":
            values = pd.to_numeric(values, errors="raise").astype("Int64")
        elif kind == "float64":
            values = pd.to_numeric(values, errors="raise").astype("float64")
        elif kind == "boolean":
            values = values.astype("boolean")
        elif kind == "string":  # str(v) of every present value, missing kept missing
            values = values.astype(_STRING)
        out[column] = values
    return out
