"""Spec: place profiles on a tiny hand-made place, every expected value worked out by hand.

The place (January 2025, LSOA 2021 codes, IMD scores 40 / 20 / 10 for LSOAs 1 / 2 / 3):

| practice | PCN (Jan) | PCN (Feb) | LSOA1 | LSOA2 | LSOA3 | W01000001 (Wales, no IMD) | EMPTY |
|---|---|---|---|---|---|---|---|
| A00001 | U00001 | U00001 | 60 | 30 | | | 10 |
| A00002 | U00001 | U00002 | | 50 | 50 | 100 | |
| A00003 | U00002 | U00002 | | | 100 (40 male + 60 female rows) | | |
| A00004 | U00003 | U00003 | | | 100 | | |

A00001 also has MALE rows (30 in LSOA1) beside its ALL rows: they must not be added.
LSOA1 and LSOA2 are in authority Alpha, LSOA3 in Beta, the Welsh LSOA in Gamma.
"""

from __future__ import annotations

import warnings

import pytest

from placehealth import levels as lv
from placehealth.analyses.profile import build_profiles, period_tables, score_decile

from support.tiny_place import (
    L1,
    L2,
    L3,
    REGISTRATIONS,
    WALES,
    build_place,
    load,
    practice_pcn,
    registrations,
)


@pytest.fixture
def place(store):
    return build_place(store)


def _row(frame, code):
    rows = frame[frame["unit_code"] == code]
    assert len(rows) == 1, code
    return rows.iloc[0]


@pytest.fixture(scope="module")
def january(tmp_path_factory, new_store):
    with new_store(tmp_path_factory.mktemp("place")) as store:
        yield period_tables(build_place(store), "2025-01")


@pytest.mark.engines
def test_practice_score_is_registration_weighted_over_matched_lsoas(january):
    practices = january["practice_profile"]
    a1 = _row(practices, "A00001")
    assert a1["patients"] == 100  # 60 + 30 + 10 EMPTY; the MALE rows beside ALL rows are not added
    assert a1["imd_score"] == pytest.approx((60 * 40 + 30 * 20) / 90)
    assert a1["unknown_lsoa_pct"] == pytest.approx(10.0)
    assert a1["imd_matched_pct"] == pytest.approx(90.0)
    assert a1["core20_pct"] == pytest.approx(100 * 60 / 90)
    assert a1["imd_decile_1_pct"] == pytest.approx(100 * 60 / 90)
    assert a1["imd_decile_5_pct"] == pytest.approx(100 * 30 / 90)
    assert a1["income_score"] == pytest.approx((60 * 0.4 + 30 * 0.2) / 90)
    # the Welsh LSOA is known but has no English IMD: left out of the weights, reported
    a2 = _row(practices, "A00002")
    assert a2["imd_score"] == pytest.approx(15.0)
    assert a2["unknown_lsoa_pct"] == 0
    assert a2["imd_matched_pct"] == pytest.approx(50.0)
    assert (a2["practice_code"], a2["pcn_code"], a2["pcn_name"]) == ("A00002", "U00001", "One PCN")
    a3 = _row(practices, "A00003")
    assert a3["patients"] == 100  # male + female rows where there are no ALL rows
    assert (a3["imd_edition"], a3["lsoa_vintage"]) == ("IoD2025", 2021)


@pytest.mark.engines
def test_pcn_score_weights_lsoas_not_practices(january):
    u1 = _row(january["pcn_profile"], "U00001")
    assert u1["patients"] == 300
    assert u1["practices"] == 2
    assert u1["unit_name"] == "One PCN" and u1["pcn_code"] == "U00001"
    # (60*40 + 80*20 + 50*10) / 190, not the mean of practice scores (24.17) nor list-weighted (21.1)
    assert u1["imd_score"] == pytest.approx(4500 / 190)
    assert u1["unknown_lsoa_pct"] == pytest.approx(100 * 10 / 300)


def test_score_decile_among_units_of_the_level(january):
    pcns = january["pcn_profile"].set_index("unit_code")
    # scores 23.7, 10, 10: rank 1 -> ceil(10/3) = 4; tied rank 2 -> ceil(20/3) = 7
    assert pcns["imd_score_decile"].to_dict() == {"U00001": 4, "U00002": 7, "U00003": 7}


def test_score_decile_unit():
    import pandas as pd

    scores = pd.Series([float(s) for s in range(1, 21)])  # 20 units, 20 = most deprived
    decile = score_decile(scores)
    assert decile.iloc[19] == 1 and decile.iloc[18] == 1 and decile.iloc[17] == 2
    assert decile.iloc[0] == 10


@pytest.mark.engines
def test_age_structure_weighted_by_unit_patients_at_each_practice(january):
    a1 = _row(january["practice_profile"], "A00001")
    assert a1["age_0_4_pct"] == pytest.approx(20.0)
    assert a1["age_65_69_pct"] == pytest.approx(40.0)
    assert a1["pct_65_plus"] == pytest.approx(60.0)
    assert a1["pct_85_plus"] == pytest.approx(20.0)
    assert a1["female_pct"] == pytest.approx(70.0)
    assert a1["pct_under_18"] == pytest.approx(20 + 20 * 3 / 5)  # 15-19 split by years: 15, 16, 17
    u1 = _row(january["pcn_profile"], "U00001")
    assert u1["age_0_4_pct"] == pytest.approx(100 * (100 * 0.2 + 200 * 0) / 300)
    assert u1["pct_65_plus"] == pytest.approx(100 * (100 * 0.6 + 200 * 0.5) / 300)
    assert u1["pct_under_18"] == pytest.approx((100 * 32 + 200 * 50) / 300)


@pytest.mark.engines
def test_ethnic_mix_apportioned_by_registrations(january):
    a1 = _row(january["practice_profile"], "A00001")
    assert a1["ethnic_asian_pct"] == pytest.approx(100 * (60 * 0.5) / 90)
    assert a1["ethnic_white_pct"] == pytest.approx(100 * (60 * 0.5 + 30 * 1.0) / 90)
    a4 = _row(january["practice_profile"], "A00004")
    assert a4["ethnic_black_pct"] == pytest.approx(25.0)
    assert a4["pct_non_white"] == pytest.approx(25.0)


def test_moved_practice_counts_in_its_pcn_of_that_month(place, january):
    february = period_tables(place, "2025-02")["pcn_profile"].set_index("unit_code")
    assert february.loc["U00001", "patients"] == 100
    assert february.loc["U00002", "patients"] == 300
    assert _row(january["pcn_profile"], "U00002")["patients"] == 100


def test_missing_mapping_month_falls_back_to_nearest_earlier_with_a_warning(place):
    with pytest.warns(lv.LevelWarning, match="2025-02 practice -> PCN mapping"):
        march = period_tables(place, "2025-03")
    assert _row(march["pcn_profile"], "U00002")["patients"] == 300


def test_mapping_falls_back_to_later_period_when_none_earlier(store):
    practice_pcn(store, "2025-06", [("A00001", "U00001", "One PCN", "01A", "QAA")])
    with pytest.warns(lv.LevelWarning, match="later"):
        units = lv.practice_units(store, "pcn", "2025-01")
    assert units["unit_code"].tolist() == ["U00001"]


def test_totals_reconcile_to_registrations(january):
    total = 100 + 200 + 100 + 100
    assert january["practice_profile"]["patients"].sum() == total
    assert january["pcn_profile"]["patients"].sum() == total
    assert january["icb_profile"]["patients"].sum() == total
    subs = january["sub_icb_profile"].set_index("unit_code")["patients"].to_dict()
    assert subs == {"01A": 400, "01B": 100}
    # place-based: every patient in a known LSOA belongs to exactly one authority
    assert january["la_profile"]["patients"].sum() == total - 10


def test_la_profile_counts_pcns_and_largest_share(january):
    las = january["la_profile"]
    beta = _row(las, "E06000002")
    assert beta["unit_name"] == "Beta"
    assert beta["patients"] == 250
    assert beta["practices"] == 3
    assert beta["pcns"] == 3
    assert beta["largest_pcn_pct"] == pytest.approx(40.0)
    assert beta["imd_score"] == pytest.approx(10.0)
    alpha = _row(las, "E06000001")
    assert alpha["patients"] == 140
    assert alpha["pcns"] == 1 and alpha["largest_pcn_pct"] == pytest.approx(100.0)
    assert alpha["residents"] == 200
    assert alpha["coverage_pct"] == pytest.approx(70.0)


def test_lsoa_profile_coverage_and_dominant_practice(january):
    lsoas = january["lsoa_profile"]
    l1 = _row(lsoas, L1)
    assert l1["imd_score"] == 40.0  # a weighted mean over one LSOA is its own score
    assert l1["residents"] == 100 and l1["coverage_pct"] == pytest.approx(60.0)
    l2 = _row(lsoas, L2)
    assert l2["largest_practice_code"] == "A00002"
    assert l2["largest_practice_pct"] == pytest.approx(62.5)
    assert bool(l2["dominant_practice"]) is True
    l3 = _row(lsoas, L3)
    assert bool(l3["dominant_practice"]) is False  # 100 of 250
    assert l3["coverage_pct"] == pytest.approx(100 * 250 / 500)


def test_fragmented_lsoas_have_no_majority_pcn(january):
    fragmented = january["fragmented_lsoas"]
    assert fragmented["lsoa_code"].tolist() == [L3]
    assert fragmented.iloc[0]["largest_pcn_pct"] == pytest.approx(40.0)
    assert fragmented.iloc[0]["pcns"] == 3


def test_pcn_lsoa_shares_and_footprint(january):
    rows = january["pcn_lsoa"]
    u1 = rows[rows["pcn_code"] == "U00001"].set_index("lsoa_code")
    assert u1["patients"].to_dict() == {WALES: 100, L2: 80, L1: 60, L3: 50}
    assert u1["pcn_share_pct"].sum() == pytest.approx(100.0)
    assert u1.loc[WALES, "pcn_share_pct"] == pytest.approx(100 * 100 / 290)
    assert u1.loc[L3, "lsoa_share_pct"] == pytest.approx(20.0)  # 50 of LSOA3's 250
    footprint = january["pcn_footprint"].set_index("pcn_code")
    # shares 34.5, 27.6, 20.7, 17.2: 2 LSOAs reach 50%, 3 reach 80%, 4 reach 95%
    assert footprint.loc["U00001", ["lsoas", "lsoas_50", "lsoas_80", "lsoas_95"]].tolist() == [
        4, 2, 3, 4]


def test_pcn_la_main_authority_and_coterminosity(january):
    rows = january["pcn_la"]
    u1 = rows[rows["pcn_code"] == "U00001"].set_index("la_code")
    assert u1["patients"].to_dict() == {"E06000001": 140, "W06000001": 100, "E06000002": 50}
    assert (u1["main_la_code"] == "E06000001").all()
    assert u1.loc["E06000001", "is_main_la"]
    assert u1.loc["E06000001", "main_la_pct"] == pytest.approx(100 * 140 / 290)
    assert u1["coterminosity"].iloc[0] == pytest.approx(140 / (290 + 140 - 140))
    u3 = rows[rows["pcn_code"] == "U00003"].iloc[0]
    assert u3["coterminosity"] == pytest.approx(100 / (100 + 250 - 100))


def test_groups_work_as_practice_sets_and_as_lsoa_sets(place):
    lv.create_group(place, "North", practices=["A00001", "a00003"])
    lv.create_group(place, "Estate", lsoas=[L1, L3])
    tables = period_tables(place, "2025-01")
    groups = tables["group_profile"]
    north = _row(groups, "North")
    assert north["patients"] == 200
    assert north["imd_score"] == pytest.approx((60 * 40 + 30 * 20 + 100 * 10) / 190)
    estate = _row(groups, "Estate")
    assert estate["patients"] == 310
    assert estate["imd_score"] == pytest.approx((60 * 40 + 250 * 10) / 310)
    lsoas = tables["group_lsoa"].set_index(["group_name", "lsoa_code"])["patients"]
    assert lsoas["North"].to_dict() == {L3: 100, L1: 60, L2: 30}
    assert lsoas["Estate"].to_dict() == {L3: 250, L1: 60}
    footprint = tables["group_footprint"].set_index("group_name")
    # Estate: 80.6% then 19.4% -> one LSOA holds 50% and 80%, both are needed for 95%
    assert footprint.loc["Estate", ["lsoas", "lsoas_50", "lsoas_80", "lsoas_95"]].tolist() == [
        2, 1, 1, 2]
    assert lv.delete_group(place, "North") == 2
    assert lv.read_groups(place)["group_name"].unique().tolist() == ["Estate"]


def test_group_codes_are_checked(store):
    from placehealth.sources.validate import InputError

    with pytest.raises(InputError, match="not a practice code"):
        lv.create_group(store, "Bad", practices=["A00001", "PCN1"])
    with pytest.raises(InputError, match="either practices or LSOAs"):
        lv.create_group(store, "Both", practices=["A00001"], lsoas=[L1])


def test_group_file_names_line_and_field(tmp_path):
    from placehealth.sources.validate import InputError

    good = tmp_path / "team.csv"
    good.write_text("practice_code,note\nA00001,x\nA00002,y\n")
    assert lv.read_group_file(good) == (["A00001", "A00002"], [])
    bad = tmp_path / "bad.csv"
    bad.write_text("code\nE01000001\nnonsense\n")
    with pytest.raises(InputError, match=r"bad.csv, line 3, field 'code'"):
        lv.read_group_file(bad)


def test_build_writes_every_period(place):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lv.LevelWarning)
        written = build_profiles(place)
    assert written["pcn_profile"] == 9  # 3 PCNs x 3 months
    assert sorted(place.periods("practice_profile")) == ["2025-01", "2025-02", "2025-03"]
    assert "fragmented_lsoas" in written and "pcn_la" in written


@pytest.mark.engines
def test_build_writes_the_lsoa_tables_from_the_engine(place, monkeypatch):
    """pcn_lsoa and group_lsoa are written by the engine from its own rows: in one batch, or
    from each batch's rows put together; either way the rows period_tables gives, in table
    order (period, unit, patients largest first, LSOA code)."""
    import pandas as pd

    from placehealth.analyses import profile

    lv.create_group(place, "Estate", lsoas=[L1, L3])
    periods = ["2025-01", "2025-02", "2025-03"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lv.LevelWarning)
        built = {p: period_tables(place, p) for p in periods}
        written = {}
        for at_once in (12, 1):
            monkeypatch.setattr(profile, "PERIODS_AT_ONCE", at_once)
            counts = build_profiles(place)
            written[at_once] = {name: place.read(name) for name in ("pcn_lsoa", "group_lsoa")}
            assert counts["pcn_lsoa"] == len(written[at_once]["pcn_lsoa"])
    for name, key in (("pcn_lsoa", "pcn_code"), ("group_lsoa", "group_name")):
        want = pd.concat([built[p][name] for p in periods], ignore_index=True)
        assert len(want) and want["lsoa_vintage"].eq(2021).all()
        for rows in (written[12][name], written[1][name]):
            if place.con.name != "duckdb":  # Spark keeps no row order
                rows = rows.sort_values(["period", key, "patients", "lsoa_code"],
                                        ascending=[True, True, False, True], ignore_index=True)
            assert list(rows.columns) == list(want.columns)
            pd.testing.assert_frame_equal(rows, want, check_dtype=False)


def test_age_shares_from_broad_bands(store):
    from placehealth.analyses.characteristics import age_values

    load(store, "registrations_age", [
        ("C00001", "ALL", 0, 15, 30), ("C00001", "ALL", 16, 59, 50), ("C00001", "ALL", 60, None, 20),
    ], "practice_code sex age_from age_to patients", period="2025-01")
    shares = age_values(store, "2025-01").set_index("practice_code").loc["C00001"]
    assert shares["under_18"] == pytest.approx((30 + 50 * 2 / 44) / 100)  # 16 and 17 of 16-59
    assert shares["age_65_plus"] != shares["age_65_plus"]  # an open 60+ band cannot be split
    assert shares["age_0_4"] != shares["age_0_4"]  # 0-15 straddles the 5-year bands


@pytest.mark.parametrize(("periods", "period", "expected"), [
    (["2025-01", "2025-06"], "2025-03", ("2025-01", "earlier")),
    (["2025-06"], "2025-03", ("2025-06", "later")),
    (["2020-21"], "2020-04", ("2020-21", "same")),  # April 2020 is in QOF year 2020-21
    (["2020-21"], "2021-03", ("2020-21", "same")),
    (["2020-21", "2021-22"], "2021-04", ("2021-22", "same")),
    (["2020-21"], "2021-06", ("2020-21", "earlier")),
    (["2023-10", "2024-02", "2025-04"], "2023-24", ("2024-02", "same")),  # the latest month in it
])
def test_nearest_period_understands_months_and_qof_years(periods, period, expected):
    assert lv.nearest_period(periods, period) == expected


def test_levels_refuse_the_wrong_kind_of_level(store):
    with pytest.raises(ValueError, match="unknown level 'county'"):
        lv.check_level("county")
    with pytest.raises(ValueError, match="place-based level"):
        lv.practice_units(store, "la", "2025-01")
    with pytest.raises(ValueError, match="practice-based level"):
        lv.lsoa_units(store, "pcn")
    with pytest.raises(LookupError, match="no practice -> PCN mapping"):
        lv.practice_units(store, "pcn", "2025-01")


def test_profiles_build_from_registrations_alone(store):
    """No IMD, Census, ages or lookups loaded: counts and shares still come out, nothing else."""
    registrations(store, "2025-01", REGISTRATIONS)
    practice_pcn(store, "2025-01", [("A00001", "U00001", "One PCN", "01A", "QAA"),
                                    ("A00002", "U00001", "One PCN", "01A", "QAA")])
    tables = period_tables(store, "2025-01")
    pcn = _row(tables["pcn_profile"], "U00001")
    assert pcn["patients"] == 300 and pcn["imd_edition"] is None
    assert "imd_score" not in tables["pcn_profile"] and "la_profile" not in tables
    assert len(tables["practice_profile"]) == 4  # practices outside the mapping still profiled
    assert _row(tables["lsoa_profile"], L3)["largest_practice_code"] == "A00003"  # tie: lowest code


def test_age_sex_pyramid_shares_of_all_patients(january):
    a1 = _row(january["practice_profile"], "A00001")
    assert a1["male_age_0_4_pct"] == pytest.approx(10.0)
    assert a1["female_age_0_4_pct"] == pytest.approx(10.0)
    assert a1["female_age_65_69_pct"] == pytest.approx(40.0)
    pyramid = [c for c in a1.index if c.startswith(("male_age_", "female_age_"))]
    assert len(pyramid) == 38 and a1[pyramid].sum() == pytest.approx(100.0)
    u1 = _row(january["pcn_profile"], "U00001")  # A00001 (100) and A00002 (200: 100 boys aged 10)
    assert u1["male_age_10_14_pct"] == pytest.approx(100 * 200 * 0.5 / 300)
