"""Spec: moving registrations between LSOA 2021 and LSOA 2011 codes (harmonised geography).

The lookup, one of each kind of change:

| LSOA 2011 | LSOA 2021 | change |
|---|---|---|
| E01000001 | E01000001 | U unchanged |
| E01000010 | E01000011, E01000012 | S split (seen from 2021: two codes combine) |
| E01000020, E01000021 | E01000022 | M merge (seen from 2021: apportioned by 2011 population) |
| E01000030 | E01000031, E01000032 | X complex |
| E01000033 | E01000032 | X complex |

Practice B00001 (2021 codes): 10 in E01000001, 20 + 30 in the two halves of the split, 40 in the
merged LSOA, 100 in E01000032 and 5 with no LSOA. IMD2019 scores on 2011 codes: 10, 20, 30, 50,
60, 80 for E01000001, ...10, ...20, ...21, ...30, ...33.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from placehealth import levels as lv
from placehealth.analyses.profile import period_tables
from placehealth.geography import Crosswalk, apportion, crosswalk, harmonise_frame

from support.tiny_place import imd, load, practice_pcn, registrations

CHANGES = [
    ("E01000001", "E01000001", "U"),
    ("E01000010", "E01000011", "S"), ("E01000010", "E01000012", "S"),
    ("E01000020", "E01000022", "M"), ("E01000021", "E01000022", "M"),
    ("E01000030", "E01000031", "X"), ("E01000030", "E01000032", "X"),
    ("E01000033", "E01000032", "X"),
]
SCORES_2011 = {"E01000001": 10.0, "E01000010": 20.0, "E01000020": 30.0, "E01000021": 50.0,
               "E01000030": 60.0, "E01000033": 80.0}


def _place(store, population_2011: bool):
    registrations(store, "2025-01", [
        ("B00001", "E01000001", "ALL", 10), ("B00001", "E01000011", "ALL", 20),
        ("B00001", "E01000012", "ALL", 30), ("B00001", "E01000022", "ALL", 40),
        ("B00001", "E01000032", "ALL", 100), ("B00001", "EMPTY", "ALL", 5),
    ])
    practice_pcn(store, "2025-01", [("B00001", "U00009", "Nine PCN", "01A", "QAA")])
    load(store, "lsoa_changes", CHANGES, "lsoa11_code lsoa21_code change_code")
    imd(store, "IMD2019", 2011, [(code, "imd", score, 5) for code, score in SCORES_2011.items()])
    if population_2011:
        load(store, "lsoa_population", [
            ("E01000020", 1000), ("E01000021", 3000), ("E01000030", 2000), ("E01000033", 2000),
        ], "lsoa_code population", period="2020", lsoa_vintage=2011, sex="ALL", age_from=-1,
            age_to=None)
    return store


def test_registrations_on_2021_codes_profiled_with_imd_2019(store):
    tables = period_tables(_place(store, population_2011=True), "2025-01")
    practice = tables["practice_profile"].iloc[0]
    # moved to 2011 codes: 10 | 20+30 = 50 | 40 split 1000:3000 = 10, 30 | 100 split 2000:2000
    expected = (10 * 10 + 50 * 20 + 10 * 30 + 30 * 50 + 50 * 60 + 50 * 80) / 200
    assert practice["imd_score"] == pytest.approx(expected)
    assert practice["patients"] == pytest.approx(205)  # totals preserved, unknown kept
    assert practice["unknown_lsoa_pct"] == pytest.approx(100 * 5 / 205)
    assert (practice["imd_edition"], practice["lsoa_vintage"]) == ("IMD2019", 2011)
    assert "LSOA2021->LSOA2011" in practice["lsoa_harmonisation"]
    lsoas = tables["lsoa_profile"].set_index("unit_code")["patients"]
    assert lsoas.to_dict() == pytest.approx({"E01000001": 10, "E01000010": 50, "E01000020": 10,
                                             "E01000021": 30, "E01000030": 50, "E01000033": 50})
    assert lsoas.sum() == pytest.approx(200)


def test_equal_shares_when_no_population_is_loaded(store):
    practice = period_tables(_place(store, population_2011=False), "2025-01")["practice_profile"]
    # the merged LSOA's 40 now splits 20:20
    expected = (10 * 10 + 50 * 20 + 20 * 30 + 20 * 50 + 50 * 60 + 50 * 80) / 200
    assert practice.iloc[0]["imd_score"] == pytest.approx(expected)
    assert "equal shares" in practice.iloc[0]["lsoa_harmonisation"]


def test_apportion_weights_sum_to_one_per_source():
    pairs = pd.DataFrame({"from_code": ["a", "b", "b", "c", "c"],
                          "to_code": ["x", "y", "z", "y", "w"]})
    weights = apportion(pairs, pd.Series({"x": 5.0, "y": 100.0, "z": 300.0, "w": None}))
    w = weights.set_index(["from_code", "to_code"])["weight"]
    assert w["a", "x"] == 1.0  # a single target takes everything
    assert w["b", "y"] == pytest.approx(0.25) and w["b", "z"] == pytest.approx(0.75)
    assert w["c", "y"] == pytest.approx(0.5)  # a target without population: equal shares
    assert weights.groupby("from_code")["weight"].sum().tolist() == pytest.approx([1, 1, 1])


def test_crosswalk_2011_to_2021_uses_census_totals(store):
    load(store, "lsoa_changes", CHANGES, "lsoa11_code lsoa21_code change_code")
    load(store, "census", [("E01000011", "Total: All usual residents", 1500),
                           ("E01000012", "Total: All usual residents", 500)],
         "lsoa_code category residents", census_table="TS021", lsoa_vintage=2021)
    walk = crosswalk(store, 2011, 2021)
    w = walk.weights.set_index(["from_code", "to_code"])["weight"]
    assert w["E01000010", "E01000011"] == pytest.approx(0.75)
    assert w["E01000020", "E01000022"] == 1.0  # merges combine
    assert "Census 2021" in walk.weights_source


def test_missing_lookup_is_a_clear_error(store):
    registrations(store, "2025-01", [("B00001", "E01000001", "ALL", 10)])
    imd(store, "IMD2019", 2011, [("E01000001", "imd", 10.0, 5)])
    with pytest.raises(LookupError, match="LSOA11 -> LSOA21 lookup"):
        period_tables(store, "2025-01", "IMD2019")  # asked for: an error
    with pytest.warns(lv.LevelWarning, match="carry no IMD"):  # chosen by default: a warning
        practices = period_tables(store, "2025-01")["practice_profile"]
    assert practices.iloc[0]["imd_edition"] is None and "imd_score" not in practices


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8)), min_size=1, max_size=30),
       st.dictionaries(st.integers(0, 8), st.floats(0, 5000, allow_nan=False), max_size=9),
       st.lists(st.integers(0, 500), min_size=9, max_size=9))
def test_apportioning_preserves_totals(pairs, population, counts):
    """Whatever the lookup and populations (zero, missing), moved counts add up to the counts."""
    lookup = pd.DataFrame({"from_code": [f"a{i}" for i, _ in pairs],
                           "to_code": [f"b{j}" for _, j in pairs]}).drop_duplicates()
    weights = apportion(lookup, pd.Series({f"b{j}": p for j, p in population.items()}))
    assert weights.groupby("from_code")["weight"].sum().to_numpy() == pytest.approx(1.0)
    walk = Crosswalk(2011, 2021, weights, "test")
    frame = pd.DataFrame({"lsoa_code": [f"a{i}" for i in range(9)], "patients": counts})
    moved = harmonise_frame(frame, walk, ["patients"])
    assert moved["patients"].sum() == pytest.approx(sum(counts))
    assert moved["lsoa_code"].is_unique


def test_authorities_on_2021_codes_carried_onto_2011_codes_by_best_fit(store):
    _place(store, population_2011=True)
    load(store, "geography_lookup", [
        ("E01000001", "E06000001", "Alpha"), ("E01000011", "E06000001", "Alpha"),
        ("E01000012", "E06000002", "Beta"), ("E01000022", "E06000002", "Beta"),
        ("E01000031", "E06000001", "Alpha"), ("E01000032", "E06000002", "Beta"),
    ], "lsoa_code area_code area_name", lsoa_vintage=2021, level="lad", edition="2022")
    tables = period_tables(store, "2025-01")
    units = dict(zip(*[lv.lsoa_units(store, "la", vintage=2011)[c] for c in
                       ("lsoa_code", "unit_code")], strict=True))
    # E01000010 split into one Alpha and one Beta half: 1 x 1 each, tie -> the lowest code;
    # E01000030 gets all of E01000031 (Alpha, weight 1) and half of E01000032 (Beta, 0.5): Alpha;
    # E01000033 gets the other half of E01000032 only: Beta
    assert units == {"E01000001": "E06000001", "E01000010": "E06000001",
                     "E01000020": "E06000002", "E01000021": "E06000002",
                     "E01000030": "E06000001", "E01000033": "E06000002"}
    las = tables["la_profile"].set_index("la_code")["patients"]
    assert las.to_dict() == pytest.approx({"E06000001": 10 + 50 + 50, "E06000002": 10 + 30 + 50})
