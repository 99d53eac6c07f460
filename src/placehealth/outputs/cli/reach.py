"""``placehealth target reach``: how much of an area's need partners reach, and where they do not.

``placehealth target reach pcn CODE`` (or ``la CODE``) prints, per kind of partner, the area's
need, the share within reach, and the high-need neighbourhoods no partner reaches; the distances
and times are those of :mod:`placehealth.analyses.reach`. Stored tables (built at the default
2,000 m / 15 minutes) answer at once; other thresholds, a date or a mode recompute.
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer

from placehealth.outputs.cli.common import DbOption, FormatOption, console, open_store, print_frame
from placehealth.outputs.disclosure import marked, protect
from placehealth.outputs.targeting import kind_title
from placehealth.sources.validate import InputError

reach_app = typer.Typer(help="Reach of need: distance from need to partners, per PCN or council.")

LEVELS = {"pcn": "PCN", "la": "local authority"}
SUMMARY_LABELS = {"kind": "Partners", "lsoas": "LSOAs", "need": "Need", "need_reached": "Reached",
                  "need_reached_pct": "% reached", "high_need_lsoas": "High-need LSOAs",
                  "high_need_unreached": "High need, unreached"}
UNREACHED_LABELS = {"lsoa_code": "LSOA", "lsoa_name": "Name", "need": "Need",
                    "need_per_1000": "Per 1,000", "core20": "Core20",
                    "nearest_name": "Nearest partner", "distance_m": "Metres"}


def area_reach(db: str | None, level: str, code: str, within: float | None, minutes: float | None,
               as_of: str | None, mode: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the area's rows of ``reach_area``, its LSOA rows of ``reach_lsoa``), both protected."""
    from placehealth.analyses import reach

    if level not in LEVELS:
        raise InputError(level, f"unknown level {level!r}; use pcn or la")
    with open_store(db, read_only=True) as store:
        stored = store.has("reach_area") and store.has("reach_lsoa")
        if stored and within is None and minutes is None and as_of is None and mode is None:
            areas, rows = store.read("reach_area"), store.read("reach_lsoa")
        else:
            try:
                tables = reach.compute(store, within or reach.WITHIN_M,
                                       minutes or reach.WITHIN_MINUTES, as_of, mode)
            except (LookupError, ValueError) as exc:
                raise InputError(store.location, str(exc)) from None
            areas, rows = tables["reach_area"], tables["reach_lsoa"]
    areas, rows = protect(areas, "reach_area"), protect(rows, "reach_lsoa")
    code = code.upper()
    mine = areas[(areas["level"] == level) & (areas["area_code"] == code)]
    if mine.empty:
        known = sorted(areas.loc[areas["level"] == level, "area_code"].unique())
        raise InputError(code, f"no {LEVELS[level]} {code!r} in the reach tables",
                         hint=f"known: {', '.join(known[:12])}{' ...' if len(known) > 12 else ''}")
    return mine, rows


@reach_app.callback(invoke_without_command=True)
def overview(ctx: typer.Context) -> None:
    """Reach of need: `placehealth target reach pcn CODE` or `... la CODE`."""
    if ctx.invoked_subcommand is None:
        console.print(ctx.get_help())


def _show(level: str, code: str, within: float | None, minutes: float | None, as_of: str | None,
          mode: str | None, top: int, fmt: str, db: str | None) -> None:
    areas, rows = area_reach(db, level, code, within, minutes, as_of, mode)
    summary = areas.sort_values("need_reached_pct", na_position="last")[
        ["kind", "lsoas", "need", "need_reached", "need_reached_pct", "high_need_lsoas",
         "high_need_unreached", "within_m", "within_minutes", "suppressed_cells"]]
    if level == "la":
        in_area = rows[rows["la_code"] == code.upper()]
    else:
        with open_store(db, read_only=True) as store:
            footprint = store.read("pcn_lsoa", pcn_code=code.upper()) if store.has(
                "pcn_lsoa") else pd.DataFrame(columns=["lsoa_code"])
        if "in_footprint_95" in footprint:
            footprint = footprint[footprint["in_footprint_95"].fillna(False).astype(bool)]
        in_area = rows[rows["lsoa_code"].isin(set(footprint["lsoa_code"]))]
    unreached = in_area[(in_area["kind"] == "any_partner") & in_area["high_need"]
                        & ~in_area["reached"].astype(bool)]
    unreached = unreached.sort_values("need", ascending=False, na_position="last")[
        ["lsoa_code", "lsoa_name", "need", "need_per_1000", "core20", "nearest_name",
         "distance_m", "suppressed_cells"]]
    count = len(unreached)
    if top:
        unreached = unreached.head(top)
    if fmt == "json":
        import json
        import sys
        payload = {"level": level, "code": code.upper(),
                   "by_kind": json.loads(summary.to_json(orient="records")),
                   "high_need_unreached": json.loads(unreached.to_json(orient="records"))}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    if fmt == "csv":
        print_frame(marked(summary), "csv")
        return
    name = areas["area_name"].dropna()
    title = f"{LEVELS[level]} {code.upper()}" + (f" {name.iloc[0]}" if len(name) else "")
    first = areas.iloc[0]
    limits = f"within {first['within_m']:,.0f} m or {first['within_minutes']:,.0f} minutes"
    table = summary.drop(columns=["within_m", "within_minutes"]).assign(
        kind=summary["kind"].map(kind_title),
        need_reached_pct=summary["need_reached_pct"].round(0)).rename(columns=SUMMARY_LABELS)
    print_frame(marked(table).drop(columns=["suppressed_cells"]), "table",
                title=f"Reach of need, {limits}: {title}")
    shown = f" ({len(unreached)} with most need shown)" if len(unreached) < count else ""
    console.print(f"High-need neighbourhoods no partner reaches: {count}{shown}")
    if len(unreached):
        print_frame(marked(unreached.rename(columns=UNREACHED_LABELS)).drop(
            columns=["suppressed_cells"]), "table")


WithinOption = Annotated[float | None, typer.Option(
    "--within", help="Reach in metres, straight line on the National Grid (default 2000).")]
MinutesOption = Annotated[float | None, typer.Option(
    "--minutes", help="Reach in travel minutes when a matrix is loaded (default 15).")]
AsOfOption = Annotated[str | None, typer.Option(
    "--as-of", help="Partners open on this date (YYYY-MM or YYYY-MM-DD; default: latest).")]
ModeOption = Annotated[str | None, typer.Option(
    "--mode", help="Travel-time mode (pt, walk, cycle, car; default pt, then walk).")]
TopOption = Annotated[int, typer.Option("--top", help="Unreached neighbourhoods listed (0 = all).")]


@reach_app.command("pcn")
def reach_pcn(code: Annotated[str, typer.Argument(help="PCN code, e.g. U05734.")],
              within: WithinOption = None, minutes: MinutesOption = None, as_of: AsOfOption = None,
              mode: ModeOption = None, top: TopOption = 10, fmt: FormatOption = "table",
              db: DbOption = None) -> None:
    """A PCN's need within reach of each kind of partner; high-need neighbourhoods unreached.

    Example: placehealth target reach pcn U05734 --within 1500
    """
    _show("pcn", code, within, minutes, as_of, mode, top, fmt, db)


@reach_app.command("la")
def reach_la(code: Annotated[str, typer.Argument(help="Local authority code, e.g. E06000021.")],
             within: WithinOption = None, minutes: MinutesOption = None, as_of: AsOfOption = None,
             mode: ModeOption = None, top: TopOption = 10, fmt: FormatOption = "table",
             db: DbOption = None) -> None:
    """A council's need within reach of each kind of partner; high-need neighbourhoods unreached.

    Example: placehealth target reach la E06000021
    """
    _show("la", code, within, minutes, as_of, mode, top, fmt, db)


__all__ = ["area_reach", "reach_app"]
