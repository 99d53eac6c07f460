"""Statistical process control: XmR charts as NHS England's Making Data Count.

Method: NHS England / NHS Improvement, *Making Data Count: A guide to creating and interpreting run
and SPC charts* (2019/2021). The process limits are the mean +/- 2.66 x the mean moving range
(2.66 = 3 / d2 with d2 = 1.128 for ranges of two points; Wheeler, *Understanding Variation*, 1993
and Wheeler & Chambers, *Understanding Statistical Process Control*, 1992); moving ranges above
3.267 x their mean (the upper range limit, D4 = 3.267) are screened out when asked and the mean
moving range recomputed. Special-cause rules: a point beyond a limit; a shift of 7 or more points
on one side of the mean; a trend of 7 or more points each rising (or each falling); 2 of 3
consecutive points beyond two-thirds of the way to a limit (on the same side). Limits are fixed on
a baseline (the first ``baseline`` points of a phase) and recalculated only at recorded changes;
rules never look across a change. Variation and assurance icons follow the guide: the variation
icon describes the latest point, the assurance icon whether the limits straddle the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from placehealth.measures._limits import group_columns, require_columns, to_pandas
from placehealth.measures._panel import run_lengths, to_panel

#: Limits at the mean +/- this many mean moving ranges (3 / 1.128).
LIMIT_FACTOR = 2.66
#: Moving ranges above this many times their mean are screened out (D4 for n = 2).
RANGE_FACTOR = 3.267
#: Points in a run on one side of the mean (a shift) or rising/falling (a trend).
RUN = 7
#: Fewer baseline points than this and the limits are flagged as unreliable.
MIN_POINTS = 12

IMPROVEMENT = (None, "up", "down")


@dataclass(frozen=True)
class XmrResult:
    """``points``: one row per point with its phase, centre line, limits and rules;
    ``summary``: one row per series (latest phase) with the variation and assurance icons."""

    points: pd.DataFrame
    summary: pd.DataFrame


def _phases(periods: np.ndarray, count: int, changes: Sequence[Any] | None,
            unit_change: np.ndarray | None) -> np.ndarray:
    """Phase number (0, 1, ...) of each unit x period cell: it rises at each recorded change."""
    positions = np.arange(len(periods))
    phase = np.zeros((count, len(periods)), dtype=np.int32)
    if changes is not None and len(changes):
        starts = np.searchsorted(periods, np.sort(np.asarray(list(changes), dtype=periods.dtype)))
        phase += np.searchsorted(starts, positions, side="right").astype(np.int32)[None, :]
    if unit_change is not None:
        phase += (positions[None, :] >= unit_change[:, None]).astype(np.int32)
    return phase


def _moving_ranges(values: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """|x_t - x_(t-1)| where both points are present and in the same phase, else NaN; column 0 NaN."""
    ranges = np.full(values.shape, np.nan)
    same = phase[:, 1:] == phase[:, :-1]
    ranges[:, 1:] = np.where(same, np.abs(values[:, 1:] - values[:, :-1]), np.nan)
    return ranges


def _limits(values: np.ndarray, phase: np.ndarray, baseline: int | None,
            screen: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centre line, mean moving range and baseline point count per cell, each from its phase's
    baseline; also the baseline mask."""
    observed = ~np.isnan(values)
    centre = np.full(values.shape, np.nan)
    mean_range = np.full(values.shape, np.nan)
    points = np.zeros(values.shape, dtype=np.int64)
    in_baseline = np.zeros(values.shape, dtype=bool)
    for p in range(int(phase.max()) + 1 if phase.size else 0):
        in_phase = phase == p
        rank = np.cumsum(in_phase & observed, axis=1)
        base = in_phase & observed & ((rank <= baseline) if baseline else True)
        in_baseline |= base
        count = base.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(base, values, 0.0).sum(axis=1) / count
            ranges = _moving_ranges(np.where(base, values, np.nan), phase)
            usable = ~np.isnan(ranges)
            mr = np.where(usable, ranges, 0.0).sum(axis=1) / usable.sum(axis=1)
            if screen:
                usable &= ranges <= RANGE_FACTOR * mr[:, None]
                mr = np.where(usable, ranges, 0.0).sum(axis=1) / usable.sum(axis=1)
        centre = np.where(in_phase, mean[:, None], centre)
        mean_range = np.where(in_phase, mr[:, None], mean_range)
        points = np.where(in_phase, count[:, None], points)
    return centre, mean_range, points, in_baseline


def _rules(values: np.ndarray, phase: np.ndarray, centre: np.ndarray,
           sigma: np.ndarray) -> dict[str, np.ndarray]:
    """Each special-cause rule as a boolean array per side (``*_high`` / ``*_low``)."""
    observed = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        above, below = values > centre, values < centre
        upper, lower = centre + 3 * sigma, centre - 3 * sigma
        rules = {"beyond_high": values > upper, "beyond_low": values < lower}
        # a run is broken by a change of phase: mark phase boundaries by splitting with False
        boundary = np.zeros(values.shape, dtype=bool)
        boundary[:, 1:] = phase[:, 1:] != phase[:, :-1]
        for side, flags in (("high", above), ("low", below)):
            rules[f"shift_{side}"] = _runs_within_phase(flags, boundary) >= RUN
        step_up = np.zeros(values.shape, dtype=bool)
        step_down = np.zeros(values.shape, dtype=bool)
        both = observed[:, 1:] & observed[:, :-1] & ~boundary[:, 1:]
        step_up[:, 1:] = both & (values[:, 1:] > values[:, :-1])
        step_down[:, 1:] = both & (values[:, 1:] < values[:, :-1])
        for side, steps in (("high", step_up), ("low", step_down)):
            # RUN points rising = RUN - 1 consecutive rises; flag each rise's two points
            long = run_lengths(steps) >= RUN - 1
            flagged = long.copy()
            flagged[:, :-1] |= long[:, 1:]
            rules[f"trend_{side}"] = flagged
        for side, near in (("high", values > centre + 2 * sigma),
                           ("low", values < centre - 2 * sigma)):
            near = near & observed
            flagged = np.zeros(values.shape, dtype=bool)
            for start in range(values.shape[1] - 2):
                window = near[:, start:start + 3]
                same_phase = (phase[:, start] == phase[:, start + 2]) & observed[:, start:start + 3].all(axis=1)
                hit = same_phase & (window.sum(axis=1) >= 2)
                flagged[:, start:start + 3] |= window & hit[:, None]
            rules[f"two_of_three_{side}"] = flagged
    return rules


def _runs_within_phase(flags: np.ndarray, boundary: np.ndarray) -> np.ndarray:
    """Run lengths of True cells, restarting at each phase boundary."""
    # Interleave a False column before every boundary so runs cannot cross it.
    if not boundary.any():
        return run_lengths(flags)
    lengths = np.zeros(flags.shape, dtype=np.int32)
    segment = np.cumsum(boundary, axis=1)
    for s in range(int(segment.max()) + 1):
        lengths = np.where(segment == s, run_lengths(flags & (segment == s)), lengths)
    return lengths


def _variation(high: bool, low: bool, improvement: str | None) -> str:
    if not (high or low):
        return "common_cause"
    side = "high" if high else "low"
    if improvement is None:
        return f"special_cause_{side}"
    good = (side == "high") == (improvement == "up")
    return f"{'improvement' if good else 'concern'}_{side}"


def _assurance(lower: float, upper: float, target: float | None, improvement: str | None) -> str | None:
    if target is None or improvement is None or np.isnan(lower) or np.isnan(upper):
        return None
    if lower <= target <= upper:
        return "hit_and_miss"
    passes = lower > target if improvement == "up" else upper < target
    return "consistently_pass" if passes else "consistently_fail"


def xmr(
    data: Any,
    value: str,
    time: str,
    group_by: str | Sequence[str] | None = None,
    *,
    changes: Sequence[Any] | None = None,
    change_column: str | None = None,
    baseline: int | None = None,
    screen_moving_ranges: bool = False,
    target: float | None = None,
    improvement: str | None = None,
    min_points: int = MIN_POINTS,
) -> XmrResult:
    """XmR charts for every series (one per ``group_by`` value) at once.

    ``changes``: periods at which every series' limits are recalculated; ``change_column``: a
    column holding each unit's own change period (e.g. its intervention start; empty for none).
    ``baseline``: limits from the first N points of each phase (default: all its points).
    ``improvement``: ``"up"`` or ``"down"`` (which direction is better) names improvement and
    concern in the variation icon and, with ``target``, sets the assurance icon.
    Method: NHS England *Making Data Count*; Wheeler's XmR constants 2.66 and 3.267.
    """
    function = "xmr"
    group = group_columns(group_by)
    if improvement not in IMPROVEMENT:
        raise ValueError(f"{function}: improvement must be 'up', 'down' or None, not {improvement!r}")
    if baseline is not None and baseline < 2:
        raise ValueError(f"{function}: baseline must be at least 2 points, not {baseline}")
    frame = to_pandas(data, function)
    require_columns(frame, [change_column], function)
    panel = to_panel(frame, value, time, group, function)
    values, periods = panel.values, panel.periods
    if not len(frame):
        raise ValueError(f"{function}: the data has no rows")
    unit_change = None
    if change_column is not None:
        change = frame[change_column]
        positions = np.full(len(panel.units), len(periods), dtype=np.int64)
        given = change.notna().to_numpy()
        if given.any():
            where = np.searchsorted(periods, change[given].to_numpy(dtype=periods.dtype))
            positions[panel.unit_of_row[given]] = where
        unit_change = positions
    phase = _phases(periods, len(panel.units), changes, unit_change)
    centre, mean_range, baseline_points, in_baseline = _limits(
        values, phase, baseline, screen_moving_ranges)
    sigma = mean_range / 1.128
    lower, upper = centre - LIMIT_FACTOR * mean_range, centre + LIMIT_FACTOR * mean_range
    rules = _rules(values, phase, centre, sigma)
    high = rules["beyond_high"] | rules["shift_high"] | rules["trend_high"] | rules["two_of_three_high"]
    low = rules["beyond_low"] | rules["shift_low"] | rules["trend_low"] | rules["two_of_three_low"]

    observed = ~np.isnan(values)
    rows, cols = np.nonzero(observed)
    flat = observed.ravel()
    columns: dict[str, Any] = {g: panel.units[g].to_numpy()[rows] for g in group}
    columns[time] = periods[cols]
    for name, array in (("value", values), ("phase", phase), ("baseline", in_baseline),
                        ("centre", centre), ("lower", lower), ("upper", upper)):
        columns[name] = array.ravel()[flat]
    for rule in ("beyond", "shift", "trend", "two_of_three"):
        name = "beyond_limit" if rule == "beyond" else rule
        columns[name] = (rules[f"{rule}_high"] | rules[f"{rule}_low"]).ravel()[flat]
    side = np.where(high.ravel()[flat], 1, np.where(low.ravel()[flat], 2, 0)).astype(np.int8)
    columns["special_cause"] = pd.Categorical.from_codes(side, categories=["", "high", "low"])
    points = pd.DataFrame(columns)

    last = np.where(observed.any(axis=1), observed.shape[1] - 1 - np.argmax(observed[:, ::-1], axis=1), -1)
    units = np.arange(len(panel.units))
    has = last >= 0
    at = np.where(has, last, 0)
    summary = panel.units.copy()
    summary["points"] = observed.sum(axis=1)
    summary["phases"] = phase.max(axis=1) + 1 if phase.size else 0
    summary["latest"] = pd.Series(periods[at] if len(periods) else [], dtype=object).where(has)
    summary["latest_value"] = np.where(has, values[units, at], np.nan)
    summary["centre"] = centre[units, at]
    summary["lower"] = lower[units, at]
    summary["upper"] = upper[units, at]
    summary["mean_moving_range"] = mean_range[units, at]
    summary["baseline_points"] = baseline_points[units, at]
    summary["variation"] = [_variation(bool(h), bool(lo), improvement) for h, lo in
                            zip(high[units, at] & has, low[units, at] & has, strict=True)]
    summary["assurance"] = [_assurance(lo, up, target, improvement) for lo, up in
                            zip(summary["lower"], summary["upper"], strict=True)]
    summary["warning"] = np.where(
        summary["baseline_points"] < min_points,
        [f"only {n} points set the limits: fewer than {min_points} makes them unreliable"
         for n in summary["baseline_points"]], "")
    return XmrResult(points=points, summary=summary)
