"""Indirect standardisation: standardised ratios (SMR) and indirectly standardised rates (ISR)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from placehealth.measures._limits import (
    add_intervals,
    count_limits,
    fail_where,
    group_codes,
    group_columns,
    match_bands,
    multiplier_label,
    numeric_column,
    parse_confidence,
    require_columns,
    to_pandas,
)

Reference = str | Mapping[object, float] | pd.Series | None


def _reference_values(
    reference: Reference, frame: pd.DataFrame, ageband: str | None, name: str, function: str
) -> np.ndarray | None:
    """Per-row reference values from a column of ``data`` or a {band: value} mapping (by label)."""
    if reference is None:
        return None
    if isinstance(reference, str):
        require_columns(frame, [reference], function)
        return numeric_column(frame, reference, function)
    if isinstance(reference, Mapping | pd.Series):
        if ageband is None:
            raise ValueError(f"{function}: {name} given by age band needs ageband= (the band column)")
        require_columns(frame, [ageband], function)
        series = pd.Series(reference).astype(float)
        if series.isna().any() or (series < 0).any():
            raise ValueError(f"{function}: {name} has missing or negative values")
        position = match_bands(frame[ageband], list(series.index), function, ageband)
        return series.to_numpy()[position]
    raise ValueError(f"{function}: {name} must be a column name or a mapping/Series from age band "
                     "to value (bands are matched by label, never by position)")


def _indirect(
    data: Any, x: str, n: str, x_ref: Reference, n_ref: Reference, ref_rate: Reference,
    ageband: str | None, group_by: str | Sequence[str] | None, function: str,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Observed and expected per group, and the reference crude rate ΣR/ΣN (NaN if unknown)."""
    group = group_columns(group_by)
    wanted = [*group, x, n] + [c for c in (x_ref, n_ref, ref_rate, ageband) if isinstance(c, str)]
    frame = to_pandas(data, function, wanted)
    require_columns(frame, [*group, x, n], function)
    count = numeric_column(frame, x, function, group=group)
    population = numeric_column(frame, n, function, group=group)
    if ref_rate is not None and (x_ref is not None or n_ref is not None):
        raise ValueError(f"{function}: give either ref_rate or x_ref and n_ref, not both")
    if ref_rate is None and (x_ref is None or n_ref is None):
        raise ValueError(f"{function}: give the reference rates (ref_rate=) or the reference "
                         "population's counts and denominators (x_ref=, n_ref=)")
    codes, keys = group_codes(frame, group)
    groups = len(keys)
    if ref_rate is not None:
        rates = _reference_values(ref_rate, frame, ageband, "ref_rate", function)
        crude = np.full(groups, np.nan)
    else:
        ref_count = _reference_values(x_ref, frame, ageband, "x_ref", function)
        ref_pop = _reference_values(n_ref, frame, ageband, "n_ref", function)
        fail_where(frame, (ref_pop <= 0) & (ref_count > 0), group,
                   f"{function}: reference population {n_ref!r} is 0 where the reference has events")
        with np.errstate(divide="ignore", invalid="ignore"):
            rates = np.where(ref_pop > 0, ref_count / ref_pop, 0.0)
        if isinstance(x_ref, str) or isinstance(n_ref, str):
            with np.errstate(divide="ignore", invalid="ignore"):
                crude = (np.bincount(codes, ref_count, groups) / np.bincount(codes, ref_pop, groups))
        else:
            r_x, r_n = pd.Series(x_ref).astype(float), pd.Series(n_ref).astype(float)
            crude = np.full(groups, r_x.sum() / r_n.sum())
    observed = np.bincount(codes, count, groups)
    expected = np.bincount(codes, rates * population, groups)
    fail_where(keys, expected <= 0, group,
               f"{function}: expected count is 0 (no reference events for this population)")
    result = keys.copy()
    result["observed"] = observed
    result["expected"] = expected
    return result, observed, expected, crude


def smr(
    data: Any,
    x: str,
    n: str,
    x_ref: Reference = None,
    n_ref: Reference = None,
    ref_rate: Reference = None,
    ageband: str | None = None,
    group_by: str | Sequence[str] | None = None,
    confidence: float | Sequence[float] = 0.95,
    multiplier: float = 1,
) -> pd.DataFrame:
    """Indirectly standardised ratio (SMR) O/E per group, with exact (O < 10) or Byar limits.

    Each row is one stratum (usually an age band) of a group: observed count ``x`` and population
    ``n``. The reference rates are given (``ref_rate``) or computed as x_ref/n_ref from a reference
    population; each is a column of ``data`` or a mapping from band label to value (matched by
    label through ``ageband``). Expected E = Σ rᵢnᵢ; ratio O/E × multiplier (1, or 100);
    limits O_L/E and O_U/E. Returns the group columns, ``observed``, ``expected``, ``value``, the
    limits, ``confidence``, ``statistic`` and ``method`` ("Exact" or "Byars").

    Method: Breslow NE & Day NE, *Statistical Methods in Cancer Research* vol. II, IARC 1987;
    PHEindicatormethods ``phe_smr``; Fingertips technical guidance *Indirectly standardised ratios*.
    """
    levels = parse_confidence(confidence)
    result, observed, expected, _ = _indirect(data, x, n, x_ref, n_ref, ref_rate, ageband,
                                              group_by, "smr")
    result["value"] = observed / expected * multiplier
    limits, method = [], None
    for level in levels:
        lower, upper, method = count_limits(observed, level)
        limits.append((lower / expected * multiplier, upper / expected * multiplier))
    return add_intervals(result, levels, limits,
                         f"indirectly standardised ratio x {multiplier_label(multiplier)}", method)


def isr(
    data: Any,
    x: str,
    n: str,
    x_ref: Reference = None,
    n_ref: Reference = None,
    ref_rate: Reference = None,
    ageband: str | None = None,
    group_by: str | Sequence[str] | None = None,
    confidence: float | Sequence[float] = 0.95,
    multiplier: float = 100_000,
    ref_crude_rate: float | None = None,
) -> pd.DataFrame:
    """Indirectly standardised rate per group: (O/E) × the reference crude rate × multiplier.

    Inputs as :func:`smr`. The reference crude rate is ΣR/ΣN of the reference population
    (``x_ref``/``n_ref``); with ``ref_rate`` give it as ``ref_crude_rate`` (a rate per person).
    The limits are the ratio's exact/Byar limits scaled the same way. Returns the group columns,
    ``observed``, ``expected``, ``reference_rate``, ``value``, the limits, ``confidence``,
    ``statistic`` ("indirectly standardised rate per 100000") and ``method``.

    Method: Breslow NE & Day NE, *Statistical Methods in Cancer Research* vol. II, IARC 1987;
    PHEindicatormethods ``phe_isr``; Fingertips technical guidance *Indirectly standardised rates*.
    """
    levels = parse_confidence(confidence)
    result, observed, expected, crude = _indirect(data, x, n, x_ref, n_ref, ref_rate, ageband,
                                                  group_by, "isr")
    if ref_rate is not None:
        if ref_crude_rate is None:
            raise ValueError("isr: with ref_rate give ref_crude_rate (the reference population's "
                             "crude rate per person), or give x_ref and n_ref instead")
        crude = np.full(len(result), float(ref_crude_rate))
    elif ref_crude_rate is not None:
        raise ValueError("isr: ref_crude_rate is only used with ref_rate")
    scale = crude / expected * multiplier
    result["reference_rate"] = crude * multiplier
    result["value"] = observed * scale
    limits, method = [], None
    for level in levels:
        lower, upper, method = count_limits(observed, level)
        limits.append((lower * scale, upper * scale))
    return add_intervals(result, levels, limits,
                         f"indirectly standardised rate per {multiplier_label(multiplier)}", method)
