"""``placehealth evaluate``: did it work? SPC, interrupted time series, difference-in-differences
and synthetic control on any panel CSV (``evaluate spc|its|did|synth``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from placehealth.outputs.cli.common import DbOption, console, err
from placehealth.outputs.evaluation import EvaluationError, evaluate, flat

app = typer.Typer(help="Did it work? Evaluate a change over time: SPC charts, interrupted time "
                  "series, difference-in-differences, synthetic control.", no_args_is_help=True)

Input = Annotated[Path, typer.Option("--input", "-i", help="Panel CSV: one row per unit and period.")]
Time = Annotated[str, typer.Option("--time", help="Period column (numbers, dates, 2023-04, 2023Q2).")]
Outcome = Annotated[str, typer.Option("--outcome", help="Outcome column (a value or a count).")]
Unit = Annotated[str | None, typer.Option("--unit", help="Unit column (e.g. PCN code); "
                                          "without it the file is one series.")]
FirstTreated = Annotated[str | None, typer.Option(
    "--first-treated", help="Column with each unit's first treated period (empty/0/never = "
    "never treated).")]
Treated = Annotated[str | None, typer.Option("--treated", help="Column marking treated units "
                                             "(1/true/yes); needs --start.")]
Start = Annotated[str | None, typer.Option("--start", help="First period of the intervention.")]
Offset = Annotated[str | None, typer.Option("--offset", help="Population column: counts become "
                                            "rates (its: the Poisson offset).")]
Family = Annotated[str, typer.Option("--family", help="gaussian, or poisson for counts (its).")]
Format = Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")]
Out = Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of the terminal.")]


def _run(method: str, input: Path, options: dict[str, Any], fmt: str, out: Path | None) -> None:
    if fmt not in ("table", "csv", "json"):
        raise typer.BadParameter(f"unknown format {fmt!r}: use table, csv or json",
                                 param_hint="--format")
    if not input.exists():
        err.print(f"[red]error:[/] {input}: no such file")
        raise typer.Exit(2)
    try:
        frame = pd.read_csv(input, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        err.print(f"[red]error:[/] {input}: not a readable CSV ({exc})")
        raise typer.Exit(2) from None
    for column in frame.columns:  # numbers as numbers, everything else kept as written
        converted = pd.to_numeric(frame[column], errors="coerce")
        if converted.notna().sum() == frame[column].notna().sum():
            frame[column] = converted
    try:
        result = evaluate(method, frame, source=str(input), **options)
    except EvaluationError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    for note in result["notes"]:
        err.print(f"[yellow]note:[/] {note}")
    if fmt == "json":
        text = json.dumps(result, indent=2, default=str) + "\n"
    elif fmt == "csv":
        text = flat(result).to_csv(index=False)
    else:
        _print_table(result, out)
        return
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
        err.print(f"{method} results written to {out}")


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)


def _print_table(result: dict[str, Any], out: Path | None) -> None:
    if result["method"] == "spc":  # one line per series; every point is in --format csv/json
        frame = pd.DataFrame([{k: s[k] for k in ("unit", "centre", "lower", "upper", "variation",
                                                   "assurance", "warning")}
                              | {"flagged": len(s["flagged"]), "latest": s["points"][-1]["period"]}
                              for s in result["series"]])
    else:
        frame = flat(result)
    table = Table(title=_headline(result))
    for column in frame.columns:
        table.add_column(str(column), overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*(_number(v) for v in row))
    if out is None:
        console.print(table)
    else:
        with out.open("w") as handle:
            from rich.console import Console

            Console(file=handle, width=160).print(table)
        err.print(f"{result['method']} results written to {out}")


def _headline(result: dict[str, Any]) -> str:
    """One line saying the answer, with its uncertainty."""
    method = result["method"]
    if method == "spc":
        flagged = sum(1 for s in result["series"] if s["flagged"])
        return f"SPC (XmR) of {result['outcome']}: {len(result['series'])} series, {flagged} with special causes"
    if method == "its" and "level_change" in result:
        lc = result["level_change"]
        return (f"ITS: level change {_number(lc['estimate'])} (95% {_number(lc['lower'])} to "
                f"{_number(lc['upper'])}, p = {_number(lc['p_value'])})")
    if method in ("did", "synth") and result.get("estimate") is not None:
        extra = (f"; pre-trend test p = {_number(result['pretrend']['p_value'])}" if method == "did"
                 else f"; pre-period RMSPE {_number(result['pre_rmspe'])}")
        return (f"{method}: effect {_number(result['estimate'])} (95% {_number(result['lower'])} to "
                f"{_number(result['upper'])}, p = {_number(result['p_value'])}){extra}")
    return f"{method}: {result['outcome']}"


@app.command("spc")
def spc_command(input: Input, time: Time, outcome: Outcome, unit: Unit = None,
                first_treated: FirstTreated = None, treated: Treated = None, start: Start = None,
                offset: Offset = None, family: Family = "gaussian", format: Format = "table",
                out: Out = None,
                baseline: Annotated[int | None, typer.Option(help="Limits from the first N points "
                                                            "of each phase.")] = None,
                target: Annotated[float | None, typer.Option(help="Target for the assurance icon.")] = None,
                improvement: Annotated[str | None, typer.Option(help="up or down: which way is better.")] = None,
                screen: Annotated[bool, typer.Option(
                    "--screen/--no-screen", help="Leave out moving ranges above 3.267 x their "
                    "mean when setting the limits.")] = False,
                ) -> None:
    """XmR charts (Making Data Count): centre line, limits at the mean +/- 2.66 mean moving
    ranges, special-cause points; limits recalculated from each unit's start.

    Example: placehealth evaluate spc --input panel.csv --time month --outcome rate --unit pcn --first-treated started
    """
    _run("spc", input, dict(time=time, outcome=outcome, unit=unit, first_treated=first_treated,
                            treated=treated, start=start, offset=offset, family=family,
                            baseline=baseline, target=target, improvement=improvement,
                            screen=screen), format, out)


@app.command("its")
def its_command(input: Input, time: Time, outcome: Outcome, unit: Unit = None,
                first_treated: FirstTreated = None, treated: Treated = None, start: Start = None,
                offset: Offset = None, family: Family = "gaussian", format: Format = "table",
                out: Out = None) -> None:
    """Interrupted time series: level and slope change with seasonality and Newey-West errors
    (Poisson with a population offset for counts: rate ratios), and the counterfactual line.

    Example: placehealth evaluate its --input series.csv --time month --outcome admissions --offset population --family poisson --start 2023-04
    """
    _run("its", input, dict(time=time, outcome=outcome, unit=unit, first_treated=first_treated,
                            treated=treated, start=start, offset=offset, family=family), format, out)


@app.command("did")
def did_command(input: Input, time: Time, outcome: Outcome, unit: Unit = None,
                first_treated: FirstTreated = None, treated: Treated = None, start: Start = None,
                offset: Offset = None, family: Family = "gaussian", format: Format = "table",
                out: Out = None,
                draws: Annotated[int, typer.Option(help="Bootstrap draws (or permutations).")] = 999,
                inference: Annotated[str, typer.Option(
                    help="auto (permutation below 20 treated units, else bootstrap), bootstrap "
                    "(wild, clustered by unit) or permutation.")] = "auto",
                match: Annotated[int, typer.Option(help="Keep the N never-treated units nearest each "
                                                   "treated unit on pre-period level and trend (0: all).")] = 0,
                seed: Annotated[int, typer.Option(help="Random seed.")] = 1) -> None:
    """Difference-in-differences (Callaway & Sant'Anna group-time effects against never-treated
    units; simple, group and event-time aggregations; pre-trend test).

    Example: placehealth evaluate did --input panel.csv --time month --outcome rate --unit pcn --first-treated started
    """
    _run("did", input, dict(time=time, outcome=outcome, unit=unit, first_treated=first_treated,
                            treated=treated, start=start, offset=offset, family=family,
                            draws=draws, inference=inference, match=match, seed=seed), format, out)


@app.command("synth")
def synth_command(input: Input, time: Time, outcome: Outcome, unit: Unit = None,
                  first_treated: FirstTreated = None, treated: Treated = None, start: Start = None,
                  offset: Offset = None, family: Family = "gaussian", format: Format = "table",
                  out: Out = None) -> None:
    """Synthetic control: donor weights, pre-period RMSPE, placebo-in-space p-value and limits,
    placebo-in-time check.

    Example: placehealth evaluate synth --input panel.csv --time month --outcome rate --unit pcn --treated pilot --start 2023-04
    """
    _run("synth", input, dict(time=time, outcome=outcome, unit=unit, first_treated=first_treated,
                              treated=treated, start=start, offset=offset, family=family), format, out)


@app.command("intervention")
def intervention_command(
        name: Annotated[str, typer.Argument(help="A registered intervention "
                                            "(placehealth intervention list).")],
        indicator: Annotated[str | None, typer.Option(
            "--indicator", help="One of the indicators it aims at (default: the first).")] = None,
        format: Format = "table", out: Out = None, db: DbOption = None,
        draws: Annotated[int, typer.Option(help="Bootstrap draws (or permutations).")] = 999,
        seed: Annotated[int, typer.Option(help="Random seed.")] = 1) -> None:
    """Did a registered intervention work? Its indicator's series from the store: SPC with limits
    recalculated at the start, ITS on the treated units, DiD against peers (or units matched on
    the pre-period) and synthetic control; the answer in plain words with its checks.

    Example: placehealth evaluate intervention bp-outreach --format json --out bp.json
    """
    from placehealth.outputs.impact import InterventionError, evaluate_intervention
    from placehealth.outputs.impact import flat as impact_flat
    from placehealth.outputs.queries import Data

    if format not in ("table", "csv", "json"):
        raise typer.BadParameter(f"unknown format {format!r}: use table, csv or json",
                                 param_hint="--format")
    try:
        result = evaluate_intervention(Data(db), name, indicator, draws=draws, seed=seed)
    except InterventionError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    for method in ("spc", "its", "did", "synth"):
        for note in result[method].get("notes", []):
            err.print(f"[yellow]note ({method}):[/] {note}")
        if "not_run" in result[method]:
            err.print(f"[yellow]{method} not run:[/] {result[method]['not_run']}")
    if format == "json":
        text = json.dumps(result, indent=2, default=str) + "\n"
    elif format == "csv":
        text = impact_flat(result).to_csv(index=False)
    else:
        text = _impact_text(result, impact_flat(result))
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
        err.print(f"{name}: results written to {out}")


def _impact_text(result: dict[str, Any], frame: pd.DataFrame) -> str:
    """The answer, a table of the estimates, and the checks with what they mean, as text."""
    from io import StringIO

    from rich.console import Console

    estimates = frame[~frame["method"].str.startswith("check:") & (frame["method"] != "answer")]
    table = Table(title=f"Did {result['intervention']['name']} work? ({result['indicator']}, "
                  f"intended {result['intended_direction']})")
    for column in ("method", "estimate", "lower", "upper", "p_value", "note"):
        table.add_column(column, overflow="fold")
    for row in estimates.itertuples(index=False):
        table.add_row(*(_number(getattr(row, c)) for c in ("method", "estimate", "lower",
                                                            "upper", "p_value", "note")))
    buffer = StringIO()
    console_out = Console(file=buffer, width=120)
    console_out.print(result["answer"]["words"], markup=False)
    console_out.print(f"Comparators: {result['comparators_chosen_by']}.", markup=False)
    console_out.print(table)
    for check in result["checks"]:
        console_out.print(f"- {check['check']}: {check['meaning']}", markup=False)
    return buffer.getvalue()


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="evaluate")
