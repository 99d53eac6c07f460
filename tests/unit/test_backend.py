"""The store's DuckDB backend hands rows to pandas exactly as Ibis's own does (value and type),
for every plain type with and without nulls, and for tables it leaves to Ibis's way."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from placehealth.backend import Backend
from placehealth.store import Store

COLUMNS = {
    "tiny": "TINYINT", "big": "BIGINT", "unsigned": "UBIGINT", "double": "DOUBLE", "float": "FLOAT",
    "flag": "BOOLEAN", "text": "VARCHAR", "huge": "HUGEINT", "day": "DATE", "stamp": "TIMESTAMP",
    "cash": "DECIMAL(10, 2)", "codes": "VARCHAR[]",
}
ROWS = [
    "(1, 1, 1, 1.5, 1.5, true, 'a', 1, DATE '2024-01-01', TIMESTAMP '2024-01-01 10:00', 1.25, ['x'])",
    "(NULL, 2, 2, NULL, NULL, NULL, NULL, 2, NULL, NULL, NULL, NULL)",
    "(3, NULL, NULL, 'nan'::DOUBLE, 3, false, '', NULL, DATE '2024-01-03', NULL, 3.5, [])",
]
#: the rows a column may hold: all of them, none null, none at all, only nulls
WHERES = ["true", "{c} IS NOT NULL", "false", "{c} IS NULL"]


@pytest.fixture(scope="module")
def engines():
    ours = Backend().connect(":memory:")
    cast = ", ".join(f"CAST(col{i} AS {kind}) AS {name}"
                     for i, (name, kind) in enumerate(COLUMNS.items()))
    names = ", ".join(f"col{i}" for i in range(len(COLUMNS)))
    values = f"(VALUES {', '.join(ROWS)}) AS v({names})"
    ours.con.execute(f"CREATE TABLE t AS SELECT {cast} FROM {values}")
    return ours, ibis.duckdb.from_connection(ours.con)


@pytest.mark.parametrize("where", WHERES)
@pytest.mark.parametrize("column", list(COLUMNS))
def test_each_column_comes_back_as_ibis_gives_it(engines, column, where):
    ours, theirs = engines
    sql = f"SELECT {column} FROM t WHERE {where.format(c=column)}"
    pd.testing.assert_frame_equal(ours.sql(sql).to_pandas(), theirs.sql(sql).to_pandas(),
                                  check_exact=True)


@pytest.mark.parametrize("columns", [["tiny", "big", "double", "flag", "text"], list(COLUMNS)])
def test_a_table_comes_back_as_ibis_gives_it(engines, columns):
    ours, theirs = engines
    got = ours.table("t").select(columns).to_pandas()
    pd.testing.assert_frame_equal(got, theirs.table("t").select(columns).to_pandas(), check_exact=True)
    assert list(got.columns) == columns and len(got) == len(ROWS)


def test_scalars_and_columns_are_ibis_own(engines):
    ours, theirs = engines
    t, u = ours.table("t"), theirs.table("t")
    assert ours.execute(t.count()) == theirs.execute(u.count()) == 3
    pd.testing.assert_series_equal(ours.execute(t.text), theirs.execute(u.text))


def test_a_store_and_its_cursors_use_it(tmp_path):
    with Store(tmp_path / "s.duckdb") as store:
        cursor = store.cursor()
        try:
            assert isinstance(store.con, Backend) and isinstance(cursor.con, Backend)
        finally:
            cursor.close()
