"""Benchmark: the engine's own floor under issue 15's target (load to every derived table < 60 s).

Whatever computes the build, DuckDB must parse the input files and write every table the build
stores. This measures those two alone, with no Python in the loop, on the same machine:

1. every table of a built store (the loaded tables, the derived tables, and the protected copies
   in the ``disclosed`` schema; views are free and left out) written by DuckDB into a new file
   (``CREATE TABLE ... AS SELECT`` from the built store, attached read-only), on two threads,
   then checkpointed;
2. every CSV input under the data folder parsed by DuckDB's own reader (types detected), each
   column of each row handed out (Arrow batches), so nothing is skipped.

Then it sets the two beside the target: a minute on two cores is 120 CPU-seconds for everything,
so what is left for the computing is 120 less the floor's CPU (and 60 s less its wall time, were
the computing perfectly parallel beside it).

Run: ``.venv/bin/python benchmarks/spine_floor.py [--built BUILT --data DIR] [--repeat 2]``.
BUILT is a store after ``placehealth build`` of one loaded by ``benchmarks/spine.py --data DIR
--store LOADED`` (a copy of it); without them, the England place is generated, loaded and built
into a temporary folder first (as ``spine.py`` does: about ten minutes).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import duckdb

from placehealth.outputs.disclosed import SCHEMA
from placehealth.tables import CANONICAL

TARGET_SECONDS, CORES = 60.0, 2
PARTS = ("loaded tables", "derived tables", "protected copies")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _part(schema: str, table: str) -> str:
    if schema == SCHEMA:
        return PARTS[2]
    return PARTS[0] if table in CANONICAL else PARTS[1]


def write_floor(built: Path, folder: Path) -> dict[str, tuple[int, int, float, float]]:
    """Each part of the built store written into a new file: part -> (tables, rows, s, CPU-s)."""
    out: dict[str, tuple[int, int, float, float]] = {}
    target = folder / "floor.duckdb"
    con = duckdb.connect(str(target))
    con.execute("SET threads = 2")
    con.execute(f"ATTACH '{built}' AS built (READ_ONLY)")
    tables = con.execute("SELECT schema_name, table_name, estimated_size FROM duckdb_tables() "
                         "WHERE database_name = 'built' ORDER BY schema_name, table_name").fetchall()
    for part in PARTS:
        mine = [(s, t, n) for s, t, n in tables if _part(s, t) == part]
        started, cpu = time.perf_counter(), _cpu_s()
        for schema, table, _ in mine:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            con.execute(f'CREATE TABLE "{schema}"."{table}" AS SELECT * FROM built."{schema}"."{table}"')
        con.execute("CHECKPOINT")
        out[part] = (len(mine), sum(n for *_, n in mine), time.perf_counter() - started,
                     _cpu_s() - cpu)
    con.close()
    target.unlink()
    return out


def parse_floor(data: Path) -> tuple[int, int, int, float, float]:
    """Every CSV under ``data`` parsed by DuckDB: (files, bytes, rows, s, CPU-s)."""
    files = sorted(data.rglob("*.csv"))
    con = duckdb.connect()
    con.execute("SET threads = 2")
    rows = 0
    started, cpu = time.perf_counter(), _cpu_s()
    for path in files:
        reader = con.execute("SELECT * FROM read_csv(?)", [str(path)]).to_arrow_reader(1 << 17)
        rows += sum(batch.num_rows for batch in reader)
    return (len(files), sum(p.stat().st_size for p in files), rows, time.perf_counter() - started,
            _cpu_s() - cpu)


def england(folder: Path) -> tuple[Path, Path]:
    """The England place generated and loaded by ``spine.py``, then built: (built store, data)."""
    data, built = folder / "data", folder / "built.duckdb"
    subprocess.run([sys.executable, str(Path(__file__).with_name("spine.py")), "--data", str(data),
                    "--store", str(built), "--no-build", "--one-process"], check=True)
    subprocess.run([str(Path(sys.executable).with_name("placehealth")), "build", "--db", str(built)],
                   check=True, stdout=subprocess.DEVNULL)
    return built, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--built", type=Path, help="a store after placehealth build")
    parser.add_argument("--data", type=Path, help="the input files it was loaded from")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if (args.built is None) != (args.data is None):
        parser.error("--built and --data go together (or neither: England is made first)")
    with ExitStack() as stack:
        if args.built is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="placehealth-floor-")))
            args.built, args.data = england(folder)
        report(args.built, args.data, args.repeat)


def report(built: Path, data: Path, repeat: int) -> None:
    """The floor measured ``repeat`` times, printed."""
    for run in range(1, repeat + 1):
        with tempfile.TemporaryDirectory(prefix="placehealth-floor-") as folder:
            written = write_floor(built.resolve(), Path(folder))
        files, size, rows, parse_s, parse_cpu = parse_floor(data)
        print(f"run {run}:")
        for part, (n, part_rows, s, cpu) in written.items():
            print(f"  write {part}: {n} tables, {part_rows:,} rows: {s:.1f} s, {cpu:.1f} CPU-s")
        write_s = sum(w[2] for w in written.values())
        write_cpu = sum(w[3] for w in written.values())
        print(f"  write, every table: {sum(w[1] for w in written.values()):,} rows: {write_s:.1f} s, "
              f"{write_cpu:.1f} CPU-s")
        print(f"  parse {files} CSV files ({size / 1e6:,.0f} MB, {rows:,} rows): {parse_s:.1f} s, "
              f"{parse_cpu:.1f} CPU-s")
        floor_s, floor_cpu = write_s + parse_s, write_cpu + parse_cpu
        budget = TARGET_SECONDS * CORES
        print(f"  floor: {floor_s:.1f} s, {floor_cpu:.1f} CPU-s of the {budget:.0f} CPU-s a minute on "
              f"{CORES} cores allows; left for every computation: {budget - floor_cpu:.1f} CPU-s "
              f"({TARGET_SECONDS - floor_s:.1f} s of wall time if run beside it perfectly)")


if __name__ == "__main__":
    main()
