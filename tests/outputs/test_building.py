"""The build with the protected copies made beside the later steps: the same copies as made after
the build, made on the copier's thread as tables are finished, and a failing step stops it with
DuckDB's settings set back."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from placehealth.analyses import BUILD_STEPS
from placehealth.outputs import building, disclosed
from placehealth.store import Store
from placehealth.tables import CANONICAL

BIN = Path(sys.executable).parent
#: A demo place small enough to build three times, with every table the build writes.
PLACE = ("--practices", "12", "--pcns", "3", "--lsoas", "60", "--las", "2", "--patients", "60000")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Path:
    """The small demo place loaded, nothing built."""
    folder = tmp_path_factory.mktemp("building")
    db = folder / "loaded.duckdb"
    subprocess.run([str(BIN / "placehealth"), "demo", "--out", str(folder / "data"), "--db", str(db),
                    "--no-build", *PLACE], check=True, capture_output=True, timeout=900)
    return db


def _copies(store: Store) -> dict[tuple[str, str], pd.DataFrame]:
    """Every copy's rows (narrow ones by row number; whole ones as written)."""
    copies = {}
    for r in disclosed.ledger(store).itertuples():
        frame = store.con.con.execute(f'SELECT * FROM disclosed."{r.policy}__{r.table_name}"').df()
        if "placehealth_row" in frame:
            frame = frame.sort_values("placehealth_row", ignore_index=True)
        copies[r.table_name, r.policy] = frame
    return copies


def test_copies_made_beside_are_the_copies_made_after(loaded, tmp_path, monkeypatch):
    after, beside = tmp_path / "after.duckdb", tmp_path / "beside.duckdb"
    shutil.copy(loaded, after)
    shutil.copy(loaded, beside)
    with Store(after) as store:
        written_after = building.build(store, notes=[], beside=False)
        ledger_after = disclosed.ledger(store).drop(columns="made_at").sort_values(["table_name", "policy"])
        copies_after = _copies(store)

    calls: list[tuple[str, list[str] | None]] = []
    write_all = disclosed.write_all

    def spy(store, *args, tables=None, **kwargs):
        calls.append((threading.current_thread().name, sorted(tables) if tables is not None else None))
        return write_all(store, *args, tables=tables, **kwargs)

    monkeypatch.setattr(disclosed, "write_all", spy)
    steps: list[str] = []
    with Store(beside) as store:
        threads = store.con.con.execute("SELECT current_setting('threads')").fetchone()[0]
        written = building.build(store, steps.append, notes=[])
        assert store.con.con.execute("SELECT current_setting('threads')").fetchone()[0] == threads
        assert not store.engine.held
        ledger = disclosed.ledger(store).drop(columns="made_at").sort_values(["table_name", "policy"])
        copies = _copies(store)

    assert written == written_after
    assert steps == [name for name, _ in BUILD_STEPS] + [building.PROTECTING]
    # the loaded tables and the profiles first, then each later step's tables, on the copier's
    # thread; the copies made from other copies, and the rest, at the end on the build's
    beside_calls = [tables for thread, tables in calls if thread == "placehealth-copies"]
    assert len(beside_calls) >= 3 and calls[-1] == (threading.current_thread().name, None)
    first = set(beside_calls[0])
    assert {"registrations_lsoa", "pcn_profile"} <= first and first & set(CANONICAL)
    assert "prevalence_gap_lsoa" in {t for tables in beside_calls[1:] for t in tables}
    assert not {t for tables in beside_calls for t in tables} & {"comparison", "spine", "core20plus5"}

    pd.testing.assert_frame_equal(ledger.reset_index(drop=True), ledger_after.reset_index(drop=True))
    assert copies.keys() == copies_after.keys() and len(copies) > 40
    for key, frame in copies.items():
        pd.testing.assert_frame_equal(frame, copies_after[key], obj=str(key))


def test_a_failing_step_stops_the_copies_and_sets_duckdb_back(loaded, tmp_path, monkeypatch):
    db = tmp_path / "failing.duckdb"
    shutil.copy(loaded, db)
    from placehealth.analyses import series

    def broken(store):
        raise RuntimeError("series broke")

    monkeypatch.setattr(series, "build", broken)
    with Store(db) as store:
        threads = store.con.con.execute("SELECT current_setting('threads')").fetchone()[0]
        limit = store.memory_limit()
        with pytest.raises(RuntimeError, match="series broke"):
            building.build(store, notes=[])
        assert not any(t.name == "placehealth-copies" for t in threading.enumerate())
        assert not store.engine.held
        assert store.con.con.execute("SELECT current_setting('threads')").fetchone()[0] == threads
        assert store.memory_limit() == limit
        # what was copied before the failure is kept only where whole; a build after makes the rest
        assert "comparison" not in set(disclosed.ledger(store).table_name)
        monkeypatch.undo()
        building.build(store, notes=[])
        assert "comparison" in set(disclosed.ledger(store).table_name)


def test_the_copier_error_is_raised_in_the_build(loaded, tmp_path, monkeypatch):
    db = tmp_path / "copier.duckdb"
    shutil.copy(loaded, db)
    write_all = disclosed.write_all

    def failing(store, *args, tables=None, **kwargs):
        if tables is not None:
            raise OSError("disk full while copying")
        return write_all(store, *args, tables=tables, **kwargs)

    monkeypatch.setattr(disclosed, "write_all", failing)
    with Store(db) as store, pytest.raises(OSError, match="disk full"):
        building.build(store, notes=[])


def test_copies_made_from_copies_are_refused_beside(loaded, tmp_path):
    db = tmp_path / "refused.duckdb"
    shutil.copy(loaded, db)
    with Store(db) as store, pytest.raises(ValueError, match="spine"):
        disclosed.write_all(store, tables=["spine", "registrations_lsoa"])


def test_build_makes_copies_for_the_rules_named_only(loaded, tmp_path):
    db = tmp_path / "one-rule.duckdb"
    shutil.copy(loaded, db)
    built = subprocess.run([str(BIN / "placehealth"), "build", "--db", str(db), "--disclosure", "nhs_england"],
                           capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr
    with Store(db) as store:
        ledger = disclosed.ledger(store)
        assert set(ledger.policy) == {"nhs_england"}
        assert "comparison" in set(ledger.table_name) and "registrations_lsoa" in set(ledger.table_name)
    # an output under the rule without copies protects the table when read: counts rounded to 5
    from placehealth.outputs.queries import Data

    rows = Data(db, "opensafely").rows("pcn_lsoa", latest=False)
    shown = rows["patients"].dropna()
    assert len(shown) and (shown % 5 == 0).all()
    assert rows["patients"].isna().any() and (rows.loc[rows["patients"].isna(), "suppressed_cells"] != "").all()
    # and `placehealth serve` under that rule says so; under the rule copied it says nothing
    from placehealth.outputs.cli import serve
    from placehealth.outputs.cli.common import console

    for rule, warned in (("opensafely", True), ("nhs_england", False)):
        with console.capture() as said:
            serve._warn_without_copies(Data(db, rule))
        assert ("copies for nhs_england only: pages under opensafely" in " ".join(said.get().split())) is warned


def test_an_unknown_rule_is_refused_before_anything_is_built(loaded, tmp_path):
    db = tmp_path / "refused-rule.duckdb"
    shutil.copy(loaded, db)
    before = db.read_bytes()
    refused = subprocess.run([str(BIN / "placehealth"), "build", "--db", str(db), "--disclosure", "opensafe"],
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0
    said = " ".join(re.sub("[│╭╮╰╯─]", " ", refused.stderr).split())  # Rich's box, lines joined
    assert "--disclosure" in said and "'opensafe'" in said
    assert "known: opensafely, nhs_england" in said
    assert db.read_bytes() == before


def test_the_build_holds_blas_and_python_switching_and_gives_them_back(loaded, tmp_path, monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    db = tmp_path / "blas.duckdb"
    shutil.copy(loaded, db)
    seen: list[set[int]] = []
    switch: list[float] = []
    interval = sys.getswitchinterval()

    def steps(store, progress=None, notes=None, done=None):
        seen.append({pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"})
        switch.append(sys.getswitchinterval())
        return {}

    monkeypatch.setattr(building, "build_all", steps)
    with threadpool_limits(limits=2, user_api="blas"), Store(db) as store:
        building.build(store, notes=[], beside=False)
        after = {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
    assert seen == [{1}]
    assert after == {2}
    # Python's lock handed over less often while building, as before after
    assert switch == [pytest.approx(building.SWITCH_INTERVAL)] and interval < building.SWITCH_INTERVAL
    assert sys.getswitchinterval() == interval
