"""The store on DuckDB: a refused load leaves the file byte for byte as it was; where the store is.

The promises every engine keeps (merges, repeats, gaps, conflicts) are in tests/spec/test_store_spec.py.
"""

from __future__ import annotations

import hashlib
import threading
import time
from contextlib import closing
from itertools import islice

import pytest

from placehealth.sources import read_ahead, read_file
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


def test_read_ahead_reads_one_file_ahead_in_order_and_stops_at_a_bad_one():
    """The next item is read in another thread while the caller holds this one; a read's
    error comes when its result is asked for, and nothing after it is read."""
    asked: list[int] = []
    threads: set[str] = set()
    second = threading.Event()

    def read(item: int) -> int:
        asked.append(item)
        threads.add(threading.current_thread().name)
        if item == 1:
            second.set()
        if item == 3:
            raise InputError("three.csv", "bad", line=4, field="patients")
        return item * 10

    ahead = read_ahead(range(6), read)
    with closing(ahead):
        assert next(ahead) == 0
        assert second.wait(10) and asked == [0, 1]  # the next one read while 0 is in use
        assert next(ahead) == 10 and next(ahead) == 20
        with pytest.raises(InputError, match=r"three\.csv, line 4, field 'patients'"):
            next(ahead)
    assert asked == [0, 1, 2, 3] and threading.current_thread().name not in threads
    assert list(read_ahead([], read)) == []


def test_read_ahead_reads_further_while_little_is_held():
    """Items are read while those read and not let go (waiting, and the one the caller holds)
    weigh less than the budget, or when none waits."""
    asked: list[int] = []
    reached = {i: threading.Event() for i in range(5)}
    weights = {0: 1, 1: 1, 2: 5, 3: 1, 4: 1}

    def read(item: int) -> int:
        asked.append(item)
        reached[item].set()
        return item

    ahead = read_ahead(range(5), read, budget=3, weight=weights.get)
    with closing(ahead):
        assert next(ahead) == 0 and reached[2].wait(10)
        time.sleep(0.2)
        assert asked == [0, 1, 2]  # 0 held, 1 and 2 waiting: 7, over the budget
        assert next(ahead) == 1
        time.sleep(0.2)
        assert asked == [0, 1, 2]  # 1 held, 2 waiting: 6
        assert next(ahead) == 2 and reached[3].wait(10)  # none waits: one more is read
        assert list(ahead) == [3, 4]


def test_batches_read_ahead_each_commit_alone_and_a_bad_one_stores_nothing(tmp_path, db_path):
    """Batches written as ``benchmarks/spine.py --one-process`` writes them (each its own
    transaction, every file read while the one before it is written): the batches before a
    bad file are stored, nothing of its batch nor of the later ones."""
    batches = [
        [registrations(tmp_path, "m1.csv", "01APR2020", [("A81001", "E01000001", 10)])],
        [registrations(tmp_path, "m2a.csv", "01MAY2020", [("A81001", "E01000001", 11)]),
         registrations(tmp_path, "m2b.csv", "01MAY2020", [("A81002", "E01000001", 12)])],
        [registrations(tmp_path, "m3.csv", "01JUN2020", [("A81001", "E01000001", 13)]),
         registrations(tmp_path, "bad.csv", "01JUN2020", [("A81002", "E01000001", -1)])],
        [registrations(tmp_path, "m4.csv", "01JUL2020", [("A81001", "E01000001", 14)])],
    ]
    ahead = read_ahead([f for files in batches for f in files], read_file)
    with closing(ahead), Store(db_path) as store, pytest.raises(InputError) as caught:
        for files in batches:
            store.ingest(islice(ahead, len(files)))
    message = str(caught.value)
    assert "bad.csv" in message and "line 2" in message and "patients" in message
    with Store(db_path) as s:
        assert s.periods("registrations_lsoa") == ["2020-04", "2020-05"]
        assert total(s) == 10 + 11 + 12
        assert s.loads()["file_name"].tolist() == ["m1.csv", "m2a.csv", "m2b.csv"]


def test_a_cursor_reads_what_is_committed_while_the_store_writes(tmp_path, db_path):
    first = registrations(tmp_path, "a.csv", "01APR2020", [("A81001", "E01000001", 10)])
    later = registrations(tmp_path, "b.csv", "01MAY2020", [("A81001", "E01000001", 11)])
    with Store(db_path) as s:
        s.ingest([read_file(first)])
    seen: list[int] = []

    def results():
        yield read_file(later)
        with writer.cursor() as other:  # the transaction has written b.csv: not committed yet
            seen.append(total(other))
            seen.append(len(other.loads()))

    with Store(db_path) as writer:
        writer.ingest(results())
        assert total(writer) == 21
    assert seen == [10, 1]


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


def _setting(store: Store, name: str) -> str:
    return str(store.con.con.execute(f"SELECT current_setting('{name}')").fetchone()[0])


def test_one_thread_from_two_threads_sets_the_thread_count_back(tmp_path):
    """DuckDB's thread count is the whole database's: two writers each inside ``one_thread`` on
    cursors of their own, the first out must not set it back under the second, nor the second
    set back the first's 1 (the database would stay on one thread)."""
    import threading

    with Store(tmp_path / "s.duckdb") as store:
        store.con.con.execute("SET threads = 2")
        both_in, checked, first_out = threading.Barrier(3), threading.Barrier(3), threading.Event()
        seen: list[str] = []

        def writer(first: bool) -> None:
            cursor = store.cursor()
            with cursor.one_thread():
                both_in.wait()
                checked.wait()
                if not first:
                    first_out.wait()
                    seen.append(_setting(cursor, "threads"))  # still writing: still one thread
            if first:
                first_out.set()
            cursor.close()

        threads = [threading.Thread(target=writer, args=(first,)) for first in (True, False)]
        for thread in threads:
            thread.start()
        both_in.wait()
        try:
            assert _setting(store, "threads") == "1"
        finally:
            checked.wait()
        for thread in threads:
            thread.join()
        assert seen == ["1"]
        assert _setting(store, "threads") == "2"


def test_hold_fixes_threads_and_memory_for_every_cursor_then_sets_them_back(tmp_path):
    """While held, no writer, no copy's memory limit and no cache release changes DuckDB's
    settings (another thread's query would run out of memory at 32 MB); after, both are as
    before, and a writer still inside ``one_thread`` sets the thread count back when done."""
    from placehealth.outputs import blocks

    with Store(tmp_path / "s.duckdb") as store:
        store.con.con.execute("SET threads = 2")
        store.set_memory_limit("3GB")
        cursor = store.cursor()
        with store.hold(threads=1, memory="700MB"):
            assert store.engine.held and cursor.engine.held
            shown = _setting(store, "memory_limit")
            with cursor.one_thread(), blocks.engine_memory(cursor):
                assert (_setting(cursor, "threads"), _setting(cursor, "memory_limit")) == ("1", shown)
            store.release_cache()
            cursor.release_cache()
            assert (_setting(store, "threads"), _setting(store, "memory_limit")) == ("1", shown)
            with pytest.raises(RuntimeError, match="already held"), cursor.hold(threads=2, memory="1GB"):
                pass
        assert not store.engine.held
        assert (_setting(store, "threads"), store.memory_limit()) == ("2", "3GB")
        writing = cursor.one_thread()
        writing.__enter__()
        with store.hold(threads=1, memory="700MB"):
            pass
        assert _setting(store, "threads") == "1"  # the writer is still writing
        writing.__exit__(None, None, None)
        assert _setting(store, "threads") == "2"
        cursor.close()
