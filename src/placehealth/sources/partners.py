"""Partner and community-asset registers: who works in the place, what they offer, and where.

Readers (all writing the ``partners`` table, one snapshot of one register per file):

- ``partners``: a register kept by a PCN, council or voluntary-sector body, CSV or Excel (first
  sheet), columns found by name: ``partner_id`` (or ``id``), ``name``, ``kind``, ``services``
  (tags separated by ``;``, ``|`` or ``,``), a location (``easting``/``northing`` on the British
  National Grid, ``latitude``/``longitude``, ``postcode`` or ``lsoa_code``), ``serves_lsoas``
  (LSOA codes separated by ``;``), ``radius_m`` (or ``radius_km``), ``capacity`` (sessions a
  week), ``contact``, ``valid_from``, ``valid_to``; optional ``register`` (else the file name
  without its date). ``--as partners`` selects it; other spellings via ``--map``;
- ``edispensary``: NHS England ODS dispensing contractors (``edispensary.csv``: no header, the
  standard 27-column ODS layout; code, name, postcode, open and close dates, status, phone) as
  pharmacies, register ``edispensary``; closed contractors are kept with their close date;
- ``gp-sites``: practice location files (``PRAC_CODE, PRAC_LAT, PRAC_LNG`` or
  ``PRACTICE_CODE, Latitude_1m, Longitude_1m``) as GP sites, register ``gp_sites``.

Locations: coordinates win; otherwise the postcode is resolved through the loaded postcode
lookups (``ReadOptions.postcodes``); otherwise the LSOA (reach then uses the LSOA's point). A
row current at the snapshot that cannot be located (unknown postcode, nothing else given) is an
error naming its line and value, unless ``--allow-unlocated`` keeps it (``located_by`` null) and
lists it. Rows that closed before the snapshot are history and need no location.
"""

from __future__ import annotations

import io
import re
import string

import numpy as np
import pandas as pd

from placehealth.sources.base import ReadOptions, ReadResult, reader
from placehealth.sources.grid import on_grid, to_grid
from placehealth.sources.postcodes import name_key, normalise_postcodes
from placehealth.sources.validate import (
    LSOA,
    InputError,
    SourceFile,
    check_unique,
    month_period,
    normalise_name,
    null_if_blank,
    read_columns,
    read_table,
    single_value,
    to_numbers,
)

PUBLICATION = "Partner and community-asset register"
PUBLICATION_EDISPENSARY = "NHS England ODS dispensing contractors (edispensary)"
PUBLICATION_GP_SITES = "Practice locations as GP sites"

#: The kinds of partner, with the spellings each is read from (compared without case, spaces,
#: hyphens or underscores).
KINDS: dict[str, tuple[str, ...]] = {
    "council_service": ("council", "council service", "local authority", "la service"),
    "voluntary_group": ("voluntary group", "voluntary or community group", "community group",
                        "vcse", "vcs", "charity", "voluntary"),
    "faith_venue": ("faith", "faith venue", "faith group", "place of worship", "church",
                    "mosque", "gurdwara", "temple", "synagogue"),
    "community_centre": ("community centre", "community center", "community hall",
                         "village hall", "family hub", "children's centre"),
    "library": ("library",),
    "school": ("school", "college"),
    "pharmacy": ("pharmacy", "community pharmacy", "chemist"),
    "gp_site": ("gp site", "gp practice", "gp surgery", "practice", "surgery", "branch surgery"),
    "leisure_centre": ("leisure centre", "sports centre", "leisure"),
    "food_bank": ("food bank", "foodbank", "food pantry"),
    "other": ("other",),
}
_KIND_OF = {name_key(s): kind for kind, spellings in KINDS.items() for s in (kind, *spellings)}

_COLUMNS = {
    "register": ["register"],
    "period": ["period", "snapshot"],
    "partner_id": ["partner_id", "id", "partner id", "code", "ods_code", "venue_id"],
    "name": ["name", "partner_name", "partner", "venue", "organisation_name"],
    "kind": ["kind", "type", "partner_type", "category"],
    "services": ["services", "activities", "tags", "offer"],
    "postcode": ["postcode", "post_code", "pcds"],
    "easting": ["easting", "x", "oseast1m"],
    "northing": ["northing", "y", "osnrth1m"],
    "latitude": ["latitude", "lat"],
    "longitude": ["longitude", "long", "lon", "lng"],
    "lsoa_code": ["lsoa_code", "lsoa21cd", "lsoa", "lsoa11cd"],
    "serves_lsoas": ["serves_lsoas", "serves", "neighbourhoods"],
    "radius_m": ["radius_m", "radius"],
    "radius_km": ["radius_km"],
    "capacity": ["capacity", "sessions_per_week", "sessions"],
    "contact": ["contact", "email", "phone", "telephone"],
    "valid_from": ["valid_from", "open_date", "start_date", "from"],
    "valid_to": ["valid_to", "close_date", "end_date", "to"],
}
PARTNER_COLUMNS = ["register", "period", "partner_id", "name", "kind", "services", "postcode",
                   "easting", "northing", "lsoa_code", "located_by", "serves_lsoas", "radius_m",
                   "capacity", "contact", "valid_from", "valid_to"]


# ------------------------------------------------------------------------------------ values
def _date(text: object, *, file: str, line: int, field: str) -> str | None:
    """A date as YYYY-MM-DD from 20250401, 2025-04-01, 01/04/2025 or 2025-04 (first day)."""
    value = "" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text).strip()
    if not value:
        return None
    for pattern, order in ((r"(\d{4})(\d{2})(\d{2})", "ymd"), (r"(\d{4})-(\d{2})-(\d{2})", "ymd"),
                           (r"(\d{2})/(\d{2})/(\d{4})", "dmy"), (r"(\d{4})-(\d{2})", "ym")):
        if m := re.fullmatch(pattern, value):
            parts = m.groups()
            y, mo, d = ((parts[0], parts[1], parts[2]) if order == "ymd" else
                        (parts[2], parts[1], parts[0]) if order == "dmy" else
                        (parts[0], parts[1], "01"))
            try:
                return pd.Timestamp(int(y), int(mo), int(d)).strftime("%Y-%m-%d")
            except ValueError:
                break
    raise InputError(file, f"{value!r} is not a date (expected e.g. 2025-04-01 or 20250401)",
                     line=line, field=field)


def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
    file = frame.attrs.get("source", "input")
    if column not in frame:
        return pd.Series(None, index=frame.index, dtype=object)
    return pd.Series([_date(v, file=file, line=int(i), field=column)
                      for i, v in frame[column].items()], index=frame.index, dtype=object)


def kinds_of(frame: pd.DataFrame, column: str = "kind") -> pd.Series:
    """Canonical kinds from their spellings; an unknown kind is an error naming its line."""
    text = frame[column].astype(str).str.strip()
    mapped = text.map(lambda v: _KIND_OF.get(name_key(v)))
    bad = mapped.isna()
    if bad.any():
        line = int(bad[bad].index[0])
        raise InputError(frame.attrs.get("source", "input"), f"unknown kind {text[line]!r}",
                         line=line, field=column, hint=f"kinds: {', '.join(KINDS)}")
    return mapped


def _tags(values: pd.Series) -> pd.Series:
    """'Flu clinics | Blood pressure, ' -> 'blood pressure;flu clinics' (lower case, sorted)."""
    def clean(value: object) -> str | None:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return None
        tags = sorted({t.strip().lower() for t in re.split(r"[;|,]", str(value)) if t.strip()})
        return ";".join(tags) or None
    return values.map(clean).astype(object)


def _lsoa_list(frame: pd.DataFrame, column: str) -> pd.Series:
    """';'-separated LSOA codes, each checked; an unknown code names its line."""
    out = []
    for line, value in frame[column].items():
        text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
        codes = [c.strip() for c in re.split(r"[;|, ]+", text) if c.strip()]
        for code in codes:
            if not LSOA.match(code):
                raise InputError(frame.attrs.get("source", "input"),
                                 f"{code!r} is not an LSOA code", line=int(line), field=column)
        out.append(";".join(codes) or None)
    return pd.Series(out, index=frame.index, dtype=object)


def _period(frame: pd.DataFrame, options: ReadOptions, source: SourceFile) -> str:
    """The register's snapshot: --period, a period column, or a date in the file name."""
    if options.period:
        return _snapshot(options.period, source.name)
    if "period" in frame:
        return _snapshot(single_value(frame, "period", "snapshot"), source.name)
    if m := re.search(r"(20\d\d-\d\d(?:-\d\d)?)", source.name):
        return m.group(1)
    raise InputError(source.name, "no snapshot date: no period column and no YYYY-MM in the "
                     "file name", line=1, hint="pass --period YYYY-MM (when the list was drawn up)")


def _snapshot(text: str, file: str) -> str:
    value = str(text).strip()
    if re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", value):
        return value
    return month_period(value, file=file)


def register_name(source: SourceFile) -> str:
    """A register's name from its file: the stem without dates or extensions ('Stoke partners
    2025-10.xlsx' -> 'stoke_partners')."""
    stem = source.name.split(".")[0]
    stem = re.sub(r"(20\d\d)[-_]?\d\d([-_]?\d\d)?", "", stem)
    return re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_") or "partners"


# --------------------------------------------------------------------------------- locations
def locate_rows(frame: pd.DataFrame, options: ReadOptions, source: SourceFile,
                period: str) -> pd.DataFrame:
    """Add easting, northing, lsoa_code and located_by to resolved partner rows (see module)."""
    name = source.name
    out = frame.copy()
    east = to_numbers(frame, "easting") if "easting" in frame else pd.Series(np.nan, index=frame.index)
    north = to_numbers(frame, "northing") if "northing" in frame else pd.Series(np.nan, index=frame.index)
    located_by = pd.Series(None, index=frame.index, dtype=object)
    grid = east.notna() & north.notna()
    off = grid & ~on_grid(east, north)
    if off.any():
        line = int(off[off].index[0])
        raise InputError(name, f"point {east[line]}, {north[line]} is not on the British National "
                         "Grid (metres east, north)", line=line, field="easting")
    located_by[grid] = "grid"
    if "latitude" in frame and "longitude" in frame:
        lat, lon = to_numbers(frame, "latitude"), to_numbers(frame, "longitude")
        use = ~grid & lat.notna() & lon.notna()
        outside = use & ~(lat.between(49, 61) & lon.between(-9, 3))
        if outside.any():
            line = int(outside[outside].index[0])
            raise InputError(name, f"point {lat[line]}, {lon[line]} is outside Great Britain "
                             "(expected WGS84 latitude, longitude)", line=line, field="latitude")
        if use.any():
            e, n = to_grid(lat[use].to_numpy(), lon[use].to_numpy())
            east[use], north[use] = e, n
            located_by[use] = "latlon"
    lsoa = null_if_blank(frame["lsoa_code"]) if "lsoa_code" in frame else pd.Series(
        None, index=frame.index, dtype=object)
    bad_lsoa = lsoa.notna() & ~lsoa.astype(str).str.match(LSOA.pattern)
    if bad_lsoa.any():
        line = int(bad_lsoa[bad_lsoa].index[0])
        raise InputError(name, f"{lsoa[line]!r} is not an LSOA code", line=line, field="lsoa_code")
    raw_postcode = null_if_blank(frame["postcode"]) if "postcode" in frame else pd.Series(
        None, index=frame.index, dtype=object)
    postcode = normalise_postcodes(raw_postcode.fillna(""))
    postcode.index = frame.index
    wanted = postcode.dropna().unique().tolist()
    found = (options.postcodes(wanted) if options.postcodes and wanted
             else pd.DataFrame(columns=["postcode", "easting", "northing", "lsoa21_code",
                                        "lsoa11_code"]))
    lookups = found.attrs.get("lookups", 1) if options.postcodes else 0
    found = found.drop_duplicates("postcode").set_index("postcode")
    known = postcode.isin(found.index)
    hit = known & (located_by.isna())
    point = hit & postcode.map(found["easting"]).notna()
    east[point] = postcode[point].map(found["easting"]).astype("float64")
    north[point] = postcode[point].map(found["northing"]).astype("float64")
    located_by[point] = "postcode"
    found_lsoa = postcode.map(found["lsoa21_code"].fillna(found["lsoa11_code"])) if len(found) \
        else pd.Series(None, index=frame.index, dtype=object)
    lsoa = lsoa.where(lsoa.notna(), found_lsoa)
    by_lsoa = located_by.isna() & lsoa.notna()
    located_by[by_lsoa] = "lsoa"
    valid_to = out["valid_to"] if "valid_to" in out else pd.Series(None, index=out.index)
    closed = valid_to.notna() & (valid_to.astype(str) <= _first_day(period))
    unknown = raw_postcode.notna() & ~known
    missing = located_by.isna() & ~closed
    if missing.any() and not options.allow_unlocated:
        line = int(missing[missing].index[0])
        value = raw_postcode[line]
        more = int(missing.sum()) - 1
        tail = f" ({more} more rows like it)" if more else ""
        if value is not None and unknown[line]:
            why = (f"postcode {value!r} is not in the loaded postcode lookup" if lookups
                   else f"postcode {value!r} cannot be placed: no postcode lookup is loaded")
            raise InputError(name, why + tail, line=line, field="postcode",
                             hint="load a lookup (placehealth ingest ONSPD.csv or Code-Point "
                             "Open), correct the postcode, give easting/northing, or pass "
                             "--allow-unlocated to keep the row unlocated")
        raise InputError(name, "no location: no coordinates, postcode or LSOA" + tail, line=line,
                         field="postcode", hint="give a postcode, easting/northing, latitude/"
                         "longitude or lsoa_code, or pass --allow-unlocated")
    if missing.any():
        listed = [f"line {i} {out.loc[i, 'partner_id']} ({raw_postcode[i] or 'no postcode'})"
                  for i in missing[missing].index[:20]]
        more = f", and {int(missing.sum()) - 20} more" if missing.sum() > 20 else ""
        source.warn(f"{int(missing.sum())} partners kept unlocated (--allow-unlocated): "
                    + "; ".join(listed) + more)
    stray = unknown & ~missing & ~closed
    if stray.any():
        source.warn(f"{int(stray.sum())} postcodes not in the lookup; those partners are placed "
                    "by their coordinates or LSOA")
    out["postcode"] = postcode.where(postcode.notna(), raw_postcode)
    out["easting"], out["northing"] = east.round(1), north.round(1)
    out["lsoa_code"], out["located_by"] = lsoa, located_by
    return out


def _first_day(period: str) -> str:
    return period if len(period) == 10 else f"{period[:7]}-01"


def _finish(rows: pd.DataFrame, register: str, period: str) -> pd.DataFrame:
    rows = rows.copy()
    rows["register"], rows["period"] = register, period
    for column in PARTNER_COLUMNS:
        if column not in rows:
            rows[column] = None
    return rows[PARTNER_COLUMNS].reset_index(drop=True)


# ------------------------------------------------------------------------------- a register
def _is_xlsx(source: SourceFile) -> bool:
    return source.text == "" and source.path.suffix.lower() in (".xlsx", ".xlsm")


def _first_sheet(source: SourceFile) -> pd.DataFrame:
    try:
        frame = pd.read_excel(io.BytesIO(source.path.read_bytes()), sheet_name=0, dtype=str,
                              engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for damaged workbooks
        raise InputError(source.name, f"cannot read the workbook ({exc})") from None
    frame.columns = [normalise_name(c) for c in frame.columns]
    frame = frame.dropna(how="all")
    frame = frame.astype(object).where(frame.notna(), "")
    frame.index = frame.index + 2  # row 1 is the header
    frame.attrs["source"] = source.name
    if frame.empty:
        raise InputError(source.name, "the first sheet has no data rows")
    return frame


def _detect_register(source: SourceFile) -> bool:
    keys = {name_key(h) for h in source.header()}
    return {"name", "kind"} <= keys and bool(keys & {"partnerid", "id"})


@reader("partners", PUBLICATION, _detect_register,
        example="placehealth ingest --as partners partners_2025-10.csv")
def read_register(source: SourceFile, options: ReadOptions) -> ReadResult:
    """A partner register (CSV or the first sheet of a workbook) -> ``partners``."""
    raw = _first_sheet(source) if _is_xlsx(source) else read_table(source)
    frame = read_columns(source, _COLUMNS, mapping=options.mapping,
                         optional=[c for c in _COLUMNS if c not in ("partner_id", "name", "kind")],
                         layout="a partner register", raw=raw).astype(object)
    period = _period(frame, options, source)
    register = (single_value(frame, "register", "register") if "register" in frame
                else register_name(source))
    frame["partner_id"] = frame["partner_id"].astype(str).str.strip()
    blank = frame["partner_id"] == ""
    if blank.any():
        raise InputError(source.name, "partner_id is blank", line=int(blank[blank].index[0]),
                         field="partner_id")
    check_unique(frame, ["partner_id"], "partner")
    rows = pd.DataFrame({"partner_id": frame["partner_id"],
                         "name": frame["name"].astype(str).str.strip(),
                         "kind": kinds_of(frame)}, index=frame.index)
    rows["services"] = _tags(frame["services"]) if "services" in frame else None
    rows["serves_lsoas"] = _lsoa_list(frame, "serves_lsoas") if "serves_lsoas" in frame else None
    radius = to_numbers(frame, "radius_m") if "radius_m" in frame else pd.Series(np.nan, index=frame.index)
    if "radius_km" in frame:
        radius = radius.fillna(to_numbers(frame, "radius_km") * 1000)
    rows["radius_m"] = radius
    rows["capacity"] = to_numbers(frame, "capacity") if "capacity" in frame else np.nan
    for column in ("radius_m", "capacity"):
        negative = rows[column] < 0
        if negative.any():
            line = int(negative[negative].index[0])
            raise InputError(source.name, f"{column} {rows.loc[line, column]} is negative",
                             line=line, field=column)
    rows["contact"] = null_if_blank(frame["contact"]) if "contact" in frame else None
    rows["valid_from"], rows["valid_to"] = _dates(frame, "valid_from"), _dates(frame, "valid_to")
    backwards = rows["valid_to"].notna() & rows["valid_from"].notna() & (
        rows["valid_to"].astype(str) < rows["valid_from"].astype(str))
    if backwards.any():
        line = int(backwards[backwards].index[0])
        raise InputError(source.name, f"valid_to {rows.loc[line, 'valid_to']} is before "
                         f"valid_from {rows.loc[line, 'valid_from']}", line=line, field="valid_to")
    for column in ("postcode", "easting", "northing", "latitude", "longitude", "lsoa_code"):
        if column in frame:
            rows[column] = frame[column]
    rows.attrs["source"] = source.name
    located = locate_rows(rows, options, source, period)
    return ReadResult("partners", PUBLICATION, period,
                      {"partners": _finish(located, register, period)})


# -------------------------------------------------------------------------------- edispensary
#: Positions of the fields read from the 27-column ODS layout (no header row).
EDISPENSARY_FIELDS = {"partner_id": 0, "name": 1, "postcode": 9, "valid_from": 10,
                      "valid_to": 11, "status": 12, "contact": 17}
_ODS_PHARMACY = re.compile(r"^F[A-Z0-9]{4}$")


def _detect_edispensary(source: SourceFile) -> bool:
    header = source.header()
    return len(header) >= 18 and bool(_ODS_PHARMACY.match(header[0])) and bool(
        re.fullmatch(r"\d{8}", header[10]))


@reader("edispensary", PUBLICATION_EDISPENSARY, _detect_edispensary,
        example="placehealth ingest --allow-unlocated edispensary_2025-04.csv")
def read_edispensary(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Dispensing contractors (headerless ODS layout) -> ``partners`` as pharmacies."""
    raw = read_table(source, header=False)
    raw.attrs["source"] = source.name
    if raw.shape[1] < 18:
        raise InputError(source.name, f"{raw.shape[1]} columns; the ODS dispensing-contractor "
                         "layout has 27", line=1)
    frame = pd.DataFrame({c: raw.iloc[:, i] for c, i in EDISPENSARY_FIELDS.items()},
                         index=raw.index).astype(object)
    frame.attrs["source"] = source.name
    bad = ~frame["partner_id"].astype(str).str.match(_ODS_PHARMACY.pattern)
    if bad.any():
        line = int(bad[bad].index[0])
        raise InputError(source.name, f"{frame.loc[line, 'partner_id']!r} is not an ODS "
                         "pharmacy code (F + 4 characters)", line=line, field="column 1 (code)")
    check_unique(frame, ["partner_id"], "dispensing contractor")
    period = _period(frame.drop(columns=[], errors="ignore"), options, source)
    rows = pd.DataFrame({"partner_id": frame["partner_id"],
                         "name": frame["name"].astype(str).str.strip().map(string.capwords),
                         "kind": "pharmacy", "postcode": frame["postcode"],
                         "contact": null_if_blank(frame["contact"])}, index=frame.index)
    rows["services"] = np.where(frame["status"].astype(str).str.strip() == "P",
                                "dispensing;proposed", "dispensing")
    rows["valid_from"], rows["valid_to"] = _dates(frame, "valid_from"), _dates(frame, "valid_to")
    rows.attrs["source"] = source.name
    located = locate_rows(rows, options, source, period)
    return ReadResult("edispensary", PUBLICATION_EDISPENSARY, period,
                      {"partners": _finish(located, "edispensary", period)})


# --------------------------------------------------------------------------------- GP sites
_GP_SITES = {
    "extract_date": ["EXTRACT_DATE"],
    "partner_id": ["PRAC_CODE", "PRACTICE_CODE"],
    "name": ["PRACTICE_NAME_PROPER", "PRAC_NAME", "PRACTICE_NAME"],
    "postcode": ["PRAC_POSTCODE", "PRACTICE_POSTCODE"],
    "latitude": ["PRAC_LAT", "Latitude_1m", "LATITUDE"],
    "longitude": ["PRAC_LNG", "Longitude_1m", "LONGITUDE"],
    "lsoa_code": ["PRAC_LSOA21", "PRAC_LSOA11"],
}


@reader("gp-sites", PUBLICATION_GP_SITES, lambda _source: False,
        example="placehealth ingest --as gp-sites gp_practice_locations_2025-10.csv")
def read_gp_sites(source: SourceFile, options: ReadOptions) -> ReadResult:
    """A practice location file -> ``partners`` as GP sites (register ``gp_sites``). The same
    files load as ``practice-locations`` when detected; this kind adds them to the register."""
    frame = read_columns(source, _GP_SITES, mapping=options.mapping,
                         optional=["extract_date", "postcode", "latitude", "longitude",
                                   "lsoa_code"], layout="practice locations").astype(object)
    if options.period:
        period = _snapshot(options.period, source.name)
    elif "extract_date" in frame:
        period = month_period(single_value(frame, "extract_date", "extract date"),
                              file=source.name, line=int(frame.index[0]), field="EXTRACT_DATE")
    else:
        period = _period(frame, options, source)
    check_unique(frame, ["partner_id"], "practice")
    rows = frame[[c for c in frame.columns if c != "extract_date"]].copy()
    rows["name"] = rows["name"].astype(str).str.strip()
    rows["kind"], rows["services"] = "gp_site", "general practice"
    rows.attrs["source"] = source.name
    located = locate_rows(rows, options, source, period)
    return ReadResult("gp-sites", PUBLICATION_GP_SITES, period,
                      {"partners": _finish(located, "gp_sites", period)})


# ------------------------------------------------------------------------ published venue lists
#: Published venue lists read as they are: kind, register, and the columns holding each field.
VENUE_LISTS = {
    "ace-libraries": ("library", "ace_libraries",
                      "Arts Council England public libraries (static statutory libraries)",
                      {"name": ["Library name"], "postcode": ["Postcode"],
                       "area": ["Local authority"]}),
    "family-hubs": ("community_centre", "family_hubs", "DfE family hub sites",
                    {"name": ["Family_Hub", "Family hub"], "postcode": ["Postcode"],
                     "area": ["Local_Authority", "Local authority"]}),
}


def venue_id(name: str, postcode: str | None) -> str:
    """A stable id for a venue listed without one: its name as a slug and its postcode."""
    slug = re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-")[:40]
    return f"{slug}-{re.sub(r'[^A-Z0-9]', '', str(postcode or '').upper())}".rstrip("-")


def _venue_reader(kind_name: str):
    kind, register, publication, columns = VENUE_LISTS[kind_name]
    wanted = [names[0] for names in columns.values()]

    def detect(source: SourceFile) -> bool:
        keys = {name_key(h) for h in source.header()}
        return {name_key(w) for w in wanted} <= keys

    def read(source: SourceFile, options: ReadOptions) -> ReadResult:
        frame = read_columns(source, columns, mapping=options.mapping, layout=publication).astype(object)
        period = _period(frame, options, source)
        frame["name"] = frame["name"].astype(str).str.strip()
        blank = frame["name"] == ""
        if blank.any():
            raise InputError(source.name, "the venue has no name", line=int(blank[blank].index[0]),
                             field=wanted[0])
        repeated = frame.duplicated(["name", "postcode"])
        if repeated.any():
            source.warn(f"{int(repeated.sum())} venues listed twice (same name and postcode) "
                        "kept once")
            frame = frame[~repeated]
        postcodes = normalise_postcodes(frame["postcode"].fillna(""))
        rows = pd.DataFrame({
            "partner_id": [venue_id(n, p if isinstance(p, str) else raw_p) for n, p, raw_p
                           in zip(frame["name"], postcodes, frame["postcode"], strict=True)],
            "name": frame["name"], "kind": kind, "postcode": frame["postcode"],
        }, index=frame.index)
        rows.attrs["source"] = source.name
        check_unique(rows, ["partner_id"], "venue")
        located = locate_rows(rows, options, source, period)
        return ReadResult(kind_name, publication, period,
                          {"partners": _finish(located, register, period)})

    reader(kind_name, publication, detect,
           example=f"placehealth ingest --allow-unlocated {register}_2025-10.csv")(read)
    return read


read_ace_libraries = _venue_reader("ace-libraries")
read_family_hubs = _venue_reader("family-hubs")


__all__ = [
    "EDISPENSARY_FIELDS",
    "KINDS",
    "PARTNER_COLUMNS",
    "VENUE_LISTS",
    "kinds_of",
    "locate_rows",
    "read_ace_libraries",
    "read_edispensary",
    "read_family_hubs",
    "read_gp_sites",
    "read_register",
    "register_name",
    "venue_id",
]
