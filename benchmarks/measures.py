"""Benchmark placehealth.measures at England scale against straightforward pandas versions.

- sii: 1,250 areas x 10 quantiles (rates with 95% limits, log working scale, RII too),
  100,000 Monte Carlo repetitions. Target < 30 s on 2 cores.
- dsr: 1,250 areas x 19 ESP 2013 age bands x 50 indicators (1,187,500 rows). Target < 5 s.

Each is timed beside a straightforward implementation of the same method (pandas groupby-apply, a
loop of per-area numpy) measured in the same run, and the two results are compared.
Run: .venv/bin/python benchmarks/measures.py [--naive-sii-areas 250]
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from scipy import stats

from _machine import machine
from placehealth.measures import dsr, esp2013, sii

Z95 = stats.norm.ppf(0.975)


# --- sii ----------------------------------------------------------------------------------------


def sii_input(areas: int = 1250, k: int = 10, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pop = rng.integers(1000, 20000, (areas, k)).astype(float)
    true_rate = (30 - 1.5 * np.arange(1, k + 1))[None, :] * np.exp(rng.normal(0, 0.1, (areas, k)))
    events = rng.poisson(true_rate / 1000 * pop) + 1
    value = events / pop * 1000
    se_log = 1 / np.sqrt(events)
    return pd.DataFrame({
        "area": np.repeat([f"E{i:05d}" for i in range(areas)], k),
        "quantile": np.tile(np.arange(1, k + 1), areas),
        "population": pop.ravel(), "rate": value.ravel(),
        "lower": (value * np.exp(-Z95 * se_log)).ravel(), "upper": (value * np.exp(Z95 * se_log)).ravel(),
    })


def naive_sii(frame: pd.DataFrame, repetitions: int, seed: int = 1) -> pd.DataFrame:
    """The PHE method written plainly: per area (groupby-apply), draw every repetition, refit with
    least squares, take quantiles."""
    rng = np.random.default_rng(seed)

    def one(rows: pd.DataFrame) -> pd.Series:
        rows = rows.sort_values("quantile")
        share = rows["population"].to_numpy() / rows["population"].sum()
        rank = np.cumsum(share) - share / 2
        design = np.column_stack([np.sqrt(share), rank * np.sqrt(share)])
        m = np.log(rows["rate"].to_numpy())
        s = (np.log(rows["upper"].to_numpy()) - np.log(rows["lower"].to_numpy())) / (2 * Z95)
        point, *_ = np.linalg.lstsq(design, np.sqrt(share) * rows["rate"].to_numpy(), rcond=None)
        values = np.exp(m + s * rng.standard_normal((repetitions, len(m))))
        coef, *_ = np.linalg.lstsq(design, (np.sqrt(share) * values).T, rcond=None)
        lo, hi = np.quantile(coef[1], [0.025, 0.975])
        rii = (coef[0] + coef[1]) / coef[0]
        rlo, rhi = np.quantile(rii, [0.025, 0.975])
        return pd.Series({"sii": point[1], "sii_lowercl": lo, "sii_uppercl": hi,
                          "rii": (point[0] + point[1]) / point[0], "rii_lowercl": rlo, "rii_uppercl": rhi})

    return frame.groupby("area").apply(one, include_groups=False).reset_index()


def bench_sii(naive_areas: int, repetitions: int = 100_000) -> dict[str, float]:
    frame = sii_input()
    start, cpu = time.perf_counter(), time.process_time()
    ours = sii(frame, "quantile", "population", "rate", lower_cl="lower", upper_cl="upper",
               group_by="area", value_type=1, rii=True, repetitions=repetitions, seed=1)
    ours_s, ours_cpu = time.perf_counter() - start, time.process_time() - cpu
    subset = frame[frame["area"].isin(frame["area"].unique()[:naive_areas])]
    start = time.perf_counter()
    plain = naive_sii(subset, repetitions)
    naive_s = time.perf_counter() - start
    merged = ours.merge(plain, on="area", suffixes=("", "_naive"))
    width = (merged["sii_uppercl"] - merged["sii_lowercl"]).abs()
    diff = max((merged[c] - merged[f"{c}_naive"]).abs().div(width).max()
               for c in ("sii_lowercl", "sii_uppercl"))
    return {"ours_s": ours_s, "ours_cpu": ours_cpu, "naive_s": naive_s, "naive_areas": naive_areas,
            "naive_full_s": naive_s * 1250 / naive_areas,
            "point_max_abs_diff": float((merged["sii"] - merged["sii_naive"]).abs().max()),
            "limit_max_diff_of_width": float(diff)}


# --- dsr ----------------------------------------------------------------------------------------


def dsr_input(areas: int = 1250, indicators: int = 50, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    bands = list(esp2013().index)
    rows = areas * indicators * len(bands)
    pop = np.tile(rng.integers(50, 3000, areas * len(bands)), indicators).astype(float)
    base = np.repeat(rng.uniform(0.0005, 0.02, indicators), areas * len(bands))
    age = np.tile(np.linspace(0.3, 3, len(bands)), areas * indicators)
    return pd.DataFrame({
        "indicator": np.repeat([f"I{i:02d}" for i in range(indicators)], areas * len(bands)),
        "area": np.tile(np.repeat([f"E{i:05d}" for i in range(areas)], len(bands)), indicators),
        "ageband": np.tile(bands, areas * indicators),
        "events": rng.poisson(base * age * pop).astype(float),
        "population": pop,
    }).iloc[:rows]


def naive_dsr(frame: pd.DataFrame) -> pd.DataFrame:
    """Dobson DSR written plainly: join the standard by band label, then groupby-apply."""
    standard = esp2013().rename("stdpop").rename_axis("ageband").reset_index()
    joined = frame.merge(standard, on="ageband", how="left")

    def one(rows: pd.DataFrame) -> pd.Series:
        w, x, n = rows["stdpop"], rows["events"], rows["population"]
        value = (w * x / n).sum() / w.sum()
        var = (w**2 * x / n**2).sum() / w.sum() ** 2
        o = x.sum()
        if o < 10:
            return pd.Series({"value": np.nan, "lowercl": np.nan, "uppercl": np.nan})
        z = Z95
        o_l = o * (1 - 1 / (9 * o) - z / (3 * np.sqrt(o))) ** 3
        o_u = (o + 1) * (1 - 1 / (9 * (o + 1)) + z / (3 * np.sqrt(o + 1))) ** 3
        return pd.Series({"value": value * 1e5,
                          "lowercl": (value + np.sqrt(var / o) * (o_l - o)) * 1e5,
                          "uppercl": (value + np.sqrt(var / o) * (o_u - o)) * 1e5})

    return joined.groupby(["indicator", "area"]).apply(one, include_groups=False).reset_index()


def bench_dsr() -> dict[str, float]:
    frame = dsr_input()
    start = time.perf_counter()
    ours = dsr(frame, "events", "population", group_by=["indicator", "area"])
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    plain = naive_dsr(frame)
    naive_s = time.perf_counter() - start
    merged = ours.merge(plain, on=["indicator", "area"], suffixes=("", "_naive"))
    diff = float(np.nanmax(np.abs(merged["value"] - merged["value_naive"]) / merged["value_naive"]))
    return {"rows": len(frame), "ours_s": ours_s, "naive_s": naive_s, "max_rel_diff": diff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--naive-sii-areas", type=int, default=100,
                        help="areas for the plain SII (timed, then scaled to 1,250)")
    args = parser.parse_args()
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}")
    d = bench_dsr()
    print(f"dsr, 1,250 areas x 19 bands x 50 indicators ({d['rows']:,} rows): "
          f"placehealth {d['ours_s']:.2f} s; pandas groupby-apply {d['naive_s']:.1f} s "
          f"({d['naive_s'] / d['ours_s']:.0f}x); max relative difference {d['max_rel_diff']:.1e}")
    s = bench_sii(args.naive_sii_areas)
    print(f"sii + rii, 1,250 areas x 10 quantiles x 100,000 repetitions (rates, log scale): "
          f"placehealth {s['ours_s']:.1f} s ({s['ours_cpu']:.1f} CPU-seconds on 2 threads); per-area numpy loop {s['naive_s']:.1f} s for "
          f"{s['naive_areas']} areas = {s['naive_full_s']:.0f} s scaled to 1,250 "
          f"({s['naive_full_s'] / s['ours_s']:.1f}x); point estimates differ by at most "
          f"{s['point_max_abs_diff']:.1e}, limits by at most {s['limit_max_diff_of_width']:.1%} "
          "of the interval width (Monte Carlo noise)")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
