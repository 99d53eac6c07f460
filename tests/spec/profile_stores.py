"""Tiny hand-made stores for the profile spec tests: canonical frames written as readable rows."""

from __future__ import annotations

import hashlib

import pandas as pd

from placehealth.sources.base import ReadResult
from placehealth.store import Store


def load(store: Store, table: str, rows: list[tuple], columns: str, **constant) -> None:
    """Ingest ``rows`` (tuples in the order of the space-separated ``columns``) into ``table``."""
    frame = pd.DataFrame(rows, columns=columns.split()).assign(**constant)
    digest = hashlib.sha256(f"{table}{frame.to_csv()}".encode()).hexdigest()
    store.ingest([ReadResult("test", "hand-made", str(constant.get("period", "-")),
                             {table: frame}, file_name=f"{table}.csv", sha256=digest)])


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
