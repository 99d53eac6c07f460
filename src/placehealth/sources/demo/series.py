"""Demo series and interventions: several years of a quarterly PCN indicator with seasonality
and autocorrelated noise, and two registered interventions with known planted effects.

The indicator ``demo_bp_controlled`` is the percentage of each PCN's hypertension register
whose latest blood pressure is within target, by calendar quarter (2019Q1 onwards). Each PCN's
true percentage is its own level (normal around 62%, sd 5) plus a shared slow rise
(0.15 points a quarter), a seasonal swing (winter lower: -1.2, -0.3, +0.9, +0.6 points in
Q1..Q4), its own AR(1) deviation (rho 0.5, innovation sd 0.7 points) and, from an
intervention's start, its planted effect; the numerator is binomial on a register of about
14% of the PCN's list. ``bp-outreach`` (pharmacy outreach at one PCN) adds ``EFFECT`` points
from its start; ``leaflet-drop`` (a leaflet at another PCN) adds nothing. Both are in the
register file and in ``demo-truth.json`` (``interventions``), so tests can check that the
evaluation finds the one that works and not the one that does not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

INDICATOR = "demo_bp_controlled"
FIRST_QUARTER = (2019, 1)
QUARTERS = 26  # 2019Q1 .. 2025Q2
SEASON = np.array([-1.2, -0.3, 0.9, 0.6])
EFFECT = 4.0
STARTS = {"bp-outreach": 16, "leaflet-drop": 18}  # quarter index of each start (2023Q1, 2023Q3)


def quarter_label(index: int) -> str:
    year, quarter = divmod(FIRST_QUARTER[0] * 4 + FIRST_QUARTER[1] - 1 + index, 4)
    return f"{year}Q{quarter + 1}"


def build_series(rng: np.random.Generator, pcn_code: np.ndarray, pcn_patients: np.ndarray
                 ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(series rows, register rows, truth) for the PCNs (codes and registered patients)."""
    n = len(pcn_code)
    order = np.argsort(-pcn_patients)  # treated: two mid-sized PCNs, chosen by size rank
    treated = {"bp-outreach": int(order[n // 3]), "leaflet-drop": int(order[n // 2])}
    effects = {"bp-outreach": EFFECT, "leaflet-drop": 0.0}
    level = rng.normal(62, 5, n)
    deviation = np.zeros((n, QUARTERS))
    shocks = rng.normal(0, 0.7, (n, QUARTERS))
    deviation[:, 0] = shocks[:, 0] / np.sqrt(1 - 0.5**2)
    for t in range(1, QUARTERS):
        deviation[:, t] = 0.5 * deviation[:, t - 1] + shocks[:, t]
    t = np.arange(QUARTERS)
    season = SEASON[(FIRST_QUARTER[1] - 1 + t) % 4]
    truth = level[:, None] + 0.15 * t[None, :] + season[None, :] + deviation
    for name, unit in treated.items():
        truth[unit, STARTS[name]:] += effects[name]
    truth = np.clip(truth, 1, 99)
    register = np.maximum(50, np.round(0.14 * pcn_patients[:, None] * rng.normal(1, 0.02, (n, QUARTERS))))
    numerator = rng.binomial(register.astype(int), truth / 100)
    rows = pd.DataFrame({
        "unit_code": np.repeat(pcn_code, QUARTERS),
        "period": np.tile([quarter_label(i) for i in range(QUARTERS)], n),
        "indicator": INDICATOR,
        "numerator": numerator.ravel(),
        "denominator": register.astype(int).ravel(),
    })
    entries = pd.DataFrame([
        {"name": "bp-outreach", "description": "Community pharmacists call patients whose blood "
         "pressure is above target and recheck it", "level": "pcn",
         "unit_codes": pcn_code[treated["bp-outreach"]], "start": quarter_label(STARTS["bp-outreach"]),
         "end": "", "indicators": f"{INDICATOR}:up"},
        {"name": "leaflet-drop", "description": "A leaflet on home blood pressure monitoring "
         "posted to every registered adult", "level": "pcn",
         "unit_codes": pcn_code[treated["leaflet-drop"]], "start": quarter_label(STARTS["leaflet-drop"]),
         "end": "", "indicators": f"{INDICATOR}:up"},
    ])
    facts = {name: {"unit": str(pcn_code[unit]), "start": quarter_label(STARTS[name]),
                    "indicator": INDICATOR, "planted_effect": effects[name],
                    "scale": "percentage points, from the start on"}
             for name, unit in treated.items()}
    return rows, entries, facts


def write(out: Path, rows: pd.DataFrame, entries: pd.DataFrame) -> list[Path]:
    """The series (a local indicator's long CSV) and the register file."""
    out.mkdir(parents=True, exist_ok=True)
    series, register = out / f"{INDICATOR}_quarterly.csv", out / "interventions.csv"
    rows.to_csv(series, index=False)
    entries.to_csv(register, index=False)
    return [series, register]
