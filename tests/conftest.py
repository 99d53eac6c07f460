"""Shared fixtures: a temporary store, and one small demo place built once per test session."""

from __future__ import annotations

import fcntl
import os
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
    (``out``) and what the command printed (``output``). Under pytest-xdist the workers share
    one, built by whichever asks first. Read it only (every reader opens it read-only, so
    workers and the browser tests' server read it at once); a test that writes takes
    ``demo_copy``."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # one place for every worker of this run
        root = root.parent
    folder = root / "demo-place"
    db, out, said = folder / "demo.duckdb", folder / "data", folder / "output.txt"
    with (root / "demo-place.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker builds it; the others wait, then read
        if not said.exists():
            folder.mkdir(exist_ok=True)
            done = subprocess.run([str(BIN / "placehealth"), "demo", "--out", str(out), "--db",
                                   str(db), *DEMO_OPTIONS], check=True, capture_output=True,
                                  text=True, timeout=900)
            said.write_text(done.stdout + done.stderr)
    return {"db": db, "out": out, "output": said.read_text()}


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
