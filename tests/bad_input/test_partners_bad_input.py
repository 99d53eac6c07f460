"""Bad partner registers and postcode lookups: errors name file, line and value; nothing stored."""

from __future__ import annotations

import hashlib
from pathlib import Path

from typer.testing import CliRunner

from placehealth.outputs.cli import _register, app
from placehealth.store import Store

if not app.registered_commands:
    _register()

runner = CliRunner()
LOOKUP = ("pcds,oseast1m,osnrth1m,lsoa21\n"
          "ST4 1AA,388000,345000,E01014200\nST4 2BB,389000,346000,E01014201\n")
HEADER = "partner_id,name,kind,postcode,capacity\n"


def ingest(db: Path, *paths: Path, args: tuple[str, ...] = ()):
    """Run ``placehealth ingest``; an input error's message is the output (main() prints it)."""
    result = runner.invoke(app, ["ingest", *map(str, paths), "--db", str(db), *args])
    text = result.output + (str(result.exception) if result.exception else "")
    result.message = " ".join(text.split())  # Rich wraps long lines
    return result


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def loaded(tmp_path: Path) -> Path:
    db = tmp_path / "s.duckdb"
    lookup = tmp_path / "ONSPD_FEB_2025_UK.csv"
    lookup.write_text(LOOKUP)
    assert ingest(db, lookup).exit_code == 0
    return db


def test_unknown_postcode_names_line_and_value_and_stores_nothing(tmp_path):
    db = loaded(tmp_path)
    before = digest(db)
    reg = tmp_path / "reg_2025-10.csv"
    reg.write_text(HEADER + "P1,Hope,library,ST4 1AA,\nP2,Oak,library,ZZ9 9ZZ,\n")
    result = ingest(db, reg, args=("--as", "partners"))
    assert result.exit_code != 0
    assert "reg_2025-10.csv, line 3, field 'postcode'" in result.message
    assert "'ZZ9 9ZZ' is not in the loaded postcode lookup" in result.message
    assert digest(db) == before


def test_allow_unlocated_keeps_and_lists_the_row(tmp_path):
    db = loaded(tmp_path)
    reg = tmp_path / "reg_2025-10.csv"
    reg.write_text(HEADER + "P1,Hope,library,ST4 1AA,\nP2,Oak,library,ZZ9 9ZZ,\n")
    result = ingest(db, reg, args=("--as", "partners", "--allow-unlocated"))
    assert result.exit_code == 0, result.message
    assert "1 partners kept unlocated" in result.message and "line 3 P2 (ZZ9 9ZZ)" in result.message
    with Store(db) as store:
        rows = store.read("partners").set_index("partner_id")
    assert rows.loc["P1", "located_by"] == "postcode" and pd_isna(rows.loc["P2", "located_by"])


def pd_isna(value) -> bool:
    return value is None or value != value


def test_no_lookup_loaded_says_so(tmp_path):
    reg = tmp_path / "reg_2025-10.csv"
    reg.write_text(HEADER + "P1,Hope,library,ST4 1AA,\n")
    result = ingest(tmp_path / "empty.duckdb", reg, args=("--as", "partners"))
    assert result.exit_code != 0
    assert "line 2" in result.message and "no postcode lookup is loaded" in result.message


def test_lookup_named_in_the_same_command_is_used(tmp_path):
    lookup = tmp_path / "ONSPD_FEB_2025_UK.csv"
    lookup.write_text(LOOKUP)
    reg = tmp_path / "reg_2025-10.csv"
    reg.write_text(HEADER + "P1,Hope,library,ST4 2BB,\n")
    result = ingest(tmp_path / "s.duckdb", lookup, reg)
    assert result.exit_code == 0, result.message
    with Store(tmp_path / "s.duckdb") as store:
        assert store.read("partners")["lsoa_code"].tolist() == ["E01014201"]


def test_a_register_after_another_file_finds_the_stored_lookup(tmp_path):
    """The register is read while the file before it is written (the store open for writing):
    the lookup already loaded is read through a cursor of the open store."""
    db = loaded(tmp_path)
    qof = tmp_path / "PREVALENCE_2425.csv"
    qof.write_text("PRACTICE_CODE,GROUP_CODE,REGISTER,PATIENT_LIST_TYPE,PRACTICE_LIST_SIZE\n"
                   "Y90001,HYP,812,TOTAL,6020\n")
    reg = tmp_path / "reg_2025-10.csv"
    reg.write_text(HEADER + "P1,Hope,library,ST4 2BB,\n")
    result = ingest(db, qof, reg)
    assert result.exit_code == 0, result.message
    with Store(db) as store:
        assert store.read("partners")["lsoa_code"].tolist() == ["E01014201"]
        assert len(store.read("qof_prevalence")) == 1


def test_bad_values_name_their_line_and_field(tmp_path):
    db = loaded(tmp_path)
    before = digest(db)
    cases = {
        "P1,Hope,bakery,ST4 1AA,\n": ("line 2, field 'kind'", "unknown kind 'bakery'"),
        "P1,Hope,library,ST4 1AA,-2\n": ("line 2, field 'capacity'", "negative"),
        "P1,Hope,library,ST4 1AA,\nP1,Oak,library,ST4 2BB,\n": ("line 3", "duplicate partner"),
        "P1,Hope,library,,\n": ("line 2", "no location"),
    }
    for body, (where, what) in cases.items():
        reg = tmp_path / "reg_2025-10.csv"
        reg.write_text(HEADER + body)
        result = ingest(db, reg, args=("--as", "partners"))
        assert result.exit_code != 0, body
        assert where in result.message and what in result.message, result.message
    assert digest(db) == before


def test_bad_lookup_rows_are_named(tmp_path):
    bad = tmp_path / "ONSPD_FEB_2025_UK.csv"
    bad.write_text("pcds,oseast1m,osnrth1m,lsoa21\nST4 1AA,388000,345000,E01014200\n"
                   "NOT A CODE,1,1,E01014200\n")
    result = ingest(tmp_path / "s.duckdb", bad)
    assert result.exit_code != 0
    assert "line 3, field 'postcode'" in result.message and "'NOT A CODE'" in result.message
    off = tmp_path / "ONSPD_MAY_2025_UK.csv"
    off.write_text("pcds,oseast1m,osnrth1m\nST4 1AA,9388000,345000\n")
    result = ingest(tmp_path / "s.duckdb", off)
    assert result.exit_code != 0 and "not on the British National Grid" in result.message


def test_a_postcode_missing_from_a_loaded_lookup_is_not_called_no_lookup(tmp_path):
    db = loaded(tmp_path)
    reg = tmp_path / "reg_2025-10.csv"
    reg.write_text(HEADER + "P1,Hope,library,ZZ9 9ZZ,\n")
    result = ingest(db, reg, args=("--as", "partners"))
    assert "'ZZ9 9ZZ' is not in the loaded postcode lookup" in result.message
