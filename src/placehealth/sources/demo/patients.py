"""A pseudonymised patient-level extract of the demo place, at any size, written as Parquet.

Each person is drawn from the demo's own registrations: a (practice, LSOA) pair with probability
proportional to the patients the latest extract registers there, then sex and single year of age
from that LSOA's residents, and an ethnic category from its Census ethnic groups. Each QOF
condition is present with the demo's true rate for that age and LSOA (age curve x deprivation
and ethnicity relative risk x England calibration, ``health.condition_rates``) and recorded
with the planted detection of the LSOA and practice, so a register summed from these rows
shows the demo's planted under-diagnosis. Vaccinations and checks follow practice uptake
(the demo's immunisation model) and fall with deprivation.

Rows are drawn and written in chunks (``chunk`` people at a time, one Parquet row group each),
so memory stays flat whatever the size: 50M people is 50 chunks of 1M. Same seed, same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from placehealth.sources.demo.geography import Geography
from placehealth.sources.demo.health import CONDITIONS, IMMUNISATIONS, Health, condition_rates
from placehealth.sources.demo.population import AGES, DETAILED, Population
from placehealth.sources.demo.registrations import Month, Practices
from placehealth.tables import LIST_TYPE_AGES, PATIENT_EVENTS

#: NHS ethnic category of each Census 2021 detailed group (population.DETAILED order by label).
NHS_ETHNIC_CATEGORY = {
    "English, Welsh, Scottish, Northern Irish or British": "A", "Irish": "B",
    "Gypsy or Irish Traveller": "C", "Roma": "C", "Other White": "C",
    "White and Black Caribbean": "D", "White and Black African": "E", "White and Asian": "F",
    "Other Mixed or Multiple ethnic groups": "G", "Indian": "H", "Pakistani": "J",
    "Bangladeshi": "K", "Other Asian": "L", "Caribbean": "M", "African": "N",
    "Other Black": "P", "Chinese": "R", "Arab": "S", "Any other ethnic group": "S",
}
NOT_STATED, NOT_RECORDED = 0.04, 0.03  # shares coded Z, and left blank
CHUNK = 1_000_000
_EPOCH = np.datetime64("1970-01-01", "D")


def _draw_rows(cdf: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A column index per person from their row of ``cdf`` (rows of cumulative shares ending
    in 1): one searchsorted over the rows laid end to end."""
    width = cdf.shape[1]
    flat = (cdf + np.arange(len(cdf))[:, None]).ravel()
    picked = np.searchsorted(flat, rows + np.minimum(u, 1 - 1e-12), side="right")
    return np.clip(picked - rows * width, 0, width - 1)


def _cdf(weights: np.ndarray) -> np.ndarray:
    weights = np.asarray(weights, dtype=float) + 1e-12
    cdf = np.cumsum(weights, axis=1)
    return cdf / cdf[:, -1:]


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _dates(days: np.ndarray, present: np.ndarray) -> pa.Array:
    return pa.array(np.where(present, days, 0).astype("int32"), pa.int32(),
                    mask=~present).cast(pa.date32())


def schema() -> pa.Schema:
    """The extract's columns (those of docs/DATA.md ``patients`` a file carries)."""
    fields = [("person_id", pa.string()), ("practice_code", pa.string()),
              ("lsoa_code", pa.string()), ("age", pa.int64()), ("sex", pa.string()),
              ("ethnicity", pa.string())]
    fields += [(f"{c.code.lower()}_date", pa.date32()) for c in CONDITIONS]
    fields += [(column, pa.date32()) for column in PATIENT_EVENTS]
    return pa.schema(fields)


def write_patients(path: Path, people: int, seed: int, geo: Geography, pop: Population,
                   prac: Practices, month: Month, health: Health, chunk: int = CHUNK, progress: Callable[[int], None] | None = None) -> Path:
    """Write ``people`` persons of the demo place, registered on ``month``'s extract date, to
    ``path`` (Parquet, one row group per chunk); ``progress(rows_so_far)`` after each chunk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    year, mon = int(month.period[:4]), int(month.period[5:7])
    end = date(year, mon, 28)  # a day every extract month has; events fall on or before it
    end_day = int((np.datetime64(end, "D") - _EPOCH).astype(int))
    has_unknown = np.flatnonzero(month.unknown > 0)
    pair_practice = np.concatenate([month.practice, has_unknown])
    pair_lsoa = np.concatenate([month.lsoa, np.full(len(has_unknown), -1)])
    weights = np.concatenate([month.patients, month.unknown[has_unknown]]).astype(float)
    weights /= weights.sum()
    lsoa_codes = np.append(geo.lsoa_code, "NO2021").astype(object)
    age_sex = _cdf(np.hstack([pop.female, pop.male]))
    ethnic = _cdf(pop.ethnicity)
    ethnic_codes = np.array([NHS_ETHNIC_CATEGORY[low] for _, low, _ in DETAILED], dtype=object)
    curves, relatives, scales = condition_rates(geo, pop)
    latest_year = sorted(health.immunisation)[-1]
    uptake = health.immunisation[latest_year]["uptake"]
    labels = [f"{age} {item}" for age, item, _ in IMMUNISATIONS]
    mmr1 = uptake[:, labels.index("24 months MMR1")]
    mmr2 = uptake[:, labels.index("5 years MMR2")]
    with pq.ParquetWriter(path, schema()) as writer:
        for k, start in enumerate(range(0, people, chunk)):
            rng = np.random.default_rng(np.random.SeedSequence([seed, people, k]))
            m = min(chunk, people - start)
            pair = rng.choice(len(weights), size=m, p=weights)
            practice, lsoa = pair_practice[pair], pair_lsoa[pair]
            home = np.where(lsoa >= 0, lsoa, prac.lsoa[practice])  # where an unknown lives
            pick = _draw_rows(age_sex, home, rng.random(m))
            female = pick < len(AGES)
            age = pick % len(AGES)
            age = np.where(age == 90, 90 + np.minimum(rng.geometric(0.22, m) - 1, 15), age)
            birth = end_day - np.round((age + rng.random(m)) * 365.25).astype(np.int64)
            columns: dict[str, pa.Array] = {
                "person_id": pc.binary_join_element_wise(
                    f"P{seed % 1000:03d}",
                    pc.utf8_lpad(pa.array(np.arange(start, start + m)).cast(pa.string()), 9, "0"),
                    ""),
                "practice_code": pa.array(prac.code[practice].astype(str)),
                "lsoa_code": pa.array(lsoa_codes[lsoa].astype(str)),
                "age": pa.array(age.astype(np.int64)),
                "sex": pa.array(np.where(female, "F", "M")),
            }
            eth = ethnic_codes[_draw_rows(ethnic, home, rng.random(m))]
            u = rng.random(m)
            eth = np.where(u < NOT_STATED, "Z", eth)
            columns["ethnicity"] = pa.array(eth.astype(str), mask=u > 1 - NOT_RECORDED)
            capped = np.minimum(age, 90)
            z = geo.deprivation[home]
            flags: dict[str, np.ndarray] = {}
            for j, c in enumerate(CONDITIONS):
                p = np.minimum(scales[j] * curves[j][capped] * relatives[home, j], 0.9)
                detected = (1 - c.undiagnosed * (1 - health.detection[home])) \
                    * health.practice_factor[practice]
                flags[c.code] = rng.random(m) < p * detected
                span = np.clip(age - LIST_TYPE_AGES[c.list_type], 0.1, 25) * 365.25
                days = end_day - np.round(rng.random(m) * span).astype(np.int64)
                columns[f"{c.code.lower()}_date"] = _dates(np.maximum(days, birth), flags[c.code])
            columns |= _events(rng, m, age, birth, end_day, z, practice, flags, mmr1, mmr2)
            writer.write_table(pa.table(columns, schema=schema()))
            if progress:
                progress(start + m)
    return path


def _events(rng: np.random.Generator, m: int, age: np.ndarray, birth: np.ndarray, end_day: int,
            z: np.ndarray, practice: np.ndarray, flags: dict[str, np.ndarray],
            mmr1: np.ndarray, mmr2: np.ndarray) -> dict[str, pa.Array]:
    """Latest vaccinations and checks: practice uptake for MMR, lower with deprivation for the
    rest; some dates fall outside the windows uptake counts (an earlier season or check)."""
    def within(present, oldest_days, newest_days=0):
        days = end_day - newest_days - np.round(rng.random(m) * (oldest_days - newest_days))
        return _dates(np.maximum(days.astype(np.int64), birth), present)

    at_risk = flags["COPD"] | flags["AST"] | flags["DM"] | flags["CHD"]
    flu_p = np.where(age >= 65, 0.78, np.where(at_risk, 0.5, 0.06))
    flu = rng.random(m) < _logistic(np.log(flu_p / (1 - flu_p)) - 0.35 * z)
    bp_p = _logistic(np.where(flags["HYP"], 2.5, np.where(age >= 40, 1.2, -0.5)) - 0.3 * z)
    bp = (age >= 18) & (rng.random(m) < bp_p)
    check = (age >= 40) & (age <= 79) & (rng.random(m) < _logistic(-0.1 - 0.35 * z))
    smi = flags["MH"] & (rng.random(m) < _logistic(0.3 - 0.4 * z))
    given1 = (age >= 1) & (rng.random(m) < mmr1[practice])
    given2 = given1 & (age >= 4) & (rng.random(m) < mmr2[practice] / np.maximum(mmr1[practice], 1e-9))
    mmr1_day = birth + 365 + np.round(rng.random(m) * 60).astype(np.int64)
    mmr2_day = birth + 1220 + np.round(rng.random(m) * 90).astype(np.int64)
    recent = rng.random(m) < 0.9
    return {
        "flu_vaccination_date": _dates(
            np.where(recent, end_day - np.round(rng.random(m) * 300),
                     end_day - 400 - np.round(rng.random(m) * 500)).astype(np.int64), flu),
        "mmr1_date": _dates(mmr1_day, given1 & (mmr1_day <= end_day)),
        "mmr2_date": _dates(mmr2_day, given2 & (mmr2_day <= end_day)),
        "blood_pressure_date": within(bp, np.where(flags["HYP"], 500, 2600)),
        "nhs_health_check_date": within(check, 2500),
        "smi_health_check_date": within(smi, 700),
    }


__all__ = ["CHUNK", "NHS_ETHNIC_CATEGORY", "schema", "write_patients"]
