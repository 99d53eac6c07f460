"""Helpers shared by every measure: confidence levels, limits of a count, inputs and outputs.

The limits of a Poisson count are the building block of rates, standardised rates and ratios:
exact limits from the chi-square distribution below 10 events and Byar's approximation from 10
(Breslow & Day 1987, *Statistical Methods in Cancer Research* vol. II, p. 69; OHID Fingertips
technical guidance *Confidence intervals*).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

#: The two-sided 95% normal quantile, used wherever the methods fix it whatever the level asked for.
Z95 = float(stats.norm.ppf(0.975))

#: Counts below this use exact Poisson limits; from this up, Byar's approximation.
EXACT_BELOW = 10


# --- confidence levels --------------------------------------------------------------------------


def parse_confidence(confidence: float | Sequence[float]) -> list[float]:
    """Confidence levels as fractions: ``0.95``, ``95`` and ``[0.95, 0.998]`` are all accepted.

    At most two levels may be asked for at once (the Fingertips 95% and 99.8% pair).
    """
    levels = [confidence] if np.isscalar(confidence) else list(confidence)  # type: ignore[arg-type]
    if not levels:
        raise ValueError("confidence: give one level (e.g. 0.95) or two (e.g. [0.95, 0.998])")
    if len(levels) > 2:
        raise ValueError(f"confidence: at most two levels at once, got {levels}")
    parsed = []
    for level in levels:
        try:
            value = float(level)
        except (TypeError, ValueError):
            raise ValueError(f"confidence: {level!r} is not a number") from None
        if value >= 1:
            value /= 100
        if not 0 < value < 1:
            raise ValueError(
                f"confidence: {level!r} must be between 0 and 1 (or 0 and 100), e.g. 0.95 or 99.8"
            )
        parsed.append(round(value, 10))
    if len(parsed) == 2 and parsed[0] == parsed[1]:
        raise ValueError(f"confidence: the two levels are the same ({parsed[0]})")
    return parsed


def z_for(level: float) -> float:
    """The two-sided normal quantile z = Φ⁻¹(1 − α/2) for a confidence level (1.959964 at 95%)."""
    return float(stats.norm.ppf(0.5 + level / 2))


def level_label(level: float) -> str:
    """``0.95`` -> ``"95%"``, ``0.998`` -> ``"99.8%"`` (the ``confidence`` column)."""
    return f"{level * 100:.10g}%"


def level_suffix(level: float) -> str:
    """``0.95`` -> ``"95_0"``, ``0.998`` -> ``"99_8"`` (as in ``lower95_0cl``)."""
    return f"{level * 100:.1f}".replace(".", "_")


def limit_columns(levels: list[float], prefix: str = "") -> list[tuple[str, str]]:
    """(lower, upper) output column names per level: ``lowercl``/``uppercl`` for one level,
    ``lower95_0cl``/``upper95_0cl``... for two (PHEindicatormethods naming)."""
    if len(levels) == 1:
        return [(f"{prefix}lowercl", f"{prefix}uppercl")]
    return [(f"{prefix}lower{level_suffix(lv)}cl", f"{prefix}upper{level_suffix(lv)}cl")
            for lv in levels]


def confidence_label(levels: list[float]) -> str:
    return ", ".join(level_label(lv) for lv in levels)


def multiplier_label(multiplier: float) -> str:
    return f"{multiplier:g}" if abs(multiplier) < 1e15 else str(multiplier)


# --- limits of a count ----------------------------------------------------------------------------


def exact_limits(x: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact Poisson limits of a count: χ²(α/2; 2x)/2 and χ²(1 − α/2; 2x + 2)/2 (0 when x = 0)."""
    x = np.asarray(x, dtype=float)
    alpha = 1 - level
    with np.errstate(invalid="ignore"):
        lower = np.where(x > 0, stats.chi2.ppf(alpha / 2, np.maximum(2 * x, 1e-300)) / 2, 0.0)
        upper = stats.chi2.ppf(1 - alpha / 2, 2 * x + 2) / 2
    return lower, upper


def byar_limits(x: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Byar's approximation to the Poisson limits of a count (Breslow & Day 1987):
    O_L = x(1 − 1/(9x) − z/(3√x))³,  O_U = (x + 1)(1 − 1/(9(x + 1)) + z/(3√(x + 1)))³."""
    x = np.asarray(x, dtype=float)
    z = z_for(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = x * (1 - 1 / (9 * x) - z / (3 * np.sqrt(x))) ** 3
        x1 = x + 1
        upper = x1 * (1 - 1 / (9 * x1) + z / (3 * np.sqrt(x1))) ** 3
    return lower, upper


def count_limits(x: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Limits of a count, exact below 10 events and Byar's from 10; also the method per count."""
    x = np.asarray(x, dtype=float)
    exact = x < EXACT_BELOW
    lower, upper = (np.array(v, dtype=float) for v in byar_limits(np.where(exact, EXACT_BELOW, x), level))
    if exact.any():  # the χ² quantiles only where they are used (they cost ~1 µs each)
        lower[exact], upper[exact] = exact_limits(x[exact], level)
    method = np.where(exact, "Exact", "Byars")
    return lower, upper, method


# --- inputs --------------------------------------------------------------------------------------


def group_columns(group_by: str | Iterable[str] | None) -> list[str]:
    """``None`` -> [], ``"area"`` -> ["area"], a list stays a list."""
    if group_by is None:
        return []
    if isinstance(group_by, str):
        return [group_by]
    columns = list(group_by)
    if not all(isinstance(c, str) for c in columns):
        raise ValueError(f"group_by: expected column names, got {columns!r}")
    return columns


def is_ibis(data: Any) -> bool:
    return type(data).__module__.startswith("ibis.") and hasattr(data, "execute")


def to_pandas(data: Any, function: str, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """A pandas frame from pandas, a pyarrow Table, an Ibis table (executed) or a mapping."""
    if isinstance(data, pd.DataFrame):
        frame = data
    elif is_ibis(data):
        if columns is not None:
            wanted = [c for c in dict.fromkeys(columns) if c in data.columns]
            data = data.select(wanted) if wanted else data
        frame = data.execute()
    elif hasattr(data, "to_pandas"):
        frame = data.to_pandas()
    elif isinstance(data, dict):
        frame = pd.DataFrame(data)
    else:
        raise ValueError(
            f"{function}: data must be a pandas DataFrame, a pyarrow Table or an Ibis table, "
            f"not {type(data).__name__}"
        )
    return frame


def require_columns(frame: pd.DataFrame, columns: Iterable[str | None], function: str) -> None:
    missing = [c for c in columns if c is not None and c not in frame.columns]
    if missing:
        raise ValueError(
            f"{function}: column(s) {missing} not found in the data; it has {list(frame.columns)}"
        )


def _where(frame: pd.DataFrame, mask: np.ndarray, group: list[str]) -> str:
    """Name the first offending rows: by group values when grouped, else by row position."""
    rows = np.flatnonzero(mask)[:3]
    if group:
        keys = [", ".join(f"{g}={frame[g].iloc[i]!r}" for g in group) for i in rows]
        where = "; ".join(keys)
    else:
        where = "row(s) " + ", ".join(str(i) for i in rows)
    more = f" and {int(mask.sum()) - len(rows)} more" if mask.sum() > len(rows) else ""
    return where + more


def numeric_column(
    frame: pd.DataFrame,
    column: str,
    function: str,
    *,
    group: list[str] | None = None,
    allow_missing: bool = False,
    non_negative: bool = True,
) -> np.ndarray:
    """A column as float64, with a clear error naming column and rows when it is not numeric,
    missing or negative."""
    group = group or []
    series = frame[column]
    try:
        values = pd.to_numeric(series, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (ValueError, TypeError):
        bad = pd.to_numeric(series, errors="coerce").isna() & series.notna()
        raise ValueError(
            f"{function}: column {column!r} must be numeric; not at {_where(frame, bad.to_numpy(), group)}"
        ) from None
    if not allow_missing:
        missing = np.isnan(values)
        if missing.any():
            raise ValueError(
                f"{function}: column {column!r} has missing values at {_where(frame, missing, group)}"
            )
    if non_negative:
        negative = values < 0
        if negative.any():
            raise ValueError(
                f"{function}: column {column!r} must not be negative; found at "
                f"{_where(frame, negative, group)}"
            )
    return values


def fail_where(frame: pd.DataFrame, mask: np.ndarray, group: list[str], message: str) -> None:
    """Raise ``ValueError(message + where)`` when any row of ``mask`` is set."""
    mask = np.asarray(mask, dtype=bool)
    if mask.any():
        raise ValueError(f"{message}; at {_where(frame, mask, group)}")


def sum_by_group(
    data: Any, columns: list[str], group: list[str], function: str
) -> pd.DataFrame:
    """Sum ``columns`` within groups (in the backend for an Ibis table); without groups, rows as they are."""
    if is_ibis(data):
        missing = [c for c in [*group, *columns] if c not in data.columns]
        if missing:
            raise ValueError(f"{function}: column(s) {missing} not found in the data; it has "
                             f"{list(data.columns)}")
        if group:
            data = data.group_by(group).aggregate(**{c: data[c].sum() for c in columns})
            return data.execute().sort_values(group, kind="stable").reset_index(drop=True)
        return data.select(columns).execute()
    frame = to_pandas(data, function)
    require_columns(frame, [*group, *columns], function)
    frame = frame[[*group, *columns]].copy()
    for c in columns:
        frame[c] = numeric_column(frame, c, function, group=group)
    if not group:
        return frame.reset_index(drop=True)
    return frame.groupby(group, sort=True, observed=True, dropna=False)[columns].sum().reset_index()


def add_intervals(
    result: pd.DataFrame,
    levels: list[float],
    limits: list[tuple[np.ndarray, np.ndarray]],
    statistic: str,
    method: str | np.ndarray,
    prefix: str = "",
) -> pd.DataFrame:
    """Append the limit columns, ``confidence``, ``statistic`` and ``method`` to a result frame."""
    for (lower_name, upper_name), (lower, upper) in zip(
        limit_columns(levels, prefix), limits, strict=True
    ):
        result[lower_name] = lower
        result[upper_name] = upper
    result["confidence"] = confidence_label(levels)
    result["statistic"] = statistic
    result["method"] = method
    return result


def group_codes(frame: pd.DataFrame, group: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Integer code per row (0..G-1, groups sorted) and a frame of the G groups' key values."""
    if not group:
        return np.zeros(len(frame), dtype=np.int64), pd.DataFrame(index=range(1 if len(frame) else 0))
    codes = frame.groupby(group, sort=True, observed=True, dropna=False).ngroup().to_numpy()
    _, first = np.unique(codes, return_index=True)
    keys = frame[group].iloc[first].reset_index(drop=True)
    return codes.astype(np.int64), keys


# --- age bands -----------------------------------------------------------------------------------

_NUMBER = re.compile(r"\d+")


def band_key(label: object) -> tuple:
    """A comparable key for an age-band label, so "0-4", "00-04", "0 to 4" and "Aged 0-4" match,
    and "90+", "90 and over" and "90plus" match. Labels with no numbers compare as text."""
    if isinstance(label, (int, np.integer)):
        return (int(label), int(label))
    text = str(label).strip().lower()
    numbers = [int(n) for n in _NUMBER.findall(text)]
    if len(numbers) == 2:
        return (numbers[0], numbers[1])
    if len(numbers) == 1:
        if "+" in text or "over" in text or "plus" in text or "older" in text:
            return (numbers[0], None)
        if "under" in text or "<" in text:
            return (0, numbers[0] - 1)
        return (numbers[0], numbers[0])
    return (text,)


def match_bands(
    labels: pd.Series, standard_labels: Sequence[object], function: str, column: str
) -> np.ndarray:
    """Position in the standard of each row's band, matched by label (never by position)."""
    keys = [band_key(s) for s in standard_labels]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{function}: the standard has duplicate age bands {list(standard_labels)}")
    position = {k: i for i, k in enumerate(keys)}
    codes, uniques = pd.factorize(labels, use_na_sentinel=True)
    if (codes < 0).any():
        raise ValueError(f"{function}: column {column!r} has missing age bands")
    lookup = np.empty(len(uniques), dtype=np.int64)
    for i, label in enumerate(uniques):
        key = band_key(label)
        if key not in position:
            raise ValueError(
                f"{function}: age band {label!r} in column {column!r} is not in the standard "
                f"population's bands {[str(s) for s in standard_labels]}"
            )
        lookup[i] = position[key]
    return lookup[codes]
