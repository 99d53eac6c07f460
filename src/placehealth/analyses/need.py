"""Unmet need: recorded against expected prevalence, and uptake against target.

Tables written (see docs/DATA.md, *Derived tables*):

- ``prevalence_model``: one row per QOF condition and period, the model's fit statistics;
- ``prevalence_gap``: observed and expected registers at every level the level registry reports
  need at (``levels.levels_for("need")``: practice, PCN, Sub-ICB, ICB and group), the
  observed/expected ratio with 95% limits allowing for over-dispersion (Spiegelhalter's
  additive random effects, :mod:`placehealth.measures.observed_expected`: the Poisson limits of O
  widened by the between-unit variance τ² of the log ratio), the estimated missing patients E - O
  with limits, ``significantly_low`` where the upper limit is below 1 (the one flag every output
  shows), and ``detectable_shortfall``, the smallest share of the expected register whose absence
  would be flagged at this list size. τ² is estimated per condition, period and level from that
  level's units (DerSimonian-Laird from Winsorised z-scores); a level with fewer than
  :data:`MIN_UNITS_FOR_TAU2` units borrows the practice τ² (an upper bound for sums of practices);
- ``prevalence_gap_lsoa``: the same apportioned to the LSOAs where each practice's patients live,
  by registration shares (a practice's O and E split in proportion to its registered patients in
  each LSOA) — for each PCN (``level = 'pcn'``) and over all practices (``level = 'all'``), so a PCN
  sees where its missing patients probably live;
- ``uptake_gap``: uptake with Wilson limits, the gap to a target (default 95%, per indicator via
  ``targets`` or a table ``uptake_targets`` of indicator, target) and the people behind the gap,
  ceil(target × denominator) − numerator (the number who would need to be reached);

Inequality and Core20PLUS5 views are a build step of their own
(:mod:`placehealth.analyses.inequality`), reading these tables from the store.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import sparse

from placehealth import levels
from placehealth.analyses.expected import (
    DEFAULT_ADJUST_FOR,
    DRIVERS,
    describe_model,
    fit_expected,
    nearest_period,
    practice_covariates,
)
from placehealth.measures.observed_expected import (
    detectable_shortfall,
    random_effects_tau2,
    ratio_limits,
)
from placehealth.measures.proportions import proportion
from placehealth.store import Store

#: Default uptake target (the WHO/UKHSA 95% childhood immunisation goal).
DEFAULT_TARGET = 0.95
TARGETS_TABLE = "uptake_targets"

GAP_COLUMNS = ["period", "level", "area_code", "area_name", "group_code", "observed", "expected",
               "list_size", "observed_prevalence", "expected_prevalence", "ratio",
               "ratio_lowercl", "ratio_uppercl", "missing", "missing_lowercl",
               "missing_uppercl", "significantly_low", "tau2", "detectable_shortfall", "model"]

#: Levels with fewer units than this borrow the practice-level τ² (too few to estimate their own).
MIN_UNITS_FOR_TAU2 = 20


def practice_expected(store: Store, period: str,
                      adjust_for: Iterable[str] = DEFAULT_ADJUST_FOR
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Observed and calibrated expected registers per practice and condition for one QOF period,
    and the model statistics."""
    adjust_for = tuple(adjust_for)
    qof = store.read("qof_prevalence", period=period)
    cov = practice_covariates(store, period, qof, adjust_for)
    model = describe_model(cov, adjust_for)
    expected, stats = fit_expected(qof, cov, model)
    stats["covariate_coverage"] = json.dumps({d: round(v, 4) for d, v in cov.coverage.items()})
    tau2 = tau2_by_group(expected)
    stats["tau2"] = stats["group_code"].map(tau2).astype(float)
    expected["tau2"] = expected["group_code"].map(tau2).astype(float)
    return expected.assign(model=model), stats


def tau2_by_group(units: pd.DataFrame) -> pd.Series:
    """Between-unit variance τ² of log(O/E) per condition (Spiegelhalter 2005; see
    :func:`placehealth.measures.observed_expected.random_effects_tau2`)."""
    usable = units[units["expected"].notna() & (units["expected"] > 0)]
    return pd.Series({group: random_effects_tau2(rows["observed"].to_numpy(dtype=float),
                                                 rows["expected"].to_numpy(dtype=float))[0]
                      for group, rows in usable.groupby("group_code", sort=True)}, dtype=float)


def gap_table(expected: pd.DataFrame, units: pd.DataFrame, level: str) -> pd.DataFrame:
    """Gap rows for one level: ``expected`` (period, practice_code, group_code, observed,
    expected, list_size, tau2, model) summed within each unit of ``units`` (practice_code,
    unit_code, unit_name); τ² from this level's units where it has at least
    :data:`MIN_UNITS_FOR_TAU2`, else the practices'."""
    rows = expected.merge(units, on="practice_code", how="inner")
    rows = rows[rows["expected"].notna() & (rows["expected"] > 0)]
    if rows.empty:
        return empty(GAP_COLUMNS)
    keys = ["period", "unit_code", "group_code"]
    summed = rows.groupby(keys, sort=True).agg(
        observed=("observed", "sum"), expected=("expected", "sum"),
        list_size=("list_size", "sum"), area_name=("unit_name", "first"),
        model=("model", "first"), tau2=("tau2", "first")).reset_index()
    if level != "practice":
        for (_, group), part in summed.groupby(["period", "group_code"]):
            if len(part) >= MIN_UNITS_FOR_TAU2:
                summed.loc[part.index, "tau2"] = tau2_by_group(part).get(group, np.nan)
    out = ratio_limits(summed, keys, unique=True, tau2="tau2")
    for column in ("list_size", "area_name", "model", "tau2"):  # as they are (text not remade)
        out[column] = summed[column].array
    # to the whole percent: a finer share would give back the expected register it comes from
    out["detectable_shortfall"] = np.round(detectable_shortfall(
        out["expected"].to_numpy(), out["tau2"].to_numpy(dtype=float)), 2)
    out = out.rename(columns={"unit_code": "area_code"})
    out["level"] = level
    out["observed_prevalence"] = out["observed"] / out["list_size"]
    out["expected_prevalence"] = out["expected"] / out["list_size"]
    return out[GAP_COLUMNS]


def _units(store: Store, level: str, period: str,
           mappings: levels.Mappings | None = None) -> pd.DataFrame | None:
    """Practice membership of a level's units, or None when the level cannot be built
    (``mappings``: the practice -> PCN mapping as read already, :class:`levels.Mappings`)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", levels.LevelWarning)
            units = levels.practice_units(store, level, period, mappings)
    except (LookupError, KeyError):
        return None
    return units if len(units) else None


def _practice_self(expected: pd.DataFrame, store: Store, period: str,
                   mappings: levels.Mappings | None = None) -> pd.DataFrame:
    units = _units(store, "practice", period, mappings)
    codes = pd.DataFrame({"practice_code": expected["practice_code"].unique()})
    if units is None:
        return codes.assign(unit_code=codes["practice_code"], unit_name=None)
    named = codes.merge(units[["practice_code", "unit_name"]].drop_duplicates("practice_code"),
                        on="practice_code", how="left")
    return named.assign(unit_code=named["practice_code"])


def prevalence_gaps(store: Store, adjust_for: Iterable[str] = DEFAULT_ADJUST_FOR,
                    periods: Iterable[str] | None = None, *,
                    mappings: levels.Mappings | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(prevalence_model, prevalence_gap, practice expected) for every QOF period loaded
    (``mappings``: the practice -> PCN mapping as read already; else read once here)."""
    mappings = mappings or levels.Mappings(store)
    models, gaps, practices = [], [], []
    for period in periods or store.periods("qof_prevalence"):
        expected, stats = practice_expected(store, period, adjust_for)
        models.append(stats)
        practices.append(expected)
        for level in levels.levels_for("need"):
            units = (_practice_self(expected, store, period, mappings) if level == "practice"
                     else _units(store, level, period, mappings))
            if units is not None:
                gaps.append(gap_table(expected, units, level))
    model = pd.concat(models, ignore_index=True) if models else pd.DataFrame()
    gap = pd.concat(gaps, ignore_index=True) if gaps else empty(GAP_COLUMNS)
    practice = pd.concat(practices, ignore_index=True) if practices else pd.DataFrame()
    return model, gap, practice


# ------------------------------------------------------------------ neighbourhoods
LSOA_GAP_COLUMNS = ["period", "level", "area_code", "lsoa_code", "group_code", "patients",
                    "lsoa_name", "list_size", "observed", "expected", "ratio", "ratio_lowercl",
                    "ratio_uppercl", "missing", "missing_lowercl", "missing_uppercl",
                    "significantly_low", "tau2", "registration_period"]


def registration_shares(store: Store, period: str) -> tuple[pd.DataFrame, str] | None:
    """Each practice's share of its registered patients living in each LSOA (registrations_lsoa
    nearest ``period``; unknown LSOAs keep their share of the denominator but are not listed)."""
    if not store.has("registrations_lsoa"):
        return None
    chosen = nearest_period(store.periods("registrations_lsoa"), period)
    if chosen is None:
        return None
    t = store.table("registrations_lsoa")
    t = t.filter((t.period == chosen) & (t.sex == "ALL"))
    # the table's key (period, practice, LSOA, sex) makes each ALL row one practice x LSOA: read
    # as stored, not regrouped (a national month: 1.2M rows, ~1 CPU-s of hash aggregate)
    reg = t.select("practice_code", "lsoa_code", "lsoa_known", "patients").to_pandas()
    if reg.empty:
        return None
    reg["patients"] = reg["patients"].astype(float)
    total = reg.groupby("practice_code")["patients"].transform("sum")
    reg["share"] = reg["patients"] / total.where(total > 0)
    reg = reg[reg["lsoa_known"].astype(bool) & reg["share"].notna()]
    return reg[["practice_code", "lsoa_code", "patients", "share"]], chosen


#: A PCN's neighbourhood rows are kept where at least this many of its patients live (the long
#: tail of LSOAs with a handful of patients says nothing and would be suppressed anyway).
MIN_LSOA_PATIENTS = 50


def lsoa_gaps(store: Store, practice: pd.DataFrame,
              min_patients: int = MIN_LSOA_PATIENTS, *,
              mappings: levels.Mappings | None = None) -> pd.DataFrame:
    """Practice O and E apportioned to LSOAs, per PCN (LSOAs with at least ``min_patients`` of
    its patients) and over all practices (every LSOA), as one frame (:func:`lsoa_gap_parts`
    joined; ``build`` writes the parts one at a time instead)."""
    parts = list(lsoa_gap_parts(store, practice, min_patients, mappings=mappings))
    if not parts:
        return empty(LSOA_GAP_COLUMNS)
    # one frame as Arrow lets go of each column: parts and the whole are never all held at once
    for i, part in enumerate(parts):
        parts[i] = part.cast(_LSOA_SCHEMA)  # codes as text
    whole = pa.concat_tables(parts)
    del parts
    return whole.to_pandas(self_destruct=True, split_blocks=True)


#: Rows of ``prevalence_gap_lsoa`` made at a time: a block of whole conditions of one period and
#: level (at England scale a period's PCN rows are 2.4M, 17 conditions of ~143,000 rows).
PART_ROWS = 600_000


def lsoa_gap_parts(store: Store, practice: pd.DataFrame,
                   min_patients: int = MIN_LSOA_PATIENTS, *,
                   mappings: levels.Mappings | None = None,
                   part_rows: int = PART_ROWS) -> Iterator[pa.Table]:
    """The rows of :func:`lsoa_gaps` in table order as Arrow tables of about ``part_rows`` rows
    (a period, level and block of whole conditions each), made one at a time: their
    concatenation is the table (text as dictionary codes).

    Apportioning is a sparse matrix product: (area x LSOA rows) x practices of registration
    shares, times practices x conditions of O, E and list size. Codes are numbered once per
    period (the practices, LSOAs and PCNs each sorted as text), and text is made by Arrow from
    those numbers only for the rows kept.
    """
    names = None
    for period, expected in practice.groupby("period"):
        found = registration_shares(store, period)
        if found is None:
            continue
        shares, reg_period = found
        names = lsoa_names(store) if names is None else names  # the same every period
        expected = expected[expected["expected"].notna() & (expected["expected"] > 0)]
        codes = pd.Index(np.intersect1d(expected["practice_code"].unique().astype(object),
                                        shares["practice_code"].unique().astype(object)))
        if codes.empty:
            continue
        groups = pd.Index(sorted(expected["group_code"].unique()))
        tau2 = (expected.groupby("group_code")["tau2"].first()
                if "tau2" in expected else pd.Series(dtype=float))
        group_tau2 = tau2.reindex(groups).to_numpy(dtype=float)
        expected = expected[expected["practice_code"].isin(codes)]
        p_at = codes.get_indexer(expected["practice_code"])
        g_at = groups.get_indexer(expected["group_code"])
        matrices = {}
        for column in ("observed", "expected", "list_size"):
            dense = np.zeros((len(codes), len(groups)))
            dense[p_at, g_at] = expected[column].to_numpy(dtype=float)
            matrices[column] = dense
        # each share row's practice (column of the matrix) and LSOA (rank among the sorted codes),
        # from each column's distinct codes
        code, distinct = pd.factorize(shares["practice_code"])
        column = codes.get_indexer(pd.Index(np.asarray(distinct, dtype=object)))[code]
        shares = shares[column >= 0]
        lsoa, lsoas = pd.factorize(shares["lsoa_code"], sort=True)
        rows = pd.DataFrame({"practice": column[column >= 0], "lsoa": lsoa,
                             "patients": shares["patients"].to_numpy(),
                             "share": shares["share"].to_numpy()})
        del shares
        lsoa_text = pa.array(np.asarray(lsoas, dtype=object), type=pa.large_string())
        lsoa_name = pa.array([names.get(c) for c in lsoas], type=pa.large_string())
        scopes = [("all", rows.assign(area=0), pa.array(["all"], type=pa.large_string()))]
        pcns = _units(store, "pcn", period, mappings)
        if pcns is not None:
            area, areas = pd.factorize(pcns["unit_code"].to_numpy(), sort=True)
            members = pd.DataFrame({"practice": codes.get_indexer(pcns["practice_code"]),
                                    "area": area})
            members = members[(members["practice"] >= 0) & (members["area"] >= 0)]
            # every practice's rows once per PCN holding it, in the share rows' order (an inner
            # join on the practice, as on its code)
            scopes.append(("pcn", rows.merge(members, on="practice"),
                           pa.array(np.asarray(areas, dtype=object), type=pa.large_string())))
        for level, scoped, area_text in scopes:
            text = {"period": period, "level": level, "registration_period": reg_period}
            yield from _apportioned(scoped, len(lsoas), len(codes), matrices, groups, group_tau2,
                                    min_patients if level != "all" else None, part_rows, text,
                                    area_text, lsoa_text, lsoa_name)


def _apportioned(scoped: pd.DataFrame, n_lsoas: int, n_practices: int,
                 matrices: dict[str, np.ndarray], groups: pd.Index, tau2: np.ndarray,
                 min_patients: int | None, part_rows: int, text: dict[str, str],
                 area_text: pa.Array, lsoa_text: pa.Array, lsoa_name: pa.Array
                 ) -> Iterator[pa.Table]:
    """One period and level's LSOA gap rows: (area, LSOA) pairs in the order of their codes as
    text, a condition's rows together (the disclosure rule's fixed groups, so the protected copy
    is made a block at a time in table order, outputs/blocks.py), conditions in order; a block
    of whole conditions at a time."""
    # (area, LSOA) pairs numbered in the order of (area, LSOA) as text: both are sorted ranks
    pair_key = scoped["area"].to_numpy(dtype=np.int64) * n_lsoas + scoped["lsoa"].to_numpy()
    keys, pair = np.unique(pair_key, return_inverse=True)
    if not len(keys):
        return
    weights = sparse.csr_matrix(
        (scoped["share"].to_numpy(), (pair, scoped["practice"].to_numpy())),
        shape=(len(keys), n_practices))
    patients = np.bincount(pair, weights=scoped["patients"].to_numpy(dtype=float),
                           minlength=len(keys))  # whole numbers: exact in any order
    if min_patients is not None:
        keep = patients >= min_patients
        keys, patients, weights = keys[keep], patients[keep], weights[keep]
    # row by row as the product of every pair would give it, for the pairs kept only
    values = {c: weights @ m for c, m in matrices.items()}
    del weights
    area_at, lsoa_at = np.divmod(keys, n_lsoas)
    n = len(keys)
    per_block = max(1, part_rows // max(n, 1))
    for first in range(0, len(groups), per_block):
        block = np.arange(first, min(first + per_block, len(groups)))
        found = [np.flatnonzero(values["expected"][:, g] > 0) for g in block]
        at = np.concatenate(found)  # the pair of each row, condition after condition
        if not len(at):
            continue
        group_at = np.repeat(block, [len(f) for f in found])
        long = pd.DataFrame({"observed": values["observed"][at, group_at],
                             "expected": values["expected"][at, group_at],
                             "tau2": tau2[group_at]})
        out = ratio_limits(long, [], unique=True, tau2="tau2")
        size = len(at)
        lsoa_at_rows = lsoa_at[at].astype(np.int32)
        columns = {
            "period": _coded(np.zeros(size, np.int32), text["period"]),
            "level": _coded(np.zeros(size, np.int32), text["level"]),
            "area_code": _coded(area_at[at].astype(np.int32), area_text),
            "lsoa_code": _coded(lsoa_at_rows, lsoa_text),
            "group_code": _coded((group_at - first).astype(np.int32),
                                 np.asarray(groups, dtype=object)[block]),
            "patients": pa.array(patients[at]),
            "lsoa_name": _coded(lsoa_at_rows, lsoa_name),
            "list_size": pa.array(values["list_size"][at, group_at]),
            **{c: pa.array(out[c].to_numpy()) for c in (
                "observed", "expected", "ratio", "ratio_lowercl", "ratio_uppercl", "missing",
                "missing_lowercl", "missing_uppercl", "significantly_low")},
            "tau2": pa.array(long["tau2"].to_numpy()),
            "registration_period": _coded(np.zeros(size, np.int32), text["registration_period"]),
        }
        del long, out
        yield pa.Table.from_arrays(list(columns.values()), names=list(columns))


def _coded(codes: np.ndarray, values: pa.Array | np.ndarray | str) -> pa.DictionaryArray:
    """Text as Arrow dictionary codes into ``values`` (one text: every row that one), missing
    where the value is: no string copied per row (DuckDB reads it as text)."""
    if isinstance(values, str):
        values = [values]
    values = values if isinstance(values, pa.Array) else pa.array(values, type=pa.large_string())
    missing = values.is_null().to_numpy(zero_copy_only=False)
    mask = missing[codes] if missing.any() else None
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=mask),
                                          values.fill_null("") if mask is not None else values)


#: prevalence_gap_lsoa's columns as Arrow, with the pandas types the frame has (codes as
#: ``string``, the other text as ``str``).
_LSOA_SCHEMA = pa.Schema.from_pandas(pd.DataFrame({
    c: pd.Series(dtype=pd.StringDtype("pyarrow") if c in ("area_code", "lsoa_code", "group_code")
                 else "str" if c in ("period", "level", "lsoa_name", "registration_period")
                 else bool if c == "significantly_low"
                 else "float64") for c in LSOA_GAP_COLUMNS}), preserve_index=False)


def lsoa_names(store: Store) -> dict[str, str]:
    """LSOA names by code: from ``lsoa_profile`` (built before need), else the boundaries."""
    if store.has("lsoa_profile"):
        t = store.table("lsoa_profile").select("unit_code", "unit_name")
        names = t.to_pandas().dropna().drop_duplicates("unit_code")
        names = names[names["unit_name"] != names["unit_code"]]  # a code standing in for a name
        return dict(zip(names["unit_code"], names["unit_name"], strict=True))
    found: dict[str, str] = {}
    for vintage in (2011, 2021):
        found |= levels.lsoa_names(store, vintage).to_dict()
    return found


_TEXT = {"period", "level", "area_code", "area_name", "lsoa_code", "lsoa_name", "group_code", "model",
         "registration_period", "area_level", "indicator", "age", "source", "measure", "units",
         "method"}


def empty(columns: list[str]) -> pd.DataFrame:
    """A typed empty table (text columns as strings, flags boolean, the rest numbers), so an
    empty derived table still has columns every engine can filter on."""
    return pd.DataFrame({c: pd.Series(dtype="string" if c in _TEXT else
                                      "boolean" if c in ("significantly_low", "met_target")
                                      else "float64") for c in columns})


# ------------------------------------------------------------------ uptake
UPTAKE_GAP_COLUMNS = ["period", "area_level", "area_code", "area_name", "indicator", "age",
                      "numerator", "denominator", "uptake", "lowercl", "uppercl", "target",
                      "gap", "people_behind", "met_target", "source", "suppressed_rows"]


def uptake_targets(store: Store, targets: Mapping[str, float] | None = None) -> dict[str, float]:
    """Targets by indicator: the ``uptake_targets`` table (indicator, target), then ``targets``."""
    out: dict[str, float] = {}
    if store.has(TARGETS_TABLE):
        table = store.read(TARGETS_TABLE)
        out.update({str(r.indicator): float(r.target) for r in table.itertuples()})
    out.update(targets or {})
    return {k: v / 100 if v > 1 else v for k, v in out.items()}


def uptake_gaps(store: Store, targets: Mapping[str, float] | None = None,
                default_target: float = DEFAULT_TARGET, *,
                mappings: levels.Mappings | None = None) -> pd.DataFrame:
    """Uptake, gap to target and people behind it, for loaded areas, and practices and LSOAs
    summed to every level of their kind the level registry reports uptake at (PCN, Sub-ICB, ICB;
    local and upper-tier authorities) that was not loaded from a file of its own. A suppressed row is left out of both sums and counted in ``suppressed_rows``."""
    if not store.has("uptake"):
        return empty(UPTAKE_GAP_COLUMNS)
    uptake = store.read("uptake")
    suppressed = uptake["numerator"].isna() | uptake["denominator"].isna()
    uptake = uptake.assign(source="loaded", area_name=None, suppressed_rows=suppressed.astype(int))
    frames = [uptake]
    usable = uptake.assign(numerator=uptake["numerator"].where(~suppressed),
                           denominator=uptake["denominator"].where(~suppressed))
    pairs = uptake[["period", "area_level"]].drop_duplicates()
    loaded_at = {period: set(rows["area_level"]) for period, rows in pairs.groupby("period")}
    for (period, member), rows in usable.groupby(["period", "area_level"]):
        loaded = loaded_at[period]
        kind = {"practice": levels.PRACTICE, "lsoa": levels.PLACE}.get(member)
        for level in levels.levels_for("uptake", kind) if kind else ():
            if level in loaded:
                continue
            units = (_units(store, level, period, mappings) if member == "practice"
                     else _lsoa_units(store, level))
            if units is None:
                continue
            key = "practice_code" if member == "practice" else "lsoa_code"
            joined = rows.merge(units, left_on="area_code", right_on=key)
            summed = joined.groupby(["period", "unit_code", "indicator", "age"]).agg(
                numerator=("numerator", "sum"), denominator=("denominator", "sum"),
                area_name=("unit_name", "first"),
                suppressed_rows=("suppressed_rows", "sum")).reset_index()
            frames.append(summed.rename(columns={"unit_code": "area_code"})
                          .assign(area_level=level, source=f"summed from {member}s"))
    rows = pd.concat(frames, ignore_index=True)
    return score_uptake(rows, uptake_targets(store, targets), default_target)


def _lsoa_units(store: Store, level: str) -> pd.DataFrame | None:
    try:
        units = levels.lsoa_units(store, level)
    except (LookupError, KeyError, ValueError):
        return None
    return units if len(units) else None


def score_uptake(rows: pd.DataFrame, targets: Mapping[str, float],
                 default_target: float = DEFAULT_TARGET) -> pd.DataFrame:
    """Add uptake (Wilson limits), target, gap and people behind the gap to uptake rows."""
    rows = rows.reset_index(drop=True)
    rows["target"] = rows["indicator"].map(lambda i: targets.get(i, default_target)).astype(float)
    ok = rows["numerator"].notna() & rows["denominator"].notna() & (rows["denominator"] > 0)
    rows["uptake"] = np.nan
    rows["lowercl"] = np.nan
    rows["uppercl"] = np.nan
    if ok.any():
        scored = proportion(rows[ok].astype({"numerator": float, "denominator": float}),
                            x="numerator", n="denominator")
        rows.loc[ok, "uptake"] = scored["value"].to_numpy()
        rows.loc[ok, "lowercl"] = scored["lowercl"].to_numpy()
        rows.loc[ok, "uppercl"] = scored["uppercl"].to_numpy()
    rows["gap"] = (rows["target"] - rows["uptake"]).clip(lower=0)
    with np.errstate(invalid="ignore"):  # ceil(target x denominator) - numerator where known
        needed = np.where(ok, np.ceil(rows["target"].to_numpy(dtype=float)
                                      * rows["denominator"].to_numpy(dtype=float, na_value=np.nan)
                                      - 1e-9)
                          - rows["numerator"].to_numpy(dtype=float, na_value=np.nan), np.nan)
    rows["people_behind"] = pd.array(np.clip(needed, 0, None), dtype="Int64")
    rows["met_target"] = pd.array(rows["uptake"] >= rows["target"], dtype="boolean")
    rows.loc[~ok, "met_target"] = pd.NA
    return rows[UPTAKE_GAP_COLUMNS]


# ------------------------------------------------------------------ build step
def compute(store: Store, adjust_for: Iterable[str] = DEFAULT_ADJUST_FOR,
            targets: Mapping[str, float] | None = None) -> dict[str, pd.DataFrame]:
    """Every need table, computed (not written): prevalence_model, prevalence_gap,
    prevalence_gap_lsoa and uptake_gap (those the store allows)."""
    return dict(_computed(store, adjust_for, targets))


def _computed(store: Store, adjust_for: Iterable[str],
              targets: Mapping[str, float] | None, *, in_parts: bool = False
              ) -> Iterator[tuple[str, pd.DataFrame | Iterator[pa.Table]]]:
    """The need tables one at a time, each let go here once given (``build`` writes each before
    the next is computed); ``in_parts``: the LSOA gaps (6M rows at England scale) as Arrow parts
    made as they are written (:func:`lsoa_gap_parts`, at least one), not one frame."""
    mappings = levels.Mappings(store)  # read once for every period and level
    if store.has("qof_prevalence"):
        model, gap, practice = prevalence_gaps(store, adjust_for, mappings=mappings)
        yield "prevalence_model", model
        yield "prevalence_gap", gap
        del model, gap
        if in_parts:
            yield "prevalence_gap_lsoa", _at_least_one(
                lsoa_gap_parts(store, practice, mappings=mappings), LSOA_GAP_COLUMNS)
        else:
            yield "prevalence_gap_lsoa", lsoa_gaps(store, practice, mappings=mappings)
        del practice
    if store.has("uptake"):
        yield "uptake_gap", uptake_gaps(store, targets, mappings=mappings)


def _at_least_one(parts: Iterable[pa.Table], columns: list[str]) -> Iterator[pa.Table]:
    """``parts``, or the typed empty table (:func:`empty`) when there are none."""
    given = False
    for part in parts:
        given = True
        yield part
    if not given:
        yield pa.Table.from_pandas(empty(columns), preserve_index=False)


#: Environment variable choosing what the expected registers adjust for in ``placehealth build``
#: (comma-separated drivers, e.g. ``age,sex`` to leave deprivation out).
ENV_ADJUST_FOR = "PLACEHEALTH_NEED_ADJUST_FOR"


def adjust_for_setting(value: str | None = None) -> tuple[str, ...]:
    """The drivers to adjust for: ``value`` or ``$PLACEHEALTH_NEED_ADJUST_FOR``, else all."""
    value = value if value is not None else os.environ.get(ENV_ADJUST_FOR)
    if not value:
        return DEFAULT_ADJUST_FOR
    drivers = tuple(d.strip().lower() for d in value.split(",") if d.strip())
    unknown = [d for d in drivers if d not in DRIVERS]
    if unknown:
        raise ValueError(f"{ENV_ADJUST_FOR}: unknown driver(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(DRIVERS)}")
    return drivers


def build(store: Store, adjust_for: Iterable[str] | None = None,
          targets: Mapping[str, float] | None = None) -> dict[str, int]:
    """Build step: compute every need table and write each whole. ``adjust_for`` defaults to
    ``$PLACEHEALTH_NEED_ADJUST_FOR`` (comma-separated), else every driver."""
    written = {}
    for name, frame in _computed(store, adjust_for if adjust_for is not None else adjust_for_setting(),
                                 targets, in_parts=True):
        if isinstance(frame, pd.DataFrame):
            store.replace_table(name, frame)
            written[name] = len(frame)
        else:  # Arrow parts, each written as it is made
            written[name] = store.replace_table_in_parts(name, frame)
        del frame  # before the next table is computed
    return written


__all__ = [
    "DEFAULT_TARGET",
    "ENV_ADJUST_FOR",
    "adjust_for_setting",
    "build",
    "compute",
    "gap_table",
    "lsoa_gap_parts",
    "lsoa_gaps",
    "practice_expected",
    "prevalence_gaps",
    "registration_shares",
    "score_uptake",
    "tau2_by_group",
    "uptake_gaps",
    "uptake_targets",
]
