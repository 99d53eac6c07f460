"""Inequality across deprivation quantiles: slope and relative index of inequality (SII/RII),
concentration index and the gap between the most and least deprived quantiles."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit, ndtri

from placehealth.measures._limits import (
    Z95,
    add_intervals,
    group_codes,
    group_columns,
    limit_columns,
    parse_confidence,
    require_columns,
    to_pandas,
    z_for,
)

#: Draws held at once per worker (areas x repetitions x quantiles): 32 MB of float32, ~100 MB peak.
CHUNK_ELEMENTS = 8_000_000
#: In the linear case a chunk's areas are drawn and summarised this many at a time, from the
#: chunk's one stream: their draws (1 MB at 1,000 repetitions) stay in the processor's cache.
#: The draws are the chunk's whatever this is (successive calls continue one stream).
CACHE_AREAS = 64


# --- areas x quantiles -------------------------------------------------------------------------


def _quantile_table(
    data: Any,
    quantile: str,
    columns: dict[str, str | None],
    group: list[str],
    function: str,
) -> tuple[pd.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    """Dense areas x quantiles arrays (quantiles ascending, 1 = most deprived) of each column.

    An area missing a quantile, or with a missing value in one, is skipped with a warning; a
    quantile repeated within an area is an error."""
    named = {k: c for k, c in columns.items() if c is not None}
    frame = to_pandas(data, function, [*group, quantile, *named.values()])
    require_columns(frame, [*group, quantile, *named.values()], function)
    frame = frame.reset_index(drop=True)
    if frame[quantile].isna().any():
        raise ValueError(f"{function}: column {quantile!r} has missing quantiles")
    codes, keys = group_codes(frame, group)
    levels = np.sort(frame[quantile].unique())
    position = np.searchsorted(levels, frame[quantile].to_numpy())
    areas, k = len(keys), len(levels)
    cell = codes * k + position
    counts = np.bincount(cell, minlength=areas * k).reshape(areas, k)
    if (counts > 1).any():
        a, q = np.argwhere(counts > 1)[0]
        where = ", ".join(f"{c}={keys[c].iloc[a]!r}" for c in group) or "the data"
        raise ValueError(f"{function}: quantile {levels[q]!r} appears more than once ({where})")
    arrays = {}
    usable = (counts == 1).all(axis=1)
    for name, column in named.items():
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad_text = np.isnan(values) & frame[column].notna().to_numpy()
        if bad_text.any():
            raise ValueError(f"{function}: column {column!r} must be numeric; "
                             f"found {frame[column][bad_text].iloc[0]!r}")
        dense = np.full(areas * k, np.nan)
        dense[cell] = values
        dense = dense.reshape(areas, k)
        usable &= ~np.isnan(dense).any(axis=1)
        arrays[name] = dense
    _warn_skipped(keys, ~usable, group, function,
                  f"missing one of the {k} quantiles or a value in one")
    keep = np.flatnonzero(usable)
    return keys.iloc[keep].reset_index(drop=True), levels, {n: a[keep] for n, a in arrays.items()}


def _warn_skipped(keys: pd.DataFrame, skipped: np.ndarray, group: list[str], function: str,
                  reason: str) -> None:
    if skipped.any():
        rows = np.flatnonzero(skipped)
        names = ["; ".join(f"{c}={keys[c].iloc[i]!r}" for c in group) or "the data" for i in rows[:5]]
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        warnings.warn(f"{function}: skipped {len(rows)} area(s) {reason}: {', '.join(names)}{more}",
                      stacklevel=3)


def _ranks(population: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Population shares aⱼ and mid-point cumulative shares bⱼ (relative ranks, 0 = most deprived)."""
    share = population / population.sum(axis=1, keepdims=True)
    return share, np.cumsum(share, axis=1) - share / 2


def _fit_operator(share: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Per area the 2 x k matrix turning values into (β₀, β₁): least squares of √a·v on √a and
    b√a, i.e. weighted least squares of v on (1, b) with weights a."""
    s_a = share.sum(axis=1, keepdims=True)
    s_b = (share * rank).sum(axis=1, keepdims=True)
    s_bb = (share * rank**2).sum(axis=1, keepdims=True)
    det = s_a * s_bb - s_b**2
    c0 = share * (s_bb - s_b * rank) / det
    c1 = share * (s_a * rank - s_b) / det
    return np.stack([c0, c1], axis=1)  # areas x 2 x k


# --- SII / RII ----------------------------------------------------------------------------------


_FORWARD = {0: lambda v: v, 1: np.log, 2: logit}
_INVERSE = {0: lambda v: v, 1: np.exp, 2: expit}


Limits = dict[str, list[tuple[np.ndarray, np.ndarray]]]


def standard_normal_f32(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal draws in float32 by the Box-Muller transform (Box & Muller, *Ann Math
    Stat* 1958;29:610-1): z = √(−2 ln u₁)·cos(2πu₂) and √(−2 ln u₁)·sin(2πu₂). About twice as fast
    as numpy's ziggurat at the 10⁹ draws an England-wide SII needs; 24-bit uniforms cap |z| at 5.8,
    far beyond the 99.8% quantiles used."""
    size = int(np.prod(shape))
    half = (size + 1) // 2
    uniform = rng.random(2 * half, dtype=np.float32)
    radius = np.subtract(np.float32(1), uniform[:half])  # in (0, 1]: log is finite
    np.log(radius, out=radius)
    radius *= np.float32(-2)
    np.sqrt(radius, out=radius)
    angle = uniform[half:]
    angle *= np.float32(2 * np.pi)
    out = np.empty(2 * half, dtype=np.float32)
    np.cos(angle, out=out[:half])
    out[:half] *= radius
    np.sin(angle, out=out[half:])
    out[half:] *= radius
    return out[:size].reshape(shape)


def _coefficient_normal(
    operator: np.ndarray, centre: np.ndarray, sd: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The exact bivariate normal distribution N(Cm, C diag(s²) Cᵀ) of the refit coefficients
    (β̃₀, β̃₁) when the refit is linear in the drawn values m̃ ~ N(m, s): its mean (areas x 2) and
    2 x 2 Cholesky factor (l₀₀, l₁₀, l₁₁), safe when a variance is 0 (then that draw is the
    mean)."""
    mean = np.einsum("atk,ak->at", operator, centre)
    cov = np.einsum("atk,ak,auk->atu", operator, sd**2, operator)
    l00 = np.sqrt(np.maximum(cov[:, 0, 0], 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        l10 = np.where(l00 > 0, cov[:, 1, 0] / l00, 0.0)
    l11 = np.sqrt(np.maximum(cov[:, 1, 1] - l10**2, 0.0))
    return mean, l00, l10, l11


def _linear_draws(
    rng: np.random.Generator, mean: np.ndarray, l00: np.ndarray, l10: np.ndarray,
    l11: np.ndarray, repetitions: int,
) -> np.ndarray:
    """Simulated (β̃₀, β̃₁) for a few areas, shaped areas x 2 x repetitions, drawn directly from
    their exact bivariate normal distribution (:func:`_coefficient_normal`): the distribution the
    refit of drawn quantile values would give, at a fraction of the cost."""
    z = rng.standard_normal((len(mean), 2, repetitions))
    # β̃₀ = m₀ + l₀₀z₀ and β̃₁ = (m₁ + l₁₀z₀) + l₁₁z₁, the same operations in the same order
    # as written out, computed in place over the draws (a third of the memory traffic)
    slope = np.multiply(l10[:, None], z[:, 0])
    slope += mean[:, [1]]
    z[:, 1] *= l11[:, None]
    slope += z[:, 1]
    z[:, 0] *= l00[:, None]
    z[:, 0] += mean[:, [0]]
    z[:, 1] = slope
    return z


def _transformed_draws(
    rng: np.random.Generator, operator: np.ndarray, centre: np.ndarray, sd: np.ndarray,
    inverse: Any, repetitions: int,
) -> np.ndarray:
    """Simulated (β̃₀, β̃₁) for a few areas, shaped areas x 2 x repetitions, when the refit is not
    linear in the drawn values: draw m̃ ~ N(m, s) per quantile (float32), back-transform with
    ``inverse`` and refit."""
    areas, k = centre.shape
    draws = standard_normal_f32(rng, (areas, repetitions, k))
    draws *= sd[:, None, :].astype(np.float32)
    draws += centre[:, None, :].astype(np.float32)
    if inverse is not _INVERSE[0]:
        inverse(draws, out=draws)
    # The refit of every repetition at once: (β̃₀, β̃₁) = C ṽ, contracted over the k quantiles.
    return np.einsum("ark,atk->atr", draws, operator.astype(np.float32))


def _simulated_limits(
    operator: np.ndarray, centre: np.ndarray, sd: np.ndarray, beta0: np.ndarray, beta1: np.ndarray,
    levels: list[float], transform: bool, value_type: int, multiplier: float, want_rii: bool,
    repetitions: int, seed: np.random.SeedSequence, threads: int,
) -> Limits:
    """Monte Carlo limits for every area, simulated in chunks of areas x repetitions bounded by
    ``CHUNK_ELEMENTS`` so memory stays flat whatever the number of areas; chunks run on
    ``threads`` workers (numpy releases the GIL), each with its own random stream."""
    areas, k = centre.shape
    inverse = _INVERSE[value_type]
    linear = transform or value_type == 0
    chunk = max(1, CHUNK_ELEMENTS // (repetitions * (2 if linear else k)))
    starts = list(range(0, areas, chunk))
    streams = seed.spawn(len(starts))
    out: Limits = {name: [(np.empty(areas), np.empty(areas)) for _ in levels]
                   for name in ("sii", "rii")}

    def limits(sims: np.ndarray, lo: int, hi: int) -> None:
        part = _sii_limits(sims, beta0[lo:hi], beta1[lo:hi], levels, transform, inverse,
                           multiplier, want_rii)
        for name, per_level in part.items():
            for li, (lower, upper) in enumerate(per_level):
                out[name][li][0][lo:hi] = lower
                out[name][li][1][lo:hi] = upper

    def run(i: int) -> None:
        lo, hi = starts[i], min(starts[i] + chunk, areas)
        rng = np.random.default_rng(streams[i])
        if not linear:
            limits(_transformed_draws(rng, operator[lo:hi], centre[lo:hi], sd[lo:hi], inverse,
                                      repetitions), lo, hi)
            return
        mean, l00, l10, l11 = _coefficient_normal(operator[lo:hi], centre[lo:hi], sd[lo:hi])
        for a in range(0, hi - lo, CACHE_AREAS):  # the chunk's stream, a few areas at a time
            b = min(a + CACHE_AREAS, hi - lo)
            limits(_linear_draws(rng, mean[a:b], l00[a:b], l10[a:b], l11[a:b], repetitions),
                   lo + a, lo + b)

    if threads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, range(len(starts))))
    else:
        for i in range(len(starts)):
            run(i)
    return out


def row_quantiles(x: np.ndarray, probs: Sequence[float], spare: float = 2.5) -> np.ndarray:
    """``np.quantile(x, probs, axis=1)`` of a 2-D float array, bit for bit, at a fraction of its
    cost when the quantiles lie in the tails (the simulated limits' 2.5% and 97.5%).

    numpy's linear method interpolates between two order statistics of each row. Here they are
    found among the row's values beyond mean ∓ c·sd, c set so that about ``spare`` times as many
    values as needed lie beyond it for a normal row: a few dozen values per row, gathered and
    sorted, instead of a selection among all of them; then interpolated with numpy's formula. A
    row with fewer values beyond than needed, or with a value that is not finite, is handed to
    ``np.quantile`` itself, as are quantiles away from the tails."""
    rows, n = x.shape
    q = np.asanyarray(probs, dtype=float)
    virtual = (n - 1) * q  # numpy's linear method: order statistics and weights
    previous = np.floor(virtual)
    gamma = (virtual - previous).reshape(-1, 1)
    previous = previous.astype(np.intp)
    following = previous + 1
    wanted = np.unique(np.concatenate([previous, following]))
    low, high = wanted[wanted < n // 2], wanted[wanted >= n // 2]
    need_low = int(low.max()) + 1 if len(low) else 0  # the smallest values needed
    need_high = n - int(high.min()) if len(high) else 0  # the largest
    if (rows == 0 or (virtual < 0).any() or (virtual >= n - 1).any()
            or max(need_low, need_high) * spare > n / 2):
        return np.quantile(x, probs, axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        mean = x.sum(axis=1) / n
        sd = np.sqrt(np.maximum(np.einsum("ij,ij->i", x, x) / n - mean * mean, 0))
    ok = np.isfinite(mean) & np.isfinite(sd) & (sd > 0)  # else np.quantile (NaN rows among them)
    order = np.empty((n, rows), dtype=x.dtype)  # order statistics: ``wanted``'s rows filled
    for side, need, indexes in ((0, need_low, low), (1, need_high, high)):
        if not need:
            continue
        c = -ndtri(min(0.5, spare * need / n))
        with np.errstate(invalid="ignore"):
            beyond = (x < (mean - c * sd)[:, None]) if side == 0 else (x > (mean + c * sd)[:, None])
        counts = np.count_nonzero(beyond, axis=1)
        ok &= counts >= need
        values = x[beyond]  # row by row
        if side:  # the largest as the smallest of the negated values
            np.negative(values, out=values)
        tails = np.full((rows, int(counts.max())), np.inf, dtype=x.dtype)
        owner = np.repeat(np.arange(rows), counts)
        tails[owner, np.arange(len(values)) - (np.cumsum(counts) - counts)[owner]] = values
        tails.sort(axis=1)
        for i in indexes:
            j = i if side == 0 else n - 1 - i
            if j < tails.shape[1]:
                order[i] = tails[:, j] if side == 0 else -tails[:, j]
    a, b = order[previous], order[following]
    with np.errstate(invalid="ignore"):  # numpy's _lerp, the same operations
        diff_b_a = b - a
        result = np.add(a, diff_b_a * gamma)
        np.subtract(b, diff_b_a * (1 - gamma), out=result, where=gamma >= 0.5)
    others = np.flatnonzero(~ok)
    if len(others):
        result[:, others] = np.quantile(x[others], probs, axis=1)
    return result


def _sii_limits(
    sims: np.ndarray, beta0: np.ndarray, beta1: np.ndarray, levels: list[float], transform: bool,
    inverse: Any, multiplier: float, want_rii: bool,
) -> Limits:
    """Limits per level for the SII (and RII) from simulated coefficients, areas x 2 x R
    (spec steps 4-5)."""
    probs = [p for lv in levels for p in ((1 - lv) / 2, (1 + lv) / 2)]
    out: Limits = {"sii": [], "rii": []}
    if not transform:
        sii_q = row_quantiles(multiplier * sims[:, 1], probs)
        if want_rii:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.add(sims[:, 0], sims[:, 1])
                ratio /= sims[:, 0]
                if multiplier < 0:
                    ratio = 1 / ratio
            rii_q = row_quantiles(ratio, probs)
        for i in range(len(levels)):
            out["sii"].append((sii_q[2 * i], sii_q[2 * i + 1]))
            if want_rii:
                out["rii"].append((rii_q[2 * i], rii_q[2 * i + 1]))
        return out
    t_q = row_quantiles(sims[:, 1], probs)
    h = beta0 + beta1 / 2
    for i in range(len(levels)):
        bounds = []
        for t in (t_q[2 * i], t_q[2 * i + 1]):
            top, bottom = inverse(h + t / 2), inverse(h - t / 2)
            bounds.append((multiplier * (top - bottom), top / bottom if multiplier >= 0 else bottom / top))
        (s_lo, r_lo), (s_hi, r_hi) = bounds
        if multiplier < 0:
            s_lo, s_hi, r_lo, r_hi = s_hi, s_lo, r_hi, r_lo
        out["sii"].append((s_lo, s_hi))
        out["rii"].append((r_lo, r_hi))
    return out


def sii(
    data: Any,
    quantile: str,
    population: str,
    value: str,
    se: str | None = None,
    lower_cl: str | None = None,
    upper_cl: str | None = None,
    group_by: str | Sequence[str] | None = None,
    value_type: int = 0,
    transform: bool = False,
    confidence: float | Sequence[float] = 0.95,
    repetitions: int = 100_000,
    rii: bool = False,
    reliability_stat: bool = False,
    multiplier: float = 1,
    seed: int | None = None,
    threads: int | None = None,
) -> pd.DataFrame:
    """Slope index of inequality (and optionally the relative index) per area, PHE method.

    One row per area and deprivation quantile (5 to 100 quantiles; quantile 1 = most deprived),
    with ``population``, the indicator ``value`` and either its standard error ``se`` (on the
    working scale) or its 95% limits ``lower_cl``/``upper_cl``. ``value_type`` 0 (any indicator),
    1 (rate: log scale) or 2 (proportion on the 0-1 scale: logit scale). The SII is
    ``multiplier`` × the slope of the population-weighted least-squares fit of the values on the
    mid-point cumulative population rank (0 most deprived, 1 least); RII = (β₀ + β₁)/β₀
    (inverted when multiplier < 0). ``transform=True`` (types 1 and 2, limits required) fits on the
    working scale and back-transforms around the rank ½. Confidence limits by Monte Carlo
    simulation (``repetitions`` ≥ 1,000, vectorised over areas x repetitions in bounded chunks,
    ``threads`` workers, reproducible with ``seed``). ``reliability_stat`` adds the mean absolute
    difference of each limit between 10 further simulations (``..._reliability``). Areas missing a
    quantile or with values the working scale cannot take (e.g. a zero rate or lower limit on the
    log scale) are skipped with a warning.

    Returns the group columns, ``sii``, ``sii_lowercl``, ``sii_uppercl`` (``sii_lower95_0cl``...
    for two levels), with ``rii``: ``rii``, ``rii_lowercl``, ``rii_uppercl``; then
    ``confidence``, ``statistic`` and ``method``.

    Method: Low A & Low A, *J Epidemiol Community Health* 2004;58:662-4; PHE *Technical guide:
    calculating the slope index of inequality* (2018); the Fingertips SII tool;
    PHEindicatormethods ``phe_sii``.
    """
    function = "sii"
    group = group_columns(group_by)
    levels = parse_confidence(confidence)
    if value_type not in (0, 1, 2):
        raise ValueError("sii: value_type must be 0 (other), 1 (rate) or 2 (proportion)")
    if int(repetitions) < 1000:
        raise ValueError(f"sii: repetitions must be at least 1,000, not {repetitions}")
    repetitions = int(repetitions)
    if se is None and (lower_cl is None or upper_cl is None):
        raise ValueError("sii: give the standard error (se=) or both 95% limits (lower_cl=, upper_cl=)")
    if se is not None and (lower_cl is not None or upper_cl is not None):
        raise ValueError("sii: give either se= or lower_cl=/upper_cl=, not both")
    if transform and (value_type == 0 or se is not None):
        raise ValueError("sii: transform=True needs value_type 1 or 2 and limits (lower_cl, upper_cl), "
                         "not se")
    keys, levels_q, arrays = _quantile_table(
        data, quantile, {"pop": population, "y": value, "se": se, "lo": lower_cl, "hi": upper_cl},
        group, function)
    k = len(levels_q)
    if k == 0:  # no rows at all: an empty result with the usual columns
        names = [c for pair in limit_columns(levels, "sii_") for c in pair]
        if rii:
            names += ["rii"] + [c for pair in limit_columns(levels, "rii_") for c in pair]
        return pd.DataFrame(columns=[*group, "sii", *names, "confidence", "statistic", "method"])
    if not 5 <= k <= 100:
        raise ValueError(f"sii: needs between 5 and 100 quantiles, found {k} ({list(levels_q)[:10]})")
    forward, inverse = _FORWARD[value_type], _INVERSE[value_type]
    y, pop = arrays["y"], arrays["pop"]
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = forward(y)
        if se is not None:
            sd = arrays["se"]
        else:
            sd = (forward(arrays["hi"]) - forward(arrays["lo"])) / (2 * Z95)
    usable = (np.isfinite(centre).all(axis=1) & np.isfinite(sd).all(axis=1) & (sd >= 0).all(axis=1)
              & (pop > 0).all(axis=1))
    _warn_skipped(keys, ~usable, group, function,
                  "with a population of 0, a negative standard error or a value (or limit) the "
                  "working scale cannot take (0 for a rate, 0 or 1 for a proportion)")
    keep = np.flatnonzero(usable)
    keys, y, pop, centre, sd = (keys.iloc[keep].reset_index(drop=True), y[keep], pop[keep],
                                centre[keep], sd[keep])
    share, rank = _ranks(pop)
    operator = _fit_operator(share, rank)
    fitted_on = centre if transform else y
    beta = np.einsum("atk,ak->at", operator, fitted_on)
    beta0, beta1 = beta[:, 0], beta[:, 1]
    result = keys.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        if transform:
            result["sii"] = multiplier * (inverse(beta0 + beta1) - inverse(beta0))
            ratio = inverse(beta0 + beta1) / inverse(beta0)
        else:
            result["sii"] = multiplier * beta1
            ratio = (beta0 + beta1) / beta0
    if multiplier < 0:
        ratio = 1 / ratio
    threads = threads or min(2, os.cpu_count() or 1)
    root = np.random.SeedSequence(seed)
    runs = 11 if reliability_stat else 1
    results = [
        _simulated_limits(operator, centre, sd, beta0, beta1, levels, transform, value_type,
                          multiplier, rii, repetitions, stream, threads)
        for stream in root.spawn(runs)
    ]
    limits = results[0]
    for (lo_name, hi_name), (lo, hi) in zip(limit_columns(levels, "sii_"), limits["sii"], strict=True):
        result[lo_name], result[hi_name] = lo, hi
    if rii:
        result["rii"] = ratio
        for (lo_name, hi_name), (lo, hi) in zip(limit_columns(levels, "rii_"), limits["rii"],
                                                strict=True):
            result[lo_name], result[hi_name] = lo, hi
    if reliability_stat:
        for name in ("sii", "rii") if rii else ("sii",):
            for li, (lo_name, hi_name) in enumerate(limit_columns(levels, f"{name}_")):
                for side, column in enumerate((lo_name, hi_name)):
                    runs_values = np.stack([r[name][li][side] for r in results[1:]])
                    diffs = np.abs(runs_values[:, None, :] - runs_values[None, :, :])
                    pairs = len(runs_values) * (len(runs_values) - 1)
                    result[f"{column}_reliability"] = diffs.sum(axis=(0, 1)) / pairs
    result["confidence"] = ", ".join(f"{lv * 100:.10g}%" for lv in levels)
    result["statistic"] = "sii"
    result["method"] = (f"Low & Low 2004, Monte Carlo {repetitions:,} repetitions"
                        + (", transformed" if transform else ""))
    return result


# --- concentration index and gaps ---------------------------------------------------------------


def concentration_index(
    data: Any,
    quantile: str,
    population: str,
    value: str,
    group_by: str | Sequence[str] | None = None,
    confidence: float | Sequence[float] = 0.95,
) -> pd.DataFrame:
    """Concentration index of the indicator across deprivation quantiles, per area.

    With population shares aⱼ, fractional ranks Rⱼ (mid-point cumulative shares, 0 = most
    deprived) and population-weighted mean μ: C = 2·Σ aⱼyⱼRⱼ/μ − 1 (negative when the indicator is
    concentrated among the more deprived). Standard error from the convenient regression of
    2σ²_R·yⱼ/μ on Rⱼ, weighted by aⱼ (its slope equals C); limits C ∓ z·SE. Areas missing a
    quantile are skipped with a warning; μ must be non-zero. Returns the group columns, ``value``,
    ``se``, the limits, ``confidence``, ``statistic`` and ``method``.

    Method: Kakwani N, Wagstaff A, van Doorslaer E, *J Econometrics* 1997;77:87-103; O'Donnell O
    et al., *Analyzing Health Equity Using Household Survey Data*, World Bank 2008, ch. 8.
    """
    group = group_columns(group_by)
    levels = parse_confidence(confidence)
    keys, levels_q, arrays = _quantile_table(
        data, quantile, {"pop": population, "y": value}, group, "concentration_index")
    if len(levels_q) == 0:
        return pd.DataFrame(columns=[*group, "value", "se", *[c for p in limit_columns(levels) for c in p],
                                     "confidence", "statistic", "method"])
    if len(levels_q) < 2:
        raise ValueError("concentration_index: needs at least 2 quantiles")
    pop, y = arrays["pop"], arrays["y"]
    if (pop < 0).any() or ((pop.sum(axis=1) <= 0).any()):
        raise ValueError(f"concentration_index: {population!r} must be non-negative with a positive total")
    share, rank = _ranks(pop)
    mu = (share * y).sum(axis=1)
    if (mu == 0).any():
        raise ValueError("concentration_index: the population-weighted mean of the values is 0")
    c = 2 * (share * y * rank).sum(axis=1) / mu - 1
    r_bar = (share * rank).sum(axis=1, keepdims=True)
    var_r = (share * (rank - r_bar) ** 2).sum(axis=1)
    response = 2 * var_r[:, None] * y / mu[:, None]
    operator = _fit_operator(share, rank)
    beta = np.einsum("atk,ak->at", operator, response)
    residual = response - beta[:, [0]] - beta[:, [1]] * rank
    k = y.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = (share * residual**2).sum(axis=1) / (k - 2) if k > 2 else np.full(len(c), np.nan)
        se = np.sqrt(scale / var_r)
    result = keys.copy()
    result["value"] = c
    result["se"] = se
    limits = [(c - z_for(lv) * se, c + z_for(lv) * se) for lv in levels]
    return add_intervals(result, levels, limits, "concentration index",
                         "Kakwani convenient regression")


def quantile_gap(
    data: Any,
    quantile: str,
    value: str,
    se: str | None = None,
    lower_cl: str | None = None,
    upper_cl: str | None = None,
    group_by: str | Sequence[str] | None = None,
    confidence: float | Sequence[float] = 0.95,
) -> pd.DataFrame:
    """Absolute and relative gap between the least and the most deprived quantile, per area.

    Quantile 1 (the lowest) is the most deprived, the highest the least deprived. Absolute gap
    D = y(least) − y(most), SE √(se₁² + se₂²), limits D ∓ z·SE; relative gap y(least)/y(most)
    with limits on the log scale, exp(log ratio ∓ z·√(s₁² + s₂²)) where sⱼ is the SE of log y
    ((log upper − log lower)/(2 × 1.96) from 95% limits, or se/y from an SE). Standard errors come
    from ``se`` or from 95% limits ((upper − lower)/(2 × 1.96)). Areas missing a quantile are
    skipped with a warning; the relative gap is NaN when a value is not positive.

    Method: PHE *Health Equity Assessment Tool* guidance; normal approximation for a difference of
    independent estimates and for a log ratio (Altman DG & Bland JM, *BMJ* 2003;326:219).
    """
    group = group_columns(group_by)
    levels = parse_confidence(confidence)
    if se is None and (lower_cl is None or upper_cl is None):
        raise ValueError("quantile_gap: give se= or both 95% limits (lower_cl=, upper_cl=)")
    keys, levels_q, arrays = _quantile_table(
        data, quantile, {"y": value, "se": se, "lo": lower_cl, "hi": upper_cl}, group, "quantile_gap")
    if len(levels_q) == 0:
        return pd.DataFrame(columns=[
            *group, "most_deprived", "least_deprived", "gap",
            *[c for p in limit_columns(levels, "gap_") for c in p], "ratio",
            *[c for p in limit_columns(levels, "ratio_") for c in p], "confidence", "statistic", "method"])
    if len(levels_q) < 2:
        raise ValueError("quantile_gap: needs at least 2 quantiles")
    y = arrays["y"][:, [0, -1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        if se is not None:
            s = arrays["se"][:, [0, -1]]
            s_log = s / y
        else:
            lo, hi = arrays["lo"][:, [0, -1]], arrays["hi"][:, [0, -1]]
            s = (hi - lo) / (2 * Z95)
            s_log = (np.log(hi) - np.log(lo)) / (2 * Z95)
        most, least = y[:, 0], y[:, 1]
        gap = least - most
        gap_se = np.sqrt((s**2).sum(axis=1))
        log_ratio = np.log(least) - np.log(most)
        log_se = np.sqrt((s_log**2).sum(axis=1))
        positive = (y > 0).all(axis=1)
    result = keys.copy()
    result["most_deprived"] = most
    result["least_deprived"] = least
    result["gap"] = gap
    for (lo_name, hi_name), lv in zip(limit_columns(levels, "gap_"), levels, strict=True):
        result[lo_name], result[hi_name] = gap - z_for(lv) * gap_se, gap + z_for(lv) * gap_se
    result["ratio"] = np.where(positive, np.exp(log_ratio), np.nan)
    for (lo_name, hi_name), lv in zip(limit_columns(levels, "ratio_"), levels, strict=True):
        z = z_for(lv)
        result[lo_name] = np.where(positive, np.exp(log_ratio - z * log_se), np.nan)
        result[hi_name] = np.where(positive, np.exp(log_ratio + z * log_se), np.nan)
    result["confidence"] = ", ".join(f"{lv * 100:.10g}%" for lv in levels)
    result["statistic"] = "gap (least - most deprived)"
    result["method"] = "normal approximation; ratio on the log scale"
    return result
