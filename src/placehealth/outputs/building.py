"""Building a store: every analysis step, then every table's protected copies.

What ``placehealth build`` and ``placehealth demo`` run. The analysis steps (:func:`~placehealth.
analyses.build_all`) mostly use one core; the protected copies (:mod:`~placehealth.outputs.
disclosed`) are a third of the work at England scale. So once the first step (profiles, which
needs the most memory) is done, a second thread copies the tables no step still to run writes
(loaded ones, and each step's tables once it is done) on a cursor of its own, while the main
thread runs the next steps. Meanwhile DuckDB's settings are held for both threads (one DuckDB
thread each, one memory limit for their caches: :meth:`~placehealth.store.Store.hold`). Copies
made from other copies (:func:`~placehealth.outputs.disclosed.made_from`) wait for the end,
when every copy not yet current is made as before. A table written again after its copy was
made, even during it, has another fingerprint, so its copy is not used and is made again at the
end: the copies are the same as if made after the build. BLAS is held to one thread throughout:
the steps' matrices are small, and OpenBLAS's idle threads busy-wait on the core the other
thread needs (England, alternated twice: 19 CPU-s and 8-14 s less). And the two threads hand
Python's lock to each other every :data:`SWITCH_INTERVAL` rather than every 5 ms (9-11 CPU-s
and 3-9 s less).
"""

from __future__ import annotations

import contextlib
import ctypes
import queue
import sys
import threading
from collections.abc import Callable, Iterable

import scipy.linalg  # noqa: F401  (its own BLAS loaded, so the limit below holds it too)
from threadpoolctl import threadpool_limits

from placehealth.analyses import build_all
from placehealth.outputs import disclosed
from placehealth.outputs.disclosure import PRESETS, Policy
from placehealth.store import Store
from placehealth.tables import CANONICAL

#: The copies start beside the steps once this step is done: the one needing the most memory,
#: and the one DuckDB's own threads speed most (held to one, England's took 84 s against 43).
BESIDE_AFTER = "profiles"
#: DuckDB's memory limit while two threads work (both caches within it).
BESIDE_MEMORY = "1GB"
#: What ``progress`` is told when the copies not yet made are made, after the last step.
PROTECTING = "protecting"
#: How long a thread holds Python's lock before handing it over, during a build (Python's
#: default is 5 ms; ``sys.setswitchinterval``).
SWITCH_INTERVAL = 0.05


def build(store: Store, progress: Callable[[str], None] | None = None,
          notes: list[str] | None = None, policies: Iterable[str | Policy] = tuple(PRESETS),
          beside: bool = True) -> dict[str, int]:
    """Run every build step, then make every protected copy not yet current; with ``beside``
    (DuckDB stores), the copies of finished tables are made by a second thread while later
    steps run. ``progress`` and ``notes`` as :func:`~placehealth.analyses.build_all` takes them
    (``progress`` is also told when the last copies are made). Returns rows per derived table."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            return _build(store, progress, notes, tuple(policies), beside)
    finally:
        sys.setswitchinterval(interval)


def _build(store: Store, progress: Callable[[str], None] | None, notes: list[str] | None,
           policies: tuple, beside: bool) -> dict[str, int]:
    if store.con.name != "duckdb" or not beside:
        written = build_all(store, progress, notes)
        _last_copies(store, policies, progress)
        return written
    separate_big_allocations()
    copier: _Copier | None = None
    finished: list[str] = []  # tables no step still to run writes

    def start() -> None:
        nonlocal copier
        copier = _Copier(store, policies)
        copier.add([*(t for t in store.list_tables() if t in CANONICAL), *finished])

    def done(step: str, wrote: dict[str, int]) -> None:
        finished.extend(wrote)
        if copier is None and step == BESIDE_AFTER:
            start()
        elif copier is not None:
            copier.add(wrote)

    try:
        written = build_all(store, progress, notes, done)
    except BaseException:
        if copier is not None:
            copier.close(failed=True)
        raise
    if copier is not None:
        copier.close()
    _last_copies(store, policies, progress)
    return written


def _last_copies(store: Store, policies: tuple, progress: Callable[[str], None] | None) -> None:
    if progress:
        progress(PROTECTING)
    disclosed.write_all(store, policies)


class _Copier:
    """Protected copies made by a thread of its own, on a cursor of the store, of the tables
    handed to it, in order, while DuckDB's settings are held; :meth:`close` waits for the copies
    handed so far and raises the first error. An error in the build stops it after its table."""

    def __init__(self, store: Store, policies: tuple) -> None:
        self._policies = policies
        self._cursor = store.cursor()
        self._tables: queue.SimpleQueue[list[str] | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._held = store.hold(threads=1, memory=BESIDE_MEMORY)
        self._held.__enter__()
        self._thread = threading.Thread(target=self._run, name="placehealth-copies", daemon=True)
        self._thread.start()

    def add(self, tables: Iterable[str]) -> None:
        tables = [t for t in tables if not disclosed.made_from(t)]
        if tables:
            self._tables.put(tables)

    def close(self, failed: bool = False) -> None:
        """Wait for the copies handed so far, let the settings go, and raise the first error;
        ``failed`` (the build failed): stop after the table being copied, its error standing."""
        if failed:
            self._stop.set()
        self._tables.put(None)
        try:
            self._thread.join()
        finally:
            self._cursor.close()
            self._held.__exit__(None, None, None)
        if self._error is not None and not failed:
            raise self._error

    def _run(self) -> None:
        while (tables := self._tables.get()) is not None:
            if self._error is not None or self._stop.is_set():
                continue
            try:
                disclosed.write_all(self._cursor, self._policies, progress=self._check,
                                    tables=tables)
            except BaseException as error:  # raised in the build's thread by close()
                self._error = error

    def _check(self, _table: str) -> None:
        if self._stop.is_set():
            raise _Stopped


class _Stopped(Exception):
    """The build failed: no more copies."""


def separate_big_allocations() -> None:
    """Have glibc's allocator map every block of 256 KiB or more apart (given back to the system
    when freed) and keep two arenas: otherwise it raises that threshold as big frames are freed
    and keeps what two threads freed in arenas of their own, about half a gigabyte more at the
    peak of an England build (M_MMAP_THRESHOLD and M_ARENA_MAX, mallopt(3)). Elsewhere nothing."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-8, 2)  # M_ARENA_MAX


