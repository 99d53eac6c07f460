"""Shared helpers: confidence parsing, z, exact and Byar limits of a count, band labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from placehealth.measures._limits import (
    band_key,
    byar_limits,
    count_limits,
    exact_limits,
    limit_columns,
    match_bands,
    parse_confidence,
    z_for,
)


def test_confidence_forms():
    assert parse_confidence(0.95) == [0.95]
    assert parse_confidence(95) == [0.95]
    assert parse_confidence(99.8) == [0.998]
    assert parse_confidence([0.95, 0.998]) == [0.95, 0.998]
    assert parse_confidence((95, 99.8)) == [0.95, 0.998]


@pytest.mark.parametrize("bad", [0, -1, 100, "high", [], [0.9, 0.95, 0.99], [0.95, 95]])
def test_confidence_rejects(bad):
    with pytest.raises(ValueError, match="confidence"):
        parse_confidence(bad)


def test_z_values_from_the_spec():
    assert z_for(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_for(0.998) == pytest.approx(3.090232, abs=1e-6)


def test_limit_column_names():
    assert limit_columns([0.95]) == [("lowercl", "uppercl")]
    assert limit_columns([0.95, 0.998]) == [("lower95_0cl", "upper95_0cl"),
                                            ("lower99_8cl", "upper99_8cl")]


def test_exact_limits_published_values():
    # Garwood exact 95% Poisson limits, as tabulated (e.g. Ulm 1990): 0 -> (0, 3.689),
    # 1 -> (0.0253, 5.5716), 5 -> (1.6235, 11.6683), 10 -> (4.7954, 18.3904).
    lower, upper = exact_limits(np.array([0, 1, 5, 10]), 0.95)
    np.testing.assert_allclose(lower, [0, 0.0253, 1.6235, 4.7954], atol=1e-4)
    np.testing.assert_allclose(upper, [3.6889, 5.5716, 11.6683, 18.3904], atol=1e-4)


def test_exact_limits_match_poisson_tails():
    # Independent definition: the lower limit L has P(X >= x | L) = α/2, the upper U has
    # P(X <= x | U) = α/2.
    x = np.array([1, 3, 7, 9])
    lower, upper = exact_limits(x, 0.998)
    np.testing.assert_allclose(stats.poisson.sf(x - 1, lower), 0.001, rtol=1e-6)
    np.testing.assert_allclose(stats.poisson.cdf(x, upper), 0.001, rtol=1e-6)


def test_byar_by_hand():
    # x = 10, z = 1.959964: O_L = 10(1 − 1/90 − z/(3√10))³, O_U = 11(1 − 1/99 + z/(3√11))³.
    z = 1.959963984540054
    expected_lower = 10 * (1 - 1 / 90 - z / (3 * np.sqrt(10))) ** 3
    expected_upper = 11 * (1 - 1 / 99 + z / (3 * np.sqrt(11))) ** 3
    lower, upper = byar_limits(np.array([10.0]), 0.95)
    assert lower[0] == pytest.approx(expected_lower, rel=1e-12)
    assert upper[0] == pytest.approx(expected_upper, rel=1e-12)
    # Byar is a close approximation of the exact limits from 10 events up (within 1%).
    exact_lower, exact_upper = exact_limits(np.array([10.0, 100.0]), 0.95)
    byar_lower, byar_upper = byar_limits(np.array([10.0, 100.0]), 0.95)
    np.testing.assert_allclose(byar_lower, exact_lower, rtol=0.01)
    np.testing.assert_allclose(byar_upper, exact_upper, rtol=0.01)


def test_count_limits_switch_at_ten():
    lower, upper, method = count_limits(np.array([9.0, 10.0]), 0.95)
    assert list(method) == ["Exact", "Byars"]
    assert lower[0] == pytest.approx(stats.chi2.ppf(0.025, 18) / 2)
    assert upper[1] == pytest.approx(byar_limits(np.array([10.0]), 0.95)[1][0])


@pytest.mark.parametrize("a, b", [("0-4", "00-04"), ("0-4", "0 to 4"), ("90+", "90 and over"),
                                  ("85-89", "Aged 85-89"), ("90+", "90plus"), (5, "5")])
def test_band_labels_match(a, b):
    assert band_key(a) == band_key(b)


def test_match_bands_by_label_not_position():
    positions = match_bands(pd.Series(["90+", "0-4", "5 to 9"]), ["0-4", "5-9", "90+"], "f", "band")
    assert list(positions) == [2, 0, 1]
    with pytest.raises(ValueError, match=r"age band '95\+' in column 'band'"):
        match_bands(pd.Series(["95+"]), ["0-4", "90+"], "f", "band")
