"""``placehealth users add|list|disable``: the web app's accounts (see :mod:`..accounts`)."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer

from placehealth.outputs.accounts import ROLES, Accounts, users_path
from placehealth.outputs.cli.common import DbOption, FormatOption, console, print_frame

users_app = typer.Typer(help="Accounts of the web app (sign-in, roles).", no_args_is_help=True)


@users_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="The user name they sign in with.")],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLES[1:])}.")] = "analyst",
    organisation: Annotated[str | None, typer.Option(
        "--organisation", help="A partner's register (the rows they may see and edit).")] = None,
    password: Annotated[str, typer.Option("--password", prompt=True, hide_input=True,
                                          confirmation_prompt=True, envvar="PLACEHEALTH_PASSWORD",
                                          help="At least 12 characters (asked for when not given; "
                                          "or $PLACEHEALTH_PASSWORD).")] = "",
    db: DbOption = None,
) -> None:
    """Add an account (the password is stored as an Argon2id hash, never as typed).

    Example: placehealth users add ana --role analyst
    """
    path = users_path(db)
    made = Accounts(path).add(username, password, role, organisation)
    console.print(f"added {made.username} ({made.role}) to {path}")


@users_app.command("list")
def list_users(fmt: FormatOption = "table", db: DbOption = None) -> None:
    """List accounts: name, role, organisation, disabled, created (never a password).

    Example: placehealth users list
    """
    rows = Accounts(users_path(db)).list()
    frame = pd.DataFrame(rows, columns=["username", "role", "organisation", "disabled", "created"])
    print_frame(frame, fmt, title=f"Users ({len(frame)})")


@users_app.command("disable")
def disable(username: Annotated[str, typer.Argument(help="The account to disable.")],
            db: DbOption = None) -> None:
    """Disable an account and end its sessions (the row stays, for the audit log).

    Example: placehealth users disable ana
    """
    Accounts(users_path(db)).disable(username)
    console.print(f"disabled {username}")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
