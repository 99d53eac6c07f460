"""Page sections declared as data, and the one function that builds any of them for any level.

A section says which protected table it reads (and with which filters), which columns it shows
under which labels and formats, how it is sorted, which chart it draws and on which levels'
pages (and so reports) it appears. Pages, the JSON API and reports show the same sections in
the order of :data:`SECTIONS`. Adding a section to every page of a level is one entry there.

Codes never reach a reader: a ``*_title`` column is the title of the indicator or condition
beside it, a ``*_name`` column the current name of the PCN, neighbourhood or authority beside it
(:func:`decorate`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from placehealth import levels
from placehealth.analyses.compare import unit_view as compare_unit_view
from placehealth.outputs import charts, impact, targeting
from placehealth.outputs import format as fmt
from placehealth.outputs.disclosure import SUPPRESSED
from placehealth.outputs.queries import Data

#: Share of a unit's patients its footprint holds: the fewest neighbourhoods, largest first.
FOOTPRINT_PCT = 95


@dataclass
class Unit:
    """What a page is about: a unit of a level, its profile, and the choices the page made."""

    data: Data
    level: str
    code: str
    name: str
    profile: dict[str, Any] = field(default_factory=dict)
    icb: dict[str, Any] | None = None
    indicator: str | None = None
    lsoas: list[str] = field(default_factory=list)  # the footprint's neighbourhoods

    @property
    def label(self) -> str:
        return title_of(self.data, self.indicator) if self.indicator else ""


@dataclass
class Section:
    """A built section: a protected table and/or a chart, or why there is nothing to show."""

    key: str
    title: str
    frame: pd.DataFrame | None = None
    chart: dict[str, Any] | None = None
    missing: str | None = None   # the derived table that is not built yet
    empty: str | None = None     # why there is nothing to show (e.g. no such data was loaded)
    note: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    half: bool = False
    download: tuple[str, dict[str, str]] | None = None
    shown: int | None = None     # rows a page or report shows (the rest are in the download)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"title": self.title}
        if self.missing:
            out["status"] = f"not built yet: table {self.missing} is not in the store"
        if self.empty:
            out["status"] = self.empty
        if self.frame is not None:
            out["rows"] = records(self.frame)
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Spec:
    """A section declared: what it reads, shows and draws, and on which levels."""

    key: str
    title: str
    levels: tuple[str, ...]
    table: str | None = None
    filters: Mapping[str, str] = field(default_factory=dict)   # "{code}"/"{level}" filled in
    columns: Mapping[str, str] = field(default_factory=dict)   # shown columns and their labels
    formats: Mapping[str, str] = field(default_factory=dict)   # column -> format kind, or "missing"
    sort: tuple[str, bool] | None = None                       # column, ascending
    latest: bool = True
    rows: Callable[[Unit], pd.DataFrame] | None = None         # rows not read by filters
    chart: Callable[[pd.DataFrame | None, Unit], dict[str, Any] | None] | None = None
    note: str | None = None
    notes: Callable[[pd.DataFrame], str | None] | None = None  # a sentence read from the rows
    source: str | None = None    # the loaded table without which there is nothing to show
    nothing_loaded: str | None = None
    half: bool = False
    download: bool = True
    limit: int | None = None     # rows shown on pages and reports (downloads hold all)


# ------------------------------------------------------------------------------ helpers
def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready records: NaN/NA -> None, numpy scalars -> Python."""
    clean = frame.astype(object).where(frame.notna(), None)
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
            for row in clean.to_dict(orient="records")]


def isna(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def latest(frame: pd.DataFrame, column: str = "period") -> pd.DataFrame:
    if frame.empty or column not in frame:
        return frame
    return frame[frame[column] == frame[column].max()]


def indicator_titles(data: Data) -> dict[str, str]:
    """Indicator name -> its title, from the ``indicators`` table when built."""
    if not data.has("indicators"):
        return {}

    def make() -> dict[str, str]:
        frame = data.protected("indicators")
        if not {"name", "title"} <= set(frame.columns):
            return {}
        return {str(n): str(t) for n, t in zip(frame["name"], frame["title"], strict=True) if t}
    return data.memo("indicator_titles", make)


def condition_titles(data: Data) -> dict[str, str]:
    """QOF group code -> its description (``qof_indicators``), e.g. OB -> Obesity."""
    def make() -> dict[str, str]:
        out: dict[str, str] = {}
        if data.has("qof_indicators"):
            frame = data.protected("qof_indicators")
            if {"group_code", "group_description"} <= set(frame.columns):
                for code, text in zip(frame["group_code"], frame["group_description"], strict=True):
                    if isinstance(code, str) and isinstance(text, str) and text.strip():
                        out.setdefault(code, text.strip())
        return out
    return data.memo("condition_titles", make)


#: How the derived indicator keys of the inequality and Core20PLUS5 tables read.
KEY_TITLES = {"prevalence_ratio": "{}: recorded ÷ expected prevalence",
              "prevalence": "{}: recorded prevalence",
              "prevalence_gap": "{}: recorded ÷ expected prevalence",
              "uptake": "{} vaccination uptake"}


def title_of(data: Data, key: Any) -> str:
    """A reader's title for an indicator name, a derived key (``prevalence_ratio:OST``) or a
    QOF condition code; the key itself only when nothing better is known."""
    if not isinstance(key, str):
        return "" if isna(key) else str(key)
    titles = indicator_titles(data)
    if key in titles:
        return titles[key]
    conditions = condition_titles(data)
    if key in conditions:
        return conditions[key]
    if key == "core20_share":
        return "Patients in the most deprived fifth (Core20)"
    kind, _, rest = key.partition(":")
    if rest and kind in KEY_TITLES:
        return KEY_TITLES[kind].format(conditions.get(rest, rest))
    return key


#: ``*_name`` columns filled from the current names of the code column beside them.
NAME_OF = {"pcn_name": ("pcn_code", "pcn"), "peer_name": ("peer_code", "pcn"),
           "largest_pcn_name": ("largest_pcn_code", "pcn"), "la_name": ("la_code", "la")}
#: ``*_title`` columns: the title of the code column beside them.
TITLE_OF = {"indicator_title": "indicator", "condition": "group_code"}


def lsoa_names(data: Data, codes: list[str]) -> dict[str, str]:
    """Neighbourhood names (e.g. "Stoke-on-Trent 012A") from the profile, else the boundaries."""
    names: dict[str, str] = {}
    if data.has("lsoa_profile") and codes:
        rows = data.rows("lsoa_profile", unit_code=codes)
        names = {c: n for c, n in zip(rows["unit_code"], rows["unit_name"], strict=True)
                 if isinstance(n, str) and n and n != c}
    rest = [c for c in codes if c not in names]
    if rest:
        shapes = data.boundaries(rest)
        names |= {f["id"]: f["properties"]["name"] for f in shapes["features"] if f["properties"].get("name")}
    return names


def decorate(frame: pd.DataFrame, wanted: Mapping[str, str] | list[str], data: Data,
             level: str | None = None) -> pd.DataFrame:
    """Add the title and name columns ``wanted`` asks for, and put every PCN's current name in
    place of the names older publications used (so one PCN is never named two ways)."""
    if frame is None or frame.empty:
        return frame
    out = frame.copy()
    for column, source in TITLE_OF.items():
        if column in wanted and source in out:
            out[column] = out[source].map(lambda key: title_of(data, key))
    for column, (source, of) in NAME_OF.items():
        if (column in wanted or column in out) and source in out:
            names = data.names(of)
            current = out[source].map(names)
            out[column] = current.fillna(out[column]) if column in out else current
    if "lsoa_name" in wanted and "lsoa_code" in out:
        out["lsoa_name"] = out["lsoa_code"].map(lsoa_names(data, list(out["lsoa_code"].dropna().unique())))
    for name_column, code_column in (("unit_name", "unit_code"), ("area_name", "area_code")):
        if level == "pcn" and name_column in out and code_column in out:
            out[name_column] = out[code_column].map(data.names("pcn")).fillna(out[name_column])
    return out


def national_deciles(data: Data, codes: list[str]) -> dict[str, int]:
    """Each neighbourhood's national IMD decile (1 = most deprived tenth of England), as
    published with the newest edition loaded (the profile's decile ranks only the loaded ones)."""
    if not data.has("imd") or not codes:
        return {}
    rows = data.rows("imd", latest=False, lsoa_code=codes)
    if "domain" in rows:
        rows = rows[rows["domain"].astype(str).str.lower() == "imd"]
    if rows.empty or "decile" not in rows:
        return {}
    if "edition" in rows:
        rows = rows[rows["edition"] == max(rows["edition"].astype(str))]
    return {c: int(d) for c, d in zip(rows["lsoa_code"], rows["decile"], strict=True) if not isna(d)}


def footprint(frame: pd.DataFrame, share: float = FOOTPRINT_PCT) -> pd.Series:
    """True for the fewest rows, largest ``patients`` first, that hold ``share``% of them
    (suppressed rows are never needed to reach it)."""
    if frame.empty or "patients" not in frame:
        return pd.Series(False, index=frame.index)
    patients = frame["patients"].astype("float64").fillna(0)
    order = patients.sort_values(ascending=False, kind="stable")
    total = order.sum()
    before = order.cumsum() - order
    inside = (before < share / 100 * total - 1e-9) & (order > 0)
    return inside.reindex(frame.index)


# ------------------------------------------------------------------------------ building
def build(spec: Spec, unit: Unit) -> Section:
    """The one function that turns a declared section into a built one, for any level."""
    data = unit.data
    title = spec.title.format(level=_level_title(unit.level)) if "{level}" in spec.title else spec.title
    section = Section(spec.key, title, note=spec.note, half=spec.half,
                      columns=dict(spec.columns), formats=dict(spec.formats))
    if spec.source and not data.has(spec.source):
        section.empty = spec.nothing_loaded or f"No {spec.source} data was loaded."
        return section
    if spec.table and not data.has(spec.table):
        section.missing = spec.table
        return section
    filters = {k: v.format(code=unit.code, level=unit.level) for k, v in spec.filters.items()}
    frame: pd.DataFrame | None = None
    if spec.rows is not None:
        frame = spec.rows(unit)
    elif spec.table and spec.columns:  # a chart-only section reads what its chart needs
        frame = data.rows(spec.table, latest=False, **filters)
        frame = latest(frame) if spec.latest else frame
    if frame is not None:
        frame = decorate(frame, spec.columns, data, unit.level)
        if spec.sort and spec.sort[0] in frame:
            frame = frame.sort_values(spec.sort[0], ascending=spec.sort[1], na_position="last", kind="stable")
    section.chart = spec.chart(frame, unit) if spec.chart else None
    said = spec.notes(frame) if spec.notes and frame is not None else None
    if said:
        section.note = f"{said} {section.note}" if section.note else said
    if frame is not None and "in_footprint" in frame:  # pages show the footprint, the largest first
        frame = frame.sort_values(["in_footprint", "patients"], ascending=False, na_position="last", kind="stable")
        section.shown = max(int(frame["in_footprint"].sum()), 1)
    if frame is not None and spec.columns:
        keep = [c for c in spec.columns if c in frame]
        codes = [c for c in frame.columns if (c.endswith("_code") or c == "indicator") and c not in keep]
        frame = frame[keep + codes + ([SUPPRESSED] if SUPPRESSED in frame else [])]
    section.frame = frame.reset_index(drop=True) if frame is not None else None
    if spec.limit and section.frame is not None and len(section.frame) > spec.limit:
        section.shown = min(spec.limit, section.shown or spec.limit)
    if spec.download and spec.table and filters:
        section.download = (spec.table, filters)
    return section


def _level_title(level: str) -> str:
    """How a level reads inside a sentence ("the Primary Care Network", "the Sub-ICB location")."""
    words = levels.get(level).title.split(" (")[0].split()
    common = len(words) > 1 and words[1][0].islower() and not any(c.isupper() for c in words[0][1:])
    return " ".join([words[0].lower() if common else words[0], *words[1:]])


def for_level(level: str) -> list[Spec]:
    """The sections a level's pages and reports show, in order."""
    return [spec for spec in SECTIONS if level in spec.levels]


def build_all(unit: Unit) -> dict[str, Section]:
    return {spec.key: build(spec, unit) for spec in for_level(unit.level)}


# ------------------------------------------------------------------------------ rows and charts
def _profile_chart(_frame: pd.DataFrame | None, unit: Unit) -> dict[str, Any] | None:
    return charts.deprivation_deciles(unit.profile, unit.icb, unit.name, "ICB") if unit.profile else None


def _quintile_chart(_frame: pd.DataFrame | None, unit: Unit) -> dict[str, Any] | None:
    return charts.quintiles(unit.profile) if unit.profile else None


def neighbourhood_rows(unit: Unit) -> pd.DataFrame:
    """A PCN's neighbourhoods: its patients there, the national IMD decile, the IMD score and
    how many PCNs share it; ``in_footprint`` marks those holding 95% of its patients (kept while
    the store is unchanged: the view, its map and its section all read them)."""
    return unit.data.memo(f"neighbourhoods:{unit.code}", lambda: _neighbourhood_rows(unit)).copy()


def _neighbourhood_rows(unit: Unit) -> pd.DataFrame:
    data = unit.data
    rows = data.rows("pcn_lsoa", pcn_code=unit.code)
    if rows.empty:
        return pd.DataFrame(columns=["lsoa_code", "in_footprint"])
    keep = [c for c in ("lsoa_code", "patients", "pcn_share_pct", "lsoa_share_pct", SUPPRESSED) if c in rows]
    frame = rows[keep].copy()
    frame["in_footprint"] = (rows[f"in_footprint_{FOOTPRINT_PCT}"].fillna(False).astype(bool)
                             if f"in_footprint_{FOOTPRINT_PCT}" in rows else footprint(frame))
    codes = list(frame["lsoa_code"])
    if data.has("lsoa_profile"):
        lsoa = data.rows("lsoa_profile", unit_code=codes)
        extra = lsoa[[c for c in ("unit_code", "imd_score", "pcns") if c in lsoa]]
        frame = frame.merge(extra.rename(columns={"unit_code": "lsoa_code"}).drop_duplicates("lsoa_code"),
                            on="lsoa_code", how="left")
    frame["imd_decile"] = frame["lsoa_code"].map(national_deciles(data, codes)).astype("Int64")
    return frame.sort_values("patients", ascending=False, na_position="last", kind="stable")


def need_lsoa_rows(unit: Unit) -> pd.DataFrame:
    """The footprint's neighbourhood-condition pairs with the most missing patients."""
    rows = latest(unit.data.rows("prevalence_gap_lsoa", latest=False, level=unit.level, area_code=unit.code))
    if unit.lsoas and "lsoa_code" in rows:
        rows = rows[rows["lsoa_code"].isin(unit.lsoas)]
    return rows[rows["missing"] > 0] if "missing" in rows else rows


#: Inequality measures as a reader knows them, in the order shown.
MEASURES = {"sii": "Slope index (SII)", "rii": "Relative index (RII)", "gap": "Gap, least - most deprived",
            "gap_ratio": "Ratio, least ÷ most deprived"}


def inequality_rows(unit: Unit) -> pd.DataFrame:
    """SII, RII and gaps of each indicator; absolute measures of a prevalence (a 0-1 share) in
    percentage points, as every share is shown."""
    rows = latest(unit.data.rows("inequality", latest=False, area_level=unit.level, area_code=unit.code))
    if not {"measure", "indicator"} <= set(rows):
        return rows
    rows = rows[rows["measure"] == "sii"]  # the page's measure; RII and gaps are in the download
    rows = rows.assign(_ratio_first=rows["indicator"].astype(str).str.startswith("prevalence:")) \
        .sort_values(["_ratio_first", "indicator"]).drop(columns="_ratio_first")
    share = rows["indicator"].astype(str).str.startswith(("prevalence:", "uptake:")) \
        & rows["measure"].isin(["sii", "gap"])
    for column in ("value", "lowercl", "uppercl"):
        if column in rows:
            rows[column] = rows[column].astype("float64").where(~share, rows[column].astype("float64") * 100)
    rows["scale"] = np.where(share, "percentage points",
                             np.where(rows["measure"].isin(["sii", "gap"]), "difference", "ratio"))
    rows["measure_title"] = rows["measure"].map(MEASURES).fillna(rows["measure"])
    return rows


def _inequality_chart(frame: pd.DataFrame | None, unit: Unit) -> dict[str, Any] | None:
    if frame is None or "measure" not in frame:
        return None
    sii = frame[frame["measure"] == "sii"]
    ratios = sii[sii["indicator"].astype(str).str.startswith("prevalence_ratio:")]
    sii = ratios if len(ratios) else sii  # one scale on one axis: O/E ratios when there are some
    sii = sii.assign(indicator_title=sii["indicator"].map(
        lambda key: title_of(unit.data, key).replace(": recorded ÷ expected prevalence", "")))
    return charts.interval(sii, "indicator_title", "SII of recorded ÷ expected prevalence "
                           "(negative = higher where more deprived)", "Slope index of inequality")


def _need_chart(frame: pd.DataFrame | None, _unit: Unit) -> dict[str, Any] | None:
    return charts.need_gaps(frame) if frame is not None else None


def _uptake_chart(frame: pd.DataFrame | None, _unit: Unit) -> dict[str, Any] | None:
    return charts.uptake(frame) if frame is not None else None


def core20plus5_rows(unit: Unit) -> pd.DataFrame:
    """Recorded ÷ expected prevalence and uptake, Core20 against the rest. The Core20 share
    itself is the profile's (shown once, at the top), and missing patients are in Need."""
    rows = latest(unit.data.rows("core20plus5", latest=False, pcn_code=unit.code))
    if "measure" not in rows:
        return rows
    rows = rows[rows["measure"].isin(["ratio", "uptake"])].copy()
    uptake = rows["measure"] == "uptake"
    for column in ("all_value", "core20_value", "rest_value", "difference"):
        if column in rows:  # uptake as a percentage, as everywhere else
            rows[column] = rows[column].astype("float64")
            rows.loc[uptake, column] = rows.loc[uptake, column] * 100
    rows["measure"] = rows["measure"].map({"ratio": "Recorded ÷ expected", "uptake": "Uptake %"})
    if "clinical_area" in rows:
        rows["clinical_area"] = rows["clinical_area"].replace({"uptake": "vaccination"}).str.capitalize()
    return rows


def cohort_rows(unit: Unit) -> pd.DataFrame:
    """Core20PLUS5 cohorts counted from a patient-level extract: Core20 against the rest, as
    percentages of the eligible (protected), and the difference between them in points."""
    rows = latest(unit.data.rows("core20plus5_cohorts", latest=False, level=unit.level,
                                 unit_code=unit.code))
    if "cohort" not in rows:
        return rows
    rows = rows[rows["cohort"] != "registered patients"].copy()
    rows["difference"] = rows["core20_pct"].astype("float64") - rows["rest_pct"].astype("float64")
    rows["clinical_area"] = rows["clinical_area"].str.capitalize()
    return rows


#: Share of a PCN's patients the councils listed on its page hold (a few patients live far away).
COUNCILS_PCT = 99


def council_rows(unit: Unit) -> pd.DataFrame:
    """The councils a PCN's patients live in; ``in_footprint`` marks the fewest holding 99%."""
    rows = unit.data.rows("pcn_la", pcn_code=unit.code)
    return rows.assign(in_footprint=footprint(rows, COUNCILS_PCT)) if not rows.empty else rows


def comparison_rows(unit: Unit) -> pd.DataFrame:
    table = unit.data.rows("comparison", latest=False, level="pcn", unit_code=unit.code)
    return compare_unit_view(table, unit.code) if not table.empty else table


def peer_rows(unit: Unit) -> pd.DataFrame:
    peers = unit.data.rows("peers", latest=True, level="pcn", unit_code=unit.code)
    if "within" in peers and (peers["within"] == "england").any():
        peers = peers[peers["within"] == "england"]  # the national peer group the comparison uses
    return peers


def _peer_chart(frame: pd.DataFrame | None, unit: Unit) -> dict[str, Any] | None:
    if not unit.indicator or not unit.data.has("comparison"):
        return None
    codes = [unit.code, *(list(frame["peer_code"]) if frame is not None and "peer_code" in frame else [])]
    on = latest(unit.data.rows("comparison", latest=False, level="pcn", indicator=unit.indicator))
    on = decorate(on[on["unit_code"].isin(codes)], [], unit.data, "pcn")
    return charts.peer_bars(on, unit.code, unit.label)


def _funnel_chart(_frame: pd.DataFrame | None, unit: Unit) -> dict[str, Any] | None:
    data = unit.data
    if not unit.indicator or not data.has("funnel"):
        return None
    rows = latest(data.rows("funnel", latest=False, level="pcn", indicator=unit.indicator))
    limits = data.rows("funnel_limits", latest=False, level="pcn", indicator=unit.indicator)
    if not limits.empty and len(rows) and "period" in limits:
        limits = limits[limits["period"] == rows["period"].iloc[0]]
    return charts.funnel(decorate(rows, [], data, "pcn"), unit.code, unit.label, limits)


def _trend_chart(_frame: pd.DataFrame | None, unit: Unit) -> dict[str, Any] | None:
    if not unit.indicator:
        return None
    rows = unit.data.rows("comparison", latest=False, level="pcn", unit_code=unit.code, indicator=unit.indicator)
    return charts.trend(rows.sort_values("period"), unit.label)


def fragmented_rows(unit: Unit) -> pd.DataFrame:
    """Shared neighbourhoods of the footprint (not every distant one a few patients live in)."""
    if not unit.lsoas:
        return pd.DataFrame(columns=["lsoa_code"])
    return unit.data.rows("fragmented_lsoas", lsoa_code=unit.lsoas)


def catchment_rows(unit: Unit) -> pd.DataFrame:
    rows = unit.data.rows("registrations_lsoa", practice_code=unit.code)
    if "sex" in rows and (rows["sex"] == "ALL").any():
        rows = rows[rows["sex"] == "ALL"]
    rows = rows[[c for c in ("lsoa_code", "patients", SUPPRESSED) if c in rows]]
    rows = rows.sort_values("patients", ascending=False, na_position="last", kind="stable")
    return rows.assign(in_footprint=footprint(rows))  # pages list the 95%; the data holds all


def _sharing_chart(frame: pd.DataFrame | None, _unit: Unit) -> dict[str, Any] | None:
    return charts.bar(frame, "pcn_name", "lsoa_share_pct", "Share of this neighbourhood's patients by PCN",
                      "% of patients") if frame is not None else None


def _serving_chart(frame: pd.DataFrame | None, _unit: Unit) -> dict[str, Any] | None:
    return charts.bar(frame, "pcn_name", "la_share_pct", "Share of the area's registered residents by PCN",
                      "% of patients") if frame is not None else None


def members_rows(unit: Unit) -> pd.DataFrame:
    members = unit.data.rows("groups", latest=False, group_name=unit.code)
    frame = members[[c for c in ("member_type", "member_code", SUPPRESSED) if c in members]]
    kinds = set(frame["member_type"]) if "member_type" in frame else set()
    if len(kinds) == 1 and kinds <= {"lsoa", "practice"}:  # name the column so pages link it
        frame = frame.rename(columns={"member_code": f"{kinds.pop()}_code"})
    return frame


# ------------------------------------------------------------------------------ the sections
#: "Significantly low" is the one need flag (limits allowing for the usual variation between units,
#: Spiegelhalter 2005); "Flagged from" the smallest under-recording it could reveal there.
NEED_COLUMNS = {"condition": "Condition", "observed": "On register", "expected": "Expected",
                "list_size": "List size", "ratio": "Recorded ÷ expected", "missing": "Missing patients (estimate)",
                "significantly_low": "Significantly low", "detectable_shortfall": "Flagged from"}
NEED_FORMATS = {"missing": "missing", "detectable_shortfall": "fraction"}
#: Levels of the sections that show an analysis: every level the registry reports it at.
PROFILE_LEVELS = levels.levels_for("profile")
NEED_LEVELS = levels.levels_for("need")
INEQUALITY_LEVELS = levels.levels_for("inequality")
UPTAKE_LEVELS = levels.levels_for("uptake")

SECTIONS: list[Spec] = [
    Spec("deprivation", "Where patients live, by deprivation", PROFILE_LEVELS, chart=_profile_chart, half=True,
         download=False),
    Spec("quintiles", "Patients by deprivation quintile", ("pcn",), chart=_quintile_chart, half=True,
         download=False),
    Spec("need", "Need: recorded against expected prevalence", NEED_LEVELS,
         table="prevalence_gap", filters={"level": "{level}", "area_code": "{code}"},
         columns=NEED_COLUMNS, formats=NEED_FORMATS, sort=("missing", False), chart=_need_chart,
         notes=lambda frame: need_notes(frame),
         note="Missing patients = expected minus recorded register, rounded to what the model can bear; "
              "negative means more recorded than expected. Significantly low: fewer recorded than "
              "expected beyond the usual variation between practices (or PCNs); flagged from: the "
              "smallest under-recording that could be flagged at this list size."),
    Spec("need_lsoa", "Neighbourhoods with the most missing patients", ("pcn",),
         table="prevalence_gap_lsoa", rows=need_lsoa_rows, filters={"level": "{level}", "area_code": "{code}"},
         columns={"lsoa_code": "Neighbourhood", "lsoa_name": "Name", "condition": "Condition",
                  "observed": "On registers (apportioned)", "expected": "Expected", "ratio": "Recorded ÷ expected",
                  "missing": "Missing patients (estimate)"},
         formats=NEED_FORMATS, sort=("missing", False), limit=25,
         note="Each practice's registers shared among the neighbourhoods its patients live in, within the "
              "PCN's footprint; the download holds every neighbourhood and condition."),
    Spec("need", "Estimated need by condition (all practices' patients here)", ("lsoa",),
         table="prevalence_gap_lsoa", filters={"level": "all", "lsoa_code": "{code}"},
         columns={"condition": "Condition", "patients": "Patients", "observed": "On registers (apportioned)",
                  "expected": "Expected", "ratio": "Recorded ÷ expected", "missing": "Missing patients (estimate)"},
         formats=NEED_FORMATS, sort=("missing", False), chart=_need_chart),
    Spec("inequality", "Inequality within the {level}: slope index (SII) by indicator", INEQUALITY_LEVELS,
         table="inequality", rows=inequality_rows, filters={"area_level": "{level}", "area_code": "{code}"},
         columns={"indicator_title": "Indicator", "measure_title": "Measure", "value": "Value",
                  "lowercl": "Lower 95%", "uppercl": "Upper 95%", "scale": "Scale",
                  "quantiles": "Deprivation groups"},
         chart=_inequality_chart,
         note="Neighbourhoods are ranked by deprivation into local fifths; the slope index is the difference "
              "between the least and most deprived ends of the fitted line. The relative index and the gaps "
              "between the fifths are in the download."),
    Spec("uptake", "Vaccination uptake against target", UPTAKE_LEVELS, table="uptake_gap",
         filters={"area_level": "{level}", "area_code": "{code}"},
         columns={"indicator": "Vaccination", "age": "Age", "numerator": "Vaccinated", "denominator": "Eligible",
                  "uptake": "Uptake", "target": "Target", "people_behind": "People to reach target",
                  "met_target": "Target met"},
         chart=_uptake_chart, source="uptake",
         nothing_loaded="No vaccination uptake data was loaded, so uptake is not shown "
                        "(load a childhood immunisation file with `placehealth ingest`)."),
    Spec("core20plus5", "Core20PLUS5: patients in the most deprived fifth against the rest", ("pcn",),
         table="core20plus5", rows=core20plus5_rows, filters={"pcn_code": "{code}"},
         columns={"clinical_area": "Clinical area", "indicator_title": "Indicator", "measure": "Measure",
                  "all_value": "Whole PCN", "core20_value": "Core20", "rest_value": "Rest",
                  "difference": "Core20 − rest"}),
    Spec("cohorts", "Core20PLUS5 cohorts from patient records: the most deprived fifth against the rest",
         ("practice", "pcn"), table="core20plus5_cohorts", rows=cohort_rows,
         filters={"level": "{level}", "unit_code": "{code}"}, source="core20plus5_cohorts",
         nothing_loaded="Counted from a patient-level extract when one is loaded "
                        "(placehealth ingest --as patients FILE --period YYYY-MM).",
         columns={"clinical_area": "Clinical area", "cohort": "Cohort",
                  "core20_denominator": "Core20: eligible", "core20_pct": "Core20 %",
                  "rest_denominator": "Rest: eligible", "rest_pct": "Rest %",
                  "difference": "Core20 − rest (points)"},
         note="Core20: people living in the most deprived 20% of neighbourhoods in England (IMD "
              "deciles 1-2). Counted inside the database from one row per patient; only these "
              "protected counts leave it."),
    Spec("councils", "Councils its patients live in", ("pcn",), table="pcn_la", rows=council_rows,
         filters={"pcn_code": "{code}"},
         columns={"la_code": "Council", "la_name": "Name", "patients": "Patients",
                  "pcn_share_pct": "% of the PCN's patients", "la_share_pct": "% of the council's registered residents"},
         sort=("patients", False),
         note=f"The local authorities (lower tier) where {COUNCILS_PCT}% of the PCN's patients live; the "
              "download lists every council where any of them live."),
    Spec("comparison", "How the PCN compares", ("pcn",), table="comparison", rows=comparison_rows,
         filters={"level": "pcn", "unit_code": "{code}"},
         columns={"indicator_title": "Indicator", "period": "Period", "value": "Value",
                  "england_value": "England", "vs_england": "vs England", "peer_mean": "Peers",
                  "vs_peers": "vs peers", "national_decile": "Decile among PCNs compared (1 = lowest)"}),
    Spec("peers", "Similar PCNs (peers)", ("pcn",), table="peers", rows=peer_rows,
         filters={"level": "pcn", "unit_code": "{code}"},
         columns={"rank": "Rank", "peer_code": "PCN", "peer_name": "Name", "distance": "Distance"},
         chart=_peer_chart, half=True),
    Spec("funnel", "Funnel plot", ("pcn",), table="funnel", chart=_funnel_chart, half=True, download=False,
         note="Dashed lines: 95% limits; dotted: 99.8% limits; solid: the average."),
    Spec("trend", "Trend", ("pcn",), table="comparison", chart=_trend_chart, download=False),
    # Change over time (outputs/impact.py): SPC of every series, and the interventions registered here
    Spec("spc", "Change over time: SPC (XmR) charts", ("pcn",), table="series", rows=impact.spc_rows,
         chart=impact.spc_chart, download=False,
         columns={"indicator_title": "Indicator", "points": "Periods", "latest_period": "Latest",
                  "latest": "Value", "centre": "Centre line", "lower": "Lower limit",
                  "upper": "Upper limit", "variation": "Variation", "special_causes": "Special-cause points"},
         note="Making Data Count XmR charts: limits at the mean +/- 2.66 mean moving ranges; a point "
         "beyond a limit, a run of 7 on one side, 7 rising or falling, or 2 of 3 near a limit is a "
         "special cause (not noise). Limits are recalculated at a registered intervention's start; "
         "fewer than 12 points make the limits uncertain."),
    Spec("interventions", "Interventions registered here", ("pcn",), source="interventions",
         nothing_loaded="No interventions are registered (placehealth intervention add).",
         rows=impact.pcn_interventions, download=False,
         columns={"name": "Intervention", "start": "Started", "end": "Ended", "indicators": "Aims",
                  "recorded_at": "Recorded", "page": "Did it work?"},
         note="Each intervention's page (/intervention/NAME) says whether it worked, against "
         "comparable PCNs, with its checks."),
    Spec("neighbourhoods", "Neighbourhoods where patients live", ("pcn",), table="pcn_lsoa",
         rows=neighbourhood_rows, filters={"pcn_code": "{code}"},
         columns={"lsoa_code": "Neighbourhood (LSOA)", "lsoa_name": "Name", "patients": "Patients",
                  "pcn_share_pct": "% of PCN", "lsoa_share_pct": "% of LSOA's patients",
                  "imd_decile": "IMD decile (England)", "imd_score": "IMD score", "pcns": "PCNs sharing it"},
         note=f"The neighbourhoods that together hold {FOOTPRINT_PCT}% of the PCN's patients, largest first; "
              "the data (JSON, download) lists every neighbourhood where any of its patients live."),
    Spec("fragmented", "Neighbourhoods shared with other PCNs", ("pcn",), table="fragmented_lsoas",
         rows=fragmented_rows,
         columns={"lsoa_code": "Neighbourhood", "lsoa_name": "Name", "patients": "Patients", "pcns": "PCNs",
                  "largest_pcn_name": "Largest PCN", "largest_pcn_pct": "% in largest PCN",
                  "imd_score": "IMD score"},
         sort=("patients", False), download=False,
         note="Neighbourhoods of the PCN's footprint where no PCN holds a majority of the registered residents."),
    Spec("practices", "Practices", ("pcn",), table="practice_profile", filters={"pcn_code": "{code}"},
         columns={"unit_code": "Practice", "unit_name": "Name", "patients": "Patients", "imd_score": "IMD score",
                  "core20_pct": "% in Core20", "pct_65_plus": "% aged 65+"}),
    Spec("catchment", "Where its patients live", ("practice",), table="registrations_lsoa", rows=catchment_rows,
         columns={"lsoa_code": "Neighbourhood", "lsoa_name": "Name", "patients": "Patients"}, download=False,
         note=f"The neighbourhoods holding {FOOTPRINT_PCT}% of the practice's patients, largest first."),
    Spec("pcns", "PCNs whose patients live here", ("lsoa",), table="pcn_lsoa", filters={"lsoa_code": "{code}"},
         columns={"pcn_code": "PCN", "pcn_name": "Name", "patients": "Patients",
                  "lsoa_share_pct": "% of the neighbourhood's patients"}, chart=_sharing_chart),
    Spec("pcns", "PCNs serving this area", ("la",), table="pcn_la", filters={"la_code": "{code}"},
         columns={"pcn_code": "PCN", "pcn_name": "Name", "patients": "Patients",
                  "pcn_share_pct": "% of the PCN's patients", "la_share_pct": "% of the area's"},
         sort=("patients", False), chart=_serving_chart),
    Spec("members", "Members", ("group",), table="groups", rows=members_rows, download=False,
         columns={"member_type": "Type", "member_code": "Code", "lsoa_code": "Neighbourhood",
                  "practice_code": "Practice"}),
    # "Did it work?" on intervention pages (outputs/impact.py)
    Spec("answer", "Did it work?", ("intervention",), rows=impact.answer_rows, chart=impact.its_chart,
         columns={"method": "Method", "estimate": "Effect", "lower": "95% lower", "upper": "95% upper",
                  "p_value": "p"}, download=False),
    Spec("checks", "Checks: should we believe it?", ("intervention",), rows=impact.check_rows,
         columns={"check": "Check", "p_value": "p", "meaning": "What it means"}, download=False),
    Spec("synthetic", "Against a synthetic comparison", ("intervention",), rows=impact.donor_rows,
         chart=impact.synth_chart, columns={"unit": "Donor", "weight": "Weight"}, download=False, half=True,
         note="The synthetic comparison is the weighted mix of other units (no unit under another "
         "intervention on this indicator) that best tracked the treated unit before the start."),
    Spec("spc_intervention", "SPC: limits recalculated at the start", ("intervention",),
         rows=impact.register_rows, chart=impact.intervention_spc_chart, download=False, half=True,
         columns={"field": "Register entry", "value": ""}),
    # Targeting with partners (rows and charts in outputs/targeting.py)
    Spec("reach", "Targeting: need within reach of partners", ("pcn", "la"), table="reach_area",
         rows=targeting.reach_rows, filters={"level": "{level}", "area_code": "{code}"},
         columns={"kind_title": "Partners", "lsoas": "Neighbourhoods", "need": "Need",
                  "need_reached": "Need within reach", "need_reached_pct": "% within reach",
                  "high_need_lsoas": "High-need neighbourhoods",
                  "high_need_unreached": "High need, none within reach"},
         formats={"need": "missing", "need_reached": "missing"}, chart=targeting.reach_chart,
         note="Need = estimated missing patients (or Core20 patients when need is not built). Within "
              "reach: within 2 km in a straight line, 15 minutes where travel times are loaded, or a "
              "neighbourhood the partner says it serves. `placehealth target reach` recomputes for "
              "other distances."),
    Spec("unreached", "Targeting: high-need neighbourhoods no partner reaches", ("pcn", "la"),
         table="reach_lsoa", rows=targeting.unreached_rows, filters={"kind": "any_partner"},
         columns={"lsoa_code": "Neighbourhood", "lsoa_name": "Name", "need": "Need",
                  "need_per_1000": "Need per 1,000 patients", "core20": "Core20",
                  "nearest_name": "Nearest partner", "distance_m": "Metres to it"},
         formats={"need": "missing"}, sort=("need", False), limit=25,
         note="High need: a Core20 neighbourhood, or need per 1,000 patients in the place's top fifth."),
    Spec("partners", "Targeting: partners and need on one map", ("pcn", "la"), table="partners",
         rows=targeting.partner_rows, chart=targeting.partner_map, source="partners",
         nothing_loaded="No partner register was loaded (placehealth ingest --as partners FILE; "
                        "edispensary and --as gp-sites load pharmacies and GP sites).",
         columns={"name": "Partner", "kind_title": "Kind", "services": "Services", "postcode": "Postcode",
                  "capacity": "Sessions a week"}, limit=30, download=False,
         note="Partners standing in the area's neighbourhoods (contacts are never shown). Circles: "
              "neighbourhoods sized by need, orange where high need has no partner within reach."),
    Spec("fair_shares", "Targeting: fair shares of 100 among the PCN's practices", ("pcn",),
         table="fair_shares", rows=targeting.share_rows, filters={"scope": "{code}"},
         columns={"unit_code": "Practice", "unit_name": "Name", "population_pct": "% of patients",
                  "need_weighted_pct": "% of need-weighted patients", "missing_pct": "% of missing patients",
                  "fair_share": "Fair share of 100"},
         chart=targeting.inverse_care_chart,
         note="Proportionate universalism: shares by need-weighted patients (the most deprived tenth of "
              "England counts double the least), in whole units adding up to 100 exactly. "
              "`placehealth target shares` splits any total by any weight, beside actual allocations."),
    Spec("fair_shares", "Targeting: fair shares of 1,000 among the PCNs serving the area", ("la",),
         table="fair_shares", rows=targeting.share_rows, filters={"scope": "all", "level": "pcn"},
         columns={"unit_code": "PCN", "unit_name": "Name", "population_pct": "% of patients",
                  "need_weighted_pct": "% of need-weighted patients", "missing_pct": "% of missing patients",
                  "fair_share": "Fair share of 1,000"},
         chart=targeting.inverse_care_chart,
         note="Each PCN's share of 1,000 across the whole place by need-weighted patients, for the PCNs "
              "holding at least 1% of the area's registered residents."),
]


# ------------------------------------------------------------------------------ estimates in words
def need_notes(frame: pd.DataFrame) -> str | None:
    """What a need table can see (:func:`detectable_sentence`) and what its model used."""
    said = [detectable_sentence(frame.to_dict("records"))]
    if "model" in frame and frame["model"].notna().any():
        said.append(f"Expected registers: {frame['model'].dropna().iloc[0]}.")
    return " ".join(s for s in said if s) or None


def detectable_sentence(conditions: list[dict[str, Any]]) -> str | None:
    """"With this list size, under-recording of about N% or more would be flagged", from the
    ``detectable_shortfall`` of each condition's row (the range when they differ; the latest
    year's rows when several)."""
    periods = {c.get("period") for c in conditions if c.get("period")}
    newest = max(periods) if periods else None
    shares = [(float(c["detectable_shortfall"]), str(c.get("condition") or c.get("group_code")))
              for c in conditions if (newest is None or c.get("period") == newest)
              and isinstance(c.get("detectable_shortfall"), int | float)
              and not isna(c["detectable_shortfall"])]
    if not shares:
        return None
    low, high = min(shares), max(shares)
    if fmt.fraction(low[0], 0) == fmt.fraction(high[0], 0):
        amount = f"about {fmt.fraction(low[0], 0)}"
    else:
        amount = f"about {fmt.fraction(low[0], 0)} ({low[1]}) to {fmt.fraction(high[0], 0)} ({high[1]})"
    return (f"With this list size, under-recording of {amount} or more would be flagged; smaller "
            "gaps cannot be told apart from the usual variation.")


def missing_text(value: Any) -> str:
    """Missing patients as a reader needs them: an estimate (two significant figures, whole
    patients), and "more recorded than expected" where the register exceeds the expectation."""
    if value is None or isna(value):
        return ""
    text = fmt.estimate(abs(float(value)))
    if text == "0":
        return "none"
    return text if value > 0 else f"{text} more recorded than expected"
