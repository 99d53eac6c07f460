"""Helpers shared by tests: paths, the real published files in ../shared/data, and the one way a
test puts hand-made canonical rows into a store (``ingest``).

Tests import these from here (not from conftest, whose module name is ambiguous when several
conftest.py files exist). Tiny hand-made stores live beside this file (``tiny_*.py``); file
layouts in ``layouts.py``.
"""

from __future__ import annotations

import hashlib
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest

from placehealth.sources.base import ReadResult
from placehealth.store import Store

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"

#: Files that need a kind, period or column names the file itself does not carry:
#: (kind, period) or (kind, period, {canonical: source column}).
FORCED = {
    "gp_registrations/gp_patients_by_practice_lsoa11_2022_national.csv.gz":
        ("gp-reg-lsoa", "2022-01", {"lsoa_code": "lsoa11cd", "patients": "patients"}),
    "derived_reference/practice_ethnicity_census2021_blackwellrd_2023-01.csv":
        ("practice-attributes", "2023-01"),
    "derived_reference/practice_imd2019_blackwellrd_2023-01.csv": ("practice-attributes", "2023-01"),
    "gp_registrations/qof_2019-20_practice_list_by_age_group.csv": ("practice-attributes", "2019-20"),
    "regional_subsets/pennine_lancashire_2020/gp-reg-pat-prac-sing-age_pennine_2020.csv":
        (None, "2020-04"),
    "regional_subsets/staffordshire_stoke_2025/gp_patients_by_practice_lsoa21_ssot_2025-10.csv":
        (None, "2025-10"),
    "postcodes/postcode_lsoa21_lsoa11_test_areas_derived.csv.gz": (None, "2025-10"),
    "partners_and_venues/dfe_family_hub_sites.csv": (None, "2025-01"),
}

#: Folders and files no reader takes yet, each with the reason. A reader that lands for one of
#: them removes its entry here, so the real-files test then proves that file loads too.
NOT_READ = {
    "partners_and_venues/greater_manchester/": "one conurbation's venue lists in local layouts "
    "(GeoJSON polygons, ad hoc columns): load with --as partners after adding id and kind columns",
    "partners_and_venues/nhsbsa_consolidated_pharmaceutical_list.csv":
        "pharmacy opening hours: pharmacies load from the dispensing-contractor list (edispensary)",
    "uptake_series/cover_la_quarterly_published/": "COVER quarterly spreadsheets as published: "
        "their layout changes over the years; the long extract beside them is read instead",
    "qof_prevalence/qof_2019-20_ORGANISATION_REFERENCE_1920.csv.gz":
        "QOF maximum points per practice: nothing placehealth computes uses it",
}


def real_files() -> list[Path]:
    """Every real file a reader takes (all of ../shared/data but NOT_READ and the .md notes)."""
    return sorted(p for p in SHARED_DATA.rglob("*") if p.is_file() and p.suffix != ".md"
                  and not str(p.relative_to(SHARED_DATA)).startswith(tuple(NOT_READ)))


def shared_file(relative: str) -> Path:
    """A real file from ../shared/data; the test is skipped with a reason when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real data not present: {path}")
    return path


def ingest(store: Store, table: str, rows: pd.DataFrame | list[dict], period: str = "-") -> None:
    """Ingest canonical ``rows`` into ``table`` as if a reader had produced them.

    ``period`` labels the load; the load's sha256 is the rows' own, so the same rows twice are
    one load.
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    digest = hashlib.sha256(f"{table}{period}{frame.to_csv()}".encode()).hexdigest()
    store.ingest([ReadResult("test", "hand-made rows", period, {table: frame},
                             file_name=f"{table}.csv", sha256=digest)])


def frame(text: str) -> pd.DataFrame:
    """A table written as pipe-separated text (header first), every value text."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    body = "\n".join(",".join(c.strip() for c in line.strip("|").split("|")) for line in lines)
    return pd.read_csv(StringIO(body), dtype=str, keep_default_na=False).replace({"": None})
