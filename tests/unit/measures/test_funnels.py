"""funnel_limits() and funnel_significance() (Spiegelhalter 2005)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from placehealth.measures import funnel_limits, funnel_significance
from placehealth.measures.funnels import overdispersion_factor, poisson_funnel


def _units(k: int = 120, p: float = 0.3, seed: int = 0, spread: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = rng.integers(100, 4000, k)
    true = np.clip(p + rng.normal(0, spread, k), 0.01, 0.99) if spread else np.full(k, p)
    return pd.DataFrame({"unit": [f"P{i:03d}" for i in range(k)], "x": rng.binomial(n, true), "n": n})


def test_proportion_limits_are_where_the_wilson_interval_meets_the_target():
    frame = _units()
    target = frame["x"].sum() / frame["n"].sum()
    out = funnel_limits(frame, "x", "n", denominators=[20, 150, 1000, 5000])
    assert out["target"].iloc[0] == pytest.approx(target)
    for level, lo, hi in [(0.95, "lower95_0limit", "upper95_0limit"),
                          (0.998, "lower99_8limit", "upper99_8limit")]:
        n = out["denominator"].to_numpy()
        _, upper_of_lower = proportion_confint(out[lo] * n, n, alpha=1 - level, method="wilson")
        lower_of_upper, _ = proportion_confint(out[hi] * n, n, alpha=1 - level, method="wilson")
        positive = out[lo].to_numpy() > 0
        np.testing.assert_allclose(upper_of_lower[positive], target, rtol=1e-9)
        # Where no count is low enough to be significant the limit is 0: even 0/N's Wilson
        # interval reaches the target (here N = 20 at 99.8%).
        assert (~positive).sum() == (level == 0.998)
        assert np.all(upper_of_lower[~positive] >= target)
        np.testing.assert_allclose(lower_of_upper, target, rtol=1e-9)


def test_large_denominator_approaches_normal_limits():
    out = funnel_limits(pd.DataFrame({"x": [30], "n": [100]}), "x", "n", denominators=[1e6],
                        multiplier=100)
    half = stats.norm.ppf(0.999) * np.sqrt(0.3 * 0.7 / 1e6) * 100
    assert out["upper99_8limit"].iloc[0] == pytest.approx(30 + half, abs=0.01 * half)
    assert out["lower99_8limit"].iloc[0] == pytest.approx(30 - half, abs=0.01 * half)


def test_poisson_limits_invert_the_exact_interval():
    expected = np.array([0.02, 0.5, 3.0, 12.0, 80.0, 2500.0])
    for level in (0.95, 0.998):
        tail = (1 - level) / 2
        lower, upper = poisson_funnel(expected, level)
        # The upper limit is the count whose exact lower limit χ²(α/2; 2O)/2 is E (scipy) ...
        np.testing.assert_allclose(stats.chi2.ppf(tail, 2 * upper) / 2, expected, rtol=1e-8)
        # ... the lower limit the count whose exact upper limit χ²(1 − α/2; 2O + 2)/2 is E, or 0
        # where even 0 events is not significantly low (E below χ²(1 − α/2; 2)/2 = 3.69 at 95%).
        zero = expected < stats.chi2.ppf(1 - tail, 2) / 2
        assert np.all(lower[zero] == 0)
        np.testing.assert_allclose(stats.chi2.ppf(1 - tail, 2 * lower[~zero] + 2) / 2,
                                   expected[~zero], rtol=1e-8)
        # Between integers, bracketed by the Poisson tails: P(X >= floor(U)) > α/2 >= P(X >= ceil(U)).
        assert np.all(stats.poisson.sf(np.floor(upper) - 1, expected) >= tail)
        assert np.all(stats.poisson.sf(np.ceil(upper) - 1, expected) <= tail)
        assert np.all(lower <= expected) and np.all(upper >= expected)


def test_rate_funnel_scale_and_grid():
    frame = pd.DataFrame({"x": [5, 30, 80], "n": [2000, 10_000, 30_000]})
    out = funnel_limits(frame, "x", "n", statistic="rate", multiplier=1000, points=50)
    assert len(out) == 50 and out["denominator"].is_monotonic_increasing
    target = 115 / 42_000
    assert out["target"].iloc[0] == pytest.approx(target * 1000)
    lower, upper = poisson_funnel(np.array([target * 10_000]), 0.998)
    at = funnel_limits(frame, "x", "n", statistic="rate", multiplier=1000, denominators=[10_000])
    assert at["upper99_8limit"].iloc[0] == pytest.approx(upper[0] / 10_000 * 1000)
    assert at["lower99_8limit"].iloc[0] == pytest.approx(lower[0] / 10_000 * 1000)
    assert (out["lower95_0limit"] >= out["lower99_8limit"]).all()
    assert (out["upper95_0limit"] <= out["upper99_8limit"]).all()


def test_significance_labels():
    frame = _units(k=60)
    extra = pd.DataFrame({"unit": ["HIGH", "LOW"], "x": [1500, 600], "n": [3000, 3000]})
    out = funnel_significance(pd.concat([frame, extra], ignore_index=True), "x", "n",
                              multiplier=100).set_index("unit")
    assert out.loc["HIGH", "funnel99_8"] == "above" and out.loc["LOW", "funnel99_8"] == "below"
    inside = out.drop(["HIGH", "LOW"])
    # Binomial units at the target: about 5% outside the 95% limits, almost none outside 99.8%.
    assert (inside["funnel95_0"] != "inside").mean() < 0.15
    assert (inside["funnel99_8"] != "inside").sum() <= 2
    row = out.loc["HIGH"]
    assert row["value"] == 50 and row["upper99_8limit"] < 50


def test_ratio_significance_uses_exact_or_byar_limits():
    frame = pd.DataFrame({"o": [0, 9, 10, 60, 30], "e": [4.0, 3.0, 4.0, 40.0, 30.0]})
    out = funnel_significance(frame, "o", "e", statistic="ratio")
    # O = 9, E = 3: exact lower limit χ²(0.025; 18)/2 = 4.12 > 3 -> above at 95%.
    assert stats.chi2.ppf(0.025, 18) / 2 > 3
    assert out["funnel95_0"].iloc[1] == "above"
    # O = 0, E = 4: exact upper limit χ²(0.975; 2)/2 = 3.69 < 4 -> below at 95%, not at 99.8%.
    assert out["funnel95_0"].iloc[0] == "below" and out["funnel99_8"].iloc[0] == "inside"
    # O = 10, E = 4: Byar lower limit 4.80 > 4 -> above at 95%.
    z = stats.norm.ppf(0.975)
    assert 10 * (1 - 1 / 90 - z / (3 * np.sqrt(10))) ** 3 > 4
    assert out["funnel95_0"].iloc[2] == "above"
    assert out["funnel95_0"].iloc[4] == "inside"
    assert out["target"].iloc[0] == 1


def test_overdispersion_factor_by_hand():
    z = np.arange(-10, 11, dtype=float)  # 21 scores; 10th/90th percentiles are -8 and 8
    phi, k = overdispersion_factor(z, np.zeros(21, dtype=np.int64), 1)
    expected = (np.clip(z, -8, 8) ** 2).sum() / 21
    assert k[0] == 21 and phi[0] == pytest.approx(expected)


def test_overdispersion_adjustments():
    frame = _units(k=150, spread=0.05, seed=4)
    plain = funnel_limits(frame, "x", "n", denominators=[500, 2000])
    mult = funnel_limits(frame, "x", "n", denominators=[500, 2000], overdispersion="multiplicative")
    add = funnel_limits(frame, "x", "n", denominators=[500, 2000], overdispersion="additive")
    phi = mult["phi"].iloc[0]
    assert phi > 1 + 2 * np.sqrt(2 / 150) and mult["overdispersion_adjusted"].all()
    t = plain["target"].to_numpy()
    np.testing.assert_allclose(mult["upper95_0limit"] - t, np.sqrt(phi) * (plain["upper95_0limit"] - t))
    # Additive: DerSimonian-Laird τ² from the same φ, by hand.
    n = frame["n"].to_numpy()
    s2 = t[0] * (1 - t[0]) / n
    w = 1 / s2
    tau2 = (150 * phi - 149) / (w.sum() - (w**2).sum() / w.sum())
    denominators = np.array([500, 2000])
    half = stats.norm.ppf(0.975) * np.sqrt(t[0] * (1 - t[0]) / denominators + tau2)
    np.testing.assert_allclose(add["upper95_0limit"], t + half)
    np.testing.assert_allclose(add["lower95_0limit"], t - half)
    calm = funnel_limits(_units(k=150, seed=5), "x", "n", denominators=[500],
                         overdispersion="multiplicative")
    assert not calm["overdispersion_adjusted"].any()


def test_groups_have_their_own_targets_and_bad_input():
    a, b = _units(k=30, p=0.2, seed=1), _units(k=30, p=0.6, seed=2)
    frame = pd.concat([a.assign(ind="a"), b.assign(ind="b")])
    out = funnel_limits(frame, "x", "n", group_by="ind", denominators=[100])
    assert list(out["ind"]) == ["a", "b"]
    assert out["target"].iloc[0] == pytest.approx(a["x"].sum() / a["n"].sum())
    assert out["target"].iloc[1] == pytest.approx(b["x"].sum() / b["n"].sum())
    sig = funnel_significance(frame, "x", "n", group_by="ind")
    assert len(sig) == 60 and (sig["funnel99_8"] == "inside").mean() > 0.9
    with pytest.raises(ValueError, match="statistic must be one of"):
        funnel_limits(frame, "x", "n", statistic="mean")
    with pytest.raises(ValueError, match="greater than 0"):
        funnel_limits(pd.DataFrame({"x": [1], "n": [0]}), "x", "n")
    with pytest.raises(ValueError, match="must not exceed"):
        funnel_significance(pd.DataFrame({"x": [5], "n": [4]}), "x", "n")


@given(target=st.floats(0.001, 0.999), n=st.floats(1, 1e6), statistic=st.sampled_from(["proportion", "rate"]))
@settings(max_examples=200, deadline=None)
def test_property_limits_are_nested_around_the_target(target, n, statistic):
    frame = pd.DataFrame({"x": [target * 1000], "n": [1000.0]})
    out = funnel_limits(frame, "x", "n", statistic=statistic, denominators=[n, 4 * n]).iloc
    for row in (out[0], out[1]):
        assert row["lower99_8limit"] <= row["lower95_0limit"] <= row["target"] * (1 + 1e-9)
        assert row["target"] <= row["upper95_0limit"] * (1 + 1e-9)
        assert row["upper95_0limit"] <= row["upper99_8limit"] * (1 + 1e-12)
    # Funnels narrow as the denominator grows.
    assert out[1]["upper99_8limit"] - out[1]["lower99_8limit"] <= (
        out[0]["upper99_8limit"] - out[0]["lower99_8limit"]) * (1 + 1e-9)
