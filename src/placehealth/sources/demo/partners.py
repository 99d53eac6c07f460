"""The demo place's partners: a postcode lookup, a partner register and travel times.

Written in the layouts real users load:

- ``ONSPD_OCT_2025_DEMO.csv``: the ONS Postcode Directory's columns (``pcd``, ``pcd2``, ``pcds``,
  ``dointr``, ``doterm``, ``oseast1m``, ``osnrth1m``, ``osgrdind``, ``oslaua``, ``osward``,
  ``lsoa21``, ``lat``, ``long``): about eight residential postcodes per LSOA scattered around its
  point, every practice's postcode, and a few terminated postcodes;
- ``partners_2025-10.csv``: a PCN/council register (``partner_id, name, kind, services, postcode,
  serves_lsoas, radius_m, capacity, contact, valid_from, valid_to``): councils' services,
  libraries, schools, community centres, faith venues (more where diversity is high), voluntary
  groups (each serving named neighbourhoods or a radius), food banks (in deprived areas),
  leisure centres and pharmacies (near practices and town centres); a few closed since;
- ``jts0505_demo_2019.csv``: the DfT journey-time statistics layout for GPs (``LSOA_code,
  LA_Code, LA_Name, GPPTt, GPCyct, GPCart, GPWalkt``), minutes from straight-line distance to the
  nearest practice at typical speeds with a detour factor.

Contacts use the reserved ``example.org`` domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from placehealth.sources.demo.geography import KM_PER_DEG_LAT, Geography, place_names
from placehealth.sources.demo.registrations import Practices
from placehealth.sources.grid import to_grid

LOOKUP_FILE = "ONSPD_OCT_2025_DEMO.csv"
REGISTER_FILE = "partners_2025-10.csv"
JTS_FILE = "jts0505_demo_2019.csv"
POSTCODES_PER_LSOA = 8

#: Kind -> (venues per 100 LSOAs, services offered, typical sessions a week).
KIND_PLAN: dict[str, tuple[float, tuple[str, ...], tuple[int, int]]] = {
    "council_service": (2.0, ("housing advice", "social care", "welfare rights"), (2, 10)),
    "library": (3.0, ("digital skills", "health information", "blood pressure"), (1, 4)),
    "school": (9.0, ("family health", "vaccination"), (1, 2)),
    "community_centre": (4.0, ("health checks", "flu clinics", "social prescribing"), (2, 6)),
    "faith_venue": (5.0, ("health talks", "vaccination", "community meals"), (1, 3)),
    "voluntary_group": (4.0, ("carers support", "mental health", "befriending"), (1, 5)),
    "food_bank": (2.0, ("food", "advice"), (1, 3)),
    "leisure_centre": (1.0, ("exercise referral", "weight management"), (2, 8)),
    "pharmacy": (12.0, ("dispensing", "blood pressure", "flu clinics", "contraception"), (5, 12)),
}
_TITLES = {"council_service": "Council Hub", "library": "Library", "school": "Primary School",
           "community_centre": "Community Centre", "faith_venue": "Mosque",
           "voluntary_group": "Community Action", "food_bank": "Food Bank",
           "leisure_centre": "Leisure Centre", "pharmacy": "Pharmacy"}
_FAITH = ["Mosque", "St Mary's Church", "Gurdwara", "Methodist Church", "Mandir", "Baptist Church"]
_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # inward-code letters (no C, I, K, M, O, V, as Royal Mail)


@dataclass
class Postcodes:
    """The demo's postcodes: text, National Grid point, WGS84 point and LSOA index."""

    postcode: np.ndarray
    easting: np.ndarray
    northing: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    lsoa: np.ndarray
    terminated: np.ndarray  # '' or YYYYMM


def build_postcodes(rng: np.random.Generator, geo: Geography, prac: Practices) -> Postcodes:
    """About eight postcodes per LSOA within ~250 m of its point, plus each practice's own."""
    n = geo.n
    k = POSTCODES_PER_LSOA
    lsoa = np.repeat(np.arange(n), k)
    dx, dy = rng.normal(0, 0.18, (2, n * k))  # km
    lat = geo.lat[lsoa] + dy / KM_PER_DEG_LAT
    lon = geo.lon[lsoa] + dx / (KM_PER_DEG_LAT * np.cos(np.radians(geo.lat[lsoa])))
    # districts DM10.. by local authority (practices use DM1..DM9: no clash)
    codes, counter = [], {}
    for i in lsoa:
        district = 10 + int(geo.lad[i])
        m = counter.get(district, 0)
        counter[district] = m + 1
        sector, unit = m // 400 % 10, m % 400
        codes.append(f"DM{district} {sector}{_LETTERS[unit // 20]}{_LETTERS[unit % 20]}")
    terminated = np.where(rng.uniform(size=n * k) < 0.02, "202003", "")
    postcode = np.concatenate([np.array(codes, dtype=object), prac.postcode])
    lat = np.concatenate([lat, prac.lat])
    lon = np.concatenate([lon, prac.lon])
    lsoa = np.concatenate([lsoa, prac.lsoa])
    terminated = np.concatenate([terminated, np.full(prac.n, "")])
    keep = ~pd.Series(postcode).duplicated().to_numpy()
    e, nn = to_grid(lat[keep], lon[keep])
    return Postcodes(postcode[keep], np.round(e), np.round(nn), lat[keep], lon[keep], lsoa[keep],
                     terminated[keep])


def write_lookup(path: Path, geo: Geography, pc: Postcodes) -> Path:
    """The postcode lookup in the ONS Postcode Directory's column names."""
    compact = pd.Series(pc.postcode).str.replace(" ", "", regex=False)
    pcd = compact.str[:-3].str.ljust(4) + compact.str[-3:]
    frame = pd.DataFrame({
        "pcd": pcd, "pcd2": compact.str[:-3].str.ljust(5) + compact.str[-3:], "pcds": pc.postcode,
        "dointr": "198001", "doterm": pc.terminated, "oseast1m": pc.easting.astype(int),
        "osnrth1m": pc.northing.astype(int), "osgrdind": 1,
        "oslaua": geo.lad_code[geo.lad[pc.lsoa]], "osward": geo.ward_code[geo.ward[pc.lsoa]],
        "lsoa21": geo.lsoa_code[pc.lsoa], "lat": np.round(pc.lat, 6), "long": np.round(pc.lon, 6),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, lineterminator="\n")
    return path


def build_register(rng: np.random.Generator, geo: Geography, prac: Practices,
                   pc: Postcodes) -> pd.DataFrame:
    """Partners placed where such venues are: denser in towns, food banks where deprived, faith
    venues where diverse, pharmacies near practices."""
    live = np.flatnonzero(pc.terminated == "")
    by_lsoa = pd.Series(live).groupby(pc.lsoa[live]).apply(list).to_dict()
    names = place_names(geo.n + 200)
    rows = []
    base = np.clip(0.3 + geo.urbanity, 0.05, None)
    for kind, (per_100, services, (low, high)) in KIND_PLAN.items():
        count = max(1, round(per_100 * geo.n / 100))
        weight = base.copy()
        if kind == "food_bank":
            weight = weight * np.exp(1.2 * geo.deprivation)
        elif kind == "faith_venue":
            weight = weight * np.exp(1.0 * geo.diversity)
        elif kind == "pharmacy":
            near = np.bincount(prac.lsoa, minlength=geo.n).astype(float)
            weight = weight + 3 * near
        where = rng.choice(geo.n, size=count, replace=count > geo.n, p=weight / weight.sum())
        for j, i in enumerate(where):
            site = int(rng.choice(by_lsoa[int(i)]))
            place = names[(int(i) * 31 + j) % len(names)]
            title = _FAITH[j % len(_FAITH)] if kind == "faith_venue" else _TITLES[kind]
            offer = rng.choice(services, size=min(len(services), 1 + rng.integers(0, 3)),
                               replace=False)
            serves, radius = "", ""
            if kind == "voluntary_group":
                if j % 2:
                    _, near = cKDTree(np.column_stack([geo.x, geo.y])).query(
                        [geo.x[i], geo.y[i]], k=min(6, geo.n))
                    serves = ";".join(geo.lsoa_code[np.atleast_1d(near)])
                else:
                    radius = str(int(rng.choice([1000, 1500, 2500])))
            closed = rng.uniform() < 0.03
            rows.append({
                "partner_id": f"{kind[:3].upper()}{len(rows) + 1:04d}",
                "name": f"{place} {title}", "kind": kind.replace("_", " "),
                "services": "; ".join(sorted(offer)), "postcode": pc.postcode[site],
                "serves_lsoas": serves, "radius_m": radius,
                "capacity": int(rng.integers(low, high + 1)),
                "contact": f"{kind[:3]}{len(rows) + 1}@example.org",
                "valid_from": f"20{rng.integers(10, 25)}-0{rng.integers(1, 10)}-01",
                "valid_to": "2025-03-31" if closed else "",
            })
    return pd.DataFrame(rows)


def write_register(path: Path, register: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    register.to_csv(path, index=False, lineterminator="\n")
    return path


def write_journey_times(path: Path, geo: Geography, prac: Practices) -> Path:
    """DfT JTS0505-like minutes to the nearest GP: walk 4.8 km/h, cycle 16, car 30 (with 5 minutes
    of parking), public transport 12 km/h plus 8 minutes waiting, all over 1.3 x the straight
    line (a common detour factor)."""
    distance, _ = cKDTree(np.column_stack([prac.x, prac.y])).query(
        np.column_stack([geo.x, geo.y]))
    km = 1.3 * distance
    frame = pd.DataFrame({
        "LSOA_code": geo.lsoa_code, "LA_Code": geo.lad_code[geo.lad],
        "LA_Name": geo.lad_name[geo.lad],
        "GPPTt": np.round(8 + km / 12 * 60, 1), "GPCyct": np.round(km / 16 * 60, 1),
        "GPCart": np.round(5 + km / 30 * 60, 1), "GPWalkt": np.round(km / 4.8 * 60, 1),
    })
    frame.to_csv(path, index=False, lineterminator="\n")
    return path


def write_all(out: Path, rng: np.random.Generator, geo: Geography, prac: Practices) -> list[Path]:
    """Every partner file, in load order (the lookup before the register that uses it)."""
    pc = build_postcodes(rng, geo, prac)
    folder = out / "partners"
    return [write_lookup(folder / LOOKUP_FILE, geo, pc),
            write_register(folder / REGISTER_FILE, build_register(rng, geo, prac, pc)),
            write_journey_times(folder / JTS_FILE, geo, prac)]


__all__ = ["JTS_FILE", "KIND_PLAN", "LOOKUP_FILE", "REGISTER_FILE", "build_postcodes",
           "build_register", "write_all"]
