"""Benchmark and check: the demo place built on DuckDB and on Spark (classic or Spark Connect)
gives the same tables, value for value (docs/ENGINES.md).

Without stores named, builds the demo place (``placehealth demo``, 40 practices, 8 PCNs, 200
LSOAs, 3 local authorities) into a DuckDB file and into ``--spark`` (default: a local[2] Spark
session, warehouse in a temporary folder; e.g. ``'sc://localhost:15002/;database=demo'`` for a
Spark Connect server), printing each build's wall time, CPU seconds and peak memory (the
placehealth process only: neither the local session's JVM nor a Connect server is counted),
then compares them. With two stores named, compares those only.

Every table of the first store is read from both (rows sorted by every column, text first),
numbers compared to 1e-9 (relative and absolute), text and missing values exactly. The loads
ledger's ``loaded_at`` and the intervention register's ``recorded_at`` (when rows were written)
are left out, and an empty table's column types (each engine's guess) are not compared. Prints
one line per table and exits 1 when any differs.
Run: ``.venv/bin/python benchmarks/engines.py [--spark URL]`` or
``.venv/bin/python benchmarks/engines.py demo.duckdb 'sc://localhost:15002/;database=demo'``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_float_dtype

from _machine import machine
from placehealth.store import ENV_SPARK_WAREHOUSE, Store

TOLERANCE = 1e-9
DEMO = ["--practices", "40", "--pcns", "8", "--lsoas", "200", "--las", "3"]
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


def compare(first_db: str, second_db: str) -> int:
    """Print how each table of ``first_db`` compares with ``second_db``; the number differing."""
    differ = 0
    with Store(first_db, read_only=True) as first, Store(second_db) as second:
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
    return differ


def build(db: str, work: Path, env: dict[str, str]) -> None:
    """``placehealth demo`` into ``db``; prints wall, CPU seconds and peak memory."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("placehealth")), "--db", db, "demo",
                    "--out", str(work / "demo-data"), *DEMO], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(f"demo into {db}: {time.perf_counter() - start:.0f} s wall, {cpu:.0f} CPU-s, "
          f"peak {after.ru_maxrss / 1024:.0f} MB (the placehealth process; the largest so far; a "
          "Spark JVM it starts, or a Connect server, not counted)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stores", nargs="*", help="two stores to compare (DuckDB files or URLs)")
    parser.add_argument("--spark", default="spark://local[2]/demo",
                        help="the Spark store to build the demo place into")
    args = parser.parse_args()
    if args.stores:
        if len(args.stores) != 2:
            parser.error("name two stores, or none to build both")
        return 1 if compare(*args.stores) else 0
    print(machine())
    with tempfile.TemporaryDirectory(prefix="engines-") as folder:
        work = Path(folder)
        os.environ[ENV_SPARK_WAREHOUSE] = str(work / "spark-warehouse")  # the builds' and ours
        env = dict(os.environ)
        duck = str(work / "demo.duckdb")
        build(duck, work, env)
        build(args.spark, work, env)
        return 1 if compare(duck, args.spark) else 0


if __name__ == "__main__":
    sys.exit(main())
