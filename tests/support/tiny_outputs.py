"""A tiny store for the output tests: two PCNs, eight neighbourhoods, small counts on purpose.

Written directly (not through readers) so the output tests stand alone; the browser tests use
the demo generator instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from placehealth.store import Store

PERIOD = "2025-10"
PCNS = {"U00001": "NORTH DEMO PCN", "U00002": "SOUTH DEMO PCN"}
PRACTICES = {"A00001": ("U00001", "North Surgery"), "A00002": ("U00001", "Hill Practice"),
             "B00001": ("U00002", "South Health Centre"), "B00002": ("U00002", "Bay Surgery")}
LSOAS = [f"E0100000{i}" for i in range(1, 9)]
#: PCN x LSOA registered patients; U00001 has small counts in E01000004 (3) and E01000005 (5).
PCN_LSOA = {
    "U00001": [900, 800, 700, 3, 5, 150, 0, 0],
    "U00002": [20, 40, 300, 600, 700, 6, 1000, 1200],
}
DECILE = [1, 1, 2, 3, 5, 6, 8, 10]


def square(i: int, j: int = 0) -> str:
    x, y = -1.5 + 0.01 * i, 52.0 + 0.01 * j
    ring = [[x, y], [x + 0.01, y], [x + 0.01, y + 0.01], [x, y + 0.01], [x, y]]
    return json.dumps({"type": "Polygon", "coordinates": [ring]})


def profile(level: str, code: str, name: str, patients: float, core20: float, **extra) -> dict:
    deciles = {f"imd_decile_{d}_pct": 10.0 for d in range(1, 11)}
    deciles["imd_decile_1_pct"] = core20 / 2
    deciles["imd_decile_2_pct"] = core20 / 2
    deciles["imd_decile_10_pct"] = 10.0 + 20.0 - core20
    return {"period": PERIOD, "level": level, f"{level}_code": code, "unit_code": code,
            "unit_name": name, "patients": patients, "practices": 2, "imd_score": 30.0 - core20 / 10,
            **deciles, "core20_pct": core20, "pct_65_plus": 18.0, "pct_non_white": 12.0, **extra}


def build(path: Path) -> Path:
    """Write the tiny store at ``path`` and return it."""
    pcn_lsoa_rows = []
    for pcn, counts in PCN_LSOA.items():
        total = sum(counts)
        for lsoa, patients in zip(LSOAS, counts, strict=True):
            if patients == 0:
                continue
            lsoa_total = sum(PCN_LSOA[p][LSOAS.index(lsoa)] for p in PCNS)
            pcn_lsoa_rows.append({"period": PERIOD, "pcn_code": pcn, "pcn_name": PCNS[pcn],
                                  "lsoa_code": lsoa, "patients": float(patients),
                                  "pcn_share_pct": 100 * patients / total,
                                  "lsoa_share_pct": 100 * patients / lsoa_total,
                                  "in_footprint_80": True, "lsoa_vintage": 2021})
    pcn_totals = {p: float(sum(c)) for p, c in PCN_LSOA.items()}
    lsoa_totals = {lsoa: float(sum(PCN_LSOA[p][i] for p in PCNS)) for i, lsoa in enumerate(LSOAS)}
    tables = {
        "pcn_lsoa": pd.DataFrame(pcn_lsoa_rows),
        "pcn_profile": pd.DataFrame([profile("pcn", p, n, pcn_totals[p], 30.0 if p == "U00001" else 8.0)
                                     for p, n in PCNS.items()]),
        "practice_profile": pd.DataFrame([
            profile("practice", code, name, pcn_totals[pcn] / 2, 20.0, pcn_code=pcn,
                    pcn_name=PCNS[pcn], icb_code="QZ1", icb_name="NHS Demo ICB")
            for code, (pcn, name) in PRACTICES.items()]),
        "lsoa_profile": pd.DataFrame([
            profile("lsoa", lsoa, None, lsoa_totals[lsoa], 100.0 if DECILE[i] <= 2 else 0.0,
                    imd_score_decile=DECILE[i], pcns=2, largest_pcn_code="U00001")
            for i, lsoa in enumerate(LSOAS)]).assign(unit_name=None),
        "icb_profile": pd.DataFrame([profile("icb", "QZ1", "NHS Demo ICB", sum(pcn_totals.values()), 20.0)]),
        "la_profile": pd.DataFrame([profile("la", "E06000001", "Demoshire", sum(pcn_totals.values()), 20.0)]),
        "pcn_la": pd.DataFrame([{"period": PERIOD, "pcn_code": p, "pcn_name": n, "la_code": "E06000001",
                                 "la_name": "Demoshire", "patients": pcn_totals[p],
                                 "pcn_share_pct": 100.0, "la_share_pct": 50.0} for p, n in PCNS.items()]),
        "fragmented_lsoas": pd.DataFrame([{"period": PERIOD, "lsoa_code": lsoa, "patients": lsoa_totals[lsoa],
                                           "pcns": 2, "largest_pcn_code": "U00001",
                                           "largest_pcn_pct": 60.0, "imd_score": 40.0}
                                          for lsoa in LSOAS[:3]]),
        "prevalence_gap": pd.DataFrame([
            {"period": "2024-25", "level": "pcn", "area_code": p, "area_name": n, "group_code": g,
             "observed": obs, "expected": exp, "list_size": pcn_totals[p],
             "observed_prevalence": obs / pcn_totals[p], "expected_prevalence": exp / pcn_totals[p],
             "ratio": obs / exp, "ratio_lowercl": obs / exp * 0.9, "ratio_uppercl": obs / exp * 1.1,
             "missing": exp - obs, "significantly_low": obs < exp, "model": "demo"}
            for p, n in PCNS.items() for g, obs, exp in
            [("HYP", 300.0, 420.0), ("DM", 150.0, 160.0), ("LD", 4.0, 9.0)]]),
        "comparison": pd.DataFrame([
            {"indicator": "qof_hyp_prevalence", "level": "pcn", "unit_code": p, "unit_name": n,
             "period": "2024-25", "numerator": num, "denominator": pcn_totals[p], "value": num / pcn_totals[p],
             "lowercl": num / pcn_totals[p] * 0.9, "uppercl": num / pcn_totals[p] * 1.1,
             "polarity": "high_is_good", "england_value": 0.14, "vs_england": "lower",
             "peer_mean": 0.12, "vs_peers": "similar", "national_decile": 3}
            for (p, n), num in zip(PCNS.items(), [300.0, 520.0], strict=True)]),
        "funnel": pd.DataFrame([
            {"indicator": "qof_hyp_prevalence", "level": "pcn", "period": "2024-25", "unit_code": p,
             "unit_name": n, "numerator": num, "denominator": pcn_totals[p], "value": num / pcn_totals[p],
             "target": 0.12, "lower95_0limit": 0.1, "upper95_0limit": 0.14, "lower99_8limit": 0.09,
             "upper99_8limit": 0.15, "position": "within"}
            for (p, n), num in zip(PCNS.items(), [300.0, 520.0], strict=True)]),
        "peers": pd.DataFrame([{"unit_code": "U00001", "peer_code": "U00002", "rank": 1, "distance": 0.5,
                                "level": "pcn", "period": PERIOD, "within": within}
                               for within in ("england", "icb")]),
        "indicators": pd.DataFrame({"name": ["qof_hyp_prevalence"],
                                    "title": ["Hypertension recorded prevalence (QOF HYP)"]}),
        "groups": pd.DataFrame({"group_name": "East Side", "member_type": "lsoa",
                                "member_code": LSOAS[:4]}),
        "group_profile": pd.DataFrame([profile("group", "East Side", "East Side",
                                               sum(lsoa_totals[c] for c in LSOAS[:4]), 50.0)]),
        "boundaries": pd.DataFrame([{"level": "lsoa21", "area_code": lsoa, "area_name": f"Demo {i + 1}",
                                     "geometry": square(i)} for i, lsoa in enumerate(LSOAS)]),
        "loads": pd.DataFrame([{"load_id": 1, "file_name": "gp-reg-pat-prac-lsoa-all.csv", "sha256": "x",
                                "kind": "gp-reg-lsoa",
                                "publication": "NHS England, Patients Registered at a GP Practice",
                                "period": PERIOD, "rows": 10, "tables": "registrations_lsoa",
                                "loaded_at": "2026-01-01T00:00:00"}]),
    }
    with Store(path) as store:
        for name, frame in tables.items():
            store.replace_table(name, frame)
    return path
