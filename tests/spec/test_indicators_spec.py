"""Indicators are data: one definition, computed the same way at every level.

The tiny store (support/tiny_practices.py) has PCN U00001 = practices A00001 + A00002, so its 2020-21
hypertension prevalence is (10 + 30) / (100 + 200) = 13.33%; England is all five practices,
52 / 500, including A00005 which belongs to no PCN.
"""

from __future__ import annotations

import warnings

import pytest
from statsmodels.stats.proportion import proportion_confint

from placehealth.indicators import (
    Indicator,
    indicator_values,
    load_definitions,
    registry,
    registry_frame,
)
from placehealth.levels import LevelWarning

from support import frame, ingest
from support.tiny_practices import MAPPING, QOF, tiny_store


@pytest.fixture
def tiny(store):
    return tiny_store(store)


def test_registry_has_qof_prevalence_for_every_group_present(tiny):
    known = registry(tiny)
    assert sorted(known) == ["qof_dm_prevalence", "qof_hyp_prevalence"]
    dm = known["qof_dm_prevalence"]
    assert dm.title.startswith("Diabetes mellitus recorded prevalence") and "17OV" in dm.title
    assert dm.filters == {"group_code": "DM"} and dm.method == "proportion"
    assert dm.multiplier == 100 and dm.polarity == "none"
    table = registry_frame(known)
    assert set(table["name"]) == set(known) and "group_code=DM" in set(table["filters"])


@pytest.mark.parametrize("level, unit, x, n", [
    ("practice", "A00002", 30, 200),
    ("pcn", "U00001", 40, 300),
    ("icb", "Q01", 45, 350),
    ("icb", "Q02", 7, 150),
    ("region", "Y01", 52, 500),
    ("england", "E92000001", 52, 500),
])
def test_one_computation_for_every_level(tiny, level, unit, x, n):
    values = indicator_values(tiny, "qof_hyp_prevalence", level, "2020-21")
    row = values.set_index("unit_code").loc[unit]
    assert (row["numerator"], row["denominator"]) == (x, n)
    lower, upper = proportion_confint(x, n, alpha=0.05, method="wilson")
    assert row["value"] == pytest.approx(100 * x / n)
    assert row["lowercl"] == pytest.approx(100 * lower)
    assert row["uppercl"] == pytest.approx(100 * upper)
    assert row["level"] == level and row["indicator"] == "qof_hyp_prevalence"


def test_practices_outside_a_pcn_are_not_a_pcn(tiny):
    values = indicator_values(tiny, "qof_hyp_prevalence", "pcn")
    assert set(values["unit_code"]) == {"U00001", "U00002", "U00003"}
    assert sorted(values["period"].unique()) == ["2019-20", "2020-21"]
    names = values.drop_duplicates("unit_code").set_index("unit_code")["unit_name"]
    assert names["U00001"] == "North"
    assert values.set_index(["unit_code", "period"]).loc[("U00001", "2020-21"), "practices"] == 2


def test_zero_count_gives_zero_with_a_wilson_upper_limit(tiny):
    row = indicator_values(tiny, "qof_hyp_prevalence", "pcn", "2020-21").set_index(
        "unit_code").loc["U00003"]
    assert row["value"] == 0 and row["lowercl"] == 0
    assert row["uppercl"] == pytest.approx(100 * proportion_confint(0, 80, method="wilson")[1])


def test_definitions_from_toml(tmp_path, tiny):
    path = tmp_path / "extra.toml"
    path.write_text('''
[[indicator]]
name = "hyp_per_1000"
title = "Hypertension register per 1,000 patients"
source_table = "qof_prevalence"
numerator = "register"
denominator = "list_size"
method = "rate"
multiplier = 1000
filters = { group_code = "HYP" }
levels = ["pcn", "england"]
''')
    known = registry(tiny, [path])
    assert known["hyp_per_1000"].method == "rate"
    row = indicator_values(tiny, known["hyp_per_1000"], "pcn", "2020-21").set_index(
        "unit_code").loc["U00001"]
    assert row["value"] == pytest.approx(1000 * 40 / 300)
    with pytest.raises(ValueError, match="not available at level 'practice'"):
        indicator_values(tiny, known["hyp_per_1000"], "practice")


def test_bad_definitions_name_the_file_and_field(tmp_path, tiny):
    path = tmp_path / "bad.toml"
    path.write_text('[[indicator]]\nname = "x"\ntitle = "X"\nsource_table = "qof_prevalence"\n'
                    'numerator = "register"\ndenominator = "list_size"\nmethod = "median"\n')
    with pytest.raises(ValueError, match=r"bad.toml: indicator #1: .*method 'median'"):
        load_definitions(path)
    path.write_text('[[indicator]]\nname = "x"\ntitle = "X"\nnumerator = "a"\n')
    with pytest.raises(ValueError, match="missing field"):
        load_definitions(path)
    with pytest.raises(ValueError, match="polarity"):
        Indicator("x", "X", "t", "a", "b", polarity="up")
    with pytest.raises(KeyError, match="unknown indicator 'nope'"):
        indicator_values(tiny, "nope", "pcn")
    bad = Indicator("x", "X", "qof_prevalence", "register", "no_such_column")
    with pytest.raises(ValueError, match="no_such_column"):
        indicator_values(tiny, bad, "pcn")


@pytest.mark.engines
def test_every_unit_and_period_matches_sums_taken_straight_from_the_tables(tiny):
    """An independent oracle: the tiny store's own text tables summed by hand with pandas."""
    qof = frame(QOF).astype({"register": int, "list_size": int})
    hyp = qof[qof["group_code"] == "HYP"]
    mapping = frame(MAPPING)  # one mapping (2020-21), used for 2019-20 too
    columns = {"practice": "practice_code", "pcn": "pcn_code", "icb": "icb_code",
               "region": "region_code"}
    for level in ("practice", "pcn", "icb", "region", "england"):
        joined = hyp.merge(mapping.drop(columns="period"), on="practice_code")
        if level == "pcn":
            joined = joined[joined["pcn_code"] != "U"]
        unit = joined[columns[level]] if level in columns else "E92000001"
        oracle = (joined.assign(unit_code=unit).groupby(["unit_code", "period"])
                  [["register", "list_size"]].sum())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LevelWarning)
            values = indicator_values(tiny, "qof_hyp_prevalence", level)
        got = values.set_index(["unit_code", "period"])[["numerator", "denominator"]]
        assert sorted(got.index) == sorted(oracle.index), level
        for key, row in oracle.iterrows():
            assert tuple(got.loc[key]) == (row["register"], row["list_size"]), (level, key)
            limits = proportion_confint(row["register"], row["list_size"], method="wilson")
            got_limits = values.set_index(["unit_code", "period"]).loc[key, ["lowercl", "uppercl"]]
            assert tuple(got_limits) == pytest.approx(tuple(100 * x for x in limits))


UPTAKE = """
| period  | area_level | area_code | indicator | age       | numerator | denominator |
| 2020-21 | practice   | A00001    | MMR1      | 24 months | 90        | 100         |
| 2020-21 | practice   | A00002    | MMR1      | 24 months | 170       | 200         |
| 2020-21 | practice   | A00003    | MMR1      | 24 months |           | 40          |
| 2020-21 | pcn        | U00001    | MMR2      | 5 years   | 80        | 100         |
"""


@pytest.mark.engines
def test_uptake_indicators_from_the_uptake_table(tiny):
    import placehealth.sources.uptake  # noqa: F401  (registers the uptake table)

    rows = frame(UPTAKE)
    for level, part in rows.groupby("area_level"):
        ingest(tiny, "uptake", part, f"2020-21 {level}")
    known = registry(tiny)
    mmr1 = known["uptake_mmr1_24_months"]
    assert mmr1.title == "MMR1 uptake at 24 months" and mmr1.polarity == "high_is_good"
    row = indicator_values(tiny, mmr1, "pcn").set_index("unit_code").loc["U00001"]
    assert (row["numerator"], row["denominator"]) == (260, 300)
    # a suppressed (blank) count leaves that practice out rather than counting it as zero
    assert "U00002" not in set(indicator_values(tiny, mmr1, "pcn")["unit_code"])
    mmr2 = known["uptake_mmr2_5_years"]
    assert mmr2.levels == ("pcn",)  # published by PCN only: no practice rows to sum elsewhere
    assert indicator_values(tiny, mmr2, "pcn").set_index("unit_code").loc["U00001", "value"] == 80


def test_a_ratio_of_observed_to_expected_has_the_counts_poisson_limits(tiny):
    from scipy import stats

    ratio = Indicator("hyp_ratio", "Observed / expected", "qof_prevalence", "register",
                      "list_size", method="ratio", multiplier=1, filters={"group_code": "DM"})
    row = indicator_values(tiny, ratio, "pcn", "2020-21").set_index("unit_code").loc["U00003"]
    # 3 observed: exact limits chi2(0.025; 6)/2 and chi2(0.975; 8)/2, over the "expected" 60
    assert row["value"] == pytest.approx(3 / 60)
    assert row["lowercl"] == pytest.approx(stats.chi2.ppf(0.025, 6) / 2 / 60)
    assert row["uppercl"] == pytest.approx(stats.chi2.ppf(0.975, 8) / 2 / 60)
    assert row["statistic"] == "ratio x 1"


def test_definitions_listed_in_the_environment_reach_the_build(tmp_path, tiny, monkeypatch):
    path = tmp_path / "local.toml"
    path.write_text('[[indicator]]\nname = "dm_share"\ntitle = "Diabetes"\n'
                    'source_table = "qof_prevalence"\nnumerator = "register"\n'
                    'denominator = "list_size"\nfilters = { group_code = "DM" }\n')
    monkeypatch.setenv("PLACEHEALTH_INDICATORS", str(path))
    assert "dm_share" in registry(tiny)
