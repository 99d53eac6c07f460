"""Directly standardised rates (Dobson method), European Standard Population 2013 by default."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from placehealth.measures._limits import (
    EXACT_BELOW,
    add_intervals,
    count_limits,
    group_codes,
    group_columns,
    match_bands,
    multiplier_label,
    numeric_column,
    parse_confidence,
    require_columns,
    to_pandas,
)


@cache
def _esp2013() -> pd.Series:
    with resources.files("placehealth.measures").joinpath("esp2013.csv").open() as handle:
        table = pd.read_csv(handle, dtype={"ageband": str})
    return pd.Series(table["population"].to_numpy(dtype=float), index=table["ageband"].tolist())


def esp2013() -> pd.Series:
    """The European Standard Population 2013: 19 five-year bands 0-4 ... 90+, total 100,000
    (Eurostat, *Revision of the European Standard Population*, 2013), indexed by band label."""
    return _esp2013().copy()


def standard_population(
    stdpop: str | Mapping[object, float] | pd.Series | pd.DataFrame | None,
    frame: pd.DataFrame,
    ageband: str,
    function: str,
) -> pd.Series:
    """The standard population as a Series indexed by band label, from any accepted form:
    ``None`` (ESP 2013), a column of ``data``, a mapping/Series {band: population} or a two-column
    frame (band, population)."""
    if stdpop is None:
        return esp2013()
    if isinstance(stdpop, str):
        require_columns(frame, [stdpop], function)
        weights = numeric_column(frame, stdpop, function)
        pairs = pd.DataFrame({"band": frame[ageband].astype(str), "w": weights}).drop_duplicates()
        clash = pairs["band"].duplicated(keep=False)
        if clash.any():
            raise ValueError(f"{function}: column {stdpop!r} gives different standard populations for "
                             f"the same age band {pairs.loc[clash, 'band'].iloc[0]!r}")
        return pd.Series(pairs["w"].to_numpy(), index=pairs["band"].tolist())
    if isinstance(stdpop, pd.DataFrame):
        if stdpop.shape[1] != 2:
            raise ValueError(f"{function}: a standard population frame needs two columns "
                             "(age band, population)")
        series = pd.Series(stdpop.iloc[:, 1].to_numpy(dtype=float), index=stdpop.iloc[:, 0].tolist())
    elif isinstance(stdpop, pd.Series):
        series = stdpop.astype(float)
    elif isinstance(stdpop, Mapping):
        series = pd.Series({k: float(v) for k, v in stdpop.items()})
    else:
        raise ValueError(
            f"{function}: stdpop must be None (ESP 2013), a column name, or a mapping/Series/frame "
            "from age band to population: bands are matched by label, never by position"
        )
    if series.isna().any() or (series < 0).any():
        raise ValueError(f"{function}: the standard population has missing or negative values")
    return series


def dsr(
    data: Any,
    x: str,
    n: str,
    ageband: str = "ageband",
    stdpop: str | Mapping[object, float] | pd.Series | pd.DataFrame | None = None,
    group_by: str | Sequence[str] | None = None,
    confidence: float | Sequence[float] = 0.95,
    multiplier: float = 100_000,
    suppress_below: int | None = EXACT_BELOW,
) -> pd.DataFrame:
    """Directly standardised rate per group with Dobson confidence limits.

    Each row is one age band of one group: count ``x``, local population ``n``, band label in
    ``ageband``. Bands are matched to the standard population by label ("0-4", "00-04", "0 to 4"
    and "90+"/"90 and over" all match), never by position; a label not in the standard is an error.
    Rows repeating a band within a group are summed; a band absent from a group counts as no
    events and no population. A missing count (blank, NaN) counts as 0 events, as
    PHEindicatormethods does (``na.zero(x)`` and ``sum(x, na.rm = TRUE)`` in ``phe_dsr``), with a
    warning saying how many; a missing population is an error. DSR = Σ wᵢxᵢ/nᵢ / Σ wᵢ × multiplier, var = Σ wᵢ²xᵢ/nᵢ² / (Σ wᵢ)²,
    limits DSR + √(var/O)(O_L − O) and DSR + √(var/O)(O_U − O) where O = Σ xᵢ and O_L, O_U are its
    exact (below 10) or Byar limits. Zero population in a band with events is an error; without
    events the band contributes nothing. When the group's total count is below ``suppress_below``
    (10, Fingertips practice; ``None`` to keep all) value and limits are NaN.

    Returns the group columns, ``total_count``, ``total_pop``, ``value``, the limits,
    ``confidence``, ``statistic`` ("dsr per 100000") and ``method`` ("Dobson").

    Method: Dobson AJ, Kuulasmaa K, Eberle E, Scherer J, *Stat Med* 1991;10:457-62; Eurostat
    European Standard Population 2013; PHEindicatormethods ``phe_dsr``; Fingertips technical
    guidance *Directly standardised rates*.
    """
    group = group_columns(group_by)
    levels = parse_confidence(confidence)
    frame = to_pandas(data, "dsr", [*group, x, n, ageband] + ([stdpop] if isinstance(stdpop, str) else []))
    require_columns(frame, [*group, x, n, ageband], "dsr")
    standard = standard_population(stdpop, frame, ageband, "dsr")
    count = numeric_column(frame, x, "dsr", group=group, allow_missing=True)
    if np.isnan(count).any():
        warnings.warn(f"dsr: {int(np.isnan(count).sum())} missing count(s) in {x!r} counted as 0 "
                      "events (as PHEindicatormethods)", UserWarning, stacklevel=2)
        count = np.nan_to_num(count, nan=0.0)
    population = numeric_column(frame, n, "dsr", group=group)
    band = match_bands(frame[ageband], list(standard.index), "dsr", ageband)
    codes, keys = group_codes(frame, group)
    groups, bands = len(keys), len(standard)
    cell = codes * bands + band
    x_cell = np.bincount(cell, weights=count, minlength=groups * bands).reshape(groups, bands)
    n_cell = np.bincount(cell, weights=population, minlength=groups * bands).reshape(groups, bands)
    bad = (x_cell > 0) & (n_cell <= 0)
    if bad.any():
        g, b = np.argwhere(bad)[0]
        where = ", ".join(f"{c}={keys[c].iloc[g]!r}" for c in group) or "the data"
        raise ValueError(f"dsr: age band {standard.index[b]!r} has {x_cell[g, b]:g} events but zero "
                         f"population {n!r} ({where})")
    w = standard.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_cell = np.where(n_cell > 0, x_cell / n_cell, 0.0)
        var_cell = np.where(n_cell > 0, x_cell / n_cell**2, 0.0)
    total_w = w.sum()
    value = rate_cell @ w / total_w
    variance = var_cell @ (w**2) / total_w**2
    observed = x_cell.sum(axis=1)
    result = keys.copy()
    result["total_count"] = observed
    result["total_pop"] = n_cell.sum(axis=1)
    suppressed = observed < suppress_below if suppress_below else np.zeros(groups, dtype=bool)
    result["value"] = np.where(suppressed, np.nan, value * multiplier)
    limits = []
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(observed > 0, np.sqrt(variance / observed), np.nan)
        for level in levels:
            o_lower, o_upper, _ = count_limits(observed, level)
            lower = (value + scale * (o_lower - observed)) * multiplier
            upper = (value + scale * (o_upper - observed)) * multiplier
            limits.append((np.where(suppressed, np.nan, lower), np.where(suppressed, np.nan, upper)))
    return add_intervals(result, levels, limits, f"dsr per {multiplier_label(multiplier)}", "Dobson")
