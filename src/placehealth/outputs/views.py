"""Views: what each page, API view and report shows, built once from protected tables.

A view is a plain dict: the unit's name, profile and headline figures, its sections (declared in
:mod:`placehealth.outputs.sections` and built by one function for every level), a map and a few
sentences written from the numbers. Pages render views as HTML, the API as JSON, reports as a
self-contained document.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from placehealth import levels
from placehealth.outputs import charts, sections
from placehealth.outputs import format as fmt
from placehealth.outputs.disclosure import SUPPRESSED, explanation
from placehealth.outputs.queries import Data, NotFound
from placehealth.outputs.sections import (
    Section,
    Unit,
    decorate,
    indicator_titles,
    isna,
    latest,
    missing_text,
    national_deciles,
    records,
    title_of,
)

__all__ = ["Section", "compare_view", "group_view", "headline", "home_view", "indicator_titles", "isna",
           "known_indicator", "narrative", "pcn_view", "records", "unit_view", "view_json"]

#: The profile table of each level (from the level registry).
PROFILE_TABLE = levels.profile_tables()
#: Levels whose units have a page and API view of the one kind (:func:`unit_view`): every level
#: with a profile but the PCN and user groups, whose views are their own.
UNIT_LEVELS = tuple(name for name in PROFILE_TABLE if name not in ("pcn", "group"))
#: Above this many PCNs, /compare starts from one ICB's PCNs rather than every one.
COMPARE_ALL_UP_TO = 60


def _first(frame: pd.DataFrame) -> dict[str, Any] | None:
    if frame is None or frame.empty:
        return None
    row = frame.iloc[0].to_dict()
    return {k: (None if isna(v) else (v.item() if isinstance(v, np.generic) else v)) for k, v in row.items()}


def _icb(data: Data) -> dict[str, Any] | None:
    return _first(data.rows("icb_profile")) if data.has("icb_profile") else None


# ------------------------------------------------------------------------------ home
def home_view(data: Data) -> dict[str, Any]:
    """ICBs and councils in the store, every PCN with headline figures, and the footprint map."""
    icbs = data.rows("icb_profile")
    pcns = data.rows("pcn_profile")
    keep = [c for c in ("unit_code", "unit_name", "patients", "practices", "imd_score", "core20_pct",
                        SUPPRESSED) if c in pcns]
    pcns = pcns[keep].sort_values("unit_name") if not pcns.empty else pcns
    councils = _main_councils(data, "la")
    counties = _main_councils(data, "utla")
    core20 = charts.bar(pcns, "unit_name", "core20_pct", "Share of each PCN's patients living in the most "
                        "deprived fifth of England (Core20)", "% of registered patients") \
        if {"unit_name", "core20_pct"} <= set(pcns.columns) else None
    return {"core20_chart": core20, "councils": councils, "counties": counties, "pcns": pcns, "map": home_map(data),
            "icbs": records(icbs[[c for c in ("unit_code", "unit_name", "patients", "practices", "pcns")
                                  if c in icbs]]) if not icbs.empty else [],
            "missing": [t for t in ("pcn_profile", "icb_profile", "pcn_lsoa") if not data.has(t)],
            "tables": data.tables()}


def _main_councils(data: Data, level: str) -> pd.DataFrame:
    """The councils of a level (``la`` lower tier, ``utla`` upper tier) where 99% of the
    registered patients live, largest first (not every council where a few patients moved)."""
    councils = data.rows(PROFILE_TABLE[level])
    if councils.empty:
        return councils
    councils = councils[sections.footprint(councils, sections.COUNCILS_PCT)]
    return councils[[c for c in ("unit_code", "unit_name", "patients", "imd_score", "core20_pct", SUPPRESSED)
                     if c in councils]].sort_values("patients", ascending=False, kind="stable")


def home_map(data: Data) -> dict[str, Any]:
    """The neighbourhoods of the PCNs' footprints, each coloured by the PCN most of its registered
    patients belong to."""
    footprint = data.rows("pcn_lsoa")
    column = f"in_footprint_{sections.FOOTPRINT_PCT}"
    if column in footprint:  # not every far neighbourhood a few patients moved to
        footprint = footprint[footprint[column].fillna(False).astype(bool)]
    main_pcn: dict[str, str] = {}
    if not footprint.empty:
        by = next((c for c in ("lsoa_share_pct", "patients") if c in footprint), "lsoa_code")
        ordered = footprint.sort_values(by, ascending=False, na_position="last").drop_duplicates("lsoa_code")
        main_pcn = dict(zip(ordered["lsoa_code"], ordered["pcn_code"], strict=True))
    names = data.names("pcn")
    geo = data.boundaries(list(main_pcn) or None, level=None if main_pcn else "lsoa21")
    for feature in geo["features"]:
        pcn = main_pcn.get(feature["id"])
        feature["properties"].update({"pcn_code": pcn, "pcn_name": names.get(pcn or "", "")})
    return geo


# ------------------------------------------------------------------------------ PCN
def pcn_view(data: Data, code: str, indicator: str | None = None) -> dict[str, Any]:
    """Everything the PCN page, its API view and its report show."""
    profile = _first(data.rows("pcn_profile", unit_code=code)) or {}
    if not profile and data.rows("pcn_lsoa", pcn_code=code).empty:
        raise NotFound(f"no PCN with code {code!r} in the store")
    name = data.names("pcn").get(code) or profile.get("unit_name") or code
    indicators = _indicators(data, code)
    chosen = indicator if indicator in indicators else (indicators[0] if indicators else None)
    unit = Unit(data, "pcn", code, name, profile, _icb(data), chosen)
    hoods = sections.neighbourhood_rows(unit)
    unit.lsoas = list(hoods.loc[hoods["in_footprint"], "lsoa_code"])
    view = {"level": "pcn", "code": code, "name": name, "period": profile.get("period"), "profile": profile,
            "icb": unit.icb, "sections": sections.build_all(unit), "indicators": indicators,
            "indicator": chosen, "titles": {i: title_of(data, i) for i in indicators},
            "map": neighbourhood_map(data, hoods), "disclosure": explanation(data.policy),
            "headline": headline(profile)}
    view["narrative"] = narrative(view)
    return view


def _indicators(data: Data, code: str) -> list[str]:
    rows = data.rows("comparison", latest=False, level="pcn", unit_code=code)
    return sorted(rows["indicator"].dropna().unique()) if "indicator" in rows else []


def known_indicator(data: Data, indicator: str | None) -> str | None:
    """The indicator if the comparison table has it, else None (so caches key only real ones)."""
    if not indicator or not data.has("comparison"):
        return None
    known = data.memo("indicators", lambda: set(data.protected("comparison")["indicator"].dropna()))
    return indicator if indicator in known else None


def neighbourhood_map(data: Data, hoods: pd.DataFrame) -> dict[str, Any]:
    """GeoJSON of every neighbourhood where the PCN's patients live, with the values the map can
    be coloured by; ``footprint`` marks those holding 95% of them, which the map draws first."""
    codes = list(hoods["lsoa_code"]) if "lsoa_code" in hoods else []
    geo = data.boundaries(codes)
    by_code = {row["lsoa_code"]: row for row in records(hoods)}
    need: dict[str, dict[str, Any]] = {}
    if codes and data.has("prevalence_gap_lsoa"):
        rows = latest(data.rows("prevalence_gap_lsoa", latest=False, level="all", lsoa_code=codes))
        for row in rows[[c for c in ("lsoa_code", "group_code", "ratio") if c in rows]].itertuples(index=False):
            if len(row) == 3:
                need.setdefault(row[0], {})[f"need_{row[1]}"] = None if isna(row[2]) else round(float(row[2]), 3)
    for feature in geo["features"]:
        row = by_code.get(feature["id"], {})
        feature["properties"].update({k: _round(row.get(k)) for k in ("patients", "pcn_share_pct", "imd_decile",
                                                                       "imd_score", "lsoa_share_pct")})
        feature["properties"]["footprint"] = bool(row.get("in_footprint", True))
        feature["properties"].update(need.get(feature["id"], {}))
    geo["need_groups"] = {g: title_of(data, g) for g in sorted({k[5:] for values in need.values() for k in values})}
    return geo


def lsoa_map(data: Data, lsoas: list[str], patients: dict[str, Any] | None = None) -> dict[str, Any]:
    """GeoJSON of some neighbourhoods with their national IMD decile and patients (registered
    there, or ``patients`` given, e.g. a practice's); the 95% footprint of ``patients`` marked."""
    geo = data.boundaries(lsoas)
    deciles = national_deciles(data, lsoas)
    if patients is None and data.has("lsoa_profile"):
        rows = data.rows("lsoa_profile", unit_code=lsoas)
        patients = dict(zip(rows["unit_code"], rows["patients"], strict=True))
    counts = pd.Series({c: (None if isna(v) else float(v)) for c, v in (patients or {}).items()}, dtype="float64")
    inside = set(counts.index[sections.footprint(pd.DataFrame({"patients": counts}))]) if len(counts) else set()
    for feature in geo["features"]:
        value = (patients or {}).get(feature["id"])
        feature["properties"].update({"imd_decile": deciles.get(feature["id"]),
                                      "patients": None if isna(value) else float(value),
                                      "footprint": not inside or feature["id"] in inside})
    return geo


def _round(value: Any, digits: int = 2) -> Any:
    """Map values to two decimals: enough for colours and tooltips, and a smaller page."""
    return round(value, digits) if isinstance(value, float) else value


def headline(profile: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """The key figures at the top of a profile page."""
    items = [("patients", "Registered patients", "count"), ("practices", "Practices", "count"),
             ("core20_pct", "Living in the most deprived fifth (Core20)", "percent"),
             ("imd_score", "Average IMD score", "score"), ("pct_65_plus", "Aged 65 and over", "percent"),
             ("pct_non_white", "From ethnic minority groups", "percent")]
    return [(label, profile.get(key), fmt) for key, label, fmt in items if key in profile]


# ------------------------------------------------------------------------------ narrative
def narrative(view: dict[str, Any]) -> list[str]:
    """A few plain sentences written from the numbers (all already protected)."""
    found = [_core20_sentence(view), _need_sentence(view["sections"].get("need"), view["name"]),
             _comparison_sentence(view["sections"].get("comparison")),
             _deprived_sentence(view["sections"].get("neighbourhoods"))]
    return [s for s in found if s]


def _core20_sentence(view: dict[str, Any]) -> str | None:
    """The Core20 share as the headline shows it (one figure, one rounding)."""
    profile, name = view["profile"], view["name"]
    core20, icb = profile.get("core20_pct"), (view.get("icb") or {}).get("core20_pct")
    if core20 is None:
        return "The share of patients in the most deprived fifth is suppressed (small numbers)." if profile else None
    sentence = f"{fmt.percent(core20)} of {name}'s registered patients live in the most deprived fifth of " \
               "neighbourhoods in England (Core20)"
    return sentence + (f", against {fmt.percent(icb)} across the ICB." if icb is not None else ".")


def _need_sentence(gaps: Section | None, name: str) -> str | None:
    if gaps is None or gaps.frame is None or gaps.frame.empty or "missing" not in gaps.frame:
        return None
    low = gaps.frame.dropna(subset=["missing"])
    low = low[low["missing"] >= 0.5]
    if "significantly_low" in low:
        low = low[low["significantly_low"].fillna(False).astype(bool)]
    if not len(low):
        return "No condition's recorded prevalence is significantly below what the population predicts."
    parts = [f"{r.condition} (about {missing_text(r.missing)} more "
             f"{'patient' if missing_text(r.missing) == '1' else 'patients'} expected than recorded)"
             for r in low.head(3).itertuples()]
    return "The largest significant gaps between expected and recorded prevalence are " + "; ".join(parts) + "."


def _comparison_sentence(compare: Section | None) -> str | None:
    if compare is None or compare.frame is None or "vs_peers" not in compare.frame:
        return None
    counts = compare.frame["vs_peers"].value_counts()
    if not counts.sum():
        return None
    return f"Against similar PCNs, on {int(counts.sum())} indicators it is " + \
        ", ".join(f"{n} {label}" for label, n in counts.items()) + "."


def _deprived_sentence(hoods: Section | None) -> str | None:
    if hoods is None or hoods.frame is None or "imd_decile" not in hoods.frame:
        return None
    footprint = hoods.frame.head(hoods.shown or len(hoods.frame))
    deprived = footprint[footprint["imd_decile"] <= 2]
    if not len(deprived):
        return None
    return f"{len(deprived)} of the {len(footprint)} neighbourhoods holding most of its patients are in the " \
           "most deprived fifth nationally."


# ------------------------------------------------------------------------------ other levels
def unit_view(data: Data, level: str, code: str) -> dict[str, Any]:
    """The page of a unit of any level with a profile (practice, neighbourhood, ward, council,
    Sub-ICB, ICB, region): its profile and the sections declared for its level."""
    table = PROFILE_TABLE[level]
    if not data.has(table):
        raise NotFound(f"{level} pages need the {table} table, which is not built yet "
                       "(run `placehealth build`)")
    profile = _first(data.rows(table, unit_code=code))
    if profile is None:
        raise NotFound(f"no {level} with code {code!r} in the store")
    name = profile.get("unit_name") if profile.get("unit_name") != code else None
    if level == "lsoa":
        name = sections.lsoa_names(data, [code]).get(code) or name
    unit = Unit(data, level, code, name or code, profile, _icb(data))
    built = sections.build_all(unit)
    figures = [h for h in headline(profile) if not (level == "practice" and h[0] == "Practices")]
    if profile.get("pcn_code"):  # the PCN's current name, as on its own page
        profile["pcn_name"] = data.names("pcn").get(profile["pcn_code"], profile.get("pcn_name"))
    return {"level": level, "code": code, "name": name or code, "profile": profile,
            "headline": figures, "sections": built, "map": _unit_map(data, level, code, built),
            "map_colour": "patients" if level == "practice" else "imd_decile",
            "disclosure": explanation(data.policy)}


#: The sections of the targeting page (declared with the others in sections.py).
TARGETING = ("reach", "unreached", "partners", "fair_shares")


def target_view(data: Data, level: str, code: str) -> dict[str, Any]:
    """The targeting page of a PCN or local authority: need within reach of partners, the
    high-need neighbourhoods none reaches, partners and need on one map, fair shares."""
    if level not in ("pcn", "la"):
        raise NotFound(f"targeting pages are for PCNs and local authorities, not {level!r}")
    table = "pcn_profile" if level == "pcn" else PROFILE_TABLE["la"]
    profile = _first(data.rows(table, unit_code=code)) if data.has(table) else None
    profile = profile or {}
    if level == "pcn":
        if not profile and data.rows("pcn_lsoa", pcn_code=code).empty:
            raise NotFound(f"no PCN with code {code!r} in the store")
        name = data.names("pcn").get(code) or profile.get("unit_name") or code
        unit = Unit(data, "pcn", code, name, profile)
        hoods = sections.neighbourhood_rows(unit)
        unit.lsoas = list(hoods.loc[hoods["in_footprint"], "lsoa_code"])
        shape = neighbourhood_map(data, hoods)
    else:
        if not profile:
            raise NotFound(f"no local authority with code {code!r} in the store")
        name = profile.get("unit_name") or code
        unit = Unit(data, "la", code, name, profile)
        shape = _unit_map(data, "la", code, {})
    built = {spec.key: sections.build(spec, unit) for spec in sections.for_level(level)
             if spec.key in TARGETING}
    return {"level": level, "code": code, "name": f"Targeting: {name}", "profile": profile,
            "headline": headline(profile), "sections": built, "map": shape,
            "map_colour": "imd_decile", "targeting": True, "disclosure": explanation(data.policy)}


def _unit_map(data: Data, level: str, code: str, built: dict[str, Section]) -> dict[str, Any] | None:
    if level == "practice":
        rows = built["catchment"].frame if "catchment" in built else None
        if rows is None or rows.empty:
            return None
        return lsoa_map(data, list(rows["lsoa_code"]), dict(zip(rows["lsoa_code"], rows["patients"], strict=True)))
    if level == "lsoa":
        return lsoa_map(data, [code])
    if level == "la":
        lookup = data.rows("geography_lookup", latest=False, level="lad", area_code=code)
        lsoas = sorted(set(lookup["lsoa_code"])) if "lsoa_code" in lookup else []
        return lsoa_map(data, lsoas) if lsoas else data.boundaries([code])
    return None


def intervention_view(data: Data, name: str) -> dict[str, Any]:
    """A registered intervention: did it work? (outputs/impact.py; the sections declared for
    ``intervention`` in outputs/sections.py), the answer in plain words first."""
    from placehealth.outputs import impact

    try:
        result = impact.cached(data, name)
    except impact.InterventionError as exc:
        raise NotFound(str(exc)) from None
    unit = Unit(data, "intervention", name, name, indicator=result["indicator"])
    built = sections.build_all(unit)
    built["answer"].note = impact.answer_note(unit)
    item = result["intervention"]
    return {"level": "intervention", "code": name, "name": name, "profile": {},
            "headline": None, "sections": built, "map": None,
            "description": item.get("description"), "answer": result["answer"],
            "disclosure": explanation(data.policy)}


def group_view(data: Data, name: str) -> dict[str, Any]:
    """A user-defined group (``placehealth group create``): its profile, members and need."""
    members = data.rows("groups", latest=False, group_name=name)
    profile = _first(data.rows("group_profile", unit_code=name)) or {}
    if members.empty and not profile:
        if not data.has("groups") and not data.has("group_profile"):
            raise NotFound("groups are not built yet: define one with `placehealth group create`, "
                           "then run `placehealth build`")
        raise NotFound(f"no group named {name!r}")
    unit = Unit(data, "group", name, name, profile, _icb(data))
    lsoas = list(members.loc[members["member_type"] == "lsoa", "member_code"]) \
        if {"member_type", "member_code"} <= set(members) else []
    return {"level": "group", "code": name, "name": name, "profile": profile, "headline": headline(profile),
            "sections": sections.build_all(unit), "map": lsoa_map(data, lsoas) if lsoas else None,
            "disclosure": explanation(data.policy)}


# ------------------------------------------------------------------------------ compare
def compare_view(data: Data, codes: list[str], indicator: str | None, icb: str | None = None) -> dict[str, Any]:
    """Chosen PCNs side by side on one indicator: those asked for, else an ICB's, else the
    place's (every PCN with a profile, when there are not too many)."""
    base = {"pcns": data.names("pcn"), "codes": codes, "icbs": _icb_names(data), "icb": icb,
            "disclosure": explanation(data.policy)}
    if not data.has("comparison"):
        return {**base, "indicators": [], "indicator": None, "frame": None, "chart": None, "missing": "comparison"}
    frame = data.rows("comparison", latest=False, level="pcn")
    indicators = sorted(frame["indicator"].dropna().unique())
    if indicator and indicator not in indicators:
        raise NotFound(f"no indicator {indicator!r}; known: {', '.join(indicators[:20])}")
    chosen = indicator or (indicators[0] if indicators else None)
    rows = latest(frame[frame["indicator"] == chosen])
    shown, scope = _compare_scope(data, codes, icb, rows)
    rows = decorate(rows[rows["unit_code"].isin(shown)], [], data, "pcn") \
        .sort_values("value", ascending=False, na_position="last", kind="stable")
    rows = rows[[c for c in ("unit_code", "unit_name", "period", "value", "lowercl", "uppercl",
                             "vs_england", "vs_peers", "national_decile", SUPPRESSED) if c in rows]]
    label = title_of(data, chosen) if chosen else ""
    return {**base, "indicators": indicators, "indicator": chosen, "frame": rows, "scope": scope,
            "titles": {i: title_of(data, i) for i in indicators}, "label": label,
            "chart": charts.peer_bars(rows, None, label, f"PCNs on {label}"), "missing": None}


def _icb_names(data: Data) -> dict[str, str]:
    practices = data.rows("practice_profile")
    if not {"icb_code", "icb_name"} <= set(practices):
        return {}
    pairs = practices.dropna(subset=["icb_code"]).drop_duplicates("icb_code")
    return dict(sorted(zip(pairs["icb_code"], pairs["icb_name"].astype(str), strict=True), key=lambda p: p[1]))


def _compare_scope(data: Data, codes: list[str], icb: str | None, rows: pd.DataFrame) -> tuple[list[str], str]:
    """Which PCNs /compare shows, and a sentence saying which."""
    if codes:
        return codes, "the PCNs chosen"
    practices = data.rows("practice_profile")
    if icb and {"icb_code", "pcn_code"} <= set(practices):
        return list(practices.loc[practices["icb_code"] == icb, "pcn_code"].dropna().unique()), "the ICB's PCNs"
    local = list(data.names("pcn"))
    if local and len(local) <= COMPARE_ALL_UP_TO:
        return local, f"the {len(local)} PCNs of the place loaded"
    icbs = _icb_names(data)
    if icbs:
        first = next(iter(icbs))
        return _compare_scope(data, [], first, rows)[0], f"the PCNs of {icbs[first]}"
    everyone = list(rows["unit_code"].dropna().unique())
    return everyone[:COMPARE_ALL_UP_TO], f"the first {COMPARE_ALL_UP_TO} PCNs"


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
