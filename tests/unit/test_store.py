"""The store's promises: idempotent loads, periods side by side, gaps filled, conflicts refused."""

from __future__ import annotations

import hashlib

import pandas as pd
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


def test_loading_the_same_file_twice_changes_nothing(tmp_path, store):
    path = registrations(tmp_path, "a.csv", "01APR2020", [("A81001", "E01000001", 10)])
    first = store.ingest([read_file(path)])
    again = store.ingest([read_file(path)])
    assert first[0]["new"] and not again[0]["new"]
    assert again[0]["load_id"] == first[0]["load_id"]
    assert len(store.loads()) == 1
    assert total(store) == 10


def test_a_new_period_goes_beside_the_old_one(tmp_path, store):
    april = registrations(tmp_path, "apr.csv", "01APR2020", [("A81001", "E01000001", 10)])
    may = registrations(tmp_path, "may.csv", "01MAY2020", [("A81001", "E01000001", 12)])
    store.ingest([read_file(april)])
    store.ingest([read_file(may)])
    assert store.periods("registrations_lsoa") == ["2020-04", "2020-05"]
    assert total(store, "2020-04") == 10 and total(store, "2020-05") == 12


def test_two_extracts_of_one_month_combine_and_equal_rows_are_kept_once(tmp_path, store):
    north = registrations(tmp_path, "n.csv", "01APR2020",
                          [("A81001", "E01000001", 10), ("A81002", "E01000002", 5)])
    south = registrations(tmp_path, "s.csv", "01APR2020",
                          [("A81002", "E01000002", 5), ("A81003", "E01000003", 7)])
    store.ingest([read_file(north), read_file(south)])
    assert total(store) == 22
    assert int(store.table("registrations_lsoa").count().execute()) == 3


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


def test_a_later_file_fills_gaps_left_by_an_earlier_one(store):
    from placehealth.sources.base import ReadResult

    def imd(rows, sha):
        frame = pd.DataFrame(rows, columns=["edition", "lsoa_code", "lsoa_vintage", "domain",
                                            "score", "rank", "decile"])
        return ReadResult("imd", "IoD", "IMD2019", {"imd": frame}, file_name=sha, sha256=sha)

    ranks = imd([("IMD2019", "E01000001", 2011, "imd", None, 29199, 9)], "ranks")
    scores = imd([("IMD2019", "E01000001", 2011, "imd", 6.208, None, 9)], "scores")
    store.ingest([ranks])
    store.ingest([scores])
    row = store.read("imd").iloc[0]
    assert row["score"] == pytest.approx(6.208) and row["rank"] == 29199 and row["decile"] == 9


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
