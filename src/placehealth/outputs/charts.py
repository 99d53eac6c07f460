"""Vega-Lite chart specifications (built with Altair) from protected frames.

Each function takes frames that have already passed disclosure control and returns a plain
dict (a Vega-Lite spec with its data inline), or None when there is nothing to draw. Specs are
rendered in the browser by vega-embed and embedded as-is in reports.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

NHS_BLUE = "#005eb8"
NHS_DARK = "#003087"
NHS_GREY = "#768692"
NHS_WARM = "#ed8b00"
NHS_RED = "#d5281b"

Spec = dict[str, Any]


def _spec(chart: alt.TopLevelMixin, title: str) -> Spec:
    spec = chart.properties(title=title, width="container").configure_view(stroke=None) \
        .configure_axis(labelFontSize=12, titleFontSize=12).to_dict(validate=False)
    spec["description"] = title
    return spec


def _clean(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = frame[[c for c in columns if c in frame]].copy()
    for column in out.columns:
        if pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].astype("float64")
        else:
            out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out


def deprivation_deciles(profile: dict[str, Any], comparator: dict[str, Any] | None = None,
                        name: str = "PCN", comparator_name: str = "ICB") -> Spec | None:
    """Share of registered patients living in each national IMD decile (1 = most deprived)."""
    rows = []
    for label, source in ((name, profile), (comparator_name, comparator)):
        if not source:
            continue
        for decile in range(1, 11):
            value = source.get(f"imd_decile_{decile}_pct")
            if value is not None and not pd.isna(value):
                rows.append({"decile": decile, "share": float(value), "area": label})
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    chart = alt.Chart(frame).mark_bar().encode(
        x=alt.X("decile:O", title="IMD decile (1 = most deprived 10% in England)"),
        xOffset="area:N",
        y=alt.Y("share:Q", title="% of registered patients"),
        color=alt.Color("area:N", scale=alt.Scale(domain=list(dict.fromkeys(frame["area"])),
                                                  range=[NHS_BLUE, NHS_GREY]), title=None,
                        legend=alt.Legend(orient="top", labelLimit=400)),
        tooltip=["area", "decile", alt.Tooltip("share:Q", format=".1f", title="% of patients")],
    ).properties(height=220)
    return _spec(chart, "Where patients live, by deprivation decile")


def quintiles(profile: dict[str, Any]) -> Spec | None:
    """Share of patients by IMD quintile (pairs of deciles)."""
    rows = []
    for quintile in range(1, 6):
        parts = [profile.get(f"imd_decile_{d}_pct") for d in (2 * quintile - 1, 2 * quintile)]
        if any(p is None or pd.isna(p) for p in parts):
            continue
        rows.append({"quintile": f"Q{quintile}", "share": float(sum(parts))})
    if not rows:
        return None
    chart = alt.Chart(pd.DataFrame(rows)).mark_bar(color=NHS_BLUE).encode(
        x=alt.X("share:Q", title="% of registered patients"),
        y=alt.Y("quintile:N", title="IMD quintile (Q1 = most deprived)", sort=None),
        tooltip=["quintile", alt.Tooltip("share:Q", format=".1f")],
    ).properties(height=160)
    return _spec(chart, "Patients by deprivation quintile")


def need_gaps(gaps: pd.DataFrame) -> Spec | None:
    """Recorded / expected prevalence by condition, with 95% confidence interval."""
    label = "condition" if "condition" in gaps else "group_code"  # the title, when the view added it
    frame = _clean(gaps, [label, "ratio", "ratio_lowercl", "ratio_uppercl", "missing"])
    frame = frame.dropna(subset=["ratio"]) if "ratio" in frame else frame.iloc[0:0]
    if frame.empty:
        return None
    base = alt.Chart(frame).encode(y=alt.Y(f"{label}:N", title="Condition (QOF register)",
                                           sort=alt.EncodingSortField("ratio", order="ascending")))
    bars = base.mark_rule(color=NHS_GREY, strokeWidth=2).encode(
        x=alt.X("ratio_lowercl:Q", title="Recorded ÷ expected prevalence (1 = as expected)",
                scale=alt.Scale(zero=False)),
        x2="ratio_uppercl:Q")
    points = base.mark_point(filled=True, size=70, color=NHS_BLUE).encode(
        x="ratio:Q",
        tooltip=[alt.Tooltip(f"{label}:N", title="condition"), alt.Tooltip("ratio:Q", format=".2f"),
                 alt.Tooltip("ratio_lowercl:Q", format=".2f", title="lower 95%"),
                 alt.Tooltip("ratio_uppercl:Q", format=".2f", title="upper 95%"),
                 alt.Tooltip("missing:Q", format=",.2r", title="missing patients (negative: more recorded)")])
    one = alt.Chart(pd.DataFrame({"x": [1.0]})).mark_rule(color=NHS_RED, strokeDash=[4, 4]).encode(x="x:Q")
    return _spec(alt.layer(bars, points, one).properties(height=max(120, 22 * len(frame))),
                 "Recorded against expected prevalence")


def funnel(rows: pd.DataFrame, unit_code: str, indicator: str,
           limits: pd.DataFrame | None = None) -> Spec | None:
    """A funnel plot: every unit's value against its denominator, with 95% and 99.8% limits
    (smooth lines from ``limits`` when given, else through the units' own limits)."""
    frame = _clean(rows, ["unit_code", "unit_name", "denominator", "value", "target",
                          "lower95_0limit", "upper95_0limit", "lower99_8limit", "upper99_8limit"])
    frame = frame.dropna(subset=["value", "denominator"]) if {"value", "denominator"} <= set(frame) \
        else frame.iloc[0:0]
    if frame.empty:
        return None
    frame = frame.sort_values("denominator")
    frame["this"] = (frame["unit_code"] == unit_code).map({True: "this PCN", False: "others"})
    base = alt.Chart(frame)
    lines = frame
    if limits is not None and not limits.empty and "denominator" in limits:
        lines = _clean(limits, ["denominator", "target", "lower95_0limit", "upper95_0limit",
                                "lower99_8limit", "upper99_8limit"]).sort_values("denominator")
    line_base = alt.Chart(lines)
    x = alt.X("denominator:Q", title="Denominator (patients)")
    layers = [line_base.mark_line(color=NHS_GREY, strokeDash=[4, 3] if "95" in c else [1, 2]).encode(
              x=x, y=alt.Y(c, type="quantitative"))
              for c in ("lower95_0limit", "upper95_0limit", "lower99_8limit", "upper99_8limit")
              if c in lines]
    if "target" in lines:
        layers.append(line_base.mark_line(color=NHS_DARK).encode(x=x, y="target:Q"))
    layers.append(base.mark_point(filled=True, size=80).encode(
        x=x, y=alt.Y("value:Q", title=indicator, scale=alt.Scale(zero=False)),
        color=alt.Color("this:N", scale=alt.Scale(domain=["this PCN", "others"],
                                                  range=[NHS_WARM, NHS_BLUE]), title=None,
                        legend=alt.Legend(orient="top")),
        tooltip=["unit_name", alt.Tooltip("value:Q", format=".2f"),
                 alt.Tooltip("denominator:Q", format=",.0f")]))
    return _spec(alt.layer(*layers).properties(height=260), f"Funnel plot: {indicator}")


def peer_bars(rows: pd.DataFrame, unit_code: str | None, indicator: str,
              title: str | None = None) -> Spec | None:
    """The unit and its peers on one indicator, with confidence intervals (no unit: all alike)."""
    frame = _clean(rows, ["unit_code", "unit_name", "value", "lowercl", "uppercl"])
    frame = frame.dropna(subset=["value"]) if "value" in frame else frame.iloc[0:0]
    if frame.empty:
        return None
    frame["this"] = (frame["unit_code"] == unit_code).map({True: "this PCN", False: "peer"})
    order = frame.sort_values("value", ascending=False)["unit_name"].tolist()
    base = alt.Chart(frame).encode(y=alt.Y("unit_name:N", title=None, sort=order))
    bars = base.mark_bar().encode(
        x=alt.X("value:Q", title=indicator),
        color=alt.Color("this:N", scale=alt.Scale(domain=["this PCN", "peer"], range=[NHS_WARM, NHS_BLUE]),
                        title=None, legend=alt.Legend(orient="top")),
        tooltip=["unit_name", alt.Tooltip("value:Q", format=".2f")])
    layers = [bars]
    if {"lowercl", "uppercl"} <= set(frame):
        layers.append(base.mark_rule(color=NHS_DARK).encode(x="lowercl:Q", x2="uppercl:Q"))
    if not unit_code:
        layers[0] = base.mark_bar(color=NHS_BLUE).encode(
            x=alt.X("value:Q", title=indicator), tooltip=["unit_name", alt.Tooltip("value:Q", format=".2f")])
    return _spec(alt.layer(*layers).properties(height=max(120, 24 * len(frame))),
                 title or f"Compared with similar PCNs: {indicator}")


def trend(rows: pd.DataFrame, indicator: str) -> Spec | None:
    """The value over periods, with confidence intervals."""
    frame = _clean(rows, ["period", "value", "lowercl", "uppercl"])
    frame = frame.dropna(subset=["value"]) if "value" in frame else frame.iloc[0:0]
    if len(frame) < 2:
        return None
    base = alt.Chart(frame).encode(x=alt.X("period:O", title="Period"))
    layers = [base.mark_line(point=True, color=NHS_BLUE).encode(
        y=alt.Y("value:Q", title=indicator, scale=alt.Scale(zero=False)),
        tooltip=["period", alt.Tooltip("value:Q", format=".2f")])]
    if {"lowercl", "uppercl"} <= set(frame):
        layers.insert(0, base.mark_area(opacity=0.2, color=NHS_BLUE).encode(y="lowercl:Q", y2="uppercl:Q"))
    return _spec(alt.layer(*layers).properties(height=200), f"Trend: {indicator}")


def bar(frame: pd.DataFrame, label: str, value: str, title: str, x_title: str) -> Spec | None:
    """A plain horizontal bar chart of one value per label."""
    data = _clean(frame, [label, value]).dropna()
    if data.empty:
        return None
    order = data.sort_values(value, ascending=False)[label].tolist()
    chart = alt.Chart(data).mark_bar(color=NHS_BLUE).encode(
        x=alt.X(f"{value}:Q", title=x_title), y=alt.Y(f"{label}:N", title=None, sort=order),
        tooltip=[label, alt.Tooltip(f"{value}:Q", format=",.1f")])
    return _spec(chart.properties(height=max(120, 20 * len(data))), title)


def interval(frame: pd.DataFrame, label: str, x_title: str, title: str) -> Spec | None:
    """Point estimates with 95% intervals, one row per label, with a zero line."""
    data = _clean(frame, [label, "value", "lowercl", "uppercl"])
    data = data.dropna(subset=["value"]) if "value" in data else data.iloc[0:0]
    if data.empty:
        return None
    order = data.sort_values("value")[label].tolist()
    base = alt.Chart(data).encode(y=alt.Y(f"{label}:N", title=None, sort=order))
    layers = []
    if {"lowercl", "uppercl"} <= set(data):
        layers.append(base.mark_rule(color=NHS_GREY, strokeWidth=2).encode(
            x=alt.X("lowercl:Q", title=x_title), x2="uppercl:Q"))
    layers.append(base.mark_point(filled=True, size=70, color=NHS_BLUE).encode(
        x=alt.X("value:Q", title=x_title),
        tooltip=[label, alt.Tooltip("value:Q", format=".3f")]))
    layers.append(alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color=NHS_RED, strokeDash=[4, 4]).encode(x="x:Q"))
    return _spec(alt.layer(*layers).properties(height=max(120, 20 * len(data))), title)


def uptake(frame: pd.DataFrame) -> Spec | None:
    """Uptake of each vaccination with its 95% interval, against its target."""
    data = _clean(frame, ["indicator", "age", "uptake", "lowercl", "uppercl", "target"])
    data = data.dropna(subset=["uptake"]) if "uptake" in data else data.iloc[0:0]
    if data.empty:
        return None
    data["item"] = data["indicator"].astype(str) + (" (" + data["age"].astype(str) + ")" if "age" in data else "")
    for column in ("uptake", "lowercl", "uppercl", "target"):
        if column in data:
            data[column] = data[column] * 100
    order = data.sort_values("uptake")["item"].tolist()
    base = alt.Chart(data).encode(y=alt.Y("item:N", title=None, sort=order))
    x_title = "% vaccinated (95% interval); red ticks = target"
    x = alt.X("uptake:Q", title=x_title, scale=alt.Scale(zero=False))
    layers = []
    if {"lowercl", "uppercl"} <= set(data):
        layers.append(base.mark_rule(color=NHS_GREY, strokeWidth=2).encode(
            x=alt.X("lowercl:Q", title=x_title, scale=alt.Scale(zero=False)), x2="uppercl:Q"))
    layers.append(base.mark_point(filled=True, size=70, color=NHS_BLUE).encode(
        x=x, tooltip=["item", alt.Tooltip("uptake:Q", format=".1f"), alt.Tooltip("target:Q", format=".0f")]))
    if "target" in data:
        layers.append(base.mark_tick(color=NHS_RED, thickness=2, size=16).encode(x="target:Q"))
    return _spec(alt.layer(*layers).properties(height=max(120, 22 * len(data))), "Uptake against target")
