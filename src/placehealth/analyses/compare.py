"""Systematic comparison: every indicator, every PCN (and practice), against England, its ICB and
its peers, with national rank and decile, trend, funnel, deciles over time and spine chart data.

Tables written by :func:`build`:

- ``comparison``: one row per indicator x level x period x unit: value with 95% limits; England
  value and rating; ICB value and rating; peer-group mean *with its uncertainty* and rating;
  national rank and decile; trend over the periods loaded.
- ``funnel``: each unit's point with the 95% and 99.8% control limits at its denominator and its
  position (inside / above / below), target = the England value (Spiegelhalter 2005).
- ``funnel_limits``: the control-limit lines at 100 denominators, for drawing behind the points.
- ``deciles``: national 10th..90th percentiles of the unit values per indicator, level, period.
- ``spine``: for each unit, every indicator (latest period) against England's range across units.
- ``peer_feature_fit``: R-squared of each indicator on the peer features (see peers.py).
- ``indicators``: the indicator registry the tables were built from (indicators.py).

Comparing with peers. The peer benchmark is the unweighted mean m of the k peers' values, with
standard error se_m = sd(peer values) / sqrt(k) and a t interval m -/+ t(k-1) se_m. The spread of
the peers' values holds both their sampling error and their real differences, so se_m is the
honest uncertainty of "what units like this one achieve". The unit is rated on the difference
d = value - m: its standard error is sqrt(se_u^2 + se_m^2), se_u taken from the unit's own 95%
interval as (upper - lower) / (2 x 1.959964); the difference's 95% interval is rated against 0
with measures.compare_to_benchmark. Comparing a unit's interval with a peer *point* value (or with
the "best 5" of 10 similar units) ignores the comparators' variability and raises false alarms.

The rating answers "is the unit's true value different from its peers' average?". How unusual
the difference is *among* peers (whose true values differ too) is ``peer_z`` = (value - m) /
sd(peer values): |peer_z| above 2 marks a unit outside the usual spread of units like it.

England and ICB are rated as Fingertips does: the unit's interval against the benchmark value
(measures.compare_to_benchmark). The ICB value includes the unit itself.

Rank and decile: rank 1 = highest value among the units of the level in that period (ties share
the lower rank); decile 1 = lowest tenth of values, 10 = highest (as prescribing dashboards),
decile = floor(10 (r - 1) / N) + 1 for ascending rank r of N units.

Trend (INDICATOR_METHODS.md, "Trends"): with at least 5 periods, proportions get the chi-square
test for trend (Cochran-Armitage, scores 1..5, Altman 1991 s. 10.7.4) on the latest five periods;
other methods a weighted least squares regression of the value on the period index with weights
1/se^2 (a z test on the slope). With 2-4 periods the weighted regression is still reported, but
``trend`` says "insufficient periods" (the Fingertips trend marker needs five).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from placehealth import levels as lv
from placehealth.indicators import Indicator, registry, registry_frame, values_many
from placehealth.measures.benchmark import compare_to_benchmark

Z95 = float(stats.norm.ppf(0.975))
TREND_PERIODS = 5
#: Levels compared (the level registry's ``compare`` levels).
LEVELS = lv.levels_for("compare")
PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
#: What the comparison carries of England and the ICB: the value and the counts behind it.
BENCHMARK_COLUMNS = ("value", "numerator", "denominator")


def _rate(frame: pd.DataFrame, benchmark: str, polarity: str | None, lower: str = "lowercl",
          upper: str = "uppercl") -> np.ndarray:
    slim = frame[[lower, upper, benchmark]].reset_index(drop=True)
    rated = compare_to_benchmark(slim, benchmark, lower_cl=lower, upper_cl=upper,
                                 polarity=polarity, output="_rating")
    return rated["_rating"].to_numpy()


# ------------------------------------------------------------------------------ peer benchmark


def peer_benchmark(values: pd.DataFrame, peers: pd.DataFrame) -> pd.DataFrame:
    """Peer mean, sd, count and 95% t interval of the mean for each unit, indicator and period.

    ``values``: indicator, period, unit_code, value. ``peers``: unit_code, peer_code. Peers with
    no value in a period are left out of that period's mean (``peer_n`` counts those used).
    """
    if values.empty or peers.empty:
        return pd.DataFrame(columns=["indicator", "period", "unit_code", "peer_n", "peer_mean",
                                     "peer_sd", "peer_se", "peer_lowercl", "peer_uppercl"])
    wide = values.pivot_table(index="unit_code", columns=["indicator", "period"], values="value",
                              aggfunc="first")
    index = pd.Index(wide.index)
    pairs = peers[peers["unit_code"].isin(index) & peers["peer_code"].isin(index)]
    units = np.asarray(sorted(pairs["unit_code"].unique()), dtype=object)
    if len(units) == 0:
        return peer_benchmark(values.iloc[:0], peers.iloc[:0])
    k = int(pairs.groupby("unit_code").size().max())
    slot = pairs.groupby("unit_code").cumcount().to_numpy()
    row = pd.Index(units).get_indexer(pairs["unit_code"])
    peer_idx = np.full((len(units), k), -1)
    peer_idx[row, slot] = index.get_indexer(pairs["peer_code"])
    matrix = wide.to_numpy(dtype="float64")
    matrix = np.vstack([matrix, np.full((1, matrix.shape[1]), np.nan)])  # row -1 = no peer
    out = []
    step = max(1, 4_000_000 // max(1, len(units) * k))
    for start in range(0, matrix.shape[1], step):
        block = matrix[:, start:start + step][peer_idx]  # units x k x columns
        n = np.isfinite(block).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"), _quiet():
            mean = np.nanmean(block, axis=1)
            sd = np.nanstd(block, axis=1, ddof=1)
        se = sd / np.sqrt(n)
        t = stats.t.ppf(0.975, np.maximum(n - 1, 1))
        cols = wide.columns[start:start + step]
        frame = pd.DataFrame({
            "unit_code": np.repeat(units, len(cols)),
            "indicator": np.tile(cols.get_level_values(0).to_numpy(), len(units)),
            "period": np.tile(cols.get_level_values(1).to_numpy(), len(units)),
            "peer_n": n.reshape(-1),
            "peer_mean": mean.reshape(-1),
            "peer_sd": sd.reshape(-1),
            "peer_se": se.reshape(-1),
        })
        frame["peer_lowercl"] = frame["peer_mean"] - t.reshape(-1) * frame["peer_se"]
        frame["peer_uppercl"] = frame["peer_mean"] + t.reshape(-1) * frame["peer_se"]
        out.append(frame[frame["peer_n"] > 0])
    return pd.concat(out, ignore_index=True)


class _quiet:
    """Silence numpy's "mean of empty slice" warnings (an all-missing peer set is a valid NaN)."""

    def __enter__(self):
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)


def rate_against_peers(frame: pd.DataFrame, polarity: str | None) -> pd.DataFrame:
    """The difference from the peer mean with its 95% interval, rated against 0.

    se of the unit from its 95% limits; se of the peer mean from the peers' spread; the two
    combine as independent errors (see the module docstring).
    """
    se_unit = (frame["uppercl"] - frame["lowercl"]) / (2 * Z95)
    diff = frame["value"] - frame["peer_mean"]
    se = np.sqrt(se_unit**2 + frame["peer_se"].fillna(np.inf) ** 2)
    out = pd.DataFrame({"peer_difference": diff, "peer_difference_lowercl": diff - Z95 * se,
                        "peer_difference_uppercl": diff + Z95 * se, "zero": 0.0},
                       index=frame.index)
    out["vs_peers"] = _rate(out, "zero", polarity, "peer_difference_lowercl",
                            "peer_difference_uppercl")
    few = frame["peer_n"].fillna(0) < 2
    out.loc[few, ["peer_difference_lowercl", "peer_difference_uppercl"]] = np.nan
    out.loc[few, "vs_peers"] = "not compared"
    return out.drop(columns="zero")


# ------------------------------------------------------------------------------ rank, trend


def rank_and_decile(values: pd.DataFrame) -> pd.DataFrame:
    """national_rank (1 = highest), national_units and national_decile (1 = lowest tenth)."""
    group = values.groupby(["indicator", "period"])["value"]
    ascending = group.rank(method="min", ascending=True)
    n = group.transform("count")
    out = pd.DataFrame(index=values.index)
    out["national_rank"] = group.rank(method="min", ascending=False).astype("Int64")
    out["national_units"] = n.astype("Int64")
    out["national_decile"] = (np.floor(10 * (ascending - 1) / n) + 1).astype("Int64")
    return out


def trends(values: pd.DataFrame, methods: Mapping[str, str], confidence: float = 0.95
           ) -> pd.DataFrame:
    """Trend of each unit's series per indicator (all periods loaded, in period order).

    Returns indicator, unit_code, trend_periods, trend_method, trend_slope (per period, on the
    value scale; for the chi-square test the slope of the proportion per period x multiplier
    comes from the weighted regression), trend_statistic, trend_p, trend_direction (increasing /
    decreasing / no significant change) and ``trend`` (the headline: the direction when five or
    more periods are loaded, else "insufficient periods").
    """
    cols = ["indicator", "unit_code", "trend_periods", "trend_method", "trend_slope",
            "trend_statistic", "trend_p", "trend_direction", "trend"]
    if values.empty:
        return pd.DataFrame(columns=cols)
    read = ["indicator", "unit_code", "period", "value", "lowercl", "uppercl", "numerator",
            "denominator"]
    v = values[[c for c in read if c in values]].dropna(subset=["value"])  # a new frame
    order = {p: i for i, p in enumerate(sorted(v["period"].unique()))}
    v["t"] = v["period"].map(order).astype("float64")
    v["se"] = (v["uppercl"] - v["lowercl"]) / (2 * Z95)
    keys = ["indicator", "unit_code"]
    v["periods"] = v.groupby(keys)["t"].transform("count")
    # latest five periods of each series (what the Fingertips marker looks at)
    v["recent"] = v.groupby(keys)["t"].rank(ascending=False) <= TREND_PERIODS
    v = v[v["recent"] & (v["periods"] >= 2)]
    if v.empty:
        return pd.DataFrame(columns=cols)
    v["periods"] = v.groupby(keys)["t"].transform("count")
    wls = _weighted_slope(v, keys)
    wls["trend_method"] = "weighted regression"
    chi = _chi_square_trend(v[v["indicator"].map(methods).eq("proportion") &
                              (v["periods"] >= TREND_PERIODS)], keys)
    out = wls.merge(chi, on=keys, how="left")
    use_chi = out["chi_p"].notna()
    out.loc[use_chi, "trend_method"] = "chi-square test for trend"
    out["trend_statistic"] = out["chi_square"].where(use_chi, out["z"])
    out["trend_p"] = out["chi_p"].where(use_chi, out["p"])
    alpha = 1 - confidence
    significant = out["trend_p"] < alpha
    rising = out["chi_sign"].where(use_chi, np.sign(out["trend_slope"])) > 0
    direction = np.where(rising, "increasing", "decreasing")
    out["trend_direction"] = np.where(significant, direction, "no significant change")
    out.loc[out["trend_p"].isna(), "trend_direction"] = "cannot be calculated"
    out["trend"] = np.where(out["trend_periods"] >= TREND_PERIODS, out["trend_direction"],
                            "insufficient periods")
    return out[cols]


def _weighted_slope(v: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Slope of value on t, weights 1/se^2 (known variances: z = slope / sqrt(1 / Sxx_w))."""
    v = v.assign(w=1.0 / v["se"].where(v["se"] > 0) ** 2)
    # a zero-width interval (e.g. 0 of 0 events in an exact method) carries no weight information:
    v["w"] = v["w"].fillna(v.groupby(keys)["w"].transform("max")).fillna(1.0)
    g = v.groupby(keys)
    sw = g["w"].transform("sum")
    tbar = (v["w"] * v["t"]).groupby([v[k] for k in keys]).transform("sum") / sw
    ybar = (v["w"] * v["value"]).groupby([v[k] for k in keys]).transform("sum") / sw
    v = v.assign(sxy=v["w"] * (v["t"] - tbar) * (v["value"] - ybar),
                 sxx=v["w"] * (v["t"] - tbar) ** 2)
    agg = v.groupby(keys).agg(sxy=("sxy", "sum"), sxx=("sxx", "sum"), trend_periods=("t", "count"))
    agg["trend_slope"] = agg["sxy"] / agg["sxx"]
    se = np.sqrt(1.0 / agg["sxx"])
    agg["z"] = agg["trend_slope"] / se
    agg["p"] = 2 * stats.norm.sf(np.abs(agg["z"]))
    return agg.reset_index()[[*keys, "trend_periods", "trend_slope", "z", "p"]]


def _chi_square_trend(v: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Chi-square test for linear trend in proportions (Armitage 1955; Altman 1991, 10.7.4):
    chi2 = (sum r_i x_i - R xbar)^2 / (p (1 - p) (sum n_i x_i^2 - N xbar^2)), 1 d.f.,
    xbar = sum n_i x_i / N, p = R / N; scores x_i = period order."""
    if v.empty:
        return pd.DataFrame(columns=[*keys, "chi_square", "chi_p", "chi_sign"])
    v = v.assign(rx=v["numerator"] * v["t"], nx=v["denominator"] * v["t"],
                 nx2=v["denominator"] * v["t"] ** 2)
    g = v.groupby(keys).agg(R=("numerator", "sum"), N=("denominator", "sum"), rx=("rx", "sum"),
                            nx=("nx", "sum"), nx2=("nx2", "sum"))
    xbar = g["nx"] / g["N"]
    p = g["R"] / g["N"]
    denom = p * (1 - p) * (g["nx2"] - g["N"] * xbar**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        chi = (g["rx"] - g["R"] * xbar) ** 2 / denom
    g["chi_square"] = chi.where(denom > 0)
    g["chi_p"] = stats.chi2.sf(g["chi_square"], 1)
    g["chi_sign"] = np.sign(g["rx"] - g["R"] * xbar)
    return g.reset_index()[[*keys, "chi_square", "chi_p", "chi_sign"]]


# ------------------------------------------------------------------------------ the comparison


def comparison(
    values: pd.DataFrame,
    england: pd.DataFrame,
    indicators: Mapping[str, Indicator],
    *,
    icb: pd.DataFrame | None = None,
    unit_icb: pd.Series | None = None,
    peers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The comparison table for one level from precomputed indicator values.

    ``values`` / ``england`` / ``icb``: indicator_values frames at the unit level, England and
    ICB; ``unit_icb``: unit_code -> ICB code; ``peers``: unit_code, peer_code.
    """
    if values.empty:
        return pd.DataFrame()
    out = values.copy()
    out["polarity"] = out["indicator"].map(lambda n: indicators[n].polarity)
    # each benchmark's value with the counts it comes from (disclosure control rounds them)
    eng = england.set_index(["indicator", "period"])
    key = pd.MultiIndex.from_frame(out[["indicator", "period"]])
    for column in BENCHMARK_COLUMNS:
        out[f"england_{column}"] = (eng[column].reindex(key).to_numpy() if column in eng
                                    else np.nan)
    out["vs_england"] = "not compared"
    if icb is not None and unit_icb is not None and not icb.empty:
        out["icb_code"] = out["unit_code"].map(unit_icb)
        icb_values = icb.set_index(["indicator", "period", "unit_code"])
        key = pd.MultiIndex.from_frame(out[["indicator", "period", "icb_code"]])
        for column in BENCHMARK_COLUMNS:
            out[f"icb_{column}"] = (icb_values[column].reindex(key).to_numpy()
                                    if column in icb_values else np.nan)
    else:
        out["icb_code"] = None
        for column in BENCHMARK_COLUMNS:
            out[f"icb_{column}"] = np.nan
    out["vs_icb"] = "not compared"
    bench = peer_benchmark(values, peers) if peers is not None else pd.DataFrame()
    if not bench.empty:
        out = out.merge(bench, on=["indicator", "period", "unit_code"], how="left")
    else:
        for c in ("peer_n", "peer_mean", "peer_sd", "peer_se", "peer_lowercl", "peer_uppercl"):
            out[c] = np.nan
    out["peer_n"] = out["peer_n"].fillna(0).astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["peer_z"] = (out["value"] - out["peer_mean"]) / out["peer_sd"].where(
            out["peer_sd"] > 0)
    for c in ("peer_difference", "peer_difference_lowercl", "peer_difference_uppercl"):
        out[c] = np.nan
    out["vs_peers"] = "not compared"
    out = out.reset_index(drop=True)
    results: dict[str, np.ndarray] = {}
    rated_from = ["value", "lowercl", "uppercl", "peer_mean", "peer_se", "peer_n",
                  "england_value", "icb_value"]
    for polarity_name, idx in out.groupby("polarity").indices.items():
        part = out[rated_from].iloc[idx]  # what the ratings read, not every column
        polarity = None if polarity_name == "none" else polarity_name
        rated = rate_against_peers(part, polarity)
        rated["vs_england"] = _rate(part, "england_value", polarity)
        rated["vs_icb"] = _rate(part, "icb_value", polarity)
        for column in rated.columns:
            if column not in results:
                results[column] = out[column].to_numpy(dtype=object if column.startswith("vs_")
                                                       else "float64", copy=True)
            results[column][idx] = rated[column].to_numpy()
    for column, array in results.items():
        out[column] = array
    out = pd.concat([out, rank_and_decile(out)], axis=1)
    methods = {n: i.method for n, i in indicators.items()}
    trend = trends(values, methods)
    out = out.merge(trend, on=["indicator", "unit_code"], how="left")
    return out.sort_values(["indicator", "period", "unit_code"], ignore_index=True)


def deciles(values: pd.DataFrame) -> pd.DataFrame:
    """National 10th..90th percentiles of unit values per indicator, level and period (linear
    interpolation between order statistics, numpy's default, as prescribing dashboards use)."""
    rows = []
    for (indicator, level, period), frame in values.groupby(["indicator", "level", "period"]):
        v = frame["value"].dropna().to_numpy()
        if len(v) == 0:
            continue
        q = np.percentile(v, PERCENTILES)
        rows.extend({"indicator": indicator, "level": level, "period": period, "percentile": p,
                     "value": float(x), "units": len(v)} for p, x in zip(PERCENTILES, q,
                                                                          strict=True))
    return pd.DataFrame(rows, columns=["indicator", "level", "period", "percentile", "value",
                                       "units"])


#: The comparison columns :func:`spine`, :func:`funnel` and :func:`funnel_curves` read (a caller
#: may hand them these alone).
SPINE_READS = ("level", "indicator", "period", "unit_code", "unit_name", "value", "lowercl",
               "uppercl", "england_value", "vs_england", "polarity", "national_decile")
FUNNEL_READS = ("indicator", "level", "period", "unit_code", "unit_name", "numerator", "denominator")
CURVE_READS = ("indicator", "level", "period", "numerator", "denominator")


def spine(table: pd.DataFrame) -> pd.DataFrame:
    """Spine chart data: each unit's latest value of every indicator against England's range
    (min, 25th, median, 75th percentile, max across units of the level) and England's value."""
    if table.empty:
        return pd.DataFrame()
    latest = table.groupby("indicator")["period"].transform("max")
    t = table[table["period"] == latest]
    q = t.groupby("indicator")["value"].describe(percentiles=[0.25, 0.5, 0.75])
    q = q.rename(columns={"25%": "q25", "50%": "median", "75%": "q75"})[["min", "q25", "median",
                                                                         "q75", "max"]]
    return t[list(SPINE_READS)].merge(q.reset_index(), on="indicator", how="left").sort_values(
        ["unit_code", "indicator"], ignore_index=True)


def funnel(values: pd.DataFrame, indicators: Mapping[str, Indicator]) -> pd.DataFrame:
    """Funnel plot points with 95% and 99.8% control limits at each unit's denominator and its
    position, via measures.funnel_significance (Spiegelhalter 2005). The target is the pooled
    value of the units plotted (sum of numerators / sum of denominators per period; 1 for
    ratios); ``position`` is the headline: "above 99.8%", "above 95%", "inside", "below 95%",
    "below 99.8%". Periods whose pooled proportion is 0 or 1 have no funnel."""
    from placehealth.measures.funnels import funnel_significance

    if values.empty:
        return pd.DataFrame()
    parts = []
    for name, frame in values[list(FUNNEL_READS)].groupby("indicator", sort=True):
        indicator = indicators[name]
        frame = frame[frame["denominator"] > 0]
        if indicator.method == "proportion":
            pooled = frame.groupby("period")[["numerator", "denominator"]].transform("sum")
            frame = frame[(pooled["numerator"] > 0) & (pooled["numerator"] < pooled["denominator"])]
        elif indicator.method == "rate":
            frame = frame[frame.groupby("period")["numerator"].transform("sum") > 0]
        if frame.empty:
            continue
        parts.append(funnel_significance(frame, x="numerator", n="denominator",
                                         statistic=indicator.method, group_by="period",
                                         confidence=(0.95, 0.998),
                                         multiplier=indicator.multiplier))
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    out["position"] = np.select(
        [out["funnel99_8"] == "above", out["funnel95_0"] == "above",
         out["funnel99_8"] == "below", out["funnel95_0"] == "below"],
        ["above 99.8%", "above 95%", "below 99.8%", "below 95%"], "inside")
    return out.sort_values(["indicator", "period", "unit_code"], ignore_index=True)


# ------------------------------------------------------------------------------ from the store


def level_values(store, level: str, indicators: Iterable[Indicator],
                 units: dict | None = None) -> pd.DataFrame:
    """Every indicator's values at ``level`` (indicators.values_many); pass a ``units`` dict to
    read each membership once per build."""
    return values_many(store, indicators, level, units=units)


class CompareWarning(UserWarning):
    """A level left out of the comparison (e.g. no practice -> PCN mapping loaded)."""


def _values_or_none(store, level: str, indicators: Iterable[Indicator], units: dict
                    ) -> pd.DataFrame:
    """:func:`level_values`, or an empty frame (with a note) when the level cannot be built,
    e.g. PCNs and ICBs without a practice -> PCN mapping: the other levels are still compared."""
    try:
        return level_values(store, level, indicators, units)
    except LookupError as exc:
        warnings.warn(f"no comparison at the {level} level: {str(exc).strip(chr(39))}",
                      CompareWarning, stacklevel=2)
        return pd.DataFrame()


def unit_icbs(store, level: str, periods: Iterable[str]) -> pd.Series:
    """unit -> ICB for the latest of ``periods`` (the ICB holding most of the unit's patients)."""
    from placehealth.analyses.peers import unit_groups

    periods = sorted(periods)
    try:
        return unit_groups(store, level, "icb", periods[-1])
    except LookupError:
        return pd.Series(dtype=object)


def build(store, levels: Iterable[str] = LEVELS) -> dict[str, int]:
    """Build step: comparison, funnel, deciles, spine and peer_feature_fit for PCNs and
    practices, for every indicator in the registry and every period loaded."""
    from placehealth.analyses.peers import PeerOptions, feature_fit, unit_features

    known = registry(store)
    if not known:
        return {}
    peers = store.read("peers") if store.has("peers") else pd.DataFrame()
    units: dict = {}
    england = level_values(store, "england", known.values(), units)
    icb = _values_or_none(store, "icb", known.values(), units)
    tables: dict[str, list[pd.DataFrame]] = {k: [] for k in
                                             ("comparison", "funnel", "funnel_limits",
                                              "deciles", "spine", "peer_feature_fit")}
    for level in levels:
        values = _values_or_none(store, level, known.values(), units)
        if values.empty:
            continue
        level_peers = (peers[(peers["level"] == level) & (peers["within"] == "england")]
                       if not peers.empty else None)
        table = comparison(values, england, known, icb=icb,
                           unit_icb=unit_icbs(store, level, values["period"].unique()),
                           peers=level_peers)
        tables["comparison"].append(table)
        tables["spine"].append(spine(table))
        tables["deciles"].append(deciles(values))
        tables["funnel"].append(funnel(values, known))
        tables["funnel_limits"].append(funnel_curves(values, known))
        if level_peers is not None and not level_peers.empty:
            period = level_peers["period"].iloc[0]
            features = unit_features(store, level, period)
            chosen = [f for f in _feature_names(store, level) if f in features.columns]
            if chosen:
                fit = feature_fit(features[chosen], values,
                                  PeerOptions(features=dict.fromkeys(chosen, 1.0)))
                tables["peer_feature_fit"].append(fit.assign(level=level, features_period=period))
    tables["indicators"] = [registry_frame(known)]
    written = {}
    for name, parts in tables.items():
        parts = [p for p in parts if not p.empty]
        if parts:
            frame = pd.concat(parts, ignore_index=True)
            store.replace_table(name, frame)
            written[name] = len(frame)
    return written


#: Columns shown for each benchmark a unit is compared against.
AGAINST = {
    "england": ["england_value", "vs_england"],
    "icb": ["icb_code", "icb_value", "vs_icb"],
    "peers": ["peer_n", "peer_mean", "peer_lowercl", "peer_uppercl", "vs_peers", "peer_z"],
}


def unit_view(table: pd.DataFrame, unit: str, against: Iterable[str] = tuple(AGAINST),
              period: str | None = None) -> pd.DataFrame:
    """One unit's rows of a (protected) comparison table, with the columns for the benchmarks
    asked for: the latest period of each indicator, a given ``period``, or ``"all"``. The CLI,
    pages and API all show a unit's comparison through this one function."""
    against = list(against)
    unknown = [a for a in against if a not in AGAINST]
    if unknown:
        raise ValueError(f"cannot compare against {unknown[0]!r}: use {', '.join(AGAINST)}")
    rows = table[table["unit_code"] == unit]
    if period == "all":
        pass
    elif period:
        rows = rows[rows["period"] == period]
    elif not rows.empty:
        rows = rows[rows["period"] == rows.groupby("indicator")["period"].transform("max")]
    columns = ["indicator", "period", "value", "lowercl", "uppercl"]
    for name in against:
        columns += AGAINST[name]
    columns += ["national_rank", "national_units", "national_decile", "trend"]
    if "suppressed_cells" in rows:
        columns.append("suppressed_cells")
    return rows[[c for c in columns if c in rows]].sort_values(["indicator", "period"],
                                                               ignore_index=True)


def funnel_curves(values: pd.DataFrame, indicators: Mapping[str, Indicator],
                  points: int = 100) -> pd.DataFrame:
    """The funnel's control-limit lines (95% and 99.8%) at ``points`` denominators spanning the
    units plotted, per indicator, level and period (measures.funnel_limits; target as
    :func:`funnel`), for drawing smooth limits behind the points."""
    from placehealth.measures.funnels import funnel_limits

    if values.empty:
        return pd.DataFrame()
    parts = []
    for name, frame in values[list(CURVE_READS)].groupby("indicator", sort=True):
        indicator = indicators[name]
        frame = frame[frame["denominator"] > 0]
        pooled = frame.groupby("period")[["numerator", "denominator"]].transform("sum")
        if indicator.method == "proportion":
            frame = frame[(pooled["numerator"] > 0) & (pooled["numerator"] < pooled["denominator"])]
        elif indicator.method == "rate":
            frame = frame[pooled["numerator"] > 0]
        if frame.empty:
            continue
        curve = funnel_limits(frame, x="numerator", n="denominator", statistic=indicator.method,
                              group_by=["level", "period"], confidence=(0.95, 0.998),
                              multiplier=indicator.multiplier, points=points)
        parts.append(curve.assign(indicator=name))
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    first = ["indicator", "level", "period"]
    return out[first + [c for c in out.columns if c not in first]]


def _feature_names(store, level: str) -> list[str]:
    if not store.has("peer_features"):
        return []
    t = store.table("peer_features")
    return sorted(t.filter(t.level == level).select("feature").distinct().to_pandas()["feature"])
