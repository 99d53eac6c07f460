"""Options and printing shared by every command."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from placehealth.sources.validate import InputError
from placehealth.store import NO_STORE_HINT, Store, resolve_db, store_exists

console = Console()
err = Console(stderr=True, soft_wrap=True)  # errors name files and rows: never broken mid-path

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Store: a DuckDB file or an Ibis URL (env PLACEHEALTH_DB; "
                 "default ./placehealth.duckdb).", envvar="PLACEHEALTH_DB"),
]
FormatOption = Annotated[
    str, typer.Option("--format", "-f", help="Output format: table, csv or json.")
]
DisclosureOption = Annotated[
    str | None,
    typer.Option("--disclosure", help="Disclosure rule: opensafely (default; env "
                 "PLACEHEALTH_DISCLOSURE) or nhs_england."),
]


def open_store(db: str | None, *, read_only: bool = False, existing: bool = False) -> Store:
    """The store at ``db``; a command that reads it (``read_only``, or ``existing``: one that
    derives from what is stored) is refused with a clear error when there is none there,
    instead of DuckDB's traceback or a new empty file."""
    location = resolve_db(db)
    if (read_only or existing) and not store_exists(location):
        raise InputError(location, f"no store here: {NO_STORE_HINT}")
    return Store(location, read_only=read_only)


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
    neighbouring characters each cost 1 (Damerau 1964, Levenshtein 1966), so ``U05743`` is one
    edit from ``U05734``."""
    previous2, previous = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
            if previous2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], previous2[j - 2] + 1)
        previous2, previous = previous, row
    return previous[-1]


def nearest(wanted: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The ``n`` known names fewest edits from a mistyped one (case-insensitive; ties in name
    order), at most a third of its length away (at least 2)."""
    target = wanted.strip().upper()
    limit = max(2, len(target) // 3)
    scored = sorted((edit_distance(target, str(k).upper()), str(k)) for k in set(known))
    return [name for distance, name in scored if distance <= limit][:n]


def unit_code(wanted: str, codes: Iterable[str], level: str, table: str) -> str:
    """A unit code as ``table`` spells it (codes are matched case-insensitively); an unknown
    code is an error suggesting the nearest codes."""
    by_upper = {str(c).upper(): str(c) for c in codes}
    hit = by_upper.get(wanted.strip().upper())
    if hit is not None:
        return hit
    near = nearest(wanted, by_upper.values())
    raise InputError(table, f"{level} {wanted!r} is not in the {table} table",
                     hint=(f"did you mean {', '.join(near)}? " if near else "")
                     + f"`placehealth show {table}` lists them all")


def indicator_name(wanted: str, known: Iterable[str]) -> str:
    """An indicator as given, or as displayed (``qof_dep`` for ``qof_dep_prevalence``); an
    unknown name is an error suggesting the nearest ones."""
    known = list(known)
    for name in (wanted, f"{wanted}_prevalence"):
        if name in known:
            return name
    shown = {k.removesuffix("_prevalence"): k for k in known}
    near = nearest(wanted, shown)
    raise InputError("--indicator", f"no indicator {wanted!r}",
                     hint=(f"did you mean {', '.join(near)}? " if near else "")
                     + f"known: {', '.join(sorted(shown))}")


def print_frame(frame: pd.DataFrame, fmt: str = "table", title: str | None = None) -> None:
    """Print a protected frame as a Rich table (numbers by the one formatter, ``[c]`` where
    suppressed), CSV (``[c]`` where suppressed, as exports) or JSON records (null where
    suppressed; ``suppressed_cells`` names them)."""
    from placehealth.outputs import format as numbers
    from placehealth.outputs.disclosure import SUPPRESSED, marked

    if fmt == "csv":
        marked(frame).to_csv(sys.stdout, index=False)
    elif fmt == "json":
        sys.stdout.write(frame.to_json(orient="records", indent=2, date_format="iso") + "\n")
    elif fmt == "table":
        text = numbers.text_frame(frame).drop(columns=[SUPPRESSED], errors="ignore")  # marks show
        table = Table(title=title, show_lines=False)
        for column in text.columns:
            table.add_column(str(column), overflow="fold")
        for row in text.itertuples(index=False):
            # escape: a suppressed cell's "[c]" is text, not Rich markup
            table.add_row(*(escape(str(v)) for v in row))
        console.print(table)
    else:
        raise typer.BadParameter(f"unknown format {fmt!r}: use table, csv or json")


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
