"""Observed against expected counts: the O/E ratio, its limits allowing for over-dispersion, the
flag for a unit recording significantly fewer than expected, and the smallest shortfall the data
can detect.

The ratio R = O/E is an indirectly standardised ratio with E treated as fixed; the Poisson limits
of O are exact below 10 events and Byar's from 10 (Breslow & Day 1987, vol. II).

Units such as GP practices vary more than Poisson chance allows (case mix the model cannot see,
local coding habits). Following the additive random-effects approach of Spiegelhalter (2005,
"Handling over-dispersion of performance indicators", *Qual Saf Health Care* 14:347-51; and *Stat
Med* 24:1185-1202, section 3), as the NHS Summary Hospital-level Mortality Indicator does:

- on the log scale each unit has y = log(O/E) with within-unit variance s² = 1/E and target 0;
- z = y/s is Winsorised at the 10th and 90th percentiles, so outliers do not set their own
  threshold, and φ = Σz²/k;
- the between-unit variance is the DerSimonian-Laird moment estimate
  τ² = (kφ − (k − 1)) / (Σw − Σw²/Σw), w = 1/s² (DerSimonian & Laird 1986, *Control Clin Trials*
  7:177), used only when φ exceeds 1 + 2√(2/k) (no evidence of over-dispersion otherwise), else 0;
- each unit's limits are its Poisson limits widened on the log scale by τ, the two half-widths
  adding in quadrature: U' = R·exp(√(log(U/R)² + z²τ²)), L' = R·exp(−√(log(R/L)² + z²τ²)); with O = 0,
  U' = U·exp(zτ). With τ² = 0 they are the Poisson limits.

A unit is *significantly low* when U' < 1. The *detectable shortfall* at an expected count E is
the smallest share s such that a unit recording (1 − s)·E is significantly low.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from placehealth.measures._limits import EXACT_BELOW, count_limits, z_for

#: Share Winsorised at each tail before φ is estimated (Spiegelhalter 2005: 10%).
WINSORISE = 0.10
#: Confidence level of the limits and the flag.
LEVEL = 0.95


def winsorised_z(observed: np.ndarray, expected: np.ndarray,
                 winsorise: float = WINSORISE) -> np.ndarray:
    """z-scores of log(O/E) against target 0 with s = 1/√E, Winsorised at the ``winsorise`` and
    1 − ``winsorise`` percentiles (O = 0 is read as 0.5, so its log is finite)."""
    o = np.where(np.asarray(observed, dtype=float) > 0, observed, 0.5)
    e = np.asarray(expected, dtype=float)
    z = np.log(o / e) * np.sqrt(e)
    if winsorise > 0 and z.size:
        low, high = np.percentile(z, [100 * winsorise, 100 * (1 - winsorise)])
        z = np.clip(z, low, high)
    return z


def random_effects_tau2(observed: np.ndarray, expected: np.ndarray,
                        winsorise: float = WINSORISE) -> tuple[float, float, int]:
    """(τ², φ, k) for one set of units: the DerSimonian-Laird between-unit variance of log(O/E)
    from Winsorised z-scores (Spiegelhalter 2005, *Qual Saf Health Care* 14:347). τ² is 0 when
    φ ≤ 1 + 2√(2/k); NaN when fewer than 2 units have E > 0."""
    o = np.asarray(observed, dtype=float)
    e = np.asarray(expected, dtype=float)
    keep = (e > 0) & np.isfinite(e) & np.isfinite(o)
    o, e = o[keep], e[keep]
    k = int(e.size)
    if k < 2:
        return np.nan, np.nan, k
    z = winsorised_z(o, e, winsorise)
    phi = float(np.sum(z**2) / k)
    if phi <= 1 + 2 * np.sqrt(2 / k):
        return 0.0, phi, k
    w = e  # 1 / s², s² = 1/E
    tau2 = (k * phi - (k - 1)) / (w.sum() - np.sum(w**2) / w.sum())
    return float(max(tau2, 0.0)), phi, k


def widened_limits(observed: np.ndarray, expected: np.ndarray, tau2: np.ndarray | float,
                   level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Limits of O/E: the Poisson limits of O over E, widened on the log scale by τ in
    quadrature (see the module docstring). τ² NaN is read as 0."""
    o = np.asarray(observed, dtype=float)
    e = np.asarray(expected, dtype=float)
    tau2 = np.nan_to_num(np.broadcast_to(np.asarray(tau2, dtype=float), o.shape), nan=0.0)
    low, high, _ = count_limits(o, level)
    extra = z_for(level) ** 2 * np.maximum(tau2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = o / e
        lower, upper = low / e, high / e
        up = np.where(o > 0, ratio * np.exp(np.sqrt(np.log(upper / ratio) ** 2 + extra)),
                      upper * np.exp(np.sqrt(extra)))
        down = np.where(low > 0, ratio * np.exp(-np.sqrt(np.log(ratio / lower) ** 2 + extra)), 0.0)
    return down, up


def _widened_upper(o: np.ndarray, e: np.ndarray, extra: np.ndarray, level: float) -> np.ndarray:
    """The widened upper limit U' alone, for many counts at once: Byar's upper limit from 10
    events, the exact one (computed only where needed) below."""
    z = z_for(level)
    o1 = o + 1
    upper = o1 * (1 - 1 / (9 * o1) + z / (3 * np.sqrt(o1))) ** 3
    small = o < EXACT_BELOW
    if small.any():
        upper[small] = stats.chi2.ppf(0.5 + level / 2, 2 * o[small] + 2) / 2
    upper = upper / e
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = o / e
        return np.where(o > 0, ratio * np.exp(np.sqrt(np.log(upper / ratio) ** 2 + extra)),
                        upper * np.exp(np.sqrt(extra)))


def detectable_shortfall(expected: np.ndarray, tau2: np.ndarray | float,
                         level: float = LEVEL) -> np.ndarray:
    """The smallest share s of an expected count E such that recording (1 − s)·E is flagged
    significantly low (the widened upper limit below 1); NaN where even recording nobody would
    not be. Found by bisection on O in [0, E] (the upper limit rises with O), to 1e-7 of E."""
    e = np.asarray(expected, dtype=float)
    tau2 = np.broadcast_to(np.asarray(tau2, dtype=float), e.shape)
    extra = z_for(level) ** 2 * np.maximum(np.nan_to_num(tau2, nan=0.0), 0.0)
    positive = e > 0
    safe_e = np.where(positive, e, 1.0)
    flagged_at_zero = positive & (_widened_upper(np.zeros_like(e), safe_e, extra, level) < 1)
    low, high = np.zeros_like(e), np.where(positive, e, 0.0)  # low: flagged, high: not flagged
    for _ in range(24):
        mid = (low + high) / 2
        flagged = _widened_upper(mid, safe_e, extra, level) < 1
        low, high = np.where(flagged, mid, low), np.where(flagged, high, mid)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = 1 - low / safe_e
    return np.where(flagged_at_zero, share, np.nan)


def ratio_limits(rows: pd.DataFrame, keys: Sequence[str], *, unique: bool = False,
                 tau2: str | float = 0.0, level: float = LEVEL) -> pd.DataFrame:
    """Per group of ``keys``: observed, expected, ``ratio`` O/E with ``ratio_lowercl`` /
    ``ratio_uppercl`` (widened by τ²: one value, or the name of a column of ``rows`` constant
    within each group), ``missing`` E − O with limits E − U'·E and E − L'·E, and
    ``significantly_low`` (U' < 1). ``unique=True``: the rows are already one per group, kept in
    their order."""
    keys = list(keys)
    column = tau2 if isinstance(tau2, str) else None
    if unique:
        out = rows[keys].reset_index(drop=True)
        out["observed"] = rows["observed"].to_numpy(dtype=float)
        out["expected"] = rows["expected"].to_numpy(dtype=float)
        if column:
            out["tau2"] = rows[column].to_numpy(dtype=float)
    else:
        how = {"observed": ("observed", "sum"), "expected": ("expected", "sum")}
        if column:
            how["tau2"] = (column, "first")
        out = rows.groupby(keys, sort=True, observed=True, dropna=False).agg(**how).reset_index()
        out = out.astype({"observed": float, "expected": float})
    if column:
        tau2 = out.pop("tau2").to_numpy(dtype=float)
    o, e = out["observed"].to_numpy(), out["expected"].to_numpy()
    lower, upper = widened_limits(o, e, tau2, level)
    out["ratio"] = o / e
    out["ratio_lowercl"] = lower
    out["ratio_uppercl"] = upper
    out["missing"] = e - o
    out["missing_lowercl"] = e - upper * e
    out["missing_uppercl"] = e - lower * e
    out["significantly_low"] = upper < 1
    return out


__all__ = ["LEVEL", "WINSORISE", "detectable_shortfall", "random_effects_tau2", "ratio_limits",
           "widened_limits", "winsorised_z"]
