"""Did it work? A registered intervention evaluated from the store's series.

:func:`evaluate_intervention` reads the register (``interventions``) and the protected
``series`` through :class:`placehealth.outputs.queries.Data` (so every value echoed has passed
disclosure control), builds the panel of the intervention's level and indicator, and runs the
evaluation statistics through ``outputs.evaluation.evaluate`` (the measures in
``placehealth.measures``):

- **SPC** (XmR, Making Data Count) on each treated unit, limits recalculated at the start;
- **ITS** (segmented regression with seasonality, Newey-West errors) on each treated unit;
- **DiD** (Callaway & Sant'Anna, never-treated comparators) against comparators: the treated
  units' peers from the built ``peers`` table (national peers, features of the latest period),
  or, without enough peers with a series, the never-treated units nearest on the pre-period
  level and trend (``measures.did.match_comparators``); comparators are never chosen on
  post-period outcomes;
- **synthetic control** with donors from every other unit.

Units under another registered intervention aimed at the same indicator are left out of the
comparators and donors (they are not untreated). The panel is balanced: the periods every treated
unit has a value in, and the other units with a value in each of them (``incomplete`` lists the
units left out). The headline (synthetic control for one treated
unit, DiD for several; :func:`_headline`) is said in plain words with its 95% interval, beside the checks that say
whether to believe it: the pre-trend test, the synthetic control's pre-period fit and its
placebo-in-space p-value, and the placebo in time.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from placehealth.outputs.evaluation import EvaluationError, evaluate
from placehealth.outputs.queries import Data
from placehealth.sources.interventions import aims, current

#: Comparators kept per treated unit when matching on the pre-period.
MATCH = 10
#: Fewer peers with a series than this and comparators are matched instead.
MIN_PEERS = 5
_FINANCIAL = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class InterventionError(ValueError):
    """The intervention or its data cannot be evaluated, said plainly."""


def register(data: Data) -> pd.DataFrame:
    """The intervention register now (each name's latest entry)."""
    return current(data.rows("interventions", latest=False))


def entry(data: Data, name: str) -> pd.Series:
    known = register(data)
    if name not in set(known["name"]):
        names = ", ".join(known["name"]) or "none (placehealth intervention add)"
        raise InterventionError(f"no intervention {name!r} on the register; recorded: {names}")
    return known.set_index("name", drop=False).loc[name]


def _financial_years(periods: pd.Series) -> bool:
    return bool(len(periods)) and all(
        (m := _FINANCIAL.match(str(p))) and (int(m.group(1)) + 1) % 100 == int(m.group(2))
        for p in periods)


def _year_of(start: str) -> int:
    """The financial year (its first calendar year) a start written in any series form falls in."""
    if (m := _FINANCIAL.match(start)) and (int(m.group(1)) + 1) % 100 == int(m.group(2)):
        return int(m.group(1))
    if m := _QUARTER.match(start):  # calendar Q1 (Jan-Mar) belongs to the year before
        return int(m.group(1)) - (m.group(2) == "1")
    if m := _MONTH.match(start):
        return int(m.group(1)) - (int(m.group(2)) < 4)
    return int(start[:4])


def panel(data: Data, item: pd.Series, indicator: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The panel (unit, period, value, first: the start for treated units) and how it was made."""
    rows = data.rows("series", latest=False, level=item["level"], indicator=indicator)
    if rows.empty:
        raise InterventionError(f"no series of {indicator} at the {item['level']} level "
                                "(placehealth build makes the series; a local indicator loads "
                                "with --as series)")
    rows = rows.dropna(subset=["value"])
    treated = [c for c in str(item["unit_codes"]).split(";") if c]
    present = sorted(set(treated) & set(rows["unit_code"]))
    if not present:
        raise InterventionError(f"none of {', '.join(treated)} has a series of {indicator} at "
                                f"the {item['level']} level")
    others = register(data)
    others = others[(others["name"] != item["name"]) & (others["level"] == item["level"])]
    busy = sorted({c for _, o in others.iterrows() if indicator in aims(o)
                   for c in str(o["unit_codes"]).split(";")} - set(treated))
    rows = rows[~rows["unit_code"].isin(busy)]
    start = str(item["start"])
    frame = rows[["unit_code", "period", "value"]].rename(columns={"unit_code": "unit"})
    if _financial_years(frame["period"]):  # 2023-24 -> 2023, so periods are numbers
        frame = frame.assign(period=frame["period"].str[:4].astype(int))
        start = str(_year_of(start))
    frame = frame.assign(first=[start if u in present else "" for u in frame["unit"]])
    # a balanced panel: the periods every treated unit has, and the units with all of them
    mine = frame[frame["unit"].isin(present)]
    counts = mine.groupby("period")["unit"].nunique()
    periods = set(counts.index[counts == len(present)])
    frame = frame[frame["period"].isin(periods)]
    complete = frame.groupby("unit")["period"].nunique()
    incomplete = sorted(set(complete.index[complete < len(periods)]) - set(present))
    frame = frame[~frame["unit"].isin(incomplete)]
    about = {"treated": present, "missing_series": sorted(set(treated) - set(present)),
             "excluded": busy, "incomplete": incomplete, "units": int(frame["unit"].nunique()),
             "periods": len(periods)}
    return frame.reset_index(drop=True), about


def comparators(data: Data, level: str, treated: list[str], pool: set[str]) -> list[str]:
    """The treated units' national peers that have a series and no intervention (else [])."""
    peers = data.rows("peers", latest=False, level=level, within="england")
    if peers.empty:
        return []
    peers = peers[peers["period"] == peers["period"].max()]
    chosen = sorted(set(peers[peers["unit_code"].isin(treated)]["peer_code"]) & pool
                    - set(treated))
    return chosen if len(chosen) >= MIN_PEERS else []


def _run(method: str, frame: pd.DataFrame, **options: Any) -> dict[str, Any]:
    try:
        return evaluate(method, frame, time="period", outcome="value", unit="unit",
                        first_treated="first", **options)
    except EvaluationError as exc:
        return {"method": method, "not_run": str(exc)}


def evaluate_intervention(data: Data, name: str, indicator: str | None = None, *,
                          draws: int = 999, seed: int = 1) -> dict[str, Any]:
    """Every method on one indicator of a registered intervention (see the module doc)."""
    item = entry(data, name)
    wanted = aims(item)
    if indicator is None:
        indicator = next(iter(wanted))
    elif indicator not in wanted:
        raise InterventionError(f"{name} does not aim at {indicator!r}; it aims at "
                                f"{', '.join(wanted)}")
    direction = wanted[indicator]
    frame, about = panel(data, item, indicator)
    treated_rows = frame[frame["first"] != ""]
    pool = set(frame["unit"]) - set(about["treated"])
    peers = comparators(data, str(item["level"]), about["treated"], pool)
    if peers:
        compared = frame[frame["unit"].isin([*about["treated"], *peers])]
        how = f"{len(peers)} peers (the built peer groups: units most alike on their features)"
        match = 0
    else:
        compared, match = frame, MATCH
        how = (f"the {MATCH} units nearest each treated unit on the level and trend before the "
               "start (chosen without looking at any period after it)")
    improvement = "up" if direction == "up" else "down"
    results = {
        "spc": _run("spc", treated_rows, improvement=improvement),
        "its": _run("its", treated_rows),
        "did": _run("did", compared, draws=draws, match=match, seed=seed),
        "synth": _run("synth", frame, seed=seed),
    }
    if not peers and "comparators" in results["did"]:
        peers = list(results["did"]["comparators"])
    headline = _headline(results, indicator, direction, item)
    return {
        "intervention": {k: (None if pd.isna(item[k]) else item[k]) for k in
                         ("name", "description", "level", "unit_codes", "start", "end",
                          "indicators", "recorded_at")},
        "indicator": indicator, "intended_direction": direction, **about,
        "comparators": peers, "comparators_chosen_by": how,
        "answer": headline, "checks": _checks(results),
        "disclosure": "every value is read from the disclosure-controlled series (small "
        "counts hidden, others rounded, values rescaled to the rounded counts)",
        **results,
    }


def _number(value: float | None, digits: int = 2) -> str:
    return "?" if value is None else f"{value:,.{digits}f}"


def _headline(results: dict[str, Any], indicator: str, direction: str,
              item: pd.Series) -> dict[str, Any]:
    """The answer in plain words with its interval: for one treated unit the synthetic control's
    (the method built for a single treated unit, Abadie 2021; a randomisation test of DiD against
    k comparators cannot give p below 1 / (k + 1)), for several the DiD effect; the other when the
    first cannot run."""
    single = len(str(item["unit_codes"]).split(";")) == 1
    against = {"did": "comparable units (difference-in-differences)",
               "synth": "a synthetic comparison (a weighted mix of other units that tracked it "
               "before the start)"}
    for method in ("synth", "did") if single else ("did", "synth"):
        result = results[method]
        if result.get("estimate") is None:
            continue
        estimate, lower, upper = result["estimate"], result["lower"], result["upper"]
        clear = lower is not None and upper is not None and (lower > 0 or upper < 0)
        way = "higher" if estimate > 0 else "lower"
        wanted = (estimate > 0) == (direction == "up")
        if clear:
            verdict = ("it worked: the change is in the intended direction and larger than "
                       "chance" if wanted else "the indicator moved against the intended "
                       "direction, by more than chance")
        else:
            verdict = ("no clear effect: the interval includes no change, so this could be "
                       "chance")
        words = (f"After {item['start']}, {indicator} at {item['unit_codes']} was "
                 f"{_number(abs(estimate))} {way} than expected from {against[method]} "
                 f"(95% interval {_number(lower)} to {_number(upper)}; p = "
                 f"{_number(result.get('p_value'), 3)}): {verdict}.")
        return {"method": method, "estimate": estimate, "lower": lower, "upper": upper,
                "p_value": result.get("p_value"), "clear": clear, "intended": wanted,
                "words": words}
    return {"method": None, "estimate": None, "lower": None, "upper": None, "p_value": None,
            "clear": False, "intended": None,
            "words": "not enough data to compare against other units: "
            + "; ".join(results[m].get("not_run", "") for m in ("did", "synth"))}


def _checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The checks that say whether to believe the answer, each with what it means."""
    out = []
    did = results["did"]
    if did.get("pretrend"):
        p = did["pretrend"].get("p_value")
        out.append({"check": "pre-trend", "p_value": p, "passed": p is None or p >= 0.05,
                    "meaning": "Before the start, the treated and comparison units moved "
                    "together" + ("" if p is None or p >= 0.05 else " - NOT: they already "
                    "drifted apart before it began, so the comparison may be unfair") + " (test "
                    "of the event-study leads; p < 0.05 is a warning)."})
    synth = results["synth"]
    if synth.get("estimate") is not None:
        p = synth.get("permutation_p_value")
        out.append({"check": "placebo in space", "p_value": p, "passed": p is not None and p < 0.05,
                    "meaning": "Giving the intervention to each comparison unit instead: "
                    f"p = {_number(p, 3)} is the share of them whose gap is as large as the "
                    "treated unit's; small means the treated unit's change is unusual."})
        out.append({"check": "pre-period fit", "rmspe": synth.get("pre_rmspe"),
                    "meaning": "How closely the synthetic comparison followed the treated unit "
                    f"before the start (RMSPE {_number(synth.get('pre_rmspe'))}); a poor fit makes "
                    "the estimate unreliable."})
        for unit in synth.get("units", []):
            placebo = unit.get("placebo_in_time")
            if placebo:
                out.append({"check": "placebo in time", "unit": unit["unit"],
                            "start": placebo["start"], "estimate": placebo["estimate"],
                            "meaning": f"Pretending {unit['unit']} started at {placebo['start']} "
                            f"(before the real start) gives {_number(placebo['estimate'])}: "
                            "near 0 is reassuring, a large gap means something else was "
                            "changing."})
    return out


def flat(result: dict[str, Any]) -> pd.DataFrame:
    """One row per method's estimate, with the checks, for CSV and the terminal."""
    rows = [{"method": "answer", "estimate": result["answer"]["estimate"],
             "lower": result["answer"]["lower"], "upper": result["answer"]["upper"],
             "p_value": result["answer"]["p_value"], "note": result["answer"]["words"]}]
    for method in ("did", "synth"):
        r = result[method]
        rows.append({"method": method, **{k: r.get(k) for k in ("estimate", "lower", "upper",
                                                                "p_value")},
                     "note": r.get("not_run", "")})
    for series in result["its"].get("series", []):
        for term in ("level_change", "slope_change"):
            rows.append({"method": f"its {term} ({series['unit']})", **series[term], "note": ""})
    for series in result["spc"].get("series", []):
        rows.append({"method": f"spc ({series['unit']})", "note":
                     f"{series['variation']}; special causes at {', '.join(series['flagged']) or 'none'}"})
    for check in result["checks"]:
        rows.append({"method": f"check: {check['check']}", "p_value": check.get("p_value"),
                     "note": check["meaning"]})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ page sections
# Rows and charts of the sections declared in outputs/sections.py: the intervention page
# ("Did it work?") and the SPC charts on PCN pages. Each takes the page's unit (``unit.data``,
# ``unit.code``: the intervention's name or the PCN's code, ``unit.indicator``).

#: An indicator needs this many periods for a PCN page's SPC table (a chart warns below 12).
SPC_MIN_PERIODS = 6


def cached(data: Data, name: str) -> dict[str, Any]:
    """The evaluation of an intervention's first aim, kept until the store changes."""
    return data.memo(f"impact:{name}", lambda: evaluate_intervention(data, name))


def answer_rows(unit: Any) -> pd.DataFrame:
    result = cached(unit.data, unit.code)
    rows = [{"method": "synthetic control", **{k: result["synth"].get(k) for k in
                                             ("estimate", "lower", "upper", "p_value")}},
            {"method": "difference-in-differences", **{k: result["did"].get(k) for k in
                                                     ("estimate", "lower", "upper", "p_value")}}]
    for series in result["its"].get("series", []):
        rows.append({"method": f"interrupted time series, level change ({series['unit']})",
                     **series["level_change"]})
    return pd.DataFrame(rows)


def answer_note(unit: Any) -> str:
    result = cached(unit.data, unit.code)
    return (f"{result['answer']['words']} Difference-in-differences compared it with "
            f"{result['comparators_chosen_by']}; the synthetic comparison draws on every other "
            "unit not under an intervention on this indicator.")


def its_chart(_frame: pd.DataFrame | None, unit: Any) -> dict[str, Any] | None:
    """Observed against the counterfactual (the pre-period trend and season carried on) with its
    95% band, for the first treated unit."""
    from placehealth.outputs.evaluation_charts import counterfactual_chart

    result = cached(unit.data, unit.code)
    series = result["its"].get("series", [])
    if not series:
        return None
    return counterfactual_chart(series[0]["points"], f"{result['indicator']} at "
                                f"{series[0]['unit']}: observed and without the intervention",
                                y_title=result["indicator"])


def synth_chart(_frame: pd.DataFrame | None, unit: Any) -> dict[str, Any] | None:
    from placehealth.outputs.evaluation_charts import counterfactual_chart

    result = cached(unit.data, unit.code)
    units = result["synth"].get("units", [])
    if not units:
        return None
    return counterfactual_chart(units[0]["points"], f"{result['indicator']} at {units[0]['unit']} "
                                "and its synthetic comparison", y_title=result["indicator"])


def check_rows(unit: Any) -> pd.DataFrame:
    checks = cached(unit.data, unit.code)["checks"]
    return pd.DataFrame([{"check": c["check"], "p_value": c.get("p_value"),
                          "meaning": c["meaning"]} for c in checks],
                        columns=["check", "p_value", "meaning"])


def donor_rows(unit: Any) -> pd.DataFrame:
    units = cached(unit.data, unit.code)["synth"].get("units", [])
    weights = [w for w in units[0]["weights"] if w["weight"] and w["weight"] >= 0.005] if units else []
    return pd.DataFrame(weights, columns=["unit", "weight"])


def register_rows(unit: Any) -> pd.DataFrame:
    item = cached(unit.data, unit.code)["intervention"]
    labels = {"description": "What was done", "level": "Level", "unit_codes": "Where",
              "start": "Started", "end": "Ended", "indicators": "Aims (indicator:direction)",
              "recorded_at": "Recorded in the register"}
    return pd.DataFrame([{"field": label, "value": item.get(key) or ""}
                         for key, label in labels.items()])


def intervention_spc_chart(_frame: pd.DataFrame | None, unit: Any) -> dict[str, Any] | None:
    from placehealth.outputs.evaluation_charts import xmr_chart

    result = cached(unit.data, unit.code)
    series = result["spc"].get("series", [])
    if not series:
        return None
    return xmr_chart(series[0]["points"], f"{result['indicator']} at {series[0]['unit']}: XmR "
                     "chart, limits recalculated at the start",
                     improvement=result["intended_direction"], y_title=result["indicator"])


def pcn_interventions(unit: Any) -> pd.DataFrame:
    """The interventions registered at a PCN, with their pages' addresses."""
    found = register(unit.data)
    mine = found[(found["level"] == "pcn") & found["unit_codes"].str.split(";").apply(
        lambda codes: unit.code in codes)] if not found.empty else found
    return mine.assign(page="/intervention/" + mine["name"])[
        ["name", "start", "end", "indicators", "recorded_at", "page"]].reset_index(drop=True)


def _pcn_spc(data: Data, code: str) -> dict[str, Any] | None:
    """SPC of every indicator with enough periods for one PCN (each indicator a series), limits
    recalculated at the start of a registered intervention there aimed at it."""
    def make() -> dict[str, Any] | None:
        rows = data.rows("series", latest=False, level="pcn", unit_code=code).dropna(
            subset=["value"])
        if rows.empty:
            return None
        counts = rows.groupby("indicator")["period"].nunique()
        rows = rows[rows["indicator"].isin(counts.index[counts >= SPC_MIN_PERIODS])]
        if rows.empty:
            return None
        starts = {}
        for _, item in register(data).iterrows():
            if item["level"] == "pcn" and code in str(item["unit_codes"]).split(";"):
                starts.update(dict.fromkeys(aims(item), str(item["start"])))
        results = {}
        for indicator, frame in rows.groupby("indicator", sort=True):
            panel_rows = frame[["indicator", "period", "value"]].assign(
                first=starts.get(indicator, ""))
            try:
                results[indicator] = evaluate("spc", panel_rows, time="period", outcome="value",
                                              unit="indicator", first_treated="first")
            except EvaluationError:
                continue
        return results or None

    return data.memo(f"impact:spc:{code}", make)


def spc_rows(unit: Any) -> pd.DataFrame:
    results = _pcn_spc(unit.data, unit.code) or {}
    rows = []
    for indicator, result in results.items():
        s = result["series"][0]
        rows.append({"indicator": indicator, "points": len(s["points"]),
                     "latest_period": s["points"][-1]["period"], "latest": s["points"][-1]["value"],
                     "centre": s["centre"], "lower": s["lower"], "upper": s["upper"],
                     "variation": str(s["variation"]).replace("_", " "),
                     "special_causes": len(s["flagged"])})
    return pd.DataFrame(rows, columns=["indicator", "points", "latest_period", "latest", "centre",
                                       "lower", "upper", "variation", "special_causes"])


def spc_chart(frame: pd.DataFrame | None, unit: Any) -> dict[str, Any] | None:
    """The XmR chart of the page's indicator (else the first with enough periods)."""
    from placehealth.outputs.evaluation_charts import xmr_chart

    results = _pcn_spc(unit.data, unit.code) or {}
    if not results:
        return None
    indicator = unit.indicator if unit.indicator in results else next(iter(results))
    s = results[indicator]["series"][0]
    return xmr_chart(s["points"], f"{indicator}: XmR chart (Making Data Count)",
                     y_title=indicator)
