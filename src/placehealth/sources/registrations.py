"""NHS England, *Patients Registered at a GP Practice* (monthly).

Layouts read here:

- ``gp-reg-pat-prac-lsoa-all``: practice x LSOA (with or without SEX; LSOA 2011 or 2021 codes);
- ``gp-reg-pat-prac-sing-age-*`` and ``gp-reg-pat-prac-quin-age``: practice x sex x age;
- ``gp-reg-pat-prac-all``: practice totals;
- ``gp-reg-pat-prac-map``: practice -> PCN -> Sub-ICB -> ICB -> region.

Source: https://digital.nhs.uk/data-and-information/publications/statistical/patients-registered-at-a-gp-practice
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from placehealth.sources.base import ReadOptions, ReadResult, has_columns, reader
from placehealth.sources.validate import (
    LSOA,
    PCN,
    PRACTICE,
    UNKNOWN_LSOA,
    InputError,
    SourceFile,
    check_codes,
    check_unique,
    distinct,
    month_period,
    null_if_blank,
    only_values,
    per_row,
    read_table,
    resolve_columns,
    single_value,
    to_counts,
)

PUBLICATION = "NHS England, Patients Registered at a GP Practice"

#: The highest LSOA 2011 code in England; codes above it exist only in the 2021 set.
LAST_LSOA11_CODE = "E01033768"


def _period(frame: pd.DataFrame, options: ReadOptions, source: SourceFile) -> str:
    """The file's one extract month, or ``--period``; a file without either is an error."""
    if options.period:
        return month_period(options.period, file=source.name)
    if "extract_date" not in frame:
        raise InputError(
            source.name,
            "no EXTRACT_DATE column to tell which month this is",
            line=1,
            field="EXTRACT_DATE",
            hint="pass --period YYYY-MM",
        )
    text = single_value(frame, "extract_date", "extract date")
    return month_period(text, file=source.name, line=int(frame.index[0]), field="EXTRACT_DATE")


def _sex(frame: pd.DataFrame) -> pd.Series:
    if "sex" not in frame:
        return pd.Series("ALL", index=frame.index)
    if only_values(frame["sex"], ["ALL", "MALE", "FEMALE"]):
        return frame["sex"]  # already canonical: as the careful path below would leave it
    sex = frame["sex"].astype(str).str.strip().str.upper().replace({"M": "MALE", "F": "FEMALE",
                                                                    "PERSONS": "ALL"})
    bad = ~sex.isin(["ALL", "MALE", "FEMALE"])
    if bad.any():
        line = int(bad[bad].index[0])
        raise InputError(frame.attrs["source"], f"sex {frame.loc[line, 'sex']!r} is not "
                         "MALE, FEMALE or ALL", line=line, field="SEX")
    return sex


def lsoa_vintage(codes: pd.Series, period: str) -> int:
    """Which LSOA edition the codes are: 2021 if any code exists only in 2021 (or NO2021),
    2011 if NO2011 appears, else by date (NHS England moved to LSOA 2021 codes in 2023)."""
    known = codes[codes.str.match(LSOA)]
    if (codes == "NO2021").any() or (known.str[:3].eq("E01") & (known > LAST_LSOA11_CODE)).any():
        return 2021
    if (codes == "NO2011").any():
        return 2011
    return 2021 if period >= "2023-01" else 2011


_LSOA_COLUMNS = {
    "extract_date": ["EXTRACT_DATE"],
    "practice_code": ["PRACTICE_CODE", "ORG_CODE"],
    "practice_name": ["PRACTICE_NAME"],
    "lsoa_code": ["LSOA_CODE", "LSOA_CODE_2021", "LSOA_CODE_2011", "LSOA21CD", "LSOA11CD"],
    "sex": ["SEX"],
    "patients": ["NUMBER_OF_PATIENTS"],
}
_PCN_EXTRA = {
    "pcn_code": ["PCN_CODE"],
    "pcn_name": ["PCN_NAME"],
    "sub_icb_name": ["SUB_ICB_LOCATION_NAME"],
    "icb_code": ["ICB_CODE"],
}


@reader(
    "gp-reg-lsoa",
    PUBLICATION + " (practice x LSOA, gp-reg-pat-prac-lsoa-all)",
    has_columns("PRACTICE_CODE", "LSOA_CODE", "NUMBER_OF_PATIENTS"),
    example="placehealth ingest gp-reg-pat-prac-lsoa-all.csv",
)
def read_lsoa(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Practice x LSOA registrations; unknown-LSOA rows are kept and counted, not dropped."""
    raw = read_table(source)
    frame = resolve_columns(raw, _LSOA_COLUMNS, mapping=options.mapping,
                            optional=["extract_date", "practice_name", "sex"],
                            layout="gp-reg-pat-prac-lsoa-all")
    period = _period(frame, options, source)
    check_codes(frame, "practice_code", PRACTICE, "practice")
    frame["lsoa_code"] = _upper_codes(frame["lsoa_code"])
    check_codes(frame, "lsoa_code", LSOA, "LSOA", allow=UNKNOWN_LSOA)
    # LSOA tests made once per distinct code (~40,000 of a month's 1.2M rows) when the codes
    # are Arrow text; the vintage asks only whether some code is of a kind
    codes = distinct(frame["lsoa_code"])
    out = pd.DataFrame(index=frame.index)
    out["period"] = period
    out["practice_code"] = frame["practice_code"]
    out["practice_name"] = _names(frame.get("practice_name", pd.Series(None, index=frame.index)))
    out["lsoa_code"] = frame["lsoa_code"]
    out["lsoa_vintage"] = lsoa_vintage(frame["lsoa_code"] if codes is None else codes[0], period)
    out["lsoa_known"] = (frame["lsoa_code"].str.match(LSOA) if codes is None
                         else per_row(codes[0].str.match(LSOA), codes[1], frame.index))
    out["sex"] = _sex(frame)
    out["patients"] = to_counts(frame, "patients")
    check_unique(out, ["practice_code", "lsoa_code", "sex"], "practice x LSOA x sex row")
    unknown = out.loc[~out["lsoa_known"]]
    if len(unknown):
        source.warn(f"{len(unknown)} rows ({int(unknown['patients'].sum())} patients) have no "
                    f"English/Welsh LSOA ({', '.join(sorted(unknown['lsoa_code'].str[:6].unique())[:6])}"
                    "...); kept as unknown")
    tables = {"registrations_lsoa": out.reset_index(drop=True)}
    mapping = _pcn_columns(raw, options, period)
    if mapping is not None:
        tables["practice_pcn"] = mapping
    return ReadResult("gp-reg-lsoa", PUBLICATION, period, tables)


def _upper_codes(codes: pd.Series) -> pd.Series:
    """Codes stripped and in upper case (once per distinct code for Arrow text)."""
    found = distinct(codes)
    if found is None:
        return codes.astype(str).str.strip().str.upper()
    values = found[0].astype(str).str.strip().str.upper()
    if (values == found[0]).all():
        return codes
    return per_row(values, found[1], codes.index)


def _names(names: pd.Series) -> pd.Series:
    """Names with blanks as missing (:func:`null_if_blank`); for Arrow text, kept as Arrow
    text (missing as NaN) rather than a column of Python strings the store turns back."""
    found = distinct(names)
    if found is None:
        return null_if_blank(names)
    stripped = found[0].str.strip()
    return per_row(stripped.where(stripped != ""), found[1], names.index)


def _pcn_columns(raw: pd.DataFrame, options: ReadOptions, period: str) -> pd.DataFrame | None:
    """Regional extracts that carry PCN columns also give the practice -> PCN mapping."""
    if "PCN_CODE" not in {c.upper() for c in raw.columns}:
        return None
    cols = resolve_columns(raw, _LSOA_COLUMNS | _PCN_EXTRA, mapping=options.mapping,
                           optional=["extract_date", "practice_name", "sex", "sub_icb_name",
                                     "icb_code", "pcn_name"])
    check_codes(cols, "pcn_code", re.compile(r"^(U\d{5}|U)$"), "PCN")
    first = cols.drop_duplicates("practice_code")
    clash = cols.groupby("practice_code")["pcn_code"].nunique()
    if (clash > 1).any():
        code = clash[clash > 1].index[0]
        line = int(cols.index[cols["practice_code"].eq(code)][1])
        raise InputError(raw.attrs["source"], f"practice {code} is given two PCNs", line=line,
                         field="PCN_CODE")
    return pd.DataFrame({
        "period": period,
        "practice_code": first["practice_code"].values,
        "practice_name": null_if_blank(first.get("practice_name", pd.Series(None, index=first.index))).values,
        "pcn_code": first["pcn_code"].values,
        "pcn_name": null_if_blank(first.get("pcn_name", pd.Series(None, index=first.index))).values,
        "sub_icb_name": null_if_blank(first.get("sub_icb_name", pd.Series(None, index=first.index))).values,
        "icb_code": null_if_blank(first.get("icb_code", pd.Series(None, index=first.index))).values,
    })


_AGE_COLUMNS = {
    "extract_date": ["EXTRACT_DATE"],
    "practice_code": ["ORG_CODE", "PRACTICE_CODE", "CODE"],
    "org_type": ["ORG_TYPE", "TYPE"],
    "sex": ["SEX"],
    "age": ["AGE", "AGE_GROUP_5"],
    "patients": ["NUMBER_OF_PATIENTS"],
}


def _age_band(text: str) -> tuple[int, int | None] | None:
    """'7' -> (7, 7); '0_4' -> (0, 4); '95+' -> (95, None); 'ALL' -> None."""
    value = text.strip().upper().replace("-", "_")
    if value == "ALL":
        return None
    if m := re.fullmatch(r"(\d{1,3})", value):
        return int(m.group(1)), int(m.group(1))
    if m := re.fullmatch(r"(\d{1,3})_(\d{1,3})", value):
        return int(m.group(1)), int(m.group(2))
    if m := re.fullmatch(r"(\d{1,3})(\+|_PLUS|PLUS)", value):
        return int(m.group(1)), None
    raise ValueError(value)


@reader(
    "gp-reg-age",
    PUBLICATION + " (practice x sex x age, single-year or 5-year)",
    lambda s: has_columns("SEX", "NUMBER_OF_PATIENTS")(s)
    and (has_columns("AGE")(s) or has_columns("AGE_GROUP_5")(s))
    and not has_columns("LSOA_CODE")(s) and not has_columns("CODE")(s),
    example="placehealth ingest gp-reg-pat-prac-quin-age.csv",
)
def read_age(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Practice x sex x age registrations; a practice-total-only file becomes practice totals."""
    raw = read_table(source)
    frame = resolve_columns(raw, _AGE_COLUMNS, mapping=options.mapping,
                            optional=["extract_date", "org_type"], layout="gp-reg-pat-prac age")
    if "org_type" in frame:  # gp-reg files mix GP rows with national/ICB summary rows
        frame = frame[frame["org_type"].astype(str).str.upper().isin(["GP", "PRACTICE"])]
        if frame.empty:
            raise InputError(source.name, "no practice (TYPE/ORG_TYPE = GP) rows", field="ORG_TYPE")
    period = _period(frame, options, source)
    check_codes(frame, "practice_code", PRACTICE, "practice")
    frame = frame.assign(sex=_sex(frame))
    ages = frame["age"].astype(str)
    bands: dict[str, tuple[int, int | None] | None] = {}
    for value in ages.unique():  # in order of first appearance, so the first bad line is named
        try:
            bands[value] = _age_band(value)
        except ValueError:
            line = int(ages.index[(ages == value).to_numpy()][0])
            raise InputError(source.name, f"age {value!r} is not an age or band (e.g. 7, 0_4, 95+)",
                             line=line, field="AGE") from None
    patients = to_counts(frame, "patients")
    banded = [value for value, band in bands.items() if band is not None]
    if not banded:  # SEX = AGE = ALL: practice list sizes
        return _totals(frame.assign(patients=patients), period, source)
    rows = frame[ages.isin(banded).to_numpy()]
    row_ages = ages[rows.index]
    found = distinct(row_ages)  # each distinct band looked up once, then taken to its rows
    if found is None:
        age_from = row_ages.map({v: bands[v][0] for v in banded}).astype("int64").values
        age_to = pd.array(row_ages.map({v: bands[v][1] for v in banded}).values, dtype="Int64")
    else:
        values, positions = found
        age_from = np.array([bands[v][0] for v in values], dtype="int64")[positions]
        age_to = pd.array([bands[v][1] for v in values], dtype="Int64")[positions]
    out = pd.DataFrame({
        "period": period,
        "practice_code": rows["practice_code"].values,
        "sex": rows["sex"].values,
        "age_from": age_from,
        "age_to": age_to,
        "patients": patients[rows.index].values,
    }, index=rows.index)
    out = out[out["sex"] != "ALL"] if (out["sex"] != "ALL").any() else out
    check_unique(out, ["practice_code", "sex", "age_from"], "practice x sex x age row")
    tables = {"registrations_age": out.reset_index(drop=True)}
    everyone = (frame["sex"] == "ALL").to_numpy() & ages.str.upper().eq("ALL").to_numpy()
    if everyone.any():  # files of the CODE layout also carry each practice's SEX = AGE = ALL total
        tables |= _totals(frame[everyone].assign(patients=patients[everyone]), period,
                          source).tables
    return ReadResult("gp-reg-age", PUBLICATION, period, tables)


def _totals(frame: pd.DataFrame, period: str, source: SourceFile) -> ReadResult:
    rows = frame[frame["sex"] == "ALL"]
    check_unique(rows, ["practice_code"], "practice")
    out = pd.DataFrame({
        "period": period,
        "practice_code": rows["practice_code"].values,
        "practice_name": None,
        "postcode": None,
        "patients": rows["patients"].values,
    })
    return ReadResult("gp-reg-all", PUBLICATION, period, {"registrations_total": out})


@reader(
    "gp-reg-all",
    PUBLICATION + " (practice totals, gp-reg-pat-prac-all)",
    has_columns("CODE", "SEX", "AGE", "NUMBER_OF_PATIENTS"),
    example="placehealth ingest gp-reg-pat-prac-all.csv",
)
def read_all(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Practice list sizes (SEX = AGE = ALL rows of gp-reg-pat-prac-all); a file of the same
    CODE layout with single years or bands of age (gp-reg-pat-prac-sing-age-*) is read by age."""
    raw = read_table(source)
    frame = resolve_columns(
        raw, _AGE_COLUMNS | {"postcode": ["POSTCODE"]}, mapping=options.mapping,
        optional=["extract_date", "org_type", "postcode"], layout="gp-reg-pat-prac-all")
    if not frame["age"].astype(str).str.strip().str.upper().eq("ALL").all():
        return read_age(source, options)
    if "org_type" in frame:
        frame = frame[frame["org_type"].astype(str).str.upper().isin(["GP", "PRACTICE"])]
    period = _period(frame, options, source)
    check_codes(frame, "practice_code", PRACTICE, "practice")
    frame = frame.assign(sex=_sex(frame), patients=to_counts(frame, "patients"))
    frame = frame[(frame["sex"] == "ALL") & (frame["age"].astype(str).str.upper() == "ALL")]
    if frame.empty:
        raise InputError(source.name, "no SEX = ALL, AGE = ALL rows (practice totals)", field="AGE")
    check_unique(frame, ["practice_code"], "practice")
    out = pd.DataFrame({
        "period": period,
        "practice_code": frame["practice_code"].values,
        "practice_name": None,
        "postcode": null_if_blank(frame["postcode"]).values if "postcode" in frame else None,
        "patients": frame["patients"].values,
    })
    return ReadResult("gp-reg-all", PUBLICATION, period, {"registrations_total": out})


_MAP_COLUMNS = {
    "extract_date": ["EXTRACT_DATE"],
    "practice_code": ["PRACTICE_CODE"],
    "practice_name": ["PRACTICE_NAME"],
    "practice_postcode": ["PRACTICE_POSTCODE"],
    "pcn_code": ["PCN_CODE"],
    "pcn_name": ["PCN_NAME"],
    "sub_icb_ons_code": ["ONS_SUB_ICB_LOCATION_CODE", "ONS_CCG_CODE"],
    "sub_icb_code": ["SUB_ICB_LOCATION_CODE", "CCG_CODE"],
    "sub_icb_name": ["SUB_ICB_LOCATION_NAME", "CCG_NAME"],
    "icb_ons_code": ["ONS_ICB_CODE", "ONS_STP_CODE"],
    "icb_code": ["ICB_CODE", "STP_CODE"],
    "icb_name": ["ICB_NAME", "STP_NAME"],
    "region_ons_code": ["ONS_COMM_REGION_CODE", "ONS_COMM_REGION_CODE"],
    "region_code": ["COMM_REGION_CODE"],
    "region_name": ["COMM_REGION_NAME"],
}


@reader(
    "gp-reg-map",
    PUBLICATION + " (practice -> PCN -> Sub-ICB -> ICB mapping, gp-reg-pat-prac-map)",
    has_columns("PRACTICE_CODE", "PCN_CODE", "EXTRACT_DATE"),
    example="placehealth ingest gp-reg-pat-prac-map.csv",
)
def read_map(source: SourceFile, options: ReadOptions) -> ReadResult:
    """The practice -> PCN -> Sub-ICB -> ICB -> region mapping of one month."""
    raw = read_table(source)
    optional = [c for c in _MAP_COLUMNS if c not in ("practice_code", "pcn_code")]
    frame = resolve_columns(raw, _MAP_COLUMNS, mapping=options.mapping, optional=optional,
                            layout="gp-reg-pat-prac-map")
    period = _period(frame, options, source)
    check_codes(frame, "practice_code", PRACTICE, "practice")
    check_codes(frame, "pcn_code", re.compile(r"^(U\d{5}|U)$"), "PCN")
    check_unique(frame, ["practice_code"], "practice")
    out = pd.DataFrame({"period": period}, index=frame.index)
    for column in _MAP_COLUMNS:
        if column == "extract_date":
            continue
        out[column] = null_if_blank(frame[column]) if column in frame else None
    unallocated = int((out["pcn_code"] == "U").sum())
    if unallocated:
        source.warn(f"{unallocated} practices are not in a PCN (PCN_CODE = 'U')")
    return ReadResult("gp-reg-map", PUBLICATION, period,
                      {"practice_pcn": out.reset_index(drop=True)})


__all__ = ["PCN", "lsoa_vintage", "read_age", "read_all", "read_lsoa", "read_map"]
