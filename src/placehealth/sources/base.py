"""What a reader is and what it returns.

A reader turns one official file into canonical tables (see :mod:`placehealth.tables`). It is
chosen by :func:`placehealth.sources.detect` from the file's header, or forced by kind
(``--as KIND``). Readers never touch the store: they return a :class:`ReadResult`, which the store
writes atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from placehealth.sources.validate import SourceFile


@dataclass
class ReadOptions:
    """User choices for a read: ``--map canonical=source`` pairs and ``--period``; for partner
    registers, ``postcodes`` (where postcodes are, from the loaded lookups) and
    ``allow_unlocated`` (keep and list rows whose location is unknown instead of failing); for
    workbooks and files with title rows, ``sheet`` and ``skip_rows`` (rows above the header)."""

    mapping: Mapping[str, str] = field(default_factory=dict)
    period: str | None = None
    postcodes: Callable[[Sequence[str]], pd.DataFrame] | None = None
    allow_unlocated: bool = False
    sheet: str | None = None
    skip_rows: int = 0


@dataclass
class ReadResult:
    """Canonical tables read from one file, with the publication and period they came from."""

    kind: str
    publication: str
    period: str
    tables: dict[str, pd.DataFrame]
    warnings: list[str] = field(default_factory=list)
    file_name: str = ""
    sha256: str = ""
    #: Tables whose rows stay in the engine (patient-level extracts): Ibis expressions over the
    #: file, written by the store's engine, never brought into Python; ``engine_rows`` counts them.
    in_engine: dict[str, Any] = field(default_factory=dict)
    engine_rows: int = 0

    @property
    def rows(self) -> int:
        return sum(len(t) for t in self.tables.values()) + self.engine_rows


@dataclass(frozen=True)
class Reader:
    """One file layout: its kind name, the publication it is, how to spot it and how to read it."""

    kind: str
    publication: str
    detect: Callable[[SourceFile], bool]
    read: Callable[[SourceFile, ReadOptions], ReadResult]
    example: str = ""


READERS: dict[str, Reader] = {}


def reader(kind: str, publication: str, detect: Callable[[SourceFile], bool], example: str = ""):
    """Decorator registering a read function as the reader of ``kind``."""

    def register(read: Callable[[SourceFile, ReadOptions], ReadResult]):
        READERS[kind] = Reader(kind, publication, detect, read, example)
        return read

    return register


def has_columns(*names: str) -> Callable[[SourceFile], bool]:
    """A detector: the header holds every one of ``names`` (case-insensitive)."""
    wanted = {n.upper() for n in names}

    def detect(source: SourceFile) -> bool:
        return wanted <= {h.upper() for h in source.header()}

    return detect
