"""Canonical tables: the stable names and columns every reader writes and every analysis reads.

This module is the single source of truth for the store's loaded tables; docs/DATA.md documents
the same names and a test keeps the two in step. Derived tables (profiles, need, comparison) are
described by the analyses that build them.

Each table has a *partition* (the publication period or edition a row belongs to: a new period is
added beside the old ones, never over them) and a *key* (unique within the table).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Column types, as portable names understood by every Ibis backend.
STRING, INT, FLOAT, BOOL, BINARY = "string", "int64", "float64", "boolean", "binary"
DATE = "date"


@dataclass(frozen=True)
class TableSpec:
    """A canonical table: its columns (name -> type), key, partition and a one-line description."""

    name: str
    columns: dict[str, str]
    key: tuple[str, ...]
    partition: tuple[str, ...]
    description: str
    nullable: frozenset[str] = field(default_factory=frozenset)

    @property
    def value_columns(self) -> list[str]:
        return [c for c in self.columns if c not in self.key and c != "load_id"]


def _spec(name, columns, key, partition, description, nullable=()) -> TableSpec:
    columns = dict(columns) | {"load_id": INT}
    return TableSpec(name, columns, tuple(key), tuple(partition), description, frozenset(nullable))


LOADS = "loads"
LOADS_COLUMNS = {
    "load_id": INT,
    "file_name": STRING,
    "sha256": STRING,
    "kind": STRING,
    "publication": STRING,
    "period": STRING,
    "rows": INT,
    "tables": STRING,
    "loaded_at": STRING,
}

_ORG = {"practice_code": STRING}

CANONICAL: dict[str, TableSpec] = {
    s.name: s
    for s in [
        _spec(
            "registrations_lsoa",
            {"period": STRING, **_ORG, "practice_name": STRING, "lsoa_code": STRING,
             "lsoa_vintage": INT, "lsoa_known": BOOL, "sex": STRING, "patients": INT},
            key=("period", "practice_code", "lsoa_code", "sex"),
            partition=("period",),
            description="Patients registered at each practice by the LSOA they live in "
            "(NHS England gp-reg-pat-prac-lsoa-all). Unknown LSOAs (NO2011, EMPTY, ...) are kept "
            "with lsoa_known = false.",
            nullable=("practice_name", "lsoa_vintage"),
        ),
        _spec(
            "registrations_age",
            {"period": STRING, **_ORG, "sex": STRING, "age_from": INT, "age_to": INT,
             "patients": INT},
            key=("period", "practice_code", "sex", "age_from"),
            partition=("period",),
            description="Patients registered at each practice by sex and age band "
            "(single-year or 5-year files); age_to is null for the open top band (e.g. 95+).",
            nullable=("age_to",),
        ),
        _spec(
            "registrations_total",
            {"period": STRING, **_ORG, "practice_name": STRING, "postcode": STRING,
             "patients": INT},
            key=("period", "practice_code"),
            partition=("period",),
            description="Total patients registered at each practice (gp-reg-pat-prac-all).",
            nullable=("practice_name", "postcode"),
        ),
        _spec(
            "practice_pcn",
            {"period": STRING, **_ORG, "practice_name": STRING, "practice_postcode": STRING,
             "pcn_code": STRING, "pcn_name": STRING, "sub_icb_code": STRING,
             "sub_icb_ons_code": STRING, "sub_icb_name": STRING, "icb_code": STRING,
             "icb_ons_code": STRING, "icb_name": STRING, "region_code": STRING,
             "region_ons_code": STRING, "region_name": STRING},
            key=("period", "practice_code"),
            partition=("period",),
            description="Practice -> PCN -> Sub-ICB -> ICB -> region membership for a period "
            "(gp-reg-pat-prac-map, ePCN, QOF geography mapping). pcn_code 'U' = not in a PCN.",
            nullable=("practice_name", "practice_postcode", "pcn_name", "sub_icb_code",
                      "sub_icb_ons_code", "sub_icb_name", "icb_code", "icb_ons_code", "icb_name",
                      "region_code", "region_ons_code", "region_name"),
        ),

        _spec(
            "pcns",
            {"period": STRING, "pcn_code": STRING, "pcn_name": STRING, "sub_icb_code": STRING,
             "sub_icb_name": STRING, "open_date": STRING, "close_date": STRING,
             "postcode": STRING},
            key=("period", "pcn_code"),
            partition=("period",),
            description="PCN details from the ODS ePCN workbook (PCNDetails sheet).",
            nullable=("pcn_name", "sub_icb_code", "sub_icb_name", "open_date", "close_date",
                      "postcode"),
        ),
        _spec(
            "practices",
            {"period": STRING, **_ORG, "practice_name": STRING, "postcode": STRING,
             "national_grouping": STRING, "health_geography": STRING, "open_date": STRING,
             "close_date": STRING, "status": STRING, "sub_type": STRING,
             "commissioner": STRING, "prescribing_setting": STRING},
            key=("period", "practice_code"),
            partition=("period",),
            description="GP practices and prescribing cost centres from ODS epraccur "
            "(all settings and statuses; prescribing_setting '4' = GP practice, status 'A' = active).",
            nullable=("practice_name", "postcode", "national_grouping", "health_geography",
                      "open_date", "close_date", "status", "sub_type", "commissioner",
                      "prescribing_setting"),
        ),
        _spec(
            "practice_locations",
            {"period": STRING, **_ORG, "latitude": FLOAT, "longitude": FLOAT,
             "lsoa11_code": STRING, "lsoa21_code": STRING},
            key=("period", "practice_code"),
            partition=("period",),
            description="Where each practice is: WGS84 point and the LSOA containing it.",
            nullable=("latitude", "longitude", "lsoa11_code", "lsoa21_code"),
        ),
        _spec(
            "imd",
            {"edition": STRING, "lsoa_code": STRING, "lsoa_vintage": INT, "domain": STRING,
             "score": FLOAT, "rank": INT, "decile": INT},
            key=("edition", "lsoa_code", "domain"),
            partition=("edition",),
            description="English Indices of Deprivation by LSOA, long: one row per edition "
            "(IMD2019 on LSOA 2011, IoD2025 on LSOA 2021), LSOA and domain (imd, income, "
            "employment, education, health, crime, housing, environment, idaci, idaopi, and "
            "sub-domains). Rank 1 and decile 1 = most deprived. Files of one edition merge.",
            nullable=("score", "rank", "decile"),
        ),
        _spec(
            "qof_prevalence",
            {"period": STRING, **_ORG, "group_code": STRING, "register": INT,
             "list_type": STRING, "list_size": INT},
            key=("period", "practice_code", "group_code"),
            partition=("period",),
            description="QOF disease registers by practice (raw PREVALENCE file); list_size is "
            "the denominator of list_type (TOTAL, 06OV, 16OV, 17OV, 18OV, 50OV). Period '2020-21'.",
        ),
        _spec(
            "qof_indicators",
            {"period": STRING, "indicator_code": STRING, "point_value": FLOAT,
             "group_code": STRING, "group_description": STRING, "domain_code": STRING,
             "domain_description": STRING, "list_type": STRING},
            key=("period", "indicator_code"),
            partition=("period",),
            description="QOF indicator -> disease group mapping (MAPPING_INDICATORS file).",
            nullable=("point_value", "domain_code", "domain_description", "list_type",
                      "group_description"),
        ),
        _spec(
            "census",
            {"census_table": STRING, "lsoa_code": STRING, "lsoa_vintage": INT,
             "category": STRING, "residents": INT},
            key=("census_table", "lsoa_code", "category"),
            partition=("census_table",),
            description="Census 2021 bulk tables by LSOA, long (e.g. TS021 ethnic group: "
            "category 'Asian, Asian British or Asian Welsh: Indian'; 'Total' = all usual residents).",
        ),
        _spec(
            "lsoa_population",
            {"period": STRING, "lsoa_code": STRING, "lsoa_vintage": INT, "sex": STRING,
             "age_from": INT, "age_to": INT, "population": INT},
            key=("period", "lsoa_code", "sex", "age_from"),
            partition=("period",),
            description="Resident population by LSOA, sex and age band (ONS mid-year "
            "estimates, Census age groups); age_from = -1 marks the all-ages total, "
            "age_to null = open top band.",
            nullable=("age_to",),
        ),
        _spec(
            "geography_lookup",
            {"lsoa_vintage": INT, "lsoa_code": STRING, "level": STRING, "edition": STRING,
             "area_code": STRING, "area_name": STRING},
            key=("lsoa_vintage", "lsoa_code", "level", "edition"),
            partition=("level", "edition"),
            description="Which area each LSOA lies in, long: level is msoa, ward, lad, utla, "
            "sub_icb, icb, region, pcon or ruc (rural-urban class); edition is the year of the "
            "area set (e.g. '2024' for wards 2024).",
            nullable=("area_name",),
        ),
        _spec(
            "lsoa_changes",
            {"lsoa11_code": STRING, "lsoa21_code": STRING, "change_code": STRING},
            key=("lsoa11_code", "lsoa21_code"),
            partition=("change_code",),
            description="ONS LSOA 2011 -> LSOA 2021 lookup: change_code U unchanged, S split, "
            "M merged, X complex (many-to-many).",
        ),
        _spec(
            "boundaries",
            {"level": STRING, "area_code": STRING, "area_name": STRING, "geometry": STRING},
            key=("level", "area_code"),
            partition=("level",),
            description="Area boundaries as GeoJSON geometry text in WGS84 (level lsoa11, "
            "lsoa21, msoa11, msoa21, lad, icb, ...).",
            nullable=("area_name",),
        ),
        _spec(
            "lsoa_attributes",
            {"period": STRING, "lsoa_code": STRING, "attribute": STRING, "value": FLOAT},
            key=("period", "lsoa_code", "attribute"),
            partition=("period", "attribute"),
            description="Any further numeric LSOA attribute (--as lsoa-attributes), long.",
            nullable=("value",),
        ),
        _spec(
            "practice_attributes",
            {"period": STRING, **_ORG, "attribute": STRING, "value": FLOAT},
            key=("period", "practice_code", "attribute"),
            partition=("period", "attribute"),
            description="Any further numeric practice attribute (--as practice-attributes), long.",
            nullable=("value",),
        ),
        _spec(
            "area_attributes",
            {"period": STRING, "level": STRING, "area_code": STRING, "area_name": STRING,
             "attribute": STRING, "value": FLOAT},
            key=("period", "level", "area_code", "attribute"),
            partition=("level", "attribute"),
            description="Numeric attributes of areas other than LSOAs, long (IoD2025 ICB and "
            "local-authority summaries, MSOA centroids, area time series such as COVID-19 cases "
            "by upper-tier LA); level from the code's prefix (icb, sub_icb, lad, utla, msoa11, "
            "health_board, ...). --as area-attributes.",
            nullable=("area_name", "value"),
        ),
        _spec(
            "area_lookup",
            {"edition": STRING, "from_level": STRING, "from_code": STRING, "from_name": STRING,
             "to_level": STRING, "to_code": STRING, "to_name": STRING},
            key=("edition", "from_level", "from_code", "to_level", "to_code"),
            partition=("from_level", "to_level", "edition"),
            description="Area-to-area lookups not keyed by LSOA (LAD -> region, MSOA 2011 -> "
            "MSOA 2021); many-to-many where areas split or merged.",
            nullable=("from_name", "to_name"),
        ),
        _spec(
            "area_names",
            {"level": STRING, "area_code": STRING, "name_type": STRING, "area_name": STRING},
            key=("level", "area_code", "name_type"),
            partition=("level", "name_type"),
            description="Further names of areas: ONS names in Welsh and House of Commons "
            "Library friendly MSOA names (name_type ons, ons_welsh, hocl, hocl_welsh).",
        ),
        _spec(
            "practice_groups",
            {"period": STRING, "grouping": STRING, **_ORG, "practice_name": STRING,
             "group_name": STRING},
            key=("period", "grouping", "practice_code"),
            partition=("grouping", "period"),
            description="Local groupings of practices given by name only (e.g. a public-health "
            "team's practice -> PCN list without PCN codes): grouping is the source column "
            "(pcn, ccg, ...), group_name its value. Feeds user-defined groups, not practice_pcn.",
            nullable=("practice_name",),
        ),
        _spec(
            "postcodes",
            {"edition": STRING, "postcode": STRING, "easting": FLOAT, "northing": FLOAT,
             "latitude": FLOAT, "longitude": FLOAT, "lsoa21_code": STRING,
             "lsoa11_code": STRING, "lad_code": STRING, "positional_quality": STRING,
             "terminated": STRING},
            key=("edition", "postcode"),
            partition=("edition",),
            description="Postcode lookup: each postcode's National Grid point (metres), WGS84 "
            "point and the LSOAs and local authority it lies in (ONS Postcode Directory, NSPL, "
            "ONS postcode to LSOA lookups, OS Code-Point Open). Postcodes are stored in the "
            "pcds form ('ST4 1AA'); edition names the product and release (onspd-2025-02, "
            "codepoint-2025-10). Partner postcodes resolve through it.",
            nullable=("easting", "northing", "latitude", "longitude", "lsoa21_code",
                      "lsoa11_code", "lad_code", "positional_quality", "terminated"),
        ),
        _spec(
            "partners",
            {"register": STRING, "period": STRING, "partner_id": STRING, "name": STRING,
             "kind": STRING, "services": STRING, "postcode": STRING, "easting": FLOAT,
             "northing": FLOAT, "lsoa_code": STRING, "located_by": STRING,
             "serves_lsoas": STRING, "radius_m": FLOAT, "capacity": FLOAT, "contact": STRING,
             "valid_from": STRING, "valid_to": STRING},
            key=("register", "period", "partner_id"),
            partition=("register", "period"),
            description="Partner and community-asset register: councils' services, voluntary, "
            "community and faith groups, venues, pharmacies, GP sites. One row per partner per "
            "snapshot (period) of a register (a user's list, edispensary, gp_sites); kind from a "
            "fixed list, services as ';'-separated tags, location as a National Grid point "
            "(from coordinates or the postcode lookup; located_by says which; null when "
            "unlocated), the LSOAs it serves or its radius, capacity (sessions a week), "
            "valid_from/valid_to. Snapshots are added beside older ones, never over them. "
            "contact never leaves through an output.",
            nullable=("services", "postcode", "easting", "northing", "lsoa_code",
                      "serves_lsoas", "radius_m", "capacity", "contact", "valid_from",
                      "valid_to"),
        ),
        _spec(
            "travel_times",
            {"matrix": STRING, "mode": STRING, "origin": STRING, "destination": STRING,
             "minutes": FLOAT},
            key=("matrix", "mode", "origin", "destination"),
            partition=("matrix",),
            description="Travel times in minutes from an origin (an LSOA) to a destination (a "
            "partner_id, an LSOA or 'nearest:KIND' for the DfT journey-time statistics' time "
            "to the nearest service of a kind), by mode (walk, pt, cycle, car or the file's "
            "own). matrix names the file's source (--as travel-times).",
            nullable=("minutes",),
        ),
        _spec(
            "allocations",
            {"period": STRING, "resource": STRING, "level": STRING, "unit_code": STRING,
             "amount": FLOAT},
            key=("period", "resource", "level", "unit_code"),
            partition=("period", "resource"),
            description="Actual allocations of a resource (budget, staff hours, sessions) to "
            "PCNs, practices or LSOAs, compared with their fair shares (--as allocations).",
        ),
        _spec(
            "series_input",
            {"level": STRING, "unit_code": STRING, "indicator": STRING, "period": STRING,
             "numerator": FLOAT, "denominator": FLOAT, "value": FLOAT},
            key=("level", "unit_code", "indicator", "period"),
            partition=("indicator", "level"),
            description="Series loaded as they are: an indicator's value (or numerator and "
            "denominator) per unit and period, from a long CSV of any local indicator "
            "(--as series) or the UKHSA COVER quarterly tables by upper-tier council "
            "(--as cover-quarterly). Periods: months YYYY-MM, calendar quarters YYYYQn, "
            "financial years YYYY-YY or years YYYY. The build copies them into `series`.",
            nullable=("numerator", "denominator", "value"),
        ),
        _spec(
            "interventions",
            {"name": STRING, "recorded_at": STRING, "status": STRING, "description": STRING,
             "level": STRING, "unit_codes": STRING, "start": STRING, "end": STRING,
             "indicators": STRING},
            key=("name", "recorded_at"),
            partition=("name", "recorded_at"),
            description="The intervention register: what was done (name, description), where "
            "(level: pcn, practice, group or lsoa, and the ';'-separated unit_codes), when "
            "(start, optional end, written like the series' periods), which indicators it aims "
            "to move and which way (';'-separated indicator:up|down). recorded_at is when the "
            "entry was made (set by placehealth, never by the file); an entry is never "
            "overwritten: a change or a deletion (status = deleted) is a new row, and the "
            "register is each name's latest row.",
            nullable=("description", "end"),
        ),
    ]
}

#: QOF disease groups a patient-level extract flags, with the QOF list type whose people the
#: register counts (TOTAL: all ages; 06OV: aged 6 and over; 17OV, 18OV likewise). The groups
#: and denominators are those of QOF 2020/21 onwards (NHS England, *Quality and Outcomes
#: Framework, Prevalence*: PATIENT_LIST_TYPE of the raw PREVALENCE file).
QOF_REGISTERS: dict[str, str] = {
    "AF": "TOTAL", "AST": "06OV", "CAN": "TOTAL", "CHD": "TOTAL", "CKD": "18OV", "COPD": "TOTAL",
    "DEM": "TOTAL", "DEP": "18OV", "DM": "17OV", "HF": "TOTAL", "HYP": "TOTAL", "LD": "TOTAL",
    "MH": "TOTAL", "NDH": "18OV", "OB": "18OV", "PAD": "TOTAL", "STIA": "TOTAL",
}
#: The least age of each QOF list type.
LIST_TYPE_AGES = {"TOTAL": 0, "06OV": 6, "16OV": 16, "17OV": 17, "18OV": 18, "50OV": 50}
#: Vaccinations and checks a patient-level extract dates (the latest of each, null if none).
PATIENT_EVENTS: dict[str, str] = {
    "flu_vaccination_date": "latest seasonal influenza vaccination",
    "mmr1_date": "first dose of measles, mumps and rubella vaccine",
    "mmr2_date": "second dose of measles, mumps and rubella vaccine",
    "blood_pressure_date": "latest blood pressure recorded",
    "nhs_health_check_date": "latest NHS Health Check",
    "smi_health_check_date": "latest annual physical health check for severe mental illness",
}

#: Tables of one row per person: they stay inside the engine and never leave through an output
#: (only their aggregates do; docs/DATA.md).
ROW_LEVEL = frozenset({"patients"})

CANONICAL["patients"] = _spec(
    "patients",
    {"period": STRING, "person_id": STRING, "practice_code": STRING, "lsoa_code": STRING,
     "age": INT, "sex": STRING, "ethnicity": STRING,
     **{f"{code.lower()}_date": DATE for code in QOF_REGISTERS},
     **dict.fromkeys(PATIENT_EVENTS, DATE)},
    key=("period", "person_id"),
    partition=("period",),
    description="Pseudonymised patients registered at a practice on the extract date (period "
    "YYYY-MM): person_id (a pseudonym, unique in the extract), practice, LSOA of residence, age "
    "in years, sex (M, F, I indeterminate, U unknown), NHS ethnic category (A-H, J-N, P, R, S, "
    "Z; null if not recorded), the date each QOF condition was first recorded (<group>_date, "
    "null = not on the register) and the latest date of each vaccination or check. Read and "
    "aggregated inside the engine (--as patients); only aggregates leave it.",
    nullable=("ethnicity", *(f"{code.lower()}_date" for code in QOF_REGISTERS),
              *PATIENT_EVENTS),
)

#: Columns of the derived table ``series`` (built by ``analyses/series.py``; docs/DATA.md):
#: every indicator over every loaded period at every level, one row per unit and period.
SERIES_COLUMNS = {"level": STRING, "unit_code": STRING, "indicator": STRING, "period": STRING,
                  "numerator": FLOAT, "denominator": FLOAT, "value": FLOAT, "source": STRING}


def register(spec: TableSpec) -> TableSpec:
    """Add a canonical table (used by reader modules that own further tables)."""
    CANONICAL[spec.name] = spec
    return spec


def table_spec(
    name: str,
    columns: dict[str, str],
    key: tuple[str, ...] | list[str],
    partition: tuple[str, ...] | list[str],
    description: str,
    nullable: tuple[str, ...] | list[str] = (),
) -> TableSpec:
    """Build and register a canonical table spec (adds the load_id column)."""
    return register(_spec(name, columns, key, partition, description, nullable))
