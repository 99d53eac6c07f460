"""The level registry: every way of grouping patients into units, and who belongs to each unit.

A *level* (:class:`Level`) says what its units are called (``{name}_code`` / ``{name}_name``),
where their membership comes from, which profile table describes them, and which analyses are
reported at it. Every analysis and output takes its level lists from :data:`REGISTRY` (through
:func:`levels_for`), never a list of its own, so adding a level is one entry here:

- practice-based levels (``practice``, ``pcn``, ``sub_icb``, ``icb``, ``region`` = NHS
  commissioning region): a unit is a set of practices, and a unit's patients are all patients
  registered with its practices. Membership comes from ``practice_pcn`` of the same period (a
  practice that moved PCN counts in the PCN it belonged to that month); when that period has no
  mapping, the mapping nearest in time is used (a QOF year dated by its 31 March), and the build
  says so.
- ``england``: one unit holding every practice (every row of a practice table).
- LSOA-based levels (``lsoa``, ``ward``, ``la`` = lower-tier local authority, ``utla`` =
  upper-tier local authority: a county, or a unitary authority, metropolitan district or London
  borough): a unit is a set of LSOAs, and a unit's patients are the registered patients living
  there, whichever practice they are registered with. Membership comes from ``geography_lookup``
  (the level's ``lookup``); ``utla`` falls back to the LAD lookup carried up by a loaded
  LAD -> UTLA or LAD -> county ``area_lookup`` (ONS), a unitary LAD being its own upper tier.
- ``group``: a user-defined grouping (table ``groups``), each group either a set of practices or
  a set of LSOAs (never both), so a group behaves exactly like a PCN or like a place.
"""

from __future__ import annotations

import bisect
import csv
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from placehealth.geography import crosswalk
from placehealth.sources.validate import LSOA as LSOA_CODE
from placehealth.sources.validate import PRACTICE as PRACTICE_CODE
from placehealth.sources.validate import InputError
from placehealth.store import Store

#: Membership kinds: units of practices, of LSOAs, one unit of everything, or user groups.
PRACTICE, PLACE, ALL, GROUP = "practice", "lsoa", "all", "group"

#: Analyses a level can be reported at (``Level.analyses``).
ANALYSES = ("profile", "need", "uptake", "inequality", "indicators", "compare", "shares")


@dataclass(frozen=True)
class Level:
    """One level: its name, how its membership is found, and the analyses reported at it."""

    name: str
    title: str
    kind: str  # PRACTICE, PLACE, ALL or GROUP
    analyses: frozenset[str] = field(default_factory=frozenset)
    #: practice_pcn columns giving a practice-based unit's code (first non-null wins) and name.
    mapping: tuple[tuple[str, ...], str] | None = None
    #: geography_lookup level holding an LSOA-based level's areas.
    lookup: str | None = None
    #: without its own lookup, an LSOA-based level may carry a lower level's lookup up through
    #: ``area_lookup`` rows (from level, to levels), a lower unit whose code starts with one of
    #: ``self_prefixes`` being its own upper unit.
    carry: tuple[str, tuple[str, ...]] | None = None
    self_prefixes: tuple[str, ...] = ()
    #: the one unit of an ALL level.
    unit: tuple[str, str] | None = None
    #: the column carrying a unit's code in the level's tables, when not ``{name}_code``.
    code: str | None = None

    @property
    def code_column(self) -> str:
        return self.code or f"{self.name}_code"

    @property
    def name_column(self) -> str:
        return f"{self.name}_name"

    @property
    def profile_table(self) -> str | None:
        return f"{self.name}_profile" if "profile" in self.analyses else None

    def supports(self, analysis: str) -> bool:
        return analysis in self.analyses


#: LAD code prefixes of single-tier authorities (unitary, metropolitan district, London borough,
#: Welsh principal area): each is its own upper tier (ONS).
SINGLE_TIER = ("E06", "E08", "E09", "W06")

_EVERY = frozenset({"profile", "need", "uptake", "inequality", "indicators"})

REGISTRY: dict[str, Level] = {level.name: level for level in (
    Level("practice", "GP practice", PRACTICE,
          frozenset({"profile", "need", "indicators", "compare", "shares"}),
          mapping=(("practice_code",), "practice_name")),
    Level("pcn", "Primary Care Network", PRACTICE, _EVERY | {"compare", "shares"},
          mapping=(("pcn_code",), "pcn_name")),
    Level("sub_icb", "Sub-ICB location", PRACTICE, _EVERY,
          mapping=(("sub_icb_code", "sub_icb_ons_code", "sub_icb_name"), "sub_icb_name")),
    Level("icb", "Integrated Care Board", PRACTICE, _EVERY,
          mapping=(("icb_code", "icb_ons_code", "icb_name"), "icb_name")),
    Level("region", "NHS England region", PRACTICE, frozenset({"profile", "indicators"}),
          mapping=(("region_code", "region_ons_code", "region_name"), "region_name")),
    Level("england", "England", ALL, frozenset({"indicators"}), unit=("E92000001", "England")),
    Level("group", "User-defined group", GROUP, frozenset({"profile", "need", "indicators"}),
          code="group_name"),
    Level("lsoa", "Neighbourhood (LSOA)", PLACE, frozenset({"profile", "shares"})),
    Level("ward", "Electoral ward", PLACE, frozenset({"profile"}), lookup="ward"),
    Level("la", "Local authority (district or unitary)", PLACE,
          frozenset({"profile", "uptake", "inequality"}), lookup="lad"),
    Level("utla", "Upper-tier local authority (county or unitary)", PLACE,
          frozenset({"profile", "uptake", "inequality"}), lookup="utla",
          carry=("lad", ("utla", "county")), self_prefixes=SINGLE_TIER),
)}

#: Every level name, in build order.
LEVELS = tuple(REGISTRY)
PRACTICE_LEVELS = tuple(n for n, lv in REGISTRY.items() if lv.kind == PRACTICE)
PLACE_LEVELS = tuple(n for n, lv in REGISTRY.items() if lv.kind == PLACE)

#: pcn_code of practices not in any PCN (they are left out of the pcn level).
NO_PCN = "U"

GROUPS = "groups"
GROUP_COLUMNS = ["group_name", "member_type", "member_code"]
UNIT_COLUMNS = ["unit_code", "unit_name"]


def get(level: str) -> Level:
    """The registered level called ``level`` (ValueError naming the known ones otherwise)."""
    if level not in REGISTRY:
        raise ValueError(f"unknown level {level!r}: use one of {', '.join(REGISTRY)}")
    return REGISTRY[level]


def levels_for(analysis: str, kind: str | None = None) -> tuple[str, ...]:
    """Names of the levels reported in ``analysis`` (optionally of one membership kind)."""
    if analysis not in ANALYSES:
        raise ValueError(f"unknown analysis {analysis!r}: use one of {', '.join(ANALYSES)}")
    return tuple(n for n, lv in REGISTRY.items()
                 if lv.supports(analysis) and (kind is None or lv.kind == kind))


def profile_tables() -> dict[str, str]:
    """level -> profile table, for every level with a profile."""
    return {n: lv.profile_table for n, lv in REGISTRY.items() if lv.profile_table}


class LevelWarning(UserWarning):
    """Membership had to be approximated (e.g. a mapping from another period was used)."""


@dataclass(frozen=True)
class Membership:
    """Which practices (or LSOAs) make up each unit of a level, and where that came from."""

    level: str
    kind: str  # "practice" or "lsoa"
    members: pd.DataFrame  # [practice_code | lsoa_code, unit_code, unit_name]
    source_period: str | None = None


def check_level(level: str) -> str:
    """``level`` if it is registered (ValueError naming the known ones otherwise)."""
    return get(level).name


def period_span(period: str) -> tuple[int, int] | None:
    """The months a period covers, as month numbers (year x 12 + month - 1): a month 'YYYY-MM'
    covers itself; a financial year 'YYYY-YY' (QOF) covers April YYYY to March of the next year;
    a year 'YYYY' covers January to December. None when the text is none of these."""
    if m := re.fullmatch(r"(\d{4})-(\d{2})", period):
        year, second = int(m.group(1)), int(m.group(2))
        if 1 <= second <= 12:
            return year * 12 + second - 1, year * 12 + second - 1
        if second == (year + 1) % 100:
            return year * 12 + 3, (year + 1) * 12 + 2
    if m := re.fullmatch(r"(\d{4})", period):
        return int(m.group(1)) * 12, int(m.group(1)) * 12 + 11
    return None


def nearest_period(periods: list[str], period: str) -> tuple[str | None, str]:
    """The period of ``periods`` to use for ``period`` and how it relates: 'same' (equal, or one
    covers the other, e.g. month 2020-04 in QOF year 2020-21), else the nearest in time, dating
    each period by its last month ('earlier' or 'later'; a tie goes to the earlier). Periods
    that are not months or years compare as text."""
    if not periods:
        return None, "none"
    if period in periods:
        return period, "same"
    target = period_span(period)
    spans = {p: period_span(p) for p in periods}
    if target is None or any(span is None for span in spans.values()):
        at = bisect.bisect_left(sorted(periods), period)
        chosen = sorted(periods)[at - 1] if at > 0 else sorted(periods)[0]
        return chosen, "earlier" if chosen < period else "later"
    def overlaps(span: tuple[int, int]) -> bool:
        inside = span[0] <= target[0] and target[1] <= span[1]
        return inside or (target[0] <= span[0] and span[1] <= target[1])

    covering = [p for p, span in spans.items() if overlaps(span)]
    if covering:  # the narrowest, then the latest
        return min(covering, key=lambda p: (spans[p][1] - spans[p][0], -spans[p][1])), "same"
    # else the nearest in time, each period dated by its last month (a QOF year by 31 March,
    # when its registers are counted); a tie goes to the earlier period
    chosen = min(periods, key=lambda p: (abs(spans[p][1] - target[1]), spans[p][1]))
    return chosen, "earlier" if spans[chosen][1] < target[1] else "later"


class Mappings:
    """The practice -> PCN mapping (``practice_pcn``) read once for many calls: its periods and
    each period's rows, each read when first asked for. For code that looks up the membership
    of many periods and levels from one state of the store (a build step); the rows are shared,
    not copied: never change them."""

    def __init__(self, store: Store):
        self.store = store
        self._periods: list[str] | None = None
        self._rows: dict[str, pd.DataFrame] = {}

    def periods(self) -> list[str]:
        if self._periods is None:
            self._periods = self.store.periods("practice_pcn")
        return self._periods

    def rows(self, period: str) -> pd.DataFrame:
        if period not in self._rows:
            self._rows[period] = self.store.read("practice_pcn", period=period)
        return self._rows[period]


def mapping_period(store: Store, period: str, mappings: Mappings | None = None) -> str | None:
    """The practice_pcn period to use for registrations of ``period``: the same month (or a QOF
    year containing it), else the nearest in time (:func:`nearest_period`), with a warning when
    it is not the same. ``mappings``: the mapping as read already (else it is asked for)."""
    # read once: a query each time
    periods = mappings.periods() if mappings is not None else store.periods("practice_pcn")
    note = _mapping_note(periods, period)
    if note is not None:
        warnings.warn(note, LevelWarning, stacklevel=2)
    return nearest_period(periods, period)[0]


def mapping_note(store: Store, period: str) -> str | None:
    """The sentence saying which practice -> PCN mapping places ``period``'s practices, when it
    is not one of that period (None when it is, or when none is loaded)."""
    return _mapping_note(store.periods("practice_pcn"), period)


def _mapping_note(periods: list[str], period: str) -> str | None:
    chosen, relation = nearest_period(periods, period)
    if chosen is None or relation == "same":
        return None
    return (f"{period}: practices are placed in PCNs, Sub-ICBs and ICBs by the {chosen} "
            f"practice -> PCN mapping, the nearest loaded ({relation}; none is loaded for "
            f"{period})")


def practice_units(store: Store, level: str, period: str,
                   mappings: Mappings | None = None) -> pd.DataFrame:
    """Practice membership of each unit of a practice-based level (or practice groups, or the one
    unit of England) in ``period``; ``mappings``: the practice -> PCN mapping as read already
    for other periods or levels (:class:`Mappings`).

    Returns columns practice_code, unit_code, unit_name. Practices not in a PCN (pcn_code 'U')
    belong to no pcn unit.
    """
    spec = get(level)
    if spec.kind == ALL:
        codes = practice_units(store, "practice", period, mappings)["practice_code"]
        code, name = spec.unit or (spec.name, spec.title)
        return pd.DataFrame({"practice_code": sorted(set(codes)), "unit_code": code,
                             "unit_name": name})
    if spec.kind == GROUP:
        groups = read_groups(store)
        members = groups[groups["member_type"] == "practice"]
        user = pd.DataFrame({"practice_code": members["member_code"].values,
                             "unit_code": members["group_name"].values,
                             "unit_name": members["group_name"].values})
        return pd.concat([user, loaded_practice_groups(store, period)], ignore_index=True)
    if spec.kind != PRACTICE:
        raise ValueError(f"{level!r} is a place-based level (units of LSOAs): use lsoa_units")
    chosen = mapping_period(store, period, mappings)
    if chosen is None:
        if level == "practice":  # every registered practice is a unit of its own
            nearest, _ = nearest_period(store.periods("registrations_lsoa"), period)
            return _practices_from_registrations(store, nearest or period)
        raise LookupError(f"no practice -> PCN mapping (practice_pcn) is loaded, so the "
                          f"{level} level cannot be built; load gp-reg-pat-prac-map or ePCN")
    mapping = (mappings.rows(chosen) if mappings is not None
               else store.read("practice_pcn", period=chosen))
    codes, name = spec.mapping
    unit = mapping[codes[0]].astype(object)
    for extra in codes[1:]:
        unit = unit.where(unit.notna(), mapping[extra])
    out = pd.DataFrame({"practice_code": mapping["practice_code"], "unit_code": unit,
                        "unit_name": mapping[name]})
    if level == "practice":
        out = _name_practices(store, period, out)
    if level == "pcn":
        out = out[out["unit_code"] != NO_PCN]
    return out[out["unit_code"].notna()].reset_index(drop=True)


def loaded_practice_groups(store: Store, period: str) -> pd.DataFrame:
    """Groups loaded from local practice lists (canonical ``practice_groups``, e.g. a public-health
    team's practice -> PCN-name list), from the period nearest ``period`` (earlier first).
    A group's code is its name; its name adds the grouping (e.g. 'Burnley East PCN (pcn)')."""
    if not store.has("practice_groups"):
        return pd.DataFrame(columns=["practice_code", *UNIT_COLUMNS])
    chosen, _ = nearest_period(store.periods("practice_groups"), period)
    rows = store.read("practice_groups", period=chosen)
    return pd.DataFrame({"practice_code": rows["practice_code"].values,
                         "unit_code": rows["group_name"].values,
                         "unit_name": (rows["group_name"] + " (" + rows["grouping"] + ")").values})


def _practices_from_registrations(store: Store, period: str) -> pd.DataFrame:
    t = store.table("registrations_lsoa")
    t = t.filter(t.period == period)
    names = t.group_by("practice_code").aggregate(unit_name=t.practice_name.max()).to_pandas()
    return pd.DataFrame({"practice_code": names["practice_code"],
                         "unit_code": names["practice_code"], "unit_name": names["unit_name"]})


def _name_practices(store: Store, period: str, units: pd.DataFrame) -> pd.DataFrame:
    """Practices in registrations but not in the mapping still form practice units."""
    if not store.has("registrations_lsoa"):
        return units
    seen = _practices_from_registrations(store, period)
    extra = seen[~seen["practice_code"].isin(units["practice_code"])]
    units = units.copy()
    named = units.merge(seen[["practice_code", "unit_name"]], on="practice_code", how="left",
                        suffixes=("", "_reg"))
    units["unit_name"] = named["unit_name"].where(named["unit_name"].notna(),
                                                  named["unit_name_reg"]).values
    return pd.concat([units, extra], ignore_index=True)


def lsoa_units(store: Store, level: str, edition: str | None = None,
               vintage: int | None = None) -> pd.DataFrame:
    """LSOA membership of each unit of a place-based level (or LSOA groups).

    ``edition`` picks the area set (e.g. wards '2024'; default the latest loaded) and ``vintage``
    the LSOA codes (2011 or 2021; default the vintage of that edition). Returns lsoa_code,
    unit_code, unit_name; the lsoa level maps each LSOA to itself.
    """
    spec = get(level)
    if spec.kind == GROUP:
        groups = read_groups(store)
        members = groups[groups["member_type"] == "lsoa"]
        return pd.DataFrame({"lsoa_code": members["member_code"].values,
                             "unit_code": members["group_name"].values,
                             "unit_name": members["group_name"].values})
    if level == "lsoa":
        return _lsoa_identity(store, vintage)
    if spec.kind != PLACE:
        raise ValueError(f"{level!r} is a practice-based level: use practice_units")
    rows = lookup_rows(store, spec.lookup, edition, vintage)
    if rows is None and vintage is not None:
        rows = best_fit_rows(store, spec.lookup, edition, vintage)
    if rows is None and spec.carry:
        rows = carried_rows(store, spec, edition, vintage)
    if rows is None:
        raise LookupError(f"no {spec.lookup} lookup (geography_lookup level "
                          f"{spec.lookup!r}) is loaded for LSOA vintage {vintage or 'any'}")
    return pd.DataFrame({"lsoa_code": rows["lsoa_code"].values,
                         "unit_code": rows["area_code"].values,
                         "unit_name": rows["area_name"].values})


def lookup_rows(store: Store, lookup_level: str, edition: str | None = None,
                vintage: int | None = None) -> pd.DataFrame | None:
    """geography_lookup rows of one level: the given edition (default the latest loaded) on the
    given LSOA vintage (default any); None when nothing matches."""
    if not store.has("geography_lookup"):
        return None
    t = store.table("geography_lookup")
    t = t.filter(t.level == lookup_level)
    if vintage is not None:
        t = t.filter(t.lsoa_vintage == vintage)
    editions = sorted(e for e in t.select("edition").distinct().to_pandas()["edition"] if e)
    if not editions:
        return None
    chosen = edition or editions[-1]
    if chosen not in editions:
        raise LookupError(f"no {lookup_level} lookup of edition {chosen!r}; loaded: "
                          f"{', '.join(editions)}")
    return t.filter(t.edition == chosen).to_pandas()


def best_fit_rows(store: Store, lookup_level: str, edition: str | None,
                  vintage: int) -> pd.DataFrame | None:
    """A lookup on the other LSOA vintage carried onto ``vintage`` through ``lsoa_changes``, by
    best fit (as ONS best-fit lookups assign each small area wholly to one larger area): each LSOA
    goes to the area whose LSOAs send it the largest sum of apportioning weights
    (:func:`placehealth.geography.crosswalk`; ties: the lowest area code). Areas of
    split, merged and complex LSOAs are approximate. None when neither lookup is loaded."""
    other = 2011 if vintage == 2021 else 2021
    rows = lookup_rows(store, lookup_level, edition, other)
    if rows is None or not store.has("lsoa_changes"):
        return None
    weights = crosswalk(store, other, vintage).weights
    areas = rows[["lsoa_code", "area_code", "area_name"]].rename(columns={"lsoa_code": "from_code"})
    moved = weights.merge(areas, on="from_code")
    share = moved.groupby(["to_code", "area_code", "area_name"], as_index=False,
                          dropna=False)["weight"].sum()
    best = share.sort_values(["to_code", "weight", "area_code"], ascending=[True, False, True])
    best = best.drop_duplicates("to_code").rename(columns={"to_code": "lsoa_code"})
    return best.assign(lsoa_vintage=vintage, level=lookup_level,
                       edition=rows["edition"].iloc[0])


def carried_rows(store: Store, spec: Level, edition: str | None = None,
                 vintage: int | None = None) -> pd.DataFrame | None:
    """LSOA -> area rows of ``spec`` built from a lower level's lookup (``spec.carry``), e.g. the
    upper-tier local authorities from the LAD lookup: a LAD goes to the county or UTLA a loaded
    ONS LAD -> UTLA (or LAD -> county) ``area_lookup`` gives it, else, when it is a single-tier
    authority (``spec.self_prefixes``: unitary authorities, metropolitan districts, London
    boroughs, Welsh principal areas), to itself, as ONS counts these both lower and upper tier.
    LSOAs whose lower area has no upper one are left out with a :class:`LevelWarning`.
    None when the lower lookup is not loaded."""
    lower, uppers = spec.carry
    rows = lookup_rows(store, lower, edition, vintage)
    if rows is None and vintage is not None:
        rows = best_fit_rows(store, lower, edition, vintage)
    if rows is None:
        return None
    upper = pd.DataFrame(columns=["from_code", "to_code", "to_name"])
    if store.has("area_lookup"):
        t = store.table("area_lookup")
        wanted = t.to_level.startswith(uppers[0])
        for name in uppers[1:]:
            wanted |= t.to_level.startswith(name)
        t = t.filter(t.from_level.startswith(lower) & wanted)
        upper = (t.select("edition", "from_code", "to_code", "to_name").to_pandas()
                 .sort_values("edition").drop_duplicates("from_code", keep="last"))
    merged = rows.merge(upper[["from_code", "to_code", "to_name"]], how="left",
                        left_on="area_code", right_on="from_code")
    itself = merged["to_code"].isna() & merged["area_code"].str[:3].isin(spec.self_prefixes)
    merged.loc[itself, "to_code"] = merged.loc[itself, "area_code"]
    merged.loc[itself, "to_name"] = merged.loc[itself, "area_name"]
    missing = merged["to_code"].isna()
    if missing.any():
        areas = sorted(merged.loc[missing, "area_code"].unique())
        warnings.warn(f"{len(areas)} {lower} area(s) ({', '.join(areas[:5])}"
                      f"{', ...' if len(areas) > 5 else ''}) have no {spec.name} and are left "
                      f"out: load the ONS {lower.upper()} -> {spec.name.upper()} lookup",
                      LevelWarning, stacklevel=3)
    merged = merged[~missing]
    return pd.DataFrame({"lsoa_code": merged["lsoa_code"].values,
                         "area_code": merged["to_code"].values,
                         "area_name": merged["to_name"].values})


def _lsoa_identity(store: Store, vintage: int | None) -> pd.DataFrame:
    codes: set[str] = set()
    for name in ("imd", "geography_lookup", "registrations_lsoa"):
        if store.has(name):
            t = store.table(name)
            if vintage is not None:
                t = t.filter(t.lsoa_vintage == vintage)
            codes |= set(t.select("lsoa_code").distinct().to_pandas()["lsoa_code"])
    codes = sorted(c for c in codes if c and LSOA_CODE.match(c))
    names = pd.Series(codes).map(lsoa_names(store, vintage)).fillna(pd.Series(codes))
    return pd.DataFrame({"lsoa_code": codes, "unit_code": codes, "unit_name": names.values})


def lsoa_names(store: Store, vintage: int | None) -> pd.Series:
    """LSOA names (e.g. 'Stoke-on-Trent 001A') by code, from the boundaries of that vintage
    (level lsoa11 / lsoa21) where loaded; empty otherwise."""
    if vintage is None or not store.has("boundaries"):
        return pd.Series(dtype=object)
    t = store.table("boundaries")
    t = t.filter(t.level == f"lsoa{vintage % 100:02d}").select("area_code", "area_name")
    return t.to_pandas().set_index("area_code")["area_name"].dropna()


def membership(store: Store, level: str, period: str, *, edition: str | None = None,
               vintage: int | None = None, mappings: Mappings | None = None) -> list[Membership]:
    """Every membership making up ``level`` in ``period``: one for most levels, and for groups
    one per member type present (practice groups and LSOA groups). ``mappings``: as in
    :func:`practice_units`."""
    spec = get(level)
    if spec.kind in (PRACTICE, ALL):
        members = practice_units(store, level, period, mappings)
        return [Membership(level, "practice", members,
                           mapping_period_quiet(store, period, mappings))]
    if spec.kind == PLACE:
        return [Membership(level, "lsoa", lsoa_units(store, level, edition, vintage))]
    out = []
    practices = practice_units(store, GROUP, period, mappings)
    if len(practices):
        out.append(Membership(level, "practice", practices))
    lsoas = lsoa_units(store, GROUP)
    if len(lsoas):
        out.append(Membership(level, "lsoa", lsoas))
    return out


def mapping_period_quiet(store: Store, period: str,
                         mappings: Mappings | None = None) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LevelWarning)
        return mapping_period(store, period, mappings)


# ------------------------------------------------------------------------- user groups
def read_groups(store: Store) -> pd.DataFrame:
    """All user groups (group_name, member_type, member_code); empty when none are defined."""
    if not store.has(GROUPS):
        return pd.DataFrame(columns=GROUP_COLUMNS)
    return store.read(GROUPS)[GROUP_COLUMNS]


def create_group(store: Store, name: str, *, practices: list[str] | None = None,
                 lsoas: list[str] | None = None, source: str = "command line") -> pd.DataFrame:
    """Define (or redefine) group ``name`` as a set of practices or a set of LSOAs.

    Codes are checked (practice ``A81001``, LSOA ``E01000001``); errors name ``source``.
    """
    name = name.strip()
    if not name:
        raise InputError(source, "a group needs a name", field="NAME")
    if bool(practices) == bool(lsoas):
        raise InputError(source, "give either practices or LSOAs (not both, not neither)",
                         hint="placehealth group create NAME --practices A81001,A81002")
    member_type, codes, pattern = (("practice", practices, PRACTICE_CODE) if practices
                                   else ("lsoa", lsoas, LSOA_CODE))
    clean = [c.strip().upper() for c in codes or [] if c.strip()]
    for i, code in enumerate(clean, start=1):
        if not pattern.match(code):
            raise InputError(source, f"{code!r} is not a {member_type} code "
                             f"(expected e.g. {'A81001' if member_type == 'practice' else 'E01000001'})",
                             field=f"member {i}")
    rows = pd.DataFrame({"group_name": name, "member_type": member_type,
                         "member_code": sorted(set(clean))})
    groups = read_groups(store)
    groups = pd.concat([groups[groups["group_name"] != name], rows], ignore_index=True)
    store.replace_table(GROUPS, groups.astype(str))
    return rows


def delete_group(store: Store, name: str) -> int:
    """Remove group ``name``; returns the number of members removed (0 if it did not exist)."""
    groups = read_groups(store)
    gone = int((groups["group_name"] == name).sum())
    if gone:
        store.replace_table(GROUPS, groups[groups["group_name"] != name].astype(str))
    return gone


def read_group_file(path: str | Path) -> tuple[list[str], list[str]]:
    """Practices and LSOAs listed in a CSV: a column practice_code or lsoa_code (or ``code``,
    whose values say which they are). Errors name the file, line and field."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = {f.strip().lower(): f for f in reader.fieldnames or []}
        column = next((fields[c] for c in ("practice_code", "lsoa_code", "member_code", "code")
                       if c in fields), None)
        if column is None:
            raise InputError(path.name, "no practice_code, lsoa_code or code column", line=1,
                             hint="a CSV with a header row, e.g. practice_code")
        practices, lsoas = [], []
        for line, row in enumerate(reader, start=2):
            code = (row.get(column) or "").strip().upper()
            if not code:
                continue
            if PRACTICE_CODE.match(code):
                practices.append(code)
            elif LSOA_CODE.match(code):
                lsoas.append(code)
            else:
                raise InputError(path.name, f"{code!r} is neither a practice nor an LSOA code",
                                 line=line, field=column)
    return practices, lsoas
