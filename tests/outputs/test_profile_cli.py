"""The profile and group commands on the tiny hand-made place (support/tiny_place.py)."""

from __future__ import annotations

import json
import warnings

import pytest
import typer
from typer.testing import CliRunner

from placehealth import levels as lv
from placehealth.analyses.profile import build_profiles
from placehealth.outputs.cli import profile
from placehealth.store import Store

from support.tiny_place import L1, L2, build_place, registrations


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    db_path = tmp_path_factory.mktemp("cli") / "place.duckdb"
    with Store(db_path) as store, warnings.catch_warnings():
        warnings.simplefilter("ignore", lv.LevelWarning)
        build_place(store)
        lv.create_group(store, "Estate", lsoas=["E01000001", "E01000003"])
        build_profiles(store)
    return db_path


def run(db, *args):
    app = typer.Typer()
    profile.register(app)
    return CliRunner().invoke(app, [*args, "--db", str(db)])


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The place plus April 2025 with small counts: A00001 (PCN U00001 by the February mapping,
    the nearest earlier) has 3 patients in LSOA1 and 9 in LSOA2, so U00001 has 12."""
    db_path = tmp_path_factory.mktemp("cli") / "small.duckdb"
    with Store(db_path) as store, warnings.catch_warnings():
        warnings.simplefilter("ignore", lv.LevelWarning)
        build_place(store)
        registrations(store, "2025-04", [("A00001", L1, "ALL", 3), ("A00001", L2, "ALL", 9)])
        build_profiles(store)
    return db_path


def test_profile_as_json_passes_disclosure_control(small):
    result = run(small, "profile", "pcn", "U00001", "--period", "2025-04", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["patients"] == 10  # 12, rounded to the nearest 5
    result = run(small, "profile", "lsoa", L1, "--period", "2025-04", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["patients"] is None and "patients" in data["suppressed_cells"]  # 3: suppressed


def test_profile_pcn_as_json_gives_the_profile_footprint_and_councils(built):
    result = run(built, "profile", "pcn", "U00001", "--period", "2025-01", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["unit_code"] == "U00001" and data["period"] == "2025-01"
    assert data["imd_score"] == pytest.approx(4500 / 190)
    assert data["patients"] == 300  # above the small-number threshold, a multiple of 5
    assert data["pcn_footprint"][0]["lsoas_50"] == 2
    assert data["pcn_la"][0]["main_la_code"] == "E06000001"


def test_profile_defaults_to_the_latest_period_and_prints_a_table(built):
    result = run(built, "profile", "la", "Beta")
    assert result.exit_code == 0, result.output
    assert "E06000002" in result.output and "2025-03" in result.output
    assert "IMD score" in result.output


def test_profile_of_a_group(built):
    result = run(built, "profile", "group", "Estate", "--format", "json")
    assert json.loads(result.output)["patients"] == 310


def test_unknown_unit_names_the_table_and_field(built):
    result = run(built, "profile", "pcn", "U99999")
    assert result.exit_code != 0
    assert "no pcn 'U99999'" in str(result.exception)


def test_group_create_list_delete(tmp_path):
    db = tmp_path / "groups.duckdb"
    members = tmp_path / "team.csv"
    members.write_text("practice_code\nA00001\nA00002\n")
    assert run(db, "group", "create", "Team", "--from", str(members)).exit_code == 0
    created = run(db, "group", "create", "Pair", "--practices", "A00003,A00004")
    assert created.exit_code == 0, created.output
    listed = json.loads(run(db, "group", "list", "--format", "json").output)
    assert {(g["group_name"], g["members"]) for g in listed} == {("Team", 2), ("Pair", 2)}
    assert run(db, "group", "delete", "Team").exit_code == 0
    assert run(db, "group", "delete", "Team").exit_code != 0


def test_profile_as_csv_and_unknown_level(built):
    result = run(built, "profile", "practice", "A00004", "--period", "2025-01", "--format", "csv")
    assert result.exit_code == 0, result.output
    header, row = result.output.strip().splitlines()
    assert "imd_score" in header.split(",") and "A00004" in row
    bad = run(built, "profile", "county", "X")
    assert bad.exit_code != 0 and "unknown level 'county'" in str(bad.exception)
