"""Command-line arguments as a user types them: --db before the command, codes in any case, the
indicator names the tables show, and suggestions that are the nearest codes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from placehealth.outputs.cli import _register, app
from placehealth.outputs.cli.common import edit_distance, nearest
from placehealth.store import Store

_register()


def comparison_rows() -> pd.DataFrame:
    rows = []
    for unit, name, value in (("U05734", "Hanley PCN", 18.6), ("U05743", "Other PCN", 12.0),
                              ("U91937", "Far PCN", 10.0)):
        for indicator in ("qof_dep_prevalence", "qof_dm_prevalence"):
            rows.append({"indicator": indicator, "level": "pcn", "period": "2021-22",
                         "unit_code": unit, "unit_name": name, "numerator": 1000.0,
                         "denominator": 1000.0 * 100 / value, "value": value,
                         "lowercl": value - 1, "uppercl": value + 1, "england_value": 12.7,
                         "vs_england": "higher", "national_rank": 1, "national_units": 3,
                         "national_decile": 10, "trend": "insufficient data"})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "store.duckdb"
    with Store(path) as store:
        store.replace_table("comparison", comparison_rows())
        store.replace_table("practice_pcn", pd.DataFrame({  # only a mapping of the year before
            "period": ["2020-21"], "practice_code": ["M83146"], "pcn_code": ["U05734"]}))
    return path


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, list(args), env={"PLACEHEALTH_DB": "", **(env or {})})


def message(result) -> str:
    """What the user reads: the output, or the input error main() would print."""
    return result.output + (str(result.exception) if result.exception else "")


def test_db_is_accepted_before_the_command(db, tmp_path):
    before = invoke("--db", str(db), "tables", "--format", "json")
    assert before.exit_code == 0, before.output
    assert "comparison" in {row["table"] for row in json.loads(before.output)}
    after = invoke("tables", "--format", "json", "--db", str(db))
    assert json.loads(after.output) == json.loads(before.output)


def test_db_before_the_command_does_not_outlive_it(db, monkeypatch):
    import os

    monkeypatch.delenv("PLACEHEALTH_DB", raising=False)
    result = CliRunner().invoke(app, ["--db", str(db), "tables", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "PLACEHEALTH_DB" not in os.environ


def test_db_after_the_command_wins_over_one_before_it(db, tmp_path):
    result = invoke("--db", str(tmp_path / "other.duckdb"), "tables", "--format", "json",
                    "--db", str(db))
    assert "comparison" in {row["table"] for row in json.loads(result.stdout)}


def test_an_empty_store_says_how_to_fill_it(tmp_path):
    empty = tmp_path / "empty.duckdb"
    Store(empty).close()
    shown = invoke("tables", "--db", str(empty))
    assert shown.exit_code == 0 and "holds no tables yet" in shown.stderr
    assert "placehealth ingest" in shown.stderr and not shown.stdout.strip()
    assert json.loads(invoke("tables", "--format", "json", "--db", str(empty)).stdout) == []


def test_compare_accepts_the_indicator_name_it_shows(db):
    shown = invoke("compare", "pcn", "U05734", "--db", str(db))
    assert shown.exit_code == 0, shown.output
    assert "qof_dep_prevalence" not in shown.output  # the table shows qof_dep
    result = invoke("compare", "pcn", "U05734", "--indicator", "qof_dep", "--format", "json",
                    "--db", str(db))
    assert result.exit_code == 0, result.output
    assert {r["indicator"] for r in json.loads(result.stdout)} == {"qof_dep_prevalence"}


def test_compare_accepts_a_lower_case_code(db):
    result = invoke("compare", "pcn", "u05734", "--format", "json", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 2


def test_an_unknown_code_suggests_the_nearest_codes(db):
    result = invoke("compare", "pcn", "U05374", "--db", str(db))
    assert result.exit_code != 0
    assert "did you mean U05734" in message(result)  # one swap away
    assert "U91937" not in message(result)  # four edits away: not suggested


def test_an_unknown_indicator_suggests_the_nearest_names(db):
    result = invoke("compare", "pcn", "U05734", "--indicator", "qof_dpe", "--db", str(db))
    assert result.exit_code != 0
    assert "did you mean qof_dep" in message(result)


def test_help_names_only_commands_and_options_that_exist():
    text = " ".join(invoke("ingest", "--help").output.replace("│", " ").split())  # unwrapped
    assert "--list-kinds" not in text
    assert "placehealth kinds" in text
    assert invoke("kinds").exit_code == 0


def test_edit_distance_counts_edits():
    # worked by hand: kitten -> sitten -> sittin -> sitting
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("U05734", "U05743") == 1  # a swap of neighbours is one edit
    assert edit_distance("", "abc") == 3
    assert edit_distance("abc", "abc") == 0


def test_nearest_orders_by_edits_then_name():
    codes = ["U05734", "U05735", "U15734", "U91937", "U05733"]
    assert nearest("u05734x", codes) == ["U05734", "U05733", "U05735"]
    # difflib's ratio would rank U15734 above U05733 for this typo; edits say they tie at 1
    assert nearest("U0573", codes, n=5)[:1] == ["U05733"]


def test_compare_says_which_mapping_placed_the_practices(db):
    result = CliRunner().invoke(
        app, ["compare", "pcn", "U05734", "--db", str(db)], env={"PLACEHEALTH_DB": ""})
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert "note: 2021-22: practices are placed in PCNs, Sub-ICBs and ICBs by the 2020-21 " \
           "practice -> PCN mapping, the nearest loaded" in said
    assert "Warning" not in result.stderr
    assert "Hanley PCN (U05734) compared" in " ".join(result.stdout.split())
