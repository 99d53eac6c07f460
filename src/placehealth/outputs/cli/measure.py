"""``placehealth measure``: run one statistic from placehealth.measures on a CSV file."""

from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from placehealth import measures
from placehealth.outputs.cli.common import err

#: Command-line kind -> (function, the column options it takes, the other options it takes).
KINDS: dict[str, tuple[object, tuple[str, ...], tuple[str, ...]]] = {
    "proportion": (measures.proportion, ("x", "n"), ("multiplier",)),
    "rate": (measures.rate, ("x", "n"), ("multiplier",)),
    "mean": (measures.mean, ("x",), ()),
    "dsr": (measures.dsr, ("x", "n", "ageband", "stdpop"), ("multiplier", "suppress_below")),
    "isr": (measures.isr, ("x", "n", "x_ref", "n_ref", "ref_rate", "ageband"),
            ("multiplier", "ref_crude_rate")),
    "smr": (measures.smr, ("x", "n", "x_ref", "n_ref", "ref_rate", "ageband"), ("multiplier",)),
    "sii": (measures.sii, ("quantile", "population", "value", "se", "lower_cl", "upper_cl"),
            ("value_type", "transform", "repetitions", "rii", "reliability_stat", "multiplier",
             "seed")),
    "concentration-index": (measures.concentration_index, ("quantile", "population", "value"), ()),
    "quantile-gap": (measures.quantile_gap, ("quantile", "value", "se", "lower_cl", "upper_cl"), ()),
    "funnel-limits": (measures.funnel_limits, ("x", "n"),
                      ("statistic", "multiplier", "target", "overdispersion", "points")),
    "funnel-significance": (measures.funnel_significance, ("x", "n"),
                            ("statistic", "multiplier", "target", "overdispersion")),
    "compare-to-benchmark": (measures.compare_to_benchmark, ("lower_cl", "upper_cl"),
                             ("benchmark", "polarity")),
}

Column = Annotated[str | None, typer.Option(help="Column name.", show_default=False)]


def measure(
    kind: Annotated[str, typer.Argument(metavar="KIND", help=f"The statistic: {', '.join(KINDS)}.")],
    input: Annotated[Path, typer.Option("--input", "-i", help="CSV file, one row per unit (or "
                                        "unit x age band / quantile).")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="CSV to write (default: "
                                                "standard output).")] = None,
    group_by: Annotated[str | None, typer.Option(help="Group columns, comma separated.")] = None,
    confidence: Annotated[list[float] | None, typer.Option(
        help="Confidence level, 0.95 or 95; repeat for two (0.95 and 0.998).")] = None,
    multiplier: Annotated[float | None, typer.Option(help="Scale: 1, 100, 100000 ...")] = None,
    x: Column = None,
    n: Column = None,
    ageband: Column = None,
    stdpop: Annotated[str | None, typer.Option(help="Column with the standard population "
                                               "(default ESP 2013).")] = None,
    x_ref: Column = None,
    n_ref: Column = None,
    ref_rate: Column = None,
    ref_crude_rate: Annotated[float | None, typer.Option(help="isr with --ref-rate.")] = None,
    suppress_below: Annotated[int | None, typer.Option(help="dsr: suppress totals below this "
                                                       "(default 10; 0 keeps all).")] = None,
    quantile: Column = None,
    population: Column = None,
    value: Column = None,
    se: Column = None,
    lower_cl: Column = None,
    upper_cl: Column = None,
    value_type: Annotated[int | None, typer.Option(help="sii: 0 other, 1 rate, 2 proportion.")] = None,
    transform: Annotated[bool | None, typer.Option("--transform/--no-transform",
                                                   help="sii: fit on the working scale.")] = None,
    repetitions: Annotated[int | None, typer.Option(help="sii: Monte Carlo repetitions.")] = None,
    rii: Annotated[bool | None, typer.Option("--rii/--no-rii", help="sii: add the RII.")] = None,
    reliability_stat: Annotated[bool | None, typer.Option("--reliability/--no-reliability",
                                                          help="sii: reliability columns.")] = None,
    seed: Annotated[int | None, typer.Option(help="sii: random seed.")] = None,
    statistic: Annotated[str | None, typer.Option(help="funnels: proportion, ratio or rate.")] = None,
    target: Annotated[float | None, typer.Option(help="funnels: target value (per unit).")] = None,
    overdispersion: Annotated[str | None, typer.Option(help="funnels: multiplicative or additive.")] = None,
    points: Annotated[int | None, typer.Option(help="funnel-limits: points along the axis.")] = None,
    benchmark: Annotated[str | None, typer.Option(help="compare-to-benchmark: a number or a column.")] = None,
    polarity: Annotated[str | None, typer.Option(help="high_is_good or low_is_good.")] = None,
) -> None:
    """Compute a statistic with confidence limits from a CSV and write the results as CSV.

    Example: placehealth measure proportion --input screening.csv --x screened --n eligible --group-by pcn_code --confidence 0.95 --confidence 0.998 --multiplier 100
    """
    if kind not in KINDS:
        raise typer.BadParameter(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}",
                                 param_hint="KIND")
    function, column_names, option_names = KINDS[kind]
    given = dict(locals())
    kwargs: dict[str, object] = {}
    for name in (*column_names, *option_names):
        if given.get(name) is not None:
            kwargs[name] = given[name]
    if "benchmark" in kwargs:
        with contextlib.suppress(ValueError):  # else a column name
            kwargs["benchmark"] = float(kwargs["benchmark"])  # type: ignore[arg-type]
    if kwargs.get("suppress_below") == 0:
        kwargs["suppress_below"] = None
    unused = [f"--{name.replace('_', '-')}" for name in
              ("x", "n", "ageband", "stdpop", "x_ref", "n_ref", "ref_rate", "ref_crude_rate",
               "suppress_below", "quantile", "population", "value", "se", "lower_cl", "upper_cl",
               "value_type", "transform", "repetitions", "rii", "reliability_stat", "seed",
               "statistic", "target", "overdispersion", "points", "benchmark", "polarity",
               "multiplier")
              if given.get(name) is not None and name not in (*column_names, *option_names)]
    if unused:
        raise typer.BadParameter(f"{', '.join(unused)} not used by {kind}")
    if kind != "compare-to-benchmark":
        if group_by:
            kwargs["group_by"] = [c.strip() for c in group_by.split(",") if c.strip()]
        if confidence:
            kwargs["confidence"] = confidence if len(confidence) > 1 else confidence[0]
    elif group_by or confidence:
        raise typer.BadParameter("--group-by and --confidence are not used by compare-to-benchmark")
    if not input.exists():
        raise typer.BadParameter(f"{input}: no such file", param_hint="--input")
    frame = pd.read_csv(input)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = function(frame, **kwargs)  # type: ignore[operator]
    except (ValueError, TypeError) as exc:
        err.print(f"[red]error:[/] {input}: {exc}")
        raise typer.Exit(2) from None
    for warning in caught:
        err.print(f"[yellow]warning:[/] {warning.message}")
    if output is None:
        result.to_csv(sys.stdout, index=False)
    else:
        result.to_csv(output, index=False)
        err.print(f"{len(result):,} rows written to {output}")


def register(app: typer.Typer) -> None:
    app.command()(measure)
