"""MHCLG, *English Indices of Deprivation* 2019 (LSOA 2011) and 2025 (LSOA 2021).

Official CSV layouts: File 1 (IMD rank/decile), File 2 (domain ranks/deciles), File 3 (IDACI and
IDAOPI), File 4 (sub-domains), File 5 (scores), File 7 (all scores, ranks, deciles and population
denominators) and File 6 (population denominators); UTF-8 with a byte-order mark and ranks quoted
with thousands separators ("29,199"). Also the repackaged layouts in ../shared/data: mySociety IMD
2019 scores, humaniverse/IMD sub-domains, scores and underlying indicators, and the IoD2025
ICB/local-authority summaries.

Everything by LSOA and domain goes to ``imd`` (long: edition, lsoa_code, domain, score, rank,
decile). The edition is IMD2019 for LSOA 2011 files and IoD2025 for LSOA 2021 files (or
``--period``). Population denominators and underlying indicators go to ``lsoa_attributes``
(period = edition); ICB/LAD summaries to ``area_attributes``.

Source: https://www.gov.uk/government/collections/english-indices-of-deprivation
"""

from __future__ import annotations

import re

import pandas as pd

from placehealth.sources.base import ReadOptions, ReadResult, reader
from placehealth.sources.generic import attribute_name, melt_attributes, numeric_columns
from placehealth.sources.registrations import LAST_LSOA11_CODE
from placehealth.sources.validate import (
    LSOA,
    InputError,
    SourceFile,
    check_codes,
    check_unique,
    normalise_name,
    read_table,
    resolve_columns,
    to_counts,
    to_numbers,
)

PUBLICATION = "MHCLG, English Indices of Deprivation"

#: Domain names used in ``imd.domain`` (documented in docs/DATA.md), by the words that name them.
DOMAINS = [
    ("imd", ["index of multiple deprivation", "imd"]),
    ("idaci", ["income deprivation affecting children", "idaci"]),
    ("idaopi", ["income deprivation affecting older people", "idaopi"]),
    ("income", ["income"]),
    ("employment", ["employment"]),
    ("education", ["education skills and training", "education"]),
    ("health", ["health deprivation and disability", "health"]),
    ("crime", ["crime"]),
    ("housing", ["barriers to housing and services", "housing and services", "housing and access"]),
    ("environment", ["living environment", "environment"]),
    ("children_young_people", ["children and young people"]),
    ("adult_skills", ["adult skills"]),
    ("geographical_barriers", ["geographical barriers"]),
    ("wider_barriers", ["wider barriers"]),
    ("indoors", ["indoors"]),
    ("outdoors", ["outdoors"]),
]
MEASURES = ("score", "rank", "decile")

_LSOA_NAMES = ["LSOA code (2011)", "LSOA code (2021)", "lsoa11cd", "lsoa21cd", "lsoa11_code",
               "lsoa21_code", "LSOA_CODE", "LSOA11CD", "LSOA21CD"]


def classify(column: str) -> tuple[str, str] | None:
    """(domain, measure) that a column holds, or None: 'Income Rank (where 1 is most deprived)'
    -> ('income', 'rank'); 'Housing_and_Services_score' -> ('housing', 'score')."""
    text = normalise_name(column).lower()
    text = re.sub(r"\(where 1 is most deprived[^)]*\)", " ", text)
    text = re.sub(r"[^a-z0-9]+", " ", text)
    text = re.sub(r"\b(sub domain|domain|rate|pct|2019|2025)\b", " ", text)
    text = re.sub(r"\bimd2019\b|\bimd2025\b", "imd", text)
    text = re.sub(r"\s+", " ", text).strip()
    words = text.split()
    if not words or words[-1] not in MEASURES:
        return None
    measure, subject = words[-1], " ".join(words[:-1])
    if "average" in subject or "proportion" in subject:
        return None
    for domain, names in DOMAINS:
        for name in names:
            if re.search(rf"(^|\b){re.escape(name)}(\b|$)", subject):
                return domain, measure
    return None


def _edition(lsoa_column: str, codes: pd.Series, options: ReadOptions) -> tuple[str, int]:
    if options.period:
        edition = options.period.strip()
        return edition, 2021 if "2025" in edition else 2011
    name = lsoa_column.lower()
    if "2021" in name or "21" in name:
        return "IoD2025", 2021
    if "2011" in name or "11" in name:
        return "IMD2019", 2011
    if (codes.str.startswith("E01") & (codes > LAST_LSOA11_CODE)).any():
        return "IoD2025", 2021
    return "IMD2019", 2011


def _is_percent(column: str) -> bool:
    return "pct" in column.lower() or "percent" in column.lower()


def _detect_lsoa_domains(source: SourceFile) -> bool:
    header = source.header()
    has_lsoa = any(h.lower() in {n.lower() for n in _LSOA_NAMES} for h in header)
    if any(h.lower() == "income_domain_numerator" for h in header):
        return False
    return has_lsoa and sum(classify(h) is not None for h in header) >= 2


@reader(
    "imd",
    PUBLICATION + " 2019/2025 by LSOA (Files 1-5, 7; scores, ranks, deciles, sub-domains)",
    _detect_lsoa_domains,
    example="placehealth ingest File_7_IoD2025_All_Ranks_Scores_Deciles_Population_Denominators.csv",
)
def read_imd(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Scores, ranks and deciles of the IMD, its domains and sub-domains, long, one edition."""
    raw = read_table(source)
    frame = resolve_columns(raw, {"lsoa_code": _LSOA_NAMES}, mapping=options.mapping,
                            layout="IoD by LSOA")
    lsoa_column = options.mapping.get("lsoa_code") or next(
        c for c in raw.columns if c.lower() in {n.lower() for n in _LSOA_NAMES})
    check_codes(frame, "lsoa_code", LSOA, "LSOA")
    check_unique(frame, ["lsoa_code"], "LSOA")
    edition, vintage = _edition(lsoa_column, frame["lsoa_code"], options)
    columns: dict[tuple[str, str], str] = {}
    # mySociety's layout (percent columns) recomputes the IMD decile: it differs from the
    # official File 1/2 decile for 3 of 32,844 LSOAs, so only its scores are taken
    mysociety = any(c.lower().endswith("_score_pct") for c in raw.columns)
    for column in raw.columns:
        found = classify(column)
        if found is None:
            continue
        if found in columns:  # File 3 repeats the IMD rank/decile of File 2; keep the first
            continue
        if found == ("imd", "decile") and mysociety:
            continue
        columns[found] = column
    domains = {d for d, _ in DOMAINS}
    for canonical, column in options.mapping.items():  # --map imd_score=Score, --map crime_rank=R
        domain, _, measure = canonical.rpartition("_")
        if domain in domains and measure in MEASURES:
            if column not in raw:
                raise InputError(source.name, f"no column {column!r} for --map {canonical}",
                                 line=1, field=column, hint=f"found: {', '.join(raw.columns)}")
            columns[(domain, measure)] = column
    if not columns:
        raise InputError(source.name, "no score, rank or decile columns", line=1,
                         hint="name them with --map DOMAIN_MEASURE=COLUMN, e.g. --map "
                         "imd_score=Score (domains and measures: docs/DATA.md, Readers)")
    parts = []
    for domain in dict.fromkeys(d for d, _ in columns):
        part = pd.DataFrame({"edition": edition, "lsoa_code": frame["lsoa_code"],
                             "lsoa_vintage": vintage, "domain": domain}, index=frame.index)
        for measure in MEASURES:
            column = columns.get((domain, measure))
            if column is None:
                part[measure] = None
                continue
            if measure == "score":
                values = to_numbers(raw, column)
                part[measure] = (values / 100).round(6) if _is_percent(column) else values
            else:
                part[measure] = to_counts(raw, column, allow_missing=True)
        _check_deciles(part, source, columns.get((domain, "decile")))
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    tables = {"imd": out}
    population = _population(raw, frame, edition)
    if population is not None:
        tables["lsoa_attributes"] = population
    return ReadResult("imd", PUBLICATION, edition, tables)


def _check_deciles(part: pd.DataFrame, source: SourceFile, column: str | None) -> None:
    decile = part["decile"]
    bad = decile.notna() & ~decile.isin(range(1, 11))
    if column and bad.any():
        line = int(part.index[bad.to_numpy()][0])
        raise InputError(source.name, f"decile {int(decile[line])} is not 1-10", line=line,
                         field=column)


_POPULATION = [
    ("population_total", r"^total population"),
    ("population_0_15", r"^dependent children aged 0-15"),
    ("population_16_59", r"^population aged 16-59"),
    ("population_60_plus", r"^older population aged 60"),
    ("population_working_age", r"^working age population"),
]


def _population(raw: pd.DataFrame, frame: pd.DataFrame, edition: str) -> pd.DataFrame | None:
    """IoD population denominators (File 6/7, excluding prisoners) as LSOA attributes."""
    names: dict[str, str] = {}
    for column in raw.columns:
        for attribute, pattern in _POPULATION:
            if re.search(pattern, column.lower()):
                names[column] = f"iod_{attribute}"
    if not names:
        return None
    body = pd.concat([frame[["lsoa_code"]].assign(period=edition), raw[list(names)]], axis=1)
    body.attrs.update(raw.attrs)
    for column in names:
        to_counts(raw, column, allow_missing=True)
    return melt_attributes(body, ["period", "lsoa_code"], list(names), names)


def _detect_population(source: SourceFile) -> bool:
    header = [h.lower() for h in source.header()]
    return any(h.startswith("lsoa code (") for h in header) and any(
        re.search(p, h) for h in header for _, p in _POPULATION)


@reader(
    "imd-population",
    PUBLICATION + ": population denominators (File 6)",
    _detect_population,
    example="placehealth ingest File_6_-_IoD2019_Population_Denominators.csv",
)
def read_population(source: SourceFile, options: ReadOptions) -> ReadResult:
    """IoD population denominators (excluding prisoners) -> lsoa_attributes (period = edition)."""
    raw = read_table(source)
    frame = resolve_columns(raw, {"lsoa_code": _LSOA_NAMES}, mapping=options.mapping,
                            layout="IoD File 6")
    check_codes(frame, "lsoa_code", LSOA, "LSOA")
    check_unique(frame, ["lsoa_code"], "LSOA")
    lsoa_column = next(c for c in raw.columns if c.lower().startswith("lsoa code ("))
    edition, _ = _edition(lsoa_column, frame["lsoa_code"], options)
    population = _population(raw, frame, edition)
    return ReadResult("imd-population", PUBLICATION, edition, {"lsoa_attributes": population})


def _detect_indicators(source: SourceFile) -> bool:
    header = {h.lower() for h in source.header()}
    return "income_domain_numerator" in header and bool(header & {"lsoa11_code", "lsoa21_code"})


@reader(
    "imd-indicators",
    PUBLICATION + ": underlying indicators by LSOA (File 8)",
    _detect_indicators,
    example="placehealth ingest imd2025_lsoa21_underlying_indicators.csv",
)
def read_indicators(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Underlying indicators (numerators, road distances, ...) -> lsoa_attributes."""
    raw = read_table(source)
    frame = resolve_columns(raw, {"lsoa_code": _LSOA_NAMES}, mapping=options.mapping,
                            layout="IoD underlying indicators")
    check_codes(frame, "lsoa_code", LSOA, "LSOA")
    check_unique(frame, ["lsoa_code"], "LSOA")
    lsoa_column = next(c for c in raw.columns if c.lower() in {"lsoa11_code", "lsoa21_code"})
    edition, _ = _edition(lsoa_column, frame["lsoa_code"], options)
    numeric, other = numeric_columns(raw, [lsoa_column])
    if other:
        source.warn(f"non-numeric columns skipped: {', '.join(other)}")
    body = pd.concat([frame[["lsoa_code"]].assign(period=edition), raw[numeric]], axis=1)
    body.attrs.update(raw.attrs)
    out = melt_attributes(body, ["period", "lsoa_code"], numeric)
    return ReadResult("imd-indicators", PUBLICATION, edition, {"lsoa_attributes": out})


_SUMMARY_CODES = {"icb24_code": "icb", "ltla24_code": "lad", "lad24_code": "lad",
                  "local authority district code (2024)": "lad", "icb code": "icb"}


def _detect_summary(source: SourceFile) -> bool:
    header = [h.lower() for h in source.header()]
    return bool(set(header) & set(_SUMMARY_CODES)) and any("average" in h for h in header)


@reader(
    "imd-summaries",
    PUBLICATION + ": local authority and ICB summaries (Files 10, 13)",
    _detect_summary,
    example="placehealth ingest imd2025_icb24_summaries.csv",
)
def read_summaries(source: SourceFile, options: ReadOptions) -> ReadResult:
    """Area summaries (average rank/score, extent, local concentration...) -> area_attributes."""
    raw = read_table(source)
    code_column = next(c for c in raw.columns if c.lower() in _SUMMARY_CODES)
    level = _SUMMARY_CODES[code_column.lower()]
    name_column = next((c for c in raw.columns if c.lower().endswith("_name")), None)
    codes = raw[code_column].astype(str).str.strip()
    frame = pd.DataFrame({"area_code": codes}, index=raw.index)
    frame.attrs.update(raw.attrs)
    check_codes(frame, "area_code", re.compile(r"^E(54|06|07|08|09)\d{6}$"), level.upper())
    check_unique(frame, ["area_code"], level.upper())
    edition = options.period or ("IoD2025" if "24" in code_column else "IMD2019")
    numeric, _other = numeric_columns(raw, [code_column, name_column or ""])
    body = pd.concat([frame.assign(period=edition, level=level,
                                   area_name=raw[name_column] if name_column else None),
                      raw[numeric]], axis=1)
    body.attrs.update(raw.attrs)
    out = melt_attributes(body, ["period", "level", "area_code", "area_name"], numeric)
    return ReadResult("imd-summaries", PUBLICATION, edition, {"area_attributes": out})


__all__ = ["DOMAINS", "attribute_name", "classify", "read_imd"]
