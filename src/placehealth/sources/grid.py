"""British National Grid: points in metres east and north (OSGB36, EPSG:27700).

Distances in placehealth are straight lines on the National Grid, so every location read in WGS84
(latitude, longitude) is projected here once. The transformation is PROJ's (via pyproj) from
EPSG:4326 to EPSG:27700 (Helmert datum shift plus the Transverse Mercator projection of the
Ordnance Survey's *A guide to coordinate systems in Great Britain*, 2020; within a few metres of
OSTN15 without the grid file, well inside a postcode's own spread).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pyproj is imported when a point is first projected, not by every reader
    from pyproj import Transformer

#: Limits of the National Grid's true origin-based coordinates over Great Britain (metres).
EASTING_RANGE = (0.0, 700_000.0)
NORTHING_RANGE = (0.0, 1_300_000.0)


@cache
def _to_grid() -> Transformer:
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)


@cache
def _to_wgs84() -> Transformer:
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)


def to_grid(latitude: np.ndarray, longitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 latitude/longitude (degrees) -> National Grid easting/northing (metres); NaN stays NaN."""
    lat = np.asarray(latitude, dtype="float64")
    lon = np.asarray(longitude, dtype="float64")
    easting, northing = _to_grid().transform(lon, lat)
    return np.asarray(easting, dtype="float64"), np.asarray(northing, dtype="float64")


def to_wgs84(easting: np.ndarray, northing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """National Grid easting/northing (metres) -> WGS84 (latitude, longitude) in degrees."""
    lon, lat = _to_wgs84().transform(np.asarray(easting, dtype="float64"),
                                     np.asarray(northing, dtype="float64"))
    return np.asarray(lat, dtype="float64"), np.asarray(lon, dtype="float64")


def on_grid(easting: np.ndarray, northing: np.ndarray) -> np.ndarray:
    """True where a point lies within the National Grid's extent over Great Britain."""
    e = np.asarray(easting, dtype="float64")
    n = np.asarray(northing, dtype="float64")
    return (e >= EASTING_RANGE[0]) & (e <= EASTING_RANGE[1]) & (n >= NORTHING_RANGE[0]) & (
        n <= NORTHING_RANGE[1])
