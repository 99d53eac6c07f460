"""Funnel-plot control limits (Spiegelhalter 2005) for proportions, ratios and rates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammainc

from placehealth.measures._limits import (
    count_limits,
    fail_where,
    group_codes,
    group_columns,
    level_suffix,
    numeric_column,
    parse_confidence,
    require_columns,
    to_pandas,
    z_for,
)

STATISTICS = ("proportion", "ratio", "rate")
OVERDISPERSION = (None, "multiplicative", "additive")


def proportion_funnel(target: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Control limits for a proportion with target T at denominator N (0-1 scale): the
    proportions whose Wilson interval just reaches T. With z = Φ⁻¹(p), A = T(N/z² + 1),
    C = 1/z² + 1/N, B = √((8T(N/z² + 1))² − 64·C·T·(N(T(N/z² + 2) − 1) + z²(T − 1))),
    limits (A ∓ B/8)/C/N. (Spiegelhalter, *Stat Med* 2005;24:1185-1202; PHE *Technical guide:
    funnel plots*, 2018.)"""
    z = z_for(level)
    t, n = np.asarray(target, dtype=float), np.asarray(n, dtype=float)
    a = t * (n / z**2 + 1)
    c = 1 / z**2 + 1 / n
    inside = (8 * t * (n / z**2 + 1)) ** 2 - 64 * c * t * (n * (t * (n / z**2 + 2) - 1) + z**2 * (t - 1))
    b = np.sqrt(np.maximum(inside, 0.0))
    return np.clip((a - b / 8) / c / n, 0, 1), np.clip((a + b / 8) / c / n, 0, 1)


def poisson_funnel(expected: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Control limits of a count with Poisson mean E, exactly: the upper limit is the count O whose
    exact lower confidence limit χ²(α/2; 2O)/2 equals E, the lower limit the count whose exact
    upper limit χ²(1 − α/2; 2O + 2)/2 equals E (0 when even no events would not fall below E).
    Equivalently P(X ≥ O) = α/2 and P(X ≤ O) = α/2 for X ~ Poisson(E), read continuously through
    the incomplete gamma function, so the limits are smooth in E and agree with the exact
    interval of each unit's own count. (Spiegelhalter, *Stat Med* 2005;24:1185-1202, appendix;
    exact limits as in Ulm, *Am J Epidemiol* 1990;131:373-5.)"""
    mu = np.asarray(expected, dtype=float)
    tail = (1 - level) / 2

    def solve(f: Any, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        for _ in range(200):  # bisection: f decreases in O and changes sign in [low, high]
            mid = (low + high) / 2
            positive = f(mid) > 0
            low, high = np.where(positive, mid, low), np.where(positive, high, mid)
            if np.all(high - low <= 1e-10 * np.maximum(high, 1)):
                break
        return (low + high) / 2

    span = mu + 12 * np.sqrt(mu) + 50
    upper = solve(lambda o: gammainc(o, mu) - tail, np.zeros_like(mu) + 1e-300, span)
    significant_low = gammainc(1.0, mu) > 1 - tail  # 0 events would already be too few
    lower = solve(lambda o: gammainc(o + 1, mu) - (1 - tail), np.zeros_like(mu), span)
    return np.where(significant_low, lower, 0.0), upper


def _variance_at_target(statistic: str, target: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Variance of the unit's value under the target (normal approximation)."""
    if statistic == "proportion":
        return target * (1 - target) / n
    return target / n  # rates: T/N; ratios: T/E


def _limits(statistic: str, target: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Plotted limits on the per-unit scale (before the multiplier)."""
    if statistic == "proportion":
        return proportion_funnel(target, n, level)
    lower, upper = poisson_funnel(target * n, level)
    return lower / n, upper / n


def overdispersion_factor(z: np.ndarray, codes: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """φ per group from z-scores Winsorised at the 10th and 90th percentiles: φ = Σ z²_w / k;
    also the number of units k. (Spiegelhalter, *Stat Med* 2005;24:1185-1202, section 3.)"""
    phi = np.full(groups, np.nan)
    k = np.bincount(codes, minlength=groups)
    order = np.argsort(codes, kind="stable")
    bounds = np.r_[0, np.cumsum(k)]
    for g in range(groups):
        scores = z[order[bounds[g]:bounds[g + 1]]]
        if scores.size == 0:
            continue
        low, high = np.percentile(scores, [10, 90])
        phi[g] = np.sum(np.clip(scores, low, high) ** 2) / scores.size
    return phi, k


class _Funnel:
    """Targets, overdispersion and limits for each group of units."""

    def __init__(self, data: Any, x: str, n: str, statistic: str, target: float | None,
                 overdispersion: str | None, group_by: Any, function: str) -> None:
        if statistic not in STATISTICS:
            raise ValueError(f"{function}: statistic must be one of {STATISTICS}, not {statistic!r}")
        if overdispersion not in OVERDISPERSION:
            raise ValueError(f"{function}: overdispersion must be one of {OVERDISPERSION}")
        self.statistic, self.overdispersion = statistic, overdispersion
        self.group = group_columns(group_by)
        frame = to_pandas(data, function).reset_index(drop=True)
        require_columns(frame, [*self.group, x, n], function)
        self.frame = frame
        self.x = numeric_column(frame, x, function, group=self.group)
        self.n = numeric_column(frame, n, function, group=self.group)
        fail_where(frame, self.n <= 0, self.group, f"{function}: {n!r} must be greater than 0")
        if statistic == "proportion":
            fail_where(frame, self.x > self.n, self.group, f"{function}: {x!r} must not exceed {n!r}")
        self.codes, self.keys = group_codes(frame, self.group)
        groups = len(self.keys)
        sums_x = np.bincount(self.codes, self.x, groups)
        sums_n = np.bincount(self.codes, self.n, groups)
        if target is not None:
            self.target = np.full(groups, float(target))
        elif statistic == "ratio":
            self.target = np.ones(groups)
        else:
            self.target = sums_x / sums_n
        if statistic == "proportion" and ((self.target <= 0) | (self.target >= 1)).any():
            raise ValueError(f"{function}: the target proportion must be strictly between 0 and 1")
        if (self.target <= 0).any():
            raise ValueError(f"{function}: the target must be greater than 0")
        t = self.target[self.codes]
        self.value = self.x / self.n
        z = (self.value - t) / np.sqrt(_variance_at_target(statistic, t, self.n))
        self.phi, k = overdispersion_factor(z, self.codes, groups)
        self.adjusted = np.zeros(groups, dtype=bool)
        self.tau2 = np.zeros(groups)
        if overdispersion is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                self.adjusted = self.phi > 1 + 2 * np.sqrt(2 / k)
            if overdispersion == "additive":
                w = 1 / _variance_at_target(statistic, t, self.n)
                sw = np.bincount(self.codes, w, groups)
                sw2 = np.bincount(self.codes, w**2, groups)
                tau2 = (k * self.phi - (k - 1)) / (sw - sw2 / sw)
                self.tau2 = np.where(self.adjusted, np.maximum(tau2, 0.0), 0.0)

    def limits(self, codes: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Limits for units of the given groups at denominators ``n`` (per-unit scale)."""
        t = self.target[codes]
        lower, upper = _limits(self.statistic, t, n, level)
        adjusted = self.adjusted[codes]
        if self.overdispersion == "multiplicative":
            root = np.sqrt(np.where(adjusted, self.phi[codes], 1.0))
            lower, upper = t + root * (lower - t), t + root * (upper - t)
        elif self.overdispersion == "additive":
            half = z_for(level) * np.sqrt(_variance_at_target(self.statistic, t, n) + self.tau2[codes])
            lower = np.where(adjusted, t - half, lower)
            upper = np.where(adjusted, t + half, upper)
        if self.statistic == "proportion":
            upper = np.minimum(upper, 1.0)
        return np.maximum(lower, 0.0), upper


def funnel_limits(
    data: Any,
    x: str,
    n: str,
    statistic: str = "proportion",
    group_by: str | Sequence[str] | None = None,
    confidence: float | Sequence[float] = (0.95, 0.998),
    multiplier: float = 1,
    target: float | None = None,
    overdispersion: str | None = None,
    denominators: Sequence[float] | None = None,
    points: int = 200,
) -> pd.DataFrame:
    """Funnel-plot control limits along the denominator axis, per group of units.

    ``statistic`` "proportion" (x of n), "rate" (events x over person-time n) or "ratio" (observed
    x over expected n). The target T is Σx/Σn (1 for ratios) unless given. Limits: proportions
    from the Wilson-based closed form, rates and ratios from the exact Poisson distribution of the
    count T·N (exact, inverted continuously). ``overdispersion`` "multiplicative" (limits widened by √φ) or
    "additive" (random-effects τ², DerSimonian-Laird) is applied only where φ from Winsorised
    z-scores exceeds 1 + 2√(2/k). Evaluated at ``denominators`` or ``points`` values spanning the
    data. Returns the group columns, ``denominator``, ``target``, ``lower95_0limit``,
    ``upper95_0limit``, ``lower99_8limit``, ``upper99_8limit`` (× multiplier), ``phi`` and
    ``overdispersion_adjusted``.

    Method: Spiegelhalter DJ, *Stat Med* 2005;24:1185-1202 and *Qual Saf Health Care*
    2005;14:347-51; PHE *Technical guide: funnel plots* (2018); PHEindicatormethods
    ``calculate_funnel_limits``.
    """
    levels = parse_confidence(confidence)
    funnel = _Funnel(data, x, n, statistic, target, overdispersion, group_by, "funnel_limits")
    groups = len(funnel.keys)
    if denominators is not None:
        axis = np.asarray(denominators, dtype=float)
        if (axis <= 0).any():
            raise ValueError("funnel_limits: denominators must be greater than 0")
        grid = np.tile(axis, groups)
        codes = np.repeat(np.arange(groups), len(axis))
    else:
        spans = pd.Series(funnel.n).groupby(funnel.codes).agg(["min", "max"])
        low, high = spans["min"].to_numpy(), spans["max"].to_numpy()
        steps = np.linspace(0, 1, points)
        grid = (np.maximum(low * 0.5, 1e-9)[:, None] + (high * 1.1 - np.maximum(low * 0.5, 1e-9))[:, None]
                * steps[None, :]).ravel()
        codes = np.repeat(np.arange(groups), points)
    result = funnel.keys.iloc[codes].reset_index(drop=True)
    result["denominator"] = grid
    result["target"] = funnel.target[codes] * multiplier
    for level in levels:
        lower, upper = funnel.limits(codes, grid, level)
        result[f"lower{level_suffix(level)}limit"] = lower * multiplier
        result[f"upper{level_suffix(level)}limit"] = upper * multiplier
    result["phi"] = funnel.phi[codes]
    result["overdispersion_adjusted"] = funnel.adjusted[codes]
    result["statistic"] = statistic
    return result


def funnel_significance(
    data: Any,
    x: str,
    n: str,
    statistic: str = "proportion",
    group_by: str | Sequence[str] | None = None,
    confidence: float | Sequence[float] = (0.95, 0.998),
    multiplier: float = 1,
    target: float | None = None,
    overdispersion: str | None = None,
) -> pd.DataFrame:
    """Each unit against its funnel: "inside", "above" or "below" the limits at each level.

    Arguments as :func:`funnel_limits`. Proportions and rates compare the unit's value with the
    limits at its own denominator. Ratios (without an overdispersion adjustment) use the unit's
    own exact (O < 10) or Byar limits of O: "below" when its upper limit is under T·E, "above"
    when its lower limit is over T·E. Returns a copy of ``data`` with ``value``, ``target``, the
    limits at the unit's denominator (``lower95_0limit``...), ``funnel95_0`` / ``funnel99_8``,
    ``phi`` and ``overdispersion_adjusted``.

    Method: Spiegelhalter DJ, *Stat Med* 2005;24:1185-1202; PHE *Technical guide: funnel plots*
    (2018); PHEindicatormethods ``assign_funnel_significance``.
    """
    levels = parse_confidence(confidence)
    funnel = _Funnel(data, x, n, statistic, target, overdispersion, group_by, "funnel_significance")
    result = funnel.frame.copy()
    codes = funnel.codes
    t = funnel.target[codes]
    result["value"] = funnel.value * multiplier
    result["target"] = t * multiplier
    for level in levels:
        suffix = level_suffix(level)
        lower, upper = funnel.limits(codes, funnel.n, level)
        result[f"lower{suffix}limit"] = lower * multiplier
        result[f"upper{suffix}limit"] = upper * multiplier
        if statistic == "ratio" and overdispersion is None:
            o_lower, o_upper, _ = count_limits(funnel.x, level)
            expected = t * funnel.n
            high, low = o_lower > expected, o_upper < expected
        else:
            high, low = funnel.value > upper, funnel.value < lower
        result[f"funnel{suffix}"] = np.select([high, low], ["above", "below"], "inside")
    result["phi"] = funnel.phi[codes]
    result["overdispersion_adjusted"] = funnel.adjusted[codes]
    return result
