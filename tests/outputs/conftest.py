"""Fixtures of the output tests: a small demo place built through the ordinary commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> Path:
    """A small demo place (its PCNs named one way in registrations, another in QOF, as real
    files are; patients scattered beyond each PCN's footprint), loaded and built."""
    folder = tmp_path_factory.mktemp("demo-outputs")
    db = folder / "demo.duckdb"
    subprocess.run([str(BIN / "placehealth"), "demo", "--out", str(folder / "data"), "--db", str(db),
                    "--practices", "24", "--pcns", "5", "--lsoas", "120", "--las", "2",
                    "--patients", "150000"], check=True, capture_output=True, timeout=600)
    return db
