"""Readers of the official publications, one module per publication.

``detect`` picks the reader for a file by its header; ``read_file`` reads and validates it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from placehealth.sources.base import READERS, Reader, ReadOptions, ReadResult
from placehealth.sources.validate import (
    UNNAMED,
    InputError,
    SourceFile,
    forget_distinct,
    open_source,
)
from placehealth.sources.workbooks import as_table_text, is_workbook

#: Reader modules, imported for their registrations. Order matters for detection: the first
#: reader whose detector accepts the header wins, so more specific layouts come first.
MODULES = [
    # first: the dispensing-contractor list shares epraccur's headerless ODS layout (told apart
    # by its F-codes); importing partners registers the postcode lookups too
    "partners",
    "practices",  # before registrations: practice-location files also carry PCN_CODE/EXTRACT_DATE
    "registrations",
    "imd",
    "qof",
    "census",
    "lookups",
    "boundaries",
    "generic",
    "uptake",
    "travel",  # DfT journey-time tables by their column names
    "allocations",
    "series",  # COVER quarterly long tables by their column names; --as series
    "interventions",
]


def _load_modules() -> None:
    for name in MODULES:
        importlib.import_module(f"placehealth.sources.{name}")


def readers() -> dict[str, Reader]:
    """All registered readers by kind."""
    _load_modules()
    return READERS


def detect(source: SourceFile) -> Reader:
    """The reader whose layout the file's header matches; else an error listing what was tried."""
    for reader in readers().values():
        if reader.detect(source):
            return reader
    header = ", ".join(source.header()[:12]) or "(no header)"
    tried = ", ".join(readers())
    raise InputError(
        source.name,
        f"unrecognised layout (header: {header})",
        line=1,
        hint=f"layouts tried: {tried}. Force one with --as KIND, and name any renamed "
        "columns with --map canonical=source_column (see `placehealth ingest --help`)",
    )


#: Kinds read by the store's engine rather than into Python (row-level extracts), by the
#: function reading them: ``read(con, path, options)``.
ENGINE_KINDS = {"patients": "placehealth.sources.patients:read_patients"}


def in_engine(path: str | Path, kind: str | None) -> bool:
    """Whether a file is read by the store's engine: ``--as patients``, or any Parquet file."""
    return kind in ENGINE_KINDS or (kind is None and Path(path).suffix.lower() in
                                    (".parquet", ".pq"))


def read_in_engine(con, path: str | Path, kind: str | None = None,
                   options: ReadOptions | None = None) -> ReadResult:
    """Read and check a row-level file inside the engine of ``con`` (an Ibis backend): only
    aggregates come back, the rows stay an expression of the engine for the store to write."""
    module, function = ENGINE_KINDS[kind or "patients"].split(":")
    return getattr(importlib.import_module(module), function)(con, path, options)


def read_file(path: str | Path, kind: str | None = None, options: ReadOptions | None = None
              ) -> ReadResult:
    """Read and validate one file with the reader of ``kind`` (or the detected one).

    A workbook goes to a reader of workbooks (ePCN) when one recognises it; otherwise its sheet
    (``options.sheet``) is read as CSV text by the ordinary readers, as is a file whose title rows
    ``options.skip_rows`` drops.
    """
    options = options or ReadOptions()
    if kind in ENGINE_KINDS:
        raise InputError(Path(path).name, f"{kind} files are read by the store's engine",
                         hint=f"placehealth ingest --as {kind} FILE --period YYYY-MM")
    source = open_source(path)
    known = readers()
    if kind is not None and kind not in known:
        raise InputError(source.name, f"unknown kind {kind!r}; known: {', '.join(known)}",
                         hint="`placehealth kinds` lists them")
    native = is_workbook(source) and options.sheet is None and not options.skip_rows and (
        known[kind].detect(source) if kind else any(r.detect(source) for r in known.values()))
    if not native:
        source = as_table_text(source, options.sheet, options.skip_rows)
    reader = known[kind] if kind is not None else detect(source)
    try:
        result = reader.read(source, options)
    except InputError as exc:
        if exc.file != UNNAMED:
            raise
        # a check on a frame a reader built itself does not know the file: name it here
        raise InputError(source.name, exc.message, line=exc.line, field=exc.field, row=exc.row,
                         hint=exc.hint) from None
    finally:
        forget_distinct()
    result.warnings[:0] = source.warnings
    result.sha256, result.file_name = source.sha256, source.name
    return result


T = TypeVar("T")
R = TypeVar("R")


def read_ahead(items: Iterable[T], read: Callable[[T], R]) -> Iterator[R]:
    """``read(item)`` for each item, in order, the next item read in a second thread while the
    caller works on this one (e.g. the store writes it: DuckDB writes on one core while Arrow
    and pandas read on the other). One read at a time, one ahead at most: two results are held,
    never all. A read's error is raised, as it was raised, when its result is asked for (the
    results before it have been handed over; none after it is read). Closing the iterator
    (``contextlib.closing``, or an error in the caller) waits for the read under way and reads
    no further."""
    items = iter(items)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="placehealth-read") as pool:
        first = next(items, _END)
        if first is _END:
            return
        pending = pool.submit(read, first)
        for item in items:
            done = pending.result()
            pending = pool.submit(read, item)
            yield done
            del done  # not held while the next one is read
        yield pending.result()


_END = object()


__all__ = ["ENGINE_KINDS", "InputError", "ReadOptions", "ReadResult", "Reader", "detect", "in_engine", "read_ahead", "read_file", "read_in_engine", "readers"]
