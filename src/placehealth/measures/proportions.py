"""Proportions with Wilson score confidence intervals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from placehealth.measures._limits import (
    add_intervals,
    fail_where,
    group_columns,
    multiplier_label,
    parse_confidence,
    sum_by_group,
    z_for,
)


def wilson_limits(x: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score limits of a proportion x/n on the 0-1 scale (Wilson 1927; Newcombe 1998):
    (2x + z² ∓ z√(z² + 4x(1 − x/n))) / (2(n + z²))."""
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    z = z_for(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        root = z * np.sqrt(np.maximum(z**2 + 4 * x * (1 - x / n), 0.0))
        denominator = 2 * (n + z**2)
        lower = (2 * x + z**2 - root) / denominator
        upper = (2 * x + z**2 + root) / denominator
    # x = 0 gives exactly 0 and x = n exactly 1 (rounding would otherwise leave ~1e-17).
    lower = np.where(x == 0, 0.0, lower)
    upper = np.where(x == n, 1.0, upper)
    return lower, upper


def proportion(
    data: Any,
    x: str,
    n: str,
    group_by: str | Sequence[str] | None = None,
    confidence: float | Sequence[float] = 0.95,
    multiplier: float = 1,
) -> pd.DataFrame:
    """Proportion x/n with Wilson score confidence limits, per group.

    With ``group_by`` the numerators and denominators are summed within each group; without it
    every row is its own unit. ``multiplier`` 1 gives a proportion, 100 a percentage. Returns the
    group columns, ``numerator``, ``denominator``, ``value``, the limits (``lowercl``/``uppercl``,
    or ``lower95_0cl``... for two levels), ``confidence``, ``statistic`` and ``method``.
    Requires 0 ≤ x ≤ n and n > 0 in every group (a ``ValueError`` names the group otherwise).

    Method: Wilson EB, *J Am Stat Assoc* 1927;22:209-12; Newcombe RG, *Stat Med* 1998;17:857-72;
    as in PHEindicatormethods ``phe_proportion`` and the Fingertips technical guidance.
    """
    group = group_columns(group_by)
    levels = parse_confidence(confidence)
    frame = sum_by_group(data, [x, n], group, "proportion")
    numerator = frame[x].to_numpy(dtype=float)
    denominator = frame[n].to_numpy(dtype=float)
    fail_where(frame, np.isnan(numerator) | np.isnan(denominator), group,
               f"proportion: missing values in {x!r} or {n!r}")
    fail_where(frame, denominator <= 0, group, f"proportion: denominator {n!r} must be greater than 0")
    fail_where(frame, numerator > denominator, group,
               f"proportion: numerator {x!r} must not exceed denominator {n!r}")
    fail_where(frame, numerator < 0, group, f"proportion: numerator {x!r} must not be negative")
    result = frame[group].copy()
    result["numerator"] = numerator
    result["denominator"] = denominator
    result["value"] = numerator / denominator * multiplier
    limits = []
    for level in levels:
        lower, upper = wilson_limits(numerator, denominator, level)
        limits.append((lower * multiplier, upper * multiplier))
    return add_intervals(result, levels, limits, f"proportion of {multiplier_label(multiplier)}",
                         "Wilson")
