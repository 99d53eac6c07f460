"""The ``export`` command: any table to CSV, Excel or Parquet, through disclosure control."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from placehealth.outputs.cli.common import DbOption, console
from placehealth.outputs.export import FORMATS, export_table
from placehealth.outputs.queries import BadRequest, Data, NotFound, StoreBusy
from placehealth.sources.validate import InputError


def export(
    table: Annotated[str, typer.Argument(help="Table name (see `placehealth tables`).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write.")],
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="csv, xlsx or parquet "
                                            "(default: from the file's extension).")] = None,
    where: Annotated[list[str] | None, typer.Option("--where", help="column=value filter "
                                                    "(repeatable; a|b = either).")] = None,
    policy: Annotated[str | None, typer.Option("--disclosure", help="Disclosure rule: "
                                               "opensafely (default) or nhs_england.")] = None,
    db: DbOption = None,
) -> None:
    """Export a table after disclosure control (small counts suppressed and marked, others rounded).

    Example: placehealth export pcn_profile --format xlsx --out pcn_profile.xlsx
    """
    fmt = (fmt or out.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise typer.BadParameter(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
    filters = {}
    for pair in where or []:
        if "=" not in pair:
            raise typer.BadParameter(f"--where {pair!r}: expected column=value")
        column, value = pair.split("=", 1)
        filters[column.strip()] = value.strip()
    try:
        data = Data(db, policy)
        payload = export_table(data, table, fmt, out, filters)
    except (NotFound, BadRequest, StoreBusy, ValueError) as exc:
        raise InputError(table, str(exc).strip("'\"")) from None
    console.print(f"wrote {out} ({len(payload):,} bytes, {fmt}; disclosure {data.policy.name})")


def register(app: typer.Typer) -> None:
    app.command()(export)
