"""Read and ingest every real file in ../shared/data into one fresh store; print per-file read
and store times, rows, and the process's peak memory.

Usage: .venv/bin/python benchmarks/readers.py [--top 12]
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "tests"))

from placehealth.sources import ReadOptions, read_file  # noqa: E402
from placehealth.store import Store  # noqa: E402

from support import FORCED, real_files  # noqa: E402  (the same --as/--period choices as the tests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--top", type=int, default=12, help="slowest files to list")
    args = parser.parse_args()
    files = real_files()
    timings = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.duckdb") as store:
        for path in files:
            relative = str(path.relative_to(SHARED))
            kind, period, *mapping = FORCED.get(relative, (None, None))
            t0 = time.perf_counter()
            result = read_file(path, kind, ReadOptions(period=period,
                                                       mapping=mapping[0] if mapping else {}))
            t1 = time.perf_counter()
            store.ingest([result])
            t2 = time.perf_counter()
            timings.append((relative, result.kind, result.rows, t1 - t0, t2 - t1))
    total = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {platform.machine()}, {platform.system()} {platform.release()}, "
          f"python {platform.python_version()}")
    print(f"{len(files)} files, {sum(t[2] for t in timings):,} canonical rows, "
          f"read {sum(t[3] for t in timings):.1f} s, store {sum(t[4] for t in timings):.1f} s, "
          f"total {total:.1f} s, peak memory {peak_mb:,.0f} MB")
    print(f"\nslowest {args.top} (read s, store s, rows, kind):")
    for relative, kind, rows, read_s, store_s in sorted(timings, key=lambda t: -(t[3] + t[4]))[
            : args.top]:
        print(f"  {read_s:6.1f} {store_s:6.1f} {rows:>10,}  {kind:<18} {relative}")


if __name__ == "__main__":
    main()
