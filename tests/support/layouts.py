"""Small files in the official layouts (the file-layout contract), for reader tests."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

DOMAINS_2025 = ["Income", "Employment", "Education, Skills and Training",
                "Health Deprivation and Disability", "Crime", "Barriers to Housing and Services",
                "Living Environment"]


def file7_header() -> list[str]:
    """IoD2025 File 7 columns, as MHCLG publishes them."""
    header = ["LSOA code (2021)", "LSOA name (2021)", "Local Authority District code (2024)",
              "Local Authority District name (2024)",
              "Index of Multiple Deprivation (IMD) Score",
              "Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)",
              "Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)"]
    for domain in DOMAINS_2025:
        score = f"{domain} Score (rate)" if domain in ("Income", "Employment") else f"{domain} Score"
        header += [score, f"{domain} Rank (where 1 is most deprived)",
                   f"{domain} Decile (where 1 is most deprived 10% of LSOAs)"]
    return [*header, "Total population: mid 2022 (excluding prisoners)"]


def file7_row(code: str, imd_score: float, rank: int, decile: int, population: int) -> list:
    row = [code, f"Somewhere {code[-3:]}", "E06000901", "Demo Town", imd_score,
           f"{rank:,}", decile]
    for i, _ in enumerate(DOMAINS_2025):
        row += [round(0.05 * (i + 1), 3), f"{rank + i:,}", decile]
    return [*row, f"{population:,}"]


def write_csv(path: Path, header: list[str], rows: list[list], *, bom: bool = False,
              quote_all: bool = False) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
                        lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(("\ufeff" if bom else "") + buffer.getvalue(), encoding="utf-8")
    return path


REGISTRATIONS_HEADER = ["PUBLICATION", "EXTRACT_DATE", "PRACTICE_CODE", "PRACTICE_NAME",
                        "LSOA_CODE", "SEX", "NUMBER_OF_PATIENTS"]


def write_registrations(path: Path, month: str, rows: list[tuple[str, str, int]]) -> Path:
    """*Patients Registered at a GP Practice* by LSOA: (practice, LSOA, patients) ALL rows of
    one extract month (e.g. ``01APR2020``)."""
    return write_csv(path, REGISTRATIONS_HEADER, [
        ["GP_PRAC_PAT_LIST", month, practice, f"SURGERY {practice}", lsoa, "ALL", patients]
        for practice, lsoa, patients in rows])


def write_file7(path: Path, rows: list[list] | None = None) -> Path:
    rows = rows if rows is not None else [
        file7_row("E01900001", 45.123, 1_234, 1, 1_520),
        file7_row("E01900002", 12.5, 20_001, 6, 1_388),
        file7_row("E01900003", 5.0, 32_999, 10, 2_001),
    ]
    return write_csv(path, file7_header(), rows, bom=True)


def square(lon: float, lat: float, size: float = 0.01) -> dict:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size],
            [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def write_geojson(path: Path, features: list[tuple[dict, dict]], *, gz: bool = False) -> Path:
    data = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": geometry}
        for props, geometry in features]}
    text = json.dumps(data).encode()
    path.write_bytes(gzip.compress(text) if gz else text)
    return path


QOF_HEADER = ["PRACTICE_CODE", "GROUP_CODE", "REGISTER", "PATIENT_LIST_TYPE",
              "PRACTICE_LIST_SIZE"]
QOF_ROWS = [["Y90001", "HYP", "812", "TOTAL", "6020"], ["Y90001", "DM", "402", "17OV", "4801"],
            ["Y90002", "HYP", "1210", "TOTAL", "9044"], ["Y90002", "DM", "633", "17OV", "7310"]]
