"""`placehealth intervention add|list|delete`: entries recorded with their time, changes and
deletions kept beside the old entries, and bad entries refused with the field named."""

from __future__ import annotations

import json
from types import SimpleNamespace

import typer
from typer.testing import CliRunner

from placehealth.outputs.cli import intervention


def _run(db, *args: str) -> SimpleNamespace:
    app = typer.Typer()
    app.callback()(lambda: None)
    intervention.register(app)
    result = CliRunner().invoke(app, ["intervention", *args, "--db", str(db)])
    return SimpleNamespace(code=result.exit_code, stdout=result.stdout, stderr=result.stderr)


def _listed(db, *extra: str) -> list[dict]:
    got = _run(db, "list", "--format", "json", *extra)
    assert got.code == 0, got.stderr
    return json.loads(got.stdout)


def test_add_change_delete_keeps_the_history(tmp_path):
    db = tmp_path / "s.duckdb"
    added = _run(db, "add", "bp-checks", "--level", "pcn", "--units", "u90001;U90002",
                 "--start", "2023-04", "--indicators", "qof_hyp_prevalence:up",
                 "--description", "Blood pressure checks in pharmacies")
    assert added.code == 0, added.stderr
    (entry,) = _listed(db)
    assert entry["unit_codes"] == "U90001;U90002" and entry["start"] == "2023-04"
    assert entry["indicators"] == "qof_hyp_prevalence:up" and entry["recorded_at"] >= "2020"
    assert _run(db, "add", "bp-checks", "--level", "pcn", "--units", "U90001", "--start",
                "2023Q2", "--indicators", "qof_hyp_prevalence:up").code == 0
    (entry,) = _listed(db)
    assert entry["unit_codes"] == "U90001" and entry["start"] == "2023Q2"
    assert _run(db, "delete", "bp-checks").code == 0
    assert _run(db, "list", "--format", "json").stdout.strip() == ""
    history = _listed(db, "--history")
    assert [h["status"] for h in history] == ["active", "active", "deleted"]
    assert history[0]["recorded_at"] < history[1]["recorded_at"] < history[2]["recorded_at"]


def test_bad_entries_are_refused_and_nothing_is_stored(tmp_path):
    db = tmp_path / "s.duckdb"
    for args, field in [(["--level", "pcn", "--units", "X1", "--start", "2023Q2",
                          "--indicators", "a:up"], "unit_codes"),
                        (["--level", "ward", "--units", "U90001", "--start", "2023Q2",
                          "--indicators", "a:up"], "level"),
                        (["--level", "pcn", "--units", "U90001", "--start", "spring",
                          "--indicators", "a:up"], "start"),
                        (["--level", "pcn", "--units", "U90001", "--start", "2023Q2",
                          "--indicators", "a:sideways"], "indicators")]:
        got = _run(db, "add", "x", *args)
        assert got.code == 2 and f"field '{field}'" in got.stderr.replace("\n", " ")
    empty = _run(db, "list", "--history")
    assert empty.stdout.strip() == "" and "no interventions recorded" in empty.stderr
    assert _run(db, "delete", "x").code == 2
