"""Speed on a real place: what an ICB analyst waits for, each in a fresh process.

On a store loaded and built from the real Staffordshire & Stoke-on-Trent files (as
``../shared/tools/real-place.sh`` makes it; pass its ``real.duckdb``), times:

- writing the protected copies (the last step of ``placehealth build``), unless ``--no-protect``;
- the first view of a PCN page after ``placehealth serve`` starts;
- ``placehealth report pcn CODE --out CODE.html``;
- ``placehealth export prevalence_gap_lsoa --where level=pcn --where area_code=CODE``;
- with ``--demo DB`` (a fresh ``placehealth demo`` store; without ``--db`` or ``--demo`` one is made
  in a temporary folder): the first home page after start.

Targets: each real-place answer in seconds; the demo home page in under 1 s.

    .venv/bin/python benchmarks/real_place.py --db /tmp/realplace.XXXX/real.duckdb [--pcn U05734]
        [--demo demo.duckdb] [--no-protect]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from _machine import serve

BIN = Path(sys.executable).parent


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int) -> float:
    """CPU-seconds (user + system) a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(label: str, command: list[str], env: dict[str, str]) -> float:
    """Run a command in a fresh process: wall time, and the CPU-seconds it used (on a shared
    machine the wall time is mostly waiting for a core)."""
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    cpu = _children_cpu() - cpu
    status = "ok" if done.returncode == 0 else f"FAILED ({done.returncode}): {done.stderr.strip()[-300:]}"
    print(f"{label:58s} {seconds:8.1f} s wall {cpu:6.1f} CPU-s  {status}", flush=True)
    return seconds


def first_page(label: str, db: Path, path: str, env: dict[str, str]) -> float:
    """Start the dashboard, wait until it listens, time the first request of ``path``."""
    server, port = serve(db, env)
    try:
        cpu = _process_cpu(server.pid)
        started = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1200) as response:
            status, size = response.status, len(response.read())
        seconds = time.perf_counter() - started
        cpu = _process_cpu(server.pid) - cpu
        print(f"{label:58s} {seconds:8.2f} s wall {cpu:6.2f} CPU-s  HTTP {status}, {size:,} bytes "
              "(CPU of the server while it answered)", flush=True)
        return seconds
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="a built store of the real place")
    parser.add_argument("--pcn", default="U05734", help="PCN code (default U05734)")
    parser.add_argument("--demo", type=Path, help="a fresh demo store, for the home page")
    parser.add_argument("--no-protect", action="store_true", help="do not (re)write the protected copies")
    args = parser.parse_args()
    env = {**os.environ, "PLACEHEALTH_DISCLOSURE": "opensafely"}
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    if args.db:
        if not args.no_protect:
            timed("protected copies (last step of build)",
                  [sys.executable, "-c", "import sys; from placehealth.store import Store; "
                   "from placehealth.outputs import disclosed; s = Store(sys.argv[1]); "
                   "disclosed.write_all(s); s.close()", str(args.db)], env)
        first_page(f"first /pcn/{args.pcn} after start", args.db, f"/pcn/{args.pcn}", env)
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder)
            timed(f"report pcn {args.pcn} (HTML)",
                  [str(BIN / "placehealth"), "report", "pcn", args.pcn, "--out", str(out / "r.html"),
                   "--db", str(args.db)], env)
            timed(f"export prevalence_gap_lsoa level=pcn area_code={args.pcn}",
                  [str(BIN / "placehealth"), "export", "prevalence_gap_lsoa", "--where", "level=pcn",
                   "--where", f"area_code={args.pcn}", "--format", "csv", "--out", str(out / "e.csv"),
                   "--db", str(args.db)], env)
    if args.demo is None and args.db is None:  # as `benchmarks/run.py` runs it: a fresh demo
        folder = Path(tempfile.mkdtemp(prefix="placehealth-bench-"))
        args.demo = folder / "demo.duckdb"
        timed("placehealth demo (generate, load, build, protect)",
              [str(BIN / "placehealth"), "demo", "--out", str(folder / "files"), "--db", str(args.demo)], env)
    if args.demo:
        first_page("demo: first home page after start", args.demo, "/", env)
    print(f"load average {os.getloadavg()[0]:.1f} at end", flush=True)


if __name__ == "__main__":
    main()
