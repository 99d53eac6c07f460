"""Benchmark: patient-level input at 1M, 10M and 50M people, on DuckDB and on local Spark.

For each size the demo place (150 practices, 30 PCNs, 800 LSOAs; seed 2026) writes a patient
extract of N people as Parquet in chunks of 1M (``placehealth demo --patients-level N`` does the
same), then each engine, in a fresh process of its own, runs the steps of a load and build:

- **check**: the file opened by the engine and every check of ``sources/patients.py`` run as
  engine queries (one pass counting failures per rule, person_id uniqueness);
- **aggregate**: registrations by practice and LSOA, by sex and age, QOF registers and uptake
  per practice (the sums the canonical tables are filled with);
- **write**: the rows written into the store by the engine (DuckDB ``INSERT ... SELECT`` inside
  the load's transaction, with the aggregates merged beside them; Spark: a managed table);
- **cohorts**: the Core20PLUS5 cohort sums over the stored rows joined to IMD (the build step).

Each step records wall time, CPU seconds (this process, DuckDB's threads included; the Spark
JVM's from /proc, and the JVM's garbage-collection seconds in results.json) and peak resident
memory (VmHWM reset before each step, for this process and the JVM), and the cost per million patients (CPU seconds / millions). Steps running past
``--timeout`` seconds are stopped and recorded as unfinished.

Run: ``.venv/bin/python benchmarks/patients.py [--sizes 1e6 1e7 5e7] [--engines duckdb spark]
[--work DIR] [--memory-limit 4GB]``; prints a Markdown table and writes ``DIR/results.json`` and a
Vega-Lite chart of CPU seconds against patients (``DIR/patients-curve.vl.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

PERIOD = "2025-10"
STEPS = ("generate", "check", "aggregate", "write", "cohorts")


# ---------------------------------------------------------------- measuring


def _reset_peak(pid: int | str = "self") -> None:
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def _peak_mb(pid: int | str = "self") -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _cpu(pid: int | str = "self") -> float:
    if pid == "self":
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(step: str, function, jvm: int | None = None) -> tuple[dict, object]:
    """Run ``function()``; its wall time, CPU seconds and peak memory (process and JVM)."""
    _reset_peak()
    if jvm:
        _reset_peak(jvm)
    cpu, jvm_cpu, load = _cpu(), _cpu(jvm) if jvm else 0.0, os.getloadavg()[0]
    started = time.perf_counter()
    value = function()
    record = {"step": step, "wall_s": time.perf_counter() - started, "cpu_s": _cpu() - cpu,
              "peak_mb": _peak_mb(), "load_start": load, "load_end": os.getloadavg()[0]}
    if jvm:
        record["jvm_cpu_s"] = _cpu(jvm) - jvm_cpu
        record["jvm_peak_mb"] = _peak_mb(jvm)
    return record, value


def emit(record: dict) -> None:
    print("RESULT " + json.dumps(record), flush=True)


# ---------------------------------------------------------------- steps (one process each)


def generate_step(size: int, work: Path) -> None:
    from placehealth.sources.demo import DemoConfig, generate

    out = work / f"place-{size}"
    shutil.rmtree(out, ignore_errors=True)
    record, place = measure("generate", lambda: generate(out, DemoConfig(
        patients_level=size, months=1, latest_month=PERIOD)))
    record["file_mb"] = place.patients_file.stat().st_size / 2**20
    emit(record | {"size": size, "engine": "numpy+pyarrow"})


def _reference(place_dir: Path) -> list:
    """The demo's practice map and IoD file (what the cohorts step joins), read as usual."""
    from placehealth.sources import read_file

    names = ("gp-reg-pat-prac-map", "IoD2025")
    return [read_file(p) for p in sorted(place_dir.rglob("*.csv")) if any(n in p.name for n in names)]


def duckdb_steps(size: int, work: Path, memory_limit: str) -> None:
    from placehealth.analyses import cohorts
    from placehealth.sources.patients import aggregates, check_rows, scan
    from placehealth.store import Store

    place_dir = work / f"place-{size}"
    path = place_dir / "patients" / f"patients-{PERIOD}.parquet"
    db = work / f"duckdb-{size}.duckdb"
    db.unlink(missing_ok=True)
    store = Store(db)
    store.con.raw_sql(f"SET memory_limit = '{memory_limit}'")
    store.con.raw_sql(f"SET temp_directory = '{work / 'duckdb-spill'}'")
    store.ingest(_reference(place_dir))
    base = {"size": size, "engine": "duckdb"}
    record, (rows, count) = measure("check", lambda: check_rows(scan(store.con, path), path,
                                                                  PERIOD))
    emit(record | base)
    record, tables = measure("aggregate", lambda: aggregates(rows, PERIOD))
    emit(record | base | {"rows_out": sum(len(t) for t in tables.values())})
    from placehealth.sources.base import ReadResult
    from placehealth.sources.patients import KIND, PUBLICATION, file_sha256

    result = ReadResult(KIND, PUBLICATION, PERIOD, tables, file_name=path.name,
                        sha256=file_sha256(path), in_engine={"patients": rows}, engine_rows=count)
    record, _ = measure("write", lambda: store.ingest([result]))
    emit(record | base | {"store_mb": db.stat().st_size / 2**20})
    record, written = measure("cohorts", lambda: cohorts.build(store))
    emit(record | base | {"rows_out": written.get(cohorts.TABLE, 0)})
    store.close()
    db.unlink(missing_ok=True)


def spark_steps(size: int, work: Path) -> None:
    import ibis

    from placehealth.analyses import cohorts
    from placehealth.sources.patients import aggregates, check_rows, scan
    from placehealth.store import Store

    os.environ["PLACEHEALTH_SPARK_WAREHOUSE"] = str(work / f"spark-{size}")
    shutil.rmtree(work / f"spark-{size}", ignore_errors=True)
    place_dir = work / f"place-{size}"
    path = place_dir / "patients" / f"patients-{PERIOD}.parquet"
    store = Store("spark://local")
    session = store.con._session
    jvm = int(session._jvm.java.lang.ProcessHandle.current().pid())
    beans = session._jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()

    def gc_seconds() -> float:  # the JVM's time in garbage collection so far
        return sum(bean.getCollectionTime() for bean in beans) / 1000

    def timed(step: str, function):
        gc = gc_seconds()
        record, value = measure(step, function, jvm)
        return record | {"jvm_gc_s": gc_seconds() - gc}, value

    base = {"size": size, "engine": "spark local[2]"}
    record, (rows, _count) = timed("check", lambda: check_rows(scan(store.con, path), path,
                                                                PERIOD))
    emit(record | base)
    record, tables = timed("aggregate", lambda: aggregates(rows, PERIOD))
    emit(record | base | {"rows_out": sum(len(t) for t in tables.values())})
    record, _ = timed("write", lambda: store.con.create_table(
        "patients", rows.mutate(load_id=ibis.literal(1, "int64")), overwrite=True))
    emit(record | base)
    imd = next(r for r in _reference(place_dir) if "imd" in r.tables).tables["imd"]
    deciles = ibis.memtable(imd[imd["domain"] == "imd"][["lsoa_code", "decile"]])

    def cohort_sums():
        stored = store.con.table("patients")
        return cohorts.practice_counts(stored, deciles, PERIOD).to_pyarrow()

    record, table = timed("cohorts", cohort_sums)
    emit(record | base | {"rows_out": table.num_rows})
    session.stop()
    shutil.rmtree(work / f"spark-{size}", ignore_errors=True)


# ---------------------------------------------------------------- driver


def run_child(args: list[str], timeout: float) -> tuple[list[dict], str | None]:
    """Run one step group in a fresh process; its RESULT lines, and why it stopped early."""
    command = [sys.executable, __file__, *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return _results(out), f"stopped after {timeout:.0f} s"
    problem = None if done.returncode == 0 else done.stderr.strip().splitlines()[-1][:300]
    return _results(done.stdout), problem


def _results(text: str) -> list[dict]:
    return [json.loads(line[7:]) for line in text.splitlines() if line.startswith("RESULT ")]


def table(results: list[dict]) -> str:
    head = ("| patients | engine | step | wall s | CPU s (process + JVM) | CPU s per 1M | "
            "peak MB (process / JVM) | load |\n|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in results:
        if "unfinished" in r:
            lines.append(f"| {r['size']:,} | {r['engine']} | {r['step']} | not finished: "
                         f"{r['unfinished']} | | | | |")
            continue
        cpu = r["cpu_s"] + r.get("jvm_cpu_s", 0.0)
        peak = f"{r['peak_mb']:,.0f}" + (f" / {r['jvm_peak_mb']:,.0f}" if "jvm_peak_mb" in r else "")
        lines.append(f"| {r['size']:,} | {r['engine']} | {r['step']} | {r['wall_s']:.1f} | "
                     f"{cpu:.1f} | {cpu / (r['size'] / 1e6):.2f} | {peak} | "
                     f"{r['load_start']:.1f}-{r['load_end']:.1f} |")
    return "\n".join(lines)


def chart(results: list[dict]) -> dict:
    """Vega-Lite: CPU seconds of each step against patients, one line per engine and step."""
    values = [{"patients": r["size"], "engine": r["engine"], "step": r["step"],
               "cpu_s": r["cpu_s"] + r.get("jvm_cpu_s", 0.0), "wall_s": r["wall_s"]}
              for r in results if "unfinished" not in r]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "description": "placehealth patient-level load and build: CPU seconds by size",
        "data": {"values": values},
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": "patients", "type": "quantitative", "scale": {"type": "log"}},
            "y": {"field": "cpu_s", "type": "quantitative", "scale": {"type": "log"},
                  "title": "CPU seconds"},
            "color": {"field": "step", "type": "nominal"},
            "strokeDash": {"field": "engine", "type": "nominal"},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e6, 1e7, 5e7])
    parser.add_argument("--engines", nargs="+", default=["duckdb", "spark"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/placehealth-bench-patients"))
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB memory_limit")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per engine run")
    parser.add_argument("--child", nargs=2, metavar=("WHAT", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.child:
        what, size = args.child[0], int(float(args.child[1]))
        if what == "generate":
            generate_step(size, args.work)
        elif what == "duckdb":
            duckdb_steps(size, args.work, args.memory_limit)
        else:
            spark_steps(size, args.work)
        return
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"started {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    results: list[dict] = []
    saved = args.work / "results.json"
    for size in (int(s) for s in args.sizes):
        for what in ("generate", *args.engines):
            got, problem = run_child(["--work", str(args.work), "--memory-limit",
                                      args.memory_limit, "--child", what, str(size)],
                                     args.timeout)
            results += got
            if problem:
                done = {r["step"] for r in got}
                steps = STEPS[:1] if what == "generate" else STEPS[1:]
                step = next((s for s in steps if s not in done), steps[-1])
                engine = got[0]["engine"] if got else what
                results.append({"size": size, "engine": engine, "step": step,
                                "unfinished": problem})
            for r in got:
                print(json.dumps(r), flush=True)
            if problem:
                print(f"{what} {size:,}: {problem}", flush=True)
            saved.write_text(json.dumps(results, indent=1))
        shutil.rmtree(args.work / f"place-{size}", ignore_errors=True)
    (args.work / "patients-curve.vl.json").write_text(json.dumps(chart(results), indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
