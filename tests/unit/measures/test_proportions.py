"""proportion(): Wilson score intervals (Wilson 1927; Newcombe 1998)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from placehealth.measures import proportion


def test_newcombe_1998_worked_examples():
    # Newcombe, Stat Med 1998;17:857-72, Table II, method 3 (Wilson score), 95% limits to 4 dp.
    frame = pd.DataFrame({"x": [81, 15, 0, 1], "n": [263, 148, 20, 29]})
    out = proportion(frame, "x", "n")
    np.testing.assert_allclose(out["lowercl"], [0.2553, 0.0624, 0.0, 0.0061], atol=5e-5)
    np.testing.assert_allclose(out["uppercl"], [0.3662, 0.1605, 0.1611, 0.1718], atol=5e-5)
    assert set(out["method"]) == {"Wilson"}
    assert set(out["confidence"]) == {"95%"}


def test_hand_calculation_from_the_spec_formula():
    # x = 30, n = 120 at 99.8%: (2x + z² ± z√(z² + 4x(1 − x/n))) / (2(n + z²)).
    z = 3.090232306167813
    root = z * np.sqrt(z**2 + 4 * 30 * (1 - 30 / 120))
    lower = (60 + z**2 - root) / (2 * (120 + z**2))
    upper = (60 + z**2 + root) / (2 * (120 + z**2))
    out = proportion(pd.DataFrame({"x": [30], "n": [120]}), "x", "n", confidence=0.998, multiplier=100)
    assert out["value"].iloc[0] == pytest.approx(25.0)
    assert out["lowercl"].iloc[0] == pytest.approx(lower * 100, rel=1e-12)
    assert out["uppercl"].iloc[0] == pytest.approx(upper * 100, rel=1e-12)
    assert out["statistic"].iloc[0] == "proportion of 100"


def test_grouped_sums_and_two_levels_against_statsmodels():
    frame = pd.DataFrame({"area": ["b", "a", "a", "b", "c"], "num": [5, 3, 4, 5, 0],
                          "den": [10, 20, 30, 10, 7]})
    out = proportion(frame, x="num", n="den", group_by="area", confidence=[0.95, 0.998],
                     multiplier=100)
    assert list(out["area"]) == ["a", "b", "c"]
    assert list(out["numerator"]) == [7, 10, 0]
    assert list(out["denominator"]) == [50, 20, 7]
    assert list(out.columns) == ["area", "numerator", "denominator", "value", "lower95_0cl",
                                 "upper95_0cl", "lower99_8cl", "upper99_8cl", "confidence",
                                 "statistic", "method"]
    for level, (lo, hi) in [(0.95, ("lower95_0cl", "upper95_0cl")),
                            (0.998, ("lower99_8cl", "upper99_8cl"))]:
        ref_lo, ref_hi = proportion_confint(out["numerator"], out["denominator"], alpha=1 - level,
                                            method="wilson")
        np.testing.assert_allclose(out[lo], np.asarray(ref_lo) * 100, atol=1e-10)
        np.testing.assert_allclose(out[hi], np.asarray(ref_hi) * 100, atol=1e-10)
    assert out["confidence"].iloc[0] == "95%, 99.8%"


def test_edges_zero_and_all():
    out = proportion(pd.DataFrame({"x": [0, 12], "n": [12, 12]}), "x", "n")
    assert out["lowercl"].iloc[0] == 0.0 and out["uppercl"].iloc[0] > 0
    assert out["uppercl"].iloc[1] == 1.0 and out["lowercl"].iloc[1] < 1


def test_arrow_and_ibis_inputs_agree_with_pandas():
    import ibis

    frame = pd.DataFrame({"area": ["a", "a", "b"], "x": [1, 2, 3], "n": [10, 10, 5]})
    expected = proportion(frame, "x", "n", group_by="area")
    for data in (pa.Table.from_pandas(frame), ibis.memtable(frame)):
        got = proportion(data, "x", "n", group_by="area")
        np.testing.assert_allclose(got["uppercl"], expected["uppercl"])
        assert list(got["area"]) == ["a", "b"]


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"x": [5], "n": [4]}), "must not exceed"),
    (pd.DataFrame({"x": [0], "n": [0]}), "greater than 0"),
    (pd.DataFrame({"x": [-1], "n": [4]}), "must not be negative"),
    (pd.DataFrame({"x": [None], "n": [4]}), "missing values"),
    (pd.DataFrame({"x": ["two"], "n": [4]}), "must be numeric"),
])
def test_bad_input_names_the_column(frame, message):
    with pytest.raises(ValueError, match=message):
        proportion(frame, "x", "n")


def test_bad_group_is_named():
    frame = pd.DataFrame({"pcn": ["U1", "U2"], "x": [1, 9], "n": [5, 5]})
    with pytest.raises(ValueError, match="pcn='U2'"):
        proportion(frame, "x", "n", group_by="pcn")
    with pytest.raises(ValueError, match=r"column\(s\) \['den'\] not found"):
        proportion(frame, "x", "den")


def test_empty_input_gives_empty_result():
    out = proportion(pd.DataFrame({"area": [], "x": [], "n": []}), "x", "n", group_by="area")
    assert len(out) == 0 and "uppercl" in out.columns


@given(n=st.integers(1, 10_000), data=st.data(), level=st.sampled_from([0.95, 0.998]))
@settings(max_examples=200, deadline=None)
def test_property_interval_contains_value_and_narrows(n, data, level):
    x = data.draw(st.integers(0, n))
    out = proportion(pd.DataFrame({"x": [x, 4 * x], "n": [n, 4 * n]}), "x", "n", confidence=level)
    lo, hi, value = out["lowercl"].to_numpy(), out["uppercl"].to_numpy(), out["value"].to_numpy()
    assert np.all(lo <= value + 1e-12) and np.all(value <= hi + 1e-12)
    assert np.all((lo >= 0) & (hi <= 1))
    # The same proportion from four times the data gives a narrower interval.
    assert hi[1] - lo[1] < hi[0] - lo[0]


def test_coverage_close_to_nominal():
    # Wilson 95%: simulated coverage averaged over a grid of n and p lies within 0.93-0.97,
    # and no grid cell falls below 0.90 (Newcombe 1998 reports mean coverage ~0.95).
    rng = np.random.default_rng(20261124)
    coverages = []
    for n in (20, 50, 200, 1000):
        for p in (0.05, 0.1, 0.3, 0.5, 0.8):
            x = rng.binomial(n, p, size=4000)
            out = proportion(pd.DataFrame({"x": x, "n": n}), "x", "n")
            covered = (out["lowercl"] <= p) & (p <= out["uppercl"])
            coverages.append(covered.mean())
    assert 0.93 <= np.mean(coverages) <= 0.97
    assert min(coverages) >= 0.90
