"""Reach of need on a hand-drawn place: distances, reach rules and area sums worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from placehealth.analyses.reach import ANY, PRACTICE, Place, need_of, reach_lsoa, summarise

LSOAS = pd.DataFrame({
    "lsoa_code": ["L1", "L2", "L3"], "lsoa_name": ["One", "Two", "Three"],
    "la_code": ["A", "A", "B"], "easting": [1000.0, 4000.0, 10000.0],
    "northing": [1000.0, 5000.0, 1000.0], "patients": [1000.0, 2000.0, 500.0],
    "core20": [False, True, False], "missing": [10.0, 20.0, 5.0]})
PARTNERS = pd.DataFrame({
    "partner_id": ["P1", "P2", "V1", "F1", "G1"],
    "name": ["Pharmacy one", "Pharmacy two", "Voluntary", "Food bank", "Surgery"],
    "kind": ["pharmacy", "pharmacy", "voluntary_group", "food_bank", PRACTICE],
    "easting": [1000.0, 4600.0, 10000.0, 20000.0, 1000.0],
    "northing": [1300.0, 5800.0, 4000.0, 20000.0, 3500.0],
    "serves_lsoas": [None, None, None, "L1", None],
    "radius_m": [np.nan, np.nan, 3500.0, np.nan, np.nan]})
TRAVEL = pd.DataFrame({"origin": ["L3", "L2"], "destination": ["P1", "nearest:gp_site"],
                       "minutes": [12.0, 30.0]})


def rows_by(frame: pd.DataFrame) -> dict[tuple[str, str], pd.Series]:
    return {(r.lsoa_code, r.kind): r for r in frame.itertuples()}


def test_nearest_distances_are_straight_lines_worked_by_hand():
    rows = rows_by(reach_lsoa(Place(LSOAS, PARTNERS, TRAVEL.iloc[0:0], "missing")))
    assert rows["L1", "pharmacy"].nearest_id == "P1" and rows["L1", "pharmacy"].distance_m == 300
    # L2 (4000, 5000) to P2 (4600, 5800): a 600-800-1000 triangle
    assert rows["L2", "pharmacy"].nearest_id == "P2" and rows["L2", "pharmacy"].distance_m == 1000
    # L3 (10000, 1000): P2 at sqrt(5400^2 + 4800^2) = 7225 beats P1 at sqrt(9000^2 + 300^2) = 9005
    assert rows["L3", "pharmacy"].nearest_id == "P2"
    assert rows["L3", "pharmacy"].distance_m == round(math.hypot(5400, 4800))
    assert rows["L1", PRACTICE].distance_m == 2500 and not rows["L1", PRACTICE].reached
    # any partner excludes the practices: L1's nearest is P1, L3's the voluntary group (3000 m)
    assert rows["L1", ANY].nearest_id == "P1" and rows["L3", ANY].distance_m == 3000


def test_reach_rules_distance_radius_named_lsoas_and_minutes():
    plain = rows_by(reach_lsoa(Place(LSOAS, PARTNERS, TRAVEL.iloc[0:0], "missing")))
    assert plain["L1", "pharmacy"].reached and plain["L2", "pharmacy"].reached
    assert not plain["L3", "pharmacy"].reached                # 7,225 m > 2,000 m
    assert plain["L3", "voluntary_group"].reached             # 3,000 m inside its own 3,500 m radius
    assert not plain["L2", "voluntary_group"].reached         # 6,708 m: outside the radius
    assert plain["L1", "food_bank"].reached                   # named in serves_lsoas, 26 km away
    assert not plain["L2", "food_bank"].reached
    timed = rows_by(reach_lsoa(Place(LSOAS, PARTNERS, TRAVEL, "missing")))
    assert timed["L3", "pharmacy"].minutes == 12 and timed["L3", "pharmacy"].reached
    assert timed["L2", PRACTICE].minutes == 30                # DfT nearest GP time, not within 15
    tight = rows_by(reach_lsoa(Place(LSOAS, PARTNERS, TRAVEL, "missing"), within_m=250,
                               within_minutes=10))
    assert not tight["L1", "pharmacy"].reached and not tight["L3", "pharmacy"].reached


def test_need_and_high_need():
    need = need_of(LSOAS, "missing").set_index("lsoa_code")
    assert need["need"].tolist() == [10.0, 20.0, 5.0]
    assert need["need_per_1000"].tolist() == [10.0, 10.0, 10.0]
    # all three at the 80th percentile of need per 1,000: all high need (ties stay in)
    assert need["high_need"].all()
    core = need_of(LSOAS, "core20").set_index("lsoa_code")
    assert core["need"].tolist() == [0.0, 2000.0, 0.0]
    assert core["high_need"].tolist() == [False, True, False]


def test_area_sums_worked_by_hand():
    rows = reach_lsoa(Place(LSOAS, PARTNERS, TRAVEL.iloc[0:0], "missing"))
    members = pd.DataFrame({"area_code": ["A", "A", "B"], "lsoa_code": ["L1", "L2", "L3"],
                            "patients": [1000.0, 2000.0, 500.0], "need": [10.0, 20.0, 5.0]})
    areas = summarise(rows, members, "la", {"A": "Area A"}).set_index(["area_code", "kind"])
    a = areas.loc[("A", "pharmacy")]
    assert (a["lsoas"], a["need"], a["need_reached"], a["need_reached_pct"]) == (2, 30, 30, 100)
    f = areas.loc[("A", "food_bank")]
    assert (f["need_reached"], f["high_need_unreached"]) == (10, 1)   # L2 is not served
    b = areas.loc[("B", "pharmacy")]
    assert (b["need_reached"], b["need_reached_pct"], b["high_need_unreached"]) == (0, 0, 1)
    assert areas.loc[("A", "pharmacy"), "area_name"] == "Area A"
