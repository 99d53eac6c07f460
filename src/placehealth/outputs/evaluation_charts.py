"""Vega-Lite specs (via Altair) for evaluation results: an XmR chart and observed against
counterfactual.

Both take the plain results of ``outputs.evaluation`` (one series' ``points``), so pages, reports
and the API draw the same chart. Colours follow Making Data Count: special causes of improvement
in blue, of concern in orange, neither (no direction given) in purple; common cause in grey.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt
import pandas as pd

Spec = dict[str, Any]

GREY = "#768692"
BLUE = "#005eb8"
ORANGE = "#ed8b00"
PURPLE = "#7c2855"
DARK = "#212b32"


def _spec(chart: alt.TopLevelMixin, title: str) -> Spec:
    spec = chart.properties(title=title, width="container", height=260).configure_view(
        stroke=None).configure_axis(labelFontSize=12, titleFontSize=12).to_dict(validate=False)
    spec["description"] = title
    return spec


def _meaning(side: str | None, improvement: str | None) -> str:
    if not side:
        return "common cause"
    if improvement not in ("up", "down"):
        return "special cause"
    return "improvement" if (side == "high") == (improvement == "up") else "concern"


def xmr_chart(points: Sequence[dict[str, Any]], title: str, *, improvement: str | None = None,
              target: float | None = None, y_title: str = "value") -> Spec | None:
    """XmR chart: the values over time, centre line and process limits (stepping at each
    recalculation), special-cause points coloured by meaning, the target as a dashed line."""
    if not points:
        return None
    frame = pd.DataFrame([{"period": str(p["period"]), "value": p["value"], "centre": p["centre"],
                           "lower": p["lower"], "upper": p["upper"], "phase": p.get("phase", 0),
                           "meaning": _meaning(p.get("side"), improvement),
                           "rules": ", ".join(p.get("rules", [])) or "none"} for p in points])
    order = list(frame["period"])
    x = alt.X("period:O", sort=order, title=None, axis=alt.Axis(labelAngle=-45, labelOverlap=True))
    base = alt.Chart(frame)
    limits = base.mark_line(strokeDash=[4, 3], color=GREY).encode(
        x=x, y="value:Q", detail=["line:N", "phase:N"]).transform_fold(
        ["lower", "upper"], as_=["line", "value"])
    centre = base.mark_line(color=DARK, strokeWidth=1).encode(x=x, y="centre:Q", detail="phase:N")
    line = base.mark_line(color=GREY).encode(x=x, y=alt.Y("value:Q", title=y_title,
                                                         scale=alt.Scale(zero=False)))
    dots = base.mark_circle(size=45, opacity=1).encode(
        x=x, y="value:Q",
        color=alt.Color("meaning:N", title=None, scale=alt.Scale(
            domain=["common cause", "improvement", "concern", "special cause"],
            range=[GREY, BLUE, ORANGE, PURPLE])),
        tooltip=["period:N", alt.Tooltip("value:Q", format=",.3~g"),
                 alt.Tooltip("centre:Q", format=",.3~g"), alt.Tooltip("lower:Q", format=",.3~g"),
                 alt.Tooltip("upper:Q", format=",.3~g"), "rules:N"])
    layers = [limits, centre, line, dots]
    if target is not None:
        layers.append(alt.Chart(pd.DataFrame({"target": [target]})).mark_rule(
            color=BLUE, strokeDash=[8, 4]).encode(y="target:Q"))
    return _spec(alt.layer(*layers), title)


def counterfactual_chart(points: Sequence[dict[str, Any]], title: str, *,
                         y_title: str = "value") -> Spec | None:
    """Observed against counterfactual: the observed line, the counterfactual (what would have
    happened without the intervention) dashed with its band where there is one, and a rule at
    the start."""
    if not points:
        return None
    frame = pd.DataFrame([{"period": str(p["period"]), "observed": p.get("observed"),
                           "counterfactual": p.get("counterfactual"),
                           "lower": p.get("counterfactual_lower"),
                           "upper": p.get("counterfactual_upper"),
                           "post": bool(p.get("post"))} for p in points])
    order = list(frame["period"])
    x = alt.X("period:O", sort=order, title=None, axis=alt.Axis(labelAngle=-45, labelOverlap=True))
    base = alt.Chart(frame)
    layers = []
    if frame["lower"].notna().any():
        layers.append(base.mark_area(opacity=0.2, color=ORANGE).encode(
            x=x, y=alt.Y("lower:Q", title=y_title), y2="upper:Q"))
    long = frame.melt(id_vars=["period"], value_vars=["observed", "counterfactual"],
                      var_name="series", value_name="value")
    layers.append(alt.Chart(long).mark_line().encode(
        x=x, y=alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=False)),
        color=alt.Color("series:N", title=None, scale=alt.Scale(
            domain=["observed", "counterfactual"], range=[BLUE, ORANGE])),
        strokeDash=alt.StrokeDash("series:N", legend=None, scale=alt.Scale(
            domain=["observed", "counterfactual"], range=[[1, 0], [6, 4]])),
        tooltip=["period:N", "series:N", alt.Tooltip("value:Q", format=",.3~g")]))
    starts = frame.loc[frame["post"], "period"]
    if len(starts):
        layers.append(alt.Chart(pd.DataFrame({"period": [starts.iloc[0]]})).mark_rule(
            color=DARK, strokeDash=[2, 2]).encode(x=alt.X("period:O", sort=order)))
    return _spec(alt.layer(*layers), title)
