"""ONS geography lookups (and the House of Commons Library's), read by their column names.

- LSOA -> area lookups (official names such as LSOA21CD, WD24CD, LAD24NM, SICBL24CDH, RUC21CD, or
  the snake-case names of the copies in ../shared/data such as lsoa21_code, ward24_name,
  sicbl24_code_nhs) -> ``geography_lookup``: one row per LSOA, level and edition; the level comes
  from the column's prefix (msoa, ward, lad, sub_icb, icb, ccg, stp, region, pcon, ruc, ...), the
  edition from its two-digit year (WD24CD -> '2024'); ODS codes (``CDH``/``_code_h``/
  ``_code_nhs``) become levels ``sub_icb_ods``/``icb_ods``/...;
- the output-area lookup (OA11 -> LSOA11 -> MSOA11 -> LAD17 -> region, with the 2011 area
  classification) is deduplicated to one row per LSOA (Scottish data zones are skipped);
- LSOA 2011 -> LSOA 2021 (with CHGIND / change_code U, S, M, X) -> ``lsoa_changes``;
- area -> area lookups without LSOAs (LAD -> region, MSOA11 -> MSOA21) -> ``area_lookup``;
- MSOA names (House of Commons Library) -> ``area_names``;
- LSOA label points -> ``lsoa_attributes`` (longitude, latitude); MSOA population-weighted
  centroids -> ``area_attributes``.

Source: https://geoportal.statistics.gov.uk (ONS Open Geography Portal)
"""

from __future__ import annotations

import re

import pandas as pd

from placehealth.sources.base import ReadOptions, ReadResult, reader
from placehealth.sources.generic import melt_attributes
from placehealth.sources.registrations import lsoa_vintage
from placehealth.sources.validate import (
    LSOA,
    ONS_CODE,
    InputError,
    SourceFile,
    check_codes,
    check_unique,
    null_if_blank,
    read_table,
)

PUBLICATION = "ONS, geography lookups"

#: Column-name prefixes -> geography_lookup level.
PREFIXES = {
    "msoa": "msoa", "ward": "ward", "wd": "ward", "lad": "lad", "ltla": "lad", "utla": "utla",
    "sicbl": "sub_icb", "icb": "icb", "ccg": "ccg", "stp": "stp", "rgn": "region",
    "region": "region", "pcon": "pcon", "ruc": "ruc", "ctry": "country", "cal": "cancer_alliance",
    "soac": "lsoa_oac", "lac": "la_classification", "cty": "county",
}
_COLUMN = re.compile(
    r"^(?P<prefix>[a-z]+?)_?(?P<year>\d{2})?_?(?P<what>cd|nm|nmw|cdh|code|name|code_h|code_nhs)$")
_LSOA_COLUMN = re.compile(r"^lsoa_?(\d{2})?_?(cd|code)$")


def _parse(column: str) -> tuple[str, str | None, str] | None:
    """'WD24CD' -> ('ward', '2024', 'code'); 'sicbl24_code_nhs' -> ('sub_icb', '2024', 'ods')."""
    m = _COLUMN.match(column.strip().lower())
    if not m or m.group("prefix") not in PREFIXES:
        return None
    what = m.group("what")
    role = {"cd": "code", "code": "code", "nm": "name", "name": "name", "cdh": "ods",
            "code_h": "ods", "code_nhs": "ods"}.get(what)
    if role is None:
        return None
    year = m.group("year")
    return PREFIXES[m.group("prefix")], f"20{year}" if year else None, role


def _lsoa_columns(header: list[str]) -> list[str]:
    return [h for h in header if _LSOA_COLUMN.match(h.strip().lower())]


def _detect_geography(source: SourceFile) -> bool:
    header = source.header()
    lsoas = _lsoa_columns(header)
    parsed = [p for h in header if (p := _parse(h)) and p[2] in ("code", "ods")]
    return len(lsoas) >= 1 and bool(parsed) and not _is_change_lookup(header)


def _is_change_lookup(header: list[str]) -> bool:
    lower = {h.lower() for h in header}
    return bool(lower & {"chgind", "change_code"}) and len(_lsoa_columns(header)) >= 2


@reader(
    "geography-lookup",
    PUBLICATION + ": LSOA -> MSOA, ward, LAD, Sub-ICB, ICB, region, rural-urban class",
    _detect_geography,
    example="placehealth ingest LSOA21_WD24_LAD24_EW_LU.csv",
)
def read_geography(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Which area of each level and edition every LSOA lies in, long."""
    raw = read_table(source)
    lsoa_column = options.mapping.get("lsoa_code") or _lsoa_columns(list(raw.columns))[0]
    if lsoa_column not in raw:
        raise InputError(source.name, f"no column {lsoa_column!r}", line=1, field=lsoa_column)
    frame = pd.DataFrame({"lsoa_code": raw[lsoa_column].astype(str).str.strip()}, index=raw.index)
    frame.attrs.update(raw.attrs)
    scottish = frame["lsoa_code"].str.startswith("S01")
    if scottish.any():
        source.warn(f"{int(scottish.sum())} rows for Scottish data zones skipped")
        frame, raw = frame[~scottish], raw[~scottish]
    check_codes(frame, "lsoa_code", LSOA, "LSOA")
    year = _LSOA_COLUMN.match(lsoa_column.lower()).group(1)
    vintage = int(f"20{year}") if year else lsoa_vintage(frame["lsoa_code"], "2021-03")
    levels = _levels(list(raw.columns), options)
    extra = _ruc_flag(raw)
    rows = []
    for (level, edition), cols in levels.items():
        if "code" not in cols:
            continue
        part = pd.DataFrame({
            "lsoa_vintage": vintage, "lsoa_code": frame["lsoa_code"], "level": level,
            "edition": edition, "area_code": raw[cols["code"]].astype(str).str.strip(),
            "area_name": null_if_blank(raw[cols["name"]]) if "name" in cols else None,
        }, index=frame.index)
        part.attrs.update(raw.attrs)
        if level not in ("ruc", "lsoa_oac", "la_classification"):
            check_codes(part, "area_code", ONS_CODE, level)
        rows.append(part)
        if "ods" in cols:
            ods = part.assign(level=f"{level}_ods",
                              area_code=raw[cols["ods"]].astype(str).str.strip())
            rows.append(ods)
    if extra is not None:
        rows.append(pd.DataFrame({"lsoa_vintage": vintage, "lsoa_code": frame["lsoa_code"],
                                  "level": "urban_rural", "edition": levels_edition(levels),
                                  "area_code": extra, "area_name": extra}, index=frame.index))
    if not rows:
        raise InputError(source.name, "no area code columns next to the LSOA code", line=1,
                         hint="columns are read by name, e.g. WD24CD/WD24NM or ward24_code")
    out = pd.concat(rows)
    out = _deduplicate(out, source)
    tables = {"geography_lookup": out.reset_index(drop=True)}
    deciles = [c for c in raw.columns if c.upper() in ("IMD_INCOME", "IMD_OVERALL")]
    if deciles:  # the HoCL lookup carries IMD 2019 deciles; Welsh rows say 'Wales' instead
        values = raw[deciles].apply(lambda s: s.str.strip())
        welsh = values.eq("Wales")
        if welsh.any().any():
            source.warn(f"{int(welsh.any(axis=1).sum())} Welsh LSOAs have no IMD decile "
                        "('Wales'); stored as missing")
        body = pd.concat([frame.assign(period="IMD2019"), values.mask(welsh, "")], axis=1)
        body.attrs.update(raw.attrs)
        tables["lsoa_attributes"] = melt_attributes(
            body, ["period", "lsoa_code"], deciles,
            {c: f"hocl_{c.lower()}_decile" for c in deciles})
    editions = sorted({e for _, e in levels})
    return ReadResult("geography-lookup", PUBLICATION, ",".join(editions), tables)


def levels_edition(levels: dict[tuple[str, str], dict[str, str]]) -> str:
    return next((e for (lv, e) in levels if lv == "ruc"), next(iter(levels))[1])


def _levels(columns: list[str], options: ReadOptions) -> dict[tuple[str, str], dict[str, str]]:
    """Group area columns by (level, edition): {'code': col, 'name': col, 'ods': col}."""
    levels: dict[tuple[str, str], dict[str, str]] = {}
    for column in columns:
        parsed = _parse(column)
        if parsed is None:
            continue
        level, edition, role = parsed
        edition = edition or (options.period.strip() if options.period else "unstated")
        levels.setdefault((level, edition), {}).setdefault(role, column)
    # shared copies name the rural-urban class 'classification' next to ruc21_code
    for (level, _edition), cols in levels.items():
        if level == "ruc" and "name" not in cols and "classification" in columns:
            cols["name"] = "classification"
        if level == "ruc" and "name" not in cols and "RUC21NM" in columns:
            cols["name"] = "RUC21NM"
    return levels


def _ruc_flag(raw: pd.DataFrame) -> pd.Series | None:
    for column in raw.columns:
        if column.lower() in ("urban_rural_flag", "ruc"):
            return raw[column].astype(str).str.strip()
    return None


def _deduplicate(out: pd.DataFrame, source: SourceFile) -> pd.DataFrame:
    """One row per LSOA, level and edition; an LSOA given two areas of one level is an error."""
    key = ["lsoa_code", "level", "edition"]
    unique = out.drop_duplicates([*key, "area_code"])
    clash = unique.duplicated(key, keep=False)
    if clash.any():
        row = unique[clash].iloc[0]
        lines = unique.index[clash & (unique["lsoa_code"] == row["lsoa_code"])
                             & (unique["level"] == row["level"])]
        raise InputError(source.name, f"LSOA {row['lsoa_code']} lies in two {row['level']} "
                         "areas", line=int(lines[-1]), field=row["level"])
    return unique


_CHANGES = {
    "lsoa11_code": ["LSOA11CD", "lsoa11_code"],
    "lsoa21_code": ["LSOA21CD", "lsoa21_code"],
    "change_code": ["CHGIND", "change_code"],
}


@reader(
    "lsoa-changes",
    PUBLICATION + ": LSOA 2011 -> LSOA 2021 (change codes U, S, M, X)",
    lambda s: _is_change_lookup(s.header()),
    example="placehealth ingest LSOA11_LSOA21_LAD22_EW_LU.csv",
)
def read_changes(source: SourceFile, options: ReadOptions) -> ReadResult:
    """The LSOA 2011 -> 2021 best-fit lookup, plus the LSOA 2021 -> LAD of its edition."""
    raw = read_table(source)
    lower = {c.lower(): c for c in raw.columns}
    cols = {}
    for canonical, names in _CHANGES.items():
        name = options.mapping.get(canonical) or next(
            (lower[n.lower()] for n in names if n.lower() in lower), None)
        if name is None or name not in raw:
            raise InputError(source.name, f"missing column {names[0]!r}", line=1, field=names[0],
                             hint=f"use --map {canonical}=YOUR_COLUMN")
        cols[canonical] = name
    out = pd.DataFrame({k: raw[v].astype(str).str.strip() for k, v in cols.items()})
    out.attrs.update(raw.attrs)
    check_codes(out, "lsoa11_code", LSOA, "LSOA 2011")
    check_codes(out, "lsoa21_code", LSOA, "LSOA 2021")
    out["change_code"] = out["change_code"].str.upper()
    check_codes(out, "change_code", re.compile(r"^[USMX]$"), "change")
    check_unique(out, ["lsoa11_code", "lsoa21_code"], "LSOA 2011 -> 2021 pair")
    tables = {"lsoa_changes": out.reset_index(drop=True)}
    levels = _levels([c for c in raw.columns], options)
    rows = []
    for (level, edition), found in levels.items():
        if "code" in found:
            rows.append(pd.DataFrame({
                "lsoa_vintage": 2021, "lsoa_code": out["lsoa21_code"], "level": level,
                "edition": edition, "area_code": raw[found["code"]].astype(str).str.strip(),
                "area_name": null_if_blank(raw[found["name"]]) if "name" in found else None}))
    if rows:
        tables["geography_lookup"] = _deduplicate(pd.concat(rows), source).reset_index(drop=True)
    return ReadResult("lsoa-changes", PUBLICATION, "2011-2021", tables)


def _area_lookup_columns(header: list[str]) -> list[tuple[str, str | None, str, str]]:
    found = []
    for column in header:
        parsed = _parse(column)
        if parsed:
            found.append((*parsed, column))
    return found


def _detect_area_lookup(source: SourceFile) -> bool:
    header = source.header()
    if _lsoa_columns(header):
        return False
    codes = [p for p in _area_lookup_columns(header) if p[2] == "code"]
    return len({(lv, e) for lv, e, _, _ in codes}) >= 2


@reader(
    "area-lookup",
    PUBLICATION + ": area -> area (LAD -> region, MSOA 2011 -> MSOA 2021)",
    _detect_area_lookup,
    example="placehealth ingest LAD24_RGN24_EN_LU.csv",
)
def read_area_lookup(source: SourceFile, options: ReadOptions) -> ReadResult:
    """The first area column maps to every other (by code), many-to-many where areas changed."""
    raw = read_table(source)
    found = _area_lookup_columns(list(raw.columns))
    groups: dict[tuple[str, str | None], dict[str, str]] = {}
    for level, edition, role, column in found:
        groups.setdefault((level, edition), {}).setdefault(role, column)
    groups = {k: v for k, v in groups.items() if "code" in v}
    (from_level, from_edition), from_cols = next(iter(groups.items()))
    parts = []
    for (level, edition), cols in list(groups.items())[1:]:
        part = pd.DataFrame({
            "edition": edition or from_edition or options.period or "unstated",
            "from_level": f"{from_level}{(from_edition or '')[2:]}",
            "from_code": raw[from_cols["code"]].astype(str).str.strip(),
            "from_name": null_if_blank(raw[from_cols["name"]]) if "name" in from_cols else None,
            "to_level": f"{level}{(edition or '')[2:]}",
            "to_code": raw[cols["code"]].astype(str).str.strip(),
            "to_name": null_if_blank(raw[cols["name"]]) if "name" in cols else None,
        }, index=raw.index)
        part.attrs.update(raw.attrs)
        check_codes(part, "from_code", ONS_CODE, from_level)
        check_codes(part, "to_code", ONS_CODE, level)
        part = part.drop_duplicates(["from_code", "to_code"])
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    return ReadResult("area-lookup", PUBLICATION, ",".join(sorted(set(out["edition"]))),
                      {"area_lookup": out})


_NAMES = {"msoa11nm": "ons", "msoa11nmw": "ons_welsh", "msoa11hclnm": "hocl",
          "msoa11hclnmw": "hocl_welsh", "msoa21nm": "ons", "msoa21nmw": "ons_welsh",
          "msoa21hclnm": "hocl", "msoa21hclnmw": "hocl_welsh"}


@reader(
    "msoa-names",
    "House of Commons Library, MSOA names",
    lambda s: any(h.lower() in ("msoa11hclnm", "msoa21hclnm") for h in s.header()),
    example="placehealth ingest MSOA-Names-2.2.csv",
)
def read_msoa_names(source: SourceFile, options: ReadOptions) -> ReadResult:
    """ONS and friendly (HoCL) MSOA names, English and Welsh -> area_names."""
    raw = read_table(source)
    code = next(c for c in raw.columns if c.lower() in ("msoa11cd", "msoa21cd"))
    level = "msoa11" if "11" in code else "msoa21"
    frame = pd.DataFrame({"area_code": raw[code].astype(str).str.strip()}, index=raw.index)
    frame.attrs.update(raw.attrs)
    check_codes(frame, "area_code", re.compile(r"^[EW]02\d{6}$"), "MSOA")
    check_unique(frame, ["area_code"], "MSOA")
    parts = []
    for column in raw.columns:
        name_type = _NAMES.get(column.lower())
        if name_type:
            part = pd.DataFrame({"level": level, "area_code": frame["area_code"],
                                 "name_type": name_type, "area_name": null_if_blank(raw[column])})
            parts.append(part.dropna(subset=["area_name"]))
    return ReadResult("msoa-names", "House of Commons Library, MSOA names", level,
                      {"area_names": pd.concat(parts, ignore_index=True)})


def _detect_points(source: SourceFile) -> bool:
    header = {h.lower() for h in source.header()}
    return {"longitude", "latitude"} <= header and bool(
        header & {"lsoa11_code", "lsoa21_code", "msoa11cd", "msoa21cd", "lsoa11cd", "lsoa21cd"})


@reader(
    "area-points",
    PUBLICATION + ": LSOA/MSOA centroids or label points (longitude, latitude)",
    _detect_points,
    example="placehealth ingest lsoa11_centroids.csv",
)
def read_points(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Points of LSOAs -> lsoa_attributes, of MSOAs -> area_attributes (period = code vintage)."""
    raw = read_table(source)
    code = next(c for c in raw.columns if c.lower() in (
        "lsoa11_code", "lsoa21_code", "msoa11cd", "msoa21cd", "lsoa11cd", "lsoa21cd"))
    vintage = "2011" if "11" in code else "2021"
    period = options.period.strip() if options.period else vintage
    lon = next(c for c in raw.columns if c.lower() == "longitude")
    lat = next(c for c in raw.columns if c.lower() == "latitude")
    is_lsoa = code.lower().startswith("lsoa")
    id_column = "lsoa_code" if is_lsoa else "area_code"
    frame = pd.DataFrame({id_column: raw[code].astype(str).str.strip()}, index=raw.index)
    frame.attrs.update(raw.attrs)
    check_codes(frame, id_column, LSOA if is_lsoa else re.compile(r"^[EW]02\d{6}$"),
                "LSOA" if is_lsoa else "MSOA")
    twins = frame[id_column].duplicated(keep=False)
    if twins.any():  # a code given two different points: neither can be trusted
        source.warn(f"{int(twins.sum())} rows share a code with different points "
                    f"({', '.join(sorted(set(frame.loc[twins, id_column])))}, lines "
                    f"{', '.join(map(str, frame.index[twins]))}); dropped")
        frame, raw = frame[~twins], raw[~twins]
    body = pd.concat([frame.assign(period=period), raw[[lon, lat]]], axis=1)
    body.attrs.update(raw.attrs)
    names = {lon: "longitude", lat: "latitude"}
    if is_lsoa:
        out = melt_attributes(body, ["period", "lsoa_code"], [lon, lat], names)
        _check_range(out, source)
        return ReadResult("area-points", PUBLICATION, period, {"lsoa_attributes": out})
    name = next((c for c in raw.columns if c.lower() in ("msoa11nm", "msoa21nm")), None)
    body["level"] = f"msoa{vintage[2:]}"
    body["area_name"] = null_if_blank(raw[name]) if name else None
    out = melt_attributes(body, ["period", "level", "area_code", "area_name"], [lon, lat], names)
    _check_range(out, source)
    return ReadResult("area-points", PUBLICATION, period, {"area_attributes": out})


def _check_range(out: pd.DataFrame, source: SourceFile) -> None:
    """Points must lie in or near Great Britain (WGS84 degrees, not eastings/northings)."""
    lon = out.loc[out["attribute"] == "longitude", "value"]
    lat = out.loc[out["attribute"] == "latitude", "value"]
    if not (lon.between(-9, 3).all() and lat.between(49, 61).all()):
        raise InputError(source.name, "longitude/latitude outside Great Britain "
                         "(expected WGS84 degrees)", field="longitude")


__all__ = ["PREFIXES", "read_changes", "read_geography"]
