"""Synthetic control: a weighted mix of donor units that tracks the treated unit before its start.

Method: Abadie, Diamond & Hainmueller, *Synthetic control methods for comparative case studies*,
J Am Stat Assoc 2010;105:493-505. Weights are non-negative and sum to one and minimise the
squared pre-period gap between the treated unit and the weighted donors; the predictors are the
pre-period outcomes themselves with equal importance (V = I, as in Doudchenko & Imbens 2016 and
Abadie 2021, J Econ Lit 59:391-425, section 3.2), so no covariates are needed. The weights are the
point of the donors' convex hull nearest the treated unit, found exactly by Wolfe's minimum-norm-
point algorithm (Wolfe, Math Programming 1976;11:128-149). Fit: pre-period RMSPE. Inference
(ADH 2010 section 2.3): placebo-in-space, every donor in turn treated as if it had the
intervention, with the other donors as its pool; the p-value is the share of units whose ratio of
post- to pre-period RMSPE is at least the treated unit's. Limits: the constant effects c not
rejected at the chosen level when c is taken off the treated unit's post-period gaps (test
inversion, Firpo & Possebom, J Causal Inference 2018;6:20160026); unbounded with fewer than
19 donors at 95%. Placebo-in-time: the same fit with a pretend start half-way through the
pre-period, using pre-period data only; a sizeable "effect" there warns of poor fit or
anticipation. With several treated units, each has its own synthetic control and the overall
effect is their mean, tested against means of placebo ratios drawn one per treated unit (Cavallo,
Galiani, Noy & Pantano, Rev Econ Stat 2013;95:1549-1561).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from placehealth.measures._limits import parse_confidence, require_columns, to_pandas
from placehealth.measures._panel import to_panel


@dataclass(frozen=True)
class SynthResult:
    """``estimates``: per treated unit (and ``overall`` when several) the mean post-period gap
    with limits, p-value, pre/post RMSPE, and the placebo-in-time check; ``weights``: treated,
    donor, weight (weights above 0.0001); ``series``: observed, synthetic and gap per period;
    ``placebos``: each donor's pre/post RMSPE and ratio."""

    estimates: pd.DataFrame
    weights: pd.DataFrame
    series: pd.DataFrame
    placebos: pd.DataFrame


def simplex_least_squares(donors: np.ndarray, target: np.ndarray, tolerance: float = 1e-10,
                          max_iterations: int = 5000) -> np.ndarray:
    """Weights w >= 0, sum(w) = 1 minimising ||donors @ w - target||² (donors: periods x units).

    Wolfe's (1976) minimum-norm-point algorithm on the points ``donors[:, j] - target``: the
    active set never holds more than periods + 1 donors, so it is exact and fast when there are
    far more donors than periods.
    """
    points = donors - target[:, None]
    count = points.shape[1]
    norms = np.einsum("ij,ij->j", points, points)
    scale = max(float(norms.max()), 1e-300)
    first = int(np.argmin(norms))
    active = [first]
    weights = np.array([1.0])
    nearest = points[:, first].copy()
    for _ in range(max_iterations):
        scores = points.T @ nearest
        j = int(np.argmin(scores))
        if nearest @ nearest - scores[j] <= tolerance * scale or j in active:
            break
        active.append(j)
        weights = np.append(weights, 0.0)
        while True:  # minor cycle: move to the affine minimiser, dropping donors that hit zero
            block = points[:, active]
            gram = block.T @ block
            size = len(active)
            system = np.zeros((size + 1, size + 1))
            system[:size, :size] = gram
            system[:size, size] = 1
            system[size, :size] = 1
            rhs = np.zeros(size + 1)
            rhs[size] = 1
            alpha = np.linalg.lstsq(system, rhs, rcond=None)[0][:size]
            if np.all(alpha > 1e-12):
                weights = alpha
                break
            falling = alpha <= 1e-12
            theta = min(1.0, float(np.min(weights[falling] / (weights[falling] - alpha[falling]))))
            weights = weights + theta * (alpha - weights)
            keep = weights > 1e-12
            keep[np.argmax(weights)] = True
            active = [a for a, k in zip(active, keep, strict=True) if k]
            weights = weights[keep]
        nearest = points[:, active] @ weights
    result = np.zeros(count)
    result[active] = np.maximum(weights, 0)
    return result / result.sum()


def _fit(values: np.ndarray, target: int, donors: np.ndarray, pre: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights over ``donors`` (row indices) for unit ``target`` fitted on the first ``pre``
    periods, and the gap (observed - synthetic) in every period."""
    weights = simplex_least_squares(values[donors, :pre].T, values[target, :pre])
    gap = values[target] - weights @ values[donors]
    return weights, gap


def _rmspe(gap: np.ndarray) -> float:
    return float(np.sqrt(np.mean(gap**2))) if len(gap) else np.nan


def _limits(post_gap: np.ndarray, pre_rmspe: float, placebo_ratios: np.ndarray,
            level: float) -> tuple[float, float]:
    """Constant effects not rejected by the placebo-in-space test (closed form: the ratio of
    sqrt(mean((gap - c)²)) to the pre-RMSPE is quadratic in c)."""
    count = len(placebo_ratios)
    needed = int(np.floor((1 - level) * (count + 1) - 1)) + 1  # placebos at least as extreme
    if needed <= 0 or needed > count:
        return (-np.inf, np.inf) if needed <= 0 else (np.nan, np.nan)
    threshold = np.sort(placebo_ratios)[::-1][needed - 1]
    room = (threshold * pre_rmspe) ** 2 - np.var(post_gap)
    if room < 0:
        return np.nan, np.nan
    centre = float(np.mean(post_gap))
    return centre - float(np.sqrt(room)), centre + float(np.sqrt(room))


def synthetic_control(
    data: Any,
    outcome: str,
    unit: str,
    time: str,
    first_treated: str,
    *,
    exclude: Sequence[Any] = (),
    confidence: float = 0.95,
    placebo_in_time: bool = True,
    seed: int = 1,
) -> SynthResult:
    """Synthetic control for every treated unit (``first_treated`` set), donors the never-treated
    units (less ``exclude``, e.g. units with the same kind of intervention).

    Method: Abadie, Diamond & Hainmueller 2010; Firpo & Possebom 2018 (limits); Cavallo et al.
    2013 (several treated units).
    """
    function = "synthetic_control"
    level = parse_confidence(confidence)[0]
    frame = to_pandas(data, function)
    require_columns(frame, [first_treated], function)
    if not len(frame):
        raise ValueError(f"{function}: the data has no rows")
    panel = to_panel(frame, outcome, time, [unit], function)
    periods, values = panel.periods, panel.values
    keys = panel.units[unit].tolist()
    starts = pd.Series(frame[first_treated].to_numpy()).groupby(panel.unit_of_row).agg(
        lambda s: s.dropna().iloc[0] if s.notna().any() else None)
    start_of_unit = starts.reindex(range(len(keys))).to_numpy()
    treated = np.array([s is not None and not pd.isna(s) for s in start_of_unit])
    excluded = set(exclude)
    donor_mask = ~treated & np.array([k not in excluded for k in keys])
    incomplete = np.isnan(values).any(axis=1)
    if incomplete[treated].any():
        bad = [keys[i] for i in np.flatnonzero(treated & incomplete)[:3]]
        raise ValueError(f"{function}: treated unit(s) {bad} lack a value in some period; "
                         "synthetic control needs every period")
    donor_mask &= ~incomplete
    donors = np.flatnonzero(donor_mask)
    if len(donors) < 2:
        raise ValueError(f"{function}: fewer than 2 donor units with a value in every period")
    if not treated.any():
        raise ValueError(f"{function}: no treated unit (column {first_treated!r} is empty)")

    estimates, weight_rows, series, placebo_rows = [], [], [], []
    placebo_cache: dict[int, np.ndarray] = {}
    ratios_by_unit = []
    for i in np.flatnonzero(treated):
        wanted = np.asarray([start_of_unit[i]], dtype=periods.dtype)
        pre = int(np.searchsorted(periods, wanted)[0])
        if pre < 2 or pre >= len(periods):
            raise ValueError(f"{function}: unit {keys[i]!r} needs at least 2 periods before its "
                             f"start and 1 from it (start {start_of_unit[i]!r})")
        weights, gap = _fit(values, i, donors, pre)
        pre_rmspe, post_rmspe = _rmspe(gap[:pre]), _rmspe(gap[pre:])
        ratio = post_rmspe / pre_rmspe if pre_rmspe > 0 else np.inf
        if pre not in placebo_cache:
            rows = []
            for j in donors:
                others = donors[donors != j]
                _, placebo_gap = _fit(values, j, others, pre)
                placebo_pre, placebo_post = _rmspe(placebo_gap[:pre]), _rmspe(placebo_gap[pre:])
                rows.append((placebo_pre, placebo_post,
                             placebo_post / placebo_pre if placebo_pre > 0 else np.inf))
            placebo_cache[pre] = np.asarray(rows)
        placebos = placebo_cache[pre]
        placebo_ratios = placebos[:, 2]
        ratios_by_unit.append((ratio, placebo_ratios))
        p_value = (1 + np.sum(placebo_ratios >= ratio)) / (1 + len(placebo_ratios))
        lower, upper = _limits(gap[pre:], pre_rmspe, placebo_ratios, level)
        record = {unit: keys[i], "start": start_of_unit[i], "estimate": float(np.mean(gap[pre:])),
                  "lower": lower, "upper": upper, "p_value": float(p_value),
                  "pre_rmspe": pre_rmspe, "post_rmspe": post_rmspe, "rmspe_ratio": ratio,
                  "donors": len(donors), "periods_before": pre,
                  "periods_after": len(periods) - pre}
        fake = pre // 2
        if placebo_in_time and fake >= 2:
            _, fake_gap = _fit(values[:, :pre], i, donors, fake)
            fake_pre = _rmspe(fake_gap[:fake])
            record.update({
                "placebo_time_start": periods[fake],
                "placebo_time_estimate": float(np.mean(fake_gap[fake:])),
                "placebo_time_rmspe_ratio": _rmspe(fake_gap[fake:]) / fake_pre if fake_pre > 0 else np.inf,
            })
        estimates.append(record)
        for j, w in zip(donors, weights, strict=True):
            if w > 1e-4:
                weight_rows.append({"treated": keys[i], "donor": keys[j], "weight": float(w)})
        synthetic = values[i] - gap
        series.append(pd.DataFrame({unit: keys[i], time: periods, "observed": values[i],
                                    "synthetic": synthetic, "gap": gap,
                                    "post": np.arange(len(periods)) >= pre}))
        placebo_rows.append(pd.DataFrame({"treated": keys[i], "donor": [keys[j] for j in donors],
                                          "pre_rmspe": placebos[:, 0], "post_rmspe": placebos[:, 1],
                                          "rmspe_ratio": placebos[:, 2]}))
    if len(estimates) > 1:
        rng = np.random.default_rng(seed)
        observed = np.mean([r for r, _ in ratios_by_unit])
        draws = np.mean([rng.choice(p, size=9999) for _, p in ratios_by_unit], axis=0)
        estimates.append({unit: "overall", "estimate": float(np.mean([e["estimate"] for e in estimates])),
                          "lower": np.nan, "upper": np.nan,
                          "p_value": float((1 + np.sum(draws >= observed)) / (1 + len(draws))),
                          "pre_rmspe": float(np.mean([e["pre_rmspe"] for e in estimates])),
                          "rmspe_ratio": float(observed), "donors": len(donors)})
    return SynthResult(
        estimates=pd.DataFrame(estimates), weights=pd.DataFrame(weight_rows, columns=["treated", "donor", "weight"]),
        series=pd.concat(series, ignore_index=True), placebos=pd.concat(placebo_rows, ignore_index=True),
    )
