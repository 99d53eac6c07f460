"""Interrupted time series: segmented regression checked against least squares and a Newey-West
covariance written out by hand, and Poisson rate ratios against a planted change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from placehealth.measures.its import design, its, newey_west_lags


def test_a_noiseless_series_gives_back_its_level_and_slope_change():
    t = np.arange(40, dtype=float)
    y = 3 + 0.5 * t + 2.0 * (t >= 24) + 0.3 * (t - 24) * (t >= 24)
    result = its(pd.DataFrame({"t": t, "y": y}), "y", "t", 24)
    est = result.estimates.set_index("term")
    assert est.loc["level_change", "estimate"] == pytest.approx(2.0)
    assert est.loc["slope_change", "estimate"] == pytest.approx(0.3)
    series = result.series
    np.testing.assert_allclose(series["counterfactual"], 3 + 0.5 * t, atol=1e-9)
    np.testing.assert_allclose(series["fitted"], y, atol=1e-9)


def _newey_west(x: np.ndarray, residuals: np.ndarray, lags: int) -> np.ndarray:
    """Bartlett-kernel HAC covariance of least squares, written from Newey & West (1987), with
    the n / (n - k) small-sample factor."""
    n, k = x.shape
    scores = x * residuals[:, None]
    meat = scores.T @ scores
    for lag in range(1, lags + 1):
        weight = 1 - lag / (lags + 1)
        gamma = scores[lag:].T @ scores[:-lag]
        meat += weight * (gamma + gamma.T)
    bread = np.linalg.inv(x.T @ x)
    return bread @ meat @ bread * n / (n - k)


def test_gaussian_estimates_and_limits_match_least_squares_with_hand_newey_west():
    rng = np.random.default_rng(3)
    months = 60
    t = np.arange(months, dtype=float)
    month = t % 12 + 1
    noise = np.zeros(months)
    for i in range(1, months):
        noise[i] = 0.5 * noise[i - 1] + rng.normal()
    y = 40 + 0.1 * t + 2 * np.sin(2 * np.pi * month / 12) + 1.5 * (t >= 36) + noise
    frame = pd.DataFrame({"t": t, "y": y, "month": month})
    result = its(frame, "y", "t", 36, season="month", season_length=12, harmonics=2, bootstrap=0)
    x, names = design(t, 36, month, 12, 2)
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    lags = newey_west_lags(months)
    assert lags == 3
    cov = _newey_west(x, y - x @ beta, lags)
    q = stats.t.ppf(0.975, months - x.shape[1])
    est = result.estimates.set_index("term")
    for term in ("level_change", "slope_change"):
        j = names.index(term)
        se = np.sqrt(cov[j, j])
        assert est.loc[term, "estimate"] == pytest.approx(beta[j])
        assert est.loc[term, "lower"] == pytest.approx(beta[j] - q * se)
        assert est.loc[term, "upper"] == pytest.approx(beta[j] + q * se)
        assert est.loc[term, "p_value"] == pytest.approx(2 * stats.t.sf(abs(beta[j] / se), months - x.shape[1]))
    # the counterfactual's band uses the same covariance, with the post terms switched off
    cf = x.copy()
    cf[:, [2, 3]] = 0
    half = q * np.sqrt(np.einsum("ij,jk,ik->i", cf, cov, cf))
    np.testing.assert_allclose(result.series["counterfactual_upper"], cf @ beta + half, rtol=1e-9)
    # by default the limits take bootstrap-t critical values around the same Newey-West error
    boot = its(frame, "y", "t", 36, season="month", season_length=12, harmonics=2).estimates
    level = boot.set_index("term").loc["level_change"]
    se = np.sqrt(cov[2, 2])
    assert level["estimate"] == pytest.approx(beta[2])
    assert level["lower"] < beta[2] < level["upper"]
    assert (level["upper"] - level["lower"]) / se > 2 * q  # wider than the t-limits here


def test_poisson_with_an_offset_reports_rate_ratios():
    rng = np.random.default_rng(5)
    t = np.arange(48, dtype=float)
    population = np.linspace(20000, 24000, 48)
    rate = np.exp(np.log(0.01) + 0.004 * t + np.log(1.25) * (t >= 30))
    counts = rng.poisson(population * rate)
    frame = pd.DataFrame({"t": t, "events": counts, "pop": population})
    result = its(frame, "events", "t", 30, offset="pop", family="poisson")
    level = result.estimates.set_index("term").loc["level_change"]
    assert level["scale"] == "rate ratio"
    assert level["lower"] < 1.25 < level["upper"]
    assert level["estimate"] == pytest.approx(1.25, rel=0.05)
    # the counterfactual is the fitted rate with no change, times the population
    assert (result.series["counterfactual"] < result.series["fitted"])[t >= 30].all()


def test_each_unit_has_its_own_start_and_too_short_series_are_refused():
    t = np.arange(20, dtype=float)
    frame = pd.DataFrame({"unit": ["a"] * 20 + ["b"] * 20, "t": np.tile(t, 2),
                          "y": np.concatenate([t + 5 * (t >= 10), t + 5 * (t >= 15)]),
                          "start": [10] * 20 + [15] * 20})
    est = its(frame, "y", "t", "start", "unit").estimates
    level = est[est["term"] == "level_change"].set_index("unit")["estimate"]
    np.testing.assert_allclose(level, [5, 5], atol=1e-9)
    with pytest.raises(ValueError, match="at least 3 and 2"):
        its(frame, "y", "t", 1, "unit")
    with pytest.raises(ValueError, match="offset applies to counts"):
        its(frame.assign(pop=1), "y", "t", 10, "unit", offset="pop")


def test_negative_binomial_for_overdispersed_counts():
    rng = np.random.default_rng(8)
    t = np.arange(60, dtype=float)
    population = np.full(60, 50000.0)
    mean = population * np.exp(np.log(0.002) + 0.002 * t + np.log(0.8) * (t >= 36))
    counts = rng.negative_binomial(5, 5 / (5 + mean))  # NB2 with dispersion 1/5
    frame = pd.DataFrame({"t": t, "events": counts, "pop": population})
    nb = its(frame, "events", "t", 36, offset="pop", family="negative_binomial").estimates
    level = nb.set_index("term").loc["level_change"]
    assert level["scale"] == "rate ratio" and level["lower"] < 0.8 < level["upper"]
    poisson = its(frame, "events", "t", 36, offset="pop", family="poisson").estimates
    assert poisson.set_index("term").loc["level_change", "estimate"] == pytest.approx(
        level["estimate"], rel=0.1)  # same model of the mean, different weights
