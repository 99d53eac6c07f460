"""The ``report`` command: a self-contained HTML (or PDF) report on a PCN."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from placehealth.outputs.cli.common import DbOption, console
from placehealth.outputs.queries import Data, NotFound
from placehealth.sources.validate import InputError

report_app = typer.Typer(help="Write reports.", no_args_is_help=True)


@report_app.command("pcn")
def pcn(
    code: Annotated[str, typer.Argument(help="PCN code, e.g. U12345.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="FILE.html or FILE.pdf (PDF needs Chromium).")],
    indicator: Annotated[str | None, typer.Option("--indicator", help="Indicator for the peer, "
                                                  "funnel and trend charts.")] = None,
    policy: Annotated[str | None, typer.Option("--disclosure", help="opensafely (default) or "
                                               "nhs_england.")] = None,
    db: DbOption = None,
) -> None:
    """Write a PCN report that opens offline: charts, map, summary, methods and sources.

    Example: placehealth report pcn U12345 --out U12345.html
    """
    from placehealth.outputs.reports import write_pcn_report

    try:
        written = write_pcn_report(Data(db, policy), code, out, indicator)
    except NotFound as exc:
        raise InputError(code, str(exc).strip("'\"")) from None
    except (RuntimeError, ValueError) as exc:
        raise InputError(str(out), str(exc)) from None
    console.print(f"wrote {written} ({written.stat().st_size:,} bytes)")


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
