"""Benchmark: peer groups for every PCN and practice, and the comparison table for 50 indicators
over 12 periods, on an England-sized synthetic store.

Generates (numpy, seed 2) 6,300 practices in 1,250 PCNs, 42 ICBs and 7 regions with five practice
features (IMD score, % 65+, % under 18, % non-white, % rural) and list sizes, and 50 QOF-style
disease groups x 12 periods x 6,300 practices = 3.78M qof_prevalence rows (written with
``replace_table``; the reader path is measured by the readers' own benchmarks). Then times
``peers.build`` (PCNs and practices, N = 10, national) and ``compare.build`` at PCN level
(comparison, funnel, deciles, spine, feature fit, all written to the store), and with
``--practices`` also at practice level.
Run: ``.venv/bin/python benchmarks/compare.py [--practices]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import tempfile
import time

import numpy as np
import pandas as pd

from placehealth.analyses import compare, peers
from placehealth.sources.base import ReadResult
from placehealth.store import Store

PRACTICES, PCNS, ICBS, REGIONS, GROUPS, PERIODS = 6300, 1250, 42, 7, 50, 12
MAP_PERIOD = "2024-25"


def _ingest(store: Store, table: str, frame: pd.DataFrame, period: str) -> None:
    digest = hashlib.sha256(f"{table}{len(frame)}{period}".encode()).hexdigest()
    store.ingest([ReadResult("bench", "synthetic", period, {table: frame},
                             file_name=f"{table}.csv", sha256=digest)])


def synthetic_store(path: str) -> Store:
    rng = np.random.default_rng(2)
    practice = np.array([f"{chr(65 + i % 26)}{i:05d}" for i in range(PRACTICES)])
    pcn_of = np.sort(rng.integers(0, PCNS, PRACTICES))
    pcn_of[:PCNS] = np.arange(PCNS)  # every PCN has at least one practice
    pcn_of.sort()
    icb_of_pcn = np.sort(rng.integers(0, ICBS, PCNS))
    icb = icb_of_pcn[pcn_of]
    store = Store(path)
    _ingest(store, "practice_pcn", pd.DataFrame({
        "period": MAP_PERIOD, "practice_code": practice,
        "pcn_code": [f"U{i:05d}" for i in pcn_of], "pcn_name": [f"PCN {i}" for i in pcn_of],
        "icb_code": [f"Q{i:02d}" for i in icb], "icb_name": [f"ICB {i}" for i in icb],
        "region_code": [f"Y{i % REGIONS}" for i in icb]}), MAP_PERIOD)
    imd = rng.gamma(2.5, 9.0, PRACTICES)
    old = np.clip(rng.normal(18, 5, PRACTICES), 2, 40)
    young = np.clip(rng.normal(21, 4, PRACTICES), 5, 40)
    nonwhite = np.clip(rng.gamma(1.2, 10, PRACTICES), 0, 95)
    rural = 100.0 * (rng.random(PRACTICES) < 0.18)
    size = rng.lognormal(9.0, 0.5, PRACTICES).round() + 500
    attrs = pd.concat([pd.DataFrame({"period": MAP_PERIOD, "practice_code": practice,
                                     "attribute": name, "value": value})
                       for name, value in (("imd_score", imd), ("pct_65_plus", old),
                                           ("pct_under_18", young), ("pct_non_white", nonwhite),
                                           ("pct_rural", rural), ("list_size", size))])
    _ingest(store, "practice_attributes", attrs, MAP_PERIOD)
    base = rng.uniform(0.005, 0.15, GROUPS)
    effect = rng.normal(0, 0.01, (GROUPS, 3))
    frames = []
    for t in range(PERIODS):
        period = f"{2013 + t}-{(14 + t) % 100:02d}"
        lists = (size * (1 + 0.01 * t)).round()
        z = np.column_stack([(imd - 22) / 12, (old - 18) / 5, (nonwhite - 12) / 12])
        p = np.clip(base[:, None] * (1 + 0.02 * t) + (z @ effect.T).T * base[:, None] * 5,
                    1e-4, 0.9)
        register = rng.binomial(lists.astype(int)[None, :].repeat(GROUPS, 0), p)
        frames.append(pd.DataFrame({
            "period": period, "practice_code": np.tile(practice, GROUPS),
            "group_code": np.repeat([f"G{g:02d}" for g in range(GROUPS)], PRACTICES),
            "register": register.ravel().astype("int64"),
            "list_type": "TOTAL", "list_size": np.tile(lists, GROUPS).astype("int64"),
            "load_id": 0}))
    store.replace_table("qof_prevalence", pd.concat(frames, ignore_index=True))
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--practices", action="store_true",
                        help="also build the practice-level comparison")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        store = synthetic_store(os.path.join(tmp, "bench.duckdb"))
        setup = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        written = peers.build(store)
        t_peers, c_peers = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        written |= compare.build(store, levels=("pcn",))
        t_compare, c_compare = time.perf_counter() - t0, time.process_time() - c0
        print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
              f"python {platform.python_version()}")
        print(f"setup (synthetic store, 3.78M QOF rows): {setup:.1f} s")
        print(f"load average before: {os.getloadavg()[0]:.1f}")
        print(f"peers.build, {PCNS:,} PCNs + {PRACTICES:,} practices, N=10: {t_peers:.1f} s wall, "
              f"{c_peers:.1f} s CPU")
        print(f"compare.build (pcn), {GROUPS} indicators x {PERIODS} periods: {t_compare:.1f} s "
              f"wall, {c_compare:.1f} s CPU")
        print(f"total peers + comparison: {t_peers + t_compare:.1f} s wall, "
              f"{c_peers + c_compare:.1f} s CPU; load average after: {os.getloadavg()[0]:.1f}")
        for name, rows in written.items():
            print(f"  {name}: {rows:,} rows")
        if args.practices:
            t0 = time.perf_counter()
            rows = compare.build(store, levels=("pcn", "practice"))
            print(f"compare.build (pcn + practice): {time.perf_counter() - t0:.1f} s "
                  f"({rows.get('comparison', 0):,} comparison rows)")
        store.close()


if __name__ == "__main__":
    main()
