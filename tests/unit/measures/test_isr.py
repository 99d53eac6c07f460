"""smr() and isr(): indirect standardisation with exact/Byar limits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from placehealth.measures import isr, smr

REF_X = {"0-39": 200, "40-64": 900, "65+": 3000}
REF_N = {"0-39": 500_000, "40-64": 300_000, "65+": 100_000}


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "area": ["a", "a", "a", "b", "b", "b"],
        "band": ["0-39", "40-64", "65+"] * 2,
        "x": [1, 3, 4, 5, 40, 160],
        "n": [2000, 1500, 800, 6000, 5000, 4000],
    })


def test_smr_by_hand_exact_and_byar():
    out = smr(_frame(), "x", "n", x_ref=REF_X, n_ref=REF_N, ageband="band", group_by="area",
              multiplier=100)
    expected_a = 2000 * 200 / 500_000 + 1500 * 900 / 300_000 + 800 * 3000 / 100_000
    a, b = out.iloc[0], out.iloc[1]
    assert a["observed"] == 8 and a["expected"] == pytest.approx(expected_a)
    assert a["value"] == pytest.approx(8 / expected_a * 100)
    assert a["method"] == "Exact"
    assert a["lowercl"] == pytest.approx(stats.chi2.ppf(0.025, 16) / 2 / expected_a * 100)
    assert a["uppercl"] == pytest.approx(stats.chi2.ppf(0.975, 18) / 2 / expected_a * 100)
    expected_b = 6000 * 200 / 500_000 + 5000 * 900 / 300_000 + 4000 * 3000 / 100_000
    z = stats.norm.ppf(0.975)
    upper = 206 * (1 - 1 / (9 * 206) + z / (3 * np.sqrt(206))) ** 3
    assert b["method"] == "Byars"
    assert b["uppercl"] == pytest.approx(upper / expected_b * 100)


def test_isr_reference_rate_and_column_forms_agree():
    frame = _frame()
    by_mapping = isr(frame, "x", "n", x_ref=REF_X, n_ref=REF_N, ageband="band", group_by="area")
    frame["rx"] = frame["band"].map(REF_X)
    frame["rn"] = frame["band"].map(REF_N)
    by_column = isr(frame, "x", "n", x_ref="rx", n_ref="rn", group_by="area")
    crude = sum(REF_X.values()) / sum(REF_N.values())
    rates = {k: REF_X[k] / REF_N[k] for k in REF_X}
    by_rate = isr(frame, "x", "n", ref_rate=rates, ageband="band", group_by="area",
                  ref_crude_rate=crude, confidence=[0.95, 0.998])
    for out in (by_mapping, by_column):
        np.testing.assert_allclose(out["value"], by_rate["value"], rtol=1e-12)
        np.testing.assert_allclose(out["lowercl"], by_rate["lower95_0cl"], rtol=1e-12)
    ratio = smr(frame, "x", "n", x_ref="rx", n_ref="rn", group_by="area")
    np.testing.assert_allclose(by_column["value"], ratio["value"] * crude * 100_000)
    np.testing.assert_allclose(by_column["uppercl"], ratio["uppercl"] * crude * 100_000)
    assert by_column["statistic"].iloc[0] == "indirectly standardised rate per 100000"


def test_isr_errors():
    frame = _frame()
    with pytest.raises(ValueError, match="ref_crude_rate"):
        isr(frame, "x", "n", ref_rate={"0-39": 0.001, "40-64": 0.003, "65+": 0.03}, ageband="band")
    with pytest.raises(ValueError, match="give the reference rates"):
        smr(frame, "x", "n")
    with pytest.raises(ValueError, match="needs ageband"):
        smr(frame, "x", "n", ref_rate={"0-39": 0.001})
    with pytest.raises(ValueError, match=r"age band '65\+'"):
        smr(frame, "x", "n", ref_rate={"0-39": 0.001, "40-64": 0.01}, ageband="band")
    with pytest.raises(ValueError, match="expected count is 0"):
        smr(frame, "x", "n", ref_rate={"0-39": 0, "40-64": 0, "65+": 0}, ageband="band",
            group_by="area")


def test_smr_coverage_near_nominal():
    # O ~ Poisson(true ratio × E): the 95% limits cover the true ratio in 94-99.5% of draws.
    rng = np.random.default_rng(5)
    for e in (2.0, 6.0, 25.0, 150.0):
        o = rng.poisson(1.3 * e, size=3000)
        frame = pd.DataFrame({"unit": np.arange(3000), "x": o, "n": 1.0, "r": e})
        out = smr(frame, "x", "n", ref_rate="r", group_by="unit")
        assert len(out) == 3000
        covered = ((out["lowercl"] <= 1.3) & (out["uppercl"] >= 1.3)).mean()
        assert 0.94 <= covered <= 0.995, (e, covered)
