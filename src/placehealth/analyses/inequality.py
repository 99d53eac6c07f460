"""Inequality within every area, and the Core20PLUS5 view: a build step of its own, after need.

The areas are the levels the level registry reports inequality at
(``levels.levels_for("inequality")``: PCN, Sub-ICB, ICB, local and upper-tier authority); the
counts are the need tables read from the store (``prevalence_gap`` at practice level,
``prevalence_gap_lsoa`` and ``uptake_gap``), plus any ``uptake`` loaded.

Within each area its units — the LSOAs its patients live in (when practice x LSOA registrations
are loaded) or its practices — are ranked by deprivation (IMD score; most deprived first) and cut
into *local* population-weighted quintiles, and deciles where the area has at least
``DECILE_MIN_UNITS`` units and every decile is populated (PHE's local-quantile approach). For each
quantile the indicator is recomputed from its counts:

- ``prevalence_ratio:GROUP`` recorded/expected register (O/E, exact or Byar limits);
- ``prevalence:GROUP`` recorded prevalence (register / QOF denominator, Wilson limits);
- ``uptake:INDICATOR AGE`` uptake (Wilson limits) where uptake is loaded by practice.

and the slope and relative index of inequality (:func:`placehealth.measures.sii`, Low & Low 2004;
PHE technical guide 2018; Monte Carlo limits) and the gap between the least and most deprived
quantile (:func:`placehealth.measures.quantile_gap`) are computed. Quantile 1 is the most
deprived, so a *negative* SII means the indicator is higher in the more deprived part of the area.
LSOA values are apportioned from practices (see :func:`placehealth.analyses.need.lsoa_gaps`), so
an SII across a PCN's LSOAs reflects the mix of practices its neighbourhoods use, attenuated
compared with patient-level data.

Core20PLUS5 (NHS England 2021): per PCN, the share of registered patients living in Core20
neighbourhoods (LSOAs in national IMD deciles 1-2), and for the clinical areas the store can
speak to — hypertension (HYP), chronic respiratory disease (COPD, AST), severe mental illness
(MH), and any uptake indicator loaded — the recorded/expected ratio and missing patients in
Core20 neighbourhoods against the rest.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import ibis
import numpy as np
import pandas as pd

from placehealth import levels
from placehealth.analyses.expected import ATTRIBUTE_PATTERNS, find_column, practice_attributes
from placehealth.analyses.need import LSOA_GAP_COLUMNS, empty
from placehealth.measures import proportion, quantile_gap, sii
from placehealth.measures.observed_expected import ratio_limits
from placehealth.store import Store, release_memory

#: Deciles are reported beside quintiles where the area has at least this many units and this
#: many people (the indicator's population: registered patients, or the uptake denominators),
#: so each decile holds some 10,000 people; PCNs (30-50,000 patients) get quintiles only.
DECILE_MIN_UNITS = 20
DECILE_MIN_POPULATION = 100_000
#: Monte Carlo repetitions for the SII limits in the build (PHE uses 100,000 for publication;
#: the point estimate does not depend on it). Pass ``repetitions`` to change.
DEFAULT_REPETITIONS = 1_000

INEQUALITY_COLUMNS = ["area_level", "area_code", "area_name", "indicator", "period", "measure",
                      "value", "lowercl", "uppercl", "quantiles", "units", "method"]

#: Core20PLUS5 clinical areas and the QOF groups that speak to them.
CORE20_AREAS = {"hypertension": ["HYP"], "chronic respiratory disease": ["COPD", "AST"],
                "severe mental illness": ["MH"]}
CORE20_COLUMNS = ["period", "pcn_code", "pcn_name", "clinical_area", "indicator", "measure",
                  "all_value", "core20_value", "core20_lowercl", "core20_uppercl", "rest_value",
                  "rest_lowercl", "rest_uppercl", "difference", "core20_share",
                  "core20_observed", "core20_expected", "rest_observed", "rest_expected", "tau2",
                  "core20_patients", "patients"]


def assign_quantiles(units: pd.DataFrame, k: int,
                     by: Sequence[str] = ("area_level", "area_code")) -> pd.DataFrame:
    """Local population-weighted quantiles: within each area (``by``), units sorted most deprived
    first (highest score) fall in quantile ⌊k × mid-point cumulative population share⌋ + 1. Areas
    with fewer than k units or an empty quantile are dropped.

    ``units``: the ``by`` columns, unit_code, score, population (one row per unit).
    """
    by = list(by)
    units = units[units["score"].notna() & (units["population"] > 0)]
    units = units.sort_values([*by, "score", "unit_code"],
                              ascending=[*(True for _ in by), False, True])
    area = units.groupby(by, sort=False)["population"]
    cumulative = area.cumsum()
    mid = (cumulative - units["population"] / 2) / area.transform("sum")
    out = units.assign(quantile=np.minimum(np.floor(mid * k).astype(int) + 1, k))
    full = out.groupby(by)["quantile"].transform("nunique") == k
    return out[full]


def _lsoa_scores(store: Store, codes: Iterable[str]) -> pd.DataFrame | None:
    """IMD score and national decile of each LSOA, from the edition covering most of ``codes``."""
    if not store.has("imd"):
        return None
    t = store.table("imd")
    imd = t.filter(t.domain == "imd").select("edition", "lsoa_code", "score", "decile").to_pandas()
    if imd.empty:
        return None
    codes = set(codes)
    cover = imd[imd["lsoa_code"].isin(codes)].groupby("edition").size()
    if cover.empty:
        return None
    best = cover[cover == cover.max()].index.max()
    return imd[imd["edition"] == best][["lsoa_code", "score", "decile"]]


def _practice_scores(store: Store, period: str) -> pd.DataFrame | None:
    attributes = practice_attributes(store, period)
    column = find_column(attributes.columns, ATTRIBUTE_PATTERNS["deprivation"])
    if column is None:
        return None
    return pd.DataFrame({"practice_code": attributes["practice_code"],
                         "score": pd.to_numeric(attributes[column], errors="coerce")})


def _quiet_units(store: Store, level: str, period: str) -> pd.DataFrame | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", levels.LevelWarning)
            units = (levels.lsoa_units(store, level) if levels.get(level).kind == levels.PLACE
                     else levels.practice_units(store, level, period))
    except (LookupError, KeyError, ValueError):
        return None
    return units if len(units) else None


#: The columns of ``prevalence_gap_lsoa`` the inequality views read.
LSOA_UNIT_COLUMNS = ["period", "level", "area_code", "lsoa_code", "group_code", "patients",
                     "observed", "expected", "list_size"]

Rows = pd.DataFrame | ibis.Table


def _lsoa_rows(lsoa: Rows, period: str | None = None, level: str | None = None,
               groups: list[str] | None = None) -> pd.DataFrame:
    """The LSOA gap rows of one period, level and set of groups (None: all), from a frame or
    filtered inside the engine from the stored table, so only those rows reach pandas."""
    if isinstance(lsoa, pd.DataFrame):
        if lsoa.empty:
            return lsoa
        keep = pd.Series(True, index=lsoa.index)
        for column, value in (("period", period), ("level", level)):
            if value is not None:
                keep &= lsoa[column] == value
        if groups is not None:
            keep &= lsoa["group_code"].isin(groups)
        return lsoa[keep]
    t = lsoa
    if period is not None:
        t = t.filter(t.period == period)
    if level is not None:
        t = t.filter(t.level == level)
    if groups is not None:
        t = t.filter(t.group_code.isin(groups))
    return t.select(*LSOA_UNIT_COLUMNS).to_pandas()


def _unit_rows(store: Store, practice: pd.DataFrame, lsoa: Rows,
               uptake: pd.DataFrame | None) -> pd.DataFrame:
    """Counts per (area, unit, indicator): area_level, area_code, area_name, unit_code, units,
    period, indicator, kind (ratio | proportion), x, n, population, score. ``lsoa`` (a frame,
    or the stored ``prevalence_gap_lsoa``) is read one period at a time."""
    parts = []
    for period in sorted(practice["period"].unique()) if len(practice) else []:
        rows = practice[(practice["period"] == period) & practice["expected"].notna()]
        scores = _practice_scores(store, period)
        lsoa_rows = _lsoa_rows(lsoa, period)
        lsoa_scores = (_lsoa_scores(store, lsoa_rows["lsoa_code"].unique())
                       if len(lsoa_rows) else None)
        for level in levels.levels_for("inequality"):
            scoped = lsoa_rows[lsoa_rows["level"] == level] if len(lsoa_rows) else lsoa_rows
            if lsoa_scores is not None and len(scoped):  # the level's own LSOA apportioning
                units = scoped.merge(lsoa_scores, on="lsoa_code")
                names = _quiet_units(store, level, period)
                units = units.merge(_names(names), on="area_code", how="left")
                parts.append(_prevalence_units(units.rename(columns={"lsoa_code": "unit_code"}),
                                               level, "lsoa", period))
            elif levels.get(level).kind == levels.PLACE:
                places = _quiet_units(store, level, period)
                if places is None or lsoa_scores is None or not len(lsoa_rows):
                    continue
                units = lsoa_rows[lsoa_rows["level"] == "all"].drop(columns="area_code")
                units = units.merge(places.rename(columns={"unit_code": "area_code",
                                                           "unit_name": "area_name"}),
                                    on="lsoa_code").merge(lsoa_scores, on="lsoa_code")
                parts.append(_prevalence_units(units.rename(columns={"lsoa_code": "unit_code"}),
                                               level, "lsoa", period))
            elif scores is not None:
                members = _quiet_units(store, level, period)
                if members is None:
                    continue
                units = rows.merge(members, on="practice_code").merge(scores, on="practice_code")
                units = units.rename(columns={"unit_code": "area_code", "unit_name": "area_name"})
                units["patients"] = units.groupby("practice_code")["list_size"].transform("max")
                parts.append(_prevalence_units(units.rename(columns={"practice_code": "unit_code"}),
                                               level, "practice", period))
        lsoa_rows = scoped = units = None
        release_memory()  # the period's LSOA rows and joins
    if uptake is not None and len(uptake):
        parts.extend(_uptake_units(store, uptake))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame()
    units = _concat_categorical(parts)
    del parts
    release_memory()
    return units


def _names(units: pd.DataFrame | None) -> pd.DataFrame:
    if units is None:
        return pd.DataFrame(columns=["area_code", "area_name"])
    return (units[["unit_code", "unit_name"]].drop_duplicates("unit_code")
            .rename(columns={"unit_code": "area_code", "unit_name": "area_name"}))


def _prevalence_units(units: pd.DataFrame, level: str, unit_kind: str, period: str) -> pd.DataFrame:
    """Ratio (O, E) and recorded prevalence (O, list) rows per unit and condition (text columns
    as categoricals: millions of rows, few distinct values)."""
    if units.empty:
        return pd.DataFrame()
    units = units.reset_index(drop=True)
    n = len(units)

    def constant(value: str) -> pd.Categorical:
        return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[value])

    name = (units["area_name"] if "area_name" in units else pd.Series(None, index=units.index,
                                                                      dtype="string"))
    base = pd.DataFrame({
        "area_level": constant(level), "area_code": units["area_code"].astype("category"),
        "area_name": name.astype("category"), "unit_code": units["unit_code"].astype("category"),
        "units": constant(unit_kind), "period": constant(period),
        "population": units["patients"].to_numpy(dtype=float),
        "score": units["score"].to_numpy(dtype=float),
    })
    group = units["group_code"].astype("category")
    labels = list(group.cat.categories)
    indicators = [f"prevalence_ratio:{g}" for g in labels] + [f"prevalence:{g}" for g in labels]
    codes = group.cat.codes.to_numpy()
    ratio = base.assign(
        indicator=pd.Categorical.from_codes(codes, categories=indicators),
        kind=pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=["ratio", "proportion"]),
        x=units["observed"].to_numpy(dtype=float), n=units["expected"].to_numpy(dtype=float))
    prevalence = base.assign(
        indicator=pd.Categorical.from_codes(codes + len(labels), categories=indicators),
        kind=pd.Categorical.from_codes(np.ones(n, dtype=np.int8), categories=["ratio", "proportion"]),
        x=units["observed"].to_numpy(dtype=float), n=units["list_size"].to_numpy(dtype=float))
    return pd.concat([ratio, prevalence], ignore_index=True)


def _concat_categorical(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate frames keeping categorical columns categorical (categories unified)."""
    columns = [c for c in parts[0].columns
               if any(isinstance(p[c].dtype, pd.CategoricalDtype) for p in parts if c in p)]
    for column in columns:
        values = [p[column].astype("category") for p in parts]
        seen = dict.fromkeys(c for v in values for c in v.cat.categories.astype(object))
        union = pd.Index(list(seen), dtype=object)
        for p, v in zip(parts, values, strict=True):
            p[column] = pd.Categorical(v, categories=union)
    return pd.concat(parts, ignore_index=True)


def _uptake_units(store: Store, uptake: pd.DataFrame) -> list[pd.DataFrame]:
    """Uptake rows as units: practices within PCNs, Sub-ICBs and ICBs (by practice IMD score);
    LSOAs (files by LSOA) within local authorities (by LSOA IMD score)."""
    parts = []
    usable = uptake[uptake["numerator"].notna() & uptake["denominator"].notna()
                    & (uptake["denominator"] > 0)]
    rows = usable[usable["area_level"] == "practice"]
    for period, by_period in rows.groupby("period"):
        scores = _practice_scores(store, period)
        if scores is None:
            continue
        for level in levels.levels_for("inequality", levels.PRACTICE):
            members = _quiet_units(store, level, period)
            if members is None:
                continue
            units = by_period.merge(members, left_on="area_code", right_on="practice_code")
            units = units.merge(scores, on="practice_code")
            parts.append(_uptake_frame(units, level, "practice_code", "practice"))
    lsoa_rows = usable[usable["area_level"] == "lsoa"]
    scores = _lsoa_scores(store, lsoa_rows["area_code"].unique()) if len(lsoa_rows) else None
    for level in levels.levels_for("inequality", levels.PLACE) if scores is not None else ():
        places = _quiet_units(store, level, "")
        if places is not None:
            units = lsoa_rows.merge(places, left_on="area_code", right_on="lsoa_code")
            units = units.merge(scores[["lsoa_code", "score"]], on="lsoa_code")
            parts.append(_uptake_frame(units, level, "lsoa_code", "lsoa"))
    return [p for p in parts if len(p)]


def _uptake_frame(units: pd.DataFrame, level: str, unit_column: str, kind: str) -> pd.DataFrame:
    return pd.DataFrame({
        "area_level": level, "area_code": units["unit_code"].to_numpy(),
        "area_name": units["unit_name"].to_numpy(), "unit_code": units[unit_column].to_numpy(),
        "units": kind, "period": units["period"].to_numpy(),
        "population": units["denominator"].to_numpy(dtype=float),
        "score": units["score"].to_numpy(dtype=float),
        "indicator": ("uptake:" + units["indicator"] + " " + units["age"]).to_numpy(),
        "kind": "proportion", "x": units["numerator"].to_numpy(dtype=float),
        "n": units["denominator"].to_numpy(dtype=float)})


def quantile_values(units: pd.DataFrame, k: int) -> pd.DataFrame:
    """Indicator value and 95% limits per area, indicator and quantile."""
    keys = ["area_level", "area_code", "period", "indicator", "kind", "units"]
    # an area's LSOAs and its practices are quantiled apart: neither kind moves the other's cuts
    area = ["area_level", "area_code", "units"]
    scored = units[[*area, "unit_code", "score", "population"]] \
        .drop_duplicates([*area, "unit_code"])
    quantiles = assign_quantiles(scored, k, by=area)[[*area, "unit_code", "quantile"]]
    rows = units.merge(quantiles, on=[*area, "unit_code"])
    summed = rows.groupby([*keys, "quantile"], sort=False, observed=True).agg(
        x=("x", "sum"), n=("n", "sum"), population=("population", "sum"),
        area_name=("area_name", "first")).reset_index()
    summed = summed[summed["n"] > 0].reset_index(drop=True)
    parts = []
    ratio = summed[summed["kind"] == "ratio"].rename(columns={"x": "observed", "n": "expected"})
    if len(ratio):  # one row per group already: limits row by row, order kept
        limits = ratio_limits(ratio, [*keys, "quantile"], unique=True)
        parts.append(ratio[[*keys, "quantile", "population", "area_name"]].reset_index(drop=True)
                     .assign(value=limits["ratio"].to_numpy(),
                             lowercl=limits["ratio_lowercl"].to_numpy(),
                             uppercl=limits["ratio_uppercl"].to_numpy()))
    share = summed[summed["kind"] == "proportion"]
    if len(share):  # without group_by every row is its own unit, in order
        scored = proportion(pd.DataFrame({"x": np.minimum(share["x"], share["n"]).to_numpy(),
                                          "n": share["n"].to_numpy()}), x="x", n="n")
        parts.append(share[[*keys, "quantile", "population", "area_name"]].reset_index(drop=True)
                     .assign(value=scored["value"].to_numpy(),
                             lowercl=scored["lowercl"].to_numpy(),
                             uppercl=scored["uppercl"].to_numpy()))
    columns = [*keys, "quantile", "population", "area_name", "value", "lowercl", "uppercl"]
    return pd.concat([p[columns] for p in parts], ignore_index=True) if parts else \
        pd.DataFrame(columns=columns)


#: Units (rows) per block of areas in :func:`inequality_measures`: the quantile sums are taken a
#: block of areas at a time, so memory stays near the units themselves at England scale.
BLOCK_ROWS = 1_000_000


def _group_ids(units: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """An id per row for each combination of ``columns`` (first seen, first numbered), -1 where
    one is missing: from the categorical codes, without the copies a pandas group-by makes of
    millions of rows."""
    key = np.zeros(len(units), dtype=np.int64)
    missing = np.zeros(len(units), dtype=bool)
    for column in columns:
        values = units[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            codes, size = values.cat.codes.to_numpy(), len(values.cat.categories)
        else:
            codes, uniques = pd.factorize(values)
            size = len(uniques)
        missing |= codes < 0
        key = key * (size + 1) + (codes + 1)
    ids = pd.factorize(key)[0]
    ids[missing] = -1
    return ids


def _area_blocks(units: pd.DataFrame) -> list[np.ndarray]:
    """Row positions of ``units`` in blocks of whole areas (area_level, area_code) of about
    :data:`BLOCK_ROWS` rows, each in the rows' order."""
    area = _group_ids(units, ["area_level", "area_code"])
    area = np.where(area < 0, area.max() + 1, area)  # a missing code is an area of its own
    block = (np.cumsum(np.bincount(area)) // BLOCK_ROWS)[area]
    order = np.argsort(block, kind="stable")
    cuts = np.flatnonzero(np.diff(block[order])) + 1
    return np.split(order, cuts)


def inequality_measures(units: pd.DataFrame, repetitions: int = DEFAULT_REPETITIONS,
                        seed: int | None = 1) -> pd.DataFrame:
    """SII, RII and the quantile gap per area and indicator, over quintiles and (where the area
    has enough units) deciles. Quantiles and their sums are per area, so they are taken a block
    of areas at a time; the SII is then simulated for every area at once (one seeded stream)."""
    if units.empty:
        return empty(INEQUALITY_COLUMNS)
    out = []
    series = ["area_level", "area_code", "period", "indicator"]
    # each unit appears once per area and indicator, so rows count units
    which = _group_ids(units, series)  # -1: a key is missing
    known = which >= 0
    n_units = np.bincount(which[known])
    people = np.bincount(which[known], weights=np.nan_to_num(
        units["population"].to_numpy(dtype=float)[known]), minlength=len(n_units))
    blocks = _area_blocks(units)
    by_k = {}
    for k in (5, 10):
        ok = n_units >= k
        if k == 10:
            ok &= (n_units >= DECILE_MIN_UNITS) & (people >= DECILE_MIN_POPULATION)
        eligible = known & ok[np.maximum(which, 0)]
        if eligible.any():
            by_k[k] = pd.concat([quantile_values(units.iloc[rows[eligible[rows]]], k)
                                 for rows in blocks if eligible[rows].any()], ignore_index=True)
    del units, which, known, blocks  # the units are let go before the simulations
    release_memory()
    for k, values in by_k.items():
        values = values[values["value"].notna() & np.isfinite(values["value"])]
        complete = values.groupby(["area_level", "area_code", "period", "indicator"])["quantile"] \
            .transform("nunique") == k
        values = values[complete]
        if values.empty:
            continue
        group = ["area_level", "area_code", "period", "indicator", "units"]
        names = values.groupby(group)["area_name"].first().reset_index()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            slope = sii(values, quantile="quantile", population="population", value="value",
                        lower_cl="lowercl", upper_cl="uppercl", group_by=group,
                        repetitions=repetitions, rii=True, seed=seed)
            gap = quantile_gap(values, quantile="quantile", value="value", lower_cl="lowercl",
                               upper_cl="uppercl", group_by=group)
        for measure, value, lower, upper, frame in (
                ("sii", "sii", "sii_lowercl", "sii_uppercl", slope),
                ("rii", "rii", "rii_lowercl", "rii_uppercl", slope),
                ("gap", "gap", "gap_lowercl", "gap_uppercl", gap),
                ("gap_ratio", "ratio", "ratio_lowercl", "ratio_uppercl", gap)):
            part = frame[group].copy()
            part["measure"] = measure
            part["value"] = frame[value].to_numpy()
            part["lowercl"] = frame[lower].to_numpy()
            part["uppercl"] = frame[upper].to_numpy()
            part["method"] = frame["method"].to_numpy()
            part["quantiles"] = k
            out.append(part.merge(names, on=group, how="left"))
    if not out:
        return empty(INEQUALITY_COLUMNS)
    table = pd.concat(out, ignore_index=True)[INEQUALITY_COLUMNS]
    for column in ("area_level", "area_code", "area_name", "indicator", "period", "units"):
        table[column] = table[column].astype(object).where(table[column].notna(), None)
    return table


def inequality(store: Store, practice: pd.DataFrame, lsoa: Rows,
               repetitions: int = DEFAULT_REPETITIONS) -> pd.DataFrame:
    """The ``inequality`` table from practice expected registers, their LSOA apportioning and
    any uptake loaded."""
    uptake = store.read("uptake") if store.has("uptake") else None
    # not held here: inequality_measures lets the units go once the quantiles are summed
    return inequality_measures(_unit_rows(store, practice, lsoa, uptake), repetitions)


def core20plus5(store: Store, gap: pd.DataFrame, lsoa: Rows,
                uptake_gap: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per PCN: Core20 share of patients and the clinical-area gaps, Core20 against the rest.
    ``lsoa``: the LSOA gap rows (a frame, or the stored table: only the PCN rows of the Core20
    clinical areas are read)."""
    groups = {g: area for area, gs in CORE20_AREAS.items() for g in gs}
    keys = ["period", "area_code", "group_code"]
    pcn_gap = gap[(gap["level"] == "pcn") & gap["group_code"].isin(list(groups))]
    long = pcn_gap.melt(id_vars=[*keys, "area_name"], value_vars=["ratio", "missing"],
                        var_name="measure", value_name="all_value")
    scopes = _lsoa_rows(lsoa, level="pcn", groups=list(groups))
    scores = _lsoa_scores(store, scopes["lsoa_code"].unique()) if len(scopes) else None
    share = pd.DataFrame(columns=["period", "area_code", "core20_patients", "patients", "core20_share"])
    if scores is not None:
        scoped = scopes.merge(scores[["lsoa_code", "decile"]], on="lsoa_code", how="left")
        scoped["core20"] = scoped["decile"].isin([1, 2])
        people = scoped.drop_duplicates(["period", "area_code", "lsoa_code"])
        totals = (people.assign(c=people["patients"].where(people["core20"], 0))
                  .groupby(["period", "area_code"])[["c", "patients"]].sum())
        share = totals.rename(columns={"c": "core20_patients"}).reset_index()
        share["core20_share"] = share["core20_patients"] / share["patients"]
        summed = scoped.groupby([*keys, "core20"])[["observed", "expected"]].sum().reset_index()
        summed = summed[summed["expected"] > 0]
        # limits allow for the between-practice variation, as every need flag does
        practices = gap[gap["level"] == "practice"]
        tau2 = practices.groupby(["period", "group_code"], as_index=False)["tau2"].first()
        summed = summed.merge(tau2, on=["period", "group_code"], how="left")
        split = (ratio_limits(summed, [*keys, "core20"], tau2="tau2").merge(
            tau2, on=["period", "group_code"], how="left") if len(summed) else pd.DataFrame())
        for side, flag in (("core20", True), ("rest", False)):
            if split.empty:
                break
            part = split[split["core20"] == flag]
            for measure in ("ratio", "missing"):
                side_rows = part[keys].assign(measure=measure)
                side_rows[f"{side}_value"] = part[measure].to_numpy()
                side_rows[f"{side}_lowercl"] = part[f"{measure}_lowercl"].to_numpy()
                side_rows[f"{side}_uppercl"] = part[f"{measure}_uppercl"].to_numpy()
                side_rows[f"{side}_observed"] = part["observed"].to_numpy()
                side_rows[f"{side}_expected"] = part["expected"].to_numpy()
                side_rows["tau2"] = part["tau2"].to_numpy()
                long = long.merge(side_rows, on=[*keys, "measure"], how="left",
                                  suffixes=("", "_new"))
                for column in (f"{side}_value", f"{side}_lowercl", f"{side}_uppercl",
                               f"{side}_observed", f"{side}_expected", "tau2"):
                    if f"{column}_new" in long:
                        long[column] = long[column].fillna(long.pop(f"{column}_new"))
    long = long.merge(share, on=["period", "area_code"], how="left")
    long["clinical_area"] = long["group_code"].map(groups)
    long["indicator"] = "prevalence_gap:" + long["group_code"]
    parts = [long.rename(columns={"area_code": "pcn_code", "area_name": "pcn_name"})]
    if uptake_gap is not None and len(uptake_gap):
        u = uptake_gap[uptake_gap["area_level"] == "pcn"]
        parts.append(pd.DataFrame({
            "period": u["period"], "pcn_code": u["area_code"], "pcn_name": u["area_name"],
            "clinical_area": "uptake", "indicator": "uptake:" + u["indicator"] + " " + u["age"],
            "measure": "uptake", "all_value": u["uptake"]}))
    if len(share):
        parts.append(pd.DataFrame({
            "period": share["period"], "pcn_code": share["area_code"],
            "clinical_area": "population", "indicator": "core20_share", "measure": "share",
            "all_value": share["core20_share"], "core20_share": share["core20_share"],
            "core20_patients": share["core20_patients"], "patients": share["patients"]}))
    out = pd.concat(parts, ignore_index=True).reindex(columns=CORE20_COLUMNS)
    out["difference"] = out["core20_value"] - out["rest_value"]
    return out.sort_values(["period", "pcn_code", "clinical_area", "indicator", "measure"],
                           ignore_index=True)


def compute(store: Store, repetitions: int = DEFAULT_REPETITIONS) -> dict[str, pd.DataFrame]:
    """``inequality`` and ``core20plus5`` from the need tables in the store (those it allows)."""
    gap = store.read("prevalence_gap") if store.has("prevalence_gap") else None
    # read a period (or the Core20 rows) at a time inside the engine: 6M rows at England scale
    lsoa = (store.table("prevalence_gap_lsoa") if store.has("prevalence_gap_lsoa")
            else empty(LSOA_GAP_COLUMNS))
    uptake_gap = store.read("uptake_gap") if store.has("uptake_gap") else None
    if gap is None and uptake_gap is None:
        return {}
    practice = pd.DataFrame(columns=["period", "practice_code", "group_code", "observed",
                                     "expected", "list_size"])
    if gap is not None:
        rows = gap[gap["level"] == "practice"]
        practice = rows.rename(columns={"area_code": "practice_code"})[list(practice.columns)]
    tables = {"inequality": inequality(store, practice, lsoa, repetitions)}
    if gap is not None:
        tables["core20plus5"] = core20plus5(store, gap, lsoa, uptake_gap)
    return tables


def build(store: Store) -> dict[str, int]:
    """Build step (after need): compute the inequality tables and write each whole."""
    tables = compute(store)
    for name, frame in tables.items():
        store.replace_table(name, frame)
    return {name: len(frame) for name, frame in tables.items()}


__all__ = ["CORE20_AREAS", "DEFAULT_REPETITIONS", "assign_quantiles", "build", "compute",
           "core20plus5", "inequality", "inequality_measures", "quantile_values"]
