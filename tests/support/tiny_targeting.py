"""The tiny place (support.tiny_place) with what targeting needs: LSOA points 1 km apart on the
National Grid (a postcode lookup: LSOA1 at 400000 E, LSOA2 at 401000 E, LSOA3 at 405000 E, all
at 300000 N), a register of two partners (a community centre 100 m from LSOA1 with a contact,
a pharmacy at 402000 E) and the reach and fair-share tables built."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from placehealth.analyses import profile, reach, shares
from placehealth.sources import ReadOptions, read_file
from placehealth.store import Store

from support import ingest
from support.tiny_place import L1, L2, L3, build_place

SECRET = "hope.manager@example.org"


def build_targeting(folder: Path) -> Path:
    db = folder / "tiny.duckdb"
    register = folder / "reg_2025-03.csv"
    register.write_text("partner_id,name,kind,easting,northing,lsoa_code,contact\n"
                        f"P1,Hope Centre,community centre,400100,300000,{L1},{SECRET}\n"
                        f"P2,Corner Pharmacy,pharmacy,402000,300000,{L3},\n")
    with Store(db) as store:
        build_place(store)
        ingest(store, "postcodes", pd.DataFrame({
            "edition": "onspd-2025-02", "postcode": ["AA1 1AA", "AA1 1AB", "AA1 1AD"],
            "easting": [400000.0, 401000.0, 405000.0], "northing": [300000.0] * 3,
            "lsoa21_code": [L1, L2, L3]}), "onspd-2025-02")
        store.ingest([read_file(register, "partners", ReadOptions())])
        profile.build(store)
        reach.build(store)
        shares.build(store)
    return db
