"""The store: one Ibis connection holding the canonical tables, derived tables and the loads ledger.

The default backend is an embedded DuckDB file (``--db PATH``, env ``PLACEHEALTH_DB``, default
``./placehealth.duckdb``); any Ibis connection URL (``duckdb://``, ``postgres://...``) may be given
instead, so analysis code written against :meth:`Store.table` runs unchanged on other engines.
Spark is opened through Ibis's PySpark backend: ``spark://local`` (a ``local[2]`` session on this
machine), ``spark://HOST:PORT`` (a standalone cluster master) or ``sc://HOST:PORT`` (Spark Connect,
e.g. Databricks); see docs/ENGINES.md.

Loads are atomic and idempotent:

- a file whose sha256 is already in ``loads`` changes nothing;
- files are read and validated completely before anything of them is committed (a file may be
  read while the one before it is written, in the same transaction), so a bad file leaves the
  store as it was;
- rows are merged into their partition (period/edition) inside one transaction: a new period is
  added beside the old ones; rows already present with the same values are kept once; a value
  that fills a gap (e.g. a score where only a rank was loaded) is merged in; a value that
  contradicts one already loaded from another file is an error.

DuckDB writes inside its own transactions. Engines without multi-table transactions (Spark's
managed tables) write every changed table whole under a staging name, through Ibis expressions
and Arrow; the staged tables are renamed into place only when every write of the transaction has
succeeded (the ``loads`` ledger last), so a failed load drops its staged tables and leaves the
stored ones untouched. A load interrupted during the renames is not in the ledger and is loaded
again next time, merging into the same rows (:meth:`Store.recover` tidies what it left).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pandas as pd
import pyarrow as pa
from ibis.backends import BaseBackend

from placehealth.sources.base import ReadResult
from placehealth.sources.validate import InputError
from placehealth.tables import CANONICAL, LOADS, LOADS_COLUMNS, TableSpec

DEFAULT_DB = "placehealth.duckdb"
ENV_DB = "PLACEHEALTH_DB"
#: Local Spark (``spark://local``): the folder holding its tables and their catalog.
ENV_SPARK_WAREHOUSE = "PLACEHEALTH_SPARK_WAREHOUSE"
DEFAULT_SPARK_WAREHOUSE = "placehealth-spark"

SPARK_SCHEMES = ("spark://", "sc://")
#: Every session's SQL settings, Spark Connect's included.
SPARK_SQL_CONFIG = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",  # Ibis 12 writes SQL for Spark's non-ANSI semantics
}
SPARK_LOCAL_CONFIG = {
    "spark.sql.shuffle.partitions": "2",  # a few small aggregates, not thousands of partitions
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    **SPARK_SQL_CONFIG,
}
#: ``sc://...;database=NAME``: placehealth's own parameter of a Spark Connect URL (not sent).
CONNECT_DATABASE = "database"

#: Spark and other engines without transactions: a table being written, and one being replaced.
STAGED = "placehealth_staged__"
OLD = "placehealth_old__"
_INTERNAL = ("ibis_", STAGED, OLD)

_SQL_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "float64": "DOUBLE", "boolean": "BOOLEAN",
              "binary": "BLOB", "date": "DATE"}


def resolve_db(db: str | os.PathLike[str] | None = None) -> str:
    """The store location: the argument, else ``$PLACEHEALTH_DB``, else ./placehealth.duckdb."""
    return str(db or os.environ.get(ENV_DB) or DEFAULT_DB)


def store_exists(location: str) -> bool:
    """Whether a store is there to read: a DuckDB file that exists (an engine URL always is)."""
    return "://" in location or Path(location).exists()


#: What to do when there is no store to read.
NO_STORE_HINT = "run `placehealth demo` or `placehealth ingest` first"


def no_store(location: str) -> str:
    """What a reader is told when there is no store at ``location``."""
    return f"no store at {location}: {NO_STORE_HINT}"


def spark_session(url: str):
    """A Spark session for ``url``: ``spark://local`` or ``spark://local[N]`` runs Spark on this
    machine (two cores unless N is given), ``spark://HOST:PORT`` joins a standalone cluster, and
    ``sc://...`` is a Spark Connect endpoint. An active session of the same master is reused.
    ``spark://MASTER/DATABASE`` (or ``sc://HOST:PORT/;database=DATABASE``) keeps the tables in
    that database (created when missing), in a session of its own, so stores in different
    databases coexist."""
    if url.startswith("sc://"):
        return _connect_session(url)
    master, _, database = url.removeprefix("spark://").partition("/")
    session = _spark_master(master)
    if database:
        session = session.newSession()  # sharing the Spark context
        for key, value in SPARK_LOCAL_CONFIG.items():
            if key.startswith("spark.sql."):  # a session's own settings (the rest are static)
                session.conf.set(key, value)
        _use_database(session, database)
    return session


def _connect_session(url: str):
    """A Spark Connect session (``sc://HOST:PORT/;PARAM=VALUE;...``, as Spark Connect reads
    it), with placehealth's SQL settings; ``database=NAME`` among the parameters is the store's
    database, in a new session of the server's."""
    from pyspark.sql import SparkSession  # optional dependencies (placehealth[spark,connect])

    endpoint, database = connect_database(url)
    builder = SparkSession.builder.remote(endpoint)
    session = builder.create() if database else builder.getOrCreate()
    for key, value in SPARK_SQL_CONFIG.items():
        session.conf.set(key, value)
    if database:
        _use_database(session, database)
    return session


def connect_database(url: str) -> tuple[str, str]:
    """A Spark Connect URL without placehealth's ``database=NAME`` parameter, and that name
    ('' when none): ``sc://h:15002/;token=T;database=D`` -> ``(sc://h:15002/;token=T, D)``."""
    endpoint, _, query = url.partition("/;")
    params = [p.partition("=") for p in query.split(";") if p]
    database = next((value for key, _, value in params if key == CONNECT_DATABASE), "")
    rest = ";".join(f"{key}={value}" for key, _, value in params if key != CONNECT_DATABASE)
    return endpoint + (f"/;{rest}" if rest else ""), database


def _use_database(session, database: str) -> None:
    session.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    session.catalog.setCurrentDatabase(database)


def _spark_master(master: str):
    """The session of a Spark master (``local``, ``local[N]`` or ``HOST:PORT``)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("placehealth")
    if not master.startswith("local"):  # the cluster's own warehouse and metastore
        for key, value in SPARK_LOCAL_CONFIG.items():
            builder = builder.config(key, value)
        return builder.master(f"spark://{master}").getOrCreate()
    warehouse = Path(os.environ.get(ENV_SPARK_WAREHOUSE, DEFAULT_SPARK_WAREHOUSE)).resolve()
    warehouse.mkdir(parents=True, exist_ok=True)
    for key, value in spark_local_config(warehouse).items():
        builder = builder.config(key, value)
    session = builder.master(master if "[" in master else "local[2]").getOrCreate()
    session.sparkContext.setLogLevel("ERROR")  # warnings about the metastore are not the user's
    return session


def spark_local_config(warehouse: Path) -> dict[str, str]:
    """Settings of Spark on this machine (a session, or a Spark Connect server): tables in the
    ``warehouse`` folder, their catalog in an embedded Derby metastore beside them, so a store
    outlives the process (one process at a time holds the metastore)."""
    metastore = f"jdbc:derby:;databaseName={warehouse / 'metastore_db'};create=true"
    return {**SPARK_LOCAL_CONFIG,
            "spark.sql.warehouse.dir": str(warehouse),
            "spark.sql.catalogImplementation": "hive",
            "spark.hadoop.javax.jdo.option.ConnectionURL": metastore,
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={warehouse}"}


def to_engine(rows: pd.DataFrame | pa.Table, engine: BaseBackend | ibis.Table) -> ibis.Table:
    """Rows from Python (pandas or Arrow) as an Ibis table of ``engine`` (a backend, or a table
    whose backend is meant), to join with its tables: the one way placehealth sends rows to an
    engine. The rows go as one contiguous Arrow table of types every engine stores
    (:func:`_portable`). Spark gets them straight from Arrow (``createDataFrame``) as a temporary
    view of the session: Ibis's in-memory tables go through pandas there, which on a classic
    session turns a missing string into the text 'NaN', and on Spark Connect fails on pandas
    columns backed by chunked Arrow arrays (``Cannot convert pyarrow.lib.ChunkedArray``)."""
    arrow = rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(rows, preserve_index=False)
    arrow = _portable(arrow).combine_chunks()
    con = engine._find_backend() if isinstance(engine, ibis.Table) else engine
    if con.name != "pyspark":
        return ibis.memtable(arrow)
    spark = con._session
    if arrow.num_rows:
        frame = spark.createDataFrame(arrow)
    else:  # Spark Connect infers no schema from no rows: give it the Arrow one
        from pyspark.sql.pandas.types import from_arrow_schema

        frame = spark.createDataFrame([], schema=from_arrow_schema(arrow.schema))
    view = f"placehealth_rows_{uuid.uuid4().hex[:12]}"
    frame.createOrReplaceTempView(view)
    return con.table(view)


class Store:
    """A thin layer over an Ibis backend: canonical tables, derived tables, the loads ledger."""

    def __init__(self, db: str | os.PathLike[str] | None = None, *, read_only: bool = False,
                 con: BaseBackend | None = None, engine: EngineSettings | None = None):
        self.location = resolve_db(db)
        #: DuckDB's database-wide settings, owned once for this store and its cursors
        self.engine = engine or EngineSettings()
        if con is not None:  # another handle on an open store (:meth:`cursor`)
            self.con = con
        elif self.location.startswith(SPARK_SCHEMES):
            self.con = ibis.pyspark.connect(spark_session(self.location))
        elif "://" in self.location:
            self.con = ibis.connect(self.location)
        else:
            from placehealth.backend import Backend  # (Ibis's DuckDB backend: loaded when used)

            Path(self.location).parent.mkdir(parents=True, exist_ok=True)
            self.con = Backend().connect(self.location, read_only=read_only)
            # DuckDB draws its own progress bar on stdout for queries over 2 s (England-sized
            # inserts); the CLI has its own progress bars, so keep stdout clean.
            self.con.con.execute("SET enable_progress_bar = false")
        self.read_only = read_only
        #: engines without transactions, inside one: each table written -> its new content
        self._pending: dict[str, _Pending] | None = None
        self._views: list[str] = []  # Spark: temporary views of uploaded rows
        self._recovered = False

    def cursor(self) -> Store:
        """A second handle on this DuckDB store for another thread, reading what is committed
        (as a store opened read-only would, which DuckDB refuses in a process that has the file
        open for writing): a connection of its own to the same database. Closing it leaves
        this store open."""
        raw = self._raw
        if raw is None:
            raise ValueError(f"{self.location}: a cursor is a DuckDB store's")
        cursor = raw.cursor()
        cursor.execute("SET enable_progress_bar = false")
        return Store(self.location, read_only=True, con=type(self.con).from_connection(cursor),
                     engine=self.engine)

    # ---------------------------------------------------------------- reading
    @property
    def _spark(self):
        """The Spark session, or None on other backends."""
        return getattr(self.con, "_session", None) if self.con.name == "pyspark" else None

    def _catalog(self) -> list[str]:
        """Every table the engine holds, staged and old copies included (no temporary views)."""
        spark = self._spark
        if spark is None:
            return self.con.list_tables()
        return [row.tableName for row in spark.sql("SHOW TABLES").collect() if not row.isTemporary]

    def list_tables(self) -> list[str]:
        names = set(self._catalog()) | set(self._pending or ())
        return sorted(t for t in names if not t.startswith(_INTERNAL))

    def has(self, name: str) -> bool:
        if self._pending and name in self._pending:
            return True
        spark = self._spark
        if spark is not None:  # a catalog lookup, not a listing (a listing takes a second)
            return spark.catalog.tableExists(name)
        if self.con.name == "duckdb":  # the tables Ibis lists, asked for by name in one query
            return self.con.con.execute(_HAS, [name]).fetchone() is not None  # (not three)
        return name in self.con.list_tables()

    def table(self, name: str) -> ibis.Table:
        """An Ibis expression over a stored table (the engine-agnostic way to read); inside a
        transaction on an engine without them, the table as the transaction has written it."""
        if not self.has(name):
            raise KeyError(f"table {name!r} is not in the store {self.location}; "
                           f"it has: {', '.join(self.list_tables()) or 'nothing yet'}")
        if self._pending and name in self._pending:
            return self._pending_rows(self._pending[name])
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
        try:
            t = self.table(name)  # asks whether the table exists (a query: not twice)
        except KeyError:
            return []
        return sorted(v for v in t.select(column).distinct().to_pandas()[column] if v is not None)

    def loads(self) -> pd.DataFrame:
        if self._pending and LOADS in self._pending:  # held whole in memory while loading
            frames = [f for f in self._pending[LOADS].rows if len(f)]
            if frames:
                return pd.concat(frames, ignore_index=True).sort_values("load_id", ignore_index=True)
            return pd.DataFrame(columns=list(LOADS_COLUMNS))
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
        """All writes inside commit together or not at all: DuckDB's own transaction; elsewhere
        each changed table is written whole under a staging name, and the staged tables are
        renamed into place once all are written."""
        raw = self._raw
        if raw is not None:
            raw.begin()
            try:
                yield
            except BaseException:
                raw.rollback()
                raise
            else:
                raw.commit()
            return
        if self._pending is not None:  # nested: the outer transaction commits
            yield
            return
        self.recover()
        self._pending = {}
        try:
            yield
            pending = self._pending
        finally:
            self._pending = None
            self._drop_views()
        self._commit(pending)

    def _commit(self, pending: dict[str, _Pending]) -> None:
        """Stage every pending table, then rename each into place (the loads ledger last)."""
        staged: dict[str, str] = {}
        try:
            for name, content in pending.items():
                staged[name] = f"{STAGED}{name}__{uuid.uuid4().hex[:12]}"
                self.con.create_table(staged[name], self._pending_rows(content))
        except BaseException:
            for name in staged.values():
                self.con.drop_table(name, force=True)
            raise
        finally:
            self._drop_views()
        for name in sorted(staged, key=lambda n: n == LOADS):
            if self.has(name):
                self.con.rename_table(name, OLD + name)
            self.con.rename_table(staged[name], name)
            self.con.drop_table(OLD + name, force=True)

    def recover(self) -> None:
        """Tidy what an interrupted write left (engines without transactions): staged tables are
        dropped, and a table caught between its old and new copy gets its old copy back."""
        if self._recovered or self._raw is not None:
            return
        names = set(self._catalog())
        for name in sorted(names):
            if name.startswith(STAGED):
                self.con.drop_table(name, force=True)
            elif name.startswith(OLD):
                if name.removeprefix(OLD) in names:
                    self.con.drop_table(name, force=True)
                else:
                    self.con.rename_table(name, name.removeprefix(OLD))
        self._recovered = True

    def _execute(self, sql: str, params: list | None = None) -> None:
        self._raw.execute(sql, params or [])

    def _pending_table(self, name: str, columns: dict[str, str] | None = None) -> _Pending:
        """The transaction's content of ``name``: stored rows kept and rows added (engines
        without transactions). The loads ledger is small and read whole once."""
        if name not in self._pending:
            stored = self.con.table(name) if self.has(name) else None
            if name == LOADS:
                rows = [] if stored is None else [stored.to_pandas()]
                content = _Pending(None, rows, _schema(columns or LOADS_COLUMNS))
            else:
                content = _Pending(stored, [], None if stored is not None else _schema(columns))
            self._pending[name] = content
        return self._pending[name]

    def _pending_rows(self, content: _Pending) -> ibis.Table:
        """A pending table as one Ibis expression: the stored rows kept plus the rows added."""
        frames = [f for f in content.rows if len(f)]
        if content.keep is not None and not frames:
            return content.keep
        frames = frames or content.rows[:1]  # an empty table written whole keeps its columns
        tables = [f if isinstance(f, pa.Table) else pa.Table.from_pandas(f, preserve_index=False)
                  for f in frames]
        arrow = pa.concat_tables(tables, promote_options="permissive") if tables else None
        if content.schema is not None:
            arrow = (content.schema.empty_table() if arrow is None
                     else arrow.select(content.schema.names).cast(content.schema))
        rows = self._upload(arrow)
        if content.keep is None:
            return rows
        kept = content.keep.schema()
        return content.keep.union(rows.select(*[
            (rows[c] if c in rows.columns else ibis.null()).cast(kept[c]).name(c) for c in kept.names]))

    def _upload(self, arrow: pa.Table) -> ibis.Table:
        """Arrow rows as an Ibis table in the engine; on Spark a temporary view, dropped when the
        transaction ends."""
        rows = to_engine(arrow, self.con)
        if self._spark is not None:
            self._views.append(rows.get_name())
        return rows

    def _drop_views(self) -> None:
        while self._views:
            self._spark.catalog.dropTempView(self._views.pop())

    def _ensure(self, name: str, columns: dict[str, str]) -> None:
        if self._raw is None:
            content = self._pending_table(name, columns)
            if content.keep is not None:
                missing = {c: k for c, k in columns.items() if c not in content.keep.columns}
                content.keep = content.keep.mutate(
                    **{c: ibis.null(_IBIS_TYPES[k]) for c, k in missing.items()})
            return
        existing = {row[0] for row in self._raw.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = current_schema() AND table_name = ?", [name]).fetchall()}
        if existing:
            for column, kind in columns.items():
                if column not in existing:
                    self._execute(f'ALTER TABLE "{name}" ADD COLUMN "{column}" {_SQL_TYPES[kind]}')
            return
        cols = ", ".join(f'"{c}" {_SQL_TYPES[t]}' for c, t in columns.items())
        self._execute(f'CREATE TABLE "{name}" ({cols})')

    def _insert(self, name: str, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        raw = self._raw
        if raw is None:
            self._pending_table(name).rows.append(frame)
            return
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        from_arrow(self, f'INSERT INTO "{name}" ({cols}) SELECT {cols} FROM _placehealth_rows',
                   pa.Table.from_pandas(frame, preserve_index=False))

    def _partition_rows(self, spec: TableSpec, parts: pd.DataFrame) -> pd.DataFrame:
        """The stored rows of the given partitions (as this transaction has written them)."""
        if self._raw is not None:
            where, params = _where_parts(spec.partition, parts)
            if not self._raw.execute(f'SELECT 1 FROM "{spec.name}" WHERE {where} LIMIT 1',
                                     params).fetchall():
                return pd.DataFrame()  # new partitions (a new month): nothing to merge with
            t = self.con.table(spec.name)
            return t.filter(_in_parts(t, spec.partition, parts)).to_pandas()
        content = self._pending_table(spec.name)
        found = [f[_in_frame(f, spec.partition, parts)] for f in content.rows]
        if content.keep is not None:
            found.insert(0, content.keep.filter(_in_parts(content.keep, spec.partition, parts))
                         .to_pandas())
        found = [f for f in found if len(f)]
        return pd.concat(found, ignore_index=True) if found else pd.DataFrame()

    def _delete_partitions(self, spec: TableSpec, parts: pd.DataFrame) -> None:
        if self._raw is not None:
            delete, params = _where_parts(spec.partition, parts)
            self._execute(f'DELETE FROM "{spec.name}" WHERE {delete}', params)
            return
        content = self._pending_table(spec.name)
        content.rows = [f[~_in_frame(f, spec.partition, parts)] for f in content.rows]
        if content.keep is not None:
            inside = _in_parts(content.keep, spec.partition, parts).fill_null(False)
            content.keep = content.keep.filter(~inside)

    def ingest(self, results: Iterable[ReadResult], *, replace: bool = False
               ) -> list[dict[str, Any]]:
        """Write already-validated read results, all in one transaction; skip files seen before.
        ``replace``: each result's partitions (e.g. a register's snapshot, as a web form edits
        it) are written whole over what they held, and a result is never skipped. ``results``
        may be an iterator reading each file as it is asked for (``sources.read_ahead``): an
        error it raises rolls the transaction back, so nothing of any of them is stored.

        Returns one summary per file: its load_id (new or existing), rows, and whether it was new.
        """
        summaries: list[dict[str, Any]] = []
        with self.transaction():
            self._ensure(LOADS, LOADS_COLUMNS)
            ledger = self._ledger()  # read once, kept up to date below
            for result in results:
                previous = None if replace else next(
                    (row for row in ledger if row[1] == result.sha256
                     and (row[2] == result.kind if result.kind else True)), None)
                if previous is not None:
                    summaries.append({"file": result.file_name, "load_id": int(previous[0]),
                                      "rows": int(previous[3]), "new": False,
                                      "kind": result.kind, "period": result.period})
                    continue
                load_id = 1 + max((int(row[0]) for row in ledger), default=0)
                for name in result.in_engine:  # before any write: a repeated period changes nothing
                    self._refuse_loaded(CANONICAL[name], result)
                for name, frame in result.tables.items():
                    if replace:
                        self._drop_partitions(CANONICAL[name], frame)
                    self._merge(CANONICAL[name], frame.assign(load_id=load_id), result.file_name)
                for name, rows in result.in_engine.items():
                    self._insert_in_engine(CANONICAL[name], rows, load_id)
                entry = pd.DataFrame([{
                    "load_id": load_id, "file_name": result.file_name, "sha256": result.sha256,
                    "kind": result.kind, "publication": result.publication,
                    "period": result.period, "rows": result.rows,
                    "tables": ",".join(result.tables),
                    "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                }])
                self._insert(LOADS, entry)
                ledger.append((load_id, result.sha256, result.kind, result.rows))
                summaries.append({"file": result.file_name, "load_id": load_id,
                                  "rows": result.rows, "new": True, "kind": result.kind,
                                  "period": result.period})
        return summaries

    def _ledger(self) -> list[tuple[int, str, str, int]]:
        """The loads ledger as ``ingest`` asks it (load_id, sha256, kind, rows), by load_id:
        on DuckDB one query inside the transaction, without building an Ibis expression."""
        raw = self._raw
        if raw is None:
            loads = self.loads()
            return list(zip(loads["load_id"], loads["sha256"], loads["kind"], loads["rows"],
                            strict=True))
        return raw.execute(f'SELECT load_id, sha256, kind, "rows" FROM "{LOADS}" '
                           "ORDER BY load_id").fetchall()

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
            return
        content = self._pending_table(spec.name, spec.columns)  # written with the others at commit
        if content.keep is None:
            content.keep = rows.select(*[rows[c].cast(_IBIS_TYPES[k]).name(c)
                                         for c, k in spec.columns.items()])
        else:
            kept = content.keep.schema()
            content.keep = content.keep.union(rows.select(*[rows[c].cast(kept[c]).name(c)
                                                            for c in kept.names]))

    def _merge(self, spec: TableSpec, frame: pd.DataFrame, file_name: str) -> None:
        """Merge rows into their partitions: keep equal rows once, fill gaps, refuse conflicts."""
        frame = _conform(spec, frame)
        self._ensure(spec.name, spec.columns)
        parts = frame[list(spec.partition)].drop_duplicates()
        existing = self._partition_rows(spec, parts) if len(parts) else pd.DataFrame()
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
        self._delete_partitions(spec, parts)
        self._insert(spec.name, _conform(spec, merged))

    def _drop_partitions(self, spec: TableSpec, frame: pd.DataFrame) -> None:
        if self.has(spec.name):
            self._delete_partitions(spec, frame[list(spec.partition)].drop_duplicates().astype(str))

    def replace_table(self, name: str, frame: pd.DataFrame | pa.Table | ibis.Table) -> None:
        """Write a table whole (built by an analysis, Arrow rows, or an expression of this engine,
        whose rows the engine writes without passing through Python), atomically replacing any
        old one; inside a transaction, committed with it (in parts:
        :meth:`replace_table_in_parts`)."""
        if isinstance(frame, ibis.Table):
            raw = self._raw
            if raw is None:  # staged from the expression and renamed into place at commit
                with self.transaction():
                    self._pending[name] = _Pending(frame, [], None)
                return
            self.con._run_pre_execute_hooks(frame)  # in-memory tables it joins
            with self.transaction():
                raw.execute(f'CREATE OR REPLACE TABLE "{name}" AS {self.con.compile(frame)}')
            return
        arrow = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
        raw = self._raw
        if raw is None:
            with self.transaction():
                self._pending[name] = _Pending(None, [arrow], None)
            return
        with self.transaction():
            from_arrow(self, f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _placehealth_rows', arrow)

    def replace_table_in_parts(self, name: str, parts: Iterable[pa.Table]) -> int:
        """Write a table from its rows in parts (Arrow tables of the same columns, in order, at
        least one), atomically replacing any old one, as :meth:`replace_table` does with the
        whole. On DuckDB each part is written as it comes, so the parts may be made while the
        table is written and only one is held: the parts go into a staged table, each committed
        (a transaction holds every row it writes in memory until it commits: 1.5 GB for
        England's 6M LSOA gap rows) and let go of by DuckDB's cache, and the staged table is
        renamed into place in one transaction (a staged table an interrupted write left is
        dropped by the next). Other engines: the parts staged together, as one table is.
        Returns the rows written."""
        raw = self._raw
        if raw is None:
            rows = list(parts)
            if not rows:
                raise ValueError(f"{name}: no parts to write")
            with self.transaction():
                self._pending[name] = _Pending(None, rows, None)
            return sum(part.num_rows for part in rows)
        prefix = f"{STAGED}{name}__"
        for (left,) in raw.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = current_schema() AND starts_with(table_name, ?)",
                [prefix]).fetchall():
            raw.execute(f'DROP TABLE IF EXISTS "{left}"')
        staged = f"{prefix}{uuid.uuid4().hex[:12]}"
        try:
            written = rows = 0
            for arrow in parts:
                from_arrow(self, f'CREATE TABLE "{staged}" AS SELECT * FROM _placehealth_rows'
                           if not written else f'INSERT INTO "{staged}" SELECT * FROM _placehealth_rows',
                           arrow)
                rows += arrow.num_rows
                del arrow
                written += 1
                self.release_cache()  # the pages written
            if not written:
                raise ValueError(f"{name}: no parts to write")
            with self.transaction():
                raw.execute(f'DROP TABLE IF EXISTS "{name}"')
                raw.execute(f'ALTER TABLE "{staged}" RENAME TO "{name}"')
        except BaseException:
            raw.execute(f'DROP TABLE IF EXISTS "{staged}"')
            raise
        return rows

    def memory_limit(self) -> str:
        """DuckDB's memory limit as last set here (:meth:`EngineSettings.memory_limit`)."""
        return self.engine.memory_limit(self.con.con)

    def set_memory_limit(self, limit: str) -> None:
        """Set DuckDB's memory limit (caches and sorts beyond it spill to disk), unless held."""
        self.engine.set_memory_limit(self.con.con, limit)

    def one_thread(self, raw=None) -> contextlib.AbstractContextManager[None]:
        """DuckDB on one thread while rows from Python are written (:meth:`EngineSettings.one_thread`),
        set through ``raw`` (this store's connection unless given: another thread's cursor)."""
        return self.engine.one_thread(raw if raw is not None else self.con.con)

    def hold(self, threads: int, memory: str) -> contextlib.AbstractContextManager[None]:
        """DuckDB's thread count and memory limit fixed until the block ends (:meth:`EngineSettings.hold`)."""
        return self.engine.hold(self.con.con, threads, memory)

    def let_go(self) -> None:
        """Give back what a step, a big write or a query left held before the next: DuckDB's
        cached pages (:meth:`release_cache`) and the allocators' freed memory
        (:func:`release_memory`)."""
        self.release_cache()
        release_memory()

    def release_cache(self) -> None:
        """Empty DuckDB's buffer cache (the pages of the tables read so far, which it keeps until
        its memory limit is reached, 80% of the machine by default) by lowering the limit for a
        moment: between build steps, what one step read is not held through the next (half a
        gigabyte at England scale). Not while the limit is held (another thread's query could
        then run out of memory; the held limit bounds the cache). Other engines: nothing."""
        if self.con.name != "duckdb":
            return
        self.engine.release_cache(self.con.con)

    def close(self) -> None:
        """Close the connection; a Spark session is left running for whoever else holds it (a
        notebook, other stores) and ends with the process, but a Spark Connect session made
        for this store's database is ended (the server lets it go)."""
        if self._spark is not None:
            if self.location.startswith("sc://") and connect_database(self.location)[1]:
                self._spark.stop()
            return
        disconnect = getattr(self.con, "disconnect", None)
        if disconnect:
            disconnect()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Whether DuckDB holds a table or view of this name where Ibis's ``list_tables`` looks (the
#: current database and schema, and temporary ones): 1.3 ms against 5.4 for the listing.
_HAS = ("SELECT 1 FROM information_schema.tables WHERE table_catalog IN (current_database(), "
        "'temp') AND table_schema = current_schema() AND table_name = ? LIMIT 1")


class EngineSettings:
    """DuckDB's thread count and memory limit, which are settings of the whole database (every
    connection and thread on it shares them), owned once for a store and its cursors: writers
    that each set one and set it back would undo one another from two threads (one left a
    database on one thread; lowering the limit to empty the cache could fail another thread's
    query). :meth:`one_thread` is counted (the first sets, the last sets back); :meth:`hold`
    fixes both while several threads work, and then the others leave them be."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._serial = 0  # writers inside one_thread
        self._threads: str | None = None  # the thread count before the first of them
        self._held = False
        self._limits: dict[str, str] = {}  # DuckDB's memory limit as shown -> as set

    @property
    def held(self) -> bool:
        return self._held

    @contextmanager
    def one_thread(self, raw) -> Iterator[None]:
        """DuckDB on one thread while rows from Python are written: its order-keeping parallel
        insert costs more CPU than a serial one (6.2M population rows: 9 CPU-s against 5;
        England's prevalence_gap_lsoa, 6M rows, written whole: 14.2 against 13.1, 21.2 s wall
        against 18.8 at load 4), and is no sooner on two busy cores. While held, as held."""
        with self._lock:
            if not self._held and not self._serial:
                self._threads = raw.execute("SELECT current_setting('threads')").fetchone()[0]
                raw.execute("SET threads = 1")
            self._serial += 1
        try:
            yield
        finally:
            with self._lock:
                self._serial -= 1
                if not self._serial and not self._held and self._threads is not None:
                    raw.execute(f"SET threads = {int(self._threads)}")
                    self._threads = None

    @contextmanager
    def hold(self, raw, threads: int, memory: str) -> Iterator[None]:
        """Both settings fixed until the block ends, then set back: for work on several threads
        at once (one DuckDB thread each, their caches within one limit). Not nested."""
        with self._lock:
            if self._held:
                raise RuntimeError("DuckDB's settings are already held")
            before = self._threads if self._serial else \
                raw.execute("SELECT current_setting('threads')").fetchone()[0]
            limit = self.memory_limit(raw)
            raw.execute(f"SET threads = {int(threads)}")
            self._set_limit(raw, memory)
            self._held = True
        try:
            yield
        finally:
            with self._lock:
                self._held = False
                self._set_limit(raw, limit)
                if self._serial:  # a writer still inside one_thread sets it back when done
                    self._threads = before
                else:
                    raw.execute(f"SET threads = {int(before)}")

    def memory_limit(self, raw) -> str:
        """DuckDB's memory limit as last set here (DuckDB shows it cut to one decimal: set back
        as shown, it would shrink each time)."""
        shown = raw.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        return self._limits.get(shown, shown)

    def set_memory_limit(self, raw, limit: str) -> None:
        """Set DuckDB's memory limit, unless held."""
        with self._lock:
            if not self._held:
                self._set_limit(raw, limit)

    def release_cache(self, raw) -> None:
        """Empty DuckDB's cache by lowering its limit for a moment (:meth:`Store.release_cache`),
        unless held."""
        with self._lock:
            if self._held:
                return
            limit = self.memory_limit(raw)
            try:
                self._set_limit(raw, "32MB")
            except duckdb.Error:
                pass  # more than that is in use: nothing to free
            finally:
                self._set_limit(raw, limit)

    def _set_limit(self, raw, limit: str) -> None:
        raw.execute(f"SET memory_limit = '{limit}'")
        shown = raw.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        self._limits[shown] = limit


def from_arrow(store: Store, sql: str, rows: pa.Table, view: str = "_placehealth_rows",
               raw=None) -> None:
    """Run ``sql``, which reads the Arrow ``rows`` as ``view``, through ``raw`` (the store's
    DuckDB connection unless given) on one DuckDB thread (rows from Python written:
    :meth:`EngineSettings.one_thread`); the view is let go after."""
    raw = raw if raw is not None else store.con.con
    raw.register(view, rows)
    try:
        with store.one_thread(raw):
            raw.execute(sql)
    finally:
        raw.unregister(view)


def release_memory() -> None:
    """Give memory freed after big frames back to the system: the allocators keep it for
    reuse otherwise (a gigabyte at England scale). Arrow's pool, and glibc's heap by
    ``malloc_trim`` as Dask's workers do ("Memory not released back to the OS", Dask
    distributed docs, worker memory management); a no-op elsewhere."""
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


#: Arrow-backed strings (pandas' default for text): str(value) for present values, NaN for missing
#: ones, zero-copy to Arrow.
TEXT = pd.StringDtype("pyarrow", na_value=float("nan"))


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
            values = values.astype(TEXT)
        out[column] = values
    return out


_IBIS_TYPES = {"string": "string", "int64": "int64", "float64": "float64", "boolean": "boolean",
               "binary": "binary", "date": "date"}
_ARROW_TYPES = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(),
                "boolean": pa.bool_(), "binary": pa.binary(), "date": pa.date32()}


@dataclass
class _Pending:
    """A table's content in a transaction on an engine without them: the rows the engine holds
    (an Ibis expression: the stored rows kept, plus rows it read itself; None for a new table or
    one written whole), the rows added from Python, and the column types of a new table."""

    keep: ibis.Table | None
    rows: list[pd.DataFrame]
    schema: pa.Schema | None


def _schema(columns: dict[str, str] | None) -> pa.Schema | None:
    return None if columns is None else pa.schema([(c, _ARROW_TYPES[k]) for c, k in columns.items()])


def _in_parts(t: ibis.Table, partition: tuple[str, ...], parts: pd.DataFrame) -> ibis.BooleanValue:
    """Rows of ``t`` in any of the partitions ``parts`` (one row per partition)."""
    return ibis.or_(*(ibis.and_(*(t[c] == part[c] for c in partition))
                      for _, part in parts.iterrows()))


def _where_parts(partition: tuple[str, ...], parts: pd.DataFrame) -> tuple[str, list]:
    """A SQL condition (with its parameters) for rows in any of the partitions ``parts``."""
    where = " OR ".join(
        "(" + " AND ".join(f'"{c}" = ?' for c in partition) + ")" for _ in range(len(parts)))
    return where, [v for _, part in parts[list(partition)].iterrows() for v in part.tolist()]


def _in_frame(frame: pd.DataFrame, partition: tuple[str, ...], parts: pd.DataFrame) -> pd.Series:
    """Rows of ``frame`` in any of the partitions ``parts`` (compared as text)."""
    keys = pd.MultiIndex.from_frame(frame[list(partition)].astype(str))
    return pd.Series(keys.isin(pd.MultiIndex.from_frame(parts[list(partition)].astype(str))),
                     index=frame.index)


def _portable(arrow: pa.Table) -> pa.Table:
    """Arrow types every engine stores: columns of nothing but nulls as strings (Parquet has no
    null type), dictionaries as their values, large strings as strings."""
    fields = []
    for field in arrow.schema:
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_null(kind) or pa.types.is_large_string(kind):
            kind = pa.string()
        fields.append(pa.field(field.name, kind))
    return arrow.cast(pa.schema(fields))
