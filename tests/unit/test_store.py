"""The store on DuckDB: a refused load leaves the file byte for byte as it was; where the store is.

The promises every engine keeps (merges, repeats, gaps, conflicts) are in tests/spec/test_store_spec.py.
"""

from __future__ import annotations

import hashlib

import pytest

from placehealth.sources import read_file
from placehealth.sources.validate import InputError
from placehealth.store import Store, resolve_db

from support.layouts import write_registrations


def registrations(tmp_path, name: str, month: str, rows: list[tuple[str, str, int]]):
    return write_registrations(tmp_path / name, month, rows)


def total(store: Store, period: str | None = None) -> int:
    t = store.table("registrations_lsoa")
    if period:
        t = t.filter(t.period == period)
    return int(t.patients.sum().execute())


def test_a_contradicting_value_is_refused_and_nothing_changes(tmp_path, db_path):
    first = registrations(tmp_path, "a.csv", "01APR2020", [("A81001", "E01000001", 10)])
    revised = registrations(tmp_path, "b.csv", "01APR2020", [("A81001", "E01000001", 11)])
    with Store(db_path) as s:
        s.ingest([read_file(first)])
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    with Store(db_path) as s, pytest.raises(InputError) as caught:
        s.ingest([read_file(revised)])
    message = str(caught.value)
    assert "b.csv" in message and "patients" in message and "a.csv" in message
    with Store(db_path) as s:
        assert total(s) == 10 and len(s.loads()) == 1
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before


def test_store_location_comes_from_argument_then_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PLACEHEALTH_DB", str(tmp_path / "env.duckdb"))
    assert resolve_db() == str(tmp_path / "env.duckdb")
    assert resolve_db(tmp_path / "arg.duckdb") == str(tmp_path / "arg.duckdb")
    monkeypatch.delenv("PLACEHEALTH_DB")
    assert resolve_db() == "placehealth.duckdb"


def test_an_ibis_url_selects_the_backend(tmp_path):
    with Store(f"duckdb://{tmp_path / 'url.duckdb'}") as s:
        assert s.con.name == "duckdb"
        assert s.list_tables() == []


def test_release_cache_empties_duckdbs_cache_and_keeps_its_limit(tmp_path):
    """What DuckDB cached of the tables read is let go; the limit is as it was, however often
    (DuckDB shows it cut to one decimal: set back as shown, it would shrink by 0.1 GiB each time)."""
    from placehealth.outputs import blocks

    with Store(tmp_path / "s.duckdb") as store:
        store.con.con.execute("CREATE TABLE big AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(6000000)")
        store.con.con.execute("CHECKPOINT")
        shown = "SELECT current_setting('memory_limit')"
        cached = "SELECT sum(memory_usage_bytes) FROM duckdb_memory()"
        store.con.con.execute("SELECT max(s), sum(i) FROM big").fetchone()
        before = store.con.con.execute(cached).fetchone()[0]
        store.release_cache()
        assert before > 80 * 2**20 and store.con.con.execute(cached).fetchone()[0] < 40 * 2**20
        limit = store.con.con.execute(shown).fetchone()[0]
        for _ in range(5):
            store.release_cache()
            with blocks.engine_memory(store):
                store.release_cache()
        assert store.con.con.execute(shown).fetchone()[0] == limit
