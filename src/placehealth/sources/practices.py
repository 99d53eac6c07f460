"""Practices and PCNs: ODS ePCN and epraccur, QOF's geography mapping, practice locations.

- ODS *ePCN* workbook (.xlsx; sheets ``PCNDetails`` and ``PCN Core Partner Details``; header cells
  hold line breaks) -> ``pcns`` and ``practice_pcn`` (current memberships: relationship end date
  blank). The period is the month of the latest open/relationship date, or ``--period``.
- ODS *epraccur* (headerless, 27 columns) -> ``practices`` (every setting and status; the period
  is the month of the latest open/join date, or ``--period``).
- QOF ``MAPPING_NHS_GEOGRAPHIES_YYZZ.csv`` -> ``practice_pcn`` (period = the QOF year).
- Practice location lookups: ``PRAC_CODE, PRAC_LAT, PRAC_LNG, PRAC_LSOA11, ...`` (Health
  Innovation South West, from NHS England's mapping and the ONS Postcode Directory) and the
  Staffordshire layout (``Latitude_1m``/``Longitude_1m`` beside the mapping columns) ->
  ``practice_locations`` and ``practice_pcn``.
- Local practice groupings named without codes (``PCode, Practice Name, PCN, CCG``) ->
  ``practice_groups`` (one grouping per text column), never ``practice_pcn``: a PCN name is not
  a PCN code, and guessing codes from names would be dishonest.

Sources: https://digital.nhs.uk/services/organisation-data-service/export-data-files/csv-downloads
"""

from __future__ import annotations

import io
import re
import zipfile

import pandas as pd

from placehealth.sources.base import ReadOptions, ReadResult, has_columns, reader
from placehealth.sources.qof import qof_period
from placehealth.sources.validate import (
    LSOA,
    PCN,
    PRACTICE,
    InputError,
    SourceFile,
    check_codes,
    check_unique,
    month_period,
    normalise_name,
    null_if_blank,
    read_table,
    resolve_columns,
    single_value,
    to_numbers,
)

PUBLICATION_EPCN = "NHS England ODS, ePCN (PCN details and core partners)"
PUBLICATION_EPRACCUR = "NHS England ODS, epraccur (GP practices)"
PUBLICATION_LOCATIONS = "Practice locations (ONS Postcode Directory centroids of practice postcodes)"
PCN_OR_U = re.compile(r"^(U\d{5}|U)$")

# ------------------------------------------------------------------------------------- ePCN
EPCN_SHEETS = ("PCNDetails", "PCN Core Partner Details")


def _is_xlsx(source: SourceFile) -> bool:
    return source.text == "" and source.path.suffix.lower() in (".xlsx", ".xlsm")


def _sheet_names(source: SourceFile) -> list[str]:
    try:
        with zipfile.ZipFile(source.path) as archive:
            workbook = archive.read("xl/workbook.xml").decode("utf-8", "replace")
    except (zipfile.BadZipFile, KeyError, OSError):
        return []
    return re.findall(r'<sheet [^>]*name="([^"]+)"', workbook)


def _detect_epcn(source: SourceFile) -> bool:
    return _is_xlsx(source) and "PCNDetails" in _sheet_names(source)


def read_sheet(source: SourceFile, sheet: str) -> pd.DataFrame:
    """One sheet as strings, headers whitespace-normalised, index = spreadsheet row number."""
    names = _sheet_names(source)
    if sheet not in names:
        raise InputError(source.name, f"no sheet {sheet!r} (sheets: {', '.join(names) or 'none'})",
                         field=sheet, hint="is this the ODS ePCN workbook?")
    try:
        frame = pd.read_excel(io.BytesIO(source.path.read_bytes()), sheet_name=sheet, dtype=str,
                              engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for damaged workbooks
        raise InputError(source.name, f"cannot read sheet {sheet!r} ({exc})", field=sheet) from None
    frame.columns = [normalise_name(c) for c in frame.columns]
    frame = frame.dropna(how="all")
    frame = frame.astype(object).where(frame.notna(), "")
    frame.index = frame.index + 2  # row 1 is the header
    frame.attrs["source"] = f"{source.name} [{sheet}]"
    if frame.empty:
        raise InputError(source.name, f"sheet {sheet!r} has no data rows", field=sheet)
    return frame


_PCN_DETAILS = {
    "pcn_code": ["PCN Code"],
    "pcn_name": ["PCN Name"],
    "sub_icb_code": ["Current Sub ICB Loc Code", "Current Clinical Commissioning Group Code"],
    "sub_icb_name": ["Sub ICB Location", "Clinical Commissioning Group Name"],
    "open_date": ["Open Date"],
    "close_date": ["Close Date"],
    "postcode": ["Postcode"],
}
_PARTNERS = {
    "practice_code": ["Partner Organisation Code"],
    "practice_name": ["Partner Name"],
    "sub_icb_code": ["Practice Parent Sub ICB Loc Code", "Practice Parent CCG Code"],
    "sub_icb_name": ["Practice Parent Sub ICB Loc Name", "Practice Parent CCG Name"],
    "pcn_code": ["PCN Code"],
    "pcn_name": ["PCN Name"],
    "start_date": ["Practice to PCN Relationship Start Date"],
    "end_date": ["Practice to PCN Relationship End Date"],
}


def _dates(frame: pd.DataFrame, column: str, field: str) -> pd.Series:
    """ODS dates (YYYYMMDD, or a spreadsheet datetime) as 'YYYY-MM-DD'; blank -> None."""
    text = null_if_blank(frame[column].astype(str).str.replace(r" 00:00:00$", "", regex=True))
    parsed = pd.to_datetime(text, format="mixed", errors="coerce")
    bad = text.notna() & parsed.isna()
    if bad.any():
        line = int(bad[bad].index[0])
        raise InputError(frame.attrs["source"], f"date {frame.loc[line, column]!r} is not a "
                         "date (expected YYYYMMDD)", line=line, field=field)
    return parsed.dt.strftime("%Y-%m-%d").where(parsed.notna(), None)


@reader("epcn", PUBLICATION_EPCN, _detect_epcn, example="placehealth ingest ePCN.xlsx")
def read_epcn(source: SourceFile, options: ReadOptions) -> ReadResult:
    """PCNs and their current member practices."""
    details = resolve_columns(read_sheet(source, "PCNDetails"), _PCN_DETAILS,
                              mapping=options.mapping, optional=["postcode", "close_date"],
                              layout="ePCN PCNDetails")
    partners = resolve_columns(read_sheet(source, "PCN Core Partner Details"), _PARTNERS,
                               mapping=options.mapping, layout="ePCN PCN Core Partner Details")
    check_codes(details, "pcn_code", PCN, "PCN")
    check_unique(details, ["pcn_code"], "PCN")
    check_codes(partners, "practice_code", re.compile(r"^[A-Z0-9]{3,8}$"), "partner organisation")
    check_codes(partners, "pcn_code", PCN, "PCN")
    for column in ("open_date", "close_date"):
        if column in details:
            details[column] = _dates(details, column, column)
    partners["start_date"] = _dates(partners, "start_date", "Relationship Start Date")
    partners["end_date"] = _dates(partners, "end_date", "Relationship End Date")
    # the extract date is not in the workbook: take the latest open/start date (end dates can be
    # set in advance, so they are not evidence of when the file was made)
    latest = max(details["open_date"].dropna().max(), partners["start_date"].dropna().max())
    period = month_period(options.period or latest[:7], file=source.name)
    pcns = pd.DataFrame({"period": period}, index=details.index)
    for column in ("pcn_code", "pcn_name", "sub_icb_code", "sub_icb_name", "open_date",
                   "close_date", "postcode"):
        pcns[column] = null_if_blank(details[column]) if column in details else None
    current = partners[partners["end_date"].isna() | (partners["end_date"] > latest)]
    practices = current[current["practice_code"].str.match(PRACTICE)]
    others = len(current) - len(practices)
    check_unique(practices, ["practice_code"], "current practice membership")
    unknown = ~practices["pcn_code"].isin(set(pcns["pcn_code"]))
    if unknown.any():
        line = int(practices.index[unknown.to_numpy()][0])
        raise InputError(f"{source.name} [PCN Core Partner Details]", f"PCN "
                         f"{practices.loc[line, 'pcn_code']} is not in the PCNDetails sheet",
                         line=line, field="PCN Code")
    membership = pd.DataFrame({"period": period}, index=practices.index)
    # Sub-ICB names are left to `pcns`: ODS spells them in capitals and NHS England's mapping
    # file in mixed case, which would read as a contradiction when both load for one month
    for column in ("practice_code", "practice_name", "pcn_code", "pcn_name", "sub_icb_code"):
        membership[column] = null_if_blank(practices[column])
    ended = len(partners) - len(current)
    source.warn(f"{ended} ended practice-PCN relationships skipped (history)")
    if others:
        source.warn(f"{others} current partners are not GP practices (kept out of practice_pcn)")
    return ReadResult("epcn", PUBLICATION_EPCN, period, {
        "pcns": pcns.reset_index(drop=True), "practice_pcn": membership.reset_index(drop=True)})


# ---------------------------------------------------------------------------------- epraccur
#: epraccur's 27 columns (ODS "GP practices" CSV layout), those kept by name.
EPRACCUR = {0: "practice_code", 1: "practice_name", 2: "national_grouping",
            3: "health_geography", 9: "postcode", 10: "open_date", 11: "close_date",
            12: "status", 13: "sub_type", 14: "commissioner", 15: "join_date", 25:
            "prescribing_setting"}


def _detect_epraccur(source: SourceFile) -> bool:
    header = source.header()
    return len(header) == 27 and bool(re.fullmatch(r"[A-Z0-9]{3,8}", header[0])) and bool(
        re.fullmatch(r"\d{8}", header[10]))


@reader("epraccur", PUBLICATION_EPRACCUR, _detect_epraccur,
        example="placehealth ingest epraccur.csv")
def read_epraccur(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Every GP practice and prescribing cost centre, open or closed, English or Welsh."""
    raw = read_table(source, header=False, columns=[str(i) for i in range(27)])
    if raw.shape[1] != 27:
        raise InputError(source.name, f"{raw.shape[1]} columns, epraccur has 27", line=1)
    frame = pd.DataFrame({name: raw[str(i)].astype(str).str.strip()
                          for i, name in EPRACCUR.items()}, index=raw.index)
    frame.attrs.update(raw.attrs)
    check_codes(frame, "practice_code", re.compile(r"^[A-Z0-9]{3,8}$"), "organisation")
    check_unique(frame, ["practice_code"], "organisation")
    status = frame["status"].str.upper()
    bad = ~status.isin(["A", "C", "D", "P"])
    if bad.any():
        line = int(bad[bad].index[0])
        raise InputError(source.name, f"status {frame.loc[line, 'status']!r} is not A, C, D or P",
                         line=line, field="column 13 (status)")
    for column in ("open_date", "close_date", "join_date"):
        frame[column] = _dates(frame, column, column)
    latest = max(frame["open_date"].dropna().max(), frame["join_date"].dropna().max())
    period = month_period(options.period or latest[:7], file=source.name)
    practices = frame[frame["practice_code"].str.match(PRACTICE)]
    out = pd.DataFrame({"period": period}, index=practices.index)
    for column in ("practice_code", "practice_name", "postcode", "national_grouping",
                   "health_geography", "open_date", "close_date", "status", "sub_type",
                   "commissioner", "prescribing_setting"):
        out[column] = null_if_blank(practices[column])
    gp = out["prescribing_setting"] == "4"
    closed = int((gp & (out["status"] != "A")).sum())
    welsh = int((gp & (out["status"] == "A") & out["practice_code"].str.startswith("W")).sum())
    source.warn(f"{len(frame) - len(out)} organisations with non-practice codes skipped; of "
                f"{int(gp.sum())} GP practices (setting 4), {closed} are closed or dormant and "
                f"{welsh} active ones are Welsh (all kept)")
    return ReadResult("epraccur", PUBLICATION_EPRACCUR, period,
                      {"practices": out.reset_index(drop=True)})


# ------------------------------------------------------------------- QOF geography mapping
_QOF_MAP = {
    "practice_code": ["PRACTICE_CODE"],
    "practice_name": ["PRACTICE_NAME"],
    "pcn_code": ["PCN_ODS_CODE", "PCN_CODE"],
    "pcn_name": ["PCN_NAME"],
    "sub_icb_code": ["SUB_ICB_LOC_ODS_CODE", "CCG_ODS_CODE"],
    "sub_icb_ons_code": ["SUB_ICB_LOC_ONS_CODE", "CCG_ONS_CODE"],
    "sub_icb_name": ["SUB_ICB_LOC_NAME", "CCG_NAME"],
    "icb_code": ["ICB_ODS_CODE", "STP_ODS_CODE"],
    "icb_ons_code": ["ICB_ONS_CODE", "STP_ONS_CODE"],
    "icb_name": ["ICB_NAME", "STP_NAME"],
    "region_code": ["REGION_ODS_CODE"],
    "region_ons_code": ["REGION_ONS_CODE"],
    "region_name": ["REGION_NAME"],
}


@reader(
    "qof-geographies",
    "NHS England, Quality and Outcomes Framework: practice -> PCN -> CCG/Sub-ICB mapping",
    has_columns("PRACTICE_CODE", "PCN_ODS_CODE"),
    example="placehealth ingest MAPPING_NHS_GEOGRAPHIES_2425.csv",
)
def read_qof_geographies(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Practice -> PCN -> Sub-ICB (CCG) -> ICB (STP) -> region for a QOF year."""
    raw = read_table(source)
    optional = [c for c in _QOF_MAP if c not in ("practice_code", "pcn_code")]
    frame = resolve_columns(raw, _QOF_MAP, mapping=options.mapping, optional=optional,
                            layout="QOF MAPPING_NHS_GEOGRAPHIES")
    period = qof_period(source, options)
    check_codes(frame, "practice_code", PRACTICE, "practice")
    check_codes(frame, "pcn_code", PCN_OR_U, "PCN")
    check_unique(frame, ["practice_code"], "practice")
    out = pd.DataFrame({"period": period}, index=frame.index)
    for column in _QOF_MAP:
        out[column] = null_if_blank(frame[column]) if column in frame else None
    unallocated = int((out["pcn_code"] == "U").sum())
    if unallocated:
        source.warn(f"{unallocated} practices are not in a PCN (PCN_ODS_CODE = 'U')")
    return ReadResult("qof-geographies", "NHS England, QOF practice mapping", period,
                      {"practice_pcn": out.reset_index(drop=True)})


# -------------------------------------------------------------------------- locations
_LOCATIONS = {
    "extract_date": ["EXTRACT_DATE"],
    "practice_code": ["PRAC_CODE", "PRACTICE_CODE"],
    "practice_name": ["PRAC_NAME", "PRACTICE_NAME"],
    "practice_postcode": ["PRAC_POSTCODE", "PRACTICE_POSTCODE"],
    "latitude": ["PRAC_LAT", "Latitude_1m", "LATITUDE"],
    "longitude": ["PRAC_LNG", "Longitude_1m", "LONGITUDE"],
    "lsoa11_code": ["PRAC_LSOA11"],
    "lsoa21_code": ["PRAC_LSOA21"],
    "pcn_code": ["PCN_CODE"],
    "pcn_name": ["PCN_NAME"],
    "sub_icb_ons_code": ["ONS_LOC_CODE", "ONS_SUB_ICB_LOCATION_CODE"],
    "sub_icb_code": ["LOC_CODE", "SUB_ICB_LOCATION_CODE"],
    "sub_icb_name": ["LOC_NAME", "SUB_ICB_LOCATION_NAME"],
    "icb_ons_code": ["ONS_ICB_CODE"],
    "icb_code": ["ICB_CODE"],
    "icb_name": ["ICB_NAME"],
    "region_ons_code": ["ONS_NHSER_CODE", "ONS_COMM_REGION_CODE"],
    "region_code": ["NHSER_CODE", "COMM_REGION_CODE"],
    "region_name": ["NHSER_NAME", "COMM_REGION_NAME"],
}
_PCN_COLUMNS = ["practice_code", "practice_name", "practice_postcode", "pcn_code", "pcn_name",
                "sub_icb_code", "sub_icb_ons_code", "sub_icb_name", "icb_code", "icb_ons_code",
                "icb_name", "region_code", "region_ons_code", "region_name"]


def _detect_locations(source: SourceFile) -> bool:
    return has_columns("PRAC_CODE", "PRAC_LAT", "PRAC_LNG")(source) or has_columns(
        "PRACTICE_CODE", "Latitude_1m", "Longitude_1m")(source)


def _location_period(frame: pd.DataFrame, options: ReadOptions, source: SourceFile) -> str:
    if options.period:
        return month_period(options.period, file=source.name)
    if "extract_date" in frame:
        text = single_value(frame, "extract_date", "extract date")
        return month_period(text, file=source.name, line=int(frame.index[0]), field="EXTRACT_DATE")
    if m := re.search(r"(20\d\d)-(\d\d)", source.name):
        return f"{m.group(1)}-{m.group(2)}"
    raise InputError(source.name, "no EXTRACT_DATE column and no YYYY-MM in the file name",
                     line=1, hint="pass --period YYYY-MM")


@reader(
    "practice-locations",
    PUBLICATION_LOCATIONS + " with each practice's PCN, Sub-ICB and ICB",
    _detect_locations,
    example="placehealth ingest practice_locations.csv --period 2024-01",
)
def read_locations(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Practice points (and LSOAs) -> practice_locations; their PCN mapping -> practice_pcn."""
    raw = read_table(source)
    frame = resolve_columns(raw, _LOCATIONS, mapping=options.mapping,
                            optional=[c for c in _LOCATIONS if c not in
                                      ("practice_code", "latitude", "longitude")],
                            layout="practice locations")
    period = _location_period(frame, options, source)
    check_codes(frame, "practice_code", PRACTICE, "practice")
    check_unique(frame, ["practice_code"], "practice")
    locations = pd.DataFrame({"period": period, "practice_code": frame["practice_code"]},
                             index=frame.index)
    locations["latitude"] = to_numbers(frame, "latitude")
    locations["longitude"] = to_numbers(frame, "longitude")
    outside = locations["latitude"].notna() & ~(
        locations["latitude"].between(49, 61) & locations["longitude"].between(-9, 3))
    if outside.any():
        line = int(outside[outside].index[0])
        raise InputError(source.name, f"point {locations.loc[line, 'latitude']}, "
                         f"{locations.loc[line, 'longitude']} is outside Great Britain "
                         "(expected WGS84 latitude, longitude)", line=line, field="latitude")
    for column in ("lsoa11_code", "lsoa21_code"):
        if column in frame:
            frame[column] = null_if_blank(frame[column])
            present = frame[frame[column].notna()]
            check_codes(present, column, LSOA, "LSOA")
            locations[column] = frame[column]
        else:
            locations[column] = None
    missing = int(locations["latitude"].isna().sum())
    if missing:
        source.warn(f"{missing} practices have no coordinates")
    tables = {"practice_locations": locations.reset_index(drop=True)}
    if "pcn_code" in frame:
        check_codes(frame, "pcn_code", PCN_OR_U, "PCN")
        mapping = pd.DataFrame({"period": period}, index=frame.index)
        for column in _PCN_COLUMNS:
            mapping[column] = null_if_blank(frame[column]) if column in frame else None
        tables["practice_pcn"] = mapping.reset_index(drop=True)
    return ReadResult("practice-locations", PUBLICATION_LOCATIONS, period, tables)


# ----------------------------------------------------------------------- practice groups
_GROUP_CODES = ["PCode", "practice_code", "PRACTICE_CODE", "ODS_Code"]


def _detect_groups(source: SourceFile) -> bool:
    header = {h.lower() for h in source.header()}
    return "pcode" in header and "pcn" in header and "pcn_code" not in header


@reader(
    "practice-groups",
    "Local practice groupings by name (e.g. a council's practice -> PCN list)",
    _detect_groups,
    example="placehealth ingest pennine_practice_to_pcn_2020.csv --period 2020",
)
def read_groups(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Each text column beside the practice code and name is a grouping of practices."""
    raw = read_table(source)
    frame = resolve_columns(raw, {"practice_code": _GROUP_CODES,
                                  "practice_name": ["Practice Name", "PRACTICE_NAME"]},
                            mapping=options.mapping, optional=["practice_name"],
                            layout="practice groups")
    check_codes(frame, "practice_code", PRACTICE, "practice")
    check_unique(frame, ["practice_code"], "practice")
    if options.period:
        period = options.period.strip()
    elif m := re.search(r"(20\d\d(?:-\d\d)?)", source.name):
        period = m.group(1)
    else:
        raise InputError(source.name, "no period in the file name", hint="pass --period P")
    used = {c.lower() for c in _GROUP_CODES} | {"practice name", "practice_name"}
    if "practice_code" in options.mapping:
        used.add(options.mapping["practice_code"].lower())
    groupings = [c for c in raw.columns if c.lower() not in used]
    if not groupings:
        raise InputError(source.name, "no grouping columns beside the practice code", line=1)
    parts = []
    for column in groupings:
        names = null_if_blank(raw[column])
        parts.append(pd.DataFrame({
            "period": period, "grouping": re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_"),
            "practice_code": frame["practice_code"], "practice_name":
            null_if_blank(frame["practice_name"]) if "practice_name" in frame else None,
            "group_name": names}).dropna(subset=["group_name"]))
    out = pd.concat(parts, ignore_index=True)
    source.warn(f"{out['practice_code'].nunique()} practices in "
                f"{', '.join(f'{g}: {n} groups' for g, n in out.groupby('grouping')['group_name'].nunique().items())}"
                "; stored as practice_groups (names only, no PCN codes)")
    return ReadResult("practice-groups", "Local practice groupings", period,
                      {"practice_groups": out})


__all__ = ["read_epcn", "read_epraccur", "read_groups", "read_locations", "read_qof_geographies"]
