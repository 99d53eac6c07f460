"""``placehealth target site``: where to run p outreach sessions to reach the most need.

Generic form, on an analyst's own files (``--demand``, ``--sites``, optional ``--distances``);
``placehealth target site pcn CODE`` takes need and candidates from the store. Both solve with
:mod:`placehealth.analyses.siting` and print the same report.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from placehealth.outputs.cli.common import console, err, print_frame
from placehealth.sources.validate import InputError

site_app = typer.Typer(help="Outreach siting: maximal covering, set covering or p-median.")

ObjectiveOption = Annotated[str | None, typer.Option(
    "--objective", help="mclp (most need within reach of p sites), lscp (fewest sites reaching "
    "every demand point) or pmedian (least need-weighted distance).")]
POption = Annotated[int, typer.Option("--p", help="Number of sites, fixed ones included "
                                      "(mclp, pmedian).")]
RadiusOption = Annotated[float, typer.Option(
    "--radius", help="Reach: metres (straight line), or cost units with --distances.")]
FixedOption = Annotated[str | None, typer.Option(
    "--fixed", help="Site ids always chosen (existing sites), comma separated.")]
EquityOption = Annotated[float | None, typer.Option(
    "--min-core20-share", help="mclp: at least this share (0-1) of the covered need in Core20 "
    "neighbourhoods (demand needs a core20 column).")]
TimeOption = Annotated[float | None, typer.Option(
    "--time-limit", help="Stop the solver after this many seconds (the gap is reported).")]
OutOption = Annotated[Path | None, typer.Option("--out", help="Write the output to this file.")]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="table, csv (one row per "
                                           "demand point) or json.")]


@site_app.callback(invoke_without_command=True)
def site(
    ctx: typer.Context,
    demand: Annotated[Path | None, typer.Option(
        "--demand", help="CSV of demand points: id,x,y,weight (British National Grid metres; "
        "optional core20 1/0).")] = None,
    sites: Annotated[Path | None, typer.Option(
        "--sites", help="CSV of candidate sites: id,x,y.")] = None,
    objective: ObjectiveOption = None,
    p: POption = 5,
    radius: RadiusOption = 2000.0,
    distances: Annotated[Path | None, typer.Option(
        "--distances", help="CSV of costs demand_id,site_id,cost (e.g. travel minutes); pairs "
        "not listed are unreachable. Default: straight-line metres.")] = None,
    fixed: FixedOption = None,
    min_core20_share: EquityOption = None,
    time_limit: TimeOption = None,
    fmt: FormatOption = "table",
    out: OutOption = None,
) -> None:
    """Choose outreach sites among candidates, solved to proven optimality (HiGHS).

    Example: placehealth target site --demand need.csv --sites venues.csv --objective mclp --p 5 --radius 2000 --format json
    """
    if ctx.invoked_subcommand is not None:
        return
    if demand is None and sites is None and objective is None:
        console.print(ctx.get_help())
        raise typer.Exit(0)
    for name, value in (("--demand", demand), ("--sites", sites), ("--objective", objective)):
        if value is None:
            raise typer.BadParameter(f"{name} is required", param_hint=name)
    from placehealth.analyses.siting import SitingProblem
    from placehealth.sources.siting import read_costs, read_demand, read_sites

    _check_format(fmt)
    points = read_demand(demand)
    candidates = read_sites(sites)
    costs = None
    if distances is not None:
        listed = read_costs(distances, points["id"], candidates["id"], demand.name, sites.name)
        d_pos = pd.Series(np.arange(len(points)), index=points["id"].to_numpy())
        s_pos = pd.Series(np.arange(len(candidates)), index=candidates["id"].to_numpy())
        costs = (d_pos[listed["demand_id"]].to_numpy(), s_pos[listed["site_id"]].to_numpy(),
                 listed["cost"].to_numpy())
    fixed_ids = _fixed(fixed, candidates["id"], sites.name)
    core20 = points["core20"].to_numpy() if "core20" in points else None
    if min_core20_share is not None and core20 is None:
        raise InputError(demand.name, "--min-core20-share needs a core20 column (1 in Core20 "
                         "neighbourhoods, 0 elsewhere)", line=1, field="core20")
    problem = SitingProblem(points["id"].to_numpy(), points["weight"].to_numpy(),
                            candidates["id"].to_numpy(),
                            points[["x", "y"]].to_numpy(), candidates[["x", "y"]].to_numpy(),
                            costs=costs, core20=core20)
    result = solve(problem, objective, p, radius, fixed_ids, min_core20_share, time_limit)
    emit(result, fmt, out, title=f"{objective} on {demand.name} and {sites.name}")


def solve(problem, objective: str, p: int, radius: float, fixed: list[str],
          min_core20_share: float | None, time_limit: float | None):
    """Run one model; a problem that cannot be posed is a clear error, not a traceback."""
    from placehealth.analyses import siting

    if objective not in siting.OBJECTIVES:
        raise typer.BadParameter(f"{objective!r}: use one of {', '.join(siting.OBJECTIVES)}",
                                 param_hint="--objective")
    if radius <= 0 or not math.isfinite(radius):
        raise typer.BadParameter(f"{radius}: give a positive reach", param_hint="--radius")
    if min_core20_share is not None and objective != "mclp":
        raise typer.BadParameter("the Core20 equity constraint applies to mclp only",
                                 param_hint="--min-core20-share")
    try:
        if objective == "mclp":
            return siting.mclp(problem, p, radius, fixed=fixed, min_core20_share=min_core20_share,
                               time_limit=time_limit)
        if objective == "lscp":
            return siting.lscp(problem, radius, fixed=fixed, time_limit=time_limit)
        return siting.pmedian(problem, p, fixed=fixed, radius=radius, time_limit=time_limit)
    except siting.SitingError as exc:
        err.print(f"error: {exc}", style="red", markup=False)
        raise typer.Exit(2) from None


def emit(result, fmt: str, out: Path | None, title: str, extra: dict | None = None) -> None:
    """Print (or write to ``out``) a siting result as a table, CSV or JSON."""
    _check_format(fmt)
    stream = open(out, "w", encoding="utf-8", newline="") if out else sys.stdout  # noqa: SIM115
    try:
        if fmt == "json":
            stream.write(json.dumps(as_json(result, extra), indent=2) + "\n")
        elif fmt == "csv":
            result.assignments.to_csv(stream, index=False)
        else:
            _print_table(result, title, stream)
    finally:
        if out:
            stream.close()
    if out or fmt != "table":
        err.print(_headline(result), markup=False)
        if out:
            err.print(f"wrote {out}", markup=False)


def as_json(result, extra: dict | None = None) -> dict:
    """The result as JSON: the summary, the chosen sites and each demand point's site."""
    def records(frame: pd.DataFrame) -> list[dict]:
        clean = frame.astype(object).where(frame.notna(), None)
        rows = clean.to_dict("records")
        for row in rows:
            for key, value in row.items():
                if isinstance(value, float) and not math.isfinite(value):
                    row[key] = None
                elif isinstance(value, np.generic):
                    row[key] = value.item()
        return rows

    return {**(extra or {}), **result.summary(), "sites": records(result.sites),
            "assignments": records(result.assignments)}


def _headline(result) -> str:
    s = result.summary()
    proof = "proven optimal" if s["optimal"] else f"not proven optimal (gap {s['mip_gap']:.2%})"
    if result.objective == "pmedian":
        what = f"need-weighted distance {s['weighted_distance']:,.0f}"
    else:
        share = s["covered_share"] or 0.0
        what = f"covers {s['covered_weight']:,.1f} of {s['total_weight']:,.1f} need ({share:.1%})"
    equity = (f"; Core20 share of covered need {s['core20_share']:.1%}"
              if s["core20_share"] is not None else "")
    return (f"{result.objective}: {len(s['chosen'])} site(s), {what}{equity}; HiGHS status "
            f"{s['status']}, {proof}; {s['solve_seconds']:.2f} s"
            + (f"; {s['message']}" if s["message"] else ""))


def _print_table(result, title: str, stream) -> None:
    from rich.console import Console

    target = console if stream is sys.stdout else Console(file=stream, width=120)
    sites = result.sites.rename(columns={
        "gain": "distance added if closed" if result.objective == "pmedian" else "need added",
        "assigned_weight": "need served", "assigned_points": "points served"})
    if stream is sys.stdout:
        print_frame(sites, "table", title=title)
    else:
        sites.to_string(stream, index=False)
        stream.write("\n")
    target.print(_headline(result), markup=False)
    uncovered = result.assignments[~result.assignments["covered"]]
    if result.objective != "pmedian" and len(uncovered):
        top = uncovered.sort_values("weight", ascending=False).head(10)
        target.print("Most need out of reach: " + ", ".join(
            f"{r.demand_id} ({r.weight:,.1f})" for r in top.itertuples()), markup=False)
    target.print("Each demand point's site: --format csv or json.", style="dim", markup=False)


def _fixed(text: str | None, site_ids: pd.Series, sites_file: str) -> list[str]:
    if not text:
        return []
    ids = [t.strip() for t in text.split(",") if t.strip()]
    known = set(site_ids)
    unknown = [t for t in ids if t not in known]
    if unknown:
        raise InputError(sites_file, f"--fixed names site(s) not in the file: "
                         f"{', '.join(unknown)}", field="id")
    return list(dict.fromkeys(ids))


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "csv", "json"):
        raise typer.BadParameter(f"unknown format {fmt!r}: use table, csv or json",
                                 param_hint="--format")
