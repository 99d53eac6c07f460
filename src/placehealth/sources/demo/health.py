"""Disease registers (QOF) and childhood immunisation uptake, with planted under-diagnosis.

True prevalence of each condition rises with age (a logistic age curve) and with deprivation
(a log-linear gradient), with higher diabetes and hypertension where South Asian and Black
residents live. It is calibrated so that the place's overall true prevalence equals England's
QOF 2020/21 recorded prevalence. Recorded = true x detection: detection is 1 except where it is
*planted* lower, in a patch of deprived LSOAs, in LSOAs with many minority-ethnic residents, and
at a few practices. The truth (which LSOAs and practices, by how much) is written beside the
files so that tests can check that the need analysis finds it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from placehealth.sources.demo.geography import Geography, smooth_field
from placehealth.sources.demo.population import AGES, BLACK, SOUTH_ASIAN, Population
from placehealth.sources.demo.registrations import Month, Practices


@dataclass(frozen=True)
class Condition:
    """A QOF register: its group, description, denominator, age curve and deprivation gradient."""

    code: str
    description: str
    list_type: str           # QOF PATIENT_LIST_TYPE: TOTAL, 06OV, 16OV, 17OV, 18OV, 50OV
    target: float            # England QOF 2020/21 recorded prevalence (register / list), %
    midpoint: float | None   # age at the middle of the logistic age curve (None = flat)
    width: float             # years per unit of the logistic curve
    gradient: float          # log relative prevalence per SD of deprivation
    undiagnosed: float       # how strongly planted detection gaps apply (0..1)
    indicators: tuple[tuple[str, int], ...]


#: England QOF 2020/21 recorded prevalence (register / list size, summed over practices) from the
#: raw PREVALENCE_2021 file; age and deprivation shapes are plausible, not fitted.
CONDITIONS: list[Condition] = [
    Condition("AF", "Atrial fibrillation", "TOTAL", 2.05, 75, 7, -0.05, 1.0, (("AF006", 12), ("AF007", 12))),
    Condition("AST", "Asthma", "06OV", 6.38, None, 1, 0.12, 0.6, (("AST005", 4), ("AST007", 20))),
    Condition("CAN", "Cancer", "TOTAL", 3.21, 68, 10, -0.05, 0.3, (("CAN001", 5), ("CAN003", 6))),
    Condition("CHD", "Secondary prevention of coronary heart disease", "TOTAL", 3.05, 70, 8, 0.25, 0.8, (("CHD005", 7), ("CHD008", 12))),
    Condition("CKD", "Chronic kidney disease", "18OV", 3.96, 75, 8, 0.12, 1.0, (("CKD005", 6),)),
    Condition("COPD", "Chronic obstructive pulmonary disease", "TOTAL", 1.93, 65, 9, 0.45, 1.0, (("COPD010", 7), ("COPD014", 2))),
    Condition("DEM", "Dementia", "TOTAL", 0.71, 85, 5, 0.05, 1.0, (("DEM004", 39),)),
    Condition("DEP", "Depression", "18OV", 12.29, None, 1, 0.2, 0.8, (("DEP003", 10),)),
    Condition("DM", "Diabetes mellitus", "17OV", 7.11, 58, 12, 0.25, 1.0, (("DM006", 3), ("DM012", 4))),
    Condition("HF", "Heart failure", "TOTAL", 0.91, 78, 7, 0.25, 0.8, (("HF005", 6), ("HF006", 9))),
    Condition("HYP", "Hypertension", "TOTAL", 13.93, 60, 10, 0.1, 1.0, (("HYP003", 14), ("HYP007", 19))),
    Condition("LD", "Learning disability", "TOTAL", 0.53, None, 1, 0.2, 0.3, (("LD004", 20),)),
    Condition("MH", "Mental health", "TOTAL", 0.95, None, 1, 0.45, 0.6, (("MH002", 4), ("MH003", 4))),
    Condition("NDH", "Non-diabetic hyperglycaemia", "18OV", 5.31, 60, 12, 0.15, 1.0, (("NDH001", 18),)),
    Condition("OB", "Obesity", "18OV", 6.88, 45, 15, 0.3, 0.6, (("OB002", 8),)),
    Condition("PAD", "Peripheral arterial disease", "TOTAL", 0.59, 72, 8, 0.3, 0.6, (("PAD001", 2),)),
    Condition("STIA", "Stroke and transient ischaemic attack", "TOTAL", 1.80, 75, 8, 0.15, 0.6, (("STIA007", 6), ("STIA009", 12))),
]

_LIST_AGE = {"TOTAL": 0, "06OV": 6, "16OV": 16, "17OV": 17, "18OV": 18, "50OV": 50}

#: Childhood immunisation items by age, with baseline uptake in affluent areas (COVER-like).
IMMUNISATIONS: list[tuple[str, str, float]] = [
    ("12 months", "DTaPIPVHibHepB", 0.95), ("12 months", "MenB", 0.94),
    ("12 months", "PCV1", 0.95), ("12 months", "Rota", 0.92),
    ("24 months", "DTaP/IPV/Hib(Hep)", 0.95), ("24 months", "MMR1", 0.92),
    ("24 months", "Hib/MenC", 0.92), ("24 months", "PCV Booster", 0.92),
    ("24 months", "MenB Booster", 0.91),
    ("5 years", "DTaP/IPV/Hib", 0.95), ("5 years", "MMR1", 0.94),
    ("5 years", "MMR2", 0.88), ("5 years", "DTaPIPV", 0.87), ("5 years", "Hib/MenC", 0.92),
]


@dataclass
class Health:
    """LSOA detection rates, practice QOF registers per year, immunisation uptake, and truth."""

    detection: np.ndarray            # (n_lsoas,) planted detection multiplier (1 = full)
    planted_deprived: np.ndarray     # bool per LSOA
    planted_minority: np.ndarray     # bool per LSOA
    practice_factor: np.ndarray      # (n_practices,) planted practice detection multiplier
    true_prevalence: np.ndarray      # (n_lsoas, n_conditions) true register / eligible residents
    qof: dict[str, dict[str, np.ndarray]]   # year -> {register, list_size, true_register,
    #                                         expected_recorded}: (n_practices, n_conditions)
    immunisation: dict[str, dict[str, np.ndarray]]  # year -> {numerator, denominator, uptake}


def _age_curve(c: Condition) -> np.ndarray:
    min_age = _LIST_AGE[c.list_type]
    eligible = min_age <= AGES
    if c.midpoint is None:
        curve = np.ones(len(AGES))
        if c.code == "DEP":  # depression: most common in working age
            curve = 0.6 + 0.6 * np.exp(-(((AGES - 40) / 18.0) ** 2))
    else:
        curve = 1 / (1 + np.exp(-(AGES - c.midpoint) / c.width))
    return curve * eligible


def condition_rates(geo: Geography, pop: Population
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each condition's true rate = scale x age curve x LSOA relative risk (capped at 0.9 of
    the eligible): the age curves (n_conditions, 91), the relative risks (n_lsoas,
    n_conditions) and the scales calibrating the place to England's prevalence."""
    residents = (pop.female + pop.male).astype(float)
    south_asian, black = pop.shares(SOUTH_ASIAN), pop.shares(BLACK)
    curves = np.array([_age_curve(c) for c in CONDITIONS])
    relatives = np.zeros((geo.n, len(CONDITIONS)))
    scales = np.zeros(len(CONDITIONS))
    for j, c in enumerate(CONDITIONS):
        relative = np.exp(c.gradient * geo.deprivation)
        if c.code == "DM":
            relative *= 1 + 1.5 * south_asian + 0.8 * black
        if c.code == "HYP":
            relative *= 1 + 0.6 * black
        relatives[:, j] = relative
        eligible = residents @ (curves[j] > 0)
        scales[j] = c.target / 100 * eligible.sum() / ((residents @ curves[j]) * relative).sum()
    return curves, relatives, scales


def build_health(rng: np.random.Generator, geo: Geography, pop: Population, prac: Practices,
                 month: Month, qof_years: list[str], imm_years: list[str],
                 imd_decile: np.ndarray) -> Health:
    """True prevalence by LSOA, planted detection gaps, practice registers and uptake."""
    n = geo.n
    residents = (pop.female + pop.male).astype(float)               # (n, 91)
    south_asian, black = pop.shares(SOUTH_ASIAN), pop.shares(BLACK)

    # Planted under-diagnosis: half of the Core20 LSOAs (those where a smooth field is high),
    # and LSOAs where minority-ethnic residents are a large share.
    patch = smooth_field(rng, geo.x, geo.y, float(np.ptp(geo.x) + 1), 4.0)
    core20 = imd_decile <= 2
    planted_deprived = core20 & (patch > (np.median(patch[core20]) if core20.any() else 0.0))
    planted_minority = (south_asian + black) > max(0.25, np.quantile(south_asian + black, 0.85))
    gap = np.where(planted_deprived, rng.uniform(0.25, 0.4, n), 0.0)
    gap = np.maximum(gap, np.where(planted_minority, rng.uniform(0.2, 0.3, n), 0.0))
    detection = 1 - gap
    practice_factor = np.where(rng.uniform(size=prac.n) < 0.08, rng.uniform(0.7, 0.85, prac.n),
                               1.0)

    matrix = sparse.csr_matrix((month.patients.astype(float), (month.practice, month.lsoa)),
                               shape=(prac.n, n))
    ages = (month.age_female + month.age_male).astype(float)        # (n_prac, 91)
    true_prev = np.zeros((n, len(CONDITIONS)))
    true_reg = np.zeros((prac.n, len(CONDITIONS)))
    recorded = np.zeros((prac.n, len(CONDITIONS)))
    list_size = np.zeros((prac.n, len(CONDITIONS)), dtype=np.int64)
    z = geo.deprivation
    curves, relatives, scales = condition_rates(geo, pop)
    for j, c in enumerate(CONDITIONS):
        curve, relative = curves[j], relatives[:, j]
        eligible = residents @ (curve > 0)
        raw = (residents @ curve) * relative                          # expected cases, unscaled
        cases = np.minimum(raw * scales[j], 0.9 * eligible)
        true_prev[:, j] = cases / np.maximum(eligible, 1)
        # Practice registers: patients from each LSOA carry its prevalence (per registered
        # patient of eligible age) and detection.
        per_patient = cases / np.maximum(residents.sum(1), 1)
        true_reg[:, j] = matrix @ per_patient
        gap_j = 1 - c.undiagnosed * (1 - detection)
        recorded[:, j] = (matrix @ (per_patient * gap_j)) * practice_factor
        min_age = _LIST_AGE[c.list_type]
        list_size[:, j] = np.round(ages[:, min_age <= AGES].sum(1)).astype(np.int64)

    qof: dict[str, dict[str, np.ndarray]] = {}
    for y, year in enumerate(qof_years):
        growth = 1 + 0.02 * (y - (len(qof_years) - 1))             # registers grow ~2% a year
        sizes = np.round(list_size * (1 + 0.01 * (y - (len(qof_years) - 1)))).astype(np.int64)
        expected = recorded * growth
        p = np.clip(expected / np.maximum(list_size, 1), 0, 1)
        qof[year] = {"register": rng.binomial(sizes, p), "list_size": sizes,
                     "true_register": true_reg * growth, "expected_recorded": expected}

    # Immunisations: the cohort at each age ~ one fifth of the 0-4 (or 5-9) year band.
    prac_depr = np.asarray(matrix @ z) / np.maximum(np.asarray(matrix.sum(1)).ravel(), 1)
    prac_minority = np.asarray(matrix @ (south_asian + black)) / np.maximum(
        np.asarray(matrix.sum(1)).ravel(), 1)
    immunisation: dict[str, dict[str, np.ndarray]] = {}
    for y, year in enumerate(imm_years):
        numer, denom, uptake = [], [], []
        for age, _item, base in IMMUNISATIONS:
            cohort = ages[:, 1] if age == "12 months" else ages[:, 2] if age == "24 months" \
                else ages[:, 5]
            d = rng.poisson(np.maximum(cohort, 1) * (0.98 + 0.01 * y))
            logit = (np.log(base / (1 - base)) - 0.45 * prac_depr - 1.2 * prac_minority
                     + rng.normal(0, 0.15, prac.n))
            u = 1 / (1 + np.exp(-logit))
            numer.append(rng.binomial(d, u))
            denom.append(d)
            uptake.append(u)
        immunisation[year] = {"numerator": np.column_stack(numer),
                              "denominator": np.column_stack(denom),
                              "uptake": np.column_stack(uptake)}
    return Health(detection=detection, planted_deprived=planted_deprived,
                  planted_minority=planted_minority, practice_factor=practice_factor,
                  true_prevalence=true_prev, qof=qof, immunisation=immunisation)


__all__ = ["CONDITIONS", "IMMUNISATIONS", "Condition", "Health", "build_health", "condition_rates"]
