"""``placehealth intervention add|list|delete``: the intervention register (table
``interventions``; ``sources/interventions.py``). Entries are recorded with the time they were
made and never overwritten, so the register shows what was planned before results were seen."""

from __future__ import annotations

import hashlib
from typing import Annotated

import pandas as pd
import typer

from placehealth.outputs.cli.common import (
    DbOption,
    FormatOption,
    console,
    err,
    open_store,
    print_frame,
)
from placehealth.sources.base import ReadResult
from placehealth.sources.interventions import PUBLICATION, current, deletion, entries
from placehealth.sources.validate import InputError

app = typer.Typer(help="The intervention register: what was done, where, when, and which "
                  "indicators it aims to move (placehealth evaluate intervention NAME).",
                  no_args_is_help=True)


def _store_rows(db: str | None, rows: pd.DataFrame, what: str) -> None:
    digest = hashlib.sha256(rows.to_csv(index=False).encode()).hexdigest()
    with open_store(db) as store:
        store.ingest([ReadResult("interventions", PUBLICATION, rows["recorded_at"].iloc[0][:10],
                                 {"interventions": rows}, file_name=what, sha256=digest)])


def _history(db: str | None) -> pd.DataFrame:
    with open_store(db) as store:
        return store.read("interventions") if store.has("interventions") else pd.DataFrame()


@app.command("add")
def add(name: Annotated[str, typer.Argument(help="A short name without spaces (e.g. bp-checks-2023).")],
        level: Annotated[str, typer.Option(help="pcn, practice, group or lsoa.")],
        units: Annotated[str, typer.Option(help="Unit codes separated by ';' (a PCN, practices, "
                                           "the group's name, or LSOAs).")],
        start: Annotated[str, typer.Option(help="First period (2023-04, 2023Q2, 2023-24).")],
        indicators: Annotated[str, typer.Option(help="Aims: indicator:up or indicator:down, "
                                                "separated by ';'.")],
        end: Annotated[str | None, typer.Option(help="Last period, if it has ended.")] = None,
        description: Annotated[str, typer.Option(help="What was done.")] = "",
        db: DbOption = None) -> None:
    """Record an intervention (a new entry, or a change to one: the old entry stays in the history).

    Example: placehealth intervention add bp-checks --level pcn --units U90001 --start 2023Q2 --indicators qof_hyp_prevalence:up
    """
    try:
        rows = entries([{"name": name, "description": description, "level": level,
                         "unit_codes": units, "start": start, "end": end or "",
                         "indicators": indicators}], "placehealth intervention add")
    except InputError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    history = _history(db)
    changed = not history.empty and name in set(current(history)["name"])
    _store_rows(db, rows, f"intervention add {name}")
    console.print(f"{'changed' if changed else 'recorded'} {name} at {rows['recorded_at'].iloc[0]}")


@app.command("list")
def list_(history: Annotated[bool, typer.Option("--history", help="Every entry ever made, "
                                                 "deletions and changes included.")] = False,
          fmt: FormatOption = "table", db: DbOption = None) -> None:
    """The register: each intervention's latest entry (or, with --history, every entry).

    Example: placehealth intervention list --format csv
    """
    rows = _history(db)
    shown = rows if history else current(rows)
    if shown.empty:
        err.print("no interventions recorded (placehealth intervention add, or ingest a register "
                  "with --as interventions)")
        return
    columns = ["name", "status", "level", "unit_codes", "start", "end", "indicators",
               "recorded_at", "description"]
    print_frame(shown.sort_values(["name", "recorded_at"])[columns].reset_index(drop=True), fmt,
                title="Intervention register")


@app.command("delete")
def delete(name: Annotated[str, typer.Argument(help="The intervention's name.")],
           db: DbOption = None) -> None:
    """Take an intervention off the register (its history is kept).

    Example: placehealth intervention delete bp-checks
    """
    register = current(_history(db))
    if name not in set(register["name"]):
        known = ", ".join(register["name"]) or "none"
        err.print(f"[red]error:[/] no intervention {name!r} on the register (recorded: {known})")
        raise typer.Exit(2)
    rows = deletion(register.set_index("name", drop=False).loc[name])
    _store_rows(db, rows, f"intervention delete {name}")
    console.print(f"deleted {name} (its history stays: placehealth intervention list --history)")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="intervention")
