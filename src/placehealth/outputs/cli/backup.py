"""``placehealth backup`` and ``placehealth restore``: the store, registers and accounts."""

from __future__ import annotations

from typing import Annotated

import typer

from placehealth.outputs.cli.common import DbOption, console


def backup(out: Annotated[str, typer.Option("--out", help="A new folder for the backup.")],
           db: DbOption = None) -> None:
    """Back up the store (every table, the registers' history) and its accounts file.

    Example: placehealth backup --out backups/2025-10-01
    """
    from placehealth.outputs.backup import backup as make
    made = make(db, out)
    console.print(f"backed up {len(made['tables'])} tables ({sum(made['tables'].values()):,} rows)"
                  f"{' and the accounts' if made['users'] else ''} into {out}")


def restore(folder: Annotated[str, typer.Argument(help="A folder placehealth backup wrote.")],
            db: DbOption = None) -> None:
    """Restore a backup into a NEW store (never over one), checking every table's rows.

    Example: placehealth restore backups/2025-10-01 --db restored.duckdb
    """
    from placehealth.outputs.backup import restore as load
    done = load(folder, db)
    console.print(f"restored {len(done['tables'])} tables into {done['store']}"
                  f"{' and the accounts into ' + done['users'] if done['users'] else ''}")


def register(app: typer.Typer) -> None:
    app.command()(backup)
    app.command()(restore)
