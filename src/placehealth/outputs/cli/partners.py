"""``placehealth partners list``: the partner register as outputs show it (never a contact).

Each register's latest snapshot (or the one in force on ``--as-of``), partners open on that
date; ``--unlocated`` lists the rows ``--allow-unlocated`` kept without a place, to correct.
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer

from placehealth.outputs.cli.common import DbOption, FormatOption, print_frame
from placehealth.outputs.disclosure import marked
from placehealth.outputs.queries import Data, NotFound
from placehealth.sources.validate import InputError

partners_app = typer.Typer(help="The partner and community-asset register.", no_args_is_help=True)

COLUMNS = ["register", "period", "partner_id", "name", "kind", "services", "postcode", "lsoa_code",
           "located_by", "capacity", "valid_from", "valid_to"]
#: What fits a terminal (csv and json carry every column but the contact).
NARROW = ["register", "partner_id", "name", "kind", "postcode", "lsoa_code", "located_by"]


def current(frame: pd.DataFrame, as_of: str | None) -> pd.DataFrame:
    """Each register's latest snapshot on or before ``as_of``, partners open on that date."""
    if as_of:
        frame = frame[frame["period"].astype(str) <= as_of]
    if frame.empty:
        return frame
    frame = frame[frame["period"] == frame.groupby("register")["period"].transform("max")]
    day = frame["period"].astype(str).map(lambda p: p if len(p) == 10 else f"{p[:7]}-01")
    if as_of:
        day = pd.Series(as_of if len(as_of) == 10 else f"{as_of[:7]}-01", index=frame.index)
    opened = frame["valid_from"].isna() | (frame["valid_from"].astype(str) <= day)
    still = frame["valid_to"].isna() | (frame["valid_to"].astype(str) > day)
    return frame[opened & still]


@partners_app.command("list")
def list_partners(
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind (e.g. pharmacy).")] = None,
    register: Annotated[str | None, typer.Option("--register", help="Only this register.")] = None,
    unlocated: Annotated[bool, typer.Option("--unlocated", help="Only the partners without a "
                                            "place (kept by --allow-unlocated).")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Open on this date (YYYY-MM or "
                                              "YYYY-MM-DD; default: each register's latest).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Rows to show (0 = all).")] = 50,
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """List partners open now (or on --as-of), by register and kind; contacts are never shown.

    Example: placehealth partners list --kind pharmacy --unlocated
    """
    try:
        frame = Data(db).protected("partners")
    except NotFound as exc:
        raise InputError("partners", "no partner register is loaded (placehealth ingest --as "
                         f"partners FILE): {exc}") from None
    frame = current(frame, as_of)
    if kind:
        frame = frame[frame["kind"] == kind]
    if register:
        frame = frame[frame["register"] == register]
    if unlocated:
        frame = frame[frame["located_by"].isna()]
    frame = frame.sort_values(["register", "kind", "name"], kind="stable")
    columns = COLUMNS if fmt != "table" else NARROW
    shown = frame[[c for c in columns if c in frame]]
    print_frame(marked(shown.head(limit) if limit else shown), fmt,
                title=f"Partners ({len(frame):,}{' unlocated' if unlocated else ''})")


def register(app: typer.Typer) -> None:
    app.add_typer(partners_app, name="partners")


__all__ = ["current", "partners_app", "register"]
