"""A national table protected a block of its groups at a time, streamed from DuckDB and back.

Secondary suppression never looks across two values of a table rule's ``fixed`` columns (every
group it completes holds one period, level, condition...), so a table can be read, protected and
written one block of whole fixed groups at a time, in memory bounded by the block instead of the
table. What the whole table decides is computed first, in the engine: which dimensions vary
(:func:`~placehealth.outputs.disclosure.suppression_mask`), and the pandas type each column is
read as (a column with nulls somewhere is read as floats, or objects, in every block). Column
types that the values of a block decide (an integer column with a hidden cell becomes floats) are
combined as the whole table's would be; the copy's column is widened when a later block needs it.
A copy is narrow (see :mod:`~placehealth.outputs.disclosed`): it holds each row's number in the
table and the columns protection may change; the ``kept`` columns protection leaves as they are
are read from the table itself. Copies are the same as
:func:`~placehealth.outputs.disclosure.protect` of the whole table
(``tests/unit/test_disclosure_blocks.py``).
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from placehealth.outputs.disclosure import (
    SUPPRESSED,
    Policy,
    protect_each,
    rule_for,
    same_protection,
)
from placehealth.store import Store, from_arrow

#: Rows protected at once: a fixed group larger than this is one block by itself.
BLOCK_ROWS = 1_000_000
#: Columns of a table whose blocks hold ``BLOCK_ROWS`` rows; a wider table's blocks hold fewer,
#: so that a block is about as many cells (a profile table has 70-80 columns).
BLOCK_COLUMNS = 12
#: DuckDB's memory while copies are written (its buffer cache otherwise grows with every table
#: written).
ENGINE_MEMORY = "1GB"
_BLOCKS = "placehealth_blocks__"
#: The column of a copy holding each row's number (DuckDB's ``rowid``) in the table.
ROW = "placehealth_row"


class Unmatched(Exception):
    """Blocks whose column types do not combine as the whole table's would (then the whole
    table is protected at once)."""


class Changed(Exception):
    """A column meant to be read from the table itself was changed by protection in a block
    (then the copy is made again with it stored)."""

    def __init__(self, columns: list[str]) -> None:
        super().__init__(", ".join(columns))
        self.columns = columns


@dataclass(frozen=True)
class Plan:
    """How a stored table is cut into blocks, and what the whole table decides."""

    table: str
    fixed: tuple[str, ...]
    blocks: int
    dtypes: dict[str, Any]
    varying: frozenset[str]
    #: whether each block's rows all come before the next block's (then read as row ranges)
    in_order: bool
    #: each block's first and last row number (a block in order is the rows between them)
    spans: tuple[tuple[int, int], ...] = ()


def plan(store: Store, table: str, rows: int = BLOCK_ROWS) -> Plan | None:
    """Blocks of whole ``fixed`` groups of about ``rows`` rows each (fewer in a table of more
    than :data:`BLOCK_COLUMNS` columns), or None when the table is one block anyway (or has no
    fixed columns, or the store is not DuckDB)."""
    if store.con.name != "duckdb":
        return None
    schema = store.con.table(table).schema()
    empty = empty_frame(schema)
    rows = max(1, rows * BLOCK_COLUMNS // max(len(empty.columns), BLOCK_COLUMNS))
    rule = rule_for(table, empty)
    fixed = tuple(c for c in rule.fixed if c in empty)
    if not fixed or not rule.counts:
        return None
    columns = ", ".join(quoted(c) for c in fixed)
    groups = store.con.con.execute(
        f"SELECT {columns}, count(*) AS placehealth_rows, min(rowid) AS placehealth_first, "
        f"max(rowid) AS placehealth_last FROM {quoted(table)} GROUP BY ALL ORDER BY min(rowid)").arrow()
    if not isinstance(groups, pa.Table):
        groups = groups.read_all()
    sizes = groups.column("placehealth_rows").to_numpy()
    if sizes.sum() <= rows:
        return None
    number = np.zeros(len(sizes), dtype=np.int64)
    filled = 0
    for i, size in enumerate(sizes):  # groups are few (periods x levels x conditions)
        if filled and filled + size > rows:
            number[i], filled = number[i - 1] + 1, 0
        elif i:
            number[i] = number[i - 1]
        filled += size
    first = pd.Series(groups.column("placehealth_first").to_numpy()).groupby(number).min()
    last = pd.Series(groups.column("placehealth_last").to_numpy()).groupby(number).max()
    in_order = bool((last.to_numpy()[:-1] < first.to_numpy()[1:]).all())
    groups = groups.select(list(fixed)).append_column("placehealth_block", pa.array(number))
    store.con.con.register(_BLOCKS + "view", groups)
    try:
        store.con.con.execute(f"CREATE OR REPLACE TEMP TABLE {quoted(_BLOCKS + table)} AS "
                              f"SELECT * FROM {_BLOCKS}view")
    finally:
        store.con.con.unregister(_BLOCKS + "view")
    return Plan(table, fixed, int(number[-1]) + 1, _whole_dtypes(store, table, list(empty.columns)),
                _varying(store, table, [c for c in rule.dimensions if c in empty]), in_order,
                tuple(zip(first.tolist(), last.tolist(), strict=True)))


@contextmanager
def engine_memory(store: Store, limit: str = ENGINE_MEMORY) -> Iterator[None]:
    """DuckDB's memory held to ``limit`` (sorts and caches spill to disk), then set back."""
    before = store.memory_limit()
    store.set_memory_limit(limit)
    try:
        yield
    finally:
        store.set_memory_limit(before)


def drop(store: Store, table_plan: Plan) -> None:
    store.con.con.execute(f"DROP TABLE IF EXISTS {quoted(_BLOCKS + table_plan.table)}")


def empty_frame(schema: ibis.Schema) -> pd.DataFrame:
    """No rows, with a stored table's columns as pandas reads them (what a table rule is decided
    from)."""
    return pd.DataFrame({name: pd.Series(dtype=kind) for name, kind in schema.to_pandas()})


def quoted(name: str) -> str:
    """A name quoted for DuckDB's SQL."""
    return '"' + name.replace('"', '""') + '"'


def _varying(store: Store, table: str, dimensions: list[str]) -> frozenset[str]:
    """The dimensions with more than one value (a null counted as one) in the whole table."""
    if not dimensions:
        return frozenset()
    counts = ", ".join(f"count(DISTINCT {quoted(d)}) + (count(*) > count({quoted(d)}))::INT"
                       for d in dimensions)
    values = store.con.con.execute(f"SELECT {counts} FROM {quoted(table)}").fetchone()
    return frozenset(d for d, n in zip(dimensions, values, strict=True) if n > 1)


def _whole_dtypes(store: Store, table: str, columns: list[str]) -> dict[str, Any]:
    """The pandas type of each column as the whole table is read (``Store.read``): that of a few
    rows holding, for every column, a null where the table has one and a value where it has one
    (the first row, and for each column with nulls, its first null and first value)."""
    con = store.con.con
    counts = con.execute(f"SELECT min(rowid), {', '.join(f'count(*) - count({quoted(c)})' for c in columns)} "
                         f"FROM {quoted(table)}").fetchone()
    nulls = [c for c, n in zip(columns, counts[1:], strict=True) if n]
    rows = {counts[0]}
    if nulls:
        firsts = ", ".join(f"min(rowid) FILTER (WHERE {quoted(c)} IS {state} NULL)"
                           for c in nulls for state in ("", "NOT"))
        rows |= {r for r in con.execute(f"SELECT {firsts} FROM {quoted(table)}").fetchone() if r is not None}
    sample = store.con.sql(f"SELECT * FROM {quoted(table)} WHERE rowid IN "
                           f"({', '.join(str(int(r)) for r in sorted(rows))})").to_pandas()
    return sample.dtypes.to_dict()


def frames(store: Store, table_plan: Plan) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """The table's rows block by block, each in stored order and typed as the whole table is
    read, with their row numbers. Blocks in order are read as ranges of row numbers (a filter of
    the scan, which DuckDB gives in stored order: sorted only if not), the next one read by a
    second connection while the caller works on this one; interleaved ones by a join of the table
    with its groups' block numbers."""
    if not (table_plan.in_order and table_plan.spans):
        for block in range(table_plan.blocks):
            yield _typed(store.con.sql(_block_query(table_plan, block)).to_pandas(), table_plan)
        return
    reader = store.cursor()  # the same database, read beside the caller's writes
    try:
        with ThreadPoolExecutor(1) as pool:
            ahead = pool.submit(lambda: reader.con.sql(_block_query(table_plan, 0)).to_pandas())
            for block in range(table_plan.blocks):
                frame = ahead.result()
                if block + 1 < table_plan.blocks:
                    ahead = pool.submit(lambda b=block + 1: reader.con.sql(_block_query(table_plan, b)).to_pandas())
                yield _typed(frame, table_plan)
                del frame
    finally:
        reader.close()


def _block_query(table_plan: Plan, block: int) -> str:
    """The SQL giving a block's rows and their row numbers."""
    if table_plan.in_order and table_plan.spans:
        first, last = table_plan.spans[block]
        rows = f"FROM {quoted(table_plan.table)} AS t WHERE t.rowid BETWEEN {first} AND {last}"
    else:
        on = " AND ".join(f"t.{quoted(c)} IS NOT DISTINCT FROM b.{quoted(c)}" for c in table_plan.fixed)
        rows = (f"FROM {quoted(table_plan.table)} AS t JOIN {quoted(_BLOCKS + table_plan.table)} AS b "
                f"ON {on} WHERE b.placehealth_block = {block} ORDER BY t.rowid")
    return f"SELECT t.rowid AS {ROW}, t.* {rows}"


def _typed(frame: pd.DataFrame, table_plan: Plan) -> tuple[pd.DataFrame, np.ndarray]:
    """A block read with its row numbers: in stored order, typed as the whole table is read."""
    row = frame.pop(ROW).to_numpy()
    if len(row) > 1 and not (row[1:] > row[:-1]).all():
        order = np.argsort(row, kind="stable")
        frame, row = frame.iloc[order].reset_index(drop=True), row[order]
    for column, kind in table_plan.dtypes.items():
        if frame[column].dtype != kind:
            frame[column] = frame[column].astype(kind)
    return frame, row


def write(store: Store, table_plan: Plan, policies: list[Policy], names: list[str],
          database: str, kept: frozenset[str] = frozenset()) -> list[tuple[int, dict, bool]]:
    """Protect the table block by block under each policy into ``database.name`` (one name per
    policy), each block read once for all of them: each row's number in the table
    (``placehealth_row``) and every column but ``kept``, which must come out of protection
    unchanged (else :class:`Changed`). A block protected alike under a policy and the first
    (:func:`~placehealth.outputs.disclosure.same_protection`) is protected once; a policy whose
    every block so far was is not written block by block but copied from the first's copy in
    the engine (:func:`mirror`) when a block first differs, or is a view of it (:func:`alias`)
    when none does. A block's rows are
    appended by a second connection while the next block is protected (:class:`_Writer`), as
    the next is read by a third (:func:`frames`). Returns, per policy,
    the rows written, the protected table's column types (as the whole table's would be) and
    whether its copy is the first policy's."""
    types = [_Types() for _ in policies]
    rows = [0] * len(policies)
    mirrored = [i > 0 for i in range(len(policies))]
    with _Writer(store) as writer:
        for frame, row in frames(store, table_plan):
            same = [i == 0 or same_protection(frame, table_plan.table, policies[0], policy)
                    for i, policy in enumerate(policies)]
            for i in range(1, len(policies)):
                if mirrored[i] and not same[i]:  # its copy so far is the first's; then its own
                    mirrored[i] = False
                    if rows[0]:
                        writer.wait()
                        mirror(store, database, names[0], names[i])
                        types[i], rows[i] = copy.deepcopy(types[0]), rows[0]
            own = [i for i in range(len(policies)) if not same[i] or i == 0]  # protected here
            outs = dict(zip(own, protect_each(frame, table_plan.table, [policies[i] for i in own],
                                              varying=table_plan.varying), strict=True))
            for i in range(len(policies)):
                if mirrored[i]:
                    continue
                out = outs.get(i, outs[0])
                changed = [c for c in sorted(kept) if not unchanged(out, frame, c)]
                if changed:
                    raise Changed(changed)
                widened = types[i].add(out)
                stored = types[i].storable(out.drop(columns=[c for c in kept if c in out]))
                stored.insert(0, ROW, row)
                if rows[i]:
                    for column, sql_type in widened.items():
                        if column not in kept:
                            writer.execute(f"ALTER TABLE {quoted(database)}.{quoted(names[i])} "
                                           f"ALTER {quoted(column)} TYPE {sql_type}")
                    writer.append(stored, f"{quoted(database)}.{quoted(names[i])}")
                else:
                    writer.wait()
                    put(store, stored, names[i], database)
                rows[i] += len(out)
                del out, stored
            del frame, outs
        writer.wait()
        for i in range(1, len(policies)):
            if mirrored[i]:
                alias(store, database, names[0], names[i])
                types[i], rows[i] = types[0], rows[0]
    return [(n, t.protected, i > 0 and same)
            for i, (n, t, same) in enumerate(zip(rows, types, mirrored, strict=True))]


class _Writer:
    """Rows appended to copies by a second DuckDB connection in a background thread, in the
    order given, while the caller protects the next block (DuckDB writes without holding
    Python's lock: two cores). At most :data:`IN_FLIGHT` writes wait at once (each holds its
    block's rows); :meth:`wait` before the caller's own writes to the same tables."""

    IN_FLIGHT = 2

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cursor = store.con.con.cursor()
        self._pool = ThreadPoolExecutor(1)
        self._pending: deque[Future] = deque()

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, kind, error, trace) -> None:
        try:
            if kind is None:
                self.wait()
            else:  # already failing: let the writes end, the first error stands
                for future in self._pending:
                    future.exception()
        finally:
            self._pool.shutdown()
            self._cursor.close()

    def execute(self, sql: str) -> None:
        self._submit(self._cursor.execute, sql)

    def append(self, frame: pd.DataFrame, target: str) -> None:
        self._submit(_append, self._store, self._cursor, frame, target)

    def wait(self) -> None:
        """Every write so far done (its error raised here)."""
        while self._pending:
            self._pending.popleft().result()

    def _submit(self, *call) -> None:
        while len(self._pending) >= self.IN_FLIGHT:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(*call))


def _append(store: Store, con, frame: pd.DataFrame, target: str) -> None:
    """Append a frame to a DuckDB table through Arrow, by ``con`` (a cursor of the store), on
    one DuckDB thread."""
    from_arrow(store, f"INSERT INTO {target} SELECT * FROM {_BLOCKS}appended",
               pa.Table.from_pandas(frame, preserve_index=False), _BLOCKS + "appended", con)


def mirror(store: Store, database: str, source: str, target: str) -> None:
    """``database.target`` made a copy of ``database.source`` in the engine (same columns, types
    and rows), on one thread as rows from Python are written (:meth:`~placehealth.store.Store.one_thread`):
    a table of its own, to which the blocks still to come are appended."""
    clear(store, database, target)
    with store.one_thread():
        store.con.con.execute(f"CREATE OR REPLACE TABLE {quoted(database)}.{quoted(target)} AS "
                              f"SELECT * FROM {quoted(database)}.{quoted(source)}")


def alias(store: Store, database: str, source: str, target: str) -> None:
    """``database.target`` made a view of the whole ``database.source``: a copy protected alike
    under two policies is stored once (the view costs nothing to make and no space). It is
    only made beside ``source`` in one :func:`~placehealth.outputs.disclosed.write_all`, for
    the same fingerprint of the same table, so the two ledger entries always go stale together
    and a current entry never reads another table's protection."""
    clear(store, database, target, keep="VIEW")
    store.con.con.execute(f"CREATE OR REPLACE VIEW {quoted(database)}.{quoted(target)} AS "
                          f"SELECT * FROM {quoted(database)}.{quoted(source)}")


def clear(store: Store, database: str, name: str, keep: str = "TABLE") -> None:
    """Drop what holds ``database.name`` when it is not a ``keep`` (``TABLE`` or ``VIEW``): a
    copy written as a table where an alias was (:func:`alias`), or the other way round. DuckDB
    refuses to replace one kind by the other."""
    other = "VIEW" if keep == "TABLE" else "TABLE"
    listing, column = ("duckdb_views()", "view_name") if other == "VIEW" else ("duckdb_tables()",
                                                                               "table_name")
    found = store.con.con.execute(
        f"SELECT 1 FROM {listing} WHERE database_name = current_database() "
        f"AND schema_name = ? AND {column} = ?", [database, name]).fetchall()
    if found:
        store.con.con.execute(f"DROP {other} {quoted(database)}.{quoted(name)}")


def unchanged(out: pd.DataFrame, frame: pd.DataFrame, column: str) -> bool:
    """Whether protection left ``column`` as it was: same type, same values, nulls in the same
    places (a column protection did not touch shares its array: comparing it costs nothing)."""
    return (column in out and column in frame and out[column].dtype == frame[column].dtype
            and out[column].equals(frame[column]))


def put(store: Store, frame: pd.DataFrame, name: str, database: str) -> None:
    """Write a frame into a new DuckDB table, typed as Ibis types the frame, through Arrow.
    Ibis's own ``create_table``/``insert`` of a pandas frame keeps the frame registered in DuckDB
    until the process ends (about 200 MB held per million rows)."""
    schema = ibis.memtable(frame).schema()
    data = pa.Table.from_pandas(frame, schema=schema.to_pyarrow(), preserve_index=False)
    clear(store, database, name)
    store.con.create_table(name, schema=schema, database=database, overwrite=True)
    from_arrow(store, f"INSERT INTO {quoted(database)}.{quoted(name)} SELECT * FROM {_BLOCKS}frame",
               data, _BLOCKS + "frame")


class _Types:
    """Column types of the protected table, combined block by block as ``pd.concat`` of the
    whole would give them, and the types its stored copy gets (:func:`storable`)."""

    def __init__(self) -> None:
        self.protected: dict[str, Any] = {}
        self.kinds: dict[str, set[str]] = {}  # object columns: what their values are
        self.stored: dict[str, Any] = {}

    def add(self, frame: pd.DataFrame) -> dict[str, str]:
        """Take in a block; returns the stored columns to widen (column -> SQL type)."""
        for column in frame.columns:
            kind = frame[column].dtype
            before = self.protected.get(column, kind)
            self.protected[column] = _combined(before, kind, column)
            if _numpy_kind(kind) in {"O", "b"}:
                self.kinds.setdefault(column, set()).update(_value_kinds(frame[column]))
        widened = {}
        for column in frame.columns:
            target = self._stored_type(column)
            if column in self.stored and self.stored[column] != target:
                sql_type = _widening(self.stored[column], target, column)
                if sql_type:
                    widened[column] = sql_type
            self.stored[column] = target
        return widened

    def _stored_type(self, column: str) -> Any:
        kind = self.protected[column]
        if _numpy_kind(kind) != "O" or column == SUPPRESSED:
            return kind
        values = self.kinds.get(column, set())
        if values == {"bool"}:
            return pd.BooleanDtype()
        if not values:
            return np.dtype("float64")
        if "number" in values:
            raise Unmatched(f"{column}: numbers held as objects")
        return np.dtype(object)

    def storable(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The block with each column in its stored type (as ``disclosed._storable`` of the whole)."""
        out = frame.copy(deep=False)
        for column in out.columns:
            target = self.stored[column]
            if out[column].dtype == target or column == SUPPRESSED:
                continue
            if target == np.dtype("float64"):
                out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
            else:
                out[column] = out[column].astype(target)
        return out


def _numpy_kind(kind: Any) -> str | None:
    """A numpy type's kind code (i, u, f, b, O...); None for pandas' extension types."""
    return kind.kind if isinstance(kind, np.dtype) else None


def _value_kinds(values: pd.Series) -> set[str]:
    """What the values of a boolean or object column are: bool, number or other."""
    present = values.dropna()
    if _numpy_kind(values.dtype) == "b":
        return {"bool"} if len(present) else set()
    return {"bool" if isinstance(v, bool) else "number" if isinstance(v, int | float) else "other"
            for v in present}


def _combined(a: Any, b: Any, column: str) -> Any:
    """The type of a column holding blocks of types ``a`` and ``b``, as in the whole table."""
    if a == b:
        return a
    kinds = {_numpy_kind(a), _numpy_kind(b)}
    if kinds <= {"i", "u", "f"}:
        return np.dtype("float64")  # integers with a hidden (null) cell somewhere
    if kinds == {"b", "O"}:
        return np.dtype(object)  # booleans with a hidden cell somewhere
    if column == SUPPRESSED:
        return np.dtype(object)
    raise Unmatched(f"{column}: {a} and {b}")


def _widening(before: Any, after: Any, column: str) -> str | None:
    """The SQL type a stored column is widened to when a later block needs ``after`` (None:
    none needed)."""
    if _numpy_kind(before) in {"i", "u"} and after == np.dtype("float64"):
        return "DOUBLE"
    if before == np.dtype("float64") and isinstance(after, pd.BooleanDtype):
        return "BOOLEAN"  # nulls only so far
    if {str(before), str(after)} == {"bool", "boolean"}:
        return None  # stored as BOOLEAN either way
    raise Unmatched(f"{column}: stored as {before}, then {after}")
