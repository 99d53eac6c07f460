"""`placehealth target reach` and `target shares` on the tiny place: what a user reads."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from placehealth.outputs.cli import _register, app

from support.tiny_targeting import build_targeting

if not app.registered_commands:
    _register()

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_targeting(tmp_path_factory.mktemp("cli"))


def run(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + str(result.exception)
    return result.output


def test_reach_of_a_council_by_kind_and_what_other_distances_change(tiny):
    stored = json.loads(run("target", "reach", "la", "e06000001", "--db", str(tiny), "--format",
                            "json"))
    kinds = {row["kind"]: row for row in stored["by_kind"]}
    assert kinds["community_centre"]["lsoas"] == 2
    # LSOA1 is 100 m from the centre; at 50 m nothing is within reach, and LSOA1 (Core20) is
    # listed as high need unreached
    tight = json.loads(run("target", "reach", "la", "E06000001", "--within", "50", "--db",
                           str(tiny), "--format", "json"))
    assert {r["kind"]: r["high_need_unreached"] for r in tight["by_kind"]}["community_centre"] == 1
    assert [r["lsoa_code"] for r in tight["high_need_unreached"]] == ["E01000001"]
    text = run("target", "reach", "la", "E06000001", "--within", "50", "--db", str(tiny))
    assert "within 50 m" in text and "Community" in text and "Pharmacies" in text
    assert "High-need neighbourhoods no partner reaches: 1" in text


def test_unknown_area_is_named(tiny):
    result = runner.invoke(app, ["target", "reach", "pcn", "U99999", "--db", str(tiny)])
    assert result.exit_code != 0 and "no PCN 'U99999'" in str(result.exception)


def test_shares_add_up_exactly_and_never_show_a_contact(tiny):
    out = json.loads(run("target", "shares", "practice", "--pcn", "U00001", "--total", "7",
                         "--weight", "population", "--db", str(tiny), "--format", "json"))
    assert sum(r["fair_share"] for r in out["shares"]) == 7
    shown = run("show", "partners", "--db", str(tiny), "--format", "csv")
    assert "Hope Centre" in shown and "example.org" not in shown


def test_partners_list_by_kind_and_unlocated(tiny):
    listed = run("partners", "list", "--db", str(tiny), "--format", "csv")
    assert "Hope Centre" in listed and "Corner Pharmacy" in listed and "example.org" not in listed
    assert "contact" not in listed.splitlines()[0]
    only = run("partners", "list", "--kind", "pharmacy", "--db", str(tiny), "--format", "json")
    assert [r["name"] for r in json.loads(only)] == ["Corner Pharmacy"]
    assert json.loads(run("partners", "list", "--unlocated", "--db", str(tiny), "--format",
                          "json")) == []
    # before the register's snapshot (2025-03) nothing is listed
    assert json.loads(run("partners", "list", "--as-of", "2024-12", "--db", str(tiny),
                          "--format", "json")) == []
