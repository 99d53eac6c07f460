"""Data commands: ingest files, list and show tables, build derived tables."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from itertools import chain, islice
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.markup import escape
from rich.progress import Progress

from placehealth.outputs.cli.common import (
    DbOption,
    DisclosureOption,
    FormatOption,
    console,
    err,
    open_store,
    print_frame,
)
from placehealth.sources import (
    AHEAD_ROWS,
    ENGINE_KINDS,
    ReadOptions,
    ReadResult,
    in_engine,
    read_ahead,
    read_file,
    read_in_engine,
    readers,
)
from placehealth.sources.postcodes import locate
from placehealth.sources.validate import InputError
from placehealth.store import NO_STORE_HINT, Store, resolve_db
from placehealth.tables import CANONICAL


def _parse_map(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"--map {pair!r}: expected canonical=source_column")
        canonical, source = pair.split("=", 1)
        mapping[canonical.strip()] = source.strip()
    return mapping


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files to load (CSV, CSV.gz, XLSX, GeoJSON; Parquet for --as patients).")],
    kind: Annotated[str | None, typer.Option("--as", help="Force a reader kind (see `placehealth kinds`).")] = None,
    map_: Annotated[list[str] | None, typer.Option("--map", help="canonical=source_column (repeatable).")] = None,
    period: Annotated[str | None, typer.Option("--period", help="Period when the file has none.")] = None,
    sheet: Annotated[str | None, typer.Option(
        "--sheet", help="Excel workbooks: the sheet to read (default: the first with data).")
    ] = None,
    skip_rows: Annotated[int, typer.Option(
        "--skip-rows", min=0, help="Title rows above the header to skip (published workbooks "
        "and CSVs with a title block).")] = 0,
    allow_unlocated: Annotated[bool, typer.Option(
        "--allow-unlocated", help="Partner registers: keep (and list) rows whose postcode is "
        "unknown instead of stopping.")] = False,
    db: DbOption = None,
) -> None:
    """Load official files into the store; every file is validated before anything is stored.

    Partner registers resolve postcodes through the postcode lookups already loaded or named
    earlier in the same command.

    Example: placehealth ingest gp-reg-pat-prac-lsoa-all.csv gp-reg-pat-prac-map.csv
    Example: placehealth ingest prevalence.xlsx --sheet "Table 1" --skip-rows 3
    """
    lookups: list[pd.DataFrame] = []  # postcode lookups read so far in this command
    target = _Target(db)
    options = ReadOptions(mapping=_parse_map(map_ or []), period=period,
                          postcodes=_postcode_lookup(target, lookups),
                          allow_unlocated=allow_unlocated, sheet=sheet, skip_rows=skip_rows)
    engine_paths = [p for p in paths if in_engine(p, kind)]
    file_paths = [p for p in paths if p not in engine_paths]
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("reading", total=len(paths))

        def read(path: Path) -> ReadResult:
            progress.update(task, description=f"reading {path.name}")
            result = read_file(path, kind, options)
            if "postcodes" in result.tables:
                lookups.append(result.tables["postcodes"])
            progress.advance(task)
            return result

        # A local DuckDB store: files read while the ones before are written (two cores), up to
        # AHEAD_ROWS rows ahead, all in one transaction, so a bad file still stores nothing.
        # The first is read before the store is opened (a bad one leaves even a new store
        # unmade). Other engines: every file read first.
        ahead = (read_ahead(file_paths, read, budget=AHEAD_ROWS,
                            weight=lambda result: result.rows)
                 if target.local else iter(list(map(read, file_paths))))
        with closing(ahead):
            first = list(islice(ahead, 1))
            with target.open() as store:
                # row-level extracts are read, checked and aggregated by the store's own engine,
                # after the other files (here, in this thread)
                def in_store(path: Path) -> ReadResult:
                    progress.update(task, description=f"reading {path.name} in the engine")
                    result = read_in_engine(store.con, path, kind, options)
                    progress.advance(task)
                    return result

                results = chain(_handed(first), ahead, map(in_store, engine_paths))
                summaries = store.ingest(_warned(results))
    for s in summaries:
        state = "loaded" if s["new"] else "already loaded (unchanged)"
        console.print(f"{s['file']}: {state} as {s['kind']} {s['period']}, {s['rows']:,} rows "
                      f"(load {s['load_id']})")


def _warned(results: Iterable[ReadResult]) -> Iterator[ReadResult]:
    """Each result, its warnings printed before it is written (and not held after)."""
    for result in results:
        for warning in result.warnings:
            err.print(f"[yellow]warning:[/] {warning}")
        yield result
        del result


def _handed(results: list[ReadResult]) -> Iterator[ReadResult]:
    """The results of a list, each let go by the list as it is handed on."""
    while results:
        yield results.pop(0)


class _Target:
    """The store ``ingest`` writes to. While it is open for writing, another thread reads it
    through a cursor of its own (DuckDB refuses a read-only connection to a file this process
    has open for writing); before, by opening it read-only. A lock keeps the two from crossing."""

    def __init__(self, db: str | None):
        self.db, self.location = db, resolve_db(db)
        self.local = "://" not in self.location  # a DuckDB file
        self._writing: Store | None = None
        self._lock = threading.Lock()

    @contextmanager
    def open(self) -> Iterator[Store]:
        """The store open for writing; one this opening made is removed again if the command
        fails (a bad file leaves no empty store behind)."""
        made = self.local and not Path(self.location).exists()
        with self._lock:
            store = self._writing = open_store(self.db)
        try:
            yield store
        except BaseException:
            self._close(store)
            if made:
                for path in (Path(self.location), Path(f"{self.location}.wal")):
                    path.unlink(missing_ok=True)
            raise
        self._close(store)

    def _close(self, store: Store) -> None:
        with self._lock:
            if self._writing is store:
                self._writing = None
                store.close()

    @contextmanager
    def reading(self) -> Iterator[Store | None]:
        """The store as committed, or None when there is none yet."""
        with self._lock:
            if self._writing is not None and self.local:
                store = self._writing.cursor()
            elif self.local and not Path(self.location).exists():
                yield None
                return
            else:
                store = open_store(self.db, read_only=True)
            try:
                yield store
            finally:
                store.close()


def _postcode_lookup(target: _Target, earlier: list[pd.DataFrame]):
    """Where postcodes are: lookups read earlier in this command, then those in the store."""
    def lookup(postcodes):
        frames = [f for f in earlier if len(f)]
        with target.reading() as store:
            if store is not None and store.has("postcodes") and store.table(
                    "postcodes").count().execute():
                t = store.table("postcodes")
                frames.append(t.filter(t.postcode.isin(list(postcodes))).to_pandas())
        return locate(postcodes, frames)
    return lookup


def kinds() -> None:
    """List the reader kinds, the publication each reads, and an example.

    Example: placehealth kinds
    """
    frame = pd.DataFrame([
        {"kind": r.kind, "publication": r.publication, "example": r.example}
        for r in readers().values()
    ] + [{"kind": kind, "publication": "row-level extract read by the store's engine",
          "example": f"placehealth ingest --as {kind} FILE.parquet --period YYYY-MM"}
         for kind in ENGINE_KINDS])
    print_frame(frame, "table")


def tables(db: DbOption = None, fmt: FormatOption = "table") -> None:
    """List the tables in the store: rows, source files, publication and periods.

    Example: placehealth tables --format json
    """
    with open_store(db, read_only=True) as store:
        loads = store.loads()
        rows = []
        for name in store.list_tables():
            t = store.table(name)
            entry = {"table": name, "rows": int(t.count().execute())}
            if "load_id" in t.columns and not loads.empty:
                ids = set(t.select("load_id").distinct().to_pandas()["load_id"].dropna())
                used = loads[loads["load_id"].isin(ids)]
                entry["files"] = "; ".join(used["file_name"])
                entry["publication"] = "; ".join(dict.fromkeys(used["publication"]))
                entry["periods"] = ", ".join(dict.fromkeys(used["period"].astype(str)))
            else:
                entry["files"] = "(derived)" if name != "loads" else ""
            rows.append(entry)
    if not rows and fmt == "table":
        err.print(f"The store at {resolve_db(db)} holds no tables yet: load files with "
                  "`placehealth ingest FILE...`, or make the demo place with `placehealth demo`.")
        return
    print_frame(pd.DataFrame(rows), fmt, title="placehealth store")


def show(
    table: Annotated[str, typer.Argument(help="Table name (see `placehealth tables`).")],
    fmt: FormatOption = "table",
    limit: Annotated[int | None, typer.Option(
        "--limit", "-n", help="Rows to show (0 = all) [default: 20 as a table; every row as "
        "csv or json].")] = None,
    policy: DisclosureOption = None,
    db: DbOption = None,
) -> None:
    """Show a table's rows after disclosure control (csv and json print every row).

    Example: placehealth show pcn_profile --format csv > pcn_profile.csv
    """
    # every output passes through disclosure control, applied to the whole table first
    from placehealth.outputs.queries import Data, NotFound

    rows = limit if limit is not None else (20 if fmt == "table" else 0)
    try:
        page = Data(db, policy).query(table, limit=rows)
    except NotFound as exc:
        raise InputError(table, str(exc).strip("'\"")) from None
    print_frame(page.frame, fmt, title=table)
    if len(page.frame) < page.total:
        err.print(f"{len(page.frame):,} of {page.total:,} rows shown; --limit 0 shows all")


def build(
    db: DbOption = None,
    disclosure: Annotated[list[str] | None, typer.Option(
        "--disclosure", help="Make the protected copies for this disclosure rule only "
        "(repeatable; default: every rule, opensafely and nhs_england). Outputs under a rule "
        "without copies protect each table when read: slower on national tables.")] = None,
) -> None:
    """Derive every analysis table (profiles, need, comparison) from the loaded data, then each
    table's protected copies (disclosure control done once for every output).

    Example: placehealth build --db placehealth.duckdb
    Example: placehealth build --disclosure opensafely   (a deployment that uses one rule)
    """
    from placehealth.analyses import BUILD_STEPS
    from placehealth.outputs import building
    from placehealth.outputs.disclosure import PRESETS, get_policy

    try:  # every rule named checked before anything is built
        policies = tuple(dict.fromkeys(get_policy(name) for name in disclosure)) if disclosure \
            else tuple(PRESETS)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--disclosure") from None
    with open_store(db, existing=True) as store, Progress(console=err) as progress:
        if not any(t in CANONICAL for t in store.list_tables()):
            raise InputError(store.location, f"nothing is loaded in this store: {NO_STORE_HINT}")
        task = progress.add_task("building", total=len(BUILD_STEPS))

        def step(name: str) -> None:
            if name == building.PROTECTING:
                progress.update(task, description="protecting (disclosure control, once for every output)")
                return
            progress.update(task, description=f"building {name}")
            progress.advance(task)

        notes: list[str] = []
        written = building.build(store, step, notes, policies)
    for name, rows in written.items():
        console.print(f"{name}: {rows:,} rows")
    for note in notes:
        console.print(f"[yellow]note:[/] {escape(note)}")


def register(app: typer.Typer) -> None:
    app.command()(ingest)
    app.command()(kinds)
    app.command()(tables)
    app.command()(show)
    app.command()(build)
