"""Reach of need: how far each neighbourhood's need is from the partners who could meet it.

For every LSOA of the place: its **need** and its distance to the nearest partner of each kind,
to the nearest practice, and to any partner at all.

**Need** (documented choice). ``missing``: the estimated undiagnosed cases in the LSOA, summed
over the QOF registers where the expected register exceeds the recorded one (``missing`` of
``prevalence_gap_lsoa``, latest QOF year, positive gaps only; expected prevalence from the
age/sex/deprivation/ethnicity/rurality model of :mod:`placehealth.analyses.expected`). When no
need has been built, ``core20``: the registered patients of Core20 LSOAs (national IMD deciles 1
and 2, NHS England *Core20PLUS5*, 2021). **High need**: a Core20 LSOA, or one whose missing
cases per 1,000 patients are in the top fifth of the place's LSOAs.

**Distance**: straight line on the British National Grid (metres) between the LSOA's point and
the partner's. An LSOA's point is the mean of its live postcodes' points when a postcode lookup
with LSOAs is loaded (postcodes follow addresses, so this leans towards where people live, as a
population-weighted centroid does; ONS, *Population-weighted centroids guidance*, 2011),
otherwise its stored label point, otherwise its boundary's representative point. A partner
placed only by its LSOA stands at that LSOA's point. **Travel time**, when a matrix is loaded
(``travel_times``): the minutes to the nearest partner of the kind among the matrix's
destinations (partner ids), or the DfT journey-time statistics' minutes to the nearest service
of the kind (``nearest:gp_site``), in the chosen mode.

**Reached**: within ``within_m`` metres (default 2,000 m, about 25 minutes' walk) or
``within_minutes`` (default 15) of a partner of the kind, or named in a partner's
``serves_lsoas``, or inside a partner's own ``radius_m``.

Tables: ``reach_lsoa`` (LSOA x kind) and ``reach_area`` (PCN or local authority x kind: need,
need reached and its share, high-need LSOAs and those no partner of the kind reaches). A PCN's
need is its own patients' missing cases by LSOA (``prevalence_gap_lsoa`` at level pcn) over its
footprint (``pcn_lsoa``, the LSOAs holding 95% of its patients); a local authority's is its
LSOAs' whole need.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from placehealth.sources.grid import to_grid
from placehealth.store import Store

WITHIN_M = 2000.0
WITHIN_MINUTES = 15.0
#: Kinds that summarise others: every partner, and the practices themselves.
ANY, PRACTICE = "any_partner", "practice"
#: Modes of a travel-time matrix, in order of preference when none is chosen.
MODES = ("pt", "walk", "any", "cycle", "car")

LSOA_COLUMNS = ["lsoa_code", "lsoa_name", "la_code", "easting", "northing", "patients", "core20",
                "missing", "need", "need_per_1000", "high_need", "kind", "nearest_id", "nearest_name",
                "distance_m", "minutes", "reached", "within_m", "within_minutes"]
AREA_COLUMNS = ["level", "area_code", "area_name", "kind", "lsoas", "patients", "need",
                "need_reached", "need_reached_pct", "high_need_lsoas", "high_need_unreached",
                "within_m", "within_minutes"]


@dataclass
class Place:
    """What reach needs from the store: LSOAs with points and need, partners, practices."""

    lsoas: pd.DataFrame        # lsoa_code, lsoa_name, la_code, easting, northing, patients,
    #                            core20, missing
    partners: pd.DataFrame     # partner_id, name, kind, easting, northing, serves_lsoas, radius_m
    travel: pd.DataFrame       # origin, destination, minutes (one mode)
    need_measure: str          # 'missing' or 'core20'


# ------------------------------------------------------------------------------ reading
def latest(store: Store, table: str, column: str = "period") -> str | None:
    periods = store.periods(table, column) if store.has(table) else []
    return periods[-1] if periods else None


def lsoa_points(store: Store) -> pd.DataFrame:
    """lsoa_code, easting, northing: postcode means, else label points, else boundaries."""
    parts = []
    if store.has("postcodes"):
        t = store.table("postcodes")
        live = t.filter(t.terminated.isnull() & t.easting.notnull())
        for column in ("lsoa21_code", "lsoa11_code"):
            means = (live.filter(live[column].notnull()).group_by(column)
                     .aggregate(easting=live.easting.mean(), northing=live.northing.mean())
                     .to_pandas().rename(columns={column: "lsoa_code"}))
            parts.append(means)
    if store.has("lsoa_attributes"):
        t = store.table("lsoa_attributes")
        points = t.filter(t.attribute.isin(["latitude", "longitude"])).to_pandas()
        if len(points):
            wide = points.pivot_table(index="lsoa_code", columns="attribute", values="value",
                                      aggfunc="first").dropna()
            if {"latitude", "longitude"} <= set(wide.columns) and len(wide):
                e, n = to_grid(wide["latitude"].to_numpy(), wide["longitude"].to_numpy())
                parts.append(pd.DataFrame({"lsoa_code": wide.index, "easting": e, "northing": n}))
    if store.has("boundaries"):
        t = store.table("boundaries")
        shapes = t.filter(t.level.isin(["lsoa21", "lsoa11", "lsoa"])).to_pandas()
        if len(shapes):
            geoms = shapely.from_geojson([g if isinstance(g, str) else json.dumps(g)
                                          for g in shapes["geometry"]])
            rep = shapely.point_on_surface(geoms)
            e, n = to_grid(shapely.get_y(rep), shapely.get_x(rep))
            parts.append(pd.DataFrame({"lsoa_code": shapes["area_code"], "easting": e,
                                       "northing": n}))
    if not parts:
        return pd.DataFrame(columns=["lsoa_code", "easting", "northing"])
    points = pd.concat(parts, ignore_index=True).dropna()
    return points.drop_duplicates("lsoa_code", keep="first").reset_index(drop=True)


def current_partners(store: Store, as_of: str | None = None) -> pd.DataFrame:
    """Each register's latest snapshot on or before ``as_of`` (default: its latest), keeping
    the partners open on that date (valid_from <= date < valid_to)."""
    if not store.has("partners"):
        return pd.DataFrame(columns=["register", "partner_id", "name", "kind", "easting",
                                     "northing", "lsoa_code", "serves_lsoas", "radius_m",
                                     "capacity", "services"])
    frame = store.read("partners").drop(columns=["contact"], errors="ignore")
    if as_of:
        frame = frame[frame["period"].astype(str) <= as_of]
    if frame.empty:
        return frame
    newest = frame.groupby("register")["period"].transform("max")
    frame = frame[frame["period"] == newest]
    date = as_of or frame["period"].max()
    day = date if len(date) == 10 else f"{date[:7]}-01"
    opened = frame["valid_from"].isna() | (frame["valid_from"].astype(str) <= day)
    open_still = frame["valid_to"].isna() | (frame["valid_to"].astype(str) > day)
    return frame[opened & open_still].reset_index(drop=True)


def practice_points(store: Store) -> pd.DataFrame:
    """partner-like rows for the practices (kind 'practice') from the latest locations."""
    period = latest(store, "practice_locations")
    if period is None:
        return pd.DataFrame(columns=["partner_id", "name", "kind", "easting", "northing"])
    rows = store.read("practice_locations", period=period).dropna(subset=["latitude"])
    e, n = to_grid(rows["latitude"].to_numpy(), rows["longitude"].to_numpy())
    names = {}
    if store.has("practice_pcn"):
        pcn = store.read("practice_pcn", period=latest(store, "practice_pcn"))
        names = dict(zip(pcn["practice_code"], pcn["practice_name"], strict=True))
    return pd.DataFrame({"partner_id": rows["practice_code"].to_numpy(),
                         "name": [names.get(c) or c for c in rows["practice_code"]],
                         "kind": PRACTICE, "easting": e, "northing": n})


def lsoa_need(store: Store) -> tuple[pd.DataFrame, str]:
    """lsoa_code, lsoa_name, la_code, patients, core20, missing; and the need measure used."""
    period = latest(store, "lsoa_profile")
    if period is None:
        raise LookupError("reach needs the LSOA profiles: run `placehealth build` first")
    profile = store.read("lsoa_profile", period=period)
    frame = pd.DataFrame({"lsoa_code": profile["unit_code"], "lsoa_name": profile["unit_name"],
                          "patients": profile["patients"].astype("float64"),
                          "core20": profile["core20_pct"].fillna(0).to_numpy() >= 50})
    frame["la_code"] = frame["lsoa_code"].map(lsoa_authorities(store))
    gap_period = latest(store, "prevalence_gap_lsoa")
    if gap_period is None:
        frame["missing"] = np.nan
        return frame, "core20"
    t = store.table("prevalence_gap_lsoa")
    gaps = (t.filter((t.period == gap_period) & (t.level == "all") & (t.missing > 0))
            .group_by("lsoa_code").aggregate(missing=t.missing.sum()).to_pandas())
    frame["missing"] = frame["lsoa_code"].map(gaps.set_index("lsoa_code")["missing"]).fillna(0.0)
    return frame, "missing"


def lsoa_authorities(store: Store) -> dict[str, str]:
    """LSOA -> local authority (lad) from the newest lookup edition."""
    if not store.has("geography_lookup"):
        return {}
    t = store.table("geography_lookup")
    rows = t.filter(t.level == "lad").to_pandas().sort_values("edition")
    return dict(zip(rows["lsoa_code"], rows["area_code"], strict=True))


def travel_minutes(store: Store, mode: str | None = None) -> pd.DataFrame:
    """origin, destination, minutes in one mode (the chosen one, else by :data:`MODES`)."""
    if not store.has("travel_times"):
        return pd.DataFrame(columns=["origin", "destination", "minutes"])
    frame = store.read("travel_times")
    modes = list(dict.fromkeys(frame["mode"]))
    if mode is None:
        mode = next((m for m in MODES if m in modes), modes[0] if modes else None)
    elif mode not in modes:
        raise ValueError(f"no travel times by {mode!r}; loaded modes: {', '.join(modes)}")
    frame = frame[frame["mode"] == mode]
    return frame[["origin", "destination", "minutes"]].dropna().reset_index(drop=True)


def read_place(store: Store, as_of: str | None = None, mode: str | None = None) -> Place:
    """Everything reach reads, from the store."""
    lsoas, measure = lsoa_need(store)
    points = lsoa_points(store).set_index("lsoa_code")
    lsoas["easting"] = lsoas["lsoa_code"].map(points["easting"])
    lsoas["northing"] = lsoas["lsoa_code"].map(points["northing"])
    partners = current_partners(store, as_of)
    placed_by_lsoa = partners["easting"].isna() & partners["lsoa_code"].notna()
    if placed_by_lsoa.any():
        codes = partners.loc[placed_by_lsoa, "lsoa_code"]
        for column in ("easting", "northing"):
            partners.loc[placed_by_lsoa, column] = codes.map(points[column]).astype("float64")
    everyone = pd.concat([partners, practice_points(store)], ignore_index=True)
    return Place(lsoas, everyone, travel_minutes(store, mode), measure)


# ---------------------------------------------------------------------------- computing
def need_of(lsoas: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Add need, need per 1,000 patients and the high-need flag (see the module docstring)."""
    out = lsoas.copy()
    if measure == "missing":
        out["need"] = out["missing"].astype("float64")
    elif measure == "core20":
        out["need"] = np.where(out["core20"], out["patients"], 0.0)
    else:
        raise ValueError(f"unknown need measure {measure!r}: use missing or core20")
    out["need_per_1000"] = (1000 * out["need"] / out["patients"].where(out["patients"] > 0)).round(1)
    if measure == "missing" and out["need_per_1000"].notna().any():
        top = out["need_per_1000"] >= out["need_per_1000"].quantile(0.8)
        out["high_need"] = out["core20"] | top.fillna(False)
    else:
        out["high_need"] = out["core20"].astype(bool)
    return out


def reach_lsoa(place: Place, within_m: float = WITHIN_M,
               within_minutes: float = WITHIN_MINUTES) -> pd.DataFrame:
    """One row per LSOA and kind (each partner kind, 'practice', 'any_partner')."""
    lsoas = need_of(place.lsoas, place.need_measure)
    lsoas = lsoas[lsoas["easting"].notna()].reset_index(drop=True)
    origin = lsoas[["easting", "northing"]].to_numpy(dtype="float64")
    partners = place.partners[place.partners["easting"].notna()].reset_index(drop=True)
    kinds = sorted(set(partners["kind"]) - {PRACTICE})
    frames = []
    for kind in [*kinds, PRACTICE, ANY]:
        chosen = (partners[partners["kind"] != PRACTICE] if kind == ANY
                  else partners[partners["kind"] == kind]).reset_index(drop=True)
        rows = lsoas.copy()
        rows["kind"] = kind
        if chosen.empty or not len(origin):
            rows["nearest_id"] = rows["nearest_name"] = None
            rows["distance_m"] = np.nan
            reached = np.zeros(len(rows), bool)
        else:
            points = chosen[["easting", "northing"]].to_numpy(dtype="float64")
            distance, index = cKDTree(points).query(origin)
            rows["nearest_id"] = chosen["partner_id"].to_numpy()[index]
            rows["nearest_name"] = chosen["name"].to_numpy()[index]
            rows["distance_m"] = np.round(distance, 0)
            reached = distance <= within_m
            reached |= _served(chosen, lsoas, origin)
        rows["minutes"] = _minutes(place.travel, lsoas, chosen, kind)
        reached |= (rows["minutes"] <= within_minutes).to_numpy()
        rows["reached"] = reached
        frames.append(rows)
    out = pd.concat(frames, ignore_index=True)
    out["within_m"], out["within_minutes"] = float(within_m), float(within_minutes)
    return out[LSOA_COLUMNS]


def _served(chosen: pd.DataFrame, lsoas: pd.DataFrame, origin: np.ndarray) -> np.ndarray:
    """LSOAs a partner says it serves: named in serves_lsoas, or inside its own radius_m."""
    served = np.zeros(len(lsoas), bool)
    if "serves_lsoas" in chosen:
        named = {c for text in chosen["serves_lsoas"].dropna() for c in str(text).split(";")}
        served |= lsoas["lsoa_code"].isin(named).to_numpy()
    if "radius_m" in chosen:
        ranged = chosen[chosen["radius_m"].notna() & (chosen["radius_m"] > 0)]
        if len(ranged):
            tree = cKDTree(origin)
            for e, n, r in ranged[["easting", "northing", "radius_m"]].itertuples(index=False):
                served[tree.query_ball_point([e, n], r)] = True
    return served


def _minutes(travel: pd.DataFrame, lsoas: pd.DataFrame, chosen: pd.DataFrame, kind: str
             ) -> pd.Series:
    """Minutes from each LSOA to the nearest of ``chosen`` (matrix) or of the kind (DfT)."""
    out = pd.Series(np.nan, index=lsoas.index)
    if travel.empty:
        return out
    to_partner = travel[travel["destination"].isin(set(chosen["partner_id"]))]
    nearest = to_partner.groupby("origin")["minutes"].min()
    dft_kind = "gp_site" if kind == PRACTICE else kind
    dft = travel[travel["destination"] == f"nearest:{dft_kind}"].groupby("origin")["minutes"].min()
    best = pd.concat([nearest, dft]).groupby(level=0).min()
    return lsoas["lsoa_code"].map(best).astype("float64")


def summarise(rows: pd.DataFrame, members: pd.DataFrame, level: str,
              names: dict[str, str] | None = None) -> pd.DataFrame:
    """Per area and kind: LSOAs, patients, need and need reached; high-need LSOAs unreached.

    ``members``: area_code, lsoa_code, patients, need (the area's own share of each LSOA)."""
    if members.empty or rows.empty:
        return pd.DataFrame(columns=AREA_COLUMNS)
    flags = rows[["lsoa_code", "kind", "reached", "high_need", "within_m", "within_minutes"]]
    joined = members.merge(flags, on="lsoa_code", how="inner")
    joined["need_reached"] = np.where(joined["reached"], joined["need"], 0.0)
    joined["high_unreached"] = joined["high_need"] & ~joined["reached"]
    out = joined.groupby(["area_code", "kind"], as_index=False).agg(
        lsoas=("lsoa_code", "nunique"), patients=("patients", "sum"), need=("need", "sum"),
        need_reached=("need_reached", "sum"), high_need_lsoas=("high_need", "sum"),
        high_need_unreached=("high_unreached", "sum"), within_m=("within_m", "first"),
        within_minutes=("within_minutes", "first"))
    out["need_reached_pct"] = 100 * out["need_reached"] / out["need"].where(out["need"] > 0)
    out["level"] = level
    out["area_name"] = out["area_code"].map(names or {})
    return out[AREA_COLUMNS]


def pcn_members(store: Store, lsoas: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Each PCN's LSOAs with its own patients there and its own need there."""
    period = latest(store, "pcn_lsoa")
    if period is None:
        return pd.DataFrame(columns=["area_code", "lsoa_code", "patients", "need"])
    footprint = store.read("pcn_lsoa", period=period)
    if "in_footprint_95" in footprint:  # the LSOAs holding 95% of the PCN's patients
        footprint = footprint[footprint["in_footprint_95"].fillna(False).astype(bool)]
    members = pd.DataFrame({"area_code": footprint["pcn_code"],
                            "lsoa_code": footprint["lsoa_code"],
                            "patients": footprint["patients"].astype("float64")})
    gap_period = latest(store, "prevalence_gap_lsoa")
    if measure == "missing" and gap_period is not None:
        t = store.table("prevalence_gap_lsoa")
        gaps = (t.filter((t.period == gap_period) & (t.level == "pcn") & (t.missing > 0))
                .group_by(["area_code", "lsoa_code"]).aggregate(need=t.missing.sum())
                .to_pandas())
        members = members.merge(gaps, on=["area_code", "lsoa_code"], how="left")
        members["need"] = members["need"].fillna(0.0)
    else:
        core20 = lsoas.set_index("lsoa_code")["core20"]
        members["need"] = np.where(members["lsoa_code"].map(core20).fillna(False),
                                   members["patients"], 0.0)
    return members


def la_members(lsoas: pd.DataFrame) -> pd.DataFrame:
    """Each local authority's LSOAs with their whole patients and need."""
    rows = lsoas[lsoas["la_code"].notna()]
    return pd.DataFrame({"area_code": rows["la_code"], "lsoa_code": rows["lsoa_code"],
                         "patients": rows["patients"], "need": rows["need"]})


def names_of(store: Store, table: str) -> dict[str, str]:
    if not store.has(table):
        return {}
    frame = store.read(table)
    frame = frame.sort_values("period").drop_duplicates("unit_code", keep="last")
    return dict(zip(frame["unit_code"], frame["unit_name"].astype(str), strict=True))


def compute(store: Store, within_m: float = WITHIN_M, within_minutes: float = WITHIN_MINUTES,
            as_of: str | None = None, mode: str | None = None) -> dict[str, pd.DataFrame]:
    """``reach_lsoa`` and ``reach_area`` for the stored place."""
    place = read_place(store, as_of, mode)
    rows = reach_lsoa(place, within_m, within_minutes)
    lsoas = rows.drop_duplicates("lsoa_code")
    areas = pd.concat([
        summarise(rows, pcn_members(store, lsoas, place.need_measure), "pcn",
                  names_of(store, "pcn_profile")),
        summarise(rows, la_members(lsoas), "la", names_of(store, "la_profile")),
    ], ignore_index=True)
    return {"reach_lsoa": rows, "reach_area": areas}


def build(store: Store) -> dict[str, int]:
    """Build step: reach tables at the default distances (nothing when no partner is loaded)."""
    if not (store.has("partners") or store.has("practice_locations")) or not store.has(
            "lsoa_profile"):
        return {}
    tables = compute(store)
    for name, frame in tables.items():
        store.replace_table(name, frame)
    return {name: len(frame) for name, frame in tables.items()}


__all__ = ["ANY", "PRACTICE", "WITHIN_M", "WITHIN_MINUTES", "Place", "build", "compute",
           "current_partners", "lsoa_points", "need_of", "reach_lsoa", "read_place", "summarise"]
