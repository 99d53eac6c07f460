"""Crude rates (exact Poisson / Byar's limits) and means (Student's t)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from placehealth.measures._limits import (
    add_intervals,
    count_limits,
    fail_where,
    group_columns,
    multiplier_label,
    numeric_column,
    parse_confidence,
    require_columns,
    sum_by_group,
    to_pandas,
)


def rate(
    data: Any,
    x: str,
    n: str,
    group_by: str | Sequence[str] | None = None,
    confidence: float | Sequence[float] = 0.95,
    multiplier: float = 100_000,
) -> pd.DataFrame:
    """Crude rate x/n × multiplier with exact Poisson limits below 10 events, Byar's from 10.

    With ``group_by`` counts and denominators are summed within each group; without it every row
    is its own unit. Returns the group columns, ``numerator``, ``denominator``, ``value``, the
    limits, ``confidence``, ``statistic`` ("rate per 100000") and ``method`` ("Exact" or "Byars",
    per row). A zero count has value 0 and lower limit 0; the denominator must be above 0.

    Method: exact limits from the chi-square distribution (Ulm K, *Am J Epidemiol* 1990;131:373-5);
    Byar's approximation in Breslow NE & Day NE, *Statistical Methods in Cancer Research* vol. II,
    IARC 1987; PHEindicatormethods ``phe_rate``; Fingertips technical guidance.
    """
    group = group_columns(group_by)
    levels = parse_confidence(confidence)
    frame = sum_by_group(data, [x, n], group, "rate")
    count = frame[x].to_numpy(dtype=float)
    denominator = frame[n].to_numpy(dtype=float)
    fail_where(frame, np.isnan(count) | np.isnan(denominator), group,
               f"rate: missing values in {x!r} or {n!r}")
    fail_where(frame, count < 0, group, f"rate: count {x!r} must not be negative")
    fail_where(frame, denominator <= 0, group, f"rate: denominator {n!r} must be greater than 0")
    result = frame[group].copy()
    result["numerator"] = count
    result["denominator"] = denominator
    result["value"] = count / denominator * multiplier
    limits = []
    method = None
    for level in levels:
        lower, upper, method = count_limits(count, level)
        limits.append((lower / denominator * multiplier, upper / denominator * multiplier))
    return add_intervals(result, levels, limits, f"rate per {multiplier_label(multiplier)}", method)


def mean(
    data: Any,
    x: str,
    group_by: str | Sequence[str] | None = None,
    confidence: float | Sequence[float] = 0.95,
) -> pd.DataFrame:
    """Mean of the observations in ``x`` per group with Student's t confidence limits:
    mean ∓ t(1 − α/2; n − 1) · sd/√n.

    Missing observations are an error. A group of one observation has no limits (NaN). Returns the
    group columns, ``value_sum``, ``value_count``, ``stdev``, ``value``, the limits,
    ``confidence``, ``statistic`` ("mean") and ``method`` ("Student's t-distribution").

    Method: Student (Gosset WS), *Biometrika* 1908;6:1-25; PHEindicatormethods ``phe_mean``.
    """
    group = group_columns(group_by)
    levels = parse_confidence(confidence)
    frame = to_pandas(data, "mean", [*group, x])
    require_columns(frame, [*group, x], "mean")
    values = numeric_column(frame, x, "mean", group=group, non_negative=False)
    work = frame[group].copy()
    work["_v"] = values
    if group:
        grouped = work.groupby(group, sort=True, observed=True, dropna=False)["_v"]
        summary = grouped.agg(value_sum="sum", value_count="count", stdev="std").reset_index()
    else:
        summary = pd.DataFrame({"value_sum": [values.sum()], "value_count": [len(values)],
                                "stdev": [values.std(ddof=1) if len(values) > 1 else np.nan]})
    count = summary["value_count"].to_numpy(dtype=float)
    fail_where(summary, count == 0, group, "mean: a group has no observations")
    value = summary["value_sum"].to_numpy(dtype=float) / count
    sd = summary["stdev"].to_numpy(dtype=float)
    result = summary.copy()
    result["value"] = value
    limits = []
    for level in levels:
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(count > 1, stats.t.ppf(0.5 + level / 2, np.maximum(count - 1, 1)), np.nan)
            half = t * sd / np.sqrt(count)
        limits.append((value - half, value + half))
    return add_intervals(result, levels, limits, "mean", "Student's t-distribution")
