"""Synthetic control: weights against an independent quadratic-programme solution (scipy SLSQP),
exact recovery of a planted mix, the placebo-in-space p-value and its inverted limits by brute
force."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize, nnls

from placehealth.measures.synth import simplex_least_squares, synthetic_control


def _slsqp(donors: np.ndarray, target: np.ndarray) -> np.ndarray:
    count = donors.shape[1]
    result = minimize(lambda w: np.sum((donors @ w - target) ** 2), np.full(count, 1 / count),
                      jac=lambda w: 2 * donors.T @ (donors @ w - target), method="SLSQP",
                      bounds=[(0, 1)] * count,
                      constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
                      options={"ftol": 1e-15, "maxiter": 2000})
    return result.x


def _nnls(donors: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Lawson-Hanson non-negative least squares with the sum-to-one constraint as a heavily
    weighted extra row: another independent solution."""
    weight = 1e4 * max(1.0, float(np.abs(donors).max()))
    a = np.vstack([donors, np.full((1, donors.shape[1]), weight)])
    w, _ = nnls(a, np.append(target, weight), maxiter=50 * donors.shape[1])
    return w / w.sum()


@pytest.mark.parametrize("seed", range(8))
def test_weights_match_an_independent_quadratic_programme(seed):
    rng = np.random.default_rng(seed)
    periods, count = 30, int(rng.integers(3, 20))
    donors = np.cumsum(rng.normal(size=(periods, count)), axis=0) + rng.normal(0, 3, count)
    target = donors @ rng.dirichlet(np.ones(count)) * 1.05 + rng.normal(size=periods)
    mine, theirs = simplex_least_squares(donors, target), _slsqp(donors, target)
    assert mine.min() >= 0 and mine.sum() == pytest.approx(1)
    loss = lambda w: np.sum((donors @ w - target) ** 2)  # noqa: E731
    assert loss(mine) <= loss(theirs) * (1 + 1e-9) + 1e-12
    np.testing.assert_allclose(mine, theirs, atol=1e-4)


def _panel(effect: float, seed: int = 0, donors: int = 24, periods: int = 30, start: int = 20):
    rng = np.random.default_rng(seed)
    base = 50 + np.cumsum(rng.normal(0, 1, (donors, periods)), axis=1) + rng.normal(0, 3, (donors, 1))
    treated = 0.3 * base[0] + 0.7 * base[1]
    treated = treated + effect * (np.arange(periods) >= start)
    rows = [(f"d{i:02d}", t, base[i, t], None) for i in range(donors) for t in range(periods)]
    rows += [("T", t, treated[t], start) for t in range(periods)]
    return pd.DataFrame(rows, columns=["unit", "t", "y", "first"])


def test_a_planted_mix_and_effect_are_recovered():
    result = synthetic_control(_panel(5.0), "y", "unit", "t", "first")
    weights = result.weights.set_index("donor")["weight"]
    assert weights["d00"] == pytest.approx(0.3, abs=1e-6) and weights["d01"] == pytest.approx(0.7, abs=1e-6)
    row = result.estimates.iloc[0]
    assert row["pre_rmspe"] == pytest.approx(0, abs=1e-6)
    assert row["estimate"] == pytest.approx(5.0, abs=1e-6)
    assert row["p_value"] == pytest.approx(1 / 25)  # the most extreme of 24 placebos + itself
    gap = result.series["gap"].to_numpy()
    np.testing.assert_allclose(gap[20:], 5.0, atol=1e-6)


def test_p_value_and_limits_agree_with_brute_force_placebos():
    frame = _panel(1.5, seed=3)
    frame.loc[frame["unit"] == "T", "y"] += np.random.default_rng(9).normal(0, 0.6, 30)
    result = synthetic_control(frame, "y", "unit", "t", "first")
    row = result.estimates.iloc[0]
    wide = frame.pivot(index="unit", columns="t", values="y")
    donors = [u for u in wide.index if u != "T"]

    def fitted_gap(unit, pool):
        w = _nnls(wide.loc[pool, :19].to_numpy().T, wide.loc[unit, :19].to_numpy())
        return wide.loc[unit].to_numpy() - w @ wide.loc[pool].to_numpy()

    def ratio(gap):
        return np.sqrt(np.mean(gap[20:] ** 2)) / np.sqrt(np.mean(gap[:20] ** 2))

    placebo = np.array([ratio(fitted_gap(d, [o for o in donors if o != d])) for d in donors])
    np.testing.assert_allclose(np.sort(result.placebos["rmspe_ratio"]), np.sort(placebo), rtol=1e-3)
    treated_gap = fitted_gap("T", donors)
    assert row["p_value"] == pytest.approx((1 + np.sum(placebo >= ratio(treated_gap))) / 25)
    # the limits are the constant effects c whose test (gap - c after the start) is not rejected
    for c in np.linspace(row["estimate"] - 5, row["estimate"] + 5, 201):
        shifted = treated_gap.copy()
        shifted[20:] -= c
        p = (1 + np.sum(placebo >= ratio(shifted) - 1e-9)) / 25
        inside = row["lower"] - 1e-3 <= c <= row["upper"] + 1e-3
        near_edge = min(abs(c - row["lower"]), abs(c - row["upper"])) < 0.06
        assert near_edge or inside == (p > 0.05), c


def test_placebo_in_time_and_several_treated_units():
    frame = _panel(4.0, seed=4)
    second = frame[frame["unit"] == "T"].assign(unit="T2", y=lambda f: f["y"] + 0.5)
    result = synthetic_control(pd.concat([frame, second]), "y", "unit", "t", "first")
    estimates = result.estimates.set_index("unit")
    assert set(estimates.index) == {"T", "T2", "overall"}
    assert estimates.loc["T", "placebo_time_start"] == 10
    assert abs(estimates.loc["T", "placebo_time_estimate"]) < 1e-6  # no effect before the start
    assert estimates.loc["overall", "estimate"] == pytest.approx(4.0, abs=0.6)
    assert estimates.loc["overall", "p_value"] < 0.05
    assert "T" not in set(result.placebos["donor"])  # treated units are never donors


def test_bad_input():
    frame = _panel(0.0)
    with pytest.raises(ValueError, match="no treated unit"):
        synthetic_control(frame.assign(first=None), "y", "unit", "t", "first")
    with pytest.raises(ValueError, match="at least 2 periods before"):
        synthetic_control(frame.assign(first=frame["first"].where(frame["first"].isna(), 1)),
                          "y", "unit", "t", "first")
