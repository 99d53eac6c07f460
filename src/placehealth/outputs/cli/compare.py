"""Comparison commands: how a PCN (or practice) compares with England, its ICB and its peers."""

from __future__ import annotations

import warnings
from typing import Annotated

import pandas as pd
import typer
from rich.markup import escape

from placehealth import levels
from placehealth.analyses.profile import PROFILE_TABLES
from placehealth.outputs import format as numbers
from placehealth.outputs.cli.common import (
    DbOption,
    DisclosureOption,
    FormatOption,
    err,
    indicator_name,
    print_frame,
    unit_code,
)
from placehealth.outputs.disclosure import SUPPRESSED, marked
from placehealth.outputs.queries import Data
from placehealth.sources.validate import InputError
from placehealth.store import Store

LEVELS = levels.levels_for("compare")


def _level(level: str) -> str:
    if level not in LEVELS:
        raise typer.BadParameter(f"level {level!r}: use one of {', '.join(LEVELS)}")
    return level


def compare(
    level: Annotated[str, typer.Argument(help="pcn or practice.")],
    unit: Annotated[str, typer.Argument(help="PCN code (U12345) or practice code (A81001).")],
    indicator: Annotated[list[str] | None, typer.Option(
        "--indicator", "-i", help="Indicator name (repeatable; default all).")] = None,
    against: Annotated[list[str] | None, typer.Option(
        "--against", "-a", help="peers, icb or england (repeatable; default all three).")] = None,
    period: Annotated[str | None, typer.Option(
        "--period", help="Period (default the latest of each indicator; 'all' for every one).")
    ] = None,
    fmt: FormatOption = "table",
    policy: DisclosureOption = None,
    db: DbOption = None,
) -> None:
    """Compare a PCN or practice on every indicator with England, its ICB and its peer group.

    The peer benchmark is the peers' mean with its 95% interval; ratings say whether the unit
    differs allowing for both its own and its peers' uncertainty (see docs/DATA.md, comparison).

    Example: placehealth compare pcn U12345 --against peers --format json
    """
    from placehealth.analyses.compare import AGAINST, unit_view
    from placehealth.levels import mapping_note

    _level(level)
    chosen = against or list(AGAINST)
    unknown = [a for a in chosen if a not in AGAINST]
    if unknown:
        raise typer.BadParameter(f"--against {unknown[0]!r}: use peers, icb or england")
    data = Data(db, policy)
    with data.session() as store:
        if not data.has("comparison"):
            raise InputError("comparison", "no comparison table in the store",
                             hint="run `placehealth build` after loading QOF or uptake files")
        if indicator:
            known = data.rows("comparison", latest=False, level=level)["indicator"].dropna().unique()
            indicator = [indicator_name(name, known) for name in indicator]
        # protected as every output reads it (the whole table at build), then the level's rows
        table = data.rows("comparison", latest=False, level=level,
                          **({"indicator": indicator} if indicator else {}))
        notes = {} if level == "practice" or table.empty else {  # which mapping placed practices
            p: mapping_note(store, p) for p in table["period"].unique()}
    if table.empty:
        raise InputError("comparison", f"no {level} rows" + (f" for indicator(s) "
                         f"{', '.join(indicator)}" if indicator else ""))
    table = marked(table)  # [c] in each suppressed cell, as every text output shows it
    unit = unit_code(unit, table["unit_code"], level, "comparison")
    names = table.loc[table["unit_code"] == unit, "unit_name"].dropna()
    out = unit_view(table, unit, chosen, period)
    name = names.iloc[0] if len(names) else unit
    print_frame(_readable(out) if fmt == "table" else out, fmt, title=f"{name} ({unit}) compared")
    for note in filter(None, (notes.get(p) for p in sorted(out["period"].unique()))):
        err.print(f"[yellow]note:[/] {escape(note)}")


def _interval(value: pd.Series, lower: pd.Series, upper: pd.Series) -> pd.Series:
    def one(v, lo, hi):
        if not all(isinstance(x, int | float) and pd.notna(x) for x in (v, lo, hi)):
            return "" if pd.isna(v) else str(v)
        return f"{numbers.number(v)} ({numbers.number(lo)}-{numbers.number(hi)})"

    return pd.Series([one(*t) for t in zip(value, lower, upper, strict=True)], index=value.index)


def _readable(out: pd.DataFrame) -> pd.DataFrame:
    """A narrow table for the terminal: values with their 95% intervals in one column each."""
    view = pd.DataFrame({"indicator": out["indicator"].str.replace("_prevalence", ""),
                         "period": out["period"],
                         "value (95% CI)": _interval(out["value"], out["lowercl"], out["uppercl"])})
    if "vs_england" in out:
        view["England"] = out["england_value"].map(numbers.cell)
        view["vs England"] = out["vs_england"]
    if "vs_icb" in out:
        view["ICB"] = out["icb_value"].map(numbers.cell)
        view["vs ICB"] = out["vs_icb"]
    if "vs_peers" in out:
        view["peers (95% CI)"] = _interval(out["peer_mean"], out["peer_lowercl"],
                                           out["peer_uppercl"])
        view["vs peers"] = out["vs_peers"]
    view["decile"] = out["national_decile"]
    view["trend"] = out["trend"]
    return view


def peers(
    level: Annotated[str, typer.Argument(help="pcn or practice.")],
    unit: Annotated[str, typer.Argument(help="PCN code (U12345) or practice code (A81001).")],
    n: Annotated[int, typer.Option("--n", help="How many peers.")] = 10,
    within: Annotated[str, typer.Option(
        "--within", help="Seek peers in the unit's icb, region, or all of england.")] = "england",
    features: Annotated[str | None, typer.Option(
        "--features", help="Features and optional weights, e.g. imd_score,pct_65_plus:2 "
        "(default: age structure, IMD score, % non-white, rurality, list size).")] = None,
    fmt: FormatOption = "table",
    policy: DisclosureOption = None,
    db: DbOption = None,
) -> None:
    """The N most similar PCNs (or practices) to a unit, and the features that make them alike.

    Features are winsorised (1st/99th percentile), list size logged, all standardised and
    combined in a weighted Euclidean distance (CIPFA nearest neighbours). ``alike_on`` lists the
    features contributing least to the distance, ``differs_on`` the one contributing most. With
    the default features the peer groups built by ``placehealth build`` are read (the ones pages
    and reports show); the values printed are the protected profile's, as every output shows them.

    Example: placehealth peers pcn U12345 --n 5 --within icb --features imd_score,pct_65_plus
    """
    _level(level)
    if within not in ("icb", "region", "england"):
        raise typer.BadParameter(f"--within {within!r}: use icb, region or england")
    data = Data(db, policy)
    with data.session() as store:
        found = _built_peers(data, level, unit, n, within) if features is None else None
        if found is None:
            found = _fresh_peers(store, level, unit, n, within, features)
        unit, mine, weights, features_of = found
        names = data.names(level)
        profile = data.rows(PROFILE_TABLES[level], unit_code=[unit, *mine["peer_code"]]) \
            if data.has(PROFILE_TABLES[level]) else pd.DataFrame()
    values = profile.drop_duplicates("unit_code").set_index("unit_code") if len(profile) else profile
    own = pd.DataFrame([{"rank": 0, "peer_code": unit, "distance": 0.0}])
    out = pd.concat([own, mine], ignore_index=True)
    out.insert(2, "peer_name", out["peer_code"].map(names))
    hidden = out["peer_code"].map(values.get(SUPPRESSED, {})).fillna("")
    hidden = hidden.map(lambda names: set(str(names).split(",")))
    out[SUPPRESSED] = ""
    for feature in weights:
        column = _PROFILE_COLUMN.get(feature, feature)
        if column in values:
            out[feature] = out["peer_code"].map(values[column])
            flag = hidden.map(lambda names, col=column: col in names)
            out.loc[flag, SUPPRESSED] = [",".join(x for x in (old, feature) if x)
                                         for old in out.loc[flag, SUPPRESSED]]
        elif feature in features_of:  # not in a profile (practice attributes): as loaded
            out[feature] = out["peer_code"].map(features_of[feature])
            if feature in _PROFILE_COLUMN:  # a count of people: rounded as counts are
                out[feature] = data.policy.round(out[feature])
    columns = ["rank", "peer_code", "peer_name", "distance", "alike_on", "differs_on", *weights,
               SUPPRESSED]
    print_frame(out[[c for c in columns if c in out]], fmt,
                title=f"peers of {level} {unit} (within {within}; row 0 = the unit itself)")


#: Peer features printed from another profile column (list size is the registered patients).
_PROFILE_COLUMN = {"list_size": "patients"}


def _alike(shares: pd.DataFrame) -> tuple[dict[str, str], dict[str, str]]:
    """Per peer: the features contributing least to its distance, and the one contributing most."""
    alike, differs = {}, {}
    for peer, part in shares.groupby("peer_code"):
        part = part.dropna(subset=["share"]).sort_values(["share", "feature"])  # known on both
        alike[peer] = ", ".join(part.loc[part["share"] < 1 / max(len(part), 1), "feature"])
        differs[peer] = part["feature"].iloc[-1] if len(part) else ""
    return alike, differs


def _built_peers(data: Data, level: str, unit: str, n: int, within: str):
    """The unit's peers from the built ``peers`` table, or None when it does not hold them."""
    if not data.has("peers"):
        return None
    rows = data.rows("peers", level=level, within=within)
    if rows.empty:
        return None
    unit = unit_code(unit, rows["unit_code"], level, "peers")
    mine = rows[rows["unit_code"] == unit].sort_values("rank")
    from placehealth.analyses.peers import DEFAULT_N

    if mine.empty or n > DEFAULT_N:
        return None  # the build made groups of DEFAULT_N (or all there are): more are found now
    mine = mine.head(n)[["rank", "peer_code", "distance"]].reset_index(drop=True)
    shares = data.rows("peer_features", level=level, within=within, unit_code=unit) \
        if data.has("peer_features") else pd.DataFrame(columns=["peer_code", "feature", "share"])
    alike, differs = _alike(shares)
    mine["alike_on"] = mine["peer_code"].map(alike)
    mine["differs_on"] = mine["peer_code"].map(differs)
    weights = list(dict.fromkeys(shares["feature"])) if "feature" in shares else []
    features_of = {}
    for feature, part in shares.groupby("feature"):
        features_of[feature] = {unit: part["unit_value"].iloc[0], **dict(zip(part["peer_code"],
                                                                              part["peer_value"], strict=True))}
    return unit, mine, weights, features_of


def _fresh_peers(store: Store, level: str, unit: str, n: int, within: str, features: str | None):
    """Peers found now (chosen features, or a group size the build did not make)."""
    from placehealth.analyses import peers as peer_groups

    try:
        weights = peer_groups.parse_features(features)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        period = peer_groups.features_period(store)
        practice = peer_groups.practice_features(store, period)
        if features is None:
            options = peer_groups.default_options(practice, n)
            if options is None:
                raise InputError("features", "no peer features in the store",
                                 hint="load registrations (for profiles) or practice attributes")
            weights = dict(options.features)
        table = peer_groups.unit_features(store, level, period, practice)
        unit = unit_code(unit, table.index.to_series(), level, "peer_features")
        groups = (None if within == "england"
                  else peer_groups.unit_groups(store, level, within, period))
        try:
            found, shares = peer_groups.nearest_peers(
                table.drop(columns="unit_name", errors="ignore"),
                peer_groups.PeerOptions(n=n, features=weights), groups)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    for note in dict.fromkeys(str(w.message) for w in said  # said once each, in words
                              if issubclass(w.category, UserWarning)):
        err.print(f"[yellow]note:[/] {escape(note)}")
    mine = found[found["unit_code"] == unit][["rank", "peer_code", "distance"]].reset_index(drop=True)
    alike, differs = _alike(shares[shares["unit_code"] == unit])
    mine["alike_on"] = mine["peer_code"].map(alike)
    mine["differs_on"] = mine["peer_code"].map(differs)
    features_of = {f: table[f].to_dict() for f in weights if f in table}
    return unit, mine, list(weights), features_of


def register(app: typer.Typer) -> None:
    app.command()(compare)
    app.command()(peers)
