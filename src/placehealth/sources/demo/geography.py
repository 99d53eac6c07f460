"""The demo place's geography: LSOAs as points on a plane, grouped into wards and local authorities,
with Voronoi polygon boundaries in WGS84 and spatially clustered deprivation and ethnic diversity.

Everything is vectorised (numpy, scipy KD-trees, shapely 2 array functions) so that England-sized
places (33,755 LSOAs) generate in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy import ndimage
from scipy.spatial import cKDTree

#: Centre of the synthetic place (the English Midlands) and the average LSOA area in England.
CENTRE_LAT, CENTRE_LON = 52.6, -1.6
KM_PER_DEG_LAT = 111.32
LSOA_AREA_KM2 = 3.9
ENGLAND_LSOAS = 33_755

_PREFIX = ["Ash", "Brook", "Cal", "Dun", "Elm", "Fen", "Gran", "Hol", "Kings", "Lang", "Mar",
           "Nor", "Oak", "Pen", "Red", "Sal", "Thorn", "Wick", "Wold", "Yar"]
_SUFFIX = ["ford", "ton", "ley", "bury", "ham", "wick", "field", "borough", "mouth", "stead"]
_QUALIFIER = ["", "Upper ", "Lower ", "Great ", "Little "]
_WARD_PART = ["Central", "North", "South", "East", "West", "Park", "Green", "Hill", "Vale",
              "Bridge", "Common", "Heath", "Meadows", "Castle", "Abbey", "Moor"]


def place_names(count: int) -> list[str]:
    """Distinct fictional English place names ('Ashford', 'Upper Brookton', ...)."""
    names = [f"{q}{p}{s}" for q in _QUALIFIER for p in _PREFIX for s in _SUFFIX]
    if count > len(names):
        names += [f"{n} {i}" for i in range(2, count // len(names) + 2) for n in names]
    return names[:count]


@dataclass
class Geography:
    """LSOAs (points, polygons, codes, names) in wards and local authorities, with the smooth
    fields (deprivation, ethnic diversity) later modules draw from."""

    x: np.ndarray                 # km east of the place's south-west corner
    y: np.ndarray                 # km north
    lat: np.ndarray
    lon: np.ndarray
    lsoa_code: np.ndarray
    lsoa_name: np.ndarray
    lad: np.ndarray               # index into lad_code / lad_name
    lad_code: np.ndarray
    lad_name: np.ndarray
    ward: np.ndarray              # index into ward_code / ward_name
    ward_code: np.ndarray
    ward_name: np.ndarray
    urban: np.ndarray             # bool
    ruc_code: np.ndarray          # ONS RUC 2021 code (UN1, UF1, RSN1, ...)
    urbanity: np.ndarray          # 0..1, closeness to a town centre
    deprivation: np.ndarray       # latent z-score, spatially clustered (higher = more deprived)
    diversity: np.ndarray         # latent z-score of minority-ethnic presence
    south_asian: np.ndarray       # latent z-scores tilting the mix of minority groups
    black: np.ndarray
    lsoa_polygons: np.ndarray     # shapely Polygons (WGS84), one per LSOA
    lad_polygons: np.ndarray      # shapely (Multi)Polygons (WGS84), one per LAD

    @property
    def n(self) -> int:
        return len(self.x)


def smooth_field(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, side: float,
                 length_km: float) -> np.ndarray:
    """A Gaussian random field (white noise smoothed by a Gaussian kernel of ``length_km``),
    sampled at the points by bilinear interpolation and standardised to mean 0, sd 1."""
    cell = max(side / 2048, min(0.25, length_km / 4))
    size = int(np.ceil(side / cell)) + 8
    noise = rng.standard_normal((size, size))
    smooth = ndimage.gaussian_filter(noise, sigma=length_km / cell, mode="wrap")
    values = ndimage.map_coordinates(smooth, [y / cell + 4, x / cell + 4], order=1)
    return (values - values.mean()) / (values.std() or 1.0)


def _points(rng: np.random.Generator, n: int, side: float, towns: np.ndarray,
            town_weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LSOA centroids: ~80% clustered around towns (dense, small LSOAs), the rest rural."""
    urban_n = round(n * 0.8)
    town = rng.choice(len(towns), size=urban_n, p=town_weight / town_weight.sum())
    spread = 1.2 * np.sqrt(town_weight[town] * urban_n / len(towns) * LSOA_AREA_KM2 / 40)
    radius = np.abs(rng.standard_normal(urban_n)) * spread
    angle = rng.uniform(0, 2 * np.pi, urban_n)
    ux = towns[town, 0] + radius * np.cos(angle)
    uy = towns[town, 1] + radius * np.sin(angle)
    rx, ry = rng.uniform(0, side, (2, n - urban_n))
    x = np.clip(np.concatenate([ux, rx]), 0.2, side - 0.2)
    y = np.clip(np.concatenate([uy, ry]), 0.2, side - 0.2)
    # Jitter exact duplicates apart so every LSOA gets its own Voronoi cell.
    x += rng.uniform(-0.01, 0.01, n)
    y += rng.uniform(-0.01, 0.01, n)
    order = np.lexsort((x, np.round(y / max(side / 40, 1e-9))))  # row-wise, like ONS numbering
    return x[order], y[order]


def _to_wgs84(x: np.ndarray, y: np.ndarray, side: float) -> tuple[np.ndarray, np.ndarray]:
    lat = CENTRE_LAT + (y - side / 2) / KM_PER_DEG_LAT
    lon = CENTRE_LON + (x - side / 2) / (KM_PER_DEG_LAT * np.cos(np.radians(CENTRE_LAT)))
    return lat, lon


def _voronoi(x: np.ndarray, y: np.ndarray, side: float) -> np.ndarray:
    """One Voronoi cell per point (in input order), clipped to the place's outline."""
    points = shapely.points(x, y)
    cells = shapely.voronoi_polygons(shapely.multipoints(points), ordered=True,
                                     extend_to=shapely.box(-1, -1, side + 1, side + 1))
    cells = np.asarray(shapely.get_parts(cells))
    outline = shapely.box(0, 0, side, side)
    clipped = shapely.intersection(cells, outline)
    clipped = np.where(shapely.get_type_id(clipped) == 3, clipped,
                       [_largest(g) for g in clipped])
    return clipped


def _largest(geom: shapely.Geometry) -> shapely.Geometry:
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) == 3]
    return max(parts, key=shapely.area) if parts else geom


def _project(geoms: np.ndarray, side: float) -> np.ndarray:
    """Plane km -> WGS84 degrees, rounded to ~1 m."""
    def transform(coords: np.ndarray) -> np.ndarray:
        lat, lon = _to_wgs84(coords[:, 0], coords[:, 1], side)
        return np.round(np.column_stack([lon, lat]), 5)
    return shapely.transform(geoms, transform)


def build_geography(rng: np.random.Generator, n_lsoas: int, n_las: int) -> Geography:
    """Lay out ``n_lsoas`` LSOAs in ``n_las`` local authorities on a square of England-like density."""
    if n_lsoas < 10 or n_las < 1 or n_las > n_lsoas // 5:
        raise ValueError(f"need at least 10 LSOAs and 1-{max(1, n_lsoas // 5)} local authorities "
                         f"(got {n_lsoas} LSOAs, {n_las} local authorities)")
    side = float(np.sqrt(n_lsoas * LSOA_AREA_KM2))
    # Each local authority has one main town and two smaller ones, spread over the square.
    grid = int(np.ceil(np.sqrt(n_las)))
    cells = rng.permutation(grid * grid)[:n_las]
    lad_seed = np.column_stack([(cells % grid + rng.uniform(0.25, 0.75, n_las)) * side / grid,
                                (cells // grid + rng.uniform(0.25, 0.75, n_las)) * side / grid])
    small = rng.uniform(0.05 * side, 0.95 * side, (2 * n_las, 2))
    towns = np.vstack([lad_seed, small])
    town_weight = np.concatenate([rng.uniform(2, 5, n_las), rng.uniform(0.4, 1.2, 2 * n_las)])
    x, y = _points(rng, n_lsoas, side, towns, town_weight)
    n = len(x)
    xy = np.column_stack([x, y])

    # Local authorities: nearest main town (contiguous); wards: nearest ward seed in the same LAD.
    _, lad = cKDTree(lad_seed).query(xy)
    lad_order = np.lexsort((lad_seed[:, 0], np.round(lad_seed[:, 1] / (side / grid))))
    rank = np.empty(n_las, int)
    rank[lad_order] = np.arange(n_las)
    lad = rank[lad]
    ward_seed = rng.choice(n, size=max(n_las, n // 6), replace=False)
    ward_seed = np.union1d(ward_seed, [np.flatnonzero(lad == k)[0] for k in range(n_las)])
    lift = side * 10.0
    tree = cKDTree(np.column_stack([xy[ward_seed], lad[ward_seed] * lift]))
    _, ward = tree.query(np.column_stack([xy, lad * lift]))
    ward_lad = lad[ward_seed]

    # Urbanity: how close an LSOA is to dense neighbours (small LSOAs = towns).
    dist, _ = cKDTree(xy).query(xy, k=min(7, n))
    spacing = dist[:, -1]
    urbanity = 1 - (np.argsort(np.argsort(spacing)) / max(n - 1, 1))
    urban = urbanity > 0.2
    town_dist, _ = cKDTree(lad_seed).query(xy)
    near = town_dist < np.quantile(town_dist, 0.6)
    ruc = np.where(urban, np.where(near, "UN1", "UF1"),
                   np.where(urbanity > 0.1, np.where(near, "RLN1", "RLF1"),
                            np.where(near, "RSN1", "RSF1")))

    # Deprivation: a smooth field plus deprived inner-urban cores; diversity clusters in towns.
    core = np.exp(-((town_dist / (0.12 * side / np.sqrt(n_las))) ** 2))
    deprivation = (0.85 * smooth_field(rng, x, y, side, 2.5) + 0.9 * core
                   - 0.35 * (~urban) + 0.35 * rng.standard_normal(n))
    deprivation = (deprivation - deprivation.mean()) / deprivation.std()
    diversity = (1.2 * smooth_field(rng, x, y, side, 3.0) + 1.2 * core + 0.5 * urbanity
                 + 0.3 * deprivation)
    diversity = (diversity - diversity.mean()) / diversity.std()
    south_asian = smooth_field(rng, x, y, side, 5.0)
    black = smooth_field(rng, x, y, side, 5.0)

    lat, lon = _to_wgs84(x, y, side)
    lsoa_polygons = _project(_voronoi(x, y, side), side)
    lad_polygons = np.array([shapely.union_all(lsoa_polygons[lad == k]) for k in range(n_las)],
                            dtype=object)

    lad_names = np.array(place_names(n_las), dtype=object)
    lad_codes = np.array([f"E06{900001 + k:06d}" for k in range(n_las)], dtype=object)
    ward_codes = np.array([f"E05{900001 + k:06d}" for k in range(len(ward_seed))], dtype=object)
    ward_names = np.array([f"{lad_names[ward_lad[k]]} {_WARD_PART[k % len(_WARD_PART)]}"
                           + (f" {k // len(_WARD_PART) + 1}" if k >= len(_WARD_PART) else "")
                           for k in range(len(ward_seed))], dtype=object)
    # LSOA names as ONS writes them: "<LAD name> <MSOA-like number><letter>".
    order = np.lexsort((np.arange(n), ward, lad))
    names = np.empty(n, dtype=object)
    seen: dict[int, int] = {}
    group_number: dict[int, int] = {}
    groups_in_lad: dict[int, int] = {}
    for i in order:
        letter = seen.get(ward[i], 0)
        seen[ward[i]] = letter + 1
        if ward[i] not in group_number:
            groups_in_lad[lad[i]] = groups_in_lad.get(lad[i], 0) + 1
            group_number[ward[i]] = groups_in_lad[lad[i]]
        names[i] = f"{lad_names[lad[i]]} {group_number[ward[i]]:03d}{_letters(letter)}"
    return Geography(
        x=x, y=y, lat=lat, lon=lon,
        lsoa_code=np.array([f"E01{900001 + i:06d}" for i in range(n)], dtype=object),
        lsoa_name=names, lad=lad, lad_code=lad_codes, lad_name=lad_names,
        ward=ward, ward_code=ward_codes, ward_name=ward_names,
        urban=urban, ruc_code=ruc, urbanity=urbanity, deprivation=deprivation,
        diversity=diversity, south_asian=south_asian, black=black,
        lsoa_polygons=lsoa_polygons, lad_polygons=lad_polygons,
    )


def _letters(i: int) -> str:
    return chr(65 + i) if i < 26 else chr(65 + i // 26 - 1) + chr(65 + i % 26)


def national_ranks(score: np.ndarray, core20_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Ranks and deciles *as if* among England's 33,755 LSOAs (1 = most deprived).

    The demo LSOAs are ranked by score; their position p in 0..1 becomes a national position
    p ** g, with g chosen so that ``core20_share`` of them fall in the national most deprived 20%
    (deciles 1-2). With core20_share = 0.2 and 33,755 LSOAs the ranks are the plain ranks.
    """
    n = len(score)
    order = np.argsort(-score, kind="stable")
    position = np.empty(n)
    position[order] = (np.arange(n) + 0.5) / n
    g = np.log(0.2) / np.log(core20_share)
    national = position ** g
    rank = np.floor(national * ENGLAND_LSOAS).astype(int) + 1
    # Keep ranks distinct and in score order.
    sorted_rank = rank[order]
    sorted_rank = np.maximum.accumulate(sorted_rank - np.arange(n)) + np.arange(n)
    rank[order] = np.minimum(sorted_rank, ENGLAND_LSOAS - (n - 1 - np.arange(n)))
    decile = np.ceil(rank / (ENGLAND_LSOAS / 10)).astype(int).clip(1, 10)
    return rank, decile


def imd_score(z: np.ndarray) -> np.ndarray:
    """A skewed IMD-like score (England: median ~17, range ~0.5-90) from a latent z."""
    return np.clip(np.exp(2.85 + 0.62 * z), 0.5, 95.0)


def core20_share_for(n_lsoas: int) -> float:
    """A local place over-represents deprivation (~25% in Core20); England-sized is national."""
    return 0.2 if n_lsoas >= ENGLAND_LSOAS * 0.9 else 0.25


__all__ = ["Geography", "build_geography", "core20_share_for", "imd_score", "national_ranks",
           "place_names", "smooth_field"]
