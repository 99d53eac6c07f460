"""``placehealth target site`` on bad files: each error names the file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from placehealth.outputs.cli import _register, app

if not app.registered_commands:
    _register()
runner = CliRunner()

DEMAND = "id,x,y,weight\nd1,0,0,5\nd2,1000,0,3\nd3,5000,0,2\n"
SITES = "id,x,y\nA,0,0\nB,1000,10\n"


def _files(tmp_path: Path, demand: str = DEMAND, sites: str = SITES,
           costs: str | None = None) -> list[str]:
    (tmp_path / "D.csv").write_text(demand)
    (tmp_path / "S.csv").write_text(sites)
    args = ["target", "site", "--demand", str(tmp_path / "D.csv"),
            "--sites", str(tmp_path / "S.csv")]
    if costs is not None:
        (tmp_path / "M.csv").write_text(costs)
        args += ["--distances", str(tmp_path / "M.csv")]
    return args


def _error(args: list[str]) -> str:
    from placehealth.sources.validate import InputError

    result = runner.invoke(app, args)
    assert result.exit_code != 0
    if isinstance(result.exception, InputError):
        return str(result.exception)
    return result.output + (result.stderr if result.stderr_bytes else "")


@pytest.mark.parametrize(("demand", "sites", "expected"), [
    ("id,x,y\nd1,0,0\n", SITES, ["D.csv", "line 1", "'weight'"]),
    ("id,x,y,weight\nd1,0,0,5\nd2,abc,0,3\n", SITES, ["D.csv", "line 3", "'x'", "'abc'"]),
    ("id,x,y,weight\nd1,0,0,5\nd1,1,0,3\n", SITES, ["D.csv", "line 3", "duplicate", "line 2"]),
    ("id,x,y,weight\nd1,0,0,-5\n", SITES, ["D.csv", "line 2", "'weight'", "-5"]),
    ("id,x,y,weight,core20\nd1,0,0,5,maybe\n", SITES, ["D.csv", "line 2", "'core20'"]),
    (DEMAND, "id,x\nA,0\n", ["S.csv", "line 1", "'y'"]),
    (DEMAND, "id,x,y\nA,0,0\nA,5,5\n", ["S.csv", "line 3", "duplicate"]),
    (DEMAND, "id,x,y\nA,0,\n", ["S.csv", "line 2", "'y'"]),
])
def test_bad_demand_and_sites_files(tmp_path, demand, sites, expected):
    message = _error([*_files(tmp_path, demand, sites), "--objective", "mclp", "--p", "1"])
    for part in expected:
        assert part in message


def test_unknown_fixed_site_is_named(tmp_path):
    message = _error([*_files(tmp_path), "--objective", "mclp", "--p", "2", "--fixed", "A,Q"])
    assert "S.csv" in message and "'Q'" not in message and "Q" in message


@pytest.mark.parametrize(("costs", "expected"), [
    ("demand_id,site_id,cost\nd1,A,1\nd9,A,2\n", ["M.csv", "line 3", "'demand_id'", "d9", "D.csv"]),
    ("demand_id,site_id,cost\nd1,A,1\nd2,Z,2\n", ["M.csv", "line 3", "'site_id'", "Z", "S.csv"]),
    ("demand_id,site_id,cost\nd1,A,1\nd1,A,2\n", ["M.csv", "line 3", "duplicate"]),
    ("demand_id,site_id,cost\nd1,A,fast\n", ["M.csv", "line 2", "'cost'"]),
    ("demand_id,site\nd1,A\n", ["M.csv", "line 1", "'site_id'"]),
])
def test_bad_cost_list(tmp_path, costs, expected):
    message = _error([*_files(tmp_path, costs=costs), "--objective", "pmedian", "--p", "1"])
    for part in expected:
        assert part in message


def test_impossible_set_cover_names_the_unreachable_points(tmp_path):
    result = runner.invoke(app, [*_files(tmp_path), "--objective", "lscp", "--radius", "100"])
    assert result.exit_code == 2
    text = result.output + result.stderr
    assert "d3" in text and "d2" not in text.split("(")[-1]  # d2 is within 100 m of B
    assert "100 m" in text


def test_good_files_give_json(tmp_path):
    result = runner.invoke(app, [*_files(tmp_path), "--objective", "mclp", "--p", "1", "--radius", "1500", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["chosen"] == ["A"] or data["chosen"] == ["B"]
    assert data["covered_weight"] == 8.0 and data["status"] == "Optimal"
    sites = {a["demand_id"]: a["site_id"] for a in data["assignments"]}
    assert sites["d3"] is None and sites["d1"] == data["chosen"][0]


def test_an_equity_share_no_choice_meets_is_said_plainly(tmp_path):
    demand = "id,x,y,weight,core20\nd1,0,0,5,0\nd2,10,0,3,1\n"  # one site reaches both
    result = runner.invoke(app, [*_files(tmp_path, demand, "id,x,y\nA,0,0\n"), "--objective",
                                 "mclp", "--p", "1", "--radius", "100",
                                 "--min-core20-share", "0.9"])
    assert result.exit_code == 1
    assert "no choice of 1 sites puts at least 90%" in result.output
