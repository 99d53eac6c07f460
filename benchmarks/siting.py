"""Benchmark outreach siting: ICB-sized MCLP and p-median, England-sized MCLP.

Geometry: the real ONS LSOA (2011) centroid/label points of England
(``../shared/data/geography_lookups/lsoa11_centroids_boundary_label_points.csv``), projected to
British National Grid with pyproj, topped up to 33,755 points (the LSOA 2021 count) by splitting
randomly chosen LSOAs into two points 300 m apart; without that file, seeded clustered synthetic
points of the same size (towns with Gaussian spread). Candidate venues are drawn at LSOA points
(LSOAs hold similar populations, so this follows where people live) and jittered by up to 400 m.
Need per LSOA: gamma-distributed "missing patients" (mean ~20), 20% of points flagged Core20 with
1.5 times the need.

- ICB-sized: the 1,700 LSOA points nearest one town centre (Stoke-on-Trent) and 400 venues among
  them; MCLP and p-median with p = 10 (radius 2 km); target < 10 s each, proven optimal.
- England-sized: 33,755 points and 2,000 venues; MCLP with p = 50, radius 2 km; target < 120 s
  and < 4 GB peak resident memory (``resource.getrusage``, whole process). Then, beyond the
  target, radius 5 km (heavily overlapping reach) with a 120 s time limit and its gap.

Run: .venv/bin/python benchmarks/siting.py [--only icb|england] [--seed 1]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from placehealth.analyses.siting import SitingProblem, mclp, pmedian

try:
    from measures import machine  # benchmarks/measures.py
except ImportError:  # pragma: no cover
    def machine() -> str:
        return "unknown machine"

CENTROIDS = (Path(__file__).resolve().parents[2] / "shared" / "data" / "geography_lookups"
             / "lsoa11_centroids_boundary_label_points.csv")
ENGLAND_LSOAS = 33_755
STOKE = (388_500.0, 347_500.0)  # British National Grid, Stoke-on-Trent centre


def lsoa_points(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """England-sized LSOA-like points in BNG metres, and where they came from."""
    if CENTROIDS.exists():
        from pyproj import Transformer

        frame = pd.read_csv(CENTROIDS)
        frame = frame[frame["lsoa11_code"].str.startswith("E")]
        to_bng = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
        x, y = to_bng.transform(frame["longitude"].to_numpy(), frame["latitude"].to_numpy())
        xy = np.column_stack([x, y])
        source = f"{len(xy):,} real LSOA 2011 label points"
    else:
        towns = rng.uniform([100_000, 50_000], [650_000, 650_000], (600, 2))
        size = rng.pareto(1.2, 600) + 1
        which = rng.choice(600, 32_844, p=size / size.sum())
        xy = towns[which] + rng.normal(0, 1, (32_844, 2)) * (800 * np.sqrt(size[which]))[:, None]
        source = "32,844 synthetic clustered points (LSOA file absent)"
    extra = ENGLAND_LSOAS - len(xy)
    split = rng.choice(len(xy), extra, replace=False)
    angle = rng.uniform(0, 2 * np.pi, extra)
    xy = np.vstack([xy, xy[split] + 300 * np.column_stack([np.cos(angle), np.sin(angle)])])
    return xy, source + f" + {extra} splits"


def instance(xy: np.ndarray, n_sites: int, rng: np.random.Generator) -> SitingProblem:
    n = len(xy)
    core20 = rng.random(n) < 0.2
    weight = np.round(rng.gamma(2.0, 10.0, n) * np.where(core20, 1.5, 1.0), 1)
    at = rng.choice(n, n_sites, replace=False)
    sites = xy[at] + rng.uniform(-400, 400, (n_sites, 2))
    return SitingProblem([f"L{i}" for i in range(n)], weight, [f"V{j}" for j in range(n_sites)],
                         xy, sites, core20=core20)


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # KB on Linux


def run(label: str, solve) -> dict:
    started, cpu = time.perf_counter(), time.process_time()
    result = solve()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    s = result.summary()
    value = (f"covered {s['covered_share']:.1%} of need" if result.objective == "mclp"
             else f"weighted distance {s['weighted_distance']:,.0f}")
    print(f"{label}: {wall:.2f} s wall ({cpu:.2f} s CPU), status {s['status']}, "
          f"gap {s['mip_gap']:.2g}, {value}, iterations {s['iterations']}, "
          f"peak RSS so far {peak_gb():.2f} GB", flush=True)
    return {"label": label, "wall": wall, "optimal": s["optimal"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["icb", "england"])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    xy, source = lsoa_points(rng)
    print(f"machine: {machine()}\ninputs: {source}; seed {args.seed}", flush=True)
    results = []
    if args.only in (None, "icb"):
        near = np.argsort(np.hypot(*(xy - STOKE).T))[:1_700]
        icb = instance(xy[near], 400, rng)
        results.append(run("ICB 1,700 x 400 MCLP p=10 r=2 km", lambda: mclp(icb, 10, 2_000)))
        results.append(run("ICB 1,700 x 400 p-median p=10", lambda: pmedian(icb, 10)))
        results.append(run("ICB 1,700 x 400 MCLP p=10 r=2 km, Core20 share >= 40%",
                           lambda: mclp(icb, 10, 2_000, min_core20_share=0.4)))
    if args.only in (None, "england"):
        england = instance(xy, 2_000, rng)
        results.append(run("England 33,755 x 2,000 MCLP p=50 r=2 km",
                           lambda: mclp(england, 50, 2_000)))
        # a harder case beyond the target: wide overlapping reach, stopped at 120 s with its gap
        run("England 33,755 x 2,000 MCLP p=50 r=5 km (time limit 120 s; not a target)",
            lambda: mclp(england, 50, 5_000, time_limit=120))
    gb = peak_gb()
    print(f"peak resident memory of the whole run: {gb:.2f} GB (target < 4 GB)")
    limits = {"ICB": 10.0, "England": 120.0}
    missed = [r["label"] for r in results
              if r["wall"] > limits[r["label"].split()[0]] or not r["optimal"]]
    print("targets: " + ("all met" if not missed and gb < 4 else f"missed: {missed}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
