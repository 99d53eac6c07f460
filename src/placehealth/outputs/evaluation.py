"""Evaluate any panel (unit x period) with one of the evaluation statistics, as plain results.

``evaluate(method, frame, ...)`` reads periods written as numbers, dates, months ("2023-04") or
quarters ("2023Q2"), turns the treatment options into each unit's first treated period, runs
``placehealth.measures`` (spc, its, did, synth) and returns a JSON-ready dict with plain names:
the estimate with its 95% limits and p-value, and each method's own parts. ``flat(result)`` is the
same as one table (for CSV and the terminal). The generic command and any later caller (an
intervention's page) share these functions.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from placehealth.measures.did import callaway_santanna, match_comparators
from placehealth.measures.its import its
from placehealth.measures.spc import xmr
from placehealth.measures.synth import synthetic_control
from placehealth.outputs.disclosure import Policy, get_policy

METHODS = ("spc", "its", "did", "synth")
FAMILIES = ("gaussian", "poisson")
NEVER = {"", "0", "never", "none", "na", "nan", "no", "false"}
TRUE = {"1", "true", "yes", "y", "t", "treated"}
_QUARTER = re.compile(r"^\s*(\d{4})\s*[-/ ]?\s*Q([1-4])\s*$", re.IGNORECASE)


class EvaluationError(ValueError):
    """A problem with the panel or the options, worded for the person who supplied them."""


@dataclass(frozen=True)
class Periods:
    """How a time column's values map to an equally spaced index, a label and a season."""

    index: dict[Any, float]  # original value -> period number (months, quarters or the number)
    label: dict[float, str]  # period number -> label as written in the file
    season_length: int | None  # 12 for months, 4 for quarters, None otherwise

    def season(self, number: float) -> float:
        return float(number % self.season_length) + 1 if self.season_length else float("nan")


def read_periods(values: pd.Series, column: str) -> Periods:
    """Period numbers from a time column: integers or decimals as they are; quarters ("2023Q2",
    "2023-Q2") as year x 4 + quarter; anything a date parser reads as year x 12 + month (so
    monthly data is equally spaced); daily dates that are not monthly are refused."""
    distinct = pd.unique(values.dropna())
    if not len(distinct):
        raise EvaluationError(f"column {column!r} has no periods")
    text = [str(v).strip() for v in distinct]
    numbers = pd.to_numeric(pd.Series(text), errors="coerce")
    if numbers.notna().all():
        index = {v: float(n) for v, n in zip(distinct, numbers, strict=True)}
        return Periods(index, {n: str(v) for v, n in zip(distinct, index.values(), strict=True)}, None)
    quarters = [_QUARTER.match(t) for t in text]
    if all(quarters):
        index = {v: float(int(m.group(1)) * 4 + int(m.group(2)) - 1)
                 for v, m in zip(distinct, quarters, strict=True)}  # type: ignore[union-attr]
        return Periods(index, {n: str(v) for v, n in index.items()}, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dates = pd.to_datetime(pd.Series(text), errors="coerce", format="mixed")
    if dates.isna().any():
        bad = [t for t, d in zip(text, dates, strict=True) if pd.isna(d)][:3]
        raise EvaluationError(f"column {column!r}: cannot read {bad} as periods (use numbers, "
                              "dates, months like 2023-04 or quarters like 2023Q2)")
    months = dates.dt.year * 12 + dates.dt.month - 1
    if months.duplicated().any():
        raise EvaluationError(f"column {column!r}: more than one date in the same month; "
                              "evaluate monthly, quarterly or yearly periods")
    index = {v: float(m) for v, m in zip(distinct, months, strict=True)}
    steps = np.diff(np.sort(np.asarray(list(index.values()))))
    quarterly = len(steps) > 0 and np.all(steps % 3 == 0)
    if quarterly:
        index = {v: m / 3 for v, m in index.items()}
    return Periods(index, {n: str(v) for v, n in index.items()}, 4 if quarterly else 12)


def _start_number(value: Any, periods: Periods, column: str) -> float:
    if value in periods.index:
        return periods.index[value]
    one = read_periods(pd.Series([value]), column)
    number = next(iter(one.index.values()))
    if periods.season_length == 4 and one.season_length == 12:
        number /= 3
    if one.season_length != periods.season_length and not (
            periods.season_length == 4 and one.season_length == 12):
        raise EvaluationError(f"start {value!r} is not written like the periods in {column!r}")
    return number


def prepare(frame: pd.DataFrame, *, time: str, outcome: str, unit: str | None = None,
            first_treated: str | None = None, treated: str | None = None,
            start: Any = None, offset: str | None = None, source: str = "the panel") -> tuple[pd.DataFrame, Periods]:
    """A working frame with ``unit``, ``period`` (number), ``season``, ``outcome``, ``offset``
    and ``first`` (first treated period number, NaN for never) columns."""
    missing = [c for c in (time, outcome, unit, first_treated, treated, offset)
               if c is not None and c not in frame.columns]
    if missing:
        raise EvaluationError(f"{source}: column(s) {missing} not found; it has {list(frame.columns)}")
    if not len(frame):
        raise EvaluationError(f"{source}: the panel has no rows")
    if first_treated is not None and (treated is not None or start is not None):
        raise EvaluationError("give --first-treated, or --treated with --start, not both")
    if treated is not None and start is None:
        raise EvaluationError("--treated needs --start (the first period of the intervention)")
    periods = read_periods(frame[time], time)
    work = pd.DataFrame({
        "unit": frame[unit].astype(str) if unit else "all",
        "period": frame[time].map(periods.index),
    })
    bad_time = work["period"].isna()
    if bad_time.any():
        row = int(np.flatnonzero(bad_time)[0])
        raise EvaluationError(f"{source}: line {row + 2}, field {time!r}: missing period")
    work["season"] = work["period"].map(periods.season)
    for name, column in (("outcome", outcome), ("offset", offset)):
        if column is None:
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna() & (frame[column].astype(str).str.strip() != "")
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise EvaluationError(f"{source}: line {row + 2}, field {column!r}: "
                                  f"{frame[column].iloc[row]!r} is not a number")
        work[name] = values.to_numpy(dtype=float)
    if first_treated is not None:
        firsts = {}
        for value in pd.unique(frame[first_treated]):
            if pd.isna(value) or str(value).strip().lower() in NEVER:
                firsts[value] = np.nan
            else:
                firsts[value] = _start_number(value, periods, first_treated)
        work["first"] = frame[first_treated].map(lambda v: np.nan if pd.isna(v) else firsts[v])
    elif start is not None:
        begin = _start_number(start, periods, time)
        if treated is not None:
            flags = frame[treated].astype(str).str.strip().str.lower()
            work["first"] = np.where(flags.isin(TRUE), begin, np.nan)
        else:
            work["first"] = begin
    else:
        work["first"] = np.nan
    varying = work.groupby("unit")["first"].nunique(dropna=False) > 1
    if varying.any():
        raise EvaluationError(f"{source}: unit {varying.index[varying][0]!r} has more than one "
                              "first treated period")
    return work, periods


def _clean(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _estimate(row: pd.Series | dict[str, Any]) -> dict[str, Any]:
    return {k: _clean(row.get(k)) for k in ("estimate", "lower", "upper", "p_value")}


def evaluate(method: str, frame: pd.DataFrame, *, time: str, outcome: str, unit: str | None = None,
             first_treated: str | None = None, treated: str | None = None, start: Any = None,
             offset: str | None = None, family: str = "gaussian", source: str = "the panel",
             baseline: int | None = None, target: float | None = None,
             improvement: str | None = None, screen: bool = False, draws: int = 999,
             inference: str = "auto",
             match: int = 0, seed: int = 1,
             disclosure: str | Policy | None = None) -> dict[str, Any]:
    """Run one method on a panel and return its results with plain names (see module doc).

    When the outcome is a count (``family="poisson"`` or an ``offset``), every value echoed per
    unit and period passes disclosure control (``disclosure``: a policy name, default the
    project's): small counts are hidden and others rounded, and rates are recomputed from the
    rounded count, so no point reveals more than the protected count. Estimates are model
    summaries over many points and are not altered."""
    if method not in METHODS:
        raise EvaluationError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    if family not in FAMILIES:
        raise EvaluationError(f"--family must be gaussian or poisson, not {family!r}")
    if method in ("did", "synth") and unit is None:
        raise EvaluationError(f"{method} compares units: give --unit")
    work, periods = prepare(frame, time=time, outcome=outcome, unit=unit,
                            first_treated=first_treated, treated=treated, start=start,
                            offset=offset, source=source)
    label = periods.label
    header = {"method": method, "outcome": outcome, "input": source}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if method == "spc":
                body = _spc(work, label, offset, baseline, target, improvement, screen)
            elif method == "its":
                body = _its(work, label, periods, offset, family)
            elif family != "gaussian":
                raise EvaluationError(f"{method} compares units on the outcome's own scale (with "
                                      "--offset, the rate outcome/offset): use --family gaussian")
            elif method == "did":
                body = _did(work, label, offset, draws, inference, match, seed)
            else:
                body = _synth(work, label, offset, seed)
    except EvaluationError:
        raise
    except ValueError as exc:
        raise EvaluationError(f"{source}: {exc}") from None
    notes = [str(w.message) for w in caught]
    if family == "poisson" or offset is not None:
        body["disclosure"] = _protect(method, body, work, label, family, get_policy(disclosure))
    return {**header, **body, "notes": notes}


def _protect(method: str, body: dict[str, Any], work: pd.DataFrame, label: dict[float, str],
             family: str, policy: Policy) -> str:
    """Hide or round every per-period value that echoes a count (see :func:`evaluate`)."""
    counts = pd.Series(work["outcome"].to_numpy(), index=pd.MultiIndex.from_arrays(
        [work["unit"].to_numpy(), work["period"].map(label).to_numpy()]))
    small = policy.is_small(counts)
    rounded = policy.round(counts).astype("float64").where(~small)
    offsets = (pd.Series(work["offset"].to_numpy(), index=counts.index)
               if "offset" in work else pd.Series(1.0, index=counts.index))
    shown = rounded if method == "its" and family == "poisson" else rounded / offsets

    def value(unit: Any, period: str) -> Any:
        got = shown.get((unit, period))
        return None if got is None or pd.isna(got) else float(got)

    if method == "spc":
        for series in body["series"]:
            for point in series["points"]:
                point["value"] = value(series["unit"], point["period"])
    elif method == "its":
        for series in body["series"]:
            for point in series["points"]:
                point["observed"] = value(series["unit"], point["period"])
    elif method == "synth":
        for unit in body["units"]:
            for point in unit["points"]:
                point["observed"] = value(unit["unit"], point["period"])
                point["gap"] = (None if point["observed"] is None or point["counterfactual"] is None
                                else point["observed"] - point["counterfactual"])
    return f"{policy.describe()}; applied to each period's count and the rate shown from it"


def _rate(work: pd.DataFrame, offset: str | None) -> pd.DataFrame:
    """Outcome per unit of offset (a rate) for the methods that compare values directly."""
    if offset is None:
        return work
    out = work.copy()
    if (out["offset"] <= 0).any():
        raise EvaluationError(f"offset {offset!r} must be positive")
    out["outcome"] = out["outcome"] / out["offset"]
    return out


def _spc(work: pd.DataFrame, label: dict[float, str], offset: str | None, baseline: int | None,
         target: float | None, improvement: str | None, screen: bool) -> dict[str, Any]:
    work = _rate(work, offset).dropna(subset=["outcome"])
    result = xmr(work, "outcome", "period", "unit", change_column="first", baseline=baseline,
                 target=target, improvement=improvement, screen_moving_ranges=screen)
    series = []
    points = result.points
    for summary in result.summary.to_dict(orient="records"):
        mine = points[points["unit"] == summary["unit"]]
        rows = []
        for p in mine.to_dict(orient="records"):
            rules = [r for r in ("beyond_limit", "shift", "trend", "two_of_three") if p[r]]
            rows.append({"period": label[p["period"]], "value": _clean(p["value"]),
                         "phase": int(p["phase"]), "centre": _clean(p["centre"]),
                         "lower": _clean(p["lower"]), "upper": _clean(p["upper"]),
                         "flagged": bool(rules), "side": p["special_cause"] or None,
                         "rules": rules})
        series.append({"unit": summary["unit"], "centre": _clean(summary["centre"]),
                       "lower": _clean(summary["lower"]), "upper": _clean(summary["upper"]),
                       "mean_moving_range": _clean(summary["mean_moving_range"]),
                       "points_in_baseline": int(summary["baseline_points"]),
                       "variation": summary["variation"], "assurance": summary["assurance"],
                       "warning": summary["warning"] or None,
                       "flagged": [r["period"] for r in rows if r["flagged"]], "points": rows})
    return {"target": target, "improvement": improvement, "screened_moving_ranges": screen,
            "series": series}


def _its(work: pd.DataFrame, label: dict[float, str], periods: Periods, offset: str | None,
         family: str) -> dict[str, Any]:
    if work["first"].isna().all():
        raise EvaluationError("its needs the start of the intervention: --start PERIOD, or "
                              "--treated with --start, or --first-treated")
    work = work[work["first"].notna()].dropna(subset=["outcome"])
    result = its(work, "outcome", "period", "first", "unit", offset="offset" if offset else None,
                 family=family, season="season" if periods.season_length else None,
                 season_length=periods.season_length or 12)
    series = []
    for unit_name, estimates in result.estimates.groupby("unit", sort=True):
        level = estimates[estimates["term"] == "level_change"].iloc[0]
        slope = estimates[estimates["term"] == "slope_change"].iloc[0]
        points = result.series[result.series["unit"] == unit_name]
        series.append({
            "unit": unit_name, "start": label.get(level["start"], level["start"]),
            "scale": level["scale"], "level_change": _estimate(level),
            "slope_change": _estimate(slope), "lags": int(level["lags"]),
            "periods_before": int(level["periods_before"]),
            "periods_after": int(level["periods_after"]),
            "points": [{"period": label[p["period"]], **{k: _clean(p[k]) for k in (
                "observed", "fitted", "counterfactual", "counterfactual_lower",
                "counterfactual_upper")}, "post": bool(p["post"])}
                for p in points.to_dict(orient="records")],
        })
    first = series[0] if len(series) == 1 else None
    return {"family": family, "seasonality": bool(periods.season_length),
            **({"level_change": first["level_change"], "slope_change": first["slope_change"]}
               if first else {}), "series": series}


def _did(work: pd.DataFrame, label: dict[float, str], offset: str | None, draws: int,
         inference: str, match: int, seed: int) -> dict[str, Any]:
    work = _rate(work, offset)
    comparators = None
    if match:
        comparators = match_comparators(work, "outcome", "unit", "period", "first",
                                        per_treated=match)
    result = callaway_santanna(work, "outcome", "unit", "period", "first",
                               comparators=comparators, inference=inference, draws=draws,
                               seed=seed)
    simple = result.simple.iloc[0]
    if result.inference == "permutation":
        warnings.warn(f"{len(result.treated)} treated units: p-values, limits and the pre-trend "
                      "test come from randomisation inference (se is the bootstrap's; leads carry "
                      "p-values only)", stacklevel=2)
    group_time = result.group_time.copy()
    for column in ("group", "time", "base"):
        group_time[column] = group_time[column].map(label)
    groups = result.group.copy()
    groups["group"] = [label.get(g, g) for g in groups["group"]]
    return {
        "estimator": "Callaway & Sant'Anna group-time effects, never-treated comparators",
        "inference": result.inference, "draws": draws, **_estimate(simple), "se": _clean(simple["se"]),
        "aggregations": {"simple": {**_estimate(simple), "se": _clean(simple["se"])},
                         "group": _records(groups), "dynamic": _records(result.dynamic)},
        "group_time": _records(group_time), "pretrend": {k: _clean(v) for k, v in result.pretrend.items()},
        "treated": result.treated, "comparators": result.comparators,
        "comparators_matched": bool(match),
    }


def _synth(work: pd.DataFrame, label: dict[float, str], offset: str | None, seed: int) -> dict[str, Any]:
    work = _rate(work, offset)
    result = synthetic_control(work, "outcome", "unit", "period", "first", seed=seed)
    estimates = result.estimates
    units = []
    for row in estimates[estimates["unit"] != "overall"].to_dict(orient="records"):
        weights = result.weights[result.weights["treated"] == row["unit"]]
        points = result.series[result.series["unit"] == row["unit"]]
        entry = {"unit": row["unit"], "start": label.get(row["start"], row["start"]),
                 **_estimate(row), "pre_rmspe": _clean(row["pre_rmspe"]),
                 "post_rmspe": _clean(row["post_rmspe"]),
                 "rmspe_ratio": _clean(row["rmspe_ratio"]), "donors": int(row["donors"]),
                 "weights": [{"unit": w["donor"], "weight": _clean(w["weight"])} for w in
                             weights.sort_values("weight", ascending=False).to_dict(orient="records")],
                 "points": [{"period": label[p["period"]], "observed": _clean(p["observed"]),
                             "counterfactual": _clean(p["synthetic"]), "gap": _clean(p["gap"]),
                             "post": bool(p["post"])} for p in points.to_dict(orient="records")]}
        if "placebo_time_start" in row and not pd.isna(row.get("placebo_time_start")):
            entry["placebo_in_time"] = {
                "start": label.get(row["placebo_time_start"], row["placebo_time_start"]),
                "estimate": _clean(row["placebo_time_estimate"]),
                "rmspe_ratio": _clean(row["placebo_time_rmspe_ratio"])}
        units.append(entry)
    overall = estimates.iloc[-1]
    return {**_estimate(overall), "pre_rmspe": _clean(overall["pre_rmspe"]),
            "permutation_p_value": _clean(overall["p_value"]), "units": units,
            "placebos": _records(result.placebos)}


def flat(result: dict[str, Any]) -> pd.DataFrame:
    """The result as one table: spc points, its estimates, did effects, synth estimates."""
    method = result["method"]
    if method == "spc":
        rows = [{"unit": s["unit"], **{k: v for k, v in p.items() if k != "rules"},
                 "rules": " ".join(p["rules"]), "variation": s["variation"],
                 "assurance": s["assurance"]} for s in result["series"] for p in s["points"]]
        return pd.DataFrame(rows)
    if method == "its":
        return pd.DataFrame([{"unit": s["unit"], "term": term, "start": s["start"],
                              "scale": s["scale"], **s[term]}
                             for s in result["series"] for term in ("level_change", "slope_change")])
    if method == "did":
        aggregations = result["aggregations"]
        rows = [{"effect": "simple", "key": "overall", **aggregations["simple"]}]
        rows += [{"effect": "group", "key": r["group"], **{k: r[k] for k in
                  ("estimate", "se", "lower", "upper", "p_value")}} for r in aggregations["group"]]
        rows += [{"effect": "dynamic", "key": r["event_time"], **{k: r[k] for k in
                  ("estimate", "se", "lower", "upper", "p_value")}} for r in aggregations["dynamic"]]
        rows += [{"effect": "group_time", "key": f"{r['group']} @ {r['time']}", **{k: r[k] for k in
                  ("estimate", "se", "lower", "upper", "p_value")}} for r in result["group_time"]]
        rows.append({"effect": "pretrend_test", "key": f"sup-t over {result['pretrend']['leads']} leads",
                     "estimate": result["pretrend"]["sup_t"],
                     "p_value": result["pretrend"]["p_value"]})
        return pd.DataFrame(rows)
    rows = [{k: u.get(k) for k in ("unit", "start", "estimate", "lower", "upper", "p_value",
                                    "pre_rmspe", "post_rmspe", "rmspe_ratio", "donors")}
            | {"top_donors": " ".join(f"{w['unit']}:{w['weight']:.2f}" for w in u["weights"][:3])}
            for u in result["units"]]
    if len(result["units"]) > 1:
        rows.append({"unit": "overall", **_estimate(result)})
    return pd.DataFrame(rows)
