"""Derived values reveal no more than the protected counts: counts rounded before the small-number
test, ratios, limits, missing patients and prevalences recomputed from rounded counts."""

import pandas as pd
import pytest

from placehealth.measures.observed_expected import ratio_limits
from placehealth.outputs.disclosure import SUPPRESSED, protect


def _lsoa_rows(observed: list[float]) -> pd.DataFrame:
    n = len(observed)
    return pd.DataFrame({"period": "2021-22", "level": "pcn", "area_code": "U1",
                         "lsoa_code": [f"E0100000{i}" for i in range(n)], "group_code": "HYP",
                         "patients": 1500.0, "list_size": 1400.0, "observed": observed,
                         "expected": [o + 20.0 for o in observed]})


def test_an_apportioned_count_just_over_seven_is_suppressed_not_shown_as_five():
    out = protect(_lsoa_rows([7.3, 55.0, 60.0, 70.0]), "prevalence_gap_lsoa", "opensafely")
    assert pd.isna(out.loc[0, "observed"]) and "observed" in out.loc[0, SUPPRESSED]
    assert (out["observed"].dropna() != 5).all()
    # 7.6 is 8 people once rounded to whole people: shown, rounded to 10 (never 5)
    out = protect(_lsoa_rows([7.6, 55.0, 60.0, 70.0]), "prevalence_gap_lsoa", "opensafely")
    assert out.loc[0, "observed"] == 10 and out.loc[0, SUPPRESSED] == ""


def _gap(observed: float, expected: float, tau2: float = 0.0) -> pd.DataFrame:
    ratio = observed / expected
    return pd.DataFrame({"period": "2021-22", "level": "pcn", "area_code": ["U1", "U2"],
                         "area_name": ["A", "B"], "group_code": "OB",
                         "observed": [observed, 400.0], "expected": [expected, 380.0],
                         "list_size": [11_012.0, 9_000.0],
                         "observed_prevalence": [observed / 11_012, 400 / 9000],
                         "expected_prevalence": [expected / 11_012, 380 / 9000],
                         "ratio": [ratio, 400 / 380], "ratio_lowercl": [ratio * 0.8, 0.9],
                         "ratio_uppercl": [ratio * 1.2, 1.15], "missing": [expected - observed, -20.0],
                         "missing_lowercl": [0.0, -60.0], "missing_uppercl": [1.0, 20.0],
                         "significantly_low": [False, False], "tau2": tau2,
                         "detectable_shortfall": [0.1, 0.1], "model": "m"})


def test_ratio_and_missing_give_back_only_the_rounded_register():
    out = protect(_gap(123.0, 150.4, tau2=0.02), "prevalence_gap", "opensafely").iloc[0]
    assert out["observed"] == 125 and out["expected"] == 150
    # O = R x M / (1 - R) now gives the published 125, not the register of 123
    recovered = out["ratio"] * out["missing"] / (1 - out["ratio"])
    assert recovered == pytest.approx(125)
    assert out["missing"] == pytest.approx(25)
    assert out["observed_prevalence"] * 11_010 == pytest.approx(125)
    # limits as need computes them, from the rounded counts and the row's tau2
    expected = ratio_limits(pd.DataFrame({"observed": [125.0], "expected": [150.0], "tau2": [0.02]}),
                            [], unique=True, tau2="tau2").iloc[0]
    for column in ("ratio_lowercl", "ratio_uppercl", "missing_lowercl", "missing_uppercl"):
        assert out[column] == pytest.approx(expected[column])
    assert bool(out["significantly_low"]) == bool(expected["significantly_low"])


def test_hidden_counts_keep_their_derived_values_hidden():
    out = protect(_gap(5.0, 9.0), "prevalence_gap", "opensafely").iloc[0]
    assert pd.isna(out["observed"])
    assert all(pd.isna(out[c]) for c in ("ratio", "ratio_uppercl", "missing", "observed_prevalence"))


def test_uptake_and_its_limits_come_from_the_rounded_counts():
    from placehealth.measures import proportion

    frame = pd.DataFrame({"period": "2024-25", "area_level": "pcn", "area_code": ["U1", "U2"],
                          "indicator": "MMR1", "age": "24m", "source": "file",
                          "numerator": [917.0, 400.0], "denominator": [1003.0, 420.0],
                          "uptake": [917 / 1003, 400 / 420], "lowercl": [0.9, 0.9], "uppercl": [0.93, 0.97],
                          "target": 0.95, "gap": [0.95 - 917 / 1003, 0.0], "people_behind": [36.0, 0.0],
                          "met_target": [False, True]})
    out = protect(frame, "uptake_gap", "opensafely").iloc[0]
    assert (out["numerator"], out["denominator"]) == (915, 1005)
    # uptake x published denominator gives the published numerator, not 917
    assert out["uptake"] * 1005 == pytest.approx(915)
    wilson = proportion(pd.DataFrame({"x": [915.0], "n": [1005.0]}), "x", "n").iloc[0]
    assert (out["lowercl"], out["uppercl"]) == (pytest.approx(wilson["lowercl"]), pytest.approx(wilson["uppercl"]))
    assert out["gap"] == pytest.approx(0.95 - 915 / 1005)
    assert not out["met_target"]
