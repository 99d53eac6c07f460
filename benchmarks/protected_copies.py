"""Time the protected copies (``disclosed.write_all``, both policies) on a copy of a built store,
table by table, and optionally compare them frame to frame with another store's copies.

    .venv/bin/python benchmarks/protected_copies.py BUILT.duckdb COPY.duckdb [--block-rows N]
    .venv/bin/python benchmarks/protected_copies.py --compare A.duckdb B.duckdb

Each line is one table: wall and CPU seconds (user + system, all threads) and the process's
peak memory so far (``ru_maxrss``); the last line is the whole step. The comparison reads every
copy as outputs do (``disclosed.read_copy``: the copy's columns joined to the table's on row
numbers, then ``restore_types``), a chunk of row numbers at a time, and reports copies that
differ in values, column types or row order.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time

import pandas as pd

from placehealth.outputs import blocks, disclosed
from placehealth.outputs.disclosure import get_policy
from placehealth.store import Store


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def run(source: str, copy: str, block_rows: int) -> None:
    shutil.copyfile(source, copy)
    last: dict = {}

    def progress(message: str) -> None:
        now = (time.perf_counter(), _cpu())
        if last:
            print(json.dumps({"table": last["message"], "wall_s": round(now[0] - last["at"][0], 1),
                              "cpu_s": round(now[1] - last["at"][1], 1), "peak_mb": _peak_mb()}), flush=True)
        last.update(message=message, at=now)

    start, cpu = time.perf_counter(), _cpu()
    with Store(copy) as store:
        written = disclosed.write_all(store, progress=progress, block_rows=block_rows)
    progress("end")
    print(json.dumps({"step": "protected copies", "wall_s": round(time.perf_counter() - start, 1),
                      "cpu_s": round(_cpu() - cpu, 1), "peak_mb": _peak_mb(),
                      "rows": sum(written.values())}), flush=True)


def compare(a_path: str, b_path: str, chunk_rows: int = 2_000_000) -> int:
    """Copies that differ between two stores (printed), as a count: ledger entries, stored column
    types, and the frames as outputs read them, ``chunk_rows`` rows at a time (by row number),
    with each store's DuckDB held to 1 GB, so national copies compare in bounded memory."""
    differ = 0
    with Store(a_path) as a, Store(b_path) as b, blocks.engine_memory(a), blocks.engine_memory(b):
        key = ["table_name", "policy"]
        ledgers = [disclosed.ledger(s).sort_values(key, ignore_index=True) for s in (a, b)]
        if not ledgers[0][key].equals(ledgers[1][key]):
            print("the stores hold different copies")
            return 1
        for ra, rb in zip(*(lg.to_dict("records") for lg in ledgers), strict=True):
            name = disclosed.copy_name(ra["table_name"], get_policy(ra["policy"]))
            try:
                assert ra["rows"] == rb["rows"], "rows"
                assert json.loads(ra["dtypes"]) == json.loads(rb["dtypes"]), "ledger column types"
                schemas = [s.con.table(name, database=disclosed.SCHEMA).schema() for s in (a, b)]
                assert schemas[0] == schemas[1], f"stored column types {schemas}"
                policy = get_policy(ra["policy"])
                chunks = (range(0, max(int(ra["rows"]), 1), chunk_rows) if disclosed.ROW in schemas[0]
                          else [None])  # a copy of rows derived again is stored whole
                for start in chunks:
                    rows = None if start is None else (
                        lambda t, s=start: t.filter((t[disclosed.ROW] >= s) & (t[disclosed.ROW] < s + chunk_rows)))
                    fa, fb = (disclosed.read_copy(s, ra["table_name"], policy, r, rows)
                              for s, r in ((a, ra), (b, rb)))
                    pd.testing.assert_frame_equal(fa, fb, check_exact=True)
            except AssertionError as error:
                differ += 1
                print(f"{ra['table_name']} ({ra['policy']}) differs: {str(error)[:300]}", flush=True)
        print(f"{len(ledgers[0])} copies compared, {differ} differ")
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stores", nargs=2)
    parser.add_argument("--block-rows", type=int, default=blocks.BLOCK_ROWS)
    parser.add_argument("--compare", action="store_true", help="compare the two stores' copies")
    parser.add_argument("--chunk-rows", type=int, default=2_000_000, help="rows compared at once")
    args = parser.parse_args()
    if args.compare:
        raise SystemExit(1 if compare(*args.stores, args.chunk_rows) else 0)
    run(*args.stores, args.block_rows)


if __name__ == "__main__":
    main()
