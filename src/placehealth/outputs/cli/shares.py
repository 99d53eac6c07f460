"""``placehealth target shares``: a budget, staff hours or sessions split fairly, beside actuals.

``placehealth target shares pcn --total 120`` splits 120 (sessions, hours, pounds) across the
PCNs in proportion to the chosen weight (:mod:`placehealth.analyses.shares`); ``practice --pcn
CODE`` across a PCN's practices; ``lsoa --pcn CODE`` or ``--la CODE`` across neighbourhoods. With
``--actual FILE`` (or a loaded allocation, ``--resource NAME``) each unit's actual amount and the
gap are set beside its fair share. Every number leaves through disclosure control.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from placehealth.outputs.cli.common import DbOption, FormatOption, open_store, print_frame
from placehealth.outputs.disclosure import marked, protect
from placehealth.sources import ReadOptions, read_file
from placehealth.sources.validate import InputError, read_table, resolve_columns, to_numbers


def custom_weights(path: Path, column: str) -> pd.DataFrame:
    """unit_code, weight from a user's CSV (the unit code column and ``column``)."""
    from placehealth.sources.validate import open_source

    source = open_source(path)
    raw = read_table(source)
    frame = resolve_columns(raw, {"unit_code": ["unit_code", "code", "pcn_code", "practice_code",
                                                "lsoa_code"], "weight": [column]},
                            layout="a weights file")
    weight = to_numbers(frame, "weight", allow_missing=False)
    negative = weight < 0
    if negative.any():
        line = int(negative[negative].index[0])
        raise InputError(source.name, f"weight {weight[line]} is negative", line=line,
                         field=column)
    return pd.DataFrame({"unit_code": frame["unit_code"].astype(str).str.strip().str.upper(),
                         "weight": weight.to_numpy()})


def shares_for(db: str | None, level: str, total: float, weight_by: str, gradient: float,
               unit: float, pcn: str | None, la: str | None, weights_file: Path | None,
               column: str | None, actual_file: Path | None, resource: str | None
               ) -> pd.DataFrame:
    """The protected fair-share table the command prints."""
    from placehealth.analyses import shares

    with open_store(db, read_only=True) as store:
        try:
            if weight_by == "custom":
                if weights_file is None or column is None:
                    raise InputError("--weight custom", "needs --weights FILE and --column NAME")
                units = shares.profile_units(store, level)[["unit_code", "unit_name"]]
                units = units.merge(custom_weights(weights_file, column), on="unit_code",
                                    how="inner")
            else:
                units = shares.weights(store, level, weight_by, gradient)
            if pcn:
                pcn = pcn.upper()
                if level == "practice":
                    keep = shares.practices_of(store, pcn)
                elif level == "lsoa":
                    keep = set(store.read("pcn_lsoa", pcn_code=pcn)["lsoa_code"]) if store.has(
                        "pcn_lsoa") else set()
                else:
                    keep = {pcn}
                units = units[units["unit_code"].isin(keep)]
            if la:
                if level != "lsoa":
                    raise InputError("--la", "--la chooses neighbourhoods: use it with lsoa")
                t = store.table("geography_lookup")
                codes = t.filter((t.level == "lad") & (t.area_code == la.upper())).to_pandas()
                units = units[units["unit_code"].isin(set(codes["lsoa_code"]))]
            actual = None
            if actual_file is not None:
                result = read_file(actual_file, "allocations", ReadOptions(period="given"))
                rows = result.tables["allocations"]
                rows = rows[rows["level"] == level]
                actual = dict(zip(rows["unit_code"], rows["amount"], strict=True))
            elif resource:
                actual = shares.actual_amounts(store, resource, level)
            if units.empty:
                raise InputError(level, "no units to share between (check --pcn / --la)")
            table = shares.fair_shares(units.reset_index(drop=True), total, unit, actual)
        except (LookupError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(store.location, str(exc)) from None
    table = table.assign(scope=pcn or la or "all", level=level, resource=resource or "total",
                         weight_by=weight_by)[shares.COLUMNS]
    return protect(table, "fair_shares")


def shares_command(
    level: Annotated[str, typer.Argument(help="pcn, practice or lsoa.")],
    total: Annotated[float, typer.Option("--total", help="What to share: sessions, hours, "
                                         "pounds.")],
    weight_by: Annotated[str, typer.Option(
        "--weight", help="population, need_weighted, missing or custom.")] = "need_weighted",
    gradient: Annotated[float, typer.Option(
        "--gradient", help="need_weighted: extra weight of the most deprived decile (1 = "
        "counts double the least deprived).")] = 1.0,
    unit: Annotated[float, typer.Option("--unit", help="Shares are whole numbers of this.")] = 1.0,
    pcn: Annotated[str | None, typer.Option("--pcn", help="Only this PCN's practices or "
                                            "neighbourhoods.")] = None,
    la: Annotated[str | None, typer.Option("--la", help="Only this council's neighbourhoods "
                                           "(lsoa).")] = None,
    weights_file: Annotated[Path | None, typer.Option(
        "--weights", help="custom: CSV with unit_code and the weight column.")] = None,
    column: Annotated[str | None, typer.Option("--column", help="custom: the weight column.")] = None,
    actual: Annotated[Path | None, typer.Option(
        "--actual", help="CSV of actual allocations: level, unit_code, amount.")] = None,
    resource: Annotated[str | None, typer.Option(
        "--resource", help="A loaded allocation (ingest --as allocations) to compare with.")] = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """Fair shares: split a total across PCNs, practices or neighbourhoods in proportion to
    need (largest remainder: whole units adding up exactly), beside actual allocations.

    Example: placehealth target shares practice --pcn U05734 --total 40 --weight need_weighted
    """
    table = shares_for(db, level, total, weight_by, gradient, unit, pcn, la, weights_file,
                       column, actual, resource)
    table = table.sort_values("fair_share", ascending=False, na_position="last")
    shown = table.drop(columns=["scope", "level", "resource", "total"])
    if fmt == "json":
        sys.stdout.write(json.dumps({"level": level, "total": total, "weight": weight_by,
                                     "gradient": gradient, "unit": unit,
                                     "shares": json.loads(shown.to_json(orient="records"))},
                                    indent=2) + "\n")
        return
    if shown["actual"].isna().all():
        shown = shown.drop(columns=["actual", "gap"])
    print_frame(marked(shown.drop(columns=["suppressed_cells"]) if fmt == "table" else shown),
                fmt, title=f"Fair shares of {total:g} by {weight_by} ({level})")


__all__ = ["shares_command", "shares_for"]
