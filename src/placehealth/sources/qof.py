"""NHS England, *Quality and Outcomes Framework* raw data files (annual).

- ``PREVALENCE_YYZZ.csv``: PRACTICE_CODE, GROUP_CODE, REGISTER, PATIENT_LIST_TYPE,
  PRACTICE_LIST_SIZE (PATIENT_LIST_SIZE up to 2019-20) -> ``qof_prevalence``;
- ``MAPPING_INDICATORS_YYZZ.csv``: indicator -> disease group -> domain -> ``qof_indicators``.

The QOF year comes from the file name (PREVALENCE_2021 -> 2020-21, _2122 -> 2021-22) or
``--period``. Source: https://digital.nhs.uk/data-and-information/publications/statistical/quality-and-outcomes-framework-achievement-prevalence-and-exceptions-data
"""

from __future__ import annotations

import re

import pandas as pd

from placehealth.sources.base import ReadOptions, ReadResult, has_columns, reader
from placehealth.sources.validate import (
    PRACTICE,
    InputError,
    SourceFile,
    check_codes,
    check_unique,
    null_if_blank,
    read_table,
    resolve_columns,
    to_counts,
    to_numbers,
    year_period,
)

PUBLICATION = "NHS England, Quality and Outcomes Framework"
LIST_TYPES = {"TOTAL", "06OV", "16OV", "17OV", "18OV", "50OV", "45OV", "65OV", "0_64", "18_74"}
GROUP = re.compile(r"^[A-Z][A-Z0-9]{1,7}$")


def qof_period(source: SourceFile, options: ReadOptions) -> str:
    """The QOF year from --period, else the file name's 4 digits (2021 -> 2020-21)."""
    if options.period:
        return year_period(options.period, file=source.name)
    m = re.search(r"(?:PREVALENCE|INDICATORS|GEOGRAPHIES|ACHIEVEMENT)_(\d{2})(\d{2})",
                  source.name, re.IGNORECASE)
    if m and (int(m.group(1)) + 1) % 100 == int(m.group(2)):
        return f"20{m.group(1)}-{m.group(2)}"
    m = re.search(r"(20\d\d)-(\d\d)", source.name)
    if m and (int(m.group(1)) + 1) % 100 == int(m.group(2)):
        return f"{m.group(1)}-{m.group(2)}"
    raise InputError(source.name, "cannot tell the QOF year from the file name",
                     hint="name it like PREVALENCE_2425.csv or pass --period 2024-25")


_PREVALENCE = {
    "practice_code": ["PRACTICE_CODE"],
    "group_code": ["GROUP_CODE", "INDICATOR_GROUP_CODE"],
    "register": ["REGISTER"],
    "list_type": ["PATIENT_LIST_TYPE"],
    "list_size": ["PRACTICE_LIST_SIZE", "PATIENT_LIST_SIZE"],  # 2019-20 and earlier: PATIENT_
}


@reader(
    "qof-prevalence",
    PUBLICATION + ": disease registers by practice (PREVALENCE)",
    has_columns("PRACTICE_CODE", "GROUP_CODE", "REGISTER"),
    example="placehealth ingest PREVALENCE_2425.csv",
)
def read_prevalence(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Register and list size per practice and disease group."""
    raw = read_table(source)
    frame = resolve_columns(raw, _PREVALENCE, mapping=options.mapping, layout="QOF PREVALENCE")
    period = qof_period(source, options)
    check_codes(frame, "practice_code", PRACTICE, "practice")
    frame["group_code"] = frame["group_code"].astype(str).str.strip().str.upper()
    check_codes(frame, "group_code", GROUP, "QOF group")
    frame["list_type"] = frame["list_type"].astype(str).str.strip().str.upper()
    _check_list_types(frame, source)
    out = pd.DataFrame({
        "period": period,
        "practice_code": frame["practice_code"],
        "group_code": frame["group_code"],
        "register": _whole(frame, "register"),
        "list_type": frame["list_type"],
        "list_size": _whole(frame, "list_size"),
    }, index=frame.index)
    out.attrs.update(frame.attrs)
    check_unique(out, ["practice_code", "group_code"], "practice x group row")
    over = out["register"] > out["list_size"]
    if over.any():
        source.warn(f"{int(over.sum())} rows have a register larger than the list size")
    return ReadResult("qof-prevalence", PUBLICATION, period,
                      {"qof_prevalence": out.reset_index(drop=True)})


def _whole(frame: pd.DataFrame, column: str) -> pd.Series:
    """Counts, accepting a float spelling of a whole number ('96.0') as some copies have."""
    text = frame[column].astype(str).str.strip().str.replace(r"\.0+$", "", regex=True)
    return to_counts(frame.assign(**{column: text}), column)


def _check_list_types(frame: pd.DataFrame, source: SourceFile) -> None:
    # NNOV (aged NN and over) and N_NN (aged N to NN, e.g. CVDPP's 30_74 in 2019-20)
    bad = ~frame["list_type"].isin(LIST_TYPES) & ~frame["list_type"].str.match(r"^(\d\dOV|\d{1,2}_\d\d)$")
    if bad.any():
        line = int(bad[bad].index[0])
        raise InputError(source.name, f"patient list type {frame.loc[line, 'list_type']!r} is "
                         f"not one of {', '.join(sorted(LIST_TYPES))} (or NNOV, N_NN)", line=line,
                         field="PATIENT_LIST_TYPE")


_INDICATORS = {
    "indicator_code": ["INDICATOR_CODE"],
    "point_value": ["INDICATOR_POINT_VALUE"],
    "group_code": ["GROUP_CODE", "INDICATOR_GROUP_CODE"],
    "group_description": ["GROUP_DESCRIPTION", "INDICATOR_GROUP_DESCRIPTION"],
    "domain_code": ["DOMAIN_CODE"],
    "domain_description": ["DOMAIN_DESCRIPTION"],
    "list_type": ["PATIENT_LIST_TYPE"],
}


@reader(
    "qof-indicators",
    PUBLICATION + ": indicator -> group mapping (MAPPING_INDICATORS)",
    has_columns("INDICATOR_CODE", "GROUP_CODE"),
    example="placehealth ingest MAPPING_INDICATORS_2425.csv",
)
def read_indicators(source: SourceFile, options: ReadOptions) -> ReadResult:
    """QOF indicators with their disease group, domain and points."""
    raw = read_table(source)
    frame = resolve_columns(raw, _INDICATORS, mapping=options.mapping,
                            optional=["point_value", "group_description", "domain_code",
                                      "domain_description", "list_type"],
                            layout="QOF MAPPING_INDICATORS")
    period = qof_period(source, options)
    frame["indicator_code"] = frame["indicator_code"].astype(str).str.strip().str.upper()
    check_codes(frame, "indicator_code", re.compile(r"^[A-Z][A-Z0-9]{1,7}\d{3}$"), "QOF indicator")
    check_codes(frame, "group_code", GROUP, "QOF group")
    check_unique(frame, ["indicator_code"], "indicator")
    out = pd.DataFrame({"period": period, "indicator_code": frame["indicator_code"],
                        "group_code": frame["group_code"]}, index=frame.index)
    out["point_value"] = to_numbers(frame, "point_value") if "point_value" in frame else None
    for column in ["group_description", "domain_code", "domain_description", "list_type"]:
        out[column] = null_if_blank(frame[column]) if column in frame else None
    return ReadResult("qof-indicators", PUBLICATION, period,
                      {"qof_indicators": out.reset_index(drop=True)})


__all__ = ["qof_period", "read_indicators", "read_prevalence"]
