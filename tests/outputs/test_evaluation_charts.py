"""Vega-Lite specs for evaluation results: an XmR chart and observed against counterfactual."""

from __future__ import annotations

import json

import pandas as pd

from placehealth.outputs.evaluation import evaluate
from placehealth.outputs.evaluation_charts import counterfactual_chart, xmr_chart


def _panel() -> pd.DataFrame:
    months = [str(p) for p in pd.period_range("2021-01", periods=30, freq="M")]
    rows = []
    for unit in range(12):
        for t, month in enumerate(months):
            value = 20 + unit + (t % 3) * 0.5 + (4 if unit == 0 and t >= 20 else 0)
            rows.append({"pcn": f"P{unit:02d}", "month": month, "rate": value,
                         "start": "2022-09" if unit == 0 else ""})
    return pd.DataFrame(rows)


def _datasets(spec: dict) -> list[dict]:
    return [row for rows in spec.get("datasets", {}).values() for row in rows]


def test_xmr_chart_carries_limits_and_special_causes_by_meaning():
    result = evaluate("spc", _panel(), time="month", outcome="rate", unit="pcn",
                      improvement="down")
    series = next(s for s in result["series"] if s["unit"] == "P00")
    spec = xmr_chart(series["points"], "Rate, P00", improvement="down", target=22)
    rows = _datasets(spec)
    assert {"centre", "lower", "upper", "meaning"} <= set(rows[0])
    assert "concern" in {r.get("meaning") for r in rows}  # the step up is bad when down is better
    assert any(r.get("target") == 22 for r in rows)
    json.dumps(spec)  # plain JSON, embeddable as-is
    assert xmr_chart([], "nothing") is None


def test_counterfactual_chart_draws_observed_counterfactual_band_and_start():
    result = evaluate("its", _panel(), time="month", outcome="rate", unit="pcn",
                      first_treated="start")
    points = result["series"][0]["points"]
    spec = counterfactual_chart(points, "Rate, P00: observed and without the change")
    rows = _datasets(spec)
    assert {"observed", "counterfactual"} <= {r.get("series") for r in rows}
    assert any(r.get("lower") is not None for r in rows)
    assert any(set(r) == {"period"} and r["period"] == "2022-09" for r in rows)
    synth = evaluate("synth", _panel(), time="month", outcome="rate", unit="pcn", first_treated="start")
    assert counterfactual_chart(synth["units"][0]["points"], "synthetic") is not None
