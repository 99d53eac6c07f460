"""Shared fixtures: a temporary store and the real published files in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from placehealth.store import Store


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "test.duckdb") as s:
        yield s


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "test.duckdb"
