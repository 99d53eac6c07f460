"""The tiny hand-made place of the profile spec and profile-CLI tests, written as readable rows.

The place is drawn as a table (practices, PCNs by month, patients by LSOA) at the top of
tests/spec/test_profile_spec.py, whose expected values are worked out from it by hand.
"""

from __future__ import annotations

import pandas as pd

from placehealth.store import Store

from support import ingest


def load(store: Store, table: str, rows: list[tuple], columns: str, **constant) -> None:
    """Ingest ``rows`` (tuples in the order of the space-separated ``columns``) into ``table``,
    with ``constant`` columns added to every row."""
    frame = pd.DataFrame(rows, columns=columns.split()).assign(**constant)
    ingest(store, table, frame, str(constant.get("period", "-")))


def registrations(store: Store, period: str, rows: list[tuple], vintage: int = 2021) -> None:
    """rows: (practice_code, lsoa_code, sex, patients); unknown codes get lsoa_known = False."""
    frame = pd.DataFrame(rows, columns=["practice_code", "lsoa_code", "sex", "patients"])
    frame["lsoa_known"] = frame["lsoa_code"].str.match(r"^[EW]01\d{6}$")
    frame["lsoa_vintage"] = vintage
    load(store, "registrations_lsoa", frame.values.tolist(), " ".join(frame.columns),
         period=period)


def practice_pcn(store: Store, period: str, rows: list[tuple]) -> None:
    """rows: (practice_code, pcn_code, pcn_name, sub_icb_code, icb_code)."""
    load(store, "practice_pcn", rows, "practice_code pcn_code pcn_name sub_icb_code icb_code",
         period=period)


def imd(store: Store, edition: str, vintage: int, rows: list[tuple]) -> None:
    """rows: (lsoa_code, domain, score, decile)."""
    load(store, "imd", rows, "lsoa_code domain score decile", edition=edition,
         lsoa_vintage=vintage)


L1, L2, L3, WALES = "E01000001", "E01000002", "E01000003", "W01000001"

REGISTRATIONS = [
    ("A00001", L1, "ALL", 60), ("A00001", L2, "ALL", 30), ("A00001", "EMPTY", "ALL", 10),
    ("A00001", L1, "MALE", 30),
    ("A00002", L2, "ALL", 50), ("A00002", L3, "ALL", 50), ("A00002", WALES, "ALL", 100),
    ("A00003", L3, "MALE", 40), ("A00003", L3, "FEMALE", 60),
    ("A00004", L3, "ALL", 100),
]


def build_place(store: Store) -> Store:
    """The place in the module docstring, loaded into ``store``."""
    for period in ("2025-01", "2025-02", "2025-03"):
        registrations(store, period, REGISTRATIONS)
    practice_pcn(store, "2025-01", [
        ("A00001", "U00001", "One PCN", "01A", "QAA"), ("A00002", "U00001", "One PCN", "01A", "QAA"),
        ("A00003", "U00002", "Two PCN", "01A", "QAA"), ("A00004", "U00003", "Three PCN", "01B", "QAA"),
    ])
    practice_pcn(store, "2025-02", [
        ("A00001", "U00001", "One PCN", "01A", "QAA"), ("A00002", "U00002", "Two PCN", "01A", "QAA"),
        ("A00003", "U00002", "Two PCN", "01A", "QAA"), ("A00004", "U00003", "Three PCN", "01B", "QAA"),
    ])
    imd(store, "IoD2025", 2021, [
        (L1, "imd", 40.0, 1), (L2, "imd", 20.0, 5), (L3, "imd", 10.0, 9),
        (L1, "income", 0.4, 1), (L2, "income", 0.2, 5), (L3, "income", 0.1, 9),
    ])
    load(store, "geography_lookup", [
        (L1, "E06000001", "Alpha"), (L2, "E06000001", "Alpha"), (L3, "E06000002", "Beta"),
        (WALES, "W06000001", "Gamma"),
    ], "lsoa_code area_code area_name", lsoa_vintage=2021, level="lad", edition="2024")
    load(store, "census", [
        (L1, "Total: All usual residents", 100),
        (L1, "White: English, Welsh, Scottish, Northern Irish or British", 50),
        (L1, "Asian, Asian British or Asian Welsh: Indian", 50),
        (L1, "White", 50), (L1, "Asian, Asian British or Asian Welsh", 50),
        (L2, "Total: All usual residents", 100), (L2, "White: Irish", 100), (L2, "White", 100),
        (L3, "Total: All usual residents", 500), (L3, "White: Other White", 375),
        (L3, "Black, Black British, Black Welsh, Caribbean or African: African", 125),
    ], "lsoa_code category residents", census_table="TS021", lsoa_vintage=2021)
    load(store, "registrations_age", [
        ("A00001", "MALE", 0, 4, 10), ("A00001", "FEMALE", 0, 4, 10),
        ("A00001", "MALE", 15, 19, 20), ("A00001", "FEMALE", 65, 69, 40),
        ("A00001", "FEMALE", 85, 89, 20),
        ("A00002", "MALE", 10, 10, 100), ("A00002", "FEMALE", 70, 70, 100),
    ], "practice_code sex age_from age_to patients", period="2025-01")
    return store
