"""Calibration of the need flag by simulation on a real registered population.

The place: the 74 practices of Pennine Lancashire (NHS Digital registrations April 2020: single
years of age and LSOA of residence), their deprivation as the registration-weighted IMD 2019 score
of where their patients live, and their PCNs. QOF registers for hypertension, diabetes and COPD
are simulated (:mod:`placehealth.sources.demo.registers`), the practices of the two PCNs serving
two PCNs drawn at random in each replicate record a share m fewer, and the need build
(:func:`placehealth.analyses.need.prevalence_gaps`, the flag every output shows) is run on them.

Prints, per condition and setting (τ = 0: registers drawn from the model; national τ: with the
unexplained between-practice variation of England's QOF), the share of planted practices flagged
at each m (the power curve) and the share of the others flagged (false flags).

    .venv/bin/python benchmarks/need_power.py [--replicates 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from placehealth.analyses import need
from placehealth.sources.demo.registers import qof_table, read_place, simulate_registers
from placehealth.store import Store

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
PLACE = DATA / "regional_subsets" / "pennine_lancashire_2020"
SHARES = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
LARGE = 250  # expected register of a "large" one


def two_pcns(pcn: pd.DataFrame, seed: int) -> list[str]:
    """The practices of two PCNs drawn at random."""
    chosen = np.random.default_rng(seed).choice(sorted(pcn["pcn_code"].unique()), 2, replace=False)
    return sorted(pcn.loc[pcn["pcn_code"].isin(chosen), "practice_code"])


def run_once(store: Store, ages: pd.DataFrame, imd: pd.Series, missing: dict[str, float],
             tau: float | None, seed: int) -> pd.DataFrame:
    """Simulate registers, build the gaps, return practice rows with the truth beside them."""
    qof = simulate_registers(ages, imd, missing, tau=tau, seed=seed)
    store.replace_table("qof_prevalence", qof_table(qof))
    _, gap, _ = need.prevalence_gaps(store)
    practices = gap[gap["level"] == "practice"]
    truth = qof[["practice_code", "group_code", "missing_share"]].rename(
        columns={"practice_code": "area_code"})
    return practices.merge(truth, on=["area_code", "group_code"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--db", default="/tmp/need_power.duckdb")
    args = parser.parse_args(argv)
    if not PLACE.exists():
        print(f"no {PLACE}: the shared data are needed", file=sys.stderr)
        return 2
    Path(args.db).unlink(missing_ok=True)
    started = time.time()
    store = Store(Path(args.db))
    mapping = pd.read_csv(PLACE / "pennine_practice_to_pcn_2020.csv").rename(columns={
        "PCode": "practice_code", "Practice Name": "practice_name", "PCN": "pcn_name"})
    results, place = read_place(PLACE / "gp-reg-pat-prac-sing-age_pennine_2020.csv",
                                PLACE / "gp-reg-pat-prac-lsoa-all_pennine_2020-04.csv",
                                DATA / "imd2019_lsoa11" / "imd2019_lsoa11_scores_mysociety.csv",
                                mapping)
    store.ingest(results)
    ages, imd, pcn = place.ages, place.imd_score, place.pcn
    print(f"{imd.size} practices in {pcn['pcn_code'].nunique()} PCNs; {args.replicates} "
          "replicates per share, each planting two PCNs drawn at random")
    rows = []
    for setting, tau in (("tau 0", 0.0), ("national tau", None)):
        for m in SHARES:
            for r in range(args.replicates):
                planted = two_pcns(pcn, r)
                out = run_once(store, ages, imd, dict.fromkeys(planted, m), tau, seed=1000 * r + 7)
                rows.append(out.assign(setting=setting, share=m,
                                       planted=out["area_code"].isin(planted)))
    every = pd.concat(rows, ignore_index=True)
    planted = every[every["planted"] & (every["expected"] >= LARGE)]
    curve = (planted.groupby(["setting", "group_code", "share"])
             ["significantly_low"].mean().unstack("share"))
    false = (every[~every["planted"]].groupby(["setting", "group_code"])
             ["significantly_low"].mean().rename("others flagged"))
    detectable = (every[every["share"] == 0].groupby(["setting", "group_code"])
                  ["detectable_shortfall"].median().rename("median detectable"))
    tau2 = (every.groupby(["setting", "group_code"])["tau2"].median() * 100).rename("tau2 x100")
    table = curve.join(false).join(detectable)
    print(f"% of planted practices (expected register >= {LARGE}) flagged, by share of the "
          "register missing; % of the other practices flagged; median detectable shortfall (%); "
          "median tau2 x 100:")
    print((table * 100).round(0).join(tau2.round(2)).to_string())
    print(f"{time.time() - started:.0f} s")
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
