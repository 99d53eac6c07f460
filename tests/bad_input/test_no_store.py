"""A command pointed at no store, or at a store with nothing loaded, says so and what to run, exits
with 2, and leaves no file behind (DuckDB would otherwise make an empty one, or print a traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from placehealth.outputs import disclosed
from placehealth.store import Store

BIN = Path(sys.executable).parent / "placehealth"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": str(BIN.parent), "HOME": "/tmp"})


@pytest.mark.parametrize("command", [
    ["build"], ["tables"], ["show", "pcn_profile"], ["compare", "pcn", "U05734"],
    ["export", "pcn_profile", "--out", "OUT"],
], ids=lambda c: c[0])
def test_a_command_on_no_store_says_so_and_makes_none(tmp_path, command):
    missing = tmp_path / "typo.duckdb"
    args = [str(tmp_path / "out.csv") if a == "OUT" else a for a in command]
    result = run(*args, "--db", str(missing))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "no store" in result.stderr and "typo.duckdb" in result.stderr
    assert "placehealth demo" in result.stderr and "placehealth ingest" in result.stderr
    assert not missing.exists()
    assert not (tmp_path / "out.csv").exists()


def test_build_on_a_store_with_nothing_loaded_says_so_and_changes_nothing(tmp_path):
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    before = db.read_bytes()
    result = run("build", "--db", str(db))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "nothing is loaded" in result.stderr and "empty.duckdb" in result.stderr
    assert db.read_bytes() == before


def test_copies_of_a_store_with_nothing_to_protect_leave_a_typed_empty_ledger(tmp_path):
    with Store(tmp_path / "plain.duckdb") as store:
        store.replace_table("imd", pd.DataFrame({"lsoa_code": ["E01000001"], "imd_score": [12.5]}))
        assert disclosed.write_all(store) == {}
        ledger = disclosed.ledger(store)
        assert ledger.empty and list(ledger.columns) == disclosed.LEDGER_COLUMNS
        types = store.con.table(disclosed.LEDGER, database=disclosed.SCHEMA).schema()
        assert types == disclosed.LEDGER_SCHEMA


def test_serve_on_no_store_warns_and_still_starts(tmp_path):
    from placehealth.outputs.cli import serve
    from placehealth.outputs.cli.common import console
    from placehealth.outputs.queries import Data

    for db, warned in ((tmp_path / "typo.duckdb", True), (tmp_path / "plain.duckdb", False)):
        if not warned:
            duckdb.connect(str(db)).close()
        with console.capture() as said:
            serve._warn_without_store(Data(db))
        assert ("warning: no store at" in said.get()) is warned
        assert db.exists() is not warned  # nothing made by the warning
