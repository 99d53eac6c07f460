"""Shared fixtures: a temporary store, and one small demo place built once per test session."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from placehealth.store import Store

BIN = Path(sys.executable).parent
#: The small demo place every output and browser test reads (its PCNs named one way in
#: registrations, another in QOF, as real files are; patients scattered beyond each footprint).
DEMO_OPTIONS = ("--practices", "24", "--pcns", "5", "--lsoas", "120", "--las", "2",
                "--patients", "150000")


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "test.duckdb") as s:
        yield s


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "test.duckdb"


@pytest.fixture(scope="session")
def demo_place(tmp_path_factory) -> dict:
    """The small demo place, generated, loaded and built (protected copies included) once per
    session through the ordinary ``placehealth demo`` command: its store (``db``), files
    (``out``) and what the command printed (``output``). Read it only; a test that writes
    takes ``demo_copy``."""
    folder = tmp_path_factory.mktemp("demo")
    db, out = folder / "demo.duckdb", folder / "data"
    done = subprocess.run([str(BIN / "placehealth"), "demo", "--out", str(out), "--db", str(db),
                           *DEMO_OPTIONS], check=True, capture_output=True, text=True, timeout=900)
    return {"db": db, "out": out, "output": done.stdout + done.stderr}


@pytest.fixture(scope="session")
def demo_db(demo_place) -> Path:
    """The shared demo store (read only: open it with ``read_only=True`` or through ``Data``)."""
    return demo_place["db"]


@pytest.fixture
def demo_copy(demo_db: Path, tmp_path: Path) -> Path:
    """A private copy of the demo store, for a test that writes to it."""
    copy = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, copy)
    return copy
