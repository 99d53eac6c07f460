"""Build step: Core20PLUS5 cohorts counted from patient rows, inside the engine.

Core20PLUS5 (NHS England, *Core20PLUS5: an approach to reducing healthcare inequalities*, 2021)
asks each system to look at its most deprived 20% (people living in LSOAs of national IMD deciles
1-2) beside everyone else, for five clinical areas. From a patient-level extract (the
``patients`` table) each practice's people are split by where they live, Core20 or the rest, and
counted for every cohort of :data:`COHORTS`: who is eligible and who is on the register or has
had the check. The join to IMD and the sums run in the engine as one Ibis expression (DuckDB or
Spark alike); only counts per practice and side (Core20 or rest) come back, which are then
summed to every level that reports need (PCN, Sub-ICB, ICB, groups).

People whose LSOA is unknown (NO2021) or outside the IMD edition are counted with the rest. The
IMD edition is the one covering most of the extract's LSOAs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import ibis
import ibis.expr.types as ir
import pandas as pd

from placehealth import levels
from placehealth.sources.patients import UPTAKE, extract_end
from placehealth.store import Store

TABLE = "core20plus5_cohorts"
COLUMNS = ["period", "level", "unit_code", "unit_name", "clinical_area", "cohort",
           "core20_denominator", "core20_numerator", "core20_pct", "rest_denominator",
           "rest_numerator", "rest_pct", "core20_share_pct"]
CORE20_DECILES = (1, 2)


@dataclass(frozen=True)
class Cohort:
    """A Core20PLUS5 cohort: its clinical area, name, who counts in the denominator and who in
    the numerator (Ibis predicates over the ``patients`` rows, as at the extract's end)."""

    clinical_area: str
    name: str
    eligible: Callable[[ir.Table, date], ir.BooleanValue]
    counted: Callable[[ir.Table, date], ir.BooleanValue]


def _uptake(clinical_area: str, indicator: str) -> Cohort:
    item = next(u for u in UPTAKE if u.indicator == indicator)
    return Cohort(clinical_area, f"{item.indicator} ({item.age})", item.eligible, item.done)


def _register(clinical_area: str, name: str, column: str) -> Cohort:
    return Cohort(clinical_area, name, lambda t, _: t.age >= 0, lambda t, _: t[column].notnull())


_EVERYONE = Cohort("population", "registered patients", lambda t, _: t.age >= 0,
                   lambda t, _: t.age >= 0)

#: The cohorts counted, by clinical area (maternity has no rows in the extract's layout).
COHORTS: list[Cohort] = [
    _EVERYONE,
    _register("hypertension", "on the hypertension register", "hyp_date"),
    _uptake("hypertension", "Blood pressure check"),
    _register("chronic respiratory disease", "on the COPD register", "copd_date"),
    _register("chronic respiratory disease", "on the asthma register", "ast_date"),
    Cohort("chronic respiratory disease", "flu vaccination in 12 months (COPD or asthma register)",
           lambda t, _: t.copd_date.notnull() | t.ast_date.notnull(),
           next(u for u in UPTAKE if u.indicator == "Flu vaccination").done),
    _register("severe mental illness", "on the severe mental illness register", "mh_date"),
    _uptake("severe mental illness", "SMI health check"),
    _register("early cancer diagnosis", "on the cancer register", "can_date"),
]


def imd_deciles(store: Store, patients: ir.Table) -> ir.Table | None:
    """LSOA -> national IMD decile, from the edition covering most of the extract's LSOAs."""
    if not store.has("imd"):
        return None
    imd = store.table("imd")
    imd = imd.filter(imd.domain == "imd").select("edition", "lsoa_code", "decile")
    lsoas = patients.select("lsoa_code").distinct()
    cover = (imd.join(lsoas, "lsoa_code").group_by("edition").aggregate(n=ibis._.count())
             .to_pyarrow().to_pandas())
    if cover.empty:
        return None
    best = cover[cover["n"] == cover["n"].max()]["edition"].max()
    return imd.filter(imd.edition == best).select("lsoa_code", "decile")


def practice_counts(rows: ir.Table, deciles: ir.Table | None, period: str) -> ir.Table:
    """One Ibis expression: per practice and side (core20 true/false), each cohort's eligible
    and counted people (``eligible__i``, ``counted__i``).

    The rows are summed per practice and LSOA first and only those sums joined to the deciles,
    then summed again per side: the join never sees a row per person (joined row by row,
    Spark shuffled and sorted every row by LSOA whenever the deciles' size was unknown, as for
    a table made from Python)."""
    end = extract_end(period)
    sums: dict[str, ir.Value] = {}
    for i, cohort in enumerate(COHORTS):
        eligible = cohort.eligible(rows, end).fill_null(False)
        sums[f"eligible__{i}"] = ibis.ifelse(eligible, 1, 0).sum()
        sums[f"counted__{i}"] = ibis.ifelse(
            eligible & cohort.counted(rows, end).fill_null(False), 1, 0).sum()
    by_lsoa = rows.group_by(["practice_code", "lsoa_code"]).aggregate(**sums)
    if deciles is None:
        by_lsoa = by_lsoa.mutate(core20=ibis.literal(False))
    else:
        deciles = deciles.rename(imd_lsoa_code="lsoa_code")
        by_lsoa = by_lsoa.left_join(deciles, by_lsoa.lsoa_code == deciles.imd_lsoa_code).drop(
            "imd_lsoa_code")
        by_lsoa = by_lsoa.mutate(core20=by_lsoa.decile.isin(CORE20_DECILES).fill_null(False))
    return by_lsoa.group_by(["practice_code", "core20"]).aggregate(
        **{name: by_lsoa[name].sum() for name in sums})


def long_counts(wide: pd.DataFrame) -> pd.DataFrame:
    """Per practice and cohort: Core20 and rest denominators and numerators."""
    parts = []
    for i, cohort in enumerate(COHORTS):
        part = wide[["practice_code", "core20"]].assign(
            clinical_area=cohort.clinical_area, cohort=cohort.name,
            denominator=wide[f"eligible__{i}"].astype("int64"),
            numerator=wide[f"counted__{i}"].astype("int64"))
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    keys = ["practice_code", "clinical_area", "cohort"]
    sides = {}
    for side, flag in (("core20", True), ("rest", False)):
        sides[side] = (long[long["core20"] == flag].set_index(keys)[["denominator", "numerator"]]
                       .add_prefix(f"{side}_"))
    return sides["core20"].join(sides["rest"], how="outer").fillna(0).astype("int64").reset_index()


def finish(counts: pd.DataFrame) -> pd.DataFrame:
    """Percentages of the eligible on each side, and the Core20 share of the eligible (outputs
    recompute each from the protected counts; a difference is taken from those)."""
    out = counts.copy()
    for side in ("core20", "rest"):
        den = out[f"{side}_denominator"]
        out[f"{side}_pct"] = (out[f"{side}_numerator"] / den.where(den > 0) * 100).astype(float)
    whole = out["core20_denominator"] + out["rest_denominator"]
    out["core20_share_pct"] = (out["core20_denominator"] / whole.where(whole > 0) * 100
                               ).astype(float)
    return out.reindex(columns=COLUMNS)


def compute(store: Store) -> pd.DataFrame:
    """``core20plus5_cohorts`` for the latest extract at every level that reports need."""
    if not store.has("patients"):
        return pd.DataFrame(columns=COLUMNS)
    period = store.periods("patients")[-1]
    patients = store.table("patients")
    rows = patients.filter(patients.period == period)
    wide = practice_counts(rows, imd_deciles(store, rows), period).to_pyarrow().to_pandas()
    practice = long_counts(wide)
    counts = [c for c in practice.columns if c.endswith(("_denominator", "_numerator"))]
    frames = []
    for level in levels.levels_for("need"):
        try:
            units = levels.practice_units(store, level, period)
        except LookupError:
            continue
        joined = practice.merge(units, on="practice_code")
        summed = (joined.groupby(["unit_code", "clinical_area", "cohort"], as_index=False)[counts]
                  .sum().merge(units.drop_duplicates("unit_code")[["unit_code", "unit_name"]],
                               on="unit_code", how="left"))
        frames.append(summed.assign(level=level, period=period))
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return finish(pd.concat(frames, ignore_index=True)).sort_values(
        ["level", "unit_code", "clinical_area", "cohort"], ignore_index=True)


def build(store: Store) -> dict[str, int]:
    """Build step: write ``core20plus5_cohorts`` whole (nothing without a patient extract)."""
    if not store.has("patients"):
        return {}
    table = compute(store)
    store.replace_table(TABLE, table)
    return {TABLE: len(table)}


__all__ = ["COHORTS", "COLUMNS", "TABLE", "Cohort", "build", "compute", "finish", "imd_deciles",
           "long_counts", "practice_counts"]
