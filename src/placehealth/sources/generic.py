"""Generic attribute tables for files that have no official reader.

- ``--as lsoa-attributes``: one row per LSOA; every numeric column becomes an ``lsoa_attributes``
  row (attribute = the column name in snake case);
- ``--as practice-attributes``: the same per practice (``practice_attributes``);
- ``--as area-attributes``: the same per area of any other level (``area_attributes``), the level
  read from the code's prefix (E54 -> icb, E06/E08/E09/E10 -> utla, ...). Auto-detected for
  ``Date, AreaCode, ...`` time series such as the COVID-19 cases file.

``--map lsoa_code=COL`` (or ``practice_code=``, ``area_code=``) names the code column,
``--map period=COL`` a column holding each row's period, and ``--period P`` the period of the
whole file. Non-numeric columns are skipped and named in a warning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from placehealth.sources.base import ReadOptions, ReadResult, reader
from placehealth.sources.validate import (
    LSOA,
    PRACTICE,
    InputError,
    SourceFile,
    check_codes,
    check_unique,
    column_key,
    null_if_blank,
    read_table,
    resolve_columns,
    to_numbers,
)

PUBLICATION = "Generic attribute table (user-described layout)"

_MISSING = {"", "nan", "none", "na", "n/a", "*", "c", "x", "z", "-", ".."}


def _missing(text: pd.Series) -> pd.Series:
    """Markers of a missing or suppressed value (blank, NaN, *, c, x, z, -, ..)."""
    return text.str.lower().isin(_MISSING)

LSOA_COLUMNS = ["lsoa_code", "LSOA_CODE", "lsoa11cd", "lsoa21cd", "lsoa11_code", "lsoa21_code",
                "LSOA code (2011)", "LSOA code (2021)", "LSOA 2021 Code", "LSOA 2011 Code"]
PRACTICE_COLUMNS = ["practice_code", "PRACTICE_CODE", "PRAC_CODE", "ODS_Code", "ORG_CODE",
                    "PCode", "CODE"]
AREA_COLUMNS = ["area_code", "AreaCode", "Area Code", "geography code", "icb24_code",
                "ltla24_code", "msoa11cd", "msoa21cd"]
PERIOD_COLUMNS = ["period", "Date", "date", "Year"]

#: ONS code prefixes -> area level (GSS code register).
LEVELS = {
    "E01": "lsoa", "W01": "lsoa", "E02": "msoa", "W02": "msoa", "E05": "ward", "W05": "ward",
    "E06": "utla", "E08": "utla", "E09": "utla", "E10": "utla", "E07": "lad", "W06": "utla",
    "E11": "metropolitan_county", "E12": "region", "E14": "pcon", "E38": "sub_icb",
    "E54": "icb", "E40": "nhs_region", "E92": "country", "W92": "country", "S92": "country",
    "S08": "health_board", "W11": "health_board", "N09": "lgd", "S12": "council_area",
    "E13": "inner_outer_london",
}


def attribute_name(column: str) -> str:
    """A stable attribute name: lower snake case ('TotalCases' -> 'total_cases'), '%' -> 'pct'."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", column.strip()).lower().replace("%", "_pct")
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def numeric_columns(frame: pd.DataFrame, exclude: Iterable[str]) -> tuple[list[str], list[str]]:
    """Columns whose every value is a number or a missing marker, and those that are not."""
    numeric, other = [], []
    for column in frame.columns:
        if column in set(exclude):
            continue
        text = frame[column].astype(str).str.strip().str.replace(",", "", regex=False)
        present = text[~_missing(text)]
        parsed = pd.to_numeric(present, errors="coerce")
        (numeric if len(present) and parsed.notna().all() else other).append(column)
    return numeric, other


def melt_attributes(
    frame: pd.DataFrame, id_columns: list[str], columns: list[str],
    names: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Long rows (ids..., attribute, value) of numeric ``columns``; values parsed with checks."""
    names = names or {}
    parts = []
    for column in columns:
        part = frame[id_columns].copy()
        part["attribute"] = names.get(column, attribute_name(column))
        text = frame[column].astype(str).str.strip()
        clean = frame.assign(**{column: text.where(~_missing(text), "")})
        part["value"] = to_numbers(clean, column).values
        parts.append(part)
    if not parts:
        raise InputError(frame.attrs.get("source", "input"), "no numeric columns to store",
                         line=1, hint="attribute tables keep numeric columns only")
    return pd.concat(parts, ignore_index=True)


def _period_column(frame: pd.DataFrame, options: ReadOptions, source: SourceFile,
                   raw: pd.DataFrame) -> pd.Series:
    if options.period:
        return pd.Series(options.period.strip(), index=frame.index)
    if "period" in frame:
        period = null_if_blank(frame["period"])
        if period.isna().any():
            line = int(period.index[period.isna()][0])
            raise InputError(source.name, "period is blank", line=line, field="period")
        return period.astype(str)
    raise InputError(source.name, "no period: the file does not say which period it holds",
                     line=1, hint="pass --period P (e.g. --period 2023-01) or "
                     "--map period=COLUMN")


def _read_attributes(source: SourceFile, options: ReadOptions, *, code: str,
                     candidates: list[str], pattern: re.Pattern[str] | None, what: str,
                     table: str, kind: str) -> ReadResult:
    raw = read_table(source)
    wanted = {code: candidates, "period": PERIOD_COLUMNS, "area_name": ["Area", "area_name"]}
    optional = ["period"] + (["area_name"] if table == "area_attributes" else [])
    if table != "area_attributes":
        wanted.pop("area_name")
    frame = resolve_columns(raw, wanted, mapping=options.mapping, optional=optional,
                            layout=kind)
    used = source_names(raw, wanted, options.mapping)
    frame[code] = frame[code].astype(str).str.strip()
    dropped = 0
    if table == "area_attributes":
        blank = _missing(frame[code])
        dropped = int(blank.sum())
        frame = frame[~blank]
        raw = raw.loc[frame.index]
    if pattern is not None:
        check_codes(frame, code, pattern, what)
    frame["period"] = _period_column(frame, options, source, raw).values
    ids = ["period", code]
    if table == "area_attributes":
        frame["level"] = _levels(frame[code], source)
        frame["area_name"] = null_if_blank(frame["area_name"]) if "area_name" in frame else None
        ids = ["period", "level", code, "area_name"]
    check_unique(frame, ids[:3] if table == "area_attributes" else ids, what)
    numeric, other = numeric_columns(raw, used)
    if not numeric and other:  # name the first value that is not a number
        to_numbers(raw.assign(**{c: raw[c].where(~_missing(raw[c].astype(str).str.strip()), "")
                                 for c in other}), other[-1])
    body = pd.concat([frame[ids], raw[numeric]], axis=1)
    body.attrs["source"] = source.name
    out = melt_attributes(body, ids, numeric)
    if other:
        source.warn(f"non-numeric columns skipped: {', '.join(other)}")
    if dropped:
        source.warn(f"{dropped} rows without an area code skipped")
    periods = sorted(out["period"].unique())
    period = periods[0] if len(periods) == 1 else f"{periods[0]}..{periods[-1]}"
    return ReadResult(kind, PUBLICATION, period, {table: out})


def source_names(raw: pd.DataFrame, wanted: dict[str, list[str]],
                 mapping: dict[str, str] | None = None) -> set[str]:
    """The source columns that ``resolve_columns`` takes for ``wanted`` (to exclude them)."""
    mapping = dict(mapping or {})
    by_key = {column_key(c): c for c in raw.columns}
    used = set()
    for canonical, names in wanted.items():
        candidates = [mapping[canonical]] if canonical in mapping else names
        found = next((by_key[column_key(n)] for n in candidates if column_key(n) in by_key), None)
        if found is not None:
            used.add(found)
    return used


def _levels(codes: pd.Series, source: SourceFile) -> pd.Series:
    level = codes.str[:3].map(LEVELS)
    if level.isna().any():
        line = int(level.index[level.isna()][0])
        raise InputError(source.name, f"area code {codes[line]!r} has no known level "
                         f"(known prefixes: {', '.join(sorted(LEVELS))})", line=line,
                         field="area_code")
    return level


@reader("lsoa-attributes", PUBLICATION + ": numeric columns by LSOA", lambda s: False,
        example="placehealth ingest my_lsoa_data.csv --as lsoa-attributes --period 2024 "
        "--map lsoa_code=LSOA21CD")
def read_lsoa_attributes(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Numeric columns of a by-LSOA file as ``lsoa_attributes`` rows."""
    return _read_attributes(source, options, code="lsoa_code", candidates=LSOA_COLUMNS,
                            pattern=LSOA, what="LSOA", table="lsoa_attributes",
                            kind="lsoa-attributes")


@reader("practice-attributes", PUBLICATION + ": numeric columns by practice", lambda s: False,
        example="placehealth ingest practice_imd.csv --as practice-attributes --period 2023-01")
def read_practice_attributes(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Numeric columns of a by-practice file as ``practice_attributes`` rows."""
    return _read_attributes(source, options, code="practice_code", candidates=PRACTICE_COLUMNS,
                            pattern=PRACTICE, what="practice", table="practice_attributes",
                            kind="practice-attributes")


def _area_detect(source: SourceFile) -> bool:
    header = {h.lower() for h in source.header()}
    return "areacode" in header and bool(header & {"date", "period"})


@reader("area-attributes", PUBLICATION + ": numeric columns by area (LA, ICB, MSOA, ...)",
        _area_detect,
        example="placehealth ingest covid-19-cases-uk.csv  (Date, AreaCode, Area, TotalCases)")
def read_area_attributes(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Numeric columns of a by-area file as ``area_attributes`` rows (level from the code)."""
    return _read_attributes(source, options, code="area_code", candidates=AREA_COLUMNS,
                            pattern=None, what="area", table="area_attributes",
                            kind="area-attributes")


__all__ = ["LEVELS", "attribute_name", "melt_attributes", "numeric_columns", "source_names"]
