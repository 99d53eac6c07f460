"""Series: an indicator per unit over many periods, loaded as it is (table ``series_input``).

Two layouts:

- ``series`` (detected by ``unit_code, period, indicator`` with ``numerator, denominator`` or
  ``value``; else forced with ``--as series``): a long CSV of any local indicator, one row per unit and period:
  ``unit_code`` (or ``unit``, ``code``, ``area_code``), ``period``, ``indicator`` (or
  ``--map indicator=COLUMN``), optional ``level`` (else worked out from the codes: practice
  A12345, PCN U12345, LSOA E01..., upper-tier council E06/E08/E09/E10...), and either
  ``numerator`` with ``denominator`` (the value is then numerator / denominator x 100) or
  ``value`` (or all three).
- ``cover-quarterly``: UKHSA COVER quarterly coverage by upper-tier local authority in long
  form (``financial_year, quarter, cohort, utla_ons_code, ..., vaccine_std, coverage_pct,
  denominator``). Financial-year quarters become calendar quarters (2014/15 Q1 = April-June
  2014 = ``2014Q2``); the indicator is ``cover_{vaccine}_{cohort}``; the numerator is
  coverage x denominator / 100 rounded to whole children (the tables publish the percentage).
  Figures the tables mark as unpublished (N/A, *, -, a band) are left out (counted in a warning). Source:
  https://www.gov.uk/government/collections/vaccine-uptake#cover-of-vaccination-evaluated-rapidly

Periods are written one way per indicator: months ``YYYY-MM``, calendar quarters ``YYYYQn``,
financial years ``YYYY-YY`` or years ``YYYY`` (dates become their month).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from placehealth.sources.base import ReadOptions, ReadResult, has_columns, reader
from placehealth.sources.validate import (
    InputError,
    SourceFile,
    check_unique,
    read_columns,
    read_table,
    to_numbers,
    unit_codes,
)

PUBLICATION = "A local indicator's series (long CSV: unit, period, numerator and denominator, or value)"
COVER = "UKHSA COVER quarterly vaccination coverage by upper-tier local authority (long form)"

#: Code patterns, first match wins (a PCN's U12345 also looks like a practice code), for telling a unit's level when the file does not say.
LEVEL_PATTERNS = unit_codes("pcn", "practice", "lsoa", "utla")
_QUARTER = re.compile(r"^(\d{4})\s*[-/ ]?\s*Q([1-4])$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-\d{2})?$")
_YEAR = re.compile(r"^(\d{4})$")
_FINANCIAL = re.compile(r"^(\d{4})\s*[-/]\s*(\d{2})$")


def series_period(text: str) -> tuple[str, str]:
    """(canonical period, its kind) for a period as written; ValueError when unreadable."""
    value = str(text).strip()
    if m := _QUARTER.match(value):
        return f"{m.group(1)}Q{m.group(2)}", "quarter"
    if (m := _FINANCIAL.match(value)) and (int(m.group(1)) + 1) % 100 == int(m.group(2)):
        return f"{m.group(1)}-{m.group(2)}", "financial year"
    if (m := _MONTH.match(value)) and 1 <= int(m.group(2)) <= 12:
        return f"{m.group(1)}-{m.group(2)}", "month"
    if _YEAR.match(value):
        return value, "year"
    date = pd.to_datetime(value, errors="coerce", dayfirst=True)
    if pd.notna(date):
        return f"{date.year}-{date.month:02d}", "month"
    raise ValueError(f"period {value!r} is not a month (2023-04), quarter (2023Q2), financial "
                     "year (2023-24) or year (2023)")


def _periods(frame: pd.DataFrame, source: SourceFile) -> pd.Series:
    """Canonical periods, one kind per indicator (else the first row of another kind is named)."""
    out = pd.Series(index=frame.index, dtype=object)
    kinds = pd.Series(index=frame.index, dtype=object)
    for text, rows in frame.groupby(frame["period"].astype(str).str.strip()).groups.items():
        try:
            period, kind = series_period(text)
        except ValueError as exc:
            raise InputError(source.name, str(exc), line=int(min(rows)), field="period") from None
        out[rows], kinds[rows] = period, kind
    for _, rows in kinds.groupby(frame["indicator"]):
        if rows.nunique() > 1:
            first = rows.iloc[0]
            line = int(rows.index[rows != first][0])
            raise InputError(source.name, f"period written as a {kinds[line]} here, as a {first} "
                             f"on line {int(rows.index[0])}: write one indicator's periods one "
                             "way", line=line, field="period")
    return out


def _levels(codes: pd.Series, source: SourceFile) -> pd.Series:
    level = pd.Series(None, index=codes.index, dtype=object)
    for name, pattern in reversed(LEVEL_PATTERNS.items()):
        level[codes.str.match(pattern)] = name
    if level.isna().any():
        line = int(level.index[level.isna()][0])
        raise InputError(source.name, f"cannot tell the level of unit {codes[line]!r} (not a "
                         "practice, PCN, LSOA or upper-tier council code)", line=line,
                         field="unit_code", hint="add a level column (pcn, practice, group, ...)")
    return level


def _result(kind: str, publication: str, out: pd.DataFrame, source: SourceFile) -> ReadResult:
    check_unique(out, ["level", "unit_code", "indicator", "period"], "unit x indicator x period row")
    periods = sorted(out["period"].unique())
    label = periods[0] if len(periods) == 1 else f"{periods[0]}..{periods[-1]}"
    return ReadResult(kind, publication, label, {"series_input": out.reset_index(drop=True)})


def _detect(source: SourceFile) -> bool:
    header = {h.strip().lower() for h in source.header()}
    return {"unit_code", "period", "indicator"} <= header and (
        "value" in header or {"numerator", "denominator"} <= header)


@reader("series", PUBLICATION, _detect,
        example="placehealth ingest --as series my_indicator.csv")
def read_series(source: SourceFile, options: ReadOptions) -> ReadResult:
    """A long CSV of any local indicator (see the module doc)."""
    frame = read_columns(
        source, {"unit_code": ["unit_code", "unit", "code", "area_code"], "period": ["period"],
              "indicator": ["indicator"], "level": ["level"], "numerator": ["numerator"],
              "denominator": ["denominator"], "value": ["value"]},
        mapping=options.mapping, optional=["level", "numerator", "denominator", "value"],
        layout="series")
    if "value" not in frame and not {"numerator", "denominator"} <= set(frame):
        raise InputError(source.name, "give numerator and denominator, or value; found: "
                         f"{', '.join(source.header())}", line=1, field="value")
    frame["unit_code"] = frame["unit_code"].astype(str).str.strip()
    frame["indicator"] = frame["indicator"].astype(str).str.strip()
    for column in ("unit_code", "indicator"):
        blank = frame[column] == ""
        if blank.any():
            raise InputError(source.name, f"blank {column}", line=int(blank.index[blank][0]),
                             field=column)
    bad = ~frame["indicator"].str.fullmatch(r"[a-z0-9_]+")
    if bad.any():
        line = int(bad.index[bad][0])
        raise InputError(source.name, f"indicator {frame.loc[line, 'indicator']!r}: use "
                         "lower-case letters, digits and _", line=line, field="indicator")
    if "level" in frame:
        level = frame["level"].astype(str).str.strip().str.lower()
    else:
        level = _levels(frame["unit_code"].str.upper(), source)
    codes = frame["unit_code"].where(level == "group", frame["unit_code"].str.upper())
    numbers = {c: to_numbers(frame, c) if c in frame else pd.Series(np.nan, index=frame.index)
               for c in ("numerator", "denominator", "value")}
    num, den, value = numbers["numerator"], numbers["denominator"], numbers["value"]
    for column, series in numbers.items():
        negative = series < 0
        if column != "value" and negative.any():
            line = int(negative.index[negative][0])
            raise InputError(source.name, f"{column} {series[line]:g} is negative", line=line,
                             field=column)
    over = num > den
    if over.any():
        line = int(over.index[over][0])
        raise InputError(source.name, f"numerator {num[line]:g} exceeds denominator "
                         f"{den[line]:g}", line=line, field="numerator")
    computed = (num / den.where(den > 0)) * 100
    value = value.where(value.notna(), computed)
    empty = value.isna()
    if empty.all():
        raise InputError(source.name, "no row has a value (or a numerator of a denominator > 0)",
                         line=int(frame.index[0]), field="value")
    if empty.any():
        source.warn(f"{int(empty.sum())} rows without a value (blank, or a zero denominator) "
                    "left out")
    out = pd.DataFrame({"level": level, "unit_code": codes, "indicator": frame["indicator"],
                        "period": _periods(frame, source), "numerator": num,
                        "denominator": den, "value": value}, index=frame.index)[~empty]
    return _result("series", PUBLICATION, out, source)


@reader("cover-quarterly", COVER,
        has_columns("financial_year", "quarter", "cohort", "utla_ons_code", "coverage_pct",
                    "denominator", "vaccine_std"),
        example="placehealth ingest cover_utla_quarterly_long_2014q1_2025q4.csv.gz")
def read_cover_quarterly(source: SourceFile, options: ReadOptions) -> ReadResult:
    """COVER quarterly coverage by upper-tier council, long form (see the module doc)."""
    raw = read_table(source)
    first = pd.to_numeric(raw["financial_year"].astype(str).str[:4], errors="coerce")
    quarter = pd.to_numeric(raw["quarter"], errors="coerce")
    bad = first.isna() | ~quarter.isin([1, 2, 3, 4])
    if bad.any():
        line = int(bad.index[bad][0])
        raise InputError(source.name, f"financial year {raw.loc[line, 'financial_year']!r}, "
                         f"quarter {raw.loc[line, 'quarter']!r} is not a quarter (2014/15, 1-4)",
                         line=line, field="quarter" if pd.notna(first[line]) else "financial_year")
    year = np.where(quarter == 4, first + 1, first).astype(int)
    codes = raw["utla_ons_code"].astype(str).str.strip().str.upper()
    wrong = ~codes.str.match(LEVEL_PATTERNS["utla"])
    if wrong.any():
        line = int(wrong.index[wrong][0])
        raise InputError(source.name, f"upper-tier council code {codes[line]!r} is not an "
                         "E06/E08/E09/E10 code", line=line, field="utla_ons_code")
    # the tables mark unpublished figures as N/A, *, ***, - or a band ("70% to 100%")
    text = raw["coverage_pct"].astype(str).str.strip().str.replace(",", "", regex=False)
    coverage = pd.to_numeric(text, errors="coerce")
    denominator = pd.to_numeric(raw["denominator"].astype(str).str.strip()
                                .str.replace(",", "", regex=False), errors="coerce")
    unpublished = coverage.isna() | denominator.isna()
    if unpublished.any():
        marks = sorted(set(text[coverage.isna()]) - {""})[:6]
        source.warn(f"{int(unpublished.sum())} rows without a published coverage or denominator "
                    f"({', '.join(repr(m) for m in marks)}) left out")
    name = ("cover_" + raw["vaccine_std"].astype(str) + "_" + raw["cohort"].astype(str)).str.lower()
    out = pd.DataFrame({
        "level": "utla", "unit_code": codes,
        "indicator": name.str.replace(r"[^a-z0-9]+", "_", regex=True).str.strip("_"),
        "period": [f"{y}Q{q % 4 + 1}" for y, q in zip(year, quarter.astype(int), strict=True)],
        "numerator": (coverage * denominator / 100).round(), "denominator": denominator,
        "value": coverage}, index=raw.index)
    out = out[~unpublished]
    # a vaccine published under two column labels in one quarter (e.g. the 5-year booster as
    # DTaP/Pol and DTaP/IPV/Hib): the first column is kept, as the tables list it first
    again = out.duplicated(["unit_code", "indicator", "period"])
    if again.any():
        line = int(again.index[again][0])
        source.warn(f"{int(again.sum())} rows give a vaccine a second figure in the same quarter "
                    f"(e.g. line {line}, {raw.loc[line, 'column_label_raw']!r}); the first "
                    "published column is kept")
    out = out[~again]
    return _result("cover-quarterly", COVER, out, source)


__all__ = ["read_cover_quarterly", "read_series", "series_period"]
