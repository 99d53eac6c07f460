"""Real data: reach of need in Stoke-on-Trent (E06000021), October 2025.

Patients by practice and LSOA 2021 (NHS England, Staffordshire and Stoke-on-Trent subset,
2025-10), IoD 2025 deciles, the ONS LSOA 2021 -> ward -> LTLA 2024 lookup, Code-Point Open
postcode points placed in LSOAs (the derived test-area lookup), the NHS England dispensing
contractors (edispensary, about April 2025), the Arts Council England libraries (2022) and the
DfE family hub sites, as published. The reach tables are checked against an independent
brute-force computation from the raw files.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from placehealth.analyses import profile, reach
from placehealth.sources import ReadOptions, read_file
from placehealth.sources.demo import read_options
from placehealth.store import Store

from support import shared_file

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

STOKE = "E06000021"
SSOT = "regional_subsets/staffordshire_stoke_2025/"
LOOKUP = "postcodes/postcode_lsoa21_lsoa11_test_areas_derived.csv.gz"
EDISPENSARY = "partners_and_venues/edispensary_2025-04.csv"
LIBRARIES = "partners_and_venues/ace_static_statutory_libraries_england_2022-12.csv"
HUBS = "partners_and_venues/dfe_family_hub_sites.csv"


@pytest.fixture(scope="module")
def stoke(tmp_path_factory):
    started = time.perf_counter()
    store = Store(tmp_path_factory.mktemp("reach") / "stoke.duckdb")
    results = [
        read_file(shared_file(SSOT + "gp_patients_by_practice_lsoa21_ssot_2025-10.csv"),
                  options=ReadOptions(period="2025-10")),
        read_file(shared_file(SSOT + "gp_practice_locations_ssot_2025-10.csv")),
        read_file(shared_file("imd2025_lsoa21/imd2025_lsoa21_scores_ranks_deciles.csv")),
        read_file(shared_file("geography_lookups/lsoa21_to_ward24_ltla24_lookup.csv")),
        read_file(shared_file(LOOKUP), options=ReadOptions(period="2025-10")),
    ]
    options = read_options(results)
    options.allow_unlocated = True  # Welsh and out-of-area pharmacies: kept, listed, unplaced
    results.append(read_file(shared_file(EDISPENSARY), options=options))
    results.append(read_file(shared_file(LIBRARIES), options=options))
    options.period = "2025-01"
    results.append(read_file(shared_file(HUBS), options=options))
    store.ingest(results)
    loaded = time.perf_counter()
    profile.build(store)
    profiled = time.perf_counter()
    written = reach.build(store)
    done = time.perf_counter()
    print(f"\nStoke reach: load {loaded - started:.1f} s, profiles {profiled - loaded:.1f} s, "
          f"reach {done - profiled:.1f} s ({written})")
    yield store
    store.close()


def stoke_lsoas() -> pd.Series:
    lookup = pd.read_csv(shared_file("geography_lookups/lsoa21_to_ward24_ltla24_lookup.csv"))
    return lookup.loc[lookup["ltla24_code"] == STOKE, "lsoa21_code"]


def test_every_stoke_neighbourhood_has_its_nearest_pharmacy_as_brute_force_finds_it(stoke):
    postcodes = pd.read_csv(shared_file(LOOKUP))
    points = postcodes.groupby("lsoa21cd")[["easting", "northing"]].mean()
    raw = pd.read_csv(shared_file(EDISPENSARY), header=None, dtype=str)
    day = "20250401"
    open_ = (raw[10] <= day) & (raw[11].isna() | (raw[11] > day))
    pharmacies = raw[open_].merge(postcodes[["postcode", "easting", "northing"]],
                                  left_on=9, right_on="postcode")
    ours = stoke.read("reach_lsoa", kind="pharmacy").set_index("lsoa_code")
    codes = stoke_lsoas()
    assert len(codes) > 150 and set(codes) <= set(ours.index)
    origin = points.loc[codes].to_numpy()
    target = pharmacies[["easting", "northing"]].to_numpy(dtype=float)
    brute = np.sqrt(((origin[:, None, :] - target[None, :, :]) ** 2).sum(-1)).min(1)
    assert np.allclose(ours.loc[codes, "distance_m"].to_numpy(dtype=float), brute, atol=1.0)
    # a city: every neighbourhood within 3 km of a pharmacy
    assert brute.max() < 3000


def test_stoke_reach_by_kind_counts_its_core20_neighbourhoods(stoke):
    imd = pd.read_csv(shared_file("imd2025_lsoa21/imd2025_lsoa21_scores_ranks_deciles.csv"))
    codes = set(stoke_lsoas())
    core20 = imd[imd["lsoa21_code"].isin(codes) & (imd["IMD_decile"] <= 2)]
    areas = stoke.read("reach_area", level="la", area_code=STOKE).set_index("kind")
    assert {"pharmacy", "practice", "any_partner"} <= set(areas.index)
    # no need model built: need = Core20 patients; high need = the Core20 LSOAs themselves
    assert int(areas.loc["pharmacy", "high_need_lsoas"]) == len(core20)
    assert areas.loc["pharmacy", "lsoas"] == len(codes)
    rows = stoke.read("reach_lsoa", kind="practice")
    rows = rows[rows["lsoa_code"].isin(codes)]
    expect = rows.loc[rows["reached"], "need"].sum()
    assert areas.loc["practice", "need_reached"] == pytest.approx(expect)
    assert 0 < areas.loc["practice", "need_reached_pct"] <= 100


def test_stoke_libraries_and_family_hubs_are_placed_and_reach_counted(stoke):
    hubs = pd.read_csv(shared_file(HUBS))
    stoke_hubs = hubs[hubs["Local_Authority"] == "Stoke-on-Trent"]
    partners = stoke.read("partners", register="family_hubs")
    placed = partners[partners["located_by"] == "postcode"]
    codes = set(stoke_lsoas())
    assert len(stoke_hubs) >= 5
    assert placed["lsoa_code"].isin(codes).sum() == len(stoke_hubs)
    areas = stoke.read("reach_area", level="la", area_code=STOKE).set_index("kind")
    assert {"library", "community_centre"} <= set(areas.index)
    # no kind of partner reaches more need than all partners together (practices are not partners)
    kinds = areas.drop(index=["practice"])
    assert (kinds["need_reached"] <= areas.loc["any_partner", "need_reached"] + 1e-9).all()
