"""Targeting on a real place: loading partners and postcodes, reach of need, fair shares, pages.

Each step runs in a fresh process and prints its wall time, the CPU-seconds it used and the peak
memory of the process (on a shared machine the wall time is mostly waiting for a core):

- into an empty store: the Code-Point Open postcode points for England (1.49 M postcodes), the
  postcode -> LSOA lookup of the test areas, the national dispensing-contractor list
  (``--allow-unlocated``) and the Staffordshire & Stoke-on-Trent practice locations as GP sites;
- on a copy of a built real store (``--db``, as ``../shared/tools/real-place.sh`` makes it, with
  those partner files loaded too): the reach and fair-share build steps, ``placehealth target
  reach la E06000021 --within 1000`` (recomputed), ``target reach pcn CODE`` (stored), ``target
  shares practice --pcn CODE --total 40``, and (after the protected copies ``placehealth build``
  ends with) the first targeting pages after the dashboard starts.

Target: every answer in seconds.

    .venv/bin/python benchmarks/targeting.py --db /tmp/realplace.XXXX/real.duckdb [--pcn U05734]
        [--la E06000021] [--no-codepoint]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from _machine import serve

BIN = Path(sys.executable).parent
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data beside the checkout
PLACEHEALTH = str(BIN / "placehealth")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(label: str, command: list[str]) -> float:
    """Wall time, CPU-seconds and the largest child's peak memory so far."""
    cpu = cpu_used()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    status = "ok" if done.returncode == 0 else f"FAILED ({done.returncode}): {done.stderr.strip()[-300:]}"
    print(f"{label:60s} {seconds:7.1f} s wall {cpu_used() - cpu:6.1f} CPU-s "
          f"peak {peak_mb():6.0f} MB (largest process so far)  {status}", flush=True)
    return seconds


def first_page(label: str, db: Path, path: str) -> float:
    server, port = serve(db)
    try:
        started = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1200) as response:
            status, size = response.status, len(response.read())
        seconds = time.perf_counter() - started
        again = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1200) as response:
            response.read()
        warm = time.perf_counter() - again
        print(f"{label:60s} {seconds:7.1f} s first, {warm:5.2f} s again  HTTP {status}, "
              f"{size:,} bytes", flush=True)
        return seconds
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="a built store of the real place")
    parser.add_argument("--pcn", default="U05734")
    parser.add_argument("--la", default="E06000021")
    parser.add_argument("--no-codepoint", action="store_true",
                        help="skip loading Code-Point Open for all of England")
    args = parser.parse_args()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    if not DATA.exists():
        print(f"real data not present at {DATA}: nothing to time", flush=True)
        return
    lookup = DATA / "postcodes" / "postcode_lsoa21_lsoa11_test_areas_derived.csv.gz"
    edispensary = DATA / "partners_and_venues" / "edispensary_2025-04.csv"
    sites = DATA / "regional_subsets" / "staffordshire_stoke_2025" / "gp_practice_locations_ssot_2025-10.csv"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        empty = out / "partners.duckdb"
        if not args.no_codepoint:
            timed("ingest Code-Point Open, England (1,492,125 postcodes)",
                  [PLACEHEALTH, "ingest", str(DATA / "postcodes" / "codepoint_open_2025-10_england.csv.gz"),
                   "--db", str(out / "codepoint.duckdb")])
        timed("ingest postcode -> LSOA lookup, test areas (96,794)",
              [PLACEHEALTH, "ingest", "--period", "2025-10", str(lookup), "--db", str(empty)])
        timed("ingest edispensary, England (20,932; --allow-unlocated)",
              [PLACEHEALTH, "ingest", "--allow-unlocated", str(edispensary), "--db", str(empty)])
        timed("ingest practice locations as GP sites (141)",
              [PLACEHEALTH, "ingest", "--as", "gp-sites", str(sites), "--db", str(empty)])
        if args.db:
            db = out / "real.duckdb"
            shutil.copy(args.db, db)
            for command in (["ingest", "--period", "2025-10", str(lookup)],
                            ["ingest", "--allow-unlocated", str(edispensary)],
                            ["ingest", "--as", "gp-sites", str(sites)]):
                subprocess.run([PLACEHEALTH, *command, "--db", str(db)], capture_output=True)
            for step in ("reach", "shares"):
                timed(f"build step {step}",
                      [sys.executable, "-c", "import sys; from placehealth.store import Store; "
                       f"from placehealth.analyses import {step}; s = Store(sys.argv[1]); "
                       f"print({step}.build(s)); s.close()", str(db)])
            timed("protected copies (the last step of placehealth build)",
                  [sys.executable, "-c", "import sys; from placehealth.store import Store; "
                   "from placehealth.outputs import disclosed; s = Store(sys.argv[1]); "
                   "disclosed.write_all(s); s.close()", str(db)])
            timed(f"target reach la {args.la} --within 1000 (recomputed)",
                  [PLACEHEALTH, "target", "reach", "la", args.la, "--within", "1000", "--db", str(db)])
            timed(f"target reach pcn {args.pcn} (stored)",
                  [PLACEHEALTH, "target", "reach", "pcn", args.pcn, "--db", str(db)])
            timed(f"target shares practice --pcn {args.pcn} --total 40",
                  [PLACEHEALTH, "target", "shares", "practice", "--pcn", args.pcn, "--total", "40",
                   "--db", str(db)])
            first_page(f"first /target/la/{args.la} after start", db, f"/target/la/{args.la}")
            first_page(f"first /target/pcn/{args.pcn} after start", db, f"/target/pcn/{args.pcn}")
    print(f"load average {os.getloadavg()[0]:.1f} at end", flush=True)


if __name__ == "__main__":
    main()
