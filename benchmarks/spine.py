"""Benchmark: the data spine at England scale, through the real readers and store.

Generates the demo place at England size (6,300 practices in 1,250 PCNs, 33,755 LSOAs in 300
local authorities, ~62M registered patients, >= 1M practice x LSOA rows per month, 12 monthly
extracts, plus IoD, Census, lookups, boundaries, QOF and uptake files) with
``placehealth.sources.demo``; then, each in a fresh subprocess so that peak memory is that
step's own, loads the reference files, ingests each month (read + validate + store), and runs
``build``. Prints time and peak resident memory (``ru_maxrss``) per step.

Run: ``.venv/bin/python benchmarks/spine.py [--months 12] [--data DIR] [--no-build]``
Targets (issue 2): one month ingested in < 10 s, peak memory < 2 GB, on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from placehealth.sources.demo import DemoConfig, generate

ENGLAND = dict(practices=6_300, pcns=1_250, lsoas=33_755, las=300, patients=62_000_000)
TARGET_SECONDS, TARGET_MB = 10.0, 2048.0


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


def _child_build(db: str) -> dict:
    from placehealth.analyses import build_all
    from placehealth.store import Store

    steps: list[tuple[str, float]] = []
    started = time.perf_counter()

    def mark(name: str) -> None:
        steps.append((name, time.perf_counter()))

    with Store(db) as store:
        written = build_all(store, mark)
    end = time.perf_counter()
    times = {name: round((steps[i + 1][1] if i + 1 < len(steps) else end) - t, 2)
             for i, (name, t) in enumerate(steps)}
    return {"total_s": end - started, "steps": times, "tables": written, "peak_mb": _peak_mb()}


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
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="placehealth-spine-"))
    data = args.data or work / "data"
    db = str(work / "spine.duckdb")
    print(f"machine: {machine()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")

    config = DemoConfig(seed=1, months=args.months, month_step=1, **ENGLAND)
    started = time.perf_counter()
    place = generate(data, config)
    print(f"generate: {time.perf_counter() - started:.1f} s, {len(place.files)} files, "
          f"{place.patients:,} patients, rows per month "
          f"{min(place.rows_per_month.values()):,}-{max(place.rows_per_month.values()):,}")

    months: dict[str, list[str]] = {}
    reference: list[str] = []
    for path in place.files:
        parts = path.relative_to(place.out).parts
        if parts[0] == "registrations":
            months.setdefault(parts[1], []).append(str(path))
        else:
            reference.append(str(path))

    ref = _run_child("--child-ingest", db, *reference)
    print(f"load average before loading: {os.getloadavg()[0]:.1f}", flush=True)
    print(f"reference files ({len(reference)}): {ref['total_s']:.1f} s "
          f"(read {ref['read_s']:.1f} s), {ref['rows']:,} rows, peak {ref['peak_mb']:.0f} MB")
    worst_s = worst_mb = 0.0
    walls = []
    for period, files in sorted(months.items()):
        m = _run_child("--child-ingest", db, *files)
        worst_s, worst_mb = max(worst_s, m["total_s"]), max(worst_mb, m["peak_mb"])
        walls.append(m["total_s"])
        print(f"month {period}: {m['total_s']:.1f} s (read {m['read_s']:.1f} s, store "
              f"{m['write_s']:.1f} s; CPU {m['cpu_s']:.1f} s), {m['rows']:,} rows, "
              f"peak {m['peak_mb']:.0f} MB", flush=True)
    print(f"median month: {sorted(walls)[len(walls) // 2]:.1f} s; load average now "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"slowest month: {worst_s:.1f} s (target < {TARGET_SECONDS:.0f} s) "
          f"{'OK' if worst_s < TARGET_SECONDS else 'MISSED'}; highest peak: {worst_mb:.0f} MB "
          f"(target < {TARGET_MB:.0f} MB) {'OK' if worst_mb < TARGET_MB else 'MISSED'}")
    if not args.no_build:
        b = _run_child("--child-build", db)
        print(f"build: {b['total_s']:.1f} s, peak {b['peak_mb']:.0f} MB; steps: "
              + ", ".join(f"{k} {v:.1f} s" for k, v in b["steps"].items()))
    print(f"store: {os.path.getsize(db) / 1024**2:.0f} MB on disk ({db})")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child-ingest":
        print(json.dumps(_child_ingest(sys.argv[2], sys.argv[3:])))
    elif len(sys.argv) > 1 and sys.argv[1] == "--child-build":
        print(json.dumps(_child_build(sys.argv[2])))
    else:
        main()
