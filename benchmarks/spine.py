"""Benchmark: the data spine at England scale, through the real readers and store.

Generates the demo place at England size (6,300 practices in 1,250 PCNs, 33,755 LSOAs in 300
local authorities, ~62M registered patients, >= 1M practice x LSOA rows per month, 12 monthly
extracts, plus IoD, Census, lookups, boundaries, QOF and uptake files) with
``placehealth.sources.demo``; then, each in a fresh subprocess so that peak memory is that
step's own, loads the reference files, ingests each month (read + validate + store), and runs
``build``. Prints time and peak resident memory (``ru_maxrss``) per step.

Run: ``.venv/bin/python benchmarks/spine.py [--months 12] [--data DIR] [--store FILE]
[--no-build] [--build-only] [--one-process] [--disclosure RULE]``. ``--data DIR`` generates into DIR once and reuses it on later runs
(``spine-manifest.json`` lists what was written); ``--store FILE`` keeps the loaded store (before
the build) at FILE, and ``--build-only`` builds a copy of that store without loading again.
Targets: one month ingested in < 10 s, peak memory < 2 GB (issue 2); twelve months from load to
every derived table (protected copies included) in < 60 s, peak < 3 GB (issue 15).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENGLAND = dict(practices=6_300, pcns=1_250, lsoas=33_755, las=300, patients=62_000_000)
TARGET_SECONDS, TARGET_MB = 10.0, 2048.0
BUILD_TARGET_SECONDS, BUILD_TARGET_MB = 60.0, 3072.0
MANIFEST = "spine-manifest.json"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def _cpu_s() -> float:
    """CPU seconds used by this process (user + system): robust to other load on the machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child_ingest(db: str, files: list[str]) -> dict:
    """Read and validate files, then ingest them in one transaction (runs in a subprocess)."""
    from placehealth.sources import read_file
    from placehealth.store import Store

    started, cpu = time.perf_counter(), _cpu_s()
    results = [read_file(f) for f in files]
    read_s = time.perf_counter() - started
    with Store(db) as store:
        store.ingest(results)
    total = time.perf_counter() - started
    return {"read_s": read_s, "write_s": total - read_s, "total_s": total,
            "cpu_s": _cpu_s() - cpu, "rows": sum(r.rows for r in results), "peak_mb": _peak_mb()}


def _child_load(db: str, steps: list[list[str]]) -> list[dict]:
    """``--one-process``: every step's files read and ingested in this one process, a step
    (the reference files, then each month) at a time, each in its own transaction as
    ``_child_ingest`` makes; as ``placehealth ingest`` does, each file is read in a second
    thread while the one before it is written (``sources.read_ahead``), across steps too.
    Per step: wall and CPU (both threads) since the step before ended, ``read_s`` the time spent
    waiting for reads; ``peak_mb`` is the process's peak so far. The interpreter and libraries
    start once, as in one ``placehealth ingest`` per batch of files."""
    from contextlib import closing
    from itertools import islice

    from placehealth.sources import AHEAD_ROWS, read_ahead, read_file
    from placehealth.store import Store

    waited = [0.0]

    def timed(results):
        while True:
            started = time.perf_counter()
            result = next(results, None)
            waited[0] += time.perf_counter() - started
            if result is None:
                return
            yield result
            result = None  # not held while the next is awaited

    done = []
    budget = float(os.environ.get("PLACEHEALTH_AHEAD_ROWS", AHEAD_ROWS))  # (to compare)
    ahead = read_ahead([f for files in steps for f in files], read_file, budget=budget,
                       weight=lambda result: result.rows)
    with closing(ahead), Store(db) as store:
        for files in steps:
            started, cpu, waited[0] = time.perf_counter(), _cpu_s(), 0.0
            results = list(store.ingest(timed(islice(ahead, len(files)))))
            total = time.perf_counter() - started
            done.append({"read_s": waited[0], "write_s": total - waited[0], "total_s": total,
                         "cpu_s": _cpu_s() - cpu, "rows": sum(r["rows"] for r in results),
                         "peak_mb": _peak_mb()})
    return done


def _child_build(db: str, rules: list[str]) -> dict:
    """``build`` as the CLI runs it (:func:`placehealth.outputs.building.build`): every build
    step, the copies of finished tables made beside the later ones, then the last protected
    copies ("protect"). Per step: wall and CPU seconds, and the process's peak memory when the
    step ended (``ru_maxrss`` only rises, so a step's figure is the highest of it and the steps
    before). ``rules``: the disclosure rules copied (none: every preset, as the CLI's default)."""
    from placehealth.outputs import building, disclosed
    from placehealth.outputs.disclosure import PRESETS
    from placehealth.store import Store

    steps: dict[str, dict] = {}
    started, cpu = time.perf_counter(), _cpu_s()
    current: list = []

    def mark(name: str | None) -> None:
        now, used = time.perf_counter(), _cpu_s()
        if current:
            last, t0, c0 = current.pop()
            steps[last] = {"wall_s": round(now - t0, 2), "cpu_s": round(used - c0, 2),
                           "peak_mb": round(_peak_mb())}
        if name:
            current.append((name, now, used))

    with Store(db) as store:
        notes: list[str] = []
        written = building.build(store, lambda name: mark("protect" if name == building.PROTECTING
                                                          else name), notes,
                                 tuple(rules) or tuple(PRESETS))
        mark(None)
        written.update({disclosed.copy_name(r.table_name, disclosed.get_policy(r.policy)): r.rows
                        for r in disclosed.ledger(store).itertuples()})
    return {"total_s": time.perf_counter() - started, "cpu_s": _cpu_s() - cpu, "steps": steps,
            "tables": written, "peak_mb": _peak_mb()}


def _children_cpu_s() -> float:
    """CPU seconds of the finished subprocesses (user + system), their start included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text()
                      .splitlines() if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem_kb = 0
    return (f"{os.cpu_count()} cores ({cpu}), {mem_kb / 1024**2:.0f} GB RAM, "
            f"Python {platform.python_version()}, {platform.system()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--data", type=Path, help="generate into (or reuse) this folder")
    parser.add_argument("--store", type=Path, help="keep the loaded store here (--build-only "
                        "builds a copy of it)")
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--one-process", action="store_true",
                        help="load every step in one subprocess (the interpreter and libraries "
                        "started once) instead of one subprocess per step")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--disclosure", action="append", default=[], metavar="RULE",
                        help="protected copies for this rule only (repeatable; as `placehealth "
                        "build --disclosure`; default: every preset)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="placehealth-spine-"))
    try:
        _run(args, work)
    finally:  # the store (and data generated without --data): gigabytes, kept only by --store
        shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, work: Path) -> None:
    data = args.data or work / "data"
    db = str(work / "spine.duckdb")
    print(f"machine: {machine()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")

    if args.build_only:
        if not args.store or not args.store.exists():
            raise SystemExit("--build-only needs --store FILE, a store loaded by an earlier run")
        shutil.copyfile(args.store, db)
        print(f"store: {args.store} copied to {db}")
    else:
        _load(args, data, db)
    if not args.no_build:
        load = os.getloadavg()[0]
        b = _run_child("--child-build", db, *args.disclosure)
        print(f"protected copies for: {', '.join(args.disclosure) or 'every preset'}")
        print(f"build: {b['total_s']:.1f} s (CPU {b['cpu_s']:.1f} s), peak {b['peak_mb']:.0f} MB "
              f"(target < {BUILD_TARGET_SECONDS:.0f} s from load to every derived table, "
              f"< {BUILD_TARGET_MB:.0f} MB); load average {load:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after")
        for name, step in b["steps"].items():
            print(f"  {name}: {step['wall_s']:.1f} s (CPU {step['cpu_s']:.1f} s), "
                  f"peak so far {step['peak_mb']:.0f} MB")
        print(f"  derived tables and copies written: {len(b['tables'])}, "
              f"{sum(b['tables'].values()):,} rows")
    print(f"store: {os.path.getsize(db) / 1024**2:.0f} MB on disk (removed now; --store keeps the "
          "loaded one)")


def _place(data: Path, months: int) -> tuple[list[str], dict[str, list[str]]]:
    """The generated files (reference files, and each month's), generating them unless ``data``
    already holds a place made for the same number of months."""
    from placehealth.sources.demo import DemoConfig, generate  # the parent's only (scipy...)

    manifest = data / MANIFEST
    if manifest.exists() and json.loads(manifest.read_text())["months"] == months:
        files = json.loads(manifest.read_text())["files"]
        print(f"generate: reusing {len(files)} files in {data}")
    else:
        config = DemoConfig(seed=1, months=months, month_step=1, **ENGLAND)
        started = time.perf_counter()
        place = generate(data, config)
        print(f"generate: {time.perf_counter() - started:.1f} s, {len(place.files)} files, "
              f"{place.patients:,} patients, rows per month "
              f"{min(place.rows_per_month.values()):,}-{max(place.rows_per_month.values()):,}")
        files = [str(path) for path in place.files]
        manifest.write_text(json.dumps({"months": months, "files": files}))
    by_month: dict[str, list[str]] = {}
    reference: list[str] = []
    for path in files:
        parts = Path(path).relative_to(data).parts
        if parts[0] == "registrations":
            by_month.setdefault(parts[1], []).append(path)
        elif parts[0] != "partners":  # the demo's partner postcodes are ICB-sized ('DM1..99')
            reference.append(path)
    return reference, by_month


def _load(args: argparse.Namespace, data: Path, db: str) -> None:
    reference, months = _place(data, args.months)
    load_started, load_cpu = time.perf_counter(), 0.0
    print(f"load average before loading: {os.getloadavg()[0]:.1f}", flush=True)
    steps = [reference] + [files for _, files in sorted(months.items())]
    if args.one_process:
        done = iter(_run_child("--child-load", db, json.dumps(steps)))
        print(f"one process (--one-process): {time.perf_counter() - load_started:.1f} s "
              f"(CPU {_children_cpu_s():.1f} s, the interpreter's start included)")
    else:
        done = (_run_child("--child-ingest", db, *files) for files in steps)
    read = "waiting for reads" if args.one_process else "read"  # read ahead: in another thread
    ref = next(done)
    load_cpu += ref["cpu_s"]
    print(f"reference files ({len(reference)}): {ref['total_s']:.1f} s "
          f"({read} {ref['read_s']:.1f} s; CPU {ref['cpu_s']:.1f} s), {ref['rows']:,} rows, "
          f"peak {ref['peak_mb']:.0f} MB")
    worst_s = worst_mb = 0.0
    walls = []
    for period, _files in sorted(months.items()):
        m = next(done)
        load_cpu += m["cpu_s"]
        worst_s, worst_mb = max(worst_s, m["total_s"]), max(worst_mb, m["peak_mb"])
        walls.append(m["total_s"])
        print(f"month {period}: {m['total_s']:.1f} s ({read} {m['read_s']:.1f} s, store "
              f"{m['write_s']:.1f} s; CPU {m['cpu_s']:.1f} s), {m['rows']:,} rows, "
              f"peak {m['peak_mb']:.0f} MB", flush=True)
    print(f"median month: {sorted(walls)[len(walls) // 2]:.1f} s; load average now "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"slowest month: {worst_s:.1f} s (target < {TARGET_SECONDS:.0f} s) "
          f"{'OK' if worst_s < TARGET_SECONDS else 'MISSED'}; highest peak: {worst_mb:.0f} MB "
          f"(target < {TARGET_MB:.0f} MB) {'OK' if worst_mb < TARGET_MB else 'MISSED'}")
    print(f"load, all files: {time.perf_counter() - load_started:.1f} s "
          f"(CPU {load_cpu:.1f} s in the loading processes, {_children_cpu_s():.1f} s with "
          f"their starts); load average now {os.getloadavg()[0]:.1f}")
    if args.store:
        shutil.copyfile(db, args.store)
        print(f"loaded store kept at {args.store}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child-ingest":
        print(json.dumps(_child_ingest(sys.argv[2], sys.argv[3:])))
    elif len(sys.argv) > 1 and sys.argv[1] == "--child-load":
        print(json.dumps(_child_load(sys.argv[2], json.loads(sys.argv[3]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "--child-build":
        print(json.dumps(_child_build(sys.argv[2], sys.argv[3:])))
    else:
        main()
