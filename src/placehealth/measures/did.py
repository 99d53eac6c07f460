"""Difference-in-differences with staggered starts: Callaway & Sant'Anna group-time effects.

Method: Callaway & Sant'Anna, *Difference-in-Differences with multiple time periods*, J Econometrics
2021;225:200-230. Units are grouped by the period they were first treated (g); never-treated units
are the comparators. Each group-time effect is ATT(g, t) = E[Y_t - Y_b | G = g] - E[Y_t - Y_b | never
treated], with base period b = g - 1 for t >= g and b = t - 1 before (the "varying" base, so the
leads are period-on-period placebo effects). Aggregations (their section 3): ``simple`` (every
post-treatment cell weighted by group size), ``group`` (each group's mean over its post periods,
and their size-weighted mean) and ``dynamic`` (event time e = t - g, leads e < 0 and lags e >= 0,
each weighted by group size; the overall is the mean of the lags). Plain two-way fixed effects is
never used: with staggered starts and changing effects it compares treated units with already
treated ones (Goodman-Bacon, J Econometrics 2021;225:254-277).

Inference: each estimate's influence function per unit (including the estimated aggregation
weights) and a multiplier (wild) bootstrap clustered by unit, as in Callaway & Sant'Anna's
Algorithm 1, with Rademacher weights (Cameron, Gelbach & Miller, *Bootstrap-based improvements for
inference with clustered errors*, Rev Econ Stat 2008;90:414-427); standard errors from the
bootstrap interquartile range, normal limits. The pre-trend test is the sup-t test over the
event-study leads (and their Wald test that every pre-period ATT(g, t) is zero, when there are
enough treated units). With a handful of treated units (fewer than 20, by default) every p-value
and limit comes from randomisation inference instead: group labels reassigned at random among
units, the p-value the share of reassignments at least as extreme, and limits by inverting the
test under a constant effect (Fisher 1935; MacKinnon & Webb, *Randomization inference for
difference-in-differences with few treated clusters*, J Econometrics 2020;218:435-450).

Comparators can be chosen by ``match_comparators``: nearest never-treated units on the pre-period
level and trend, computed without looking at any post-period outcome.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from placehealth.measures._limits import (
    group_columns,
    parse_confidence,
    require_columns,
    to_pandas,
)
from placehealth.measures._panel import to_panel

INFERENCE = ("auto", "bootstrap", "permutation")
#: With fewer treated units than this, ``inference="auto"`` uses randomisation inference.
FEW_TREATED = 20
#: Normal quantile span of the interquartile range, to turn a bootstrap IQR into a standard error.
IQR_SPAN = float(stats.norm.ppf(0.75) - stats.norm.ppf(0.25))


@dataclass(frozen=True)
class DidResult:
    """Group-time effects, their aggregations and the pre-trend test.

    ``group_time``: group, time, base, post, estimate, se, lower, upper, p_value;
    ``simple``: the overall effect (one row); ``group`` and ``dynamic``: the aggregations, each
    with an ``overall`` row; ``pretrend``: the joint pre-trend tests (sup-t p-value, Wald statistic, df, p-value); ``comparators``: the
    never-treated units used.
    """

    group_time: pd.DataFrame
    simple: pd.DataFrame
    group: pd.DataFrame
    dynamic: pd.DataFrame
    pretrend: dict[str, Any]
    comparators: list[Any]
    treated: list[Any]
    inference: str
    dropped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Cells:
    group: np.ndarray  # group position (period index of first treatment) per cell
    time: np.ndarray
    base: np.ndarray
    group_index: np.ndarray  # index into the list of groups


def _cells(groups: np.ndarray, periods: int) -> _Cells:
    g_all, t_all, b_all, k_all = [], [], [], []
    for k, g in enumerate(groups):
        for t in range(1, periods):
            g_all.append(g)
            t_all.append(t)
            b_all.append(g - 1 if t >= g else t - 1)
            k_all.append(k)
    return _Cells(*(np.asarray(a, dtype=np.int64) for a in (g_all, t_all, b_all, k_all)))


def _att_and_influence(y: np.ndarray, membership: np.ndarray, control: np.ndarray,
                       cells: _Cells) -> tuple[np.ndarray, np.ndarray]:
    """ATT(g, t) per cell and its influence function per unit (n x cells), unconditional
    never-treated comparison (Callaway & Sant'Anna 2021, eq. 2.6 with no covariates)."""
    n = y.shape[0]
    change = y[:, cells.time] - y[:, cells.base]  # n x cells
    in_group = membership[:, cells.group_index]  # n x cells (bool)
    n_group = in_group.sum(axis=0)
    n_control = control.sum()
    mean_group = (change * in_group).sum(axis=0) / n_group
    mean_control = change[control].mean(axis=0)
    att = mean_group - mean_control
    influence = (in_group * (change - mean_group) * (n / n_group)
                 - control[:, None] * (change - mean_control) * (n / n_control))
    return att, influence


def _aggregate(att: np.ndarray, influence: np.ndarray, keep: np.ndarray, cell_group: np.ndarray,
               membership: np.ndarray) -> tuple[float, np.ndarray]:
    """Size-weighted mean of the kept cells and its influence function, including the
    estimated weights' own influence (Callaway & Sant'Anna 2021, appendix on aggregation)."""
    cells = np.flatnonzero(keep)
    share = membership.mean(axis=0)  # P(G = g) over all units
    p = share[cell_group[cells]]
    total = p.sum()
    weights = p / total
    estimate = float(weights @ att[cells])
    share_influence = membership[:, cell_group[cells]] - p  # n x kept
    weight_influence = share_influence / total - np.outer(share_influence.sum(axis=1), p) / total**2
    return estimate, influence[:, cells] @ weights + weight_influence @ att[cells]


def _bootstrap(influence: np.ndarray, draws: int, rng: np.random.Generator,
               chunk: int = 250) -> tuple[np.ndarray, np.ndarray]:
    """Multiplier-bootstrap draws (clustered by unit, Rademacher weights) of estimates with the
    given influence functions (n x m), (1/n) sum_i xi_i psi_i, and the standard errors from
    their interquartile range."""
    n, m = influence.shape
    results = np.empty((draws, m))
    for start in range(0, draws, chunk):
        size = min(chunk, draws - start)
        xi = rng.integers(0, 2, size=(size, n), dtype=np.int8).astype(np.float64) * 2 - 1
        results[start:start + size] = xi @ influence / n
    q75, q25 = np.quantile(results, [0.75, 0.25], axis=0)
    se = (q75 - q25) / IQR_SPAN
    tiny = np.sqrt(np.finfo(float).eps) * np.abs(results).max(initial=0)
    return results, np.where(se > tiny, se, np.nan)


def _cell_effects(y: np.ndarray, membership: np.ndarray, control: np.ndarray,
                  cells: _Cells) -> np.ndarray:
    """ATT(g, t) of every cell for many assignments at once (membership: draws x n x groups,
    control: draws x n); draws x cells."""
    change = y[:, cells.time] - y[:, cells.base]  # n x cells
    n_group = membership.sum(axis=1)  # draws x groups
    sums = np.einsum("dng,nc->dgc", membership, change)
    group_means = sums[:, cells.group_index, np.arange(len(cells.time))] / n_group[:, cells.group_index]
    control_means = control @ change / control.sum(axis=1, keepdims=True)
    return group_means - control_means


def _cell_weights(keep: np.ndarray, cells: _Cells, sizes: np.ndarray) -> np.ndarray:
    """Size weights over the kept cells (zero elsewhere), as in the aggregations."""
    weights = np.where(keep, sizes[cells.group_index], 0.0).astype(float)
    return weights / weights.sum()


def _permutation(y: np.ndarray, membership: np.ndarray, control: np.ndarray, cells: _Cells,
                 weights: np.ndarray, draws: int, rng: np.random.Generator,
                 level: float) -> dict[str, Any]:
    """Randomisation inference for every estimate (a column of ``weights`` over the cells):
    group labels reassigned at random among the units, group sizes kept. p-values: the share of
    reassignments at least as extreme. Limits of post-start estimates by test inversion under a
    constant additive effect c (each estimate is linear in the outcome, so a reassignment's
    estimate under c is its estimate at 0 minus c times its estimate on the treatment indicator);
    NaN for pre-start ones (leads), which a constant post-start effect does not move. The
    pre-trend test: the largest lead, each studentised by its spread over reassignments."""
    _n, groups = membership.shape
    labels = np.where(membership.any(axis=1), membership.argmax(axis=1), -1)
    rows = np.flatnonzero((labels >= 0) | control)
    sample = labels[rows]
    perms = np.stack([rng.permutation(sample) for _ in range(draws)])
    member = np.stack([perms == k for k in range(groups)], axis=2).astype(np.float64)
    ctrl = (perms < 0).astype(np.float64)
    sizes = membership.sum(axis=0)
    observed_cells = _cell_effects(y[rows], membership[rows][None].astype(np.float64),
                                   control[rows][None].astype(np.float64), cells)[0]
    permuted = _cell_effects(y[rows], member, ctrl, cells)
    groups_at = np.array([cells.group[cells.group_index == k][0] for k in range(groups)])
    first = np.where(sample >= 0, groups_at[np.maximum(sample, 0)], y.shape[1])
    treated_now = (np.arange(y.shape[1])[None, :] >= first[:, None]).astype(np.float64)
    slopes = _cell_effects(treated_now, member, ctrl, cells) @ weights  # draws x estimates
    own_slope = _cell_effects(treated_now, membership[rows][None].astype(np.float64),
                              control[rows][None].astype(np.float64), cells)[0] @ weights
    effects, estimates = permuted @ weights, observed_cells @ weights
    tolerance = 1e-12
    p_values = (1 + np.sum(np.abs(effects) >= np.abs(estimates) - tolerance, axis=0)) / (draws + 1)
    lower = np.full(len(estimates), np.nan)
    upper = np.full(len(estimates), np.nan)
    for m in np.flatnonzero(np.abs(own_slope - 1) < 1e-9):
        spread = max(np.std(effects[:, m]) * 8, abs(estimates[m]) * 2, 1e-9)
        grid = np.linspace(estimates[m] - spread, estimates[m] + spread, 801)
        extreme = (np.abs(effects[:, m, None] - grid[None, :] * slopes[:, m, None])
                   >= np.abs(estimates[m] - grid)[None, :] - tolerance)
        accepted = grid[(1 + extreme.sum(axis=0)) / (draws + 1) > 1 - level]
        if len(accepted):
            lower[m], upper[m] = accepted.min(), accepted.max()
    result: dict[str, Any] = {"p_value": p_values, "lower": lower, "upper": upper,
                              "pretrend_p_value": np.nan, "pretrend_statistic": np.nan}
    event = cells.time - cells.group
    leads = [e for e in np.unique(event) if e < 0]
    if leads:
        lead_weights = np.column_stack([_cell_weights(event == e, cells, sizes) for e in leads])
        observed, under_null = observed_cells @ lead_weights, permuted @ lead_weights
        scale = under_null.std(axis=0)
        scale[scale == 0] = np.inf
        statistic = float(np.max(np.abs(observed) / scale))
        maximum = np.max(np.abs(under_null) / scale, axis=1)
        result.update({"pretrend_statistic": statistic,
                       "pretrend_p_value": float((1 + np.sum(maximum >= statistic - tolerance)) / (draws + 1))})
    return result


def _estimate_weights(estimates: list, cells: _Cells, post: np.ndarray,
                      sizes: np.ndarray) -> list[np.ndarray]:
    """Each aggregation as weights over the group-time cells (same order as ``estimates``)."""
    event = cells.time - cells.group
    vectors = []
    group_vectors, lag_vectors = [], []
    for kind, key, _value, _influence in estimates:
        if kind == "simple":
            vectors.append(_cell_weights(post, cells, sizes))
        elif kind == "group" and key != "overall":
            k = len(group_vectors)
            mask = post & (cells.group_index == k)
            group_vectors.append(mask / mask.sum())
            vectors.append(group_vectors[-1])
        elif kind == "group":
            vectors.append(np.column_stack(group_vectors) @ (sizes / sizes.sum()))
        elif key != "overall":
            vectors.append(_cell_weights(event == key, cells, sizes))
            if key >= 0:
                lag_vectors.append(vectors[-1])
        else:
            vectors.append(np.mean(lag_vectors, axis=0))
    return vectors


def _pretrend(att: np.ndarray, influence: np.ndarray, pre: np.ndarray, estimates: list,
              cell_count: int, boot: np.ndarray, se: np.ndarray, n: int,
              treated: int) -> dict[str, Any]:
    """Joint tests that the effects before the start are zero: the sup-t test over the event-study
    leads against the bootstrap maximum (well behaved however many leads there are; Callaway &
    Sant'Anna 2021 section 4.1 on uniform bands), and their Wald test on every pre-period
    ATT(g, t) with the influence-function covariance (reliable only with many more units than
    pre-period cells: left out when there are fewer treated units than pre-period cells, where
    the covariance is singular)."""
    result = {"p_value": np.nan, "method": "bootstrap sup-t", "sup_t": np.nan, "leads": 0,
              "wald_statistic": np.nan, "wald_df": 0, "wald_p_value": np.nan}
    if not pre.any():
        return result
    leads = [cell_count + k for k, e in enumerate(estimates)
             if e[0] == "dynamic" and e[1] != "overall" and e[1] < 0]
    values = np.array([estimates[k - cell_count][2] for k in leads])
    scale = se[leads]
    usable = ~np.isnan(scale)
    if usable.any():
        observed = float(np.max(np.abs(values[usable] / scale[usable])))
        maximum = np.max(np.abs(boot[:, leads][:, usable] / scale[usable]), axis=1)
        result.update({"p_value": float(np.mean(maximum >= observed)), "sup_t": observed,
                       "leads": int(usable.sum())})
    if treated <= pre.sum():
        return result
    covariance = influence[:, pre].T @ influence[:, pre] / n**2
    eigenvalues, vectors = np.linalg.eigh(covariance)
    positive = eigenvalues > eigenvalues.max(initial=0) * covariance.shape[0] * np.finfo(float).eps
    projected = vectors[:, positive].T @ att[pre]
    statistic = float(np.sum(projected**2 / eigenvalues[positive]))
    df = int(positive.sum())
    result.update({"wald_statistic": statistic, "wald_df": df,
                   "wald_p_value": float(stats.chi2.sf(statistic, df)) if df else np.nan})
    return result


@threadpool_limits.wrap(limits=1)  # small matrices: one BLAS thread is faster on a busy machine
def callaway_santanna(
    data: Any,
    outcome: str,
    unit: str | Sequence[str],
    time: str,
    first_treated: str,
    *,
    comparators: Sequence[Any] | None = None,
    inference: str = "auto",
    draws: int = 999,
    confidence: float = 0.95,
    seed: int = 1,
) -> DidResult:
    """Group-time average treatment effects and their aggregations.

    ``first_treated``: a column with each unit's first treated period (a value of ``time``; empty
    for never treated); ``comparators``: restrict the never-treated units to these (e.g. from
    :func:`match_comparators`); ``inference``: ``"bootstrap"`` (multiplier bootstrap, ``draws``
    draws), ``"permutation"`` (randomisation inference for every estimate, ``draws``
    reassignments) or ``"auto"``: permutation with
    fewer than 20 treated units, where cluster bootstraps over-reject (MacKinnon & Webb 2020;
    measured in tests/spec/test_evaluate_coverage.py), else bootstrap.
    Method: Callaway & Sant'Anna 2021; Cameron, Gelbach & Miller 2008; MacKinnon & Webb 2020.
    """
    function = "callaway_santanna"
    units = group_columns(unit)
    if inference not in INFERENCE:
        raise ValueError(f"{function}: inference must be auto, bootstrap or permutation, not "
                         f"{inference!r}")
    if draws < 99:
        raise ValueError(f"{function}: draws must be at least 99, not {draws}")
    level = parse_confidence(confidence)[0]
    frame = to_pandas(data, function)
    require_columns(frame, [first_treated], function)
    if not len(frame):
        raise ValueError(f"{function}: the data has no rows")
    panel = to_panel(frame, outcome, time, units, function)
    periods, y = panel.periods, panel.values
    unit_keys = [tuple(r) if len(units) > 1 else r[0] for r in panel.units.itertuples(index=False)]

    starts = pd.Series(frame[first_treated].to_numpy()).groupby(panel.unit_of_row).agg(
        lambda s: s.dropna().iloc[0] if s.notna().any() else None)
    start_of_unit = starts.reindex(range(len(unit_keys))).to_numpy()
    position = np.full(len(unit_keys), -1, dtype=np.int64)
    treated = np.array([s is not None and not pd.isna(s) for s in start_of_unit])
    if treated.any():
        given = list(start_of_unit[treated])
        found = np.searchsorted(periods, np.asarray(given, dtype=periods.dtype))
        exact = (found < len(periods)) & np.array(
            [periods[min(f, len(periods) - 1)] == g for f, g in zip(found, given, strict=True)])
        if not exact.all():
            bad = [unit_keys[i] for i in np.flatnonzero(treated)[~exact][:3]]
            raise ValueError(f"{function}: {first_treated!r} of unit(s) {bad} is not one of the "
                             f"periods in {time!r}")
        position[treated] = found
    dropped: list[str] = []
    keep = np.ones(len(unit_keys), dtype=bool)
    incomplete = np.isnan(y).any(axis=1)
    if incomplete.any():
        dropped.append(f"{int(incomplete.sum())} unit(s) without a value in every period "
                       f"(e.g. {unit_keys[int(np.flatnonzero(incomplete)[0])]})")
        keep &= ~incomplete
    at_start = treated & (position == 0)
    if at_start.any():
        dropped.append(f"{int(at_start.sum())} unit(s) treated from the first period (no "
                       "period before to compare with)")
        keep &= ~at_start
    control = ~treated
    if comparators is not None:
        wanted_controls = set(comparators)
        control &= np.array([k in wanted_controls for k in unit_keys])
        keep &= treated | control
    for message in dropped:
        warnings.warn(f"{function}: left out {message}", stacklevel=2)
    y, treated, control, position = y[keep], treated[keep], control[keep], position[keep]
    kept_keys = [k for k, ok in zip(unit_keys, keep, strict=True) if ok]
    if not treated.any():
        raise ValueError(f"{function}: no treated unit with a period before its start")
    if control.sum() < 2:
        raise ValueError(f"{function}: fewer than 2 never-treated comparator units")
    if len(periods) < 2:
        raise ValueError(f"{function}: at least 2 periods are needed")

    if inference == "auto":
        inference = "permutation" if treated.sum() < FEW_TREATED else "bootstrap"
    groups = np.unique(position[treated])
    membership = position[:, None] == groups[None, :]
    membership &= treated[:, None]
    cells = _cells(groups, len(periods))
    att, influence = _att_and_influence(y, membership, control, cells)
    post = cells.time >= cells.group
    n = y.shape[0]

    estimates: list[tuple[str, Any, float, np.ndarray]] = []
    simple, simple_if = _aggregate(att, influence, post, cells.group_index, membership)
    estimates.append(("simple", "overall", simple, simple_if))
    group_values = []
    for k, g in enumerate(groups):
        mask = post & (cells.group_index == k)
        value = float(att[mask].mean())
        estimates.append(("group", periods[g], value, influence[:, mask].mean(axis=1)))
        group_values.append((value, influence[:, mask].mean(axis=1)))
    group_att = np.array([v for v, _ in group_values])
    group_if = np.column_stack([i for _, i in group_values])
    share = membership.mean(axis=0)
    overall_group = float(share @ group_att / share.sum())
    share_if = membership - share
    weight_if = share_if / share.sum() - np.outer(share_if.sum(axis=1), share) / share.sum() ** 2
    estimates.append(("group", "overall", overall_group,
                      group_if @ (share / share.sum()) + weight_if @ group_att))
    event = cells.time - cells.group
    lags = []
    for e in np.unique(event):
        value, value_if = _aggregate(att, influence, event == e, cells.group_index, membership)
        estimates.append(("dynamic", int(e), value, value_if))
        if e >= 0:
            lags.append((value, value_if))
    estimates.append(("dynamic", "overall", float(np.mean([v for v, _ in lags])),
                      np.column_stack([i for _, i in lags]).mean(axis=1)))

    rng = np.random.default_rng(seed)
    all_if = np.column_stack([influence, *[e[3] for e in estimates]])
    boot, se = _bootstrap(all_if, draws, rng)
    z = stats.norm.ppf(0.5 + level / 2)
    values = np.concatenate([att, [e[2] for e in estimates]])
    with np.errstate(invalid="ignore", divide="ignore"):
        p_values = 2 * stats.norm.sf(np.abs(values / se))
    lower, upper = values - z * se, values + z * se

    cell_count = len(att)
    group_time = pd.DataFrame({
        "group": periods[cells.group], "time": periods[cells.time], "base": periods[cells.base],
        "post": post, "estimate": att, "se": se[:cell_count], "lower": lower[:cell_count],
        "upper": upper[:cell_count], "p_value": p_values[:cell_count],
    })
    aggregated = pd.DataFrame({
        "type": [e[0] for e in estimates], "key": [e[1] for e in estimates],
        "estimate": values[cell_count:], "se": se[cell_count:], "lower": lower[cell_count:],
        "upper": upper[cell_count:], "p_value": p_values[cell_count:],
    })
    permutation = None
    if inference == "permutation":
        weights = np.column_stack([np.eye(cell_count), *_estimate_weights(
            estimates, cells, post, membership.sum(axis=0))])
        permutation = _permutation(y, membership, control, cells, weights, draws, rng, level)
        for part, columns in ((group_time, slice(0, cell_count)),
                              (aggregated, slice(cell_count, None))):
            for name in ("p_value", "lower", "upper"):
                part[name] = permutation[name][columns]

    pretrend = _pretrend(att, influence, ~post, estimates, cell_count, boot, se, n,
                         int(treated.sum()))
    if permutation is not None:  # with few treated units the bootstrap's sup-t over-rejects
        pretrend.update({"p_value": permutation["pretrend_p_value"], "method": "permutation"})
    rename = {"group": "group", "dynamic": "event_time"}
    parts = {}
    for kind in ("simple", "group", "dynamic"):
        part = aggregated[aggregated["type"] == kind].drop(columns="type").reset_index(drop=True)
        parts[kind] = part.rename(columns={"key": rename.get(kind, "key")})
    parts["simple"] = parts["simple"].drop(columns="key")
    return DidResult(
        group_time=group_time, simple=parts["simple"], group=parts["group"],
        dynamic=parts["dynamic"], pretrend=pretrend,
        comparators=[k for k, c in zip(kept_keys, control, strict=True) if c],
        treated=[k for k, t in zip(kept_keys, treated, strict=True) if t],
        inference=inference, dropped=dropped,
    )


def match_comparators(
    data: Any,
    outcome: str,
    unit: str,
    time: str,
    first_treated: str,
    *,
    per_treated: int = 5,
    window: int | None = None,
) -> list[Any]:
    """Never-treated units nearest each treated unit on its pre-period level and trend.

    For each treated unit, level (mean) and trend (least-squares slope) over the ``window``
    periods before its start (default: all of them) are computed for it and for every
    never-treated unit over the same periods; both are standardised across the never-treated
    units and the ``per_treated`` nearest (Euclidean) are kept. Only periods before each start
    are read, so the choice cannot depend on post-period outcomes (Rubin 2001, design before
    outcomes; Abadie 2021 on matching on pre-period outcomes).
    """
    function = "match_comparators"
    frame = to_pandas(data, function)
    require_columns(frame, [first_treated], function)
    panel = to_panel(frame, outcome, time, [unit], function)
    periods, y = panel.periods, panel.values
    keys = panel.units[unit].tolist()
    starts = pd.Series(frame[first_treated].to_numpy()).groupby(panel.unit_of_row).first()
    start_of_unit = starts.reindex(range(len(keys))).to_numpy()
    treated = np.array([s is not None and not pd.isna(s) for s in start_of_unit])
    controls = np.flatnonzero(~treated)
    chosen: dict[Any, None] = {}
    for i in np.flatnonzero(treated):
        begin = int(np.searchsorted(periods, np.asarray([start_of_unit[i]], dtype=periods.dtype))[0])
        first = 0 if window is None else max(0, begin - window)
        if begin - first < 2:
            raise ValueError(f"{function}: unit {keys[i]!r} has fewer than 2 periods before its start")
        span = np.arange(first, begin, dtype=float)
        span -= span.mean()
        block = y[:, first:begin]
        level = np.nanmean(block, axis=1)
        trend = np.nansum((block - level[:, None]) * span, axis=1) / (span**2).sum()
        features = np.column_stack([level, trend])
        scale = np.nanstd(features[controls], axis=0)
        scale[scale == 0] = 1
        distance = np.sqrt((((features[controls] - features[i]) / scale) ** 2).sum(axis=1))
        distance = np.where(np.isnan(distance), np.inf, distance)
        for j in controls[np.argsort(distance, kind="stable")[:per_treated]]:
            chosen[keys[j]] = None
    return list(chosen)
