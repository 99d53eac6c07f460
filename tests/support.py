"""Paths shared by tests: the checkout and the real published files in ../shared/data.

Tests import these from here (not from conftest, whose module name is ambiguous when several
conftest.py files exist).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_file(relative: str) -> Path:
    """A real file from ../shared/data; the test is skipped with a reason when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real data not present: {path}")
    return path
