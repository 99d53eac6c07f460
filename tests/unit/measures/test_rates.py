"""rate() (exact Poisson below 10 events, Byar's from 10) and mean() (Student's t)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from placehealth.measures import mean, rate


def test_rate_exact_and_byar_against_scipy_and_hand():
    frame = pd.DataFrame({"x": [0, 4, 10, 250], "n": [5000, 5000, 5000, 90000]})
    out = rate(frame, "x", "n", multiplier=100_000)
    assert list(out["method"]) == ["Exact", "Exact", "Byars", "Byars"]
    np.testing.assert_allclose(out["value"], [0, 80, 200, 250 / 90000 * 1e5])
    # Exact: chi-square quantiles (scipy), / n × multiplier.
    assert out["lowercl"].iloc[0] == 0
    assert out["uppercl"].iloc[0] == pytest.approx(stats.chi2.ppf(0.975, 2) / 2 / 5000 * 1e5)
    assert out["lowercl"].iloc[1] == pytest.approx(stats.chi2.ppf(0.025, 8) / 2 / 5000 * 1e5)
    assert out["uppercl"].iloc[1] == pytest.approx(stats.chi2.ppf(0.975, 10) / 2 / 5000 * 1e5)
    # Byar by hand for x = 250.
    z = 1.959963984540054
    lower = 250 * (1 - 1 / (9 * 250) - z / (3 * np.sqrt(250))) ** 3
    upper = 251 * (1 - 1 / (9 * 251) + z / (3 * np.sqrt(251))) ** 3
    assert out["lowercl"].iloc[3] == pytest.approx(lower / 90000 * 1e5, rel=1e-12)
    assert out["uppercl"].iloc[3] == pytest.approx(upper / 90000 * 1e5, rel=1e-12)
    assert out["statistic"].iloc[0] == "rate per 100000"


def test_rate_grouped_two_levels():
    frame = pd.DataFrame({"pcn": ["U1", "U1", "U2"], "deaths": [3, 4, 12], "pop": [1000, 1000, 3000]})
    out = rate(frame, "deaths", "pop", group_by=["pcn"], confidence=[95, 99.8], multiplier=1000)
    assert list(out["numerator"]) == [7, 12]
    assert out["upper99_8cl"].iloc[0] == pytest.approx(stats.chi2.ppf(0.999, 16) / 2 / 2000 * 1000)
    assert (out["lower99_8cl"] < out["lower95_0cl"]).all()


def test_rate_bad_inputs():
    with pytest.raises(ValueError, match="greater than 0"):
        rate(pd.DataFrame({"x": [1], "n": [0]}), "x", "n")
    with pytest.raises(ValueError, match="must not be negative"):
        rate(pd.DataFrame({"x": [-1], "n": [10]}), "x", "n")


@given(x=st.integers(0, 5000), n=st.integers(1, 10**7), level=st.sampled_from([0.95, 0.998]))
@settings(max_examples=200, deadline=None)
def test_property_rate_contains_value_and_narrows(x, n, level):
    out = rate(pd.DataFrame({"x": [x, 4 * x + 40], "n": [n, 4 * n + 40 * n / max(x, 1)]}), "x", "n",
               confidence=level)
    assert (out["lowercl"] <= out["value"] + 1e-9).all()
    assert (out["value"] <= out["uppercl"] + 1e-9).all()
    relative = (out["uppercl"] - out["lowercl"]) / np.maximum(out["value"], 1e-300)
    if x > 0:
        assert relative.iloc[1] < relative.iloc[0]


def test_rate_coverage_at_least_nominal():
    # Exact and Byar limits are (near-)conservative: simulated 95% coverage 0.94-0.99 over a grid.
    rng = np.random.default_rng(7)
    for mu in (0.5, 3, 8, 15, 60, 400):
        x = rng.poisson(mu, size=5000)
        out = rate(pd.DataFrame({"x": x, "n": 1.0}), "x", "n", multiplier=1)
        covered = ((out["lowercl"] <= mu) & (mu <= out["uppercl"])).mean()
        assert 0.94 <= covered <= 0.995, (mu, covered)


def test_mean_against_scipy_t():
    values = np.array([4.1, 5.2, 6.3, 5.5, 4.9, 7.0])
    frame = pd.DataFrame({"g": ["a"] * 6 + ["b"] * 3, "v": np.r_[values, [1.0, 2.0, 4.0]]})
    out = mean(frame, "v", group_by="g", confidence=0.95)
    lo, hi = stats.t.interval(0.95, df=5, loc=values.mean(), scale=stats.sem(values))
    row = out.iloc[0]
    assert row["value"] == pytest.approx(values.mean())
    assert row["value_count"] == 6 and row["value_sum"] == pytest.approx(values.sum())
    assert row["stdev"] == pytest.approx(values.std(ddof=1))
    assert row["lowercl"] == pytest.approx(lo) and row["uppercl"] == pytest.approx(hi)
    assert row["method"] == "Student's t-distribution"


def test_mean_single_observation_has_no_limits_and_ungrouped_works():
    out = mean(pd.DataFrame({"g": ["a", "b", "b"], "v": [3.0, 1.0, 2.0]}), "v", "g")
    assert np.isnan(out["lowercl"].iloc[0]) and out["value"].iloc[0] == 3
    whole = mean(pd.DataFrame({"v": [1.0, 2.0, 3.0]}), "v", confidence=[0.95, 0.998])
    assert whole["value"].iloc[0] == 2
    assert whole["upper99_8cl"].iloc[0] == pytest.approx(2 + stats.t.ppf(0.999, 2) * 1 / np.sqrt(3))
    with pytest.raises(ValueError, match="missing values"):
        mean(pd.DataFrame({"v": [1.0, None]}), "v")
