"""Fair shares: split a budget, staff hours or sessions across PCNs, practices or neighbourhoods
in proportion to need, and set them beside what each actually gets.

**Proportionate universalism** (Marmot M. et al., *Fair Society, Healthy Lives*, 2010): every
unit gets a share, scaled to its need. The weights the user chooses:

- ``population``: registered patients (latest month);
- ``need_weighted``: patients weighted by the deprivation of where they live, with a stated
  gradient g: a patient in national IMD decile d counts ``1 + g (10 - d) / 9`` (decile 10 counts
  1, decile 1 counts 1 + g; g = 1 by default, so the most deprived tenth counts double), from the
  profiles' registration-weighted decile shares (patients with no English LSOA count as the
  unit's other patients do);
- ``missing``: estimated undiagnosed cases (positive gaps of ``prevalence_gap``, summed over QOF
  registers; for LSOAs ``prevalence_gap_lsoa``);
- ``custom``: any column of a file the user gives.

**Whole units that add up exactly**: each fair share is a whole number of ``unit`` (1 session,
0.5 hours, 1 pound), found by the largest-remainder (Hamilton) method: every unit gets the whole
part of its exact quota and the units left over go to the largest remainders (ties to the larger
weight, then the first unit), so the shares add up to the total exactly (Balinski M.L. & Young
H.P., *Fair Representation*, 2nd ed. 2001, chapter 2). ``actual`` (from ``allocations``) and
``gap`` = actual - fair share follow when loaded.

Table ``fair_shares`` (build): for each weight, each PCN's share of 1,000 across the place and
each practice's share of 100 within its PCN, and every loaded allocation's total re-split by
each weight beside its actual amounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise

import numpy as np
import pandas as pd

from placehealth import levels as lv
from placehealth.store import Store

WEIGHTS = ("population", "need_weighted", "missing", "custom")
#: Levels fair shares are worked out at (the level registry's ``shares`` levels).
LEVELS = lv.levels_for("shares")
#: The practice-based ones, smallest units first: the largest units share 1,000 across the
#: place, the units of each other level 100 within their unit of the next level up (practices
#: within their PCN).
NOMINAL = lv.levels_for("shares", lv.PRACTICE)
PROFILE = {level: lv.get(level).profile_table for level in LEVELS}
DEFAULT_GRADIENT = 1.0
COLUMNS = ["scope", "level", "unit_code", "unit_name", "resource", "weight_by", "weight",
           "weight_pct", "total", "fair_share", "actual", "gap"]


def largest_remainder(weights: np.ndarray | list[float], total: float, unit: float = 1.0
                      ) -> np.ndarray:
    """Split ``total`` in whole ``unit``s in proportion to ``weights`` (Hamilton's method).

    Returns the number of units each gets (integers adding up to ``total / unit`` exactly).
    Raises ValueError for negative or missing weights, weights all zero, a total that is not a
    whole number of units, or a negative total.
    """
    w = np.asarray(weights, dtype="float64")
    if w.size == 0:
        raise ValueError("no units to share between")
    if np.isnan(w).any() or (w < 0).any():
        raise ValueError("weights must be present and not negative")
    if unit <= 0 or total < 0:
        raise ValueError("the unit must be positive and the total not negative")
    seats = round(total / unit)
    if abs(seats * unit - total) > 1e-9 * max(1.0, abs(total)):
        raise ValueError(f"the total {total:g} is not a whole number of units of {unit:g}")
    if w.sum() <= 0:
        raise ValueError("the weights add up to zero: nothing to share by")
    quota = seats * w / w.sum()
    base = np.floor(quota).astype(np.int64)
    # float rounding can leave a quota of 2.9999999 for an exact 3: snap near-integers first
    near = np.isclose(quota, np.round(quota), rtol=0, atol=1e-9)
    base[near] = np.round(quota[near]).astype(np.int64)
    left = int(seats - base.sum())
    if left > 0:
        remainder = np.where(near, 0.0, quota - base)
        order = np.lexsort((np.arange(len(w)), -w, -remainder))
        base[order[:left]] += 1
    elif left < 0:  # only after snapping rounded up: take back from the smallest remainders
        order = np.lexsort((np.arange(len(w)), w, quota - np.floor(quota)))
        base[order[:-left]] -= 1
    return base


def fair_shares(units: pd.DataFrame, total: float, unit: float = 1.0,
                actual: Mapping[str, float] | None = None) -> pd.DataFrame:
    """units: unit_code, unit_name, weight -> + weight_pct, fair_share, actual, gap."""
    out = units.copy()
    counts = largest_remainder(out["weight"].to_numpy(), total, unit)
    decimals = max(0, -int(np.floor(np.log10(unit)))) if unit < 1 else 0
    out["weight_pct"] = 100 * out["weight"] / out["weight"].sum()
    out["fair_share"] = np.round(counts * unit, decimals + 6)
    out["total"] = float(total)
    out["actual"] = out["unit_code"].map(actual).astype("float64") if actual else np.nan
    out["gap"] = out["actual"] - out["fair_share"]
    return out


def shares_within(units: pd.DataFrame, group: str, total: float) -> pd.DataFrame:
    """:func:`fair_shares` of ``total`` whole units within each ``group`` of ``units`` (e.g. each
    PCN's practices), groups in sorted order, the group's code as ``scope``: one pass over
    arrays instead of a frame per group (England has 1,250 PCNs)."""
    units = units.sort_values(group, kind="stable")
    codes = units[group].to_numpy(dtype=object)
    w = units["weight"].to_numpy(dtype="float64")
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(w)]
    counts = np.concatenate([largest_remainder(w[a:b], total) for a, b in zip(starts, ends,
                                                                              strict=True)])
    group_sum = np.repeat(np.add.reduceat(w, starts), ends - starts)
    out = units.drop(columns=[c for c in units.columns
                              if c not in ("unit_code", "unit_name", "weight")])
    out = out.assign(weight_pct=100 * w / group_sum, fair_share=np.round(counts * 1.0, 6),
                     total=float(total), actual=np.nan, gap=np.nan, scope=codes)
    return out.reset_index(drop=True)


def decile_weight(decile: np.ndarray | int, gradient: float = DEFAULT_GRADIENT) -> np.ndarray:
    """The weight of a patient in national IMD decile d: 1 + g (10 - d) / 9."""
    return 1 + gradient * (10 - np.asarray(decile, dtype="float64")) / 9


# ------------------------------------------------------------------------------ weights
def profile_units(store: Store, level: str) -> pd.DataFrame:
    """The latest profile rows of a level (unit_code, unit_name, patients, imd decile shares)."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; use {', '.join(LEVELS)}")
    table = PROFILE[level]
    if not store.has(table):
        raise LookupError(f"{table} is not built: run `placehealth build` first")
    periods = store.periods(table)
    return store.read(table, period=periods[-1]).reset_index(drop=True)


def weights(store: Store, level: str, weight_by: str, gradient: float = DEFAULT_GRADIENT
            ) -> pd.DataFrame:
    """unit_code, unit_name, weight for every unit of ``level`` (weights of :data:`WEIGHTS`
    other than custom)."""
    units = profile_units(store, level)
    out = pd.DataFrame({"unit_code": units["unit_code"], "unit_name": units["unit_name"]})
    patients = units["patients"].astype("float64").fillna(0.0)
    if weight_by == "population":
        out["weight"] = patients
    elif weight_by == "need_weighted":
        columns = [f"imd_decile_{d}_pct" for d in range(1, 11)]
        if not set(columns) <= set(units.columns) or units[columns].isna().all().all():
            raise LookupError("no IMD deciles in the profiles: load the IMD and rebuild")
        shares = units[columns].fillna(0.0).to_numpy(dtype="float64") / 100
        out["weight"] = patients * (shares @ decile_weight(np.arange(1, 11), gradient))
    elif weight_by == "missing":
        out["weight"] = out["unit_code"].map(missing_by_unit(store, level)).fillna(0.0)
    else:
        raise ValueError(f"unknown weight {weight_by!r}; use {', '.join(WEIGHTS)}")
    return out


def missing_by_unit(store: Store, level: str) -> pd.Series:
    """Estimated undiagnosed cases per unit: positive gaps summed over QOF registers."""
    table, code, where = (("prevalence_gap_lsoa", "lsoa_code", "all") if level == "lsoa"
                          else ("prevalence_gap", "area_code", level))
    if not store.has(table):
        raise LookupError(f"{table} is not built: load QOF and run `placehealth build`")
    t = store.table(table)
    period = store.periods(table)[-1]
    rows = (t.filter((t.period == period) & (t.level == where) & (t.missing > 0))
            .group_by(code).aggregate(missing=t.missing.sum()).to_pandas())
    return rows.set_index(code)["missing"]


def practices_of(store: Store, pcn_code: str) -> set[str]:
    """The practices of a PCN (latest mapping)."""
    periods = store.periods("practice_pcn")
    if not periods:
        return set()
    mapping = store.read("practice_pcn", period=periods[-1], pcn_code=pcn_code)
    return set(mapping["practice_code"])


def actual_amounts(store: Store, resource: str, level: str) -> dict[str, float]:
    """The latest loaded allocation of ``resource`` to units of ``level``."""
    if not store.has("allocations"):
        return {}
    rows = store.read("allocations", resource=resource, level=level)
    if rows.empty:
        return {}
    rows = rows[rows["period"] == rows["period"].max()]
    return dict(zip(rows["unit_code"], rows["amount"].astype(float), strict=True))


# ---------------------------------------------------------------------------------- build
def _parents(store: Store, child: str, parent: str, period: str) -> pd.Series:
    """Each unit of ``child`` -> the unit of ``parent`` holding it (by their practices, in the
    mapping of ``period``); empty without a mapping."""
    try:
        up = lv.practice_units(store, parent, period)[["practice_code", "unit_code"]]
        if child == "practice":
            return up.set_index("practice_code")["unit_code"]
        down = lv.practice_units(store, child, period)[["practice_code", "unit_code"]]
    except LookupError:
        return pd.Series(dtype=object)
    pairs = down.merge(up, on="practice_code", suffixes=("", "_parent")).drop_duplicates("unit_code")
    return pairs.set_index("unit_code")["unit_code_parent"]


def build(store: Store, gradient: float = DEFAULT_GRADIENT) -> dict[str, int]:
    """``fair_shares``: nominal shares (:data:`NOMINAL`: PCNs of 1,000, practices of 100 within
    each PCN) by each weight, and every loaded allocation re-split beside its actual amounts."""
    top = NOMINAL[-1]
    if not store.has(PROFILE[top]):
        return {}
    frames = []
    by = {}
    periods = store.periods("practice_pcn")
    for weight_by in ("population", "need_weighted", "missing"):
        try:
            by[weight_by] = {level: weights(store, level, weight_by, gradient) for level in NOMINAL}
        except LookupError:
            continue
    parents = {child: _parents(store, child, parent, periods[-1]) if periods else pd.Series(dtype=object)
               for child, parent in pairwise(NOMINAL)}
    for weight_by, units in by.items():
        shared = units[top][units[top]["weight"] > 0]
        if len(shared):
            frames.append(fair_shares(shared, 1000).assign(
                scope="all", level=top, resource="per_1000", weight_by=weight_by))
        for child, parent in pairwise(NOMINAL):
            sharing = set(units[parent].loc[units[parent]["weight"] > 0, "unit_code"])
            members = units[child].assign(_parent=units[child]["unit_code"].map(parents[child]))
            members = members[members["_parent"].isin(sharing) & (members["weight"] > 0)]
            if len(members):
                frames.append(shares_within(members, "_parent", 100).assign(
                    level=child, resource="per_100", weight_by=weight_by))
    if store.has("allocations"):
        loaded = store.read("allocations")[["resource", "level"]].drop_duplicates()
        for resource, level in loaded.itertuples(index=False):
            if level not in LEVELS:
                continue
            actual = actual_amounts(store, resource, level)
            total = float(sum(actual.values()))
            for weight_by in ("population", "need_weighted", "missing"):
                try:
                    units = weights(store, level, weight_by, gradient)
                except LookupError:
                    continue
                units = units[units["unit_code"].isin(actual.keys()) & (units["weight"] > 0)]
                if units.empty or total <= 0:
                    continue
                step = 1.0 if float(total).is_integer() else 0.01
                frames.append(fair_shares(units, round(total / step) * step, step, actual).assign(
                    scope="allocated", level=level, resource=resource, weight_by=weight_by))
    table = (pd.concat(frames, ignore_index=True)[COLUMNS] if frames
             else pd.DataFrame(columns=COLUMNS))
    store.replace_table("fair_shares", table)
    return {"fair_shares": len(table)}


__all__ = ["DEFAULT_GRADIENT", "LEVELS", "WEIGHTS", "build", "decile_weight", "fair_shares",
           "largest_remainder", "shares_within", "weights"]
