"""Practices, PCNs and who registers where.

Practices sit among the LSOAs (more where more people live). Residents register by a gravity
model: each LSOA's registered patients are spread over its K nearest practices with weight
attractiveness x distance decay (Huff 1963, *A probabilistic analysis of shopping centre trade
areas*, Land Economics 39:81-90), plus a thin tail of distant choices (people who moved, or
register near work), so the practice x LSOA matrix is sparse but realistically long-tailed.
About 99% of residents are registered; a few patients per practice have no LSOA (NO2021).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from placehealth.sources.demo.geography import Geography, place_names
from placehealth.sources.demo.population import Population

REGISTERED_SHARE = 0.99
#: Postcode-like labels for the demo (the DM area does not exist in the real postcode system).
_POSTCODE_AREA = "DM"


@dataclass
class Practices:
    """Practices: codes, names, locations, home LSOA, PCN and Sub-ICB membership."""

    code: np.ndarray
    name: np.ndarray
    postcode: np.ndarray
    x: np.ndarray
    y: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    lsoa: np.ndarray          # index of the LSOA the practice stands in
    attractiveness: np.ndarray
    pcn: np.ndarray           # index into pcn_code / pcn_name
    pcn_code: np.ndarray
    pcn_name: np.ndarray
    sub_icb: np.ndarray       # index into the Sub-ICB arrays of Organisations
    supplier: np.ndarray

    @property
    def n(self) -> int:
        return len(self.code)


@dataclass
class Organisations:
    """Sub-ICB locations (one per local authority group), ICBs and the region."""

    sub_icb_code: np.ndarray      # ODS, e.g. 9A1
    sub_icb_ons: np.ndarray       # ONS, e.g. E38000901
    sub_icb_name: np.ndarray
    sub_icb_icb: np.ndarray       # index into icb arrays
    lad_sub_icb: np.ndarray       # Sub-ICB index of each local authority
    icb_code: np.ndarray
    icb_ons: np.ndarray
    icb_name: np.ndarray
    region_code: str = "Y99"
    region_ons: str = "E40000099"
    region_name: str = "Demo Region"


@dataclass
class Month:
    """One monthly extract: sparse practice x LSOA counts, unknown-LSOA counts, ages by sex."""

    period: str                   # YYYY-MM
    practice: np.ndarray          # pair rows: practice index
    lsoa: np.ndarray              # pair rows: LSOA index
    patients: np.ndarray          # pair rows: count (> 0)
    unknown: np.ndarray           # per practice: patients with LSOA NO2021
    age_female: np.ndarray        # (n_practices, 91): single years, 90 = 90+
    age_male: np.ndarray

    @property
    def practice_totals(self) -> np.ndarray:
        return self.age_female.sum(1) + self.age_male.sum(1)


def build_organisations(geo: Geography) -> Organisations:
    """Sub-ICBs group local authorities (one each for small places); ICBs group ~3 Sub-ICBs."""
    n_las = len(geo.lad_code)
    n_sub = n_las if n_las <= 10 else min(n_las, max(10, n_las // 3))
    lad_sub = (np.arange(n_las) * n_sub) // n_las
    n_icb = 1 if n_sub <= 10 else int(np.ceil(n_sub / 3))
    sub_icb = (np.arange(n_sub) * n_icb) // n_sub
    icb_names = place_names(n_icb + n_las)[n_las:] if n_icb > 1 else ["Demo Shire"]
    icb_name = np.array([f"NHS {name} Integrated Care Board" for name in icb_names], dtype=object)
    icb_code = np.array([f"Q{chr(90 - i // 9)}{i % 9 + 1}" for i in range(n_icb)], dtype=object)
    sub_code = np.array([f"9{chr(65 + i // 9)}{i % 9 + 1}" for i in range(n_sub)], dtype=object)
    sub_name = np.array([f"{icb_name[sub_icb[i]].replace(' Integrated Care Board', ' ICB')}"
                         f" - {sub_code[i]}" for i in range(n_sub)], dtype=object)
    return Organisations(
        sub_icb_code=sub_code,
        sub_icb_ons=np.array([f"E38{900001 + i:06d}" for i in range(n_sub)], dtype=object),
        sub_icb_name=sub_name, sub_icb_icb=sub_icb, lad_sub_icb=lad_sub,
        icb_code=icb_code,
        icb_ons=np.array([f"E54{900001 + i:06d}" for i in range(n_icb)], dtype=object),
        icb_name=icb_name,
    )


def _bisect(xy: np.ndarray, index: np.ndarray, parts: int) -> list[np.ndarray]:
    """Recursive coordinate bisection: ``parts`` compact groups of near-equal size."""
    if parts <= 1 or len(index) <= 1:
        return [index]
    left_parts = parts // 2
    pts = xy[index]
    axis = 0 if np.ptp(pts[:, 0]) >= np.ptp(pts[:, 1]) else 1
    order = index[np.argsort(pts[:, axis], kind="stable")]
    cut = round(len(index) * left_parts / parts)
    return _bisect(xy, order[:cut], left_parts) + _bisect(xy, order[cut:], parts - left_parts)


def build_practices(rng: np.random.Generator, geo: Geography, pop: Population,
                    orgs: Organisations, n_practices: int, n_pcns: int) -> Practices:
    """Practices placed in LSOAs with probability by population, then grouped into PCNs."""
    if n_practices > min(geo.n, 9999) or n_practices < 1:
        raise ValueError(f"practices must be 1-{min(geo.n, 9999)} (got {n_practices})")
    if not 1 <= n_pcns <= n_practices:
        raise ValueError(f"PCNs must be 1-{n_practices} (got {n_pcns})")
    weight = pop.total.astype(float) * (0.6 + geo.urbanity)
    lsoa = rng.choice(geo.n, size=n_practices, replace=False, p=weight / weight.sum())
    lsoa = np.sort(lsoa)
    x = geo.x[lsoa] + rng.normal(0, 0.05, n_practices)
    y = geo.y[lsoa] + rng.normal(0, 0.05, n_practices)
    lat = geo.lat[lsoa] + (y - geo.y[lsoa]) / 111.32
    lon = geo.lon[lsoa] + (x - geo.x[lsoa]) / (111.32 * np.cos(np.radians(geo.lat[lsoa])))
    attractiveness = rng.lognormal(0, 0.45, n_practices)
    # PCNs: compact groups of practices within each Sub-ICB, sized by its share of practices.
    sub_icb = orgs.lad_sub_icb[geo.lad[lsoa]]
    n_sub = len(orgs.sub_icb_code)
    per_sub = np.bincount(sub_icb, minlength=n_sub)
    share = per_sub / n_practices * n_pcns
    quota = np.where(per_sub > 0, np.maximum(1, np.floor(share)), 0).astype(int)
    while quota.sum() < n_pcns and (quota < per_sub).any():
        spare = np.where(quota < per_sub, share - quota, -np.inf)
        quota[int(np.argmax(spare))] += 1
    while quota.sum() > n_pcns:
        quota[int(np.argmax(np.where(quota > 1, quota - share, -np.inf)))] -= 1
    pcn = np.empty(n_practices, int)
    groups: list[np.ndarray] = []
    xy = np.column_stack([x, y])
    for s in range(n_sub):
        members = np.flatnonzero(sub_icb == s)
        if len(members):
            groups += _bisect(xy, members, int(quota[s]))
    for k, members in enumerate(groups):
        pcn[members] = k
    names = place_names(geo.n + len(groups) + n_practices)
    street = ["Health Centre", "Medical Centre", "Surgery", "Medical Practice", "Family Practice",
              "Group Practice"]
    practice_names = np.array([
        f"{names[(i * 7919) % len(names)].upper()} {street[i % len(street)].upper()}"
        for i in range(n_practices)], dtype=object)
    pcn_names = np.array([f"{names[len(names) - 1 - k]} PCN".upper() for k in range(len(groups))],
                         dtype=object)
    district = geo.lad[lsoa] + 1
    postcode = np.array([f"{_POSTCODE_AREA}{d} {i % 9 + 1}{chr(65 + i % 26)}{chr(65 + (i // 26) % 26)}"
                         for i, d in enumerate(district)], dtype=object)
    supplier = np.where(rng.uniform(size=n_practices) < 0.62, "EMIS", "TPP").astype(object)
    return Practices(
        code=np.array([f"Y9{i + 1:04d}" for i in range(n_practices)], dtype=object),
        name=practice_names, postcode=postcode, x=x, y=y, lat=lat, lon=lon, lsoa=lsoa,
        attractiveness=attractiveness, pcn=pcn,
        pcn_code=np.array([f"U9{k + 1:04d}" for k in range(len(groups))], dtype=object),
        pcn_name=pcn_names, sub_icb=sub_icb, supplier=supplier,
    )


def neighbours_for(n_lsoas: int, n_practices: int) -> int:
    """How many nearest practices each LSOA's residents may register with (10-40)."""
    return int(min(n_practices, 40 if n_lsoas >= 20_000 else 25))


def register(rng: np.random.Generator, geo: Geography, pop: Population, prac: Practices,
             period: str, neighbours: int | None = None) -> Month:
    """The latest month: residents registered by the gravity model, ages split by practice."""
    k = neighbours or neighbours_for(geo.n, prac.n)
    k = min(k, prac.n)
    dist, nearest = cKDTree(np.column_stack([prac.x, prac.y])).query(
        np.column_stack([geo.x, geo.y]), k=k)
    dist, nearest = dist.reshape(geo.n, k), nearest.reshape(geo.n, k)
    # Distance decay scaled by the local distance to the nearest practice (towns are compact).
    scale = np.maximum(dist[:, :1], 0.8)
    gravity = prac.attractiveness[nearest] * (1 + dist / scale) ** -3.0
    gravity /= gravity.sum(1, keepdims=True)
    tail = np.full_like(gravity, 1 / k)
    probs = 0.985 * gravity + 0.015 * tail
    registered = rng.binomial(pop.total, REGISTERED_SHARE)
    counts = rng.multinomial(registered, probs)
    unknown = np.where(rng.uniform(size=prac.n) < 0.4, rng.integers(1, 12, prac.n), 0)
    return _month(period, nearest.ravel(), np.repeat(np.arange(geo.n), k), counts.ravel(),
                  unknown, pop, prac.n)


def earlier(rng: np.random.Generator, month: Month, pop: Population, n_practices: int,
            period: str, steps: int) -> Month:
    """An earlier extract: lists a little smaller (populations grow ~1% a year), same structure."""
    keep = 1 - 0.0009 * steps
    patients = rng.binomial(month.patients, keep)
    unknown = rng.binomial(month.unknown, keep)
    return _month(period, month.practice, month.lsoa, patients, unknown, pop, n_practices)


def _month(period: str, practice: np.ndarray, lsoa: np.ndarray, patients: np.ndarray,
           unknown: np.ndarray, pop: Population, n_practices: int) -> Month:
    """Keep non-zero pairs in practice, LSOA order; split each practice's list by sex and age
    in proportion to the residents of the LSOAs it draws from (largest-remainder rounding, so
    ages add up exactly to the LSOA rows)."""
    keep = patients > 0
    practice, lsoa, patients = practice[keep], lsoa[keep], patients[keep]
    order = np.lexsort((lsoa, practice))
    practice, lsoa, patients = practice[order], lsoa[order], patients[order]
    matrix = sparse.csr_matrix((patients.astype(float), (practice, lsoa)),
                               shape=(n_practices, len(pop.total)))
    age_cells = np.concatenate([pop.female, pop.male], axis=1).astype(float)
    shares = age_cells / np.maximum(age_cells.sum(1, keepdims=True), 1)
    expected = np.asarray(matrix @ shares)
    totals = np.bincount(practice, weights=patients, minlength=n_practices).astype(np.int64)
    totals += unknown
    rows = expected.sum(1, keepdims=True)
    expected = np.where(rows > 0, expected / np.where(rows > 0, rows, 1), 1 / expected.shape[1])
    ages = largest_remainder(expected * totals[:, None], totals)
    return Month(period, practice, lsoa, patients.astype(np.int64), unknown.astype(np.int64),
                 ages[:, :91], ages[:, 91:])


def largest_remainder(expected: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Round each row of ``expected`` to integers summing exactly to ``totals`` (Hamilton's
    largest-remainder method), vectorised over rows."""
    floor = np.floor(expected).astype(np.int64)
    short = totals - floor.sum(1)
    frac = expected - floor
    order = np.argsort(-frac, axis=1, kind="stable")
    rank = np.empty_like(order)
    rows = np.arange(expected.shape[0])[:, None]
    rank[rows, order] = np.arange(expected.shape[1])[None, :]
    return floor + (rank < short[:, None])


def month_label(latest: str, steps_back: int) -> str:
    """'2025-10' minus ``steps_back`` months."""
    year, month = map(int, latest.split("-"))
    index = year * 12 + (month - 1) - steps_back
    return f"{index // 12}-{index % 12 + 1:02d}"


__all__ = ["REGISTERED_SHARE", "Month", "Organisations", "Practices", "build_organisations",
           "build_practices", "earlier", "largest_remainder", "month_label", "neighbours_for",
           "register"]
