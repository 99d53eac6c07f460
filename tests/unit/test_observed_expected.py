"""O/E limits allowing for over-dispersion (Spiegelhalter 2005, additive random effects):
τ² checked by hand and against statsmodels' DerSimonian-Laird estimate; limits against smr."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from placehealth.measures import smr
from placehealth.measures.observed_expected import (
    detectable_shortfall,
    random_effects_tau2,
    ratio_limits,
    widened_limits,
)


def test_tau2_by_hand_with_winsorised_z_scores():
    # E = 100 (s = 0.1), z = -3, -1, 0, 1, 3: the 10th/90th percentiles (linear) are -2.2, 2.2,
    # Σz² = 2·4.84 + 2 = 11.68, φ = 2.336 > 1 + 2√(2/5) = 2.265; Σw = 500, Σw²/Σw = 100,
    # τ² = (5·2.336 − 4) / 400 = 0.0192
    z = np.array([-3.0, -1.0, 0.0, 1.0, 3.0])
    expected = np.full(5, 100.0)
    observed = expected * np.exp(z / 10)
    tau2, phi, k = random_effects_tau2(observed, expected)
    assert k == 5
    assert phi == pytest.approx(2.336)
    assert tau2 == pytest.approx(0.0192)


def test_tau2_agrees_with_statsmodels_dersimonian_laird():
    """Without Winsorising, and with log ratios whose weighted mean is the target 0, Spiegelhalter's
    moment estimate is DerSimonian-Laird's (Q about the target = Q about the weighted mean)."""
    rng = np.random.default_rng(7)
    expected = rng.uniform(20, 2000, 60)
    y = rng.normal(0, 0.15, 60) + rng.normal(0, 1, 60) / np.sqrt(expected)
    y -= np.sum(expected * y) / expected.sum()  # weighted mean exactly 0
    observed = expected * np.exp(y)
    tau2, phi, _ = random_effects_tau2(observed, expected, winsorise=0)
    reference = combine_effects(y, 1 / expected, method_re="dl")
    assert phi > 1 + 2 * np.sqrt(2 / 60)
    assert tau2 == pytest.approx(reference.tau2, rel=1e-9)
    assert 0.01 < tau2 < 0.04  # close to the 0.15² simulated


def test_winsorising_keeps_outliers_from_setting_their_own_threshold():
    rng = np.random.default_rng(3)
    expected = rng.uniform(200, 3000, 200)
    observed = rng.poisson(expected * np.exp(rng.normal(0, 0.05, 200))).astype(float)
    observed[:8] *= 0.55  # 4% of units record 45% fewer
    plain, _, _ = random_effects_tau2(observed, expected, winsorise=0)
    robust, _, _ = random_effects_tau2(observed, expected)
    assert robust < plain / 3
    assert robust == pytest.approx(0.05**2, rel=0.6)


def test_no_over_dispersion_gives_tau2_zero():
    rng = np.random.default_rng(11)
    expected = rng.uniform(50, 500, 100)
    observed = rng.poisson(expected).astype(float)
    tau2, phi, _ = random_effects_tau2(observed, expected)
    assert tau2 == 0.0 and phi < 1 + 2 * np.sqrt(2 / 100)


def test_with_tau2_zero_the_limits_are_the_poisson_limits_of_smr():
    frame = pd.DataFrame({"g": list("abcd"), "o": [0.0, 4.0, 37.0, 950.0],
                          "e": [3.0, 9.5, 52.0, 1000.0], "rate": 1.0})
    reference = smr(frame, x="o", n="e", ref_rate="rate", group_by="g")
    lower, upper = widened_limits(frame["o"], frame["e"], 0.0)
    assert lower == pytest.approx(reference["lowercl"].to_numpy())
    assert upper == pytest.approx(reference["uppercl"].to_numpy())


def test_limits_widen_in_quadrature_on_the_log_scale():
    o, e, tau2 = np.array([100.0, 0.0]), np.array([125.0, 4.0]), 0.01
    poisson_low, poisson_up = widened_limits(o, e, 0.0)
    lower, upper = widened_limits(o, e, tau2)
    ratio = 0.8
    extra = 1.959963984540054**2 * tau2
    assert np.log(upper[0] / ratio) ** 2 == pytest.approx(np.log(poisson_up[0] / ratio) ** 2 + extra)
    assert np.log(ratio / lower[0]) ** 2 == pytest.approx(np.log(ratio / poisson_low[0]) ** 2 + extra)
    assert lower[1] == 0 and upper[1] == pytest.approx(poisson_up[1] * np.exp(np.sqrt(extra)))


def test_detectable_shortfall_is_where_the_flag_starts():
    expected = np.array([30.0, 300.0, 3000.0, 1e7])
    tau2 = 0.1**2
    share = detectable_shortfall(expected, tau2)
    for e, s in zip(expected, share, strict=True):
        _, just_below = widened_limits(np.array([(1 - s) * e * 0.999]), np.array([e]), tau2)
        _, just_above = widened_limits(np.array([(1 - s) * e * 1.001]), np.array([e]), tau2)
        assert just_below[0] < 1 <= just_above[0]
    assert np.all(np.diff(share) < 0)  # larger registers reveal smaller gaps
    # with a huge register only τ matters: flagged once log R < −zτ
    assert share[-1] == pytest.approx(1 - np.exp(-1.959963984540054 * 0.1), abs=2e-3)
    assert np.all(detectable_shortfall(expected, 0.2**2) > share)  # more variation, larger gaps
    assert np.isnan(detectable_shortfall(np.array([2.0]), 0.0))[0]  # 0 of 2 is not significant


def test_ratio_limits_by_group_with_tau2_per_group():
    rows = pd.DataFrame({"g": ["a", "a", "b"], "observed": [40.0, 40.0, 90.0],
                         "expected": [50.0, 50.0, 100.0], "tau2": [0.04, 0.04, 0.0]})
    out = ratio_limits(rows, ["g"], tau2="tau2")
    assert out["observed"].tolist() == [80.0, 90.0]
    assert out["ratio"].tolist() == pytest.approx([0.8, 0.9])
    _, upper = widened_limits(np.array([80.0]), np.array([100.0]), 0.04)
    assert out.loc[0, "ratio_uppercl"] == pytest.approx(upper[0])
    assert out["missing"].tolist() == pytest.approx([20.0, 10.0])
    assert out.loc[0, "missing_lowercl"] == pytest.approx(100 - upper[0] * 100)
    assert out["significantly_low"].tolist() == [False, False]
