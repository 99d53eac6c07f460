"""Check: two stores hold the same tables, value for value, e.g. the demo place built on DuckDB
and on Spark (classic or Spark Connect); docs/ENGINES.md.

Every table of the first store is read from both (rows sorted by every column, text first),
numbers compared to 1e-9 (relative and absolute), text and missing values exactly. The loads
ledger's ``loaded_at`` and the intervention register's ``recorded_at`` (when rows were written)
are left out, and an empty table's column types (each engine's guess) are not compared. Prints
one line per table and exits 1 when any differs.
Run: ``.venv/bin/python benchmarks/same_tables.py demo.duckdb 'sc://localhost:15002/;database=demo'``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
from pandas.api.types import is_float_dtype

from placehealth.store import Store

TOLERANCE = 1e-9
#: columns that say when a row was written, not what it holds
UNTIMED = {"loads": ["loaded_at"], "interventions": ["recorded_at"]}


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as float64, everything else as text (missing as None), rows in one order."""
    columns, numbers = {}, []
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            columns[column] = values.astype("Float64").astype("float64").to_numpy()
            numbers.append(column)
        else:
            columns[column] = pd.array([None if pd.isna(v) else str(v) for v in values], dtype=object)
    out = pd.DataFrame(columns)
    text = [c for c in out.columns if c not in numbers]
    return out.sort_values(text + numbers, na_position="first", kind="stable",
                           key=lambda s: s if s.name in numbers else s.fillna("")
                           ).reset_index(drop=True)


def difference(a: pd.DataFrame, b: pd.DataFrame) -> str | None:
    """Why two tables differ, or None when they are the same (to TOLERANCE)."""
    if sorted(a.columns) != sorted(b.columns):
        return f"columns differ: {sorted(set(a.columns) ^ set(b.columns))}"
    if len(a) != len(b):
        return f"{len(a)} rows against {len(b)}"
    if not len(a):  # no values: the column types of an empty table are the engine's guess
        return None
    a, b = comparable(a), comparable(b[list(a.columns)])
    for column in a.columns:
        x, y = a[column], b[column]
        if is_float_dtype(x) != is_float_dtype(y):
            return f"{column}: {x.dtype} against {y.dtype}"
        if not is_float_dtype(x):
            unequal = ~((x == y) | (x.isna() & y.isna()))
        else:
            unequal = ~np.isclose(x, y, rtol=TOLERANCE, atol=TOLERANCE, equal_nan=True)
        if unequal.any():
            i = int(np.flatnonzero(unequal.to_numpy())[0])
            return f"{column}: {unequal.sum()} rows differ, e.g. {x.iloc[i]!r} against {y.iloc[i]!r}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("first", help="a store (DuckDB file or URL)")
    parser.add_argument("second", help="the store to compare with it")
    args = parser.parse_args()
    differ = 0
    with Store(args.first, read_only=True) as first, Store(args.second) as second:
        names = first.list_tables()
        missing = sorted(set(names) ^ set(second.list_tables()))
        if missing:
            print(f"tables in one store only: {', '.join(missing)}")
            differ += 1
        for name in names:
            if not second.has(name):
                continue
            start = time.perf_counter()
            drop = UNTIMED.get(name, [])
            a, b = first.read(name).drop(columns=drop), second.read(name).drop(columns=drop)
            why = difference(a, b)
            differ += why is not None
            print(f"{name:<24} {len(a):>8,} rows  {'same' if why is None else 'DIFFERENT: ' + why}"
                  f"  ({time.perf_counter() - start:.1f} s)")
    print(f"{differ} of {len(names)} tables differ" if differ else
          f"all {len(names)} tables the same (to {TOLERANCE:g})")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
