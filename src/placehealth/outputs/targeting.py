"""Targeting sections of the PCN and local-authority pages (and so their reports and JSON):
reach of need by kind of partner, the high-need neighbourhoods no partner reaches, the partners
with a map of need, and fair shares with the inverse-care chart.

Rows come from protected tables only (a partner's contact never reaches here: disclosure drops
it from the whole table); the sections themselves are declared in
:mod:`placehealth.outputs.sections`. Functions take the page's unit (``data``, ``level``,
``code``, ``lsoas``).
"""

from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from placehealth.outputs.charts import NHS_BLUE, NHS_GREY, NHS_WARM
from placehealth.sources.grid import to_wgs84

#: How each kind of partner reads on a page.
KIND_TITLES = {"council_service": "Council services", "voluntary_group": "Voluntary and community groups",
               "faith_venue": "Faith venues", "community_centre": "Community centres",
               "library": "Libraries", "school": "Schools", "pharmacy": "Pharmacies",
               "gp_site": "GP sites", "leisure_centre": "Leisure centres", "food_bank": "Food banks",
               "other": "Other partners", "practice": "GP practices", "any_partner": "Any partner"}
#: A PCN serves an authority when it holds at least this share of its registered residents.
SERVING_PCT = 1.0
WEIGHT_TITLES = {"population": "registered patients", "need_weighted": "need-weighted patients",
                 "missing": "missing patients"}


def kind_title(kind: Any) -> str:
    return KIND_TITLES.get(str(kind), str(kind).replace("_", " ").capitalize())


def area_lsoas(unit: Any) -> set[str]:
    """The neighbourhoods of the page: a PCN's footprint, an authority's LSOAs."""
    if unit.level == "pcn":
        return set(unit.lsoas)
    rows = unit.data.rows("reach_lsoa", latest=False, kind="any_partner", la_code=unit.code)
    return set(rows["lsoa_code"]) if "lsoa_code" in rows else set()


# ------------------------------------------------------------------------------ reach
def reach_rows(unit: Any) -> pd.DataFrame:
    """The area's need within reach of each kind of partner, least reached first."""
    rows = unit.data.rows("reach_area", latest=False, level=unit.level, area_code=unit.code)
    if rows.empty:
        return rows
    rows = rows.assign(kind_title=rows["kind"].map(kind_title))
    return rows.sort_values("need_reached_pct", na_position="last", kind="stable")


def reach_chart(frame: pd.DataFrame | None, _unit: Any) -> dict[str, Any] | None:
    if frame is None or frame.empty or "need_reached_pct" not in frame:
        return None
    data = frame[["kind_title", "need_reached_pct"]].dropna().astype({"need_reached_pct": "float64"})
    if data.empty:
        return None
    chart = alt.Chart(data).mark_bar(color=NHS_BLUE).encode(
        x=alt.X("need_reached_pct:Q", title="% of need within reach", scale=alt.Scale(domain=[0, 100])),
        y=alt.Y("kind_title:N", title=None, sort="x"),
        tooltip=["kind_title", alt.Tooltip("need_reached_pct:Q", format=".0f")])
    return _spec(chart.properties(height=max(120, 22 * len(data))),
                 "Share of need within reach, by kind of partner")


def unreached_rows(unit: Any) -> pd.DataFrame:
    """High-need neighbourhoods of the area that no partner reaches, most need first."""
    rows = unit.data.rows("reach_lsoa", latest=False, kind="any_partner")
    if rows.empty or "high_need" not in rows:
        return rows
    inside = rows["lsoa_code"].isin(area_lsoas(unit))
    reached = rows["reached"].fillna(False).astype(bool)
    rows = rows[inside & rows["high_need"].fillna(False).astype(bool) & ~reached]
    return rows.sort_values("need", ascending=False, na_position="last", kind="stable")


# ------------------------------------------------------------------------------ partners
def current_partners(data: Any) -> pd.DataFrame:
    """Each register's latest snapshot, partners still open then (protected: no contacts)."""
    frame = data.rows("partners", latest=False)
    if frame.empty:
        return frame
    newest = frame.groupby("register")["period"].transform("max")
    frame = frame[frame["period"] == newest]
    day = frame["period"].astype(str).map(lambda p: p if len(p) == 10 else f"{p[:7]}-01")
    open_ = frame["valid_to"].isna() | (frame["valid_to"].astype(str) > day)
    started = frame["valid_from"].isna() | (frame["valid_from"].astype(str) <= day)
    return frame[open_ & started]


def partner_rows(unit: Any) -> pd.DataFrame:
    """Partners standing in the area's neighbourhoods, by kind."""
    frame = current_partners(unit.data)
    if frame.empty:
        return frame
    frame = frame[frame["lsoa_code"].isin(area_lsoas(unit))]
    frame = frame.assign(kind_title=frame["kind"].map(kind_title))
    return frame.sort_values(["kind_title", "name"], kind="stable")


def partner_map(frame: pd.DataFrame | None, unit: Any) -> dict[str, Any] | None:
    """Need and partners on one map: neighbourhoods as circles sized by need (orange where
    high need is unreached), partners as points coloured by kind (WGS84, equal-area enough at
    a place's scale)."""
    hoods = unit.data.rows("reach_lsoa", latest=False, kind="any_partner")
    if hoods.empty or "easting" not in hoods:
        return None
    hoods = hoods[hoods["lsoa_code"].isin(area_lsoas(unit)) & hoods["easting"].notna()]
    if hoods.empty:
        return None
    lat, lon = to_wgs84(hoods["easting"].to_numpy(float), hoods["northing"].to_numpy(float))
    unreached = hoods["high_need"].fillna(False).astype(bool) & ~hoods["reached"].fillna(False).astype(bool)
    need = pd.DataFrame({"lat": lat, "lon": lon, "name": hoods["lsoa_name"].astype(str),
                         "need": hoods["need"].astype("float64").fillna(0),
                         "status": np.where(unreached, "High need, no partner within reach", "Neighbourhood")})
    layers = [alt.Chart(need).mark_circle(opacity=0.45).encode(
        longitude="lon:Q", latitude="lat:Q", size=alt.Size("need:Q", title="Need", legend=None),
        color=alt.Color("status:N", title=None, scale=alt.Scale(
            domain=["Neighbourhood", "High need, no partner within reach"], range=[NHS_GREY, NHS_WARM])),
        tooltip=["name", alt.Tooltip("need:Q", format=".0f"), "status"])]
    if frame is not None and len(frame) and "easting" in frame:
        placed = frame[frame["easting"].notna()]
        if len(placed):
            plat, plon = to_wgs84(placed["easting"].to_numpy(float), placed["northing"].to_numpy(float))
            points = pd.DataFrame({"lat": plat, "lon": plon, "name": placed["name"].astype(str),
                                   "kind": placed["kind_title"].astype(str)})
            layers.append(alt.Chart(points).mark_point(filled=True, size=45, shape="diamond",
                                                       opacity=0.9).encode(
                longitude="lon:Q", latitude="lat:Q",
                color=alt.Color("kind:N", title="Partners", scale=alt.Scale(scheme="tableau10")),
                tooltip=["name", "kind"]))
    chart = alt.layer(*layers).resolve_scale(color="independent").project(type="mercator")
    return _spec(chart.properties(height=420), "Need and partners")


# ------------------------------------------------------------------------------ fair shares
def share_rows(unit: Any) -> pd.DataFrame:
    """Fair shares: a PCN's practices (of 100), or the PCNs serving an authority (of 1,000),
    by need-weighted patients, with each unit's share by registered patients beside it."""
    data = unit.data
    if unit.level == "pcn":
        rows = data.rows("fair_shares", latest=False, scope=unit.code, level="practice")
    else:
        serving = data.rows("pcn_la", la_code=unit.code)
        if "la_share_pct" in serving:  # the PCNs that serve the area, not every one a few move to
            serving = serving[serving["la_share_pct"].astype("float64") >= SERVING_PCT]
        codes = list(serving["pcn_code"]) if "pcn_code" in serving else []
        rows = data.rows("fair_shares", latest=False, scope="all", level="pcn", unit_code=codes)
    if rows.empty:
        return rows
    wide = rows.pivot_table(index="unit_code", columns="weight_by", values="weight_pct", aggfunc="first")
    main = rows[rows["weight_by"] == ("need_weighted" if (rows["weight_by"] == "need_weighted").any()
                                      else rows["weight_by"].iloc[0])].copy()
    for weight_by in ("population", "need_weighted", "missing"):
        main[f"{weight_by}_pct"] = main["unit_code"].map(wide[weight_by]) if weight_by in wide else np.nan
    return main.sort_values("fair_share", ascending=False, na_position="last", kind="stable")


def inverse_care_chart(frame: pd.DataFrame | None, _unit: Any) -> dict[str, Any] | None:
    """Resources against need: each unit's share by registered patients (what a list-size
    split gives) against its share by need; below the diagonal, a list-size split gives it less
    than its need (the inverse care law: Tudor Hart J., *The inverse care law*, Lancet 1971)."""
    if frame is None or frame.empty or "population_pct" not in frame:
        return None
    need_column = "missing_pct" if frame.get("missing_pct", pd.Series(dtype=float)).notna().any() \
        else "need_weighted_pct"
    data = pd.DataFrame({"name": frame["unit_name"].astype(str),
                         "need": frame[need_column].astype("float64"),
                         "resource": frame["population_pct"].astype("float64")}).dropna()
    if data.empty:
        return None
    top = float(max(data["need"].max(), data["resource"].max()) * 1.05)
    line = pd.DataFrame({"need": [0.0, top], "resource": [0.0, top]})
    title = "missing patients" if need_column == "missing_pct" else "need-weighted patients"
    points = alt.Chart(data).mark_circle(size=70, color=NHS_BLUE).encode(
        x=alt.X("need:Q", title=f"Share of {title} (%)", scale=alt.Scale(domain=[0, top])),
        y=alt.Y("resource:Q", title="Share of registered patients (%)", scale=alt.Scale(domain=[0, top])),
        tooltip=["name", alt.Tooltip("need:Q", format=".1f"), alt.Tooltip("resource:Q", format=".1f")])
    diagonal = alt.Chart(line).mark_line(color=NHS_GREY, strokeDash=[4, 4]).encode(x="need:Q", y="resource:Q")
    return _spec(alt.layer(diagonal, points).properties(height=320),
                 "Resources against need (below the line: a list-size split gives less than need)")


def _spec(chart: Any, title: str) -> dict[str, Any]:
    spec = chart.properties(title=title, width="container").configure_view(stroke=None) \
        .configure_axis(labelFontSize=12, titleFontSize=12).to_dict(validate=False)
    spec["description"] = title
    return spec


__all__ = ["KIND_TITLES", "inverse_care_chart", "kind_title", "partner_map", "partner_rows",
           "reach_chart", "reach_rows", "share_rows", "unreached_rows"]
