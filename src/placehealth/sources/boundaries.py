"""ONS area boundaries as GeoJSON (plain or gzipped) -> ``boundaries``.

The level comes from the properties' names (LSOA21CD -> lsoa21, LAD24CD -> lad, lsoa11_code ->
lsoa11, icb22_code -> icb ...) or, failing that, from the codes' prefix (E01 -> lsoa, E54 ->
icb); ``--period LEVEL`` forces it. Geometry is kept as GeoJSON text in WGS84 (RFC 7946); a file
in another coordinate system (e.g. British National Grid eastings/northings) is refused.

Source: https://geoportal.statistics.gov.uk (ONS Open Geography Portal)
"""

from __future__ import annotations

import json
import re

import pandas as pd

from placehealth.sources.base import ReadOptions, ReadResult, reader
from placehealth.sources.generic import LEVELS
from placehealth.sources.validate import InputError, SourceFile, check_unique

PUBLICATION = "ONS, boundaries (GeoJSON)"

_CODE = re.compile(r"^(?P<prefix>[a-z]+?)_?(?P<year>\d{2})?_?(cd|code)$")
_NAME = re.compile(r"^(?P<prefix>[a-z]+?)_?(?P<year>\d{2})?_?(nm|name)$")
_LEVELS = {"lsoa": "lsoa", "msoa": "msoa", "lad": "lad", "ltla": "lad", "utla": "utla",
           "icb": "icb", "sicbl": "sub_icb", "wd": "ward", "ward": "ward", "rgn": "region",
           "region": "region", "ctry": "country", "pcon": "pcon", "ccg": "ccg", "oa": "oa"}
_GEOMETRIES = {"Polygon", "MultiPolygon", "Point", "MultiPoint", "LineString",
               "MultiLineString"}


def _detect(source: SourceFile) -> bool:
    head = source.text[:400].lstrip()
    return head.startswith("{") and '"Feature' in source.text[:4000]


def _level(prefix: str, year: str | None) -> str:
    level = _LEVELS.get(prefix, prefix)
    return f"{level}{year}" if level in ("lsoa", "msoa", "oa") and year else level


@reader(
    "boundaries",
    PUBLICATION + ": LSOA, MSOA, LAD, ICB ... polygons",
    _detect,
    example="placehealth ingest LSOA21_boundaries.geojson.gz",
)
def read_boundaries(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Each feature's code, name and geometry; the level from property names or codes."""
    try:
        data = json.loads(source.text)
    except json.JSONDecodeError as exc:
        raise InputError(source.name, f"not valid GeoJSON ({exc.msg})", line=exc.lineno,
                         hint="the file may be truncated; download it again") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise InputError(source.name, "not a GeoJSON FeatureCollection", field="type")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise InputError(source.name, "the FeatureCollection has no features", field="features")
    properties = features[0].get("properties") or {}
    code_key, name_key, level = _keys(properties, options, source)
    rows = []
    for number, feature in enumerate(features, 1):
        where = f"feature {number}"
        props = feature.get("properties") or {}
        geometry = feature.get("geometry")
        code = str(props.get(code_key, "")).strip()
        if not code:
            raise InputError(source.name, f"{where} has no {code_key}", field=code_key)
        if not isinstance(geometry, dict) or geometry.get("type") not in _GEOMETRIES \
                or not geometry.get("coordinates"):
            raise InputError(source.name, f"{where} ({code}) has no valid geometry",
                             field="geometry")
        _check_wgs84(geometry, source, where, code)
        name = props.get(name_key) if name_key else None
        rows.append((level, code, None if name in (None, "") else str(name),
                     json.dumps(geometry, separators=(",", ":"))))
    out = pd.DataFrame(rows, columns=["level", "area_code", "area_name", "geometry"])
    out.index = pd.RangeIndex(1, len(out) + 1)
    out.attrs["source"] = f"{source.name} (feature numbers)"
    check_unique(out, ["area_code"], "area")
    if level == "lsoa":  # vintage unknown from the properties: tell by the codes
        level = "lsoa21" if (out["area_code"] > "E01033768").any() else "lsoa11"
        out["level"] = level
    return ReadResult("boundaries", PUBLICATION, level, {"boundaries": out.reset_index(drop=True)})


def _keys(properties: dict, options: ReadOptions, source: SourceFile
          ) -> tuple[str, str | None, str]:
    code_key = options.mapping.get("area_code")
    name_key = options.mapping.get("area_name")
    level = options.period.strip() if options.period else None
    if code_key is None:
        for key in properties:
            if m := _CODE.match(key.lower()):
                code_key = key
                level = level or _level(m.group("prefix"), m.group("year"))
                break
    if code_key is None or code_key not in properties:
        raise InputError(source.name, f"no area code property (found: {', '.join(properties)})",
                         field="properties",
                         hint="name it with --map area_code=PROPERTY (and --period LEVEL)")
    if name_key is None:
        name_key = next((k for k in properties if _NAME.match(k.lower())), None)
    if level is None:
        prefix = str(properties[code_key])[:3]
        level = LEVELS.get(prefix)
        if level is None:
            raise InputError(source.name, f"cannot tell the level of code {properties[code_key]!r}",
                             field=code_key, hint="pass --period LEVEL (e.g. lsoa21)")
    return code_key, name_key, level


def _check_wgs84(geometry: dict, source: SourceFile, where: str, code: str) -> None:
    coords = geometry["coordinates"]
    while isinstance(coords, list) and coords and isinstance(coords[0], list):
        coords = coords[0]
    if not (isinstance(coords, list) and len(coords) >= 2
            and all(isinstance(v, int | float) for v in coords[:2])):
        raise InputError(source.name, f"{where} ({code}) has malformed coordinates",
                         field="geometry")
    lon, lat = coords[0], coords[1]
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InputError(source.name, f"{where} ({code}) is not in WGS84 longitude/latitude "
                         f"(first point {lon}, {lat})", field="geometry",
                         hint="reproject to EPSG:4326, e.g. ogr2ogr -t_srs EPSG:4326")


__all__ = ["read_boundaries"]
