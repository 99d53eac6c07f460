"""Views: what each page, API view and report shows, built once from protected tables.

A view is a plain dict of sections; each section holds a protected frame (or None with the name
of the table that is "not built yet"), and charts are Vega-Lite specs. Pages render views as HTML,
the API as JSON, reports as a self-contained document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from placehealth.analyses.compare import unit_view as compare_unit_view
from placehealth.outputs import charts
from placehealth.outputs.disclosure import SUPPRESSED, explanation
from placehealth.outputs.queries import Data, NotFound

#: Columns shown in neighbourhood tables, in order, with their labels.
NEIGHBOURHOOD_COLUMNS = {"lsoa_code": "Neighbourhood (LSOA)", "lsoa_name": "Name",
                         "patients": "Patients", "pcn_share_pct": "% of PCN",
                         "lsoa_share_pct": "% of LSOA's patients", "imd_decile": "IMD decile",
                         "imd_score": "IMD score", "pcns": "PCNs sharing it"}


@dataclass
class Section:
    """A titled block of a view: a protected table and/or a chart, or a note of what is missing."""

    key: str
    title: str
    frame: pd.DataFrame | None = None
    chart: dict[str, Any] | None = None
    missing: str | None = None
    note: str | None = None
    columns: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"title": self.title}
        if self.missing:
            out["status"] = f"not built yet: table {self.missing} is not in the store"
        if self.frame is not None:
            out["rows"] = records(self.frame)
        if self.note:
            out["note"] = self.note
        return out


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready records: NaN/NA -> None, numpy scalars -> Python."""
    clean = frame.astype(object).where(frame.notna(), None)
    out = []
    for row in clean.to_dict(orient="records"):
        out.append({k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()})
    return out


def _first(frame: pd.DataFrame) -> dict[str, Any] | None:
    if frame is None or frame.empty:
        return None
    row = frame.iloc[0].to_dict()
    return {k: (None if _isna(v) else (v.item() if isinstance(v, np.generic) else v)) for k, v in row.items()}


def _isna(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _section(data: Data, key: str, title: str, table: str, **equal: Any) -> Section:
    if not data.has(table):
        return Section(key, title, missing=table)
    return Section(key, title, frame=data.rows(table, **equal))


def _latest(frame: pd.DataFrame, column: str = "period") -> pd.DataFrame:
    if frame.empty or column not in frame:
        return frame
    return frame[frame[column] == frame[column].max()]


# ------------------------------------------------------------------------------ home
def home_view(data: Data) -> dict[str, Any]:
    """ICBs in the store, every PCN with headline figures, and their footprints for the map."""
    icbs = data.rows("icb_profile") if data.has("icb_profile") else pd.DataFrame()
    pcns = data.rows("pcn_profile") if data.has("pcn_profile") else pd.DataFrame()
    keep = [c for c in ("unit_code", "unit_name", "patients", "practices", "imd_score", "core20_pct",
                        SUPPRESSED) if c in pcns]
    pcns = pcns[keep].sort_values("unit_name") if not pcns.empty else pcns
    footprint = data.rows("pcn_lsoa") if data.has("pcn_lsoa") else pd.DataFrame()
    main_pcn: dict[str, str] = {}
    if not footprint.empty:
        by = next((c for c in ("lsoa_share_pct", "patients") if c in footprint), "lsoa_code")
        ordered = footprint.sort_values(by, ascending=False, na_position="last")
        main_pcn = dict(zip(ordered.drop_duplicates("lsoa_code")["lsoa_code"],
                            ordered.drop_duplicates("lsoa_code")["pcn_code"], strict=True))
    names = data.names("pcn")
    geo = data.boundaries(list(main_pcn) or None, level=None if main_pcn else "lsoa21")
    for feature in geo["features"]:
        pcn = main_pcn.get(feature["id"])
        feature["properties"].update({"pcn_code": pcn, "pcn_name": names.get(pcn or "", "")})
    core20 = charts.bar(pcns, "unit_name", "core20_pct", "Share of each PCN's patients living in the most "
                        "deprived fifth of England (Core20)", "% of registered patients") \
        if {"unit_name", "core20_pct"} <= set(pcns.columns) else None
    return {"core20_chart": core20, "icbs": records(icbs[[c for c in ("unit_code", "unit_name", "patients", "practices", "pcns")
                                  if c in icbs]]) if not icbs.empty else [],
            "pcns": pcns, "map": geo, "missing": [t for t in ("pcn_profile", "icb_profile", "pcn_lsoa")
                                                  if not data.has(t)],
            "tables": data.tables()}


# ------------------------------------------------------------------------------ PCN
def pcn_view(data: Data, code: str, indicator: str | None = None) -> dict[str, Any]:
    """Everything the PCN page, its API view and its report show."""
    profile_rows = data.rows("pcn_profile", unit_code=code) if data.has("pcn_profile") else pd.DataFrame()
    in_lsoa = data.rows("pcn_lsoa", pcn_code=code) if data.has("pcn_lsoa") else pd.DataFrame()
    if profile_rows.empty and in_lsoa.empty:
        raise NotFound(f"no PCN with code {code!r} in the store")
    profile = _first(profile_rows) or {}
    name = profile.get("unit_name") or (in_lsoa["pcn_name"].iloc[0] if "pcn_name" in in_lsoa and len(in_lsoa)
                                        else code)
    icb = _first(data.rows("icb_profile")) if data.has("icb_profile") else None
    sections: list[Section] = []

    # who: practices
    practices = _section(data, "practices", "Practices", "practice_profile", pcn_code=code)
    if practices.frame is not None:
        practices.frame = practices.frame[[c for c in ("unit_code", "unit_name", "patients", "imd_score",
                                                       "core20_pct", "pct_65_plus", SUPPRESSED)
                                           if c in practices.frame]]
        practices.columns = {"unit_code": "Practice", "unit_name": "Name", "patients": "Patients",
                             "imd_score": "IMD score", "core20_pct": "% in Core20",
                             "pct_65_plus": "% aged 65+"}
    sections.append(practices)

    # where: neighbourhoods with deprivation, need, fragmentation
    hoods = neighbourhoods(data, in_lsoa)
    sections.append(Section("neighbourhoods", "Neighbourhoods where patients live", frame=hoods,
                            missing=None if data.has("pcn_lsoa") else "pcn_lsoa",
                            columns={k: v for k, v in NEIGHBOURHOOD_COLUMNS.items() if k in hoods}))
    sections.append(Section("deprivation", "Where patients live, by deprivation",
                            chart=charts.deprivation_deciles(profile, icb, name, "ICB") if profile else None,
                            missing=None if profile else "pcn_profile"))
    sections.append(Section("quintiles", "Patients by deprivation quintile",
                            chart=charts.quintiles(profile) if profile else None,
                            missing=None if profile else "pcn_profile"))
    inequality = Section("inequality", "Inequality within the PCN: slope index (SII) by indicator",
                         missing=None if data.has("inequality") else "inequality")
    if data.has("inequality"):
        rows = _latest(data.rows("inequality", latest=False, area_level="pcn", area_code=code))
        rows = rows[[c for c in ("indicator", "period", "measure", "value", "lowercl", "uppercl", "quantiles",
                                 "units", SUPPRESSED) if c in rows]]
        if {"measure", "indicator"} <= set(rows):
            order = {"sii": 0, "rii": 1, "gap": 2, "gap_ratio": 3}
            rows = rows.assign(_order=rows["measure"].map(order).fillna(9)) \
                .sort_values(["_order", "indicator"]).drop(columns="_order")
        inequality.frame = rows
        sii = rows[rows["measure"] == "sii"] if "measure" in rows else rows.iloc[0:0]
        ratios = sii[sii["indicator"].astype(str).str.startswith("prevalence_ratio:")] \
            if "indicator" in sii else sii
        sii = ratios if len(ratios) else sii  # one scale on one axis: O/E ratios when there are some
        inequality.chart = charts.interval(sii, "indicator", "SII of recorded ÷ expected prevalence "
                                           "(negative = higher where more deprived)", "Slope index of inequality")
        inequality.note = ("Neighbourhoods are ranked by deprivation into local fifths; the slope index is the "
                           "difference between the least and most deprived ends of the fitted line.")
        inequality.columns = {"indicator": "Indicator", "period": "Period", "measure": "Measure",
                              "value": "Value", "lowercl": "Lower 95%", "uppercl": "Upper 95%",
                              "quantiles": "Quantiles", "units": "Units"}
    sections.append(inequality)

    # need
    gaps = _section(data, "need", "Need: recorded against expected prevalence", "prevalence_gap",
                    level="pcn", area_code=code)
    if gaps.frame is not None:
        gaps.frame = gaps.frame[[c for c in ("group_code", "observed", "expected", "ratio", "ratio_lowercl",
                                             "ratio_uppercl", "missing", "significantly_low", SUPPRESSED)
                                 if c in gaps.frame]].sort_values("missing", ascending=False, na_position="last")
        gaps.chart = charts.need_gaps(gaps.frame)
        gaps.columns = {"group_code": "Condition", "observed": "On register", "expected": "Expected",
                        "ratio": "Recorded ÷ expected", "missing": "Missing patients (estimate)",
                        "significantly_low": "Significantly low"}
    sections.append(gaps)
    uptake = _section(data, "uptake", "Vaccination uptake against target", "uptake_gap",
                      area_level="pcn", area_code=code)
    if uptake.frame is not None:
        uptake.chart = charts.uptake(uptake.frame)
        uptake.frame = uptake.frame[[c for c in ("indicator", "age", "numerator", "denominator", "uptake",
                                                 "target", "people_behind", "met_target", SUPPRESSED)
                                     if c in uptake.frame]]
        uptake.columns = {"indicator": "Vaccination", "age": "Age", "numerator": "Vaccinated",
                          "denominator": "Eligible", "uptake": "Uptake", "target": "Target",
                          "people_behind": "People to reach target", "met_target": "Target met"}
    sections.append(uptake)
    if data.has("core20plus5"):
        rows = _latest(data.rows("core20plus5", latest=False, pcn_code=code))
        sections.append(Section(
            "core20plus5", "Core20PLUS5: patients in the most deprived fifth against the rest",
            frame=rows[[c for c in ("clinical_area", "indicator", "measure", "all_value", "core20_value",
                                    "rest_value", "difference", "core20_share", SUPPRESSED) if c in rows]],
            columns={"clinical_area": "Clinical area", "indicator": "Indicator", "measure": "Measure",
                     "all_value": "Whole PCN", "core20_value": "Core20", "rest_value": "Rest",
                     "difference": "Core20 − rest"}))

    # comparison
    comparison = data.rows("comparison", latest=False, level="pcn", unit_code=code) \
        if data.has("comparison") else pd.DataFrame()
    indicators = sorted(comparison["indicator"].dropna().unique()) if not comparison.empty else []
    chosen = indicator if indicator in indicators else (indicators[0] if indicators else None)
    label = indicator_titles(data).get(chosen, chosen) if chosen else ""
    compare = Section("comparison", "How the PCN compares", missing=None if data.has("comparison")
                      else "comparison")
    if not comparison.empty:
        unit = compare_unit_view(comparison, code)  # the CLI's and API's one function
        titles = indicator_titles(data)
        compare.frame = pd.concat([unit["indicator"].map(lambda i: titles.get(i, i))
                                   .rename("indicator_title"), unit], axis=1)
        compare.columns = {"indicator_title": "Indicator", "period": "Period", "value": "Value",
                           "england_value": "England", "vs_england": "vs England", "peer_mean": "Peers",
                           "vs_peers": "vs peers", "national_decile": "National decile"}
    sections.append(compare)
    peers = data.rows("peers", latest=True, level="pcn", unit_code=code) if data.has("peers") else pd.DataFrame()
    if "within" in peers and (peers["within"] == "england").any():
        peers = peers[peers["within"] == "england"]  # the national peer group the comparison uses
    peer_codes = list(peers["peer_code"]) if "peer_code" in peers else []
    names = data.names("pcn")
    peer_section = Section("peers", "Similar PCNs (peers)", missing=None if data.has("peers") else "peers")
    if not peers.empty:
        peer_section.frame = peers.assign(peer_name=peers["peer_code"].map(names))[
            [c for c in ("rank", "peer_code", "peer_name", "distance") if c in peers or c == "peer_name"]]
        peer_section.columns = {"rank": "Rank", "peer_code": "PCN", "peer_name": "Name",
                                "distance": "Distance"}
    if chosen and data.has("comparison"):
        on = data.rows("comparison", latest=False, level="pcn", indicator=chosen)
        on = _latest(on)
        peer_section.chart = charts.peer_bars(on[on["unit_code"].isin([code, *peer_codes])], code, label)
    sections.append(peer_section)
    funnel_section = Section("funnel", "Funnel plot", missing=None if data.has("funnel") else "funnel")
    if chosen and data.has("funnel"):
        rows = _latest(data.rows("funnel", latest=False, level="pcn", indicator=chosen))
        limits = data.rows("funnel_limits", latest=False, level="pcn", indicator=chosen) \
            if data.has("funnel_limits") else pd.DataFrame()
        if not limits.empty and len(rows) and "period" in limits:
            limits = limits[limits["period"] == rows["period"].iloc[0]]
        funnel_section.chart = charts.funnel(rows, code, label, limits)
        funnel_section.note = "Dashed lines: 95% limits; dotted: 99.8% limits; solid: the average."
    sections.append(funnel_section)
    trend_section = Section("trend", "Trend", missing=None if data.has("comparison") else "comparison")
    if chosen and not comparison.empty:
        trend_section.chart = charts.trend(comparison[comparison["indicator"] == chosen]
                                           .sort_values("period"), label)
        if trend_section.chart is None:
            trend_section.note = "Only one period is loaded for this indicator."
    sections.append(trend_section)

    # fragmentation
    fragmented = Section("fragmented", "Neighbourhoods shared with other PCNs",
                         missing=None if data.has("fragmented_lsoas") else "fragmented_lsoas")
    if data.has("fragmented_lsoas") and not in_lsoa.empty:
        rows = data.rows("fragmented_lsoas", lsoa_code=list(in_lsoa["lsoa_code"]))
        rows = rows.assign(largest_pcn_name=rows["largest_pcn_code"].map(names)) \
            if "largest_pcn_code" in rows else rows
        fragmented.frame = rows[[c for c in ("lsoa_code", "patients", "pcns", "largest_pcn_code",
                                             "largest_pcn_name", "largest_pcn_pct", "imd_score", SUPPRESSED)
                                 if c in rows]]
        fragmented.columns = {"lsoa_code": "Neighbourhood", "patients": "Patients", "pcns": "PCNs",
                              "largest_pcn_name": "Largest PCN", "largest_pcn_pct": "% in largest PCN",
                              "imd_score": "IMD score"}
    sections.append(fragmented)

    view = {"level": "pcn", "code": code, "name": name, "period": profile.get("period"),
            "profile": profile, "icb": icb, "sections": {s.key: s for s in sections},
            "indicators": indicators, "indicator": chosen, "titles": indicator_titles(data),
            "map": neighbourhood_map(data, hoods), "disclosure": explanation(data.policy)}
    view["headline"] = headline(profile)
    view["narrative"] = narrative(view)
    return view


def indicator_titles(data: Data) -> dict[str, str]:
    """Indicator name -> its title, from the ``indicators`` table when built (else the names)."""
    if not data.has("indicators"):
        return {}

    def make() -> dict[str, str]:
        frame = data.protected("indicators")
        if not {"name", "title"} <= set(frame.columns):
            return {}
        return {str(n): str(t) for n, t in zip(frame["name"], frame["title"], strict=True) if t}
    return data.memo("indicator_titles", make)


def known_indicator(data: Data, indicator: str | None) -> str | None:
    """The indicator if the comparison table has it, else None (so caches key only real ones)."""
    if not indicator or not data.has("comparison"):
        return None
    known = data.memo("indicators", lambda: set(data.protected("comparison")["indicator"].dropna()))
    return indicator if indicator in known else None


def neighbourhoods(data: Data, in_lsoa: pd.DataFrame) -> pd.DataFrame:
    """A PCN's neighbourhoods: its patients there, with the LSOA's deprivation and sharing."""
    if in_lsoa.empty:
        return pd.DataFrame(columns=["lsoa_code"])
    keep = [c for c in ("lsoa_code", "patients", "pcn_share_pct", "lsoa_share_pct", SUPPRESSED) if c in in_lsoa]
    frame = in_lsoa[keep].copy()
    if data.has("lsoa_profile"):
        lsoa = data.rows("lsoa_profile", unit_code=list(frame["lsoa_code"]))
        extra = lsoa[[c for c in ("unit_code", "imd_score", "imd_score_decile", "pcns") if c in lsoa]]
        extra = extra.rename(columns={"unit_code": "lsoa_code", "imd_score_decile": "imd_decile"})
        frame = frame.merge(extra.drop_duplicates("lsoa_code"), on="lsoa_code", how="left")
    shapes = data.boundaries(list(frame["lsoa_code"]))
    names = {f["id"]: f["properties"].get("name") for f in shapes["features"]}
    frame.insert(1, "lsoa_name", frame["lsoa_code"].map(names))
    order = "patients" if "patients" in frame else "lsoa_code"
    return frame.sort_values(order, ascending=False, na_position="last").reset_index(drop=True)


def neighbourhood_map(data: Data, hoods: pd.DataFrame) -> dict[str, Any]:
    """GeoJSON of the neighbourhoods with the values the map can be coloured by."""
    codes = list(hoods["lsoa_code"]) if "lsoa_code" in hoods else []
    geo = data.boundaries(codes)
    by_code = {row["lsoa_code"]: row for row in records(hoods)}
    need: dict[str, dict[str, Any]] = {}
    if codes and data.has("prevalence_gap_lsoa"):
        rows = _latest(data.rows("prevalence_gap_lsoa", latest=False, level="all", lsoa_code=codes))
        for row in rows[[c for c in ("lsoa_code", "group_code", "ratio") if c in rows]].itertuples(index=False):
            if len(row) == 3:
                need.setdefault(row[0], {})[f"need_{row[1]}"] = None if _isna(row[2]) else round(float(row[2]), 3)
    for feature in geo["features"]:
        row = by_code.get(feature["id"], {})
        feature["properties"].update({k: _round(row.get(k)) for k in ("patients", "pcn_share_pct", "imd_decile",
                                                                       "imd_score", "lsoa_share_pct")})
        feature["properties"].update(need.get(feature["id"], {}))
    geo["need_groups"] = sorted({k[5:] for values in need.values() for k in values})
    return geo


def lsoa_map(data: Data, lsoas: list[str]) -> dict[str, Any]:
    """GeoJSON of some neighbourhoods with their deprivation decile and registered patients."""
    geo = data.boundaries(lsoas)
    if data.has("lsoa_profile"):
        rows = data.rows("lsoa_profile", unit_code=lsoas)
        by_code = {r["unit_code"]: r for r in records(rows)}
        for feature in geo["features"]:
            row = by_code.get(feature["id"], {})
            feature["properties"].update({"imd_decile": row.get("imd_score_decile"),
                                          "patients": row.get("patients")})
    return geo


def _round(value: Any, digits: int = 2) -> Any:
    """Map values to two decimals: enough for colours and tooltips, and a smaller page."""
    return round(value, digits) if isinstance(value, float) else value


def headline(profile: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """The key figures at the top of a profile page."""
    items = [("patients", "Registered patients", ",.0f"), ("practices", "Practices", ",.0f"),
             ("core20_pct", "% living in the most deprived fifth (Core20)", ".1f"),
             ("imd_score", "Average IMD score", ".1f"), ("pct_65_plus", "% aged 65 and over", ".1f"),
             ("pct_non_white", "% from ethnic minority groups", ".1f")]
    return [(label, profile.get(key), fmt) for key, label, fmt in items if key in profile]


def narrative(view: dict[str, Any]) -> list[str]:
    """A few plain sentences written from the numbers (all already protected)."""
    name, profile = view["name"], view["profile"]
    out = []
    core20, icb = profile.get("core20_pct"), (view.get("icb") or {}).get("core20_pct")
    if core20 is not None:
        sentence = f"{core20:.0f}% of {name}'s registered patients live in the most deprived fifth of " \
                   "neighbourhoods in England (Core20)"
        if icb is not None:
            sentence += f", against {icb:.0f}% across the ICB"
        out.append(sentence + ".")
    elif profile:
        out.append("The share of patients in the most deprived fifth is suppressed (small numbers).")
    gaps = view["sections"].get("need")
    if gaps is not None and gaps.frame is not None and not gaps.frame.empty and "missing" in gaps.frame:
        low = gaps.frame.dropna(subset=["missing"])
        low = low[low["missing"] >= 0.5]
        if "significantly_low" in low:
            significant = low[low["significantly_low"].fillna(False).astype(bool)]
        else:
            significant = low
        if len(significant):
            parts = [f"{r.group_code} (about {r.missing:,.0f} more "
                     f"{'patient' if round(r.missing) == 1 else 'patients'} expected than recorded)"
                     for r in significant.head(3).itertuples()]
            out.append("The largest significant gaps between expected and recorded prevalence are " +
                       "; ".join(parts) + ".")
        elif len(gaps.frame):
            out.append("No condition's recorded prevalence is significantly below what the population "
                       "predicts.")
    compare = view["sections"].get("comparison")
    if compare is not None and compare.frame is not None and "vs_peers" in compare.frame:
        counts = compare.frame["vs_peers"].value_counts()
        if counts.sum():
            parts = [f"{n} {label}" for label, n in counts.items()]
            out.append(f"Against similar PCNs, on {int(counts.sum())} indicators it is " +
                       ", ".join(parts) + ".")
    hoods = view["sections"].get("neighbourhoods")
    if hoods is not None and hoods.frame is not None and "imd_decile" in hoods.frame:
        deprived = hoods.frame[hoods.frame["imd_decile"] <= 2]
        if len(deprived):
            out.append(f"{len(deprived)} of its {len(hoods.frame)} neighbourhoods are in the most "
                       "deprived fifth nationally.")
    return out


# ------------------------------------------------------------------------------ other levels
def unit_view(data: Data, level: str, code: str) -> dict[str, Any]:
    """A practice, LSOA or local-authority page: its profile and what relates to it."""
    table = {"practice": "practice_profile", "lsoa": "lsoa_profile", "la": "la_profile"}[level]
    if not data.has(table):
        raise NotFound(f"{level} pages need the {table} table, which is not built yet "
                       "(run `placehealth build`)")
    rows = data.rows(table, unit_code=code)
    if rows.empty:
        raise NotFound(f"no {level} with code {code!r} in the store")
    profile = _first(rows) or {}
    name = profile.get("unit_name")
    if level == "lsoa" and (not name or name == code):
        shape = data.boundaries([code])
        name = next((f["properties"]["name"] for f in shape["features"] if f["properties"]["name"]), None)
    sections: list[Section] = []
    icb = _first(data.rows("icb_profile")) if data.has("icb_profile") else None
    sections.append(Section("deprivation", "Where patients live, by deprivation",
                            chart=charts.deprivation_deciles(profile, icb, name or code, "ICB")))
    geo = None
    if level == "practice":
        gaps = _section(data, "need", "Need: recorded against expected prevalence", "prevalence_gap",
                        level="practice", area_code=code)
        if gaps.frame is not None:
            gaps.frame = gaps.frame[[c for c in ("group_code", "period", "observed", "expected", "list_size",
                                                 "ratio", "ratio_lowercl", "ratio_uppercl", "missing",
                                                 "significantly_low", SUPPRESSED) if c in gaps.frame]]
            gaps.chart = charts.need_gaps(gaps.frame)
            gaps.columns = {"group_code": "Condition", "period": "Year", "observed": "On register",
                            "expected": "Expected", "list_size": "List size", "ratio": "Recorded ÷ expected",
                            "missing": "Missing patients (estimate)", "significantly_low": "Significantly low"}
        sections.append(gaps)
        if data.has("registrations_lsoa"):
            rows = data.rows("registrations_lsoa", practice_code=code)
            if "sex" in rows and (rows["sex"] == "ALL").any():
                rows = rows[rows["sex"] == "ALL"]
            rows = rows[[c for c in ("lsoa_code", "patients", SUPPRESSED) if c in rows]]
            rows = rows.sort_values("patients", ascending=False, na_position="last")
            sections.append(Section("catchment", "Where its patients live", frame=rows,
                                    columns={"lsoa_code": "Neighbourhood", "patients": "Patients"}))
            geo = lsoa_map(data, list(rows["lsoa_code"]))
            registered = dict(zip(rows["lsoa_code"], rows["patients"], strict=True))
            for feature in geo["features"]:
                value = registered.get(feature["id"])
                feature["properties"]["patients"] = None if _isna(value) else float(value)
    if level == "lsoa":
        sharing = _section(data, "pcns", "PCNs whose patients live here", "pcn_lsoa", lsoa_code=code)
        if sharing.frame is not None:
            sharing.frame = sharing.frame[[c for c in ("pcn_code", "pcn_name", "patients", "lsoa_share_pct",
                                                       SUPPRESSED) if c in sharing.frame]]
            sharing.chart = charts.bar(sharing.frame, "pcn_name", "lsoa_share_pct",
                                       "Share of this neighbourhood's patients by PCN", "% of patients")
            sharing.columns = {"pcn_code": "PCN", "pcn_name": "Name", "patients": "Patients",
                               "lsoa_share_pct": "% of the neighbourhood's patients"}
        sections.append(sharing)
        gaps = _section(data, "need", "Estimated need by condition (all practices' patients here)",
                        "prevalence_gap_lsoa", level="all", lsoa_code=code)
        if gaps.frame is not None:
            gaps.frame = gaps.frame[[c for c in ("group_code", "patients", "observed", "expected", "ratio",
                                                 "ratio_lowercl", "ratio_uppercl", "missing", SUPPRESSED)
                                     if c in gaps.frame]]
            gaps.chart = charts.need_gaps(gaps.frame)
            gaps.columns = {"group_code": "Condition", "patients": "Patients", "observed": "On registers "
                            "(apportioned)", "expected": "Expected", "ratio": "Recorded ÷ expected",
                            "missing": "Missing patients (estimate)"}
        sections.append(gaps)
        geo = lsoa_map(data, [code])
    if level == "la":
        pcns = _section(data, "pcns", "PCNs serving this area", "pcn_la", la_code=code)
        if pcns.frame is not None:
            pcns.frame = pcns.frame[[c for c in ("pcn_code", "pcn_name", "patients", "pcn_share_pct",
                                                 "la_share_pct", SUPPRESSED) if c in pcns.frame]]
            pcns.chart = charts.bar(pcns.frame, "pcn_name", "la_share_pct",
                                    "Share of the area's registered residents by PCN", "% of patients")
            pcns.columns = {"pcn_code": "PCN", "pcn_name": "Name", "patients": "Patients",
                            "pcn_share_pct": "% of the PCN's patients", "la_share_pct": "% of the area's"}
        sections.append(pcns)
        lsoas = []
        if data.has("geography_lookup"):
            lookup = data.rows("geography_lookup", latest=False, level="lad", area_code=code)
            lsoas = sorted(set(lookup["lsoa_code"])) if "lsoa_code" in lookup else []
        geo = lsoa_map(data, lsoas) if lsoas else data.boundaries([code])
    figures = [h for h in headline(profile) if not (level == "practice" and h[0] == "Practices")]
    return {"level": level, "code": code, "name": name or code, "profile": profile,
            "headline": figures, "sections": {s.key: s for s in sections}, "map": geo,
            "map_colour": "patients" if level == "practice" else "imd_decile",
            "disclosure": explanation(data.policy)}


def group_view(data: Data, name: str) -> dict[str, Any]:
    """A user-defined group (``placehealth group create``): its profile, members and need."""
    members = data.rows("groups", latest=False, group_name=name) if data.has("groups") else pd.DataFrame()
    profile_rows = data.rows("group_profile", unit_code=name) if data.has("group_profile") else pd.DataFrame()
    if members.empty and profile_rows.empty:
        if not data.has("groups") and not data.has("group_profile"):
            raise NotFound("groups are not built yet: define one with `placehealth group create`, "
                           "then run `placehealth build`")
        raise NotFound(f"no group named {name!r}")
    profile = _first(profile_rows) or {}
    icb = _first(data.rows("icb_profile")) if data.has("icb_profile") else None
    sections = [Section("deprivation", "Where patients live, by deprivation",
                        chart=charts.deprivation_deciles(profile, icb, name, "ICB") if profile else None,
                        missing=None if profile else "group_profile")]
    member_section = Section("members", "Members", missing=None if data.has("groups") else "groups")
    if not members.empty:
        frame = members[[c for c in ("member_type", "member_code", SUPPRESSED) if c in members]]
        kinds = set(frame["member_type"]) if "member_type" in frame else set()
        if len(kinds) == 1 and kinds <= {"lsoa", "practice"}:  # name the column so pages link it
            frame = frame.rename(columns={"member_code": f"{kinds.pop()}_code"})
        member_section.frame = frame
        member_section.columns = {"member_type": "Type", "member_code": "Code", "lsoa_code": "Neighbourhood",
                                  "practice_code": "Practice"}
    sections.append(member_section)
    gaps = _section(data, "need", "Need: recorded against expected prevalence", "prevalence_gap",
                    level="group", area_code=name)
    if gaps.frame is not None:
        gaps.chart = charts.need_gaps(gaps.frame)
    sections.append(gaps)
    lsoas = list(members.loc[members["member_type"] == "lsoa", "member_code"]) \
        if {"member_type", "member_code"} <= set(members) else []
    return {"level": "group", "code": name, "name": name, "profile": profile, "headline": headline(profile),
            "sections": {s.key: s for s in sections}, "map": lsoa_map(data, lsoas) if lsoas else None,
            "disclosure": explanation(data.policy)}


def compare_view(data: Data, codes: list[str], indicator: str | None) -> dict[str, Any]:
    """Chosen PCNs side by side on one indicator (all PCNs when none chosen)."""
    if not data.has("comparison"):
        return {"indicators": [], "indicator": None, "frame": None, "chart": None, "missing": "comparison",
                "pcns": data.names("pcn"), "codes": codes, "disclosure": explanation(data.policy)}
    frame = data.rows("comparison", latest=False, level="pcn")
    indicators = sorted(frame["indicator"].dropna().unique())
    if indicator and indicator not in indicators:
        raise NotFound(f"no indicator {indicator!r}; known: {', '.join(indicators[:20])}")
    chosen = indicator or (indicators[0] if indicators else None)
    rows = _latest(frame[frame["indicator"] == chosen])
    if codes:
        rows = rows[rows["unit_code"].isin(codes)]
    rows = rows[[c for c in ("unit_code", "unit_name", "period", "value", "lowercl", "uppercl",
                             "vs_england", "vs_peers", "national_decile", SUPPRESSED) if c in rows]]
    return {"indicators": indicators, "indicator": chosen, "frame": rows, "titles": indicator_titles(data),
            "chart": charts.peer_bars(rows, None, chosen or "", f"PCNs on {chosen}"),
            "pcns": data.names("pcn"), "codes": codes, "missing": None,
            "disclosure": explanation(data.policy)}


def view_json(view: dict[str, Any]) -> dict[str, Any]:
    """A view for the JSON API (frames as records, charts left out)."""
    out: dict[str, Any] = {}
    for key, value in view.items():
        if key == "sections":
            out[key] = {k: s.to_json() for k, s in value.items()}
        elif isinstance(value, pd.DataFrame):
            out[key] = records(value)
        elif key in {"chart", "map"}:
            continue
        else:
            out[key] = value
    return out
