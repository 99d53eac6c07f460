"""Panels (unit x period) as matrices: the shape the evaluation statistics compute on.

A long table of (unit, period, value) becomes a units x periods array with NaN where a unit has no
value for a period; units and periods keep their sorted order so results map back by position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from placehealth.measures._limits import (
    fail_where,
    group_codes,
    numeric_column,
    require_columns,
)


@dataclass(frozen=True)
class Panel:
    """``values[i, t]``: unit ``units.iloc[i]`` at period ``periods[t]`` (NaN when absent)."""

    units: pd.DataFrame  # one row per unit: the unit key column(s), sorted
    periods: np.ndarray  # sorted distinct periods
    values: np.ndarray  # units x periods, float64
    unit_of_row: np.ndarray  # per input row: its unit's position
    period_of_row: np.ndarray  # per input row: its period's position


def to_panel(
    frame: pd.DataFrame,
    value: str,
    time: str,
    unit: list[str],
    function: str,
    *,
    non_negative: bool = False,
) -> Panel:
    """Reshape a long frame into a :class:`Panel`; a unit with two rows for one period is an error
    naming that unit and period."""
    require_columns(frame, [*unit, time, value], function)
    values = numeric_column(frame, value, function, group=unit, allow_missing=True,
                            non_negative=non_negative)
    unit_codes, units = group_codes(frame, unit)
    period_codes, periods = pd.factorize(frame[time], sort=True, use_na_sentinel=True)
    fail_where(frame, period_codes < 0, unit, f"{function}: column {time!r} has missing periods")
    key = unit_codes * max(len(periods), 1) + period_codes
    counts = np.bincount(key, minlength=len(units) * len(periods))
    fail_where(frame, counts[key] > 1, [*unit, time],
               f"{function}: more than one row for the same unit and period ({time!r})")
    matrix = np.full((len(units), len(periods)), np.nan)
    matrix[unit_codes, period_codes] = values
    return Panel(units=units, periods=np.asarray(periods), values=matrix,
                 unit_of_row=unit_codes, period_of_row=period_codes)


def run_lengths(flags: np.ndarray) -> np.ndarray:
    """For each cell of a boolean units x periods array, the length of the run of consecutive True
    cells (along periods) that it belongs to; 0 where False. Vectorised over units."""
    by_period = np.ascontiguousarray(np.asarray(flags, dtype=bool).T)  # rows: periods
    forward = np.zeros(by_period.shape, dtype=np.int32)
    backward = np.zeros(by_period.shape, dtype=np.int32)
    periods = by_period.shape[0]
    for t in range(periods):
        if t:
            np.multiply(forward[t - 1] + 1, by_period[t], out=forward[t])
        else:
            forward[t] = by_period[t]
    for t in range(periods - 1, -1, -1):
        if t < periods - 1:
            np.multiply(backward[t + 1] + 1, by_period[t], out=backward[t])
        else:
            backward[t] = by_period[t]
    lengths = forward + backward - 1
    lengths[~by_period] = 0
    return lengths.T
