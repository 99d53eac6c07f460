"""Benchmark the evaluation statistics at England scale (synthetic panels generated here, seeded).

- spc: XmR charts for 1,250 PCNs x 50 indicators x 60 months (3.75 M points), limits
  recalculated at each PCN's start for a fifth of PCNs. Target < 10 s.
- synth: one treated PCN against 1,250 donors x 60 periods (start at period 40), with the
  placebo-in-space run for every donor (1,251 fits) and placebo-in-time. Target < 30 s.
- did: Callaway & Sant'Anna for 1,250 PCNs x 60 periods (250 treated in 5 cohorts), 999
  wild (multiplier) bootstrap draws. Target < 30 s.

Run: .venv/bin/python benchmarks/evaluate.py [--only spc,synth,did]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from _machine import machine
from placehealth.measures.did import callaway_santanna
from placehealth.measures.spc import xmr
from placehealth.measures.synth import synthetic_control

PCNS, PERIODS = 1250, 60


def panel(units: int, periods: int, seed: int) -> np.ndarray:
    """Levels, trends, seasonality and AR(1) noise: units x periods."""
    rng = np.random.default_rng(seed)
    t = np.arange(periods)
    noise = np.zeros((units, periods))
    for p in range(1, periods):
        noise[:, p] = 0.5 * noise[:, p - 1] + rng.normal(0, 1, units)
    return (rng.normal(50, 5, (units, 1)) + rng.normal(0.05, 0.02, (units, 1)) * t
            + rng.uniform(1, 3, (units, 1)) * np.sin(2 * np.pi * (t % 12) / 12) + noise)


def bench_spc() -> None:
    indicators = 50
    values = panel(PCNS * indicators, PERIODS, 1)
    frame = pd.DataFrame({
        "pcn": np.repeat(np.arange(PCNS), indicators * PERIODS),
        "indicator": np.tile(np.repeat(np.arange(indicators), PERIODS), PCNS),
        "month": np.tile(np.arange(PERIODS), PCNS * indicators),
        "value": values.ravel(),
    })
    frame["start"] = np.where(frame["pcn"] % 5 == 0, 36, np.nan)
    started, cpu = time.perf_counter(), time.process_time()
    result = xmr(frame, "value", "month", ["pcn", "indicator"], change_column="start", baseline=20)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    flagged = (result.points["special_cause"] != "").mean()
    print(f"spc: {len(frame):,} points in {len(result.summary):,} series: {elapsed:.2f} s wall, {cpu:.2f} s CPU "
          f"(target < 10 s); {flagged:.1%} of points flagged")


def bench_synth() -> None:
    values = panel(PCNS + 1, PERIODS, 2)
    values[0, 40:] += 3.0
    frame = pd.DataFrame({"pcn": np.repeat(np.arange(PCNS + 1), PERIODS),
                          "month": np.tile(np.arange(PERIODS), PCNS + 1), "value": values.ravel()})
    frame["first"] = np.where(frame["pcn"] == 0, 40, np.nan)
    started, cpu = time.perf_counter(), time.process_time()
    result = synthetic_control(frame, "value", "pcn", "month", "first")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    row = result.estimates.iloc[0]
    print(f"synth: 1 treated, {PCNS:,} donors x {PERIODS} periods, {PCNS:,} placebos: {elapsed:.2f} s wall, {cpu:.2f} s CPU "
          f"(target < 30 s); effect {row['estimate']:.2f} (planted 3), p = {row['p_value']:.4f}, "
          f"pre-RMSPE {row['pre_rmspe']:.3f}, {len(result.weights)} donors with weight")


def bench_did() -> None:
    values = panel(PCNS, PERIODS, 3)
    first = np.full(PCNS, np.nan)
    first[:250] = np.repeat([24, 30, 36, 42, 48], 50)
    values += 2.0 * (np.arange(PERIODS)[None, :] >= first[:, None])
    frame = pd.DataFrame({"pcn": np.repeat(np.arange(PCNS), PERIODS),
                          "month": np.tile(np.arange(PERIODS), PCNS), "value": values.ravel(),
                          "first": np.repeat(first, PERIODS)})
    started, cpu = time.perf_counter(), time.process_time()
    result = callaway_santanna(frame, "value", "pcn", "month", "first", inference="bootstrap",
                               draws=999)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    simple = result.simple.iloc[0]
    print(f"did: {PCNS:,} PCNs x {PERIODS} periods, {len(result.group_time)} group-time cells, "
          f"999 bootstrap draws: {elapsed:.2f} s wall, {cpu:.2f} s CPU (target < 30 s); effect {simple['estimate']:.3f} "
          f"(planted 2) [{simple['lower']:.3f}, {simple['upper']:.3f}], pre-trend p = "
          f"{result.pretrend['p_value']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="spc,synth,did")
    wanted = parser.parse_args().only.split(",")
    print(machine())
    for name, run in (("spc", bench_spc), ("synth", bench_synth), ("did", bench_did)):
        if name in wanted:
            run()


if __name__ == "__main__":
    main()
