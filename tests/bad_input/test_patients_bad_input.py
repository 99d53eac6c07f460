"""Bad patient-level extracts: the error names file, line (CSV) or row (Parquet) and field, found
by queries of the engine; nothing is written, and a store already loaded stays as it was."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from placehealth.outputs.cli import _register, app
from placehealth.sources import ReadOptions, read_in_engine
from placehealth.sources.patients import COLUMNS
from placehealth.sources.validate import InputError
from placehealth.store import Store

if not app.registered_commands:
    _register()

GOOD = [
    {"person_id": "P1", "practice_code": "A00001", "lsoa_code": "E01000001", "age": "70",
     "sex": "F", "ethnicity": "A", "hyp_date": "2019-05-01", "flu_vaccination_date": "2025-01-10"},
    {"person_id": "P2", "practice_code": "A00001", "lsoa_code": "NO2021", "age": "2",
     "sex": "M", "ethnicity": "", "mmr1_date": "2024-09-30"},
    {"person_id": "P3", "practice_code": "A00002", "lsoa_code": "E01000002", "age": "45",
     "sex": "U", "ethnicity": "Z", "dm_date": "2020-02-29", "blood_pressure_date": "2024-03-01"},
]


def write_csv(path: Path, rows: list[dict], columns: list[str] = COLUMNS) -> Path:
    table = pa.table({c: pa.array([r.get(c, "") for r in rows], pa.string()) for c in columns})
    pacsv.write_csv(table, path)
    return path


def read(store: Store, path: Path, period: str = "2025-03"):
    return read_in_engine(store.con, path, "patients", ReadOptions(period=period))


def load(store: Store, path: Path, period: str = "2025-03"):
    return store.ingest([read(store, path, period)])


def snapshot(store: Store) -> dict[str, int]:
    return {t: int(store.table(t).count().execute()) for t in store.list_tables()}


@pytest.mark.parametrize(("change", "line", "field", "words"), [
    ({"sex": "X"}, 3, "sex", "'X' is not one of M, F, I, U"),
    ({"hyp_date": "2019-13-01"}, 3, "hyp_date", "'2019-13-01' is not a date as YYYY-MM-DD"),
    ({"hyp_date": "01/05/2019"}, 3, "hyp_date", "'01/05/2019' is not a date"),
    ({"flu_vaccination_date": "2025-04-01"}, 3, "flu_vaccination_date", "on or before the extract's end (2025-03-31)"),
    ({"age": "7.5"}, 3, "age", "'7.5' is not whole years"),
    ({"age": "130"}, 3, "age", "whole years from 0 to 120"),
    ({"practice_code": "A1"}, 3, "practice_code", "a practice code"),
    ({"lsoa_code": "E02000001"}, 3, "lsoa_code", "an LSOA code"),
    ({"ethnicity": "Q"}, 3, "ethnicity", "NHS ethnic category"),
    ({"person_id": "P1"}, 3, "person_id", "'P1' appears more than once"),
])
def test_a_bad_value_is_named_by_file_line_and_field(store, tmp_path, change, line, field, words):
    rows = [dict(r) for r in GOOD]
    rows[1].update(change)  # the second data row: line 3 of the file
    path = write_csv(tmp_path / "extract.csv", rows)
    with pytest.raises(InputError) as caught:
        read(store, path)
    error = caught.value
    assert (error.file, error.line, error.field) == ("extract.csv", line, field)
    assert words in str(error)


def test_a_missing_column_is_named(store, tmp_path):
    path = write_csv(tmp_path / "extract.csv", GOOD, [c for c in COLUMNS if c != "copd_date"])
    with pytest.raises(InputError, match="missing column copd_date") as caught:
        read(store, path)
    assert caught.value.field == "copd_date"


def test_parquet_errors_name_the_row(store, tmp_path):
    rows = [dict(r) for r in GOOD]
    rows[2]["sex"] = "male"
    table = pa.table({c: pa.array([r.get(c) or None for r in rows], pa.string()) for c in COLUMNS})
    pq.write_table(table, tmp_path / "extract.parquet")
    with pytest.raises(InputError) as caught:
        read(store, tmp_path / "extract.parquet")
    assert (caught.value.row, caught.value.field) == (3, "sex")
    assert "extract.parquet, row 3, field 'sex'" in str(caught.value)


def test_a_file_the_engine_cannot_read_is_an_input_error(store, tmp_path):
    path = tmp_path / "extract.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="cannot be read as Parquet"):
        read(store, path)


def test_a_bad_file_leaves_the_store_as_it_was(store, tmp_path):
    load(store, write_csv(tmp_path / "march.csv", GOOD))
    before = snapshot(store)
    assert before["patients"] == 3 and before["registrations_lsoa"] == 3
    rows = [dict(r) for r in GOOD]
    rows[0].update(person_id="P9")
    rows[2].update(dm_date="2020-02-30")
    with pytest.raises(InputError, match="dm_date"):
        load(store, write_csv(tmp_path / "april.csv", rows), "2025-04")
    # the same month from another file: refused before anything is written
    rows[2].update(dm_date="2020-02-28")
    with pytest.raises(InputError, match=r"already loaded from march\.csv"):
        load(store, write_csv(tmp_path / "march-again.csv", rows))
    assert snapshot(store) == before


def test_ingest_command_reads_patients_through_the_engine(tmp_path):
    path = write_csv(tmp_path / "extract.csv", GOOD)
    db = tmp_path / "cli.duckdb"
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", "--as", "patients", str(path), "--db", str(db)])
    assert result.exit_code != 0 and "--period YYYY-MM" in str(result.exception)
    result = runner.invoke(app, ["ingest", "--as", "patients", str(path), "--period", "2025-03",
                                 "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "loaded as patients 2025-03" in result.output
    bad = write_csv(tmp_path / "bad.csv", [dict(GOOD[0], sex="X")])
    result = runner.invoke(app, ["ingest", "--as", "patients", str(bad), "--period", "2025-04",
                                 "--db", str(db)])
    assert result.exit_code != 0
    assert "bad.csv, line 2, field 'sex'" in (result.output + str(result.exception))
