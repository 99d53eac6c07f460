"""The ``demo`` command: generate the synthetic place, load it through the readers, build."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from placehealth.outputs.cli.common import DbOption, console, err, open_store
from placehealth.sources import ReadOptions, read_file, read_in_engine
from placehealth.sources.demo import DemoConfig, generate, read_options
from placehealth.sources.validate import InputError
from placehealth.store import resolve_db


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    MofNCompleteColumn(), console=err, transient=True)


def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder the official-layout files go in.")]
    = Path("demo-data"),
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same files.")] = 2026,
    practices: Annotated[int, typer.Option("--practices", help="GP practices.")] = 150,
    pcns: Annotated[int, typer.Option("--pcns", help="Primary Care Networks.")] = 30,
    lsoas: Annotated[int, typer.Option("--lsoas", help="Neighbourhoods (LSOAs).")] = 800,
    las: Annotated[int, typer.Option("--las", help="Local authorities.")] = 4,
    patients: Annotated[int | None, typer.Option(
        "--patients", help="Registered patients [default: 1,500 per LSOA, 1.2M for 800].")]
    = None,
    patients_level: Annotated[int | None, typer.Option(
        "--patients-level", min=1, help="Write a pseudonymised patient-level extract of N "
        "people (Parquet) and load it in place of the registration counts, QOF registers and "
        "uptake files: everything is then aggregated from patient rows inside the engine.")]
    = None,
    db: DbOption = None,
    no_build: Annotated[bool, typer.Option("--no-build", help="Load only; skip `build`.")]
    = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="Delete the store file first (a "
                                        "different seed contradicts an earlier demo).")] = False,
) -> None:
    """Generate a synthetic ICB in the official file layouts, load it through the same readers
    as real data, build the analyses and print a summary (the truth of the planted
    under-diagnosis is written to OUT/demo-truth.json).

    Example: placehealth demo --out demo-data --seed 7 --practices 40 --pcns 8 --lsoas 200 --las 3
    Example: placehealth demo --patients-level 1000000
    """
    config = DemoConfig(seed=seed, practices=practices, pcns=pcns, lsoas=lsoas, las=las,
                        patients=patients if patients is not None else lsoas * 1_500,
                        patients_level=patients_level)
    location = resolve_db(db)
    if fresh and "://" not in location:
        for stale in (Path(location), Path(location + ".wal")):
            stale.unlink(missing_ok=True)
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task("generating", total=8)

        def step(label: str) -> None:
            progress.update(task, description=f"generating: {label}")
            progress.advance(task)

        try:
            place = generate(out, config, step)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    console.print(f"wrote {len(place.files)} files to {place.out} "
                  f"({time.perf_counter() - started:.1f} s)")

    results, skipped = [], []
    with _progress() as progress:
        task = progress.add_task("reading", total=len(place.files))
        for path in place.files:
            if path == place.patients_file:
                continue  # read by the store's engine below
            progress.update(task, description=f"reading {path.relative_to(place.out)}")
            try:
                results.append(read_file(path, options=read_options(results)))
            except InputError as exc:
                skipped.append((path, exc))
            progress.advance(task)
    for path, exc in skipped:
        err.print(f"[yellow]warning:[/] {path.name} not loaded: {exc}")

    written: dict[str, int] = {}
    notes: list[str] = []  # what the build had to say, printed after the summary
    build_error: Exception | None = None
    with open_store(location) as store:
        with _progress() as progress:
            progress.add_task("loading into the store", total=None)
            if place.patients_file is not None:
                results.append(read_in_engine(store.con, place.patients_file, "patients",
                                              ReadOptions(period=place.periods[-1])))
            summaries = store.ingest(results)
        if not no_build:
            from placehealth.analyses import BUILD_STEPS
            from placehealth.outputs import building

            with _progress() as progress:
                task = progress.add_task("building", total=len(BUILD_STEPS))

                def built(name: str) -> None:
                    if name == building.PROTECTING:
                        progress.update(task, description="protecting (disclosure control)")
                        return
                    progress.update(task, description=f"building {name}")
                    progress.advance(task)

                try:
                    written = building.build(store, built, notes)
                except Exception as exc:  # report the build failure after the summary
                    build_error = exc

    table = Table(title=f"demo place (seed {seed})", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("practices", f"{place.practices:,}")
    table.add_row("PCNs", f"{place.pcns:,}")
    table.add_row("LSOAs", f"{place.lsoas:,} in {place.las} local authorities")
    table.add_row("registered patients", f"{place.patients:,} ({place.periods[-1]})")
    table.add_row("registration months", ", ".join(place.periods))
    table.add_row("files loaded", f"{sum(s['new'] for s in summaries)} new, "
                  f"{sum(not s['new'] for s in summaries)} already loaded, {len(skipped)} skipped")
    table.add_row("rows loaded", f"{sum(s['rows'] for s in summaries if s['new']):,}")
    table.add_row("tables built", ", ".join(f"{k} ({v:,})" for k, v in written.items())
                  or ("(skipped: --no-build)" if no_build else "(no build steps yet)"))
    table.add_row("store", location)
    table.add_row("truth", str(place.truth))
    table.add_row("time", f"{time.perf_counter() - started:.1f} s")
    console.print(table)
    for note in notes:
        err.print(f"[yellow]note:[/] {escape(note)}")
    if build_error is not None:
        err.print(f"[red]build failed:[/] {type(build_error).__name__}: {build_error}")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(demo)
