"""The ``report`` command: a self-contained HTML (or PDF) report on a PCN."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from placehealth.outputs.cli.common import DbOption, console, nearest
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
    try:
        written = _write(Data(db, policy), code, out, indicator)
    except InputError:
        raise
    except (RuntimeError, ValueError) as exc:
        raise InputError(str(out), str(exc)) from None
    console.print(f"wrote {written} ({written.stat().st_size:,} bytes)")


def _write(data: Data, code: str, out: Path, indicator: str | None) -> Path:
    """The report written; a code in other letter case is the PCN so spelled, and an unknown
    one an error suggesting the nearest codes."""
    from placehealth.outputs.reports import write_pcn_report

    try:
        return write_pcn_report(data, code, out, indicator)
    except NotFound as exc:
        known = _pcn_codes(data)
        spelled = {c.upper(): c for c in known}.get(code.strip().upper())
        if spelled is None or spelled == code:
            hint = None
            if known:
                near = nearest(code, known)
                hint = ((f"did you mean {', '.join(near)}? " if near else "")
                        + "`placehealth show pcn_profile` lists them all")
            raise InputError(code, str(exc).strip("'\""), hint=hint) from None
    return write_pcn_report(data, spelled, out, indicator)


def _pcn_codes(data: Data) -> list[str]:
    """The PCN codes the store profiles (none when there is no store or profile to read)."""
    try:
        return list(data.names("pcn"))
    except NotFound:
        return []


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
