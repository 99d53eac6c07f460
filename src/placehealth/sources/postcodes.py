"""Postcode lookups: where a postcode is (a National Grid point) and which LSOA it lies in.

Readers (``--as`` kind, all writing the ``postcodes`` table, one edition per file):

- ``postcodes``: any headed layout, columns found by their published names: the ONS Postcode
  Directory and National Statistics Postcode Lookup (``pcds``, ``oseast1m``, ``osnrth1m``,
  ``lat``, ``long``, ``lsoa21``/``lsoa21cd``, ``lsoa11``, ``oslaua``, ``osgrdind``, ``doterm``),
  the ONS postcode to OA/LSOA/MSOA/LAD best-fit lookups (``pcds``, ``lsoa21cd``, ``ladcd``; no
  coordinates), and headed copies of OS Code-Point Open (``postcode``, ``positional_quality``,
  ``easting``, ``northing``, ``admin_district_code``);
- ``codepoint-open``: OS Code-Point Open as published, one headerless CSV per postcode area
  with ten columns (Postcode, Positional_quality_indicator, Eastings, Northings, Country_code,
  NHS_regional_HA_code, NHS_HA_code, Admin_county_code, Admin_district_code, Admin_ward_code;
  OS *Code-Point Open user guide and technical specification*, v3, 2023).

The edition is the product and release: ``onspd-2025-02``, ``codepoint-2025-10``, taken from
``--period`` or a date in the file name (``2025-10`` or ONSPD's ``FEB_2025``). A postcode is
stored in the ``pcds`` form: the outward code, one space, the three-character inward code.
:func:`locate` resolves postcodes against one or more lookup frames (newest edition first).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from placehealth.sources.base import ReadOptions, ReadResult, reader
from placehealth.sources.grid import on_grid, to_grid
from placehealth.sources.validate import (
    LAD,
    LSOA,
    InputError,
    SourceFile,
    check_codes,
    check_unique,
    null_if_blank,
    read_table,
    resolve_columns,
    to_numbers,
)

#: A UK postcode without its space: outward code (area, district) then inward code (sector, unit).
POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")

PUBLICATION = "Postcode lookup (ONS Postcode Directory, NSPL, ONS postcode-LSOA lookups)"
PUBLICATION_CODEPOINT = "OS Code-Point Open (postcode unit points, OS OpenData)"

#: A function answering "where are these postcodes?" with :data:`LOCATED_COLUMNS`, one row per
#: postcode found (pcds form); postcodes it does not know are simply absent.
Lookup = Callable[[Sequence[str]], pd.DataFrame]
LOCATED_COLUMNS = ["postcode", "easting", "northing", "lsoa21_code", "lsoa11_code", "lad_code"]

_COLUMNS = {
    "postcode": ["pcds", "pcd", "pcd2", "pcd7", "pcd8", "postcode", "Postcode", "PCD"],
    "easting": ["oseast1m", "easting", "eastings", "x"],
    "northing": ["osnrth1m", "northing", "northings", "y"],
    "latitude": ["lat", "latitude"],
    "longitude": ["long", "longitude", "lon", "lng"],
    "lsoa21_code": ["lsoa21", "lsoa21cd", "lsoa21_code", "lsoa21code"],
    "lsoa11_code": ["lsoa11", "lsoa11cd", "lsoa11_code", "lsoa11code"],
    "lad_code": ["oslaua", "ladcd", "lad", "lad_code", "lad25cd", "lad24cd", "lad23cd",
                 "lad22cd", "lad21cd", "admin_district_code"],
    "positional_quality": ["osgrdind", "positional_quality", "positional_quality_indicator"],
    "terminated": ["doterm"],
}
CODEPOINT_COLUMNS = ["postcode", "positional_quality", "easting", "northing", "country_code",
                     "nhs_regional_ha_code", "nhs_ha_code", "admin_county_code",
                     "admin_district_code", "admin_ward_code"]


def name_key(name: str) -> str:
    """A column name compared without case, spaces, hyphens or underscores."""
    return re.sub(r"[\s_\-]+", "", str(name).replace("\ufeff", "")).lower()


_MONTHS = {m: i for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG",
                                       "SEP", "OCT", "NOV", "DEC"], 1)}


def normalise_postcodes(values: pd.Series) -> pd.Series:
    """Postcodes in the ``pcds`` form ('st41aa', 'ST4  1AA' -> 'ST4 1AA'); None where the text
    is blank or not shaped like a UK postcode."""
    compact = values.astype("string").str.upper().str.replace(r"\s+", "", regex=True)
    valid = compact.str.fullmatch(POSTCODE.pattern).fillna(False).astype(bool)
    pcds = compact.str[:-3] + " " + compact.str[-3:]
    return pcds.astype(object).where(valid.to_numpy(), None)


def _edition(product: str, source: SourceFile, options: ReadOptions) -> tuple[str, str]:
    """(edition, period): the release from --period or the file name."""
    if options.period:
        text = options.period.strip()
        if not re.fullmatch(r"\d{4}(-\d{2})?", text):
            raise InputError(source.name, f"--period {text!r} is not a release (expected YYYY-MM)")
        return f"{product}-{text}", text
    if m := re.search(r"(20\d\d)[-_](\d\d)(?!\d)", source.name):
        period = f"{m.group(1)}-{m.group(2)}"
    elif (m := re.search(r"(?i)(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)[_-]?(20\d\d)",
                         source.name)):
        period = f"{m.group(2)}-{_MONTHS[m.group(1).upper()]:02d}"
    else:
        raise InputError(source.name, "no release date (YYYY-MM) in the file name", line=1,
                         hint="pass --period YYYY-MM (the lookup's release)")
    return f"{product}-{period}", period


def _lookup_frame(frame: pd.DataFrame, source: SourceFile) -> pd.DataFrame:
    """Validate resolved columns and build the canonical ``postcodes`` rows (without edition)."""
    name = source.name
    pcds = normalise_postcodes(frame["postcode"])
    bad = pcds.isna()
    if bad.any():
        line = int(bad[bad].index[0])
        raise InputError(name, f"postcode {frame.loc[line, 'postcode']!r} is not a UK postcode",
                         line=line, field="postcode")
    out = pd.DataFrame({"postcode": pcds}, index=frame.index)
    for column in ("easting", "northing", "latitude", "longitude"):
        out[column] = to_numbers(frame, column) if column in frame else np.nan
    # Code-Point and the ONSPD mark postcodes without a grid reference with 0/0 (and lat 99.99).
    no_grid = (out["easting"] == 0) & (out["northing"] == 0)
    out.loc[no_grid, ["easting", "northing"]] = np.nan
    no_latlon = out["latitude"].abs() > 90
    out.loc[no_latlon, ["latitude", "longitude"]] = np.nan
    has_grid = out["easting"].notna() & out["northing"].notna()
    off = has_grid & ~on_grid(out["easting"], out["northing"])
    if off.any():
        line = int(off[off].index[0])
        raise InputError(name, f"point {out.loc[line, 'easting']}, {out.loc[line, 'northing']} "
                         "is not on the British National Grid (metres east, north)",
                         line=line, field="easting")
    derive = ~has_grid & out["latitude"].notna()
    if derive.any():
        e, n = to_grid(out.loc[derive, "latitude"], out.loc[derive, "longitude"])
        out.loc[derive, "easting"], out.loc[derive, "northing"] = e, n
    for column, pattern in (("lsoa21_code", LSOA), ("lsoa11_code", LSOA), ("lad_code", LAD)):
        if column in frame:
            values = null_if_blank(frame[column])
            present = pd.DataFrame({column: values[values.notna()]})
            present.attrs["source"] = name
            check_codes(present, column, pattern, column.split("_")[0].upper())
            out[column] = values
        else:
            out[column] = None
    for column in ("positional_quality", "terminated"):
        out[column] = null_if_blank(frame[column]) if column in frame else None
    if out["easting"].isna().all() and out["lsoa21_code"].isna().all() and (
            out["lsoa11_code"].isna().all()):
        raise InputError(name, "the lookup gives neither a point nor an LSOA for any postcode",
                         line=1, hint="a postcode lookup needs eastings/northings, lat/long or "
                         "an LSOA column (name it with --map)")
    out.attrs["source"] = name
    check_unique(out, ["postcode"], "postcode")
    return out


def _result(kind: str, publication: str, product: str, frame: pd.DataFrame, source: SourceFile,
            options: ReadOptions) -> ReadResult:
    edition, period = _edition(product, source, options)
    rows = _lookup_frame(frame, source)
    rows.insert(0, "edition", edition)
    located = int(rows["easting"].notna().sum())
    if located < len(rows):
        source.warn(f"{len(rows) - located:,} postcodes have no grid reference")
    return ReadResult(kind, publication, period, {"postcodes": rows.reset_index(drop=True)})


# ------------------------------------------------------------------------------ headed layouts
def _detect_lookup(source: SourceFile) -> bool:
    keys = {name_key(h) for h in source.header()}
    has_postcode = bool(keys & {name_key(n) for n in ("pcds", "pcd", "pcd7", "pcd8", "postcode")})
    has_place = bool(keys & {"oseast1m", "easting", "lsoa21", "lsoa21cd", "lsoa11", "lsoa11cd"})
    # a partner register also has a postcode column, but it names its partners
    named = bool(keys & {"name", "partnername", "venue", "organisationname"})
    return has_postcode and has_place and not named


@reader("postcodes", PUBLICATION, _detect_lookup,
        example="placehealth ingest ONSPD_FEB_2025_UK.csv")
def read_lookup(source: SourceFile, options: ReadOptions) -> ReadResult:
    """ONSPD, NSPL, ONS postcode-LSOA lookups or headed Code-Point Open -> ``postcodes``."""
    raw = read_table(source)
    frame = resolve_columns(raw, _COLUMNS, mapping=options.mapping,
                            optional=[c for c in _COLUMNS if c != "postcode"],
                            layout="a postcode lookup")
    keys = {name_key(h) for h in raw.columns}
    product = ("onspd" if "oseast1m" in keys
               else "codepoint" if {"positionalquality", "admindistrictcode"} <= keys
               else "lookup")
    return _result("postcodes", PUBLICATION, product, frame, source, options)


# ---------------------------------------------------------------- Code-Point Open as published
def _detect_codepoint(source: SourceFile) -> bool:
    header = source.header()
    return (len(header) == len(CODEPOINT_COLUMNS) and bool(header)
            and POSTCODE.match(header[0].upper().replace(" ", "")) is not None
            and header[2].isdigit() and header[3].isdigit())


@reader("codepoint-open", PUBLICATION_CODEPOINT, _detect_codepoint,
        example="placehealth ingest --period 2025-10 codepo_gb/Data/CSV/st.csv")
def read_codepoint(source: SourceFile, options: ReadOptions) -> ReadResult:
    """OS Code-Point Open's headerless area files -> ``postcodes`` (no LSOA: the product has
    none; its admin_district_code is the local authority)."""
    raw = read_table(source, header=False, columns=CODEPOINT_COLUMNS)
    raw.attrs["source"] = source.name
    if raw.shape[1] != len(CODEPOINT_COLUMNS):
        raise InputError(source.name, f"{raw.shape[1]} columns; Code-Point Open has "
                         f"{len(CODEPOINT_COLUMNS)}", line=1)
    frame = resolve_columns(raw, {"postcode": ["postcode"], "easting": ["easting"],
                                  "northing": ["northing"],
                                  "lad_code": ["admin_district_code"],
                                  "positional_quality": ["positional_quality"]},
                            layout="Code-Point Open")
    return _result("codepoint-open", PUBLICATION_CODEPOINT, "codepoint", frame, source, options)


# --------------------------------------------------------------------------------- resolving
def locate(postcodes: Sequence[str], lookups: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Where each known postcode is, from ``postcodes``-table frames: for each column the value
    of the newest edition that has one (a point from Code-Point, an LSOA from the ONSPD, ...).

    Returns :data:`LOCATED_COLUMNS`, one row per postcode found, in the ``pcds`` form;
    ``attrs["lookups"]`` says how many lookups were consulted (0: none is loaded).
    """
    wanted = set(normalise_postcodes(pd.Series(list(postcodes), dtype=object)).dropna())
    parts = [f[f["postcode"].isin(wanted)] for f in lookups if len(f)]
    if not parts or not wanted:
        empty = pd.DataFrame(columns=LOCATED_COLUMNS)
        empty.attrs["lookups"] = len(lookups)
        return empty
    rows = pd.concat(parts, ignore_index=True)
    if "edition" in rows:
        rows = rows.sort_values("edition", ascending=False, kind="stable")
    for column in LOCATED_COLUMNS:
        if column not in rows:
            rows[column] = None
    # first() per group skips missing values column by column: newest value of each column
    best = rows[LOCATED_COLUMNS].groupby("postcode", sort=False).first().reset_index()
    best = best[LOCATED_COLUMNS]
    best.attrs["lookups"] = len(lookups)
    return best


__all__ = ["CODEPOINT_COLUMNS", "LOCATED_COLUMNS", "POSTCODE", "Lookup", "locate", "name_key",
           "normalise_postcodes", "read_codepoint", "read_lookup"]
