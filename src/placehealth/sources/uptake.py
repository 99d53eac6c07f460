"""Uptake files: numerator and denominator by practice, PCN or LSOA and period.

The layout modelled is UKHSA's *COVER GP-level annual data* (childhood immunisations) as
republished by West Sussex County Council: ``Year, ODS_Code, Age, Item, Numerator, Denominator``
(practice level) and ``Age, Item, Year, PCN_Code, Numerator, Denominator`` (PCN level). Any
screening, vaccination or health-check file with a period, an area code, an indicator name and
a numerator/denominator reads the same way (``--map`` names renamed columns).

Blank numerators or denominators are suppressed values: they are kept as missing (the row stays,
so the area is known to exist) and counted in a warning. Rows repeated exactly (the West Sussex
file repeats some practices) are kept once with a warning; repeats that disagree are an error.

Source: https://www.gov.uk/government/statistics/cover-of-vaccination-evaluated-rapidly-cover-programme-annual-data
"""

from __future__ import annotations

import re

import pandas as pd

from placehealth.sources.base import ReadOptions, ReadResult, reader
from placehealth.sources.validate import (
    InputError,
    SourceFile,
    check_unique,
    read_columns,
    read_table,
    to_counts,
    to_numbers,
    unit_codes,
    year_period,
)
from placehealth.tables import INT, STRING, table_spec

PUBLICATION = "Uptake (numerator/denominator by area), e.g. UKHSA COVER GP-level annual data"

UPTAKE = table_spec(
    "uptake",
    {"period": STRING, "area_level": STRING, "area_code": STRING, "indicator": STRING,
     "age": STRING, "numerator": INT, "denominator": INT},
    key=("period", "area_level", "area_code", "indicator", "age"),
    partition=("period", "area_level"),
    description="Uptake of a programme (vaccination, screening, health check) by area: "
    "numerator of the denominator (eligible people) reached. area_level is practice, pcn or "
    "lsoa; age is the cohort as published ('12 months', '5 years') or 'all'; suppressed "
    "(blank) counts are null.",
    nullable=("numerator", "denominator"),
)

#: Column names that identify the area, by level, in order of preference (finest first).
AREA_COLUMNS: dict[str, list[str]] = {
    "practice": ["ODS_Code", "PRACTICE_CODE", "Practice code", "GP_CODE", "ORG_CODE"],
    "lsoa": ["LSOA_CODE", "LSOA21CD", "LSOA11CD", "LSOA code"],
    "pcn": ["PCN_Code", "PCN_ODS_CODE", "PCN code"],
}
AREA_PATTERNS = unit_codes("practice", "pcn", "lsoa")

_COLUMNS = {
    "period": ["Year", "Period", "Financial_Year", "FINANCIAL_YEAR"],
    "indicator": ["Item", "Indicator", "Vaccine", "INDICATOR"],
    "age": ["Age", "Cohort", "AGE"],
    "numerator": ["Numerator", "NUMERATOR"],
    "denominator": ["Denominator", "DENOMINATOR"],
}


def _detect(source: SourceFile) -> bool:
    header = {_norm(h) for h in source.header()}
    has_area = any(_norm(n) in header for names in AREA_COLUMNS.values() for n in names)
    has_item = any(_norm(n) in header for n in _COLUMNS["indicator"])
    return has_area and has_item and {"numerator", "denominator"} <= header


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.lower())


def _area(raw: pd.DataFrame, options: ReadOptions) -> tuple[str, str]:
    """(level, source column) of the area code: ``--map area_code=COL`` or the finest found."""
    by_key = {_norm(c): c for c in raw.columns}
    if "area_code" in options.mapping:
        column = options.mapping["area_code"]
        if _norm(column) not in by_key:
            raise InputError(raw.attrs["source"], f"--map area_code={column}: no such column; "
                             f"found: {', '.join(raw.columns)}", line=1, field=column)
        column = by_key[_norm(column)]
        codes = raw[column].astype(str).str.strip()
        for level, pattern in AREA_PATTERNS.items():
            if codes.str.match(pattern).all():
                return level, column
        raise InputError(raw.attrs["source"], "area codes are not all practice (A12345), PCN "
                         "(U12345) or LSOA (E01234567) codes", line=1, field=column)
    for level, names in AREA_COLUMNS.items():
        for name in names:
            if _norm(name) in by_key:
                return level, by_key[_norm(name)]
    raise InputError(raw.attrs["source"], "no area column (ODS_Code, PCN_Code or LSOA_CODE)",
                     line=1, hint="name it with --map area_code=YOUR_COLUMN")


@reader(
    "uptake",
    PUBLICATION,
    _detect,
    example="placehealth ingest cover_practice_uptake.csv",
)
def read_uptake(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Numerator/denominator rows by area, indicator, age cohort and period."""
    raw = read_table(source)
    level, area_column = _area(raw, options)
    frame = read_columns(source, _COLUMNS, mapping=options.mapping, optional=["period", "age"],
                         layout="uptake", raw=raw)
    frame["area_code"] = raw[area_column].astype(str).str.strip().str.upper()
    bad = ~frame["area_code"].str.match(AREA_PATTERNS[level])
    if bad.any():
        line = int(bad[bad].index[0])
        raise InputError(source.name, f"{level} code {frame.loc[line, 'area_code']!r} does not "
                         f"match {AREA_PATTERNS[level].pattern}", line=line, field=area_column)
    if "period" in frame:
        periods = {}
        for text in frame["period"].astype(str).str.strip().unique():
            try:
                periods[text] = year_period(text, file=source.name)
            except InputError:
                line = int(frame.index[frame["period"].astype(str).str.strip() == text][0])
                raise InputError(source.name, f"period {text!r} is not a financial year "
                                 "(e.g. 2019/20)", line=line, field="Year") from None
        period = frame["period"].astype(str).str.strip().map(periods)
    elif options.period:
        period = pd.Series(year_period(options.period, file=source.name), index=frame.index)
    else:
        raise InputError(source.name, "no Year column to tell which period this is", line=1,
                         field="Year", hint="pass --period 2024-25")
    indicator = frame["indicator"].astype(str).str.strip()
    if (indicator == "").any():
        line = int(indicator.index[indicator == ""][0])
        raise InputError(source.name, "blank indicator", line=line, field="Item")
    age = frame["age"].astype(str).str.strip() if "age" in frame else pd.Series("all", index=frame.index)
    out = pd.DataFrame({
        "period": period,
        "area_level": level,
        "area_code": frame["area_code"],
        "indicator": indicator,
        "age": age.where(age != "", "all"),
        "numerator": _counts(frame, "numerator"),
        "denominator": _counts(frame, "denominator"),
    }, index=frame.index)
    over = out["numerator"].notna() & out["denominator"].notna() & (out["numerator"] > out["denominator"])
    if over.any():
        line = int(over[over].index[0])
        raise InputError(source.name, f"numerator {out.loc[line, 'numerator']} exceeds denominator "
                         f"{out.loc[line, 'denominator']}", line=line, field="Numerator")
    out = _drop_repeats(out, source)
    suppressed = int((out["numerator"].isna() | out["denominator"].isna()).sum())
    if suppressed:
        source.warn(f"{suppressed} rows have a suppressed (blank) numerator or denominator; "
                    "kept as missing")
    periods = sorted(out["period"].unique())
    label = periods[0] if len(periods) == 1 else f"{periods[0]}..{periods[-1]}"
    return ReadResult("uptake", PUBLICATION, label, {"uptake": out.reset_index(drop=True)},
                      )


def _counts(frame: pd.DataFrame, column: str) -> pd.Series:
    """Whole counts, blanks allowed; spreadsheet float noise (88.0000000000001) is rounded."""
    numbers = to_numbers(frame, column)
    near = numbers.notna() & ((numbers - numbers.round()).abs() < 1e-6)
    text = frame[column].astype(object).where(~near, numbers.round().astype("Int64").astype(str))
    return to_counts(frame.assign(**{column: text}), column, allow_missing=True)


def _drop_repeats(out: pd.DataFrame, source: SourceFile) -> pd.DataFrame:
    """Identical repeated rows are kept once (with a warning); differing repeats are an error."""
    key = ["period", "area_code", "indicator", "age"]
    exact = out.astype(str).duplicated()
    if exact.any():
        source.warn(f"{int(exact.sum())} rows repeat an earlier row exactly; kept once")
        out = out[~exact]
    check_unique(out, key, "area x indicator x age x period row")
    return out


__all__ = ["UPTAKE", "read_uptake"]
