"""Upper-tier local authorities (counties and unitary authorities) are a level like any other:
one entry in the level registry, and profiles, uptake and inequality follow.

Hand-made place (January 2025, LSOA 2021 codes):

| LSOA | LAD (lookup) | upper tier (ONS LAD -> UTLA lookup) | IMD score | A00001 | A00002 |
|---|---|---|---|---|---|
| E01000001 | E07000192 Cannock Chase (district) | E10000028 Staffordshire | 40 | 100 | |
| E01000002 | E07000192 Cannock Chase (district) | E10000028 Staffordshire | 30 | 50 | |
| E01000003 | E07000193 East Staffordshire (district) | E10000028 Staffordshire | 20 | | 200 |
| E01000004 | E06000021 Stoke-on-Trent (unitary) | E06000021 Stoke-on-Trent | 10 | 30 | 120 |

By hand: Staffordshire has 100 + 50 + 200 = 350 patients with a registration-weighted IMD score
of (100 x 40 + 50 x 30 + 200 x 20) / 350 = 9,500 / 350 = 27.142857; Stoke-on-Trent has
30 + 120 = 150 patients, score 10. A unitary authority is its own upper tier (ONS), so without the
LAD -> UTLA lookup Stoke-on-Trent is still a unit and the two districts are left out.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from placehealth import levels as lv
from placehealth.analyses import need
from placehealth.analyses.profile import period_tables
from placehealth.outputs.disclosure import PROFILE_TABLES
from placehealth.outputs.queries import PROFILE_OF
from placehealth.sources import read_file

from support import ingest
from support.layouts import write_csv
from support.tiny_place import imd, load, practice_pcn, registrations

L1, L2, L3, L4 = "E01000001", "E01000002", "E01000003", "E01000004"
LADS = {L1: ("E07000192", "Cannock Chase"), L2: ("E07000192", "Cannock Chase"),
        L3: ("E07000193", "East Staffordshire"), L4: ("E06000021", "Stoke-on-Trent")}
STAFFS, STOKE = "E10000028", "E06000021"


@pytest.fixture
def place(store):
    registrations(store, "2025-01", [("A00001", L1, "ALL", 100), ("A00001", L2, "ALL", 50),
                                     ("A00001", L4, "ALL", 30), ("A00002", L3, "ALL", 200),
                                     ("A00002", L4, "ALL", 120)])
    practice_pcn(store, "2025-01", [("A00001", "U00001", "One PCN", "01A", "QAA"),
                                    ("A00002", "U00001", "One PCN", "01A", "QAA")])
    imd(store, "IoD2025", 2021, [(L1, "imd", 40.0, 1), (L2, "imd", 30.0, 3),
                                 (L3, "imd", 20.0, 5), (L4, "imd", 10.0, 8)])
    load(store, "geography_lookup", [(code, lad, name) for code, (lad, name) in LADS.items()],
         "lsoa_code area_code area_name", lsoa_vintage=2021, level="lad", edition="2024")
    return store


def load_county_lookup(store, tmp_path: Path) -> None:
    """The ONS 'Lower Tier Local Authority to Upper Tier Local Authority' lookup, read by the
    area-lookup reader from its official column names."""
    path = write_csv(tmp_path / "LTLA22_UTLA22_EW_LU.csv",
                     ["LTLA22CD", "LTLA22NM", "UTLA22CD", "UTLA22NM"],
                     [["E07000192", "Cannock Chase", STAFFS, "Staffordshire"],
                      ["E07000193", "East Staffordshire", STAFFS, "Staffordshire"],
                      [STOKE, "Stoke-on-Trent", STOKE, "Stoke-on-Trent"]])
    result = read_file(path)
    assert result.kind == "area-lookup"
    store.ingest([result])


def test_upper_tier_is_a_registered_place_level_with_a_profile():
    spec = lv.get("utla")
    assert spec.kind == lv.PLACE and spec.code_column == "utla_code"
    assert "utla" in lv.levels_for("profile") and "utla" in lv.levels_for("inequality")
    assert PROFILE_OF["utla"] == "utla_profile" and "utla_profile" in PROFILE_TABLES


def test_lsoas_go_to_their_county_or_unitary_authority(place, tmp_path):
    load_county_lookup(place, tmp_path)
    units = lv.lsoa_units(place, "utla", vintage=2021).set_index("lsoa_code")
    assert units["unit_code"].to_dict() == {L1: STAFFS, L2: STAFFS, L3: STAFFS, L4: STOKE}
    assert units.loc[L1, "unit_name"] == "Staffordshire"


def test_without_a_county_lookup_unitaries_stand_alone_and_districts_are_left_out(place):
    with pytest.warns(lv.LevelWarning, match=r"2 lad area\(s\) \(E07000192, E07000193\)"):
        units = lv.lsoa_units(place, "utla", vintage=2021)
    assert dict(zip(units["lsoa_code"], units["unit_code"], strict=True)) == {L4: STOKE}


def test_upper_tier_profile_is_registration_weighted(place, tmp_path):
    load_county_lookup(place, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lv.LevelWarning)
        tables = period_tables(place, "2025-01")
    profile = tables["utla_profile"].set_index("unit_code")
    assert profile["patients"].to_dict() == {STAFFS: 350, STOKE: 150}
    assert profile.loc[STAFFS, "imd_score"] == pytest.approx(9_500 / 350)
    assert profile.loc[STOKE, "imd_score"] == pytest.approx(10.0)
    assert profile.loc[STAFFS, "utla_code"] == STAFFS and profile.loc[STAFFS, "level"] == "utla"


def test_lsoa_uptake_is_summed_to_upper_tier_authorities(place, tmp_path):
    import placehealth.sources.uptake  # noqa: F401  (registers the uptake table)

    load_county_lookup(place, tmp_path)
    counts = {L1: (80, 100), L2: (45, 50), L3: (150, 200), L4: (100, 150)}
    ingest(place, "uptake", [
        {"period": "2024-25", "area_level": "lsoa", "area_code": code, "indicator": "MMR1",
         "age": "24 months", "numerator": x, "denominator": n} for code, (x, n) in counts.items()],
        "2024-25")
    gaps = need.uptake_gaps(place)
    upper = gaps[gaps["area_level"] == "utla"].set_index("area_code")
    # Staffordshire (80 + 45 + 150) / (100 + 50 + 200) = 275 / 350; Stoke 100 / 150
    assert upper.loc[STAFFS, ["numerator", "denominator"]].tolist() == [275, 350]
    assert upper.loc[STAFFS, "uptake"] == pytest.approx(275 / 350)
    assert upper.loc[STOKE, "uptake"] == pytest.approx(100 / 150)
    assert upper.loc[STAFFS, "source"] == "summed from lsoas"
