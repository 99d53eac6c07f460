"""Options and printing shared by every command."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from placehealth.store import Store

console = Console()
err = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Store: a DuckDB file or an Ibis URL (env PLACEHEALTH_DB; "
                 "default ./placehealth.duckdb).", envvar="PLACEHEALTH_DB"),
]
FormatOption = Annotated[
    str, typer.Option("--format", "-f", help="Output format: table, csv or json.")
]


def open_store(db: str | None, *, read_only: bool = False) -> Store:
    return Store(db, read_only=read_only)


def print_frame(frame: pd.DataFrame, fmt: str = "table", title: str | None = None) -> None:
    """Print a frame as a Rich table, CSV or JSON records."""
    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        sys.stdout.write(frame.to_json(orient="records", indent=2, date_format="iso") + "\n")
    elif fmt == "table":
        table = Table(title=title, show_lines=False)
        for column in frame.columns:
            table.add_column(str(column), overflow="fold")
        for row in frame.itertuples(index=False):
            # escape: a suppressed cell's "[c]" is text, not Rich markup
            table.add_row(*("" if pd.isna(v) else escape(_fmt(v)) for v in row))
        console.print(table)
    else:
        raise typer.BadParameter(f"unknown format {fmt!r}: use table, csv or json")


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)
