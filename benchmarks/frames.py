"""Benchmark: every table of a store read whole into pandas, by Ibis's DuckDB backend and by the
store's own (``placehealth.backend``), timed side by side and checked equal (values and types).

Run: ``.venv/bin/python benchmarks/frames.py STORE.duckdb [--min-rows N]``. Prints one line per
table of at least ``--min-rows`` rows (default 100,000): rows, seconds each way, and whether the
frames are equal; then the totals over every table. Each table is read by the store's backend
first, then by Ibis's, once each (the second read finds DuckDB's cache as warm as the first left
it: run it twice and compare the second run).
"""

from __future__ import annotations

import argparse
import time

import ibis
import pandas as pd

from placehealth.backend import Backend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--min-rows", type=int, default=100_000)
    args = parser.parse_args()
    ours = Backend().connect(args.store, read_only=True)
    theirs = ibis.duckdb.from_connection(ours.con)
    totals = [0.0, 0.0]
    unequal = []
    for name in ours.list_tables():
        started = time.perf_counter()
        fast = ours.table(name).to_pandas()
        middle = time.perf_counter()
        stock = theirs.table(name).to_pandas()
        ended = time.perf_counter()
        totals[0] += middle - started
        totals[1] += ended - middle
        try:
            pd.testing.assert_frame_equal(fast, stock, check_exact=True)
            same = "equal"
        except AssertionError:
            same = "DIFFERENT"
            unequal.append(name)
        if len(fast) >= args.min_rows or same != "equal":
            print(f"{name:32s} {len(fast):>11,d} rows  placehealth {middle - started:6.2f} s  "
                  f"ibis {ended - middle:6.2f} s  {same}", flush=True)
        del fast, stock
    print(f"every table: placehealth {totals[0]:.1f} s, ibis {totals[1]:.1f} s; "
          f"{len(unequal)} different{': ' + ', '.join(unequal) if unequal else ''}")


if __name__ == "__main__":
    main()
