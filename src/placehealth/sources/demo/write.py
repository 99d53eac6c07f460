"""Write the demo place as files in the official publication layouts (see docs/DATA.md).

Each function writes one publication's file exactly as its publisher lays it out (header names,
code formats, quoting, byte-order marks), so the demo is read by the same readers as real data.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from placehealth.sources.demo.geography import Geography
from placehealth.sources.demo.health import CONDITIONS, IMMUNISATIONS, Health
from placehealth.sources.demo.population import DETAILED, ETHNIC_GROUPS, Population
from placehealth.sources.demo.registrations import Month, Organisations, Practices

REG_PUBLICATION = "GP_PRAC_PAT_LIST"
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]

IOD_DOMAINS = [
    ("Income", "Income Score (rate)"),
    ("Employment", "Employment Score (rate)"),
    ("Education, Skills and Training", "Education, Skills and Training Score"),
    ("Health Deprivation and Disability", "Health Deprivation and Disability Score"),
    ("Crime", "Crime Score"),
    ("Barriers to Housing and Services", "Barriers to Housing and Services Score"),
    ("Living Environment", "Living Environment Score"),
]
IOD_FILE = "File_7_IoD2025_All_Ranks_Scores_Deciles_Population_Denominators.csv"
RUC_NAMES = {
    "UN1": "Urban: Nearer to a major town or city",
    "UF1": "Urban: Further from a major town or city",
    "RLN1": "Larger rural: Nearer to a major town or city",
    "RLF1": "Larger rural: Further from a major town or city",
    "RSN1": "Smaller rural: Nearer to a major town or city",
    "RSF1": "Smaller rural: Further from a major town or city",
}
PRACTICE_LOCATION_COLUMNS = [
    "PRAC_CODE", "PRAC_NAME", "PRAC_POSTCODE", "PRAC_LAT", "PRAC_LNG", "PRAC_OA11", "PRAC_LSOA11",
    "PRAC_OA21", "PRAC_LSOA21", "PCN_CODE", "PCN_NAME", "PCN_POSTCODE", "PCN_LAT", "PCN_LNG",
    "PCN_OA11", "PCN_LSOA11", "PCN_OA21", "PCN_LSOA21", "ONS_LOC_CODE", "LOC_CODE", "LOC_NAME",
    "ONS_ICB_CODE", "ICB_CODE", "ICB_NAME", "ONS_NHSER_CODE", "NHSER_CODE", "NHSER_NAME",
    "SUPPLIER_NAME",
]


def extract_date(period: str) -> str:
    """'2025-10' -> '01OCT2025', as NHS England writes EXTRACT_DATE."""
    year, month = period.split("-")
    return f"01{_MONTHS[int(month) - 1]}{year}"


def _csv(frame: pd.DataFrame, path: Path, *, bom: bool = False, quoting: int = csv.QUOTE_MINIMAL
         ) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, lineterminator="\n", quoting=quoting,
                 encoding="utf-8-sig" if bom else "utf-8")
    return path


def registrations_lsoa(path: Path, month: Month, geo: Geography, prac: Practices) -> Path:
    """gp-reg-pat-prac-lsoa-all: practice x LSOA (SEX = ALL), unknown LSOAs as NO2021."""
    has_unknown = np.flatnonzero(month.unknown > 0)
    practice = np.concatenate([month.practice, has_unknown])
    lsoa = np.concatenate([month.lsoa, np.full(len(has_unknown), geo.n)])
    patients = np.concatenate([month.patients, month.unknown[has_unknown]])
    order = np.lexsort((lsoa, practice))
    codes = np.append(geo.lsoa_code, "NO2021")
    frame = pd.DataFrame({
        "PUBLICATION": REG_PUBLICATION,
        "EXTRACT_DATE": extract_date(month.period),
        "PRACTICE_CODE": prac.code[practice[order]],
        "PRACTICE_NAME": prac.name[practice[order]],
        "LSOA_CODE": codes[lsoa[order]],
        "SEX": "ALL",
        "NUMBER_OF_PATIENTS": patients[order],
    })
    return _csv(frame, path)


def quinary_bands(single: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Single years 0..89 and 90+ -> the 5-year bands of gp-reg-pat-prac-quin-age (95+ is 30%
    of 90+, rounded down)."""
    labels = [f"{a}_{a + 4}" for a in range(0, 95, 5)] + ["95+"]
    bands = np.add.reduceat(single[:, :90], np.arange(0, 90, 5), axis=1)
    over95 = single[:, 90] * 3 // 10
    return labels, np.column_stack([bands, single[:, 90] - over95, over95])


def registrations_age(path: Path, month: Month, prac: Practices, orgs: Organisations) -> Path:
    """gp-reg-pat-prac-quin-age: practice x sex x 5-year band, plus ICB summary rows."""
    labels, female = quinary_bands(month.age_female)
    _, male = quinary_bands(month.age_male)
    parts = []
    for sex, counts in (("FEMALE", female), ("MALE", male)):
        parts.append(pd.DataFrame({
            "ORG_TYPE": "GP",
            "ORG_CODE": np.repeat(prac.code, len(labels)),
            "ONS_CODE": "",
            "POSTCODE": np.repeat(prac.postcode, len(labels)),
            "SEX": sex,
            "AGE_GROUP_5": np.tile(labels, prac.n),
            "NUMBER_OF_PATIENTS": counts.ravel(),
        }))
        icb = orgs.sub_icb_icb[prac.sub_icb]
        for k in range(len(orgs.icb_code)):
            parts.append(pd.DataFrame({
                "ORG_TYPE": "ICB", "ORG_CODE": orgs.icb_code[k], "ONS_CODE": orgs.icb_ons[k],
                "POSTCODE": "", "SEX": sex, "AGE_GROUP_5": labels,
                "NUMBER_OF_PATIENTS": counts[icb == k].sum(0)}))
    frame = pd.concat(parts, ignore_index=True)
    frame.insert(0, "EXTRACT_DATE", extract_date(month.period))
    frame.insert(0, "PUBLICATION", REG_PUBLICATION)
    gp = frame["ORG_TYPE"] == "GP"
    frame = pd.concat([frame[~gp], frame[gp].sort_values(["ORG_CODE", "SEX"], kind="stable")])
    return _csv(frame, path)


def registrations_map(path: Path, period: str, prac: Practices, orgs: Organisations) -> Path:
    """gp-reg-pat-prac-map: practice -> PCN -> Sub-ICB -> ICB -> region."""
    icb = orgs.sub_icb_icb[prac.sub_icb]
    frame = pd.DataFrame({
        "PUBLICATION": REG_PUBLICATION,
        "EXTRACT_DATE": extract_date(period),
        "PRACTICE_CODE": prac.code,
        "PRACTICE_NAME": prac.name,
        "PRACTICE_POSTCODE": prac.postcode,
        "PCN_CODE": prac.pcn_code[prac.pcn],
        "PCN_NAME": prac.pcn_name[prac.pcn],
        "ONS_SUB_ICB_LOCATION_CODE": orgs.sub_icb_ons[prac.sub_icb],
        "SUB_ICB_LOCATION_CODE": orgs.sub_icb_code[prac.sub_icb],
        "SUB_ICB_LOCATION_NAME": orgs.sub_icb_name[prac.sub_icb],
        "ONS_ICB_CODE": orgs.icb_ons[icb],
        "ICB_CODE": orgs.icb_code[icb],
        "ICB_NAME": orgs.icb_name[icb],
        "ONS_COMM_REGION_CODE": orgs.region_ons,
        "COMM_REGION_CODE": orgs.region_code,
        "COMM_REGION_NAME": orgs.region_name,
        "SUPPLIER_NAME": prac.supplier,
    })
    return _csv(frame, path)


def iod(path: Path, geo: Geography, pop: Population, scores: dict[str, np.ndarray],
        ranks: dict[str, np.ndarray], deciles: dict[str, np.ndarray]) -> Path:
    """IoD2025 File 7: scores, ranks (with thousands separators) and deciles; UTF-8 with BOM."""
    columns: dict[str, object] = {
        "LSOA code (2021)": geo.lsoa_code,
        "LSOA name (2021)": geo.lsoa_name,
        "Local Authority District code (2024)": geo.lad_code[geo.lad],
        "Local Authority District name (2024)": geo.lad_name[geo.lad],
        "Index of Multiple Deprivation (IMD) Score": np.round(scores["imd"], 3),
        "Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)":
            [f"{r:,}" for r in ranks["imd"]],
        "Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)":
            deciles["imd"],
    }
    for domain, score_name in IOD_DOMAINS:
        columns[score_name] = np.round(scores[domain], 3)
        columns[f"{domain} Rank (where 1 is most deprived)"] = [f"{r:,}" for r in ranks[domain]]
        columns[f"{domain} Decile (where 1 is most deprived 10% of LSOAs)"] = deciles[domain]
    columns["Total population: mid 2022 (excluding prisoners)"] = pop.total
    return _csv(pd.DataFrame(columns), path, bom=True)


def qof_prevalence(path: Path, year: str, health: Health, prac: Practices) -> Path:
    """QOF raw PREVALENCE file: practice x disease group register and list size."""
    data = health.qof[year]
    k = len(CONDITIONS)
    frame = pd.DataFrame({
        "PRACTICE_CODE": np.repeat(prac.code, k),
        "GROUP_CODE": np.tile([c.code for c in CONDITIONS], prac.n),
        "REGISTER": data["register"].ravel(),
        "PATIENT_LIST_TYPE": np.tile([c.list_type for c in CONDITIONS], prac.n),
        "PRACTICE_LIST_SIZE": data["list_size"].ravel(),
    })
    return _csv(frame, path)


#: Indicators new in a QOF year (absent from the mapping files of earlier years).
NEW_INDICATORS = {"HYP007": "2024-25", "AST007": "2024-25"}


def qof_mapping(path: Path, year: str) -> Path:
    """QOF raw MAPPING_INDICATORS file of ``year``: indicator -> disease group."""
    rows = [{"INDICATOR_CODE": code, "INDICATOR_POINT_VALUE": points, "GROUP_CODE": c.code,
             "GROUP_DESCRIPTION": c.description, "DOMAIN_CODE": "CL",
             "DOMAIN_DESCRIPTION": "Clinical", "PATIENT_LIST_TYPE": c.list_type}
            for c in CONDITIONS for code, points in c.indicators
            if NEW_INDICATORS.get(code, year) <= year]
    return _csv(pd.DataFrame(rows), path)


def qof_geographies(path: Path, prac: Practices, orgs: Organisations, *, latest: bool) -> Path:
    """QOF MAPPING_NHS_GEOGRAPHIES (Sub-ICB era layout): practice -> PCN -> Sub-ICB -> ICB ->
    region for the QOF year, names in title case as QOF writes them. Before the latest year the
    PCNs went by their longer names ('... Primary Care Network'), so each year's file differs."""
    icb = orgs.sub_icb_icb[prac.sub_icb]
    pcn_name = np.array([n.title() if latest else n.title().replace(" Pcn", " Primary Care Network")
                         for n in prac.pcn_name], dtype=object)
    frame = pd.DataFrame({
        "NAT_ONS_CODE": "E92000001", "NAT_CODE": "ENG", "COUNTRY": "England",
        "REGION_ODS_CODE": orgs.region_code, "REGION_ONS_CODE": orgs.region_ons,
        "REGION_NAME": orgs.region_name,
        "ICB_ODS_CODE": orgs.icb_code[icb], "ICB_ONS_CODE": orgs.icb_ons[icb],
        "ICB_NAME": orgs.icb_name[icb],
        "SUB_ICB_LOC_ODS_CODE": orgs.sub_icb_code[prac.sub_icb],
        "SUB_ICB_LOC_ONS_CODE": orgs.sub_icb_ons[prac.sub_icb],
        "SUB_ICB_LOC_NAME": orgs.sub_icb_name[prac.sub_icb],
        "PCN_ODS_CODE": prac.pcn_code[prac.pcn],
        "PCN_NAME": [n.replace(" Pcn", " PCN") for n in pcn_name[prac.pcn]],
        "PRACTICE_CODE": prac.code, "PRACTICE_NAME": [n.title() for n in prac.name],
    })
    return _csv(frame, path)


def census_ts021(path: Path, geo: Geography, pop: Population) -> Path:
    """Census 2021 TS021 ethnic group, Nomis bulk layout (total, 5 groups, 19 detailed groups)."""
    columns: dict[str, object] = {"date": 2021, "geography": geo.lsoa_name,
                                  "geography code": geo.lsoa_code,
                                  "Ethnic group: Total: All usual residents": pop.ethnicity.sum(1)}
    for high, items in ETHNIC_GROUPS.items():
        index = [i for i, (h, _, _) in enumerate(DETAILED) if h == high]
        columns[f"Ethnic group: {high}"] = pop.ethnicity[:, index].sum(1)
        for (low, _), i in zip(items, index, strict=True):
            columns[f"Ethnic group: {high}: {low}"] = pop.ethnicity[:, i]
    return _csv(pd.DataFrame(columns), path)


def lookups(directory: Path, geo: Geography, orgs: Organisations) -> list[Path]:
    """ONS LSOA lookups: to ward and LAD, to Sub-ICB/ICB/LAD, and the rural-urban class."""
    lad_code, lad_name = geo.lad_code[geo.lad], geo.lad_name[geo.lad]
    sub = orgs.lad_sub_icb[geo.lad]
    icb = orgs.sub_icb_icb[sub]
    ward = pd.DataFrame({"LSOA21CD": geo.lsoa_code, "LSOA21NM": geo.lsoa_name,
                         "WD24CD": geo.ward_code[geo.ward], "WD24NM": geo.ward_name[geo.ward],
                         "LAD24CD": lad_code, "LAD24NM": lad_name})
    nhs = pd.DataFrame({"LSOA21CD": geo.lsoa_code, "LSOA21NM": geo.lsoa_name,
                        "SICBL24CD": orgs.sub_icb_ons[sub], "SICBL24CDH": orgs.sub_icb_code[sub],
                        "SICBL24NM": orgs.sub_icb_name[sub], "ICB24CD": orgs.icb_ons[icb],
                        "ICB24CDH": orgs.icb_code[icb], "ICB24NM": orgs.icb_name[icb],
                        "LAD24CD": lad_code, "LAD24NM": lad_name})
    ruc = pd.DataFrame({"LSOA21CD": geo.lsoa_code, "LSOA21NM": geo.lsoa_name,
                        "RUC21CD": geo.ruc_code,
                        "RUC21NM": [RUC_NAMES[c] for c in geo.ruc_code],
                        "Urban_rural_flag": np.where(geo.urban, "Urban", "Rural")})
    return [_csv(ward, directory / "LSOA21_WD24_LAD24_EW_LU.csv"),
            _csv(nhs, directory / "LSOA21_SICBL24_ICB24_LAD24_EN_LU.csv"),
            _csv(ruc, directory / "RUC21_LSOA21_EW.csv")]


def geojson(path: Path, geometries: np.ndarray, properties: list[dict[str, str]]) -> Path:
    """A GeoJSON FeatureCollection (WGS84) with one feature per geometry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    texts = shapely.to_geojson(geometries)
    features = ",\n".join(
        f'{{"type":"Feature","properties":{json.dumps(p, separators=(",", ":"))},"geometry":{g}}}'
        for p, g in zip(properties, texts, strict=True))
    path.write_text('{"type":"FeatureCollection","features":[\n' + features + "\n]}\n",
                    encoding="utf-8")
    return path


def boundaries(directory: Path, geo: Geography) -> list[Path]:
    lsoa = [{"LSOA21CD": c, "LSOA21NM": n} for c, n in zip(geo.lsoa_code, geo.lsoa_name,
                                                            strict=True)]
    lad = [{"LAD24CD": c, "LAD24NM": n} for c, n in zip(geo.lad_code, geo.lad_name, strict=True)]
    return [geojson(directory / "LSOA21_boundaries.geojson", geo.lsoa_polygons, lsoa),
            geojson(directory / "LAD24_boundaries.geojson", geo.lad_polygons, lad)]


def population_sya(path: Path, geo: Geography, pop: Population) -> Path:
    """ONS mid-2022 LSOA population by single year of age and sex (F0..F90, M0..M90)."""
    columns: dict[str, object] = {
        "LAD 2021 Code": geo.lad_code[geo.lad], "LAD 2021 Name": geo.lad_name[geo.lad],
        "LSOA 2021 Code": geo.lsoa_code, "LSOA 2021 Name": geo.lsoa_name, "Total": pop.total}
    for prefix, counts in (("F", pop.female), ("M", pop.male)):
        for age in range(91):
            columns[f"{prefix}{age}"] = counts[:, age]
    return _csv(pd.DataFrame(columns), path)


def practice_locations(path: Path, geo: Geography, prac: Practices, orgs: Organisations
                       ) -> Path:
    """Practice and PCN locations, in the layout of the practice/PCN locations lookup."""
    first = np.array([np.flatnonzero(prac.pcn == k)[0] for k in range(len(prac.pcn_code))])
    lead = first[prac.pcn]
    icb = orgs.sub_icb_icb[prac.sub_icb]
    frame = pd.DataFrame({
        "PRAC_CODE": prac.code, "PRAC_NAME": prac.name, "PRAC_POSTCODE": prac.postcode,
        "PRAC_LAT": np.round(prac.lat, 6), "PRAC_LNG": np.round(prac.lon, 6),
        "PRAC_OA11": "", "PRAC_LSOA11": "", "PRAC_OA21": "",
        "PRAC_LSOA21": geo.lsoa_code[prac.lsoa],
        "PCN_CODE": prac.pcn_code[prac.pcn], "PCN_NAME": prac.pcn_name[prac.pcn],
        "PCN_POSTCODE": prac.postcode[lead], "PCN_LAT": np.round(prac.lat[lead], 6),
        "PCN_LNG": np.round(prac.lon[lead], 6), "PCN_OA11": "", "PCN_LSOA11": "",
        "PCN_OA21": "", "PCN_LSOA21": geo.lsoa_code[prac.lsoa[lead]],
        "ONS_LOC_CODE": orgs.sub_icb_ons[prac.sub_icb], "LOC_CODE": orgs.sub_icb_code[prac.sub_icb],
        "LOC_NAME": orgs.sub_icb_name[prac.sub_icb], "ONS_ICB_CODE": orgs.icb_ons[icb],
        "ICB_CODE": orgs.icb_code[icb], "ICB_NAME": orgs.icb_name[icb],
        "ONS_NHSER_CODE": orgs.region_ons, "NHSER_CODE": orgs.region_code,
        "NHSER_NAME": orgs.region_name, "SUPPLIER_NAME": prac.supplier,
    })
    return _csv(frame[PRACTICE_LOCATION_COLUMNS], path)


def immunisations(path: Path, health: Health, prac: Practices) -> Path:
    """Childhood immunisation uptake by practice (COVER-like): Year, ODS_Code, Age, Item,
    Numerator, Denominator; strings quoted as in the published practice files."""
    parts = []
    for year, data in health.immunisation.items():
        k = len(IMMUNISATIONS)
        parts.append(pd.DataFrame({
            "Year": year,
            "ODS_Code": np.repeat(prac.code, k),
            "Age": np.tile([a for a, _, _ in IMMUNISATIONS], prac.n),
            "Item": np.tile([i for _, i, _ in IMMUNISATIONS], prac.n),
            "Numerator": data["numerator"].ravel(),
            "Denominator": data["denominator"].ravel(),
        }))
    return _csv(pd.concat(parts, ignore_index=True), path, quoting=csv.QUOTE_NONNUMERIC)


__all__ = ["IOD_DOMAINS", "IOD_FILE", "boundaries", "census_ts021", "extract_date", "geojson",
           "immunisations", "iod", "lookups", "population_sya", "practice_locations",
           "qof_geographies", "qof_mapping", "qof_prevalence", "quinary_bands", "registrations_age",
           "registrations_lsoa", "registrations_map"]
