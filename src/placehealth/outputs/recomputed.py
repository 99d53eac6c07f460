"""Comparison tables derived again from protected counts, so no derived value reveals more.

Disclosure control (``outputs/disclosure.py``) hides small counts and rounds the rest. A value
derived from unrounded counts undoes that: an exact percentage beside a rounded denominator gives
the numerator back, the lowest value of a spine is one unit's exact value, and each unit's peer
mean is one equation of a system whose solution is every unit's exact value. The comparison
build step (``analyses.compare``) derives much from its counts, so at the output boundary its
tables are derived again, by the same functions, from the protected rows:

- ``comparison``: each unit's value and limits from its rounded numerator and denominator
  (``indicators.compute``: Wilson for proportions, exact or Byar's for rates and ratios),
  England's and the ICB's values from their rounded counts, then the ratings, peer benchmark,
  rank, decile and trend (``analyses.compare.comparison``) from those values, hidden units left
  out. Every cell of a hidden row that describes the unit (ratings included) stays hidden.
- ``spine``, ``deciles``, ``funnel`` and ``funnel_limits``: from the protected ``comparison``.
- ``core20plus5``: the whole PCN's value as the protected ``prevalence_gap`` and ``uptake_gap``
  publish it (its Core20 and rest sides are recomputed by the table's rule).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from placehealth.analyses import compare
from placehealth.indicators import METHODS, POLARITIES, VALUE_COLUMNS, Indicator, compute
from placehealth.outputs.disclosure import SUPPRESSED

#: ``protected(name)``: a table after disclosure control, or None when the store lacks it.
Protected = Callable[[str], pd.DataFrame | None]
UNIT_KEYS = ["indicator", "level", "period", "unit_code"]


def _indicators(frame: pd.DataFrame, protected: Protected) -> dict[str, Indicator]:
    """The indicators of the comparison's rows (method, multiplier, polarity) as the build
    registered them in the ``indicators`` table; an indicator missing there is read from its
    rows: Wilson limits mean a proportion, the multiplier is the power of ten value / (x / n)."""
    registry = protected("indicators")
    wanted = {"name", "method", "multiplier", "polarity"}
    registered = (registry.drop_duplicates("name").set_index("name")
                  if registry is not None and wanted <= set(registry) else None)
    known = {}
    names = frame["indicator"]
    for name in names.dropna().unique():  # in order of first appearance, as groupby gives them
        if registered is not None and name in registered.index \
                and registered.at[name, "method"] in METHODS:
            method, multiplier = registered.at[name, "method"], float(registered.at[name, "multiplier"])
            polarity = registered.at[name, "polarity"]
        else:  # read from its rows: only an unregistered indicator's rows are taken
            rows = frame[(names == name).to_numpy()]
            method = "proportion" if rows.get("method", pd.Series(dtype=object)).eq("Wilson").all() else "rate"
            counted = rows[pd.to_numeric(rows["numerator"], errors="coerce") > 0]
            ratio = (pd.to_numeric(counted["value"], errors="coerce") * counted["denominator"].astype(float)
                     / counted["numerator"].astype(float)).median()
            multiplier = float(10 ** np.round(np.log10(ratio))) if ratio and np.isfinite(ratio) else 100.0
            polarity = rows["polarity"].iloc[0] if "polarity" in rows else "none"
        known[name] = Indicator(name=name, title=name, source_table="", numerator="", denominator="",
                                method=method, multiplier=multiplier,
                                polarity=polarity if polarity in POLARITIES else "none")
    return known


def _values(rows: pd.DataFrame, known: dict[str, Indicator], prefix: str = "") -> pd.DataFrame:
    """Values and 95% limits from the (protected) counts ``{prefix}numerator`` and
    ``{prefix}denominator`` of each row; rows without both counts get none."""
    counts = rows.rename(columns={f"{prefix}numerator": "numerator",
                                  f"{prefix}denominator": "denominator"})
    counts = counts[["indicator", "numerator", "denominator"]].astype(
        {"numerator": "float64", "denominator": "float64"})
    out = pd.DataFrame(np.nan, index=rows.index, columns=["value", "lowercl", "uppercl"])
    usable = counts["numerator"].notna() & (counts["denominator"] > 0) & counts["indicator"].isin(known)
    for name, part in counts[usable].groupby("indicator", sort=False):
        if known[name].method == "proportion":
            part = part[part["numerator"] <= part["denominator"]]
        computed = compute(part[["numerator", "denominator"]], known[name])
        out.loc[part.index, ["value", "lowercl", "uppercl"]] = computed[["value", "lowercl", "uppercl"]].to_numpy()
    return out


def _hide_again(frame: pd.DataFrame) -> pd.DataFrame:
    """Null again every cell a row's ``suppressed_cells`` names: a column at a time, in the rows
    whose list names it (a table has few distinct lists)."""
    codes, lists = pd.factorize(frame[SUPPRESSED].to_numpy(dtype=object))
    rows_of: dict[str, list[int]] = {}
    for code, names in enumerate(lists):
        for column in filter(None, str(names).split(",")):
            rows_of.setdefault(column, []).append(code)
    for column, named in rows_of.items():
        if column not in frame:
            continue
        if frame[column].dtype == bool:
            frame[column] = frame[column].astype(object)
        frame.iloc[np.flatnonzero(np.isin(codes, named)), frame.columns.get_loc(column)] = None
    return frame


def comparison(frame: pd.DataFrame, protected: Protected) -> pd.DataFrame:
    """The protected comparison with everything derived from counts recomputed from the
    protected counts (see the module docstring)."""
    known = _indicators(frame, protected)
    if frame.empty or not known or not {"numerator", "denominator", "level"} <= set(frame):
        return frame
    frame = frame.reset_index(drop=True)
    values = frame[[c for c in VALUE_COLUMNS if c in frame]].copy()
    values[["value", "lowercl", "uppercl"]] = _values(frame, known).to_numpy()
    peers = protected("peers")
    parts = []
    # what the benchmarks and each unit's ICB are read from (not every column of the comparison)
    read = [c for c in ("indicator", "period", "unit_code", "icb_code", "england_numerator",
                        "england_denominator", "icb_numerator", "icb_denominator") if c in frame]
    for level, rows in values.groupby("level", sort=False):
        mine = frame.loc[rows.index, read]
        england = _benchmark(mine, known, "england", ["indicator", "period"])
        icb = _benchmark(mine, known, "icb", ["indicator", "period", "icb_code"]).rename(
            columns={"icb_code": "unit_code"})
        unit_icb = mine.drop_duplicates("unit_code").set_index("unit_code")["icb_code"] \
            if "icb_code" in mine else None
        level_peers = (peers[(peers["level"] == level) & (peers["within"] == "england")]
                       if peers is not None and not peers.empty else None)
        shown = rows[rows["value"].notna()]
        table = compare.comparison(shown, england, known, icb=icb if len(icb) else None,
                                   unit_icb=unit_icb, peers=level_peers)
        parts.append(table)
    recomputed = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=UNIT_KEYS)
    out = _overwrite(frame, recomputed, UNIT_KEYS)
    return _hide_again(out)


def _benchmark(rows: pd.DataFrame, known: dict[str, Indicator], name: str, keys: list[str]) -> pd.DataFrame:
    """England's (or each ICB's) value per indicator and period from its protected counts."""
    columns = [f"{name}_numerator", f"{name}_denominator"]
    if not set(columns) <= set(rows) or not set(keys) <= set(rows):
        return pd.DataFrame(columns=[*keys, "value", "numerator", "denominator"])
    bench = rows[[*keys, *columns]].drop_duplicates(keys).reset_index(drop=True)
    values = _values(bench, known, f"{name}_")
    return pd.DataFrame({**{k: bench[k] for k in keys}, "value": values["value"],
                         "numerator": bench[columns[0]], "denominator": bench[columns[1]]})


def _overwrite(protected: pd.DataFrame, recomputed: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``protected`` with every column ``recomputed`` has (but the keys and counts) taken from
    the recomputed row with the same keys (null where there is none)."""
    out = protected.copy()
    if recomputed.empty:
        recomputed = pd.DataFrame(columns=list(out.columns))
    columns = [c for c in recomputed.columns if c in out and c not in keys and c != SUPPRESSED]
    right = recomputed[[*keys, *columns]].drop_duplicates(keys)
    # Columns of one extension type on both sides (Arrow strings) are taken by row position,
    # staying Arrow; the rest come through the merge as numpy values.
    same = [c for c in columns if pd.api.types.is_extension_array_dtype(out[c])
            and right[c].dtype == out[c].dtype]
    merged = out[keys].merge(right[[*keys, *(c for c in columns if c not in same)]]
                             .assign(**{_POSITION: np.arange(len(right))}), on=keys, how="left")
    position = merged[_POSITION].fillna(-1).to_numpy(dtype="int64")
    for column in columns:
        if column in same:
            out[column] = right[column].array.take(position, allow_fill=True)
            continue
        values = merged[column].to_numpy()
        if pd.api.types.is_extension_array_dtype(out[column]) or out[column].dtype == object:
            out[column] = pd.array(values, dtype=out[column].dtype) if out[column].dtype != object \
                else values.astype(object)
        else:
            out[column] = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy()
    return out


#: The recomputed row's position, carried through :func:`_overwrite`'s merge.
_POSITION = "_placehealth_position"


# ------------------------------------------------------------------ tables of the comparison
def _shown_comparison(protected: Protected) -> tuple[pd.DataFrame, dict[str, Indicator]] | None:
    table = protected("comparison")
    if table is None or table.empty:
        return None
    return table, _indicators(table, protected)


def spine(frame: pd.DataFrame, protected: Protected) -> pd.DataFrame:
    """The spine's values, England's and the range across units from the protected comparison."""
    source = _shown_comparison(protected)
    if source is None or frame.empty:
        return frame
    table = _columns(source[0], compare.SPINE_READS)
    parts = [compare.spine(rows.assign(value=rows["value"].astype("float64")))
             for _, rows in table.groupby("level", sort=False)]
    recomputed = pd.concat([p for p in parts if not p.empty], ignore_index=True) if parts else pd.DataFrame()
    return _hide_again(_overwrite(frame, recomputed, ["level", "indicator", "unit_code"]))


def deciles(frame: pd.DataFrame, protected: Protected) -> pd.DataFrame:
    """The percentiles of the level's units' protected values (hidden units left out)."""
    source = _shown_comparison(protected)
    if source is None:
        return frame
    table = source[0]
    values = table[["indicator", "level", "period", "value"]].astype({"value": "float64"})
    return compare.deciles(values).assign(**{SUPPRESSED: ""})


def funnel(frame: pd.DataFrame, protected: Protected) -> pd.DataFrame:
    """Funnel points, target and limits from the protected counts (hidden units' cells stay
    hidden)."""
    source = _shown_comparison(protected)
    if source is None or frame.empty:
        return frame
    table, known = source
    shown = _counted(_columns(table, compare.FUNNEL_READS))
    parts = [compare.funnel(rows, known) for _, rows in shown.groupby("level", sort=False)]
    recomputed = pd.concat([p for p in parts if not p.empty], ignore_index=True) if parts else pd.DataFrame()
    return _hide_again(_overwrite(frame, recomputed, UNIT_KEYS))


def funnel_limits(frame: pd.DataFrame, protected: Protected) -> pd.DataFrame:
    """The funnel's limit lines from the protected counts of the units shown."""
    source = _shown_comparison(protected)
    if source is None:
        return frame
    table, known = source
    curves = compare.funnel_curves(_counted(_columns(table, compare.CURVE_READS)), known)
    return curves.assign(**{SUPPRESSED: ""}) if not curves.empty else frame


def _columns(table: pd.DataFrame, read: tuple[str, ...]) -> pd.DataFrame:
    """The columns of ``table`` a step reads (those it has), not the whole comparison."""
    return table[[c for c in read if c in table]]


def _counted(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of the protected comparison whose counts are shown, as float counts."""
    shown = table[table["numerator"].notna() & table["denominator"].notna()]
    return shown.astype({"numerator": "float64", "denominator": "float64"})


# ------------------------------------------------------------------ Core20PLUS5
def core20plus5(frame: pd.DataFrame, protected: Protected) -> pd.DataFrame:
    """The whole PCN's value as the protected need and uptake tables publish it (O/E ratio and
    missing patients of ``prevalence_gap``, uptake of ``uptake_gap``), and the Core20 share
    row's as its protected share; hidden where the source is hidden or absent."""
    if frame.empty or "all_value" not in frame:
        return frame
    sources = [_need_values(protected), _uptake_values(protected)]
    keys = ["period", "pcn_code", "indicator", "measure"]
    published = pd.concat([s for s in sources if s is not None], ignore_index=True) \
        if any(s is not None for s in sources) else pd.DataFrame(columns=[*keys, "_value"])
    out = frame.copy()
    merged = out[keys].merge(published.drop_duplicates(keys), on=keys, how="left")
    values = pd.to_numeric(merged["_value"], errors="coerce").to_numpy(dtype="float64")
    share = out["measure"].eq("share").to_numpy()
    values = np.where(share, pd.to_numeric(out["core20_share"], errors="coerce"), values)
    out["all_value"] = values
    gone = np.isnan(values) & pd.to_numeric(frame["all_value"], errors="coerce").notna().to_numpy()
    out[SUPPRESSED] = [",".join(filter(None, [names, "all_value"])) if flag and "all_value" not in names
                       else names for names, flag in zip(out[SUPPRESSED], gone, strict=True)]
    return _hide_again(out)


def _need_values(protected: Protected) -> pd.DataFrame | None:
    gap = protected("prevalence_gap")
    if gap is None or gap.empty:
        return None
    gap = gap[gap["level"] == "pcn"]
    long = gap.melt(id_vars=["period", "area_code", "group_code"], value_vars=["ratio", "missing"],
                    var_name="measure", value_name="_value")
    return pd.DataFrame({"period": long["period"], "pcn_code": long["area_code"],
                         "indicator": "prevalence_gap:" + long["group_code"].astype(str),
                         "measure": long["measure"], "_value": long["_value"]})


def _uptake_values(protected: Protected) -> pd.DataFrame | None:
    uptake = protected("uptake_gap")
    if uptake is None or uptake.empty:
        return None
    uptake = uptake[uptake["area_level"] == "pcn"]
    return pd.DataFrame({"period": uptake["period"], "pcn_code": uptake["area_code"],
                         "indicator": "uptake:" + uptake["indicator"].astype(str) + " " + uptake["age"].astype(str),
                         "measure": "uptake", "_value": uptake["uptake"]})


#: Tables recomputed after protection: table -> (the function, tables it reads).
RECOMPUTED: dict[str, tuple[Callable[[pd.DataFrame, Protected], pd.DataFrame], tuple[str, ...]]] = {
    "comparison": (comparison, ("indicators", "peers")),
    "spine": (spine, ("comparison",)),
    "deciles": (deciles, ("comparison",)),
    "funnel": (funnel, ("comparison",)),
    "funnel_limits": (funnel_limits, ("comparison",)),
    "core20plus5": (core20plus5, ("prevalence_gap", "uptake_gap")),
}
