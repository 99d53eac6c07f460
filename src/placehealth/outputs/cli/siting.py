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

from placehealth.outputs.cli.common import DbOption, console, err, open_store, print_frame
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
          min_core20_share: float | None, time_limit: float | None,
          must_cover: np.ndarray | None = None):
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
            return siting.lscp(problem, radius, fixed=fixed, must_cover=must_cover,
                               time_limit=time_limit)
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
    if not result.chosen:
        raise typer.Exit(1)


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
    if not s["chosen"]:
        return f"{result.objective}: no sites chosen; {s['message']}"
    proof = "proven optimal" if s["optimal"] else f"not proven optimal (gap {s['mip_gap']:.2%})"
    if result.objective == "pmedian":
        what = f"need-weighted distance {_number(s['weighted_distance'], 0)}"
    else:
        share = "" if s["covered_share"] is None else f" ({s['covered_share']:.1%})"
        what = (f"covers {_number(s['covered_weight'])} of {_number(s['total_weight'])} "
                f"need{share}")
    equity = (f"; Core20 share of covered need {s['core20_share']:.1%}"
              if s["core20_share"] is not None else "")
    return (f"{result.objective}: {len(s['chosen'])} site(s), {what}{equity}; HiGHS status "
            f"{s['status']}, {proof}; {s['solve_seconds']:.2f} s"
            + (f"; {s['message']}" if s["message"] else ""))


def _number(value: float | None, digits: int = 1) -> str:
    return "[c]" if value is None else f"{value:,.{digits}f}"


def _print_table(result, title: str, stream) -> None:
    from rich.console import Console

    from placehealth.outputs.disclosure import marked

    target = console if stream is sys.stdout else Console(file=stream, width=120)
    if not result.chosen:
        target.print(_headline(result), markup=False)
        return
    sites = marked(result.sites).drop(columns=["suppressed_cells"], errors="ignore").rename(
        columns={"gain": "distance added if closed" if result.objective == "pmedian"
                 else "need added", "need_added": "need added",
                 "distance_added": "distance added if closed",
                 "assigned_weight": "need served", "need_served": "need served",
                 "assigned_points": "points served"})
    if stream is sys.stdout:
        print_frame(sites, "table", title=title)
    else:
        sites.to_string(stream, index=False)
        stream.write("\n")
    target.print(_headline(result), markup=False)
    a = marked(result.assignments)
    weight = "need" if "need" in a else "weight"
    uncovered = a[~a["covered"].astype(bool)]
    if result.objective != "pmedian" and len(uncovered):
        shown = uncovered[uncovered[weight].map(lambda v: not isinstance(v, str))]
        top = shown.loc[pd.to_numeric(shown[weight]).sort_values(ascending=False).index[:10]]
        listed = ", ".join(f"{r[0]} ({r[1]:,.1f})"
                           for r in top[[top.columns[0], weight]].itertuples(index=False))
        target.print(f"{len(uncovered)} demand point(s) out of reach"
                     + (f"; most need: {listed}" if listed else ""), markup=False)
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


@site_app.command("pcn")
def pcn(
    pcn_code: Annotated[str, typer.Argument(help="PCN ODS code, e.g. U12345.")],
    objective: ObjectiveOption = "mclp",
    p: POption = 5,
    radius: RadiusOption = 2000.0,
    kind: Annotated[list[str] | None, typer.Option(
        "--kind", help="Candidate kinds (repeatable or comma separated), e.g. pharmacy, "
        "practice, community_centre; default every partner and practice.")] = None,
    min_capacity: Annotated[float | None, typer.Option(
        "--min-capacity", help="Only candidates with at least this capacity (sessions a "
        "week).")] = None,
    condition: Annotated[str | None, typer.Option(
        "--condition", help="Need from one QOF register (e.g. HYP) instead of all.")] = None,
    cover: Annotated[str, typer.Option(
        "--cover", help="lscp: which neighbourhoods must be within reach: high-need (Core20, or "
        "need per 1,000 patients in the place's top fifth) or all.")] = "high-need",
    fixed: FixedOption = None,
    min_core20_share: EquityOption = None,
    time_limit: TimeOption = None,
    db: DbOption = None,
    fmt: FormatOption = "table",
    out: OutOption = None,
) -> None:
    """Site outreach for a PCN: its neighbourhoods' missing patients as need, partners' venues
    and practices as candidates (see docs/DATA.md, siting).

    Example: placehealth target site pcn U12345 --objective mclp --p 3 --radius 1500 --kind pharmacy
    """
    from placehealth.analyses.siting import SitingProblem
    from placehealth.outputs.disclosure import explanation

    _check_format(fmt)
    with open_store(db, read_only=True) as store:
        demand, candidates, need_label = pcn_inputs(store, pcn_code.strip().upper(), kind,
                                                    min_capacity, condition, radius)
    fixed_ids = _fixed(fixed, candidates["site_id"], "the candidate venues")
    problem = SitingProblem(demand["lsoa_code"].to_numpy(), demand["need"].to_numpy(),
                            candidates["site_id"].to_numpy(),
                            demand[["easting", "northing"]].to_numpy(),
                            candidates[["easting", "northing"]].to_numpy(),
                            core20=demand["core20"].to_numpy())
    if cover not in ("high-need", "all"):
        raise typer.BadParameter(f"{cover!r}: use high-need or all", param_hint="--cover")
    must = demand["high_need"].to_numpy() if cover == "high-need" else None
    if objective == "lscp" and must is not None and not must.any():
        raise InputError(pcn_code, "no high-need neighbourhood in the PCN's footprint",
                         hint="use --cover all")
    result = solve(problem, objective, p, radius, fixed_ids, min_core20_share, time_limit, must)
    protected = protect_result(result, demand, candidates)
    extra = {"pcn_code": pcn_code.strip().upper(), "need": need_label,
             "candidates": len(candidates),
             "candidate_kinds": sorted(candidates["kind"].dropna().unique().tolist()),
             "disclosure": explanation()}
    emit(protected, fmt, out, title=f"{pcn_code.upper()}: {objective}, p = {result.p}, "
         f"reach {radius:g} m — need: {need_label}", extra=extra)
    if fmt == "table" and not out:
        console.print(extra["disclosure"], style="dim", markup=False)


def pcn_inputs(store, pcn_code: str, kinds: list[str] | None, min_capacity: float | None,
               condition: str | None, radius: float):
    """(demand: the PCN's footprint LSOAs with need, points and Core20 flags; candidates:
    partners and practices within ``radius`` of one of them; a label for the need)."""
    from scipy.spatial import cKDTree

    from placehealth.analyses import reach

    try:
        place = reach.read_place(store)
    except LookupError as exc:
        raise InputError(store.location, str(exc)) from None
    members = reach.pcn_members(store, place.lsoas, place.need_measure)
    members = members[members["area_code"] == pcn_code]
    if members.empty:
        known = sorted(reach.pcn_members(store, place.lsoas, place.need_measure)["area_code"]
                       .unique())
        raise InputError(pcn_code, f"no PCN {pcn_code!r} with a footprint in the store",
                         hint=f"known: {', '.join(known[:12])}{' ...' if len(known) > 12 else ''}"
                         if known else "run `placehealth build` after loading registrations")
    label = ("missing patients (all QOF registers)" if place.need_measure == "missing"
             else "patients in Core20 neighbourhoods (no prevalence gaps built)")
    if condition:
        members = members.drop(columns=["need"]).merge(
            _condition_need(store, pcn_code, condition.upper()), on="lsoa_code", how="left")
        members["need"] = members["need"].fillna(0.0)
        label = f"missing patients ({condition.upper()})"
    lsoas = reach.need_of(place.lsoas, place.need_measure).set_index("lsoa_code")
    demand = members.assign(
        high_need=members["lsoa_code"].map(lsoas["high_need"]).fillna(False).astype(bool),
        easting=members["lsoa_code"].map(lsoas["easting"]),
        northing=members["lsoa_code"].map(lsoas["northing"]),
        core20=members["lsoa_code"].map(lsoas["core20"]).fillna(False).astype(bool),
        lsoa_name=members["lsoa_code"].map(lsoas["lsoa_name"]))
    unplaced = demand["easting"].isna()
    if unplaced.all():
        raise InputError(store.location, f"no point for any LSOA of {pcn_code}",
                         hint="load LSOA label points, boundaries or a postcode lookup")
    demand = demand[~unplaced].reset_index(drop=True)
    if not (demand["need"] > 0).any():
        raise InputError(pcn_code, f"no need to site for: {label} are 0 in every neighbourhood "
                         f"of {pcn_code}", hint="recorded registers meet or exceed expected ones"
                         "; try another --condition" if condition else None)
    candidates = place.partners[place.partners["easting"].notna()].copy()
    if "register" not in candidates:
        candidates["register"] = None
    candidates["register"] = candidates["register"].fillna("practices")
    wanted = [k.strip() for text in (kinds or []) for k in text.split(",") if k.strip()]
    if wanted:
        present = set(candidates["kind"].dropna())
        unknown = [k for k in wanted if k not in present]
        if unknown:
            raise InputError("--kind", f"no candidates of kind {', '.join(unknown)}",
                             hint=f"kinds in the store: {', '.join(sorted(present))}")
        candidates = candidates[candidates["kind"].isin(wanted)]
    if min_capacity is not None:
        candidates = candidates[candidates["capacity"].fillna(-np.inf) >= min_capacity] \
            if "capacity" in candidates else candidates.iloc[0:0]
    if len(candidates):
        near = cKDTree(demand[["easting", "northing"]].to_numpy()).query(
            candidates[["easting", "northing"]].to_numpy(), k=1)[0] <= radius
        candidates = candidates[near]
    if candidates.empty:
        raise InputError(pcn_code, f"no candidate venue within {radius:g} m of {pcn_code}'s "
                         "neighbourhoods", hint="widen --radius, change --kind or load partners")
    ids = candidates["partner_id"].astype(str)
    twice = ids.duplicated(keep=False)
    candidates["site_id"] = ids.where(~twice, candidates["register"].astype(str) + ":" + ids)
    candidates = candidates.drop_duplicates("site_id").reset_index(drop=True)
    return demand, candidates, label


def _condition_need(store, pcn_code: str, condition: str) -> pd.DataFrame:
    from placehealth.analyses import reach

    period = reach.latest(store, "prevalence_gap_lsoa")
    if period is None:
        raise InputError(store.location, "--condition needs prevalence gaps: run "
                         "`placehealth build` after loading QOF prevalence")
    t = store.table("prevalence_gap_lsoa")
    rows = (t.filter((t.period == period) & (t.level == "pcn") & (t.area_code == pcn_code)
                     & (t.group_code == condition)).to_pandas())
    if rows.empty:
        groups = sorted(store.read("prevalence_gap_lsoa", period=period)["group_code"].unique())
        raise InputError("--condition", f"no {condition} gaps for {pcn_code} in {period}",
                         hint=f"registers: {', '.join(groups)}")
    rows = rows[rows["missing"] > 0]
    return rows.groupby("lsoa_code", as_index=False).agg(need=("missing", "sum"))


def protect_result(result, demand: pd.DataFrame, candidates: pd.DataFrame):
    """The result with disclosure control: each LSOA's need and each site's need (counts of
    estimated people) protected as counts, headline totals rounded, shares from rounded totals."""
    from dataclasses import replace

    from placehealth.outputs.disclosure import get_policy, protect

    policy = get_policy()
    names = candidates.set_index("site_id")
    sites = result.sites.assign(name=result.sites["site_id"].map(names["name"]),
                                kind=result.sites["site_id"].map(names["kind"]))
    sites = sites.rename(columns={"gain": "need_added" if result.objective != "pmedian"
                                  else "distance_added", "assigned_weight": "need_served"})
    sites = protect(sites, "siting_sites")
    lsoa = demand.set_index("lsoa_code")
    a = result.assignments.rename(columns={"demand_id": "lsoa_code", "weight": "need"})
    a.insert(1, "lsoa_name", a["lsoa_code"].map(lsoa["lsoa_name"]))
    a = protect(a, "siting_lsoa")

    def rounded(value: float) -> float | None:
        if value is None or not math.isfinite(value):
            return None
        series = pd.Series([value])
        return None if policy.is_small(series).iloc[0] else float(policy.round(series).iloc[0])

    covered = rounded(result.covered_weight)
    total = rounded(result.total_weight)
    core_covered = None
    if result.core20_share is not None:
        core_covered = rounded(result.core20_share * result.covered_weight)
    weighted = result.weighted_distance
    return replace(
        result, sites=sites, assignments=a, covered_weight=covered, total_weight=total,
        core20_share=(core_covered / covered if core_covered is not None and covered else None),
        weighted_distance=float(f"{weighted:.3g}") if math.isfinite(weighted) else weighted,
        objective_value=(covered if result.objective == "mclp" else result.objective_value
                         if result.objective == "lscp" else float(f"{weighted:.3g}")),
        # the solver's bound is in units of need too: as coarse as the figure it bounds
        bound=(rounded(result.bound) if result.objective == "mclp" else result.bound
               if result.objective == "lscp" else float(f"{result.bound:.3g}")
               if math.isfinite(result.bound) else result.bound))
