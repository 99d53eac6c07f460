"""`placehealth target site pcn` on the demo place: proven-optimal answers a user can read, with
need shown only as protected counts."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from placehealth.outputs.cli import _register, app
from placehealth.outputs.queries import Data

if not app.registered_commands:
    _register()

runner = CliRunner()


@pytest.fixture(scope="module")
def pcn(demo_db) -> str:
    return sorted(Data(demo_db).names("pcn"))[0]


def _json(demo_db, *args: str) -> dict:
    result = runner.invoke(app, ["target", "site", "pcn", *args, "--db", str(demo_db),
                                 "--format", "json"])
    assert result.exit_code == 0, result.output + str(result.exception)
    return json.loads(result.stdout)


def _protected(value) -> bool:
    return value is None or value % 5 == 0


def test_mclp_from_the_store(demo_db, pcn):
    data = _json(demo_db, pcn, "--p", "2", "--radius", "2000")
    assert data["pcn_code"] == pcn and data["status"] == "Optimal" and data["optimal"]
    assert len(data["chosen"]) == 2 == len(data["sites"])
    assert all(site["name"] and site["kind"] for site in data["sites"])
    assert data["need"].startswith("missing patients")
    for value in [a["need"] for a in data["assignments"]] + [
            data["covered_weight"], data["total_weight"], data["bound"],
            *(s["need_added"] for s in data["sites"]), *(s["need_served"] for s in data["sites"])]:
        assert _protected(value)
    # a site is assigned exactly to the neighbourhoods it covers
    assert all((a["site_id"] is not None) == a["covered"] for a in data["assignments"])
    assert {a["site_id"] for a in data["assignments"] if a["site_id"]} <= set(data["chosen"])


def test_fixed_site_kept_and_coverage_does_not_fall_with_p(demo_db, pcn):
    one = _json(demo_db, pcn, "--p", "1", "--radius", "2000")
    fixed = one["chosen"][0]
    three = _json(demo_db, pcn, "--p", "3", "--radius", "2000", "--fixed", fixed)
    assert fixed in three["chosen"] and three["sites"][0]["site_id"] == fixed
    assert three["sites"][0]["fixed"] is True
    assert (three["covered_weight"] or 0) >= (one["covered_weight"] or 0)


def test_pmedian_and_set_cover_from_the_store(demo_db, pcn):
    median = _json(demo_db, pcn, "--objective", "pmedian", "--p", "2")
    assert median["optimal"] and len(median["chosen"]) == 2
    assert all(a["site_id"] in median["chosen"] for a in median["assignments"])
    cover = runner.invoke(app, ["target", "site", "pcn", pcn, "--objective", "lscp", "--radius",
                                "3000", "--db", str(demo_db), "--format", "json"])
    if cover.exit_code == 0:  # every high-need neighbourhood within reach of a chosen site
        data = json.loads(cover.stdout)
        assert data["optimal"] and data["chosen"]
    else:  # or the ones no candidate reaches are named
        assert "beyond 3000 m of every candidate" in cover.output


def test_unknown_pcn_and_kind_are_named(demo_db, pcn):
    result = runner.invoke(app, ["target", "site", "pcn", "U00000", "--db", str(demo_db)])
    assert result.exit_code != 0 and "U00000" in str(result.exception)
    result = runner.invoke(app, ["target", "site", "pcn", pcn, "--kind", "castle", "--db",
                                 str(demo_db)])
    assert result.exit_code != 0 and "castle" in str(result.exception)
    assert "kinds in the store" in str(result.exception)
