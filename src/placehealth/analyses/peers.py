"""Peer groups: for every PCN (or practice) its N most similar units, and why they are similar.

Method (CIPFA nearest neighbours; NHS England Model Health System peers):

1. each feature is winsorised at its 1st and 99th percentiles across the units compared, so one
   extreme unit cannot stretch the scale for everyone else;
2. skewed features (list size) are log-transformed before winsorising;
3. each feature is standardised to z = (x - mean) / sd across the units compared; a missing
   value stays missing, never the average: a unit missing more than half of the features by
   weight is left out, and then a feature known for fewer than half of the units left is not
   used (both said in a warning and in ``peer_coverage``);
4. the distance between units i and j is the weighted Euclidean distance
   d = sqrt(sum_f w_f (z_if - z_jf)^2), weights configurable (default 1 each), summed over the
   features both units know and scaled by (sum of all weights) / (sum of those known), as
   Gower (1971) treats a missing value: it neither adds to nor shrinks the distance;
5. the N nearest units are the peers: never the unit itself, ties in distance broken by code, so
   the same inputs always give the same peers. ``within`` restricts candidates to units sharing
   the unit's ICB or region.

References: CIPFA Nearest Neighbours Model (England), technical note (2019); NHS England, Model
Health System "peer finder" methodology; Weir & Wilson-Davies style similar-10 groups are *not*
used as a benchmark here: compare.py takes the peer mean with its uncertainty.

``peer_features`` says, for each pair, each feature's share of the squared distance (small shares
= the features on which they are alike; no share where either value is unknown, so a pair never
"differs" on a missing value). Gower JC, A general coefficient of similarity and some of its
properties, *Biometrics* 1971;27:857-71. ``peer_feature_fit`` documents how well the features
predict each indicator compared (R-squared of an ordinary least squares regression of the
indicator's unit values on the standardised features).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from placehealth import levels as lv

#: Default features and weights (all 1): age structure, deprivation, ethnicity, rurality, size.
DEFAULT_FEATURES: dict[str, float] = {
    "pct_65_plus": 1.0,
    "pct_under_18": 1.0,
    "imd_score": 1.0,
    "pct_non_white": 1.0,
    "pct_rural": 1.0,
    "list_size": 1.0,
}
#: Features log-transformed before winsorising (right-skewed counts).
LOG_FEATURES = frozenset({"list_size"})
WINSOR = (0.01, 0.99)
DEFAULT_N = 10
#: A unit missing more than this share of the features (by weight) is left out: a unit known
#: only by its list size would otherwise look "average" on everything else.
MAX_MISSING = 0.5
#: A feature known for fewer than this share of the units compared is not used: filling the rest
#: would compare mostly guesses.
MIN_COVERAGE = 0.5
#: Distances are rounded to this many decimals before ranking, so float noise never breaks a tie.
_DECIMALS = 9


class PeerWarning(UserWarning):
    """Units left out of peer finding (e.g. too few features known)."""


@dataclass(frozen=True)
class PeerOptions:
    """How peers are chosen: N, features with weights, grouping restriction, transforms."""

    n: int = DEFAULT_N
    features: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_FEATURES))
    log_features: frozenset[str] = LOG_FEATURES
    winsor: tuple[float, float] | None = WINSOR

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be at least 1, got {self.n}")
        if not self.features:
            raise ValueError("at least one feature is needed to find peers")
        bad = {f: w for f, w in self.features.items() if not np.isfinite(w) or w < 0}
        if bad:
            raise ValueError(f"feature weights must be finite and >= 0: {bad}")


def parse_features(text: str | None) -> dict[str, float]:
    """``"imd_score,pct_65_plus:2"`` -> {"imd_score": 1.0, "pct_65_plus": 2.0} (None = defaults)."""
    if not text:
        return dict(DEFAULT_FEATURES)
    features: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.strip().partition(":")
        if not name:
            continue
        try:
            features[name] = float(weight) if weight else 1.0
        except ValueError:
            raise ValueError(f"feature {part!r}: weight must be a number (name:weight)") from None
    return features


def standardise(features: pd.DataFrame, options: PeerOptions) -> pd.DataFrame:
    """Log-transform, winsorise and z-standardise each feature column (index = unit code).

    A feature with no spread (sd 0) or no values at all gets z = 0 everywhere: it cannot tell
    units apart. Missing values stay missing (NaN).
    """
    missing = [f for f in options.features if f not in features.columns]
    if missing:
        raise ValueError(f"features not available: {', '.join(missing)}; available: "
                         f"{', '.join(map(str, features.columns)) or 'none'}")
    out = pd.DataFrame(index=features.index)
    for name in options.features:
        x = pd.to_numeric(features[name], errors="coerce").astype("float64")
        if name in options.log_features:
            if (x < 0).any():
                raise ValueError(f"feature {name!r} is log-transformed but has negative values")
            x = np.log1p(x)
        if options.winsor is not None and x.notna().sum() > 2:
            lo, hi = x.quantile(options.winsor[0]), x.quantile(options.winsor[1])
            x = x.clip(lo, hi)
        sd = x.std(ddof=0)
        z = (x - x.mean()) / sd if sd and np.isfinite(sd) and sd > 0 else x * 0.0
        out[name] = z
    return out


def feature_coverage(features: pd.DataFrame, options: PeerOptions) -> pd.DataFrame:
    """How far each feature is known among the units compared, and whether it is used.

    Units missing more than ``MAX_MISSING`` of the features (by weight) are left out first; a
    feature then known for fewer than ``MIN_COVERAGE`` of the remaining units is not used.
    Returns feature, weight, units, known_units, coverage_pct, used, reason.
    """
    names = list(options.features)
    weights = np.array([options.features[f] for f in names], dtype="float64")
    known = features[names].apply(pd.to_numeric, errors="coerce").notna().to_numpy()
    unknown_share = ((~known) * weights).sum(axis=1) / max(weights.sum(), 1e-12)
    kept = known[unknown_share <= MAX_MISSING]
    rows = []
    for i, name in enumerate(names):
        units, have = len(kept), int(kept[:, i].sum()) if len(kept) else 0
        coverage = have / units if units else 0.0
        used = units > 0 and coverage >= MIN_COVERAGE and weights[i] > 0
        reason = ("" if used else "weight 0" if weights[i] == 0 else
                  f"known for {have} of {units} units (under {MIN_COVERAGE:.0%}): not used "
                  "rather than filled with the average")
        rows.append({"feature": name, "weight": float(weights[i]), "units": units,
                     "known_units": have, "coverage_pct": 100.0 * coverage, "used": used,
                     "reason": reason})
    return pd.DataFrame(rows)


def nearest_peers(
    features: pd.DataFrame,
    options: PeerOptions | None = None,
    within: pd.Series | None = None,
    *,
    block: int = 512,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The N nearest peers of every unit, and each feature's contribution to each pair's distance.

    ``features``: one row per unit (index = unit code), one column per feature.
    ``within``: optional unit code -> group (e.g. ICB); peers are then sought only in the group.
    Returns ``peers`` (unit_code, peer_code, rank, distance) and ``contributions`` (unit_code,
    peer_code, feature, unit_value, peer_value, z_difference, share), where share is the feature's
    part of the squared distance (shares of a pair sum to 1; 0/0 is shared equally).
    """
    options = options or PeerOptions()
    if features.index.has_duplicates:
        dup = features.index[features.index.duplicated()][0]
        raise ValueError(f"unit {dup!r} appears twice in the features")
    features = features.sort_index()
    names = list(options.features)
    weights = np.array([options.features[f] for f in names], dtype="float64")
    missing = [f for f in names if f not in features.columns]
    if missing:
        raise ValueError(f"features not available: {', '.join(missing)}; available: "
                         f"{', '.join(map(str, features.columns)) or 'none'}")
    known = features[names].apply(pd.to_numeric, errors="coerce").notna().to_numpy()
    unknown_share = ((~known) * weights).sum(axis=1) / max(weights.sum(), 1e-12)
    sparse = unknown_share > MAX_MISSING
    if sparse.any():
        warnings.warn(f"{int(sparse.sum())} unit(s) lack more than half of the peer features "
                      f"(by weight) and get no peers (e.g. {features.index[sparse][0]})",
                      PeerWarning, stacklevel=2)
        features = features[~sparse]
    coverage = feature_coverage(features, options)
    dropped = coverage[~coverage["used"] & (coverage["weight"] > 0)]
    for row in dropped.itertuples(index=False):
        warnings.warn(f"peer feature {row.feature}: {row.reason}", PeerWarning, stacklevel=2)
    if len(dropped):
        weights = np.where(np.isin(names, dropped["feature"]), 0.0, weights)
        if not weights.any():
            raise ValueError("no peer feature is known for enough units: "
                             + "; ".join(f"{r.feature} {r.reason}" for r in dropped.itertuples()))
    z = standardise(features, options)
    zw = z[names].to_numpy() * np.sqrt(weights)
    known = np.isfinite(zw)
    zw = np.where(known, zw, 0.0)
    codes = features.index.to_numpy().astype(str)
    group = None
    if within is not None:
        group = within.reindex(features.index).astype(object).to_numpy()
    order_key = np.arange(len(codes))  # codes are sorted, so index order = code order
    unit_idx, peer_idx, ranks, dists = [], [], [], []
    for start in range(0, len(codes), block):
        stop = min(start + block, len(codes))
        # summed squared differences, feature by feature: exact 0 for identical units (the
        # |a|^2 + |b|^2 - 2ab shortcut leaves float noise that would break ties by accident),
        # over the features both units know, scaled up to all the weight (Gower 1971)
        d2 = np.zeros((stop - start, len(codes)))
        shared = np.zeros((stop - start, len(codes)))
        for f in range(zw.shape[1]):
            both = known[start:stop, f, None] & known[None, :, f]
            d2 += np.where(both, (zw[start:stop, f, None] - zw[None, :, f]) ** 2, 0.0)
            shared += both * weights[f]
        with np.errstate(divide="ignore", invalid="ignore"):
            d2 = np.where(shared > 0, d2 * (weights.sum() / shared), np.inf)
        d = np.sqrt(d2).round(_DECIMALS)
        rows = np.arange(stop - start)
        d[rows, start + rows] = np.inf  # never one's own peer
        if group is not None:
            same = group[start:stop, None] == group[None, :]
            same &= pd.notna(group)[start:stop, None]
            d[~same] = np.inf
        k = min(options.n, len(codes) - 1)
        if k <= 0:
            break
        for r in range(stop - start):
            row = d[r]
            finite = np.isfinite(row)
            if not finite.any():
                continue
            kk = min(k, int(finite.sum()))
            # candidates: everything up to the kth distance (inclusive, so ties are all seen)
            cut = np.partition(row, kk - 1)[kk - 1]
            cand = np.flatnonzero(row <= cut)
            chosen = cand[np.lexsort((order_key[cand], row[cand]))][:kk]
            unit_idx.extend([start + r] * kk)
            peer_idx.extend(chosen.tolist())
            ranks.extend(range(1, kk + 1))
            dists.extend(row[chosen].tolist())
    unit_idx_a, peer_idx_a = np.asarray(unit_idx, dtype=int), np.asarray(peer_idx, dtype=int)
    peers = pd.DataFrame({
        "unit_code": codes[unit_idx_a],
        "peer_code": codes[peer_idx_a],
        "rank": np.asarray(ranks, dtype="int64"),
        "distance": np.asarray(dists, dtype="float64"),
    })
    used = [f for f, w in zip(names, weights, strict=True) if w > 0]
    contributions = _contributions(features, z, used, weights[weights > 0], unit_idx_a,
                                   peer_idx_a, codes)
    return peers, contributions


def _contributions(features, z, names, weights, unit_idx, peer_idx, codes) -> pd.DataFrame:
    """Each used feature's share of a pair's squared distance; NaN where either value is
    unknown (the feature did not enter that distance)."""
    zv = z[names].to_numpy()
    raw = features[names].apply(pd.to_numeric, errors="coerce").to_numpy(dtype="float64")
    diff = zv[peer_idx] - zv[unit_idx]
    part = weights * diff**2
    total = np.nansum(part, axis=1, keepdims=True)
    counted = np.isfinite(part).sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, part / total, 1.0 / np.maximum(counted, 1))
    share = np.where(np.isfinite(part), share, np.nan)
    n, f = diff.shape
    return pd.DataFrame({
        "unit_code": np.repeat(codes[unit_idx], f),
        "peer_code": np.repeat(codes[peer_idx], f),
        "feature": np.tile(np.asarray(names, dtype=object), n),
        "unit_value": raw[unit_idx].reshape(-1),
        "peer_value": raw[peer_idx].reshape(-1),
        "z_difference": diff.reshape(-1),
        "share": share.reshape(-1),
    })


def feature_fit(features: pd.DataFrame, values: pd.DataFrame,
                options: PeerOptions | None = None) -> pd.DataFrame:
    """How well the peer features predict each indicator: OLS R-squared per indicator and period.

    ``values``: long frame (indicator, period, unit_code, value). Each indicator's unit values are
    regressed (ordinary least squares with an intercept) on the standardised features of the
    units knowing every feature; reports
    n, R-squared and adjusted R-squared (Theil). A high R-squared means peers chosen on these
    features share much of what drives the indicator, so comparing with them is fair.
    """
    options = options or PeerOptions()
    z = standardise(features.sort_index(), options)
    names = list(options.features)
    rows = []
    joined = values[["indicator", "period", "unit_code", "value"]].dropna(subset=["value"])
    joined = joined.merge(z[names].dropna(), left_on="unit_code", right_index=True, how="inner")
    for (indicator, period), frame in joined.groupby(["indicator", "period"], sort=True):
        n, p = len(frame), len(names)
        r2 = adj = np.nan
        if n > p + 1:
            x = np.column_stack([np.ones(n), frame[names].to_numpy(dtype="float64")])
            y = frame["value"].to_numpy(dtype="float64")
            beta, *_ = np.linalg.lstsq(x, y, rcond=None)
            resid = y - x @ beta
            tss = float(((y - y.mean()) ** 2).sum())
            if tss > 0:
                r2 = 1.0 - float((resid**2).sum()) / tss
                adj = 1.0 - (1.0 - r2) * (n - 1) / (n - p - 1)
        rows.append({"indicator": indicator, "period": period, "units": n, "features": ",".join(names),
                     "r_squared": r2, "adjusted_r_squared": adj})
    return pd.DataFrame(rows, columns=["indicator", "period", "units", "features", "r_squared",
                                       "adjusted_r_squared"])


# ------------------------------------------------------------------ reading features from a store

#: Where each feature may be found in a practice profile table (first column present wins).
PROFILE_COLUMNS: dict[str, Sequence[str]] = {
    "list_size": ("list_size", "registered_patients", "patients"),
    "imd_score": ("imd_score",),
    # without a practice age file, the Census 2021 residents of the patients' LSOAs
    "pct_65_plus": ("pct_65_plus", "resident_age_65_plus_pct"),
    "pct_under_18": ("pct_under_18", "pct_0_17"),
    "pct_non_white": ("pct_non_white", "ethnic_non_white_pct"),
    "pct_rural": ("pct_rural", "rural_pct"),
}


def _latest(store, table: str) -> str | None:
    periods = store.periods(table)
    return periods[-1] if periods else None


def features_period(store) -> str | None:
    """The period peers are found for by default: the latest practice profile, else attributes."""
    for table in ("practice_profile", "practice_attributes"):
        if store.has(table):
            return _latest(store, table)
    return None


def practice_features(store, period: str | None = None) -> pd.DataFrame:
    """Practice-level features (index practice_code): the practice profile, then any
    ``practice_attributes`` (latest period loaded) for features the profile does not hold, and
    list size from the profile, else registrations_total, else the QOF TOTAL list size.

    Each feature comes from one source for every practice, so editions are never mixed: a
    profile feature (e.g. ``imd_score`` from the IMD edition the profiles use, the newest loaded)
    is kept over an attribute of the same name (e.g. a file of IMD 2019 practice scores) unless
    the file covers at least twice as many practices (one place's registrations beside a
    national file: national peers need the feature for every practice); the note says which.
    A ``pct_*`` attribute whose values all lie between 0 and 1 is a fraction and is read as a
    percentage. ``frame.attrs["sources"]`` says where each feature came from and
    ``frame.attrs["notes"]`` what was chosen over what.
    """
    sources: dict[str, str] = {}
    notes: list[str] = []
    out = pd.DataFrame()
    if store.has("practice_profile"):
        chosen = period or _latest(store, "practice_profile")
        profile = store.read("practice_profile", period=chosen)
        cols, taken = {}, {}
        for feature, candidates in PROFILE_COLUMNS.items():
            for column in candidates:
                if column in profile.columns and profile[column].notna().any():
                    cols[feature], taken[feature] = profile[column], column
                    break
        extra = [c for c in profile.columns if c.startswith("pct_") and c not in cols]
        out = pd.DataFrame(cols | {c: profile[c] for c in extra})
        code = profile["practice_code" if "practice_code" in profile else "unit_code"]
        out = out.set_index(code.to_numpy())
        editions = (profile["imd_edition"].dropna().unique() if "imd_edition" in profile
                    else [])
        for feature in out.columns:
            label = f"practice profile {chosen}"
            if feature == "imd_score" and len(editions):
                label += f" ({', '.join(map(str, editions))})"
            elif taken.get(feature, feature).startswith("resident_"):
                label += f" ({taken[feature]}: Census 2021 residents of the patients' LSOAs)"
            sources[feature] = label
    if store.has("practice_attributes"):
        attrs = store.read("practice_attributes")
        attrs = attrs.sort_values("period").drop_duplicates(["practice_code", "attribute"],
                                                            keep="last")
        when = attrs.groupby("attribute")["period"].max()
        wide = attrs.pivot(index="practice_code", columns="attribute", values="value")
        for feature in wide.columns:
            values = pd.to_numeric(wide[feature], errors="coerce")
            label = f"practice_attributes {when[feature]}"
            if feature in out.columns and out[feature].notna().any():
                n_profile, n_file = int(out[feature].notna().sum()), int(values.notna().sum())
                if n_file < 2 * n_profile:
                    if feature in DEFAULT_FEATURES:
                        notes.append(f"peer feature {feature}: from the {sources[feature]} "
                                     f"({n_profile:,} practices), not the {label} loaded beside "
                                     f"it ({n_file:,}): one source per feature, the profile's "
                                     "edition")
                    continue
                notes.append(f"peer feature {feature}: from the {label} ({n_file:,} practices), "
                             f"not the {sources[feature]} ({n_profile:,}): one source per "
                             "feature, the one that covers the practices compared (the profile "
                             "covers too few for national peers)")
                out = out.drop(columns=feature)
            present = values.dropna()
            if feature.startswith("pct_") and len(present) and present.between(0, 1).all() \
                    and present.max() > 0:
                values = values * 100.0
                notes.append(f"peer feature {feature}: the {label} values are fractions "
                             "(all between 0 and 1), read as percentages")
            out = values.rename(feature).to_frame() if out.empty else out.join(
                values.rename(feature), how="outer")
            sources[feature] = label
    if "list_size" not in out.columns or out["list_size"].isna().any():
        sizes = _list_sizes(store)
        if sizes is not None:
            if out.empty:
                out = sizes.to_frame()
            else:
                out = out.join(sizes.rename("_size"), how="outer")
                out["list_size"] = (out["list_size"].combine_first(out.pop("_size"))
                                    if "list_size" in out else out.pop("_size"))
            sources.setdefault("list_size", sizes.attrs.get("source", "list sizes"))
    out.index.name = "practice_code"
    out.attrs["sources"], out.attrs["notes"] = sources, notes
    for note in notes:
        warnings.warn(note, PeerWarning, stacklevel=2)
    return out


def _list_sizes(store) -> pd.Series | None:
    if store.has("registrations_total"):
        latest = _latest(store, "registrations_total")
        frame = store.read("registrations_total", period=latest)
        sizes = frame.set_index("practice_code")["patients"].astype("float64").rename("list_size")
        sizes.attrs["source"] = f"registrations_total {latest}"
        return sizes
    if store.has("qof_prevalence"):
        t = store.table("qof_prevalence")
        latest = _latest(store, "qof_prevalence")
        t = t.filter((t.period == latest) & (t.list_type == "TOTAL"))
        frame = t.group_by("practice_code").aggregate(list_size=t.list_size.max()).to_pandas()
        sizes = frame.set_index("practice_code")["list_size"].astype("float64")
        sizes.attrs["source"] = f"QOF {latest} TOTAL list size"
        return sizes
    return None


def unit_features(store, level: str, period: str | None = None,
                  practice: pd.DataFrame | None = None) -> pd.DataFrame:
    """Features per unit of ``level`` (index unit_code, plus unit_name): list size summed over
    practices, every other feature the list-size-weighted mean of its practices' values."""
    practice = practice_features(store, period) if practice is None else practice
    if level == "practice":
        out = practice.copy()
        out.index.name = "unit_code"
        return out
    units = lv.practice_units(store, level, period or features_period(store))
    joined = practice.join(units.set_index("practice_code"), how="inner")
    weight = joined["list_size"] if "list_size" in joined else pd.Series(1.0, index=joined.index)
    weight = weight.fillna(0.0)
    rows = {}
    names = joined.groupby("unit_code")["unit_name"].first()
    for column in practice.columns:
        x = pd.to_numeric(joined[column], errors="coerce")
        if column == "list_size":
            rows[column] = x.groupby(joined["unit_code"]).sum(min_count=1)
            continue
        ok = x.notna() & (weight > 0)
        num = (x.where(ok, 0.0) * weight.where(ok, 0.0)).groupby(joined["unit_code"]).sum()
        den = weight.where(ok, 0.0).groupby(joined["unit_code"]).sum()
        rows[column] = num / den.where(den > 0)
    out = pd.DataFrame(rows)
    out.insert(0, "unit_name", names)
    out.index.name = "unit_code"
    return out


def unit_groups(store, level: str, within: str, period: str | None) -> pd.Series:
    """unit_code -> the ``within`` area (icb, region) holding most of its practices' patients."""
    units = lv.practice_units(store, level, period) if level != "practice" else None
    areas = lv.practice_units(store, within, period).rename(columns={"unit_code": "area"})
    if units is None:
        return areas.set_index("practice_code")["area"]
    joined = units.merge(areas[["practice_code", "area"]], on="practice_code")
    sizes = practice_features(store, period).get("list_size")
    joined["w"] = joined["practice_code"].map(sizes).fillna(1.0) if sizes is not None else 1.0
    best = (joined.groupby(["unit_code", "area"])["w"].sum().reset_index()
            .sort_values(["unit_code", "w", "area"], ascending=[True, False, True])
            .drop_duplicates("unit_code"))
    return best.set_index("unit_code")["area"]


#: Levels peers are found at (the level registry's ``compare`` levels).
LEVELS = lv.levels_for("compare")


def build(store) -> dict[str, int]:
    """Build step: ``peers``, ``peer_features`` and ``peer_coverage`` (each feature's source and
    how far it is known) for PCNs (nationally and within their ICB) and practices (nationally),
    N = 10, the default features the store holds. compare.build adds
    ``peer_feature_fit`` and compares with the national peers."""
    period = features_period(store)
    practice = practice_features(store, period)
    options = default_options(practice)
    if options is None:
        return {}
    all_peers, all_contrib, all_coverage = [], [], []
    sources = practice.attrs.get("sources", {})
    for level in LEVELS:
        try:
            table = unit_features(store, level, period, practice)
        except LookupError as exc:  # e.g. no practice -> PCN mapping: build what can be built
            warnings.warn(f"no peers for the {level} level: {exc}", PeerWarning, stacklevel=2)
            continue
        if len(table) < 2:
            continue
        features = table.drop(columns="unit_name", errors="ignore")
        coverage = feature_coverage(features, options)
        coverage["source"] = coverage["feature"].map(sources)
        all_coverage.append(coverage.assign(level=level, period=period))
        for within in ("england", "icb") if level == "pcn" else ("england",):
            try:
                groups = (None if lv.get(within).kind == lv.ALL
                          else unit_groups(store, level, within, period))
            except LookupError:
                continue
            peers, contrib = nearest_peers(features, options, groups)
            meta = {"level": level, "period": period, "within": within}
            all_peers.append(peers.assign(**meta))
            all_contrib.append(contrib.assign(**meta))
    written = {}
    for name, parts in (("peers", all_peers), ("peer_features", all_contrib),
                        ("peer_coverage", all_coverage)):
        if parts:
            frame = pd.concat(parts, ignore_index=True)
            store.replace_table(name, frame)
            written[name] = len(frame)
    return written


def default_options(practice: pd.DataFrame, n: int = DEFAULT_N) -> PeerOptions | None:
    """The default features that the practice features actually hold (None if none)."""
    available = {f: w for f, w in DEFAULT_FEATURES.items()
                 if f in practice.columns and practice[f].notna().any()}
    return PeerOptions(n=n, features=available) if available else None
