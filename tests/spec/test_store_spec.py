"""Spec: the store keeps its promises on every engine (DuckDB writes in its own transactions;
Spark writes each changed table whole under a staging name and renames it into place).

A load merges into its partitions, a repeated file changes nothing, a contradiction anywhere in
a load leaves every table as it was, and a derived table is written whole with its gaps kept.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from placehealth.sources import read_file
from placehealth.sources.base import ReadResult
from placehealth.sources.validate import InputError
from placehealth.store import OLD, STAGED, Store

from support.layouts import write_registrations

pytestmark = pytest.mark.engines


def _total(store: Store, period: str) -> int:
    t = store.table("registrations_lsoa")
    return int(t.filter(t.period == period).patients.sum().execute())


def test_a_load_merges_into_its_partitions_and_a_file_seen_before_changes_nothing(store, tmp_path):
    north = write_registrations(tmp_path / "n.csv", "01APR2020",
                                [("A81001", "E01000001", 10), ("A81002", "E01000002", 5)])
    south = write_registrations(tmp_path / "s.csv", "01APR2020",
                                [("A81002", "E01000002", 5), ("A81003", "E01000003", 7)])
    may = write_registrations(tmp_path / "may.csv", "01MAY2020", [("A81001", "E01000001", 12)])
    first = store.ingest([read_file(north), read_file(south)])  # one month from two extracts
    assert [s["load_id"] for s in first] == [1, 2]
    again = store.ingest([read_file(south), read_file(may)])
    assert [s["new"] for s in again] == [False, True] and again[0]["load_id"] == 2
    assert store.periods("registrations_lsoa") == ["2020-04", "2020-05"]
    assert _total(store, "2020-04") == 22 and _total(store, "2020-05") == 12  # A81002 kept once
    assert store.table("registrations_lsoa").count().execute() == 4
    assert store.loads()["load_id"].tolist() == [1, 2, 3]


def test_a_contradiction_anywhere_in_a_load_leaves_every_table_as_it_was(store, tmp_path):
    april = write_registrations(tmp_path / "a.csv", "01APR2020", [("A81001", "E01000001", 10)])
    may = write_registrations(tmp_path / "may.csv", "01MAY2020", [("A81001", "E01000001", 12)])
    revised = write_registrations(tmp_path / "b.csv", "01APR2020", [("A81001", "E01000001", 11)])
    store.ingest([read_file(april)])
    before = store.list_tables()
    with pytest.raises(InputError) as caught:  # may.csv would have been fine on its own
        store.ingest([read_file(may), read_file(revised)])
    assert "b.csv" in str(caught.value) and "a.csv" in str(caught.value)
    assert store.list_tables() == before
    assert store.periods("registrations_lsoa") == ["2020-04"] and _total(store, "2020-04") == 10
    assert len(store.loads()) == 1
    assert not [t for t in store.con.list_tables() if t.startswith((STAGED, OLD))]


def test_a_later_file_fills_gaps_left_by_an_earlier_one(store):
    def imd(rows, sha):
        frame = pd.DataFrame(rows, columns=["edition", "lsoa_code", "lsoa_vintage", "domain",
                                            "score", "rank", "decile"])
        return ReadResult("imd", "IoD", "IMD2019", {"imd": frame}, file_name=sha, sha256=sha)

    store.ingest([imd([("IMD2019", "E01000001", 2011, "imd", None, 29199, 9)], "ranks")])
    store.ingest([imd([("IMD2019", "E01000001", 2011, "imd", 6.208, None, 9)], "scores")])
    row = store.read("imd").iloc[0]
    assert row["score"] == pytest.approx(6.208) and row["rank"] == 29199 and row["decile"] == 9


def test_a_derived_table_is_written_whole_and_keeps_its_gaps(store):
    store.replace_table("derived", pd.DataFrame({"unit_code": ["A", "B"], "n": [1, 2]}))
    frame = pd.DataFrame({"unit_code": ["A", None, "C"],
                          "n": pd.array([3, None, 5], dtype="Int64"),
                          "rate": [0.5, None, 1.25], "note": [None, None, None]})
    store.replace_table("derived", frame)
    got = store.table("derived").order_by("rate").to_pyarrow().to_pydict()
    assert got["unit_code"] == ["A", "C", None]  # missing stays missing (never the text 'NaN')
    assert got["n"] == [3, 5, None] and got["rate"] == [0.5, 1.25, None]
    assert got["note"] == [None, None, None]
    store.replace_table("derived", frame.iloc[:0])
    assert store.table("derived").count().execute() == 0
    assert store.table("derived").columns == ("unit_code", "n", "rate", "note")


def test_a_derived_table_written_in_parts_is_its_parts_and_replaces_the_old_one_whole(store):
    store.replace_table("derived", pd.DataFrame({"unit_code": ["old"], "n": [0.0]}))
    seen = []

    def parts():
        for first in (1, 3, 5):
            yield pa.table({"unit_code": [f"u{first}", f"u{first + 1}"],
                            "n": [float(first), float(first + 1)]})
            seen.append(store.read("derived")["unit_code"].tolist())  # read between the parts

    assert store.replace_table_in_parts("derived", parts()) == 6  # the rows written
    assert seen == [["old"]] * 3  # the old table until the new one is whole
    got = store.table("derived").order_by("n").to_pandas()
    assert got["unit_code"].tolist() == ["u1", "u2", "u3", "u4", "u5", "u6"]
    assert got["n"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]

    def broken():
        yield pa.table({"unit_code": ["new"], "n": [9.0]})
        raise RuntimeError("stopped while making the second part")

    with pytest.raises(RuntimeError):
        store.replace_table_in_parts("derived", broken())
    assert store.table("derived").count().execute() == 6  # as it was
    with pytest.raises(ValueError):
        store.replace_table_in_parts("derived", iter(()))
    assert store.table("derived").count().execute() == 6
    assert not [t for t in store.con.list_tables() if t.startswith((STAGED, OLD))]


def test_a_snapshot_replaces_its_partition(store):
    def partners(names, sha):
        frame = pd.DataFrame({"register": "mine", "period": "2025-01", "partner_id": names,
                              "name": names, "kind": "charity"})
        return ReadResult("partners", "register", "2025-01", {"partners": frame},
                          file_name=sha, sha256=sha)

    store.ingest([partners(["p1", "p2"], "one")])
    store.ingest([partners(["p2", "p3"], "two")], replace=True)
    assert sorted(store.read("partners")["partner_id"]) == ["p2", "p3"]


def test_an_interrupted_swap_gets_its_old_table_back(spark_master, tmp_path):
    """Spark only: a load stopped between renaming the old table away and the new one in."""
    location = f"{spark_master}/spec_swap"
    with Store(location) as store:
        store.replace_table("derived", pd.DataFrame({"n": [1]}))
        store.con.rename_table("derived", OLD + "derived")  # the state a crash there leaves
        store.replace_table("scratch", pd.DataFrame({"n": [9]}))
        store.con.create_table(f"{STAGED}x", pd.DataFrame({"n": [0]}))
    with Store(location) as store:
        store.replace_table("other", pd.DataFrame({"n": [2]}))  # the first write tidies up
        assert store.read("derived")["n"].tolist() == [1]
        assert store.list_tables() == ["derived", "other", "scratch"]
        assert not [t for t in store.con.list_tables() if t.startswith((STAGED, OLD))]
