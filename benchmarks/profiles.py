"""Benchmark: build every profile table for an England-sized synthetic month.

Generates (numpy, seed 1) a store with 6,300 practices in 1,260 PCNs, 106 Sub-ICBs and 42 ICBs,
33,755 LSOA 2021 codes in 296 authorities and 7,000 wards, ~1M practice x LSOA registration rows
(~60M patients, 2% in unknown LSOAs), practice x sex x 5-year age bands, IoD2025 scores for the
overall index and seven domains, Census TS021 ethnic groups and rural-urban classes; then times
``build_profiles`` for that month. Run: ``.venv/bin/python benchmarks/profiles.py [--cross]``
(``--cross`` also loads IMD2019 on LSOA 2011 codes with a synthetic lookup and profiles with it).
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

from placehealth.analyses.profile import build_profiles
from placehealth.sources.base import ReadResult
from placehealth.store import Store

PRACTICES, LSOAS, PCNS, SUB_ICBS, ICBS, LAS, WARDS = 6300, 33755, 1260, 106, 42, 296, 7000
PERIOD = "2025-10"
DOMAINS = ["imd", "income", "employment", "education", "health", "crime", "housing",
           "environment"]


def _ingest(store: Store, table: str, frame: pd.DataFrame, period: str = PERIOD) -> None:
    digest = hashlib.sha256(f"{table}{len(frame)}{period}".encode()).hexdigest()
    store.ingest([ReadResult("bench", "synthetic", period, {table: frame},
                             file_name=f"{table}.csv", sha256=digest)])


def synthetic_store(path: str, cross: bool = False) -> tuple[Store, int]:
    rng = np.random.default_rng(1)
    lsoa = np.array([f"E01{i:06d}" for i in range(1, LSOAS + 1)])
    practice = np.array([f"{chr(65 + i % 26)}{i:05d}" for i in range(PRACTICES)])
    # each practice draws ~160 LSOAs around its position on a line through the country
    centre = np.sort(rng.integers(0, LSOAS, PRACTICES))
    n = rng.integers(130, 270, PRACTICES)
    p_idx = np.repeat(np.arange(PRACTICES), n)
    l_idx = np.clip(np.repeat(centre, n) + rng.normal(0, 120, n.sum()).astype(int), 0, LSOAS - 1)
    pairs = pd.DataFrame({"p": p_idx, "l": l_idx}).drop_duplicates()
    patients = rng.lognormal(3.5, 1.0, len(pairs)).astype(int) + 1
    reg = pd.DataFrame({"practice_code": practice[pairs["p"]], "lsoa_code": lsoa[pairs["l"]],
                        "patients": patients})
    unknown = pd.DataFrame({"practice_code": practice, "lsoa_code": "EMPTY",
                            "patients": rng.integers(20, 200, PRACTICES)})
    reg = pd.concat([reg, unknown], ignore_index=True)
    reg["period"], reg["sex"], reg["lsoa_vintage"] = PERIOD, "ALL", 2021
    reg["lsoa_known"] = reg["lsoa_code"] != "EMPTY"
    store = Store(path)
    _ingest(store, "registrations_lsoa", reg)
    pcn = np.arange(PRACTICES) * PCNS // PRACTICES
    sub = pcn * SUB_ICBS // PCNS
    icb = sub * ICBS // SUB_ICBS
    _ingest(store, "practice_pcn", pd.DataFrame({
        "period": PERIOD, "practice_code": practice, "practice_name": [f"Practice {p}" for p in practice],
        "pcn_code": [f"U{i:05d}" for i in pcn], "pcn_name": [f"PCN {i}" for i in pcn],
        "sub_icb_code": [f"{i:02d}X" for i in sub], "icb_code": [f"Q{i:02d}" for i in icb]}))
    score = rng.gamma(2.0, 10.0, LSOAS)
    decile = np.ceil(10 * pd.Series(-score).rank(method="first").to_numpy() / LSOAS).astype(int)
    imd = pd.concat([pd.DataFrame({"lsoa_code": lsoa, "domain": d,
                                   "score": score * (1 if d == "imd" else rng.uniform(0.5, 1.5)),
                                   "decile": decile}) for d in DOMAINS])
    _ingest(store, "imd", imd.assign(edition="IoD2025", lsoa_vintage=2021), "IoD2025")
    ages = []
    for sex in ("MALE", "FEMALE"):
        for a in range(0, 95, 5):
            ages.append(pd.DataFrame({"practice_code": practice, "sex": sex, "age_from": a,
                                      "age_to": a + 4, "patients": rng.integers(50, 500, PRACTICES)}))
        ages.append(pd.DataFrame({"practice_code": practice, "sex": sex, "age_from": 95,
                                  "age_to": None, "patients": rng.integers(0, 20, PRACTICES)}))
    _ingest(store, "registrations_age", pd.concat(ages).assign(period=PERIOD))
    census = []
    residents = rng.integers(1000, 3000, LSOAS)
    shares = rng.dirichlet([1, 0.3, 0.2, 5, 0.1], LSOAS)
    for i, group in enumerate(["Asian, Asian British or Asian Welsh: Indian", "Black: African",
                               "Mixed: Other", "White: Irish", "Other ethnic group: Arab"]):
        census.append(pd.DataFrame({"lsoa_code": lsoa, "category": group,
                                    "residents": (residents * shares[:, i]).astype(int)}))
    census.append(pd.DataFrame({"lsoa_code": lsoa, "category": "Total", "residents": residents}))
    _ingest(store, "census", pd.concat(census).assign(census_table="TS021", lsoa_vintage=2021),
            "TS021")
    la = np.arange(LSOAS) * LAS // LSOAS
    ward = np.arange(LSOAS) * WARDS // LSOAS
    ruc = rng.choice(["UN1", "UF1", "RSN1", "RLF1"], LSOAS, p=[0.7, 0.1, 0.1, 0.1])
    lookup = pd.concat([
        pd.DataFrame({"lsoa_code": lsoa, "level": "lad", "area_code": [f"E06{i:06d}" for i in la],
                      "area_name": [f"Authority {i}" for i in la]}),
        pd.DataFrame({"lsoa_code": lsoa, "level": "ward", "area_code": [f"E05{i:06d}" for i in ward],
                      "area_name": [f"Ward {i}" for i in ward]}),
        pd.DataFrame({"lsoa_code": lsoa, "level": "ruc", "area_code": ruc,
                      "area_name": np.where(np.char.startswith(ruc.astype(str), "R"), "Rural", "Urban")}),
    ]).assign(lsoa_vintage=2021, edition="2024")
    _ingest(store, "geography_lookup", lookup, "2024")
    if cross:  # IMD2019 on LSOA11 codes: 2% of LSOA21s came from splits, 1% from merges
        codes11 = lsoa.copy()
        changes = pd.DataFrame({"lsoa11_code": codes11, "lsoa21_code": lsoa, "change_code": "U"})
        split = rng.choice(LSOAS - 1, LSOAS // 50, replace=False)
        changes.loc[split, "lsoa11_code"] = changes.loc[split + 1, "lsoa11_code"].values
        changes.loc[split, "change_code"] = "S"
        changes = changes.drop_duplicates(["lsoa11_code", "lsoa21_code"])
        _ingest(store, "lsoa_changes", changes, "lookup")
        eleven = changes["lsoa11_code"].unique()
        _ingest(store, "imd", pd.DataFrame({"lsoa_code": eleven, "domain": "imd",
                                            "score": rng.gamma(2.0, 10.0, len(eleven)),
                                            "decile": rng.integers(1, 11, len(eleven))})
                .assign(edition="IMD2019", lsoa_vintage=2011), "IMD2019")
    return store, len(reg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cross", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        store, rows = synthetic_store(os.path.join(tmp, "bench.duckdb"), args.cross)
        print(f"synthetic store: {rows:,} practice x LSOA rows in {time.perf_counter() - started:.1f} s")
        runs = [("IoD2025 (same vintage)", None)] + ([("IMD2019 via LSOA21->LSOA11", "IMD2019")]
                                                   if args.cross else [])
        for label, edition in runs:
            started, cpu = time.perf_counter(), time.process_time()
            written = build_profiles(store, imd_edition=edition)
            elapsed = time.perf_counter() - started
            print(f"build_profiles, {label}: {elapsed:.2f} s wall, "
                  f"{time.process_time() - cpu:.2f} s CPU (all threads)")
            for name, count in written.items():
                print(f"  {name}: {count:,} rows")
        store.close()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
