"""The ``placehealth`` command line (Typer + Rich).

Each command group lives in its own module and is registered in ``COMMAND_MODULES``; a module
exposes ``register(app)`` which adds its commands to the one Typer app.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from placehealth.outputs.cli.common import DbOption
from placehealth.sources.validate import InputError
from placehealth.store import ENV_DB

app = typer.Typer(
    name="placehealth",
    help="Find and close health inequalities in PCNs and their neighbourhoods.\n\n"
    "Example: placehealth demo && placehealth serve",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Modules whose ``register(app)`` adds commands, in the order they appear in --help.
COMMAND_MODULES = [
    "placehealth.outputs.cli.demo",
    "placehealth.outputs.cli.data",
    "placehealth.outputs.cli.export",
    "placehealth.outputs.cli.report",
    "placehealth.outputs.cli.serve",
    "placehealth.outputs.cli.profile",
    "placehealth.outputs.cli.measure",
    "placehealth.outputs.cli.compare",
    "placehealth.outputs.cli.need",
    "placehealth.outputs.cli.target",
    "placehealth.outputs.cli.partners",
    "placehealth.outputs.cli.evaluate",
    "placehealth.outputs.cli.intervention",
    "placehealth.outputs.cli.users",
    "placehealth.outputs.cli.backup",
]

#: The module of each command: ``placehealth export ...`` imports only that module, not the
#: charting, statistics and demo libraries the others need (1.6 CPU-seconds at every start).
#: A command not listed here registers every module, as ``placehealth --help`` does.
COMMANDS = {
    "demo": "placehealth.outputs.cli.demo",
    **dict.fromkeys(("ingest", "kinds", "tables", "show", "build"), "placehealth.outputs.cli.data"),
    "export": "placehealth.outputs.cli.export",
    "report": "placehealth.outputs.cli.report",
    "serve": "placehealth.outputs.cli.serve",
    **dict.fromkeys(("profile", "group"), "placehealth.outputs.cli.profile"),
    "measure": "placehealth.outputs.cli.measure",
    **dict.fromkeys(("compare", "peers"), "placehealth.outputs.cli.compare"),
    "need": "placehealth.outputs.cli.need",
    "target": "placehealth.outputs.cli.target",
    "partners": "placehealth.outputs.cli.partners",
    "evaluate": "placehealth.outputs.cli.evaluate",
    "intervention": "placehealth.outputs.cli.intervention",
    "users": "placehealth.outputs.cli.users",
    **dict.fromkeys(("backup", "restore"), "placehealth.outputs.cli.backup"),
}


@app.callback()
def _options(ctx: typer.Context, db: DbOption = None) -> None:
    """Options given before the command (``placehealth --db X need ...``) apply to it."""
    if db:  # a command's own --db, given after it, still wins
        before = os.environ.get(ENV_DB)
        os.environ[ENV_DB] = db
        ctx.call_on_close(lambda: _restore(before))


def _restore(before: str | None) -> None:
    """Put $PLACEHEALTH_DB back as it was once the command has run."""
    if before is None:
        os.environ.pop(ENV_DB, None)
    else:
        os.environ[ENV_DB] = before


def _register(command: str | None = None) -> None:
    """Add the commands: only ``command``'s module when it is known, else every module."""
    for name in [COMMANDS[command]] if command in COMMANDS else COMMAND_MODULES:
        importlib.import_module(name).register(app)


def main() -> None:
    """Entry point: run the app, turning input errors (a bad file, no store, nothing found, the
    store busy) into a clear message and exit code 2."""
    _register(sys.argv[1] if len(sys.argv) > 1 else None)
    try:
        app()
    except Exception as exc:
        if not isinstance(exc, (InputError, *_read_errors())):
            raise
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)


def _read_errors() -> tuple[type[Exception], ...]:
    """A missing store or unit and a busy store (``queries.NotFound``, ``StoreBusy``), when the
    command read through :mod:`placehealth.outputs.queries` (not imported at start: it brings
    disclosure control and scipy, half a second, to every command)."""
    queries = sys.modules.get("placehealth.outputs.queries")
    return (queries.NotFound, queries.StoreBusy) if queries else ()
