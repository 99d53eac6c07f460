"""The ``serve`` command: the dashboard and JSON API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from placehealth.outputs.cli.common import DbOption, console

if TYPE_CHECKING:
    from placehealth.outputs.queries import Data


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8765,
    policy: Annotated[str | None, typer.Option("--disclosure", help="Disclosure rule: opensafely "
                                               "(default) or nhs_england.")] = None,
    auth: Annotated[bool, typer.Option("--auth", help="Require sign-in for every page and API "
                                       "call (accounts: placehealth users add; or "
                                       "PLACEHEALTH_AUTH=required).")] = False,
    db: DbOption = None,
) -> None:
    """Serve the dashboard (pages, maps, charts, downloads) and the JSON API (/api, /openapi.json).

    Example: placehealth serve --port 8765 --db placehealth.duckdb
    """
    import uvicorn

    from placehealth.outputs.queries import Data
    from placehealth.outputs.web.app import create_app
    from placehealth.outputs.web.assets import installed

    if not installed():
        console.print("[yellow]warning:[/] chart and map libraries are not installed; run "
                      "`python -m placehealth.outputs.web.assets` (make assets)")
    data = Data(db, policy)
    _warn_without_store(data)
    _warn_without_copies(data)  # before the pages warm up, which hold the store
    app = create_app(db, policy, warm_up=True, auth_required=auth or None)
    console.print(f"placehealth dashboard on http://{host}:{port}/ (API: /api, /openapi.json)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _warn_without_store(data: Data) -> None:
    """Say so when there is no store yet (a mistyped --db, or nothing loaded): the dashboard still
    starts, and its pages say so until ``placehealth demo`` or ``placehealth ingest`` makes one."""
    from placehealth.store import no_store, store_exists

    if not store_exists(data.location):
        console.print(f"[yellow]warning:[/] {no_store(data.location)} (until then every page says so)")


def _warn_without_copies(data: Data) -> None:
    """Say so when the store was built with protected copies for other rules only (``placehealth
    build --disclosure``): every page then protects each table it reads, slow on a national store."""
    from placehealth.outputs import disclosed

    if "://" in data.location:  # copies are kept in DuckDB stores only
        return
    try:
        with data.session() as store:
            rules = set(disclosed.ledger(store)["policy"])
    except Exception:  # no store yet, or one being built: the pages say so themselves
        return
    if rules and data.policy.name not in rules:
        console.print(f"[yellow]warning:[/] the store has protected copies for {', '.join(sorted(rules))} "
                      f"only: pages under {data.policy.name} protect each table as they read it "
                      "(slow on a national store); build with --disclosure for every rule served, "
                      f"e.g. placehealth build --disclosure {data.policy.name}")


def register(app: typer.Typer) -> None:
    app.command()(serve)
