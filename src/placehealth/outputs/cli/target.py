"""``placehealth target``: act on need with partners — where to site outreach, and more.

The group gathers the targeting commands; each lives in its own module and is attached here
(``site``: :mod:`placehealth.outputs.cli.siting`; ``reach``: :mod:`placehealth.outputs.cli.reach`; ``shares``:
:mod:`placehealth.outputs.cli.shares`).
"""

from __future__ import annotations

import typer

from placehealth.outputs.cli import reach, shares, siting

target_app = typer.Typer(help="Target resources with partners: outreach siting and more.",
                         no_args_is_help=True)
target_app.add_typer(siting.site_app, name="site")
target_app.add_typer(reach.reach_app, name="reach")
target_app.command("shares")(shares.shares_command)


def register(app: typer.Typer) -> None:
    app.add_typer(target_app, name="target")
