"""Comparison commands: how a PCN (or practice) compares with England, its ICB and its peers."""

from __future__ import annotations

import warnings
from typing import Annotated

import pandas as pd
import typer
from rich.markup import escape

from placehealth import levels
from placehealth.outputs.cli.common import (
    DbOption,
    FormatOption,
    err,
    indicator_name,
    open_store,
    print_frame,
    unit_code,
)
from placehealth.sources.validate import InputError

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
    db: DbOption = None,
) -> None:
    """Compare a PCN or practice on every indicator with England, its ICB and its peer group.

    The peer benchmark is the peers' mean with its 95% interval; ratings say whether the unit
    differs allowing for both its own and its peers' uncertainty (see docs/DATA.md, comparison).

    Example: placehealth compare pcn U12345 --against peers --format json
    """
    from placehealth.analyses.compare import AGAINST, unit_view
    from placehealth.levels import mapping_note
    from placehealth.outputs.disclosure import protect_frame

    _level(level)
    chosen = against or list(AGAINST)
    unknown = [a for a in chosen if a not in AGAINST]
    if unknown:
        raise typer.BadParameter(f"--against {unknown[0]!r}: use peers, icb or england")
    with open_store(db, read_only=True) as store:
        if not store.has("comparison"):
            raise InputError("comparison", "no comparison table in the store",
                             hint="run `placehealth build` after loading QOF or uptake files")
        t = store.table("comparison")
        t = t.filter(t.level == level)
        if indicator:
            known = t.select("indicator").distinct().to_pandas()["indicator"].tolist()
            indicator = [indicator_name(name, known) for name in indicator]
            t = t.filter(t.indicator.isin(indicator))
        table = t.to_pandas()
        notes = {} if level == "practice" else {  # which mapping placed practices in PCNs
            p: mapping_note(store, p) for p in table["period"].unique()}
    if table.empty:
        raise InputError("comparison", f"no {level} rows" + (f" for indicator(s) "
                         f"{', '.join(indicator)}" if indicator else ""))
    table = protect_frame(table, "comparison")  # the whole table, then the unit's rows
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
        return f"{v:.1f} ({lo:.1f}-{hi:.1f})"

    return pd.Series([one(*t) for t in zip(value, lower, upper, strict=True)], index=value.index)


def _readable(out: pd.DataFrame) -> pd.DataFrame:
    """A narrow table for the terminal: values with their 95% intervals in one column each."""
    view = pd.DataFrame({"indicator": out["indicator"].str.replace("_prevalence", ""),
                         "period": out["period"],
                         "value (95% CI)": _interval(out["value"], out["lowercl"], out["uppercl"])})
    if "vs_england" in out:
        view["England"] = out["england_value"].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
        view["vs England"] = out["vs_england"]
    if "vs_icb" in out:
        view["ICB"] = out["icb_value"].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
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
    db: DbOption = None,
) -> None:
    """The N most similar PCNs (or practices) to a unit, and the features that make them alike.

    Features are winsorised (1st/99th percentile), list size logged, all standardised and
    combined in a weighted Euclidean distance (CIPFA nearest neighbours). ``alike_on`` lists the
    features contributing least to the distance, ``differs_on`` the one contributing most.

    Example: placehealth peers pcn U12345 --n 5 --within icb --features imd_score,pct_65_plus
    """
    from placehealth.analyses import peers as peer_groups

    _level(level)
    if within not in ("icb", "region", "england"):
        raise typer.BadParameter(f"--within {within!r}: use icb, region or england")
    try:
        weights = peer_groups.parse_features(features)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    with open_store(db, read_only=True) as store, warnings.catch_warnings(record=True) as said:
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
    mine = found[found["unit_code"] == unit].copy()
    mine_shares = shares[shares["unit_code"] == unit]
    names = table["unit_name"] if "unit_name" in table else pd.Series(dtype=object)
    mine["peer_name"] = mine["peer_code"].map(names)
    alike, differs = {}, {}
    for peer, part in mine_shares.groupby("peer_code"):
        part = part.dropna(subset=["share"]).sort_values(["share", "feature"])  # known on both
        alike[peer] = ", ".join(part.loc[part["share"] < 1 / max(len(part), 1), "feature"])
        differs[peer] = part["feature"].iloc[-1] if len(part) else ""
    mine["alike_on"] = mine["peer_code"].map(alike)
    mine["differs_on"] = mine["peer_code"].map(differs)
    for feature in weights:
        mine[feature] = mine["peer_code"].map(table[feature])
    own = table.loc[[unit], list(weights)].assign(rank=0, peer_code=unit, distance=0.0,
                                                 peer_name=names.get(unit, unit))
    out = pd.concat([own.reset_index(drop=True),
                     mine.drop(columns="unit_code").reset_index(drop=True)], ignore_index=True)
    columns = ["rank", "peer_code", "peer_name", "distance", "alike_on", "differs_on",
               *weights]
    print_frame(out[[c for c in columns if c in out]], fmt,
                title=f"peers of {level} {unit} (within {within}; row 0 = the unit itself)")


def register(app: typer.Typer) -> None:
    app.command()(compare)
    app.command()(peers)
