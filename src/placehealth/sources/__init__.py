"""Readers of the official publications, one module per publication.

``detect`` picks the reader for a file by its header; ``read_file`` reads and validates it.
"""

from __future__ import annotations

import importlib
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
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

#: How far ingest reads ahead of the store (:func:`read_ahead`'s ``budget``), in rows read and
#: not yet written: England's months are a 1.2M-row LSOA file between a 6,300-row map and a
#: 252,000-row age file, so the next month's LSOA file is read while this one's is written, and
#: no more; while the 6.2M population rows are written, one small file.
AHEAD_ROWS = 2_500_000


def read_ahead(items: Iterable[T], read: Callable[[T], R], *, budget: float = 1,
               weight: Callable[[R], float] = lambda result: 1) -> Iterator[R]:
    """``read(item)`` for each item, in order, read in a second thread ahead of the caller, who
    meanwhile works on the results before (e.g. the store writes them: DuckDB writes on one
    core while Arrow and pandas read on the other). One read at a time: the next item is read
    while the results read and not yet let go (those waiting, and the one the caller holds until
    it asks for the next) weigh less than ``budget`` (by ``weight``), or when none waits; by
    default one item ahead. A read's error is raised, as it was raised, when its result is
    asked for: the results before it are handed over, and nothing after it is read. Closing the
    iterator (``contextlib.closing``, or an error in the caller) waits for the read under way
    and reads no further."""
    changed = threading.Condition()
    waiting: deque[tuple[R | None, BaseException | None, float]] = deque()
    state = {"held": 0.0, "stop": False, "done": False}

    def work() -> None:
        try:
            for item in items:
                with changed:
                    changed.wait_for(lambda: state["stop"] or not waiting
                                     or state["held"] < budget)
                    if state["stop"]:
                        return
                try:
                    result = read(item)
                    entry = (result, None, weight(result))
                except BaseException as exc:  # handed to the caller, who raises it
                    entry = (None, exc, 0.0)
                failed = entry[1] is not None
                with changed:
                    waiting.append(entry)
                    state["held"] += entry[2]
                    changed.notify_all()
                result = entry = None  # held by the queue only
                if failed:
                    return
        finally:
            with changed:
                state["done"] = True
                changed.notify_all()

    worker = threading.Thread(target=work, name="placehealth-read", daemon=True)
    worker.start()
    try:
        while True:
            with changed:
                changed.wait_for(lambda: waiting or state["done"])
                if not waiting:
                    return
                result, error, size = waiting.popleft()
                changed.notify_all()  # none waits now
            if error is not None:
                raise error
            yield result
            del result  # let go: the next one may be read
            with changed:
                state["held"] -= size
                changed.notify_all()
    finally:
        with changed:
            state["stop"] = True
            changed.notify_all()
        worker.join()


__all__ = ["AHEAD_ROWS", "ENGINE_KINDS", "InputError", "ReadOptions", "ReadResult", "Reader", "detect", "in_engine", "read_ahead", "read_file", "read_in_engine", "readers"]
