"""Simulated QOF registers for a real registered population, with planted under-recording.

Used to calibrate the need flag (how often it finds a practice missing a given share of its
register, and how often it flags one missing none): given each practice's registered patients by
sex and single year of age and its deprivation score,

    true prevalence = Σ over ages of patients x age-specific rate / list size
                      x exp(gradient x (IMD score − mean) / 10) x exp(u),  u ~ N(0, τ²)

(u is the practice variation no model explains), the true register is Binomial(list, prevalence),
and a practice missing a share m records Binomial(true register, 1 − m).

The age-specific rates are round figures of the shape of recorded prevalence in England (QOF
2020/21 national prevalence: hypertension 13.9% of all ages, diabetes 7.1% of 17+, COPD 1.9%), not
estimates for any place; the deprivation gradients give the roughly 1.1x (hypertension),
1.5x (diabetes) and 2.5x (COPD) spread from least to most deprived practice quintile seen in QOF.
The default τ of each condition is the between-practice τ of log(O/E) the need model leaves in
England's QOF 2020/21 (adjusting for list ages and practice IMD; 0.09, 0.13 and 0.22); ``tau``
overrides it (e.g. 0: registers drawn from the model alone).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from placehealth.sources import ReadOptions, read_file
from placehealth.sources.base import ReadResult


@dataclass(frozen=True)
class SimulatedCondition:
    """Rates by age band (first age of each band -> share of people with the condition), the
    log relative risk per 10 points of IMD score, and the practice variation τ (log scale)."""

    code: str
    rates: tuple[tuple[int, float], ...]
    gradient: float
    tau: float


CONDITIONS = (
    SimulatedCondition("HYP", ((0, 0.0), (18, 0.015), (30, 0.04), (40, 0.09), (50, 0.19),
                               (60, 0.33), (70, 0.48), (80, 0.58)), 0.02, 0.09),
    SimulatedCondition("DM", ((0, 0.001), (18, 0.012), (30, 0.03), (40, 0.06), (50, 0.11),
                              (60, 0.16), (70, 0.2), (80, 0.18)), 0.12, 0.13),
    SimulatedCondition("COPD", ((0, 0.0), (35, 0.002), (40, 0.006), (50, 0.02), (60, 0.045),
                                (70, 0.075), (80, 0.08)), 0.25, 0.22),
)


def _rate_by_age(condition: SimulatedCondition, ages: np.ndarray) -> np.ndarray:
    starts = np.array([a for a, _ in condition.rates])
    values = np.array([r for _, r in condition.rates])
    return values[np.searchsorted(starts, ages, side="right") - 1]


def simulate_registers(ages: pd.DataFrame, imd_score: pd.Series,
                       missing: Mapping[str, float] | None = None, *, period: str = "2020-21",
                       conditions: tuple[SimulatedCondition, ...] = CONDITIONS,
                       tau: float | None = None, seed: int = 1) -> pd.DataFrame:
    """QOF prevalence rows (period, practice_code, group_code, register, list_type, list_size)
    plus ``true_register`` and ``missing_share``, for the practices in ``ages``
    (practice_code, age_from, patients; every sex) with a score in ``imd_score`` (by practice).
    ``missing``: practice -> share of its true register not recorded (every condition)."""
    rng = np.random.default_rng(seed)
    ages = ages[ages["practice_code"].isin(imd_score.index)]
    by_age = ages.groupby(["practice_code", "age_from"])["patients"].sum().unstack(fill_value=0)
    practices = by_age.index.to_numpy()
    counts = by_age.to_numpy(dtype=float)
    list_size = counts.sum(1).round().astype(np.int64)
    score = imd_score.reindex(practices).to_numpy(dtype=float)
    centred = (score - np.nanmean(score)) / 10
    share = pd.Series(missing or {}, dtype=float).reindex(practices).fillna(0.0).to_numpy()
    rows = []
    for condition in conditions:
        base = counts @ _rate_by_age(condition, by_age.columns.to_numpy(dtype=float))
        sd = condition.tau if tau is None else tau
        prevalence = base / np.maximum(list_size, 1) * np.exp(condition.gradient * centred
                                                               + rng.normal(0, sd, len(practices)))
        true = rng.binomial(list_size, np.clip(prevalence, 0, 1))
        recorded = rng.binomial(true, 1 - share)
        rows.append(pd.DataFrame({
            "period": period, "practice_code": practices, "group_code": condition.code,
            "register": recorded, "list_type": "TOTAL", "list_size": list_size,
            "true_register": true, "missing_share": share}))
    return pd.concat(rows, ignore_index=True)


@dataclass
class Place:
    """A real registered population to simulate registers on: practice ages (practice_code, sex,
    age_from, patients), practice IMD scores (by practice) and PCN membership (practice_code,
    pcn_code)."""

    ages: pd.DataFrame
    imd_score: pd.Series
    pcn: pd.DataFrame


def read_place(ages_file: Path, lsoa_file: Path, imd_file: Path, mapping: pd.DataFrame,
               period: str = "2020-04") -> tuple[list[ReadResult], Place]:
    """Read a place's registrations by single year of age and by LSOA and an IMD file, with each
    practice's registration-weighted IMD score as the practice attribute ``imd_score`` and its
    PCN from ``mapping`` (practice_code, practice_name, pcn_name; PCN codes made up from the
    names). Only practices with ages are kept. Returns what to ingest (``Store.ingest``, in
    order) and the place."""
    ages = read_file(ages_file, options=ReadOptions(period=period))
    lsoa = read_file(lsoa_file)
    imd = read_file(imd_file)
    reg = lsoa.tables["registrations_lsoa"]
    reg = reg[reg["sex"] == "ALL"]
    scores = imd.tables["imd"]
    scores = scores[scores["domain"] == "imd"].set_index("lsoa_code")["score"].astype(float)
    reg = reg.assign(score=reg["lsoa_code"].map(scores)).dropna(subset=["score"])
    weighted = (reg["score"] * reg["patients"]).groupby(reg["practice_code"]).sum()
    practice_imd = weighted / reg.groupby("practice_code")["patients"].sum()
    age_rows = ages.tables["registrations_age"]
    practice_imd = practice_imd[practice_imd.index.isin(age_rows["practice_code"])]
    codes = {name: f"U{i:05d}" for i, name in enumerate(sorted(mapping["pcn_name"].unique()))}
    pcn = pd.DataFrame({"period": period, "practice_code": mapping["practice_code"],
                        "practice_name": mapping["practice_name"],
                        "pcn_code": mapping["pcn_name"].map(codes), "pcn_name": mapping["pcn_name"],
                        "sub_icb_code": "SIM", "icb_code": "SIM"})
    attributes = pd.DataFrame({"period": period, "practice_code": practice_imd.index,
                               "attribute": "imd_score", "value": practice_imd.to_numpy()})
    results = [ages, lsoa, imd, _simulated("practice_pcn", pcn),
               _simulated("practice_attributes", attributes)]
    return results, Place(age_rows, practice_imd, pcn[["practice_code", "pcn_code"]])


def _simulated(table: str, frame: pd.DataFrame) -> ReadResult:
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame).to_numpy().tobytes()).hexdigest()
    return ReadResult("simulation", "simulation", str(frame["period"].iloc[0]), {table: frame},
                      file_name=table, sha256=digest)


def qof_table(registers: pd.DataFrame) -> pd.DataFrame:
    """Simulated registers as the ``qof_prevalence`` table (the truth columns dropped), for
    ``Store.replace_table``."""
    return registers.drop(columns=["true_register", "missing_share"])


__all__ = ["CONDITIONS", "Place", "SimulatedCondition", "qof_table", "read_place",
           "simulate_registers"]
