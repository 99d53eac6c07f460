"""Benchmark the need analysis at England scale: every gap and inequality table in one build.

Synthetic England: 6,300 practices in 1,260 PCNs, 106 Sub-ICBs and 42 ICBs; 33,755 LSOAs with
IMD scores and deciles; practice x LSOA registrations (each practice ~40 LSOAs holding most of
its patients and ~110 with a handful, about 950,000 rows, 60M patients); QOF registers for the
21 conditions with their list types; practice IMD scores; childhood-immunisation uptake for 13
items. No age file, so the model uses the QOF list-type denominators (as for the real national
years). Target: the whole need build (model, prevalence_gap at every level, prevalence_gap_lsoa,
uptake_gap, inequality at quintiles and deciles, core20plus5, written to the store) < 60 s on
2 cores.

Run: .venv/bin/python benchmarks/need.py [--practices 6300] [--db /tmp/need-bench.duckdb]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

import placehealth.sources.uptake  # noqa: F401  (registers the uptake table)
from placehealth.analyses import inequality, need
from placehealth.sources.base import ReadResult
from placehealth.store import Store

try:
    from measures import machine  # benchmarks/measures.py
except ImportError:  # pragma: no cover
    def machine() -> str:
        return "unknown machine"

#: The 21 QOF groups with their list types and a rough England prevalence (QOF 2020/21), and
#: how strongly each rises with deprivation and with the share of the list aged 50+.
CONDITIONS = {
    "AF": ("TOTAL", 0.0205, -0.1, 1.2), "AST": ("06OV", 0.0638, 0.15, 0.0),
    "CAN": ("TOTAL", 0.0321, -0.1, 1.0), "CHD": ("TOTAL", 0.0305, 0.25, 1.2),
    "CKD": ("18OV", 0.0396, 0.1, 1.2), "COPD": ("TOTAL", 0.0193, 0.45, 1.0),
    "DEM": ("TOTAL", 0.0071, 0.05, 1.5), "DEP": ("18OV", 0.1229, 0.2, 0.0),
    "DM": ("17OV", 0.0711, 0.25, 0.8), "EP": ("18OV", 0.0080, 0.2, 0.0),
    "HF": ("TOTAL", 0.0091, 0.25, 1.2), "HYP": ("TOTAL", 0.1393, 0.1, 1.2),
    "LD": ("TOTAL", 0.0053, 0.2, 0.0), "MH": ("TOTAL", 0.0095, 0.45, 0.0),
    "NDH": ("18OV", 0.0531, 0.15, 0.8), "OB": ("18OV", 0.0688, 0.3, 0.3),
    "OST": ("50OV", 0.0090, 0.0, 0.5), "PAD": ("TOTAL", 0.0059, 0.3, 1.0),
    "PC": ("TOTAL", 0.0045, 0.0, 0.5), "RA": ("16OV", 0.0077, 0.1, 0.5),
    "STIA": ("TOTAL", 0.0180, 0.15, 1.0),
}
ITEMS = [("12 months", i) for i in ("DTaPIPVHibHepB", "MenB", "PCV1", "PCV2", "Rota")] + \
        [("24 months", i) for i in ("DTaP/IPV/Hib(Hep)", "Hib/MenC", "MMR1", "MenB Booster",
                                    "PCV Booster")] + \
        [("5 years", i) for i in ("DTaPIPV", "MMR1", "MMR2")]


def england(practices: int = 6300, lsoas: int = 33_755, seed: int = 1) -> dict[str, pd.DataFrame]:
    """Canonical frames of a synthetic England."""
    rng = np.random.default_rng(seed)
    pcns = practices // 5
    lsoa_codes = np.array([f"E01{i:06d}" for i in range(lsoas)])
    # deprivation clustered along the LSOA sequence (neighbouring codes are neighbours here)
    field = np.convolve(rng.normal(size=lsoas + 200), np.ones(200) / 14, "same")[100:100 + lsoas]
    score = np.exp(2.8 + 0.6 * field)
    rank = score.argsort()[::-1].argsort() + 1
    decile = np.ceil(rank / lsoas * 10).astype(int)
    imd = pd.DataFrame({"edition": "IoD2025", "lsoa_code": lsoa_codes, "lsoa_vintage": 2021,
                        "domain": "imd", "score": score, "rank": rank, "decile": decile})
    codes = np.array([f"A{i:05d}" for i in range(practices)])
    pcn_of = np.arange(practices) // 5
    pcn_codes = np.array([f"U{i:05d}" for i in range(pcns)])
    sub_icb_of = pcn_of * 106 // pcns
    icb_of = sub_icb_of * 42 // 106
    mapping = pd.DataFrame({
        "period": "2025-03", "practice_code": codes, "practice_name": [f"Practice {c}" for c in codes],
        "pcn_code": pcn_codes[pcn_of], "pcn_name": [f"PCN {p}" for p in pcn_codes[pcn_of]],
        "sub_icb_code": [f"S{s:02d}" for s in sub_icb_of], "icb_code": [f"Q{i:02d}" for i in icb_of],
    })
    # registrations: 40 core LSOAs around the practice's PCN home, 110 tail LSOAs anywhere
    home = (pcn_of + 0.5) * lsoas / pcns
    core = np.clip((home[:, None] + rng.normal(0, 25, (practices, 40))).astype(int), 0, lsoas - 1)
    tail = rng.integers(0, lsoas, (practices, 110))
    list_size = rng.lognormal(np.log(8500), 0.5, practices).clip(1500, 60000)
    core_n = rng.dirichlet(np.ones(40), practices) * list_size[:, None] * 0.97
    tail_n = rng.integers(1, 6, (practices, 110)).astype(float)
    reg = pd.DataFrame({
        "practice_code": np.repeat(codes, 150),
        "lsoa_code": lsoa_codes[np.concatenate([core, tail], axis=1).ravel()],
        "patients": np.round(np.concatenate([core_n, tail_n], axis=1).ravel()).astype(int),
    })
    reg = reg.groupby(["practice_code", "lsoa_code"], as_index=False)["patients"].sum()
    reg = reg[reg["patients"] > 0]
    registrations = reg.assign(period="2025-03", practice_name=None, lsoa_vintage=2021,
                               lsoa_known=True, sex="ALL")
    # practice deprivation: registration-weighted LSOA score
    weighted = reg.assign(s=reg["patients"] * pd.Series(score, index=lsoa_codes)
                          .reindex(reg["lsoa_code"]).to_numpy())
    by = weighted.groupby("practice_code")[["s", "patients"]].sum()
    practice_imd = (by["s"] / by["patients"]).reindex(codes).to_numpy()
    attributes = pd.DataFrame({"period": "2023-01", "practice_code": codes,
                               "attribute": "imd_score", "value": practice_imd})
    # QOF registers
    totals = by["patients"].reindex(codes).to_numpy(dtype=float)
    old = rng.beta(6, 9, practices)                      # share aged 50+
    young = rng.beta(4, 14, practices)                   # share under 18
    sizes = {"TOTAL": totals, "06OV": totals * (1 - young * 0.35), "16OV": totals * (1 - young * 0.9),
             "17OV": totals * (1 - young * 0.95), "18OV": totals * (1 - young),
             "50OV": totals * old}
    z = (np.log(practice_imd) - np.log(practice_imd).mean()) / np.log(practice_imd).std()
    under = np.where(rng.random(practices) < 0.05, 0.75, 1.0)   # a few under-recording practices
    rows = []
    for group, (list_type, prevalence, gradient, age) in CONDITIONS.items():
        logit = np.log(prevalence / (1 - prevalence)) + gradient * z + age * (old - old.mean()) * 4
        p = 1 / (1 + np.exp(-logit)) * under
        n = np.round(sizes[list_type]).astype(int)
        rows.append(pd.DataFrame({"period": "2024-25", "practice_code": codes, "group_code": group,
                                  "register": rng.binomial(n, p), "list_type": list_type,
                                  "list_size": n}))
    qof = pd.concat(rows, ignore_index=True)
    cohort = np.maximum(np.round(totals * 0.011), 5).astype(int)
    uptake = pd.concat([pd.DataFrame({
        "period": "2024-25", "area_level": "practice", "area_code": codes, "indicator": item,
        "age": age, "numerator": rng.binomial(cohort, 0.9 - 0.02 * z.clip(-2, 2)),
        "denominator": cohort}) for age, item in ITEMS], ignore_index=True)
    return {"imd": imd, "practice_pcn": mapping, "registrations_lsoa": registrations,
            "practice_attributes": attributes, "qof_prevalence": qof, "uptake": uptake}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--practices", type=int, default=6300)
    parser.add_argument("--db", default="/tmp/placehealth-need-bench.duckdb")
    args = parser.parse_args()
    print(machine())
    started = time.perf_counter()
    frames = england(args.practices)
    Path(args.db).unlink(missing_ok=True)
    store = Store(args.db)
    store.ingest([ReadResult("bench", "synthetic England", "bench", {name: frame},
                             file_name=name, sha256=name) for name, frame in frames.items()])
    print(f"setup (synthesise + load, not timed): {time.perf_counter() - started:.1f} s; "
          + ", ".join(f"{k} {len(v):,}" for k, v in frames.items()))
    timings: dict[str, tuple[float, float]] = {}

    def timed(label, function, *a, **k):
        t, c = time.perf_counter(), time.process_time()
        value = function(*a, **k)
        timings[label] = (time.perf_counter() - t, time.process_time() - c)
        return value

    t0, c0 = time.perf_counter(), time.process_time()
    model, gap, practice = timed("model + prevalence_gap (all levels)", need.prevalence_gaps, store)
    lsoa = timed("prevalence_gap_lsoa", need.lsoa_gaps, store, practice)
    uptake = timed("uptake_gap", need.uptake_gaps, store)
    ineq = timed("inequality", inequality.inequality, store, practice, lsoa)
    core = timed("core20plus5", inequality.core20plus5, store, gap, lsoa, uptake)
    tables = {"prevalence_model": model, "prevalence_gap": gap, "prevalence_gap_lsoa": lsoa,
              "uptake_gap": uptake, "inequality": ineq, "core20plus5": core}

    def write() -> None:
        for name, frame in tables.items():
            store.replace_table(name, frame)

    timed("write tables", write)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{'step':40s} {'wall':>8s} {'CPU':>8s}   (CPU = this process, all threads)")
    for label, (seconds, used) in timings.items():
        print(f"{label:40s} {seconds:6.1f} s {used:6.1f} s")
    print(f"{'TOTAL need build':40s} {total:6.1f} s {cpu:6.1f} s  (target < 60 s wall on 2 cores)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print("rows: " + ", ".join(f"{k} {len(v):,}" for k, v in tables.items()))
    print("inequality groups: " + ", ".join(
        f"{lvl} q{q} {n:,}" for (lvl, q), n in
        ineq[ineq.measure == "sii"].groupby(["area_level", "quantiles"]).size().items()))
    store.close()


if __name__ == "__main__":
    main()
