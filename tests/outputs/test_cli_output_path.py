"""Every CLI command that shows data reads through the data layer, so through disclosure control:
profile JSON counts rounded, the suppression key printed whole, show's csv and json complete."""

from __future__ import annotations

import io
import json
import warnings

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from placehealth import levels as lv
from placehealth.analyses.profile import build_profiles
from placehealth.outputs.cli import data as data_cli
from placehealth.outputs.cli import profile
from placehealth.store import Store

from support.tiny_place import build_place


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    db_path = tmp_path_factory.mktemp("cli") / "place.duckdb"
    with Store(db_path) as store, warnings.catch_warnings():
        warnings.simplefilter("ignore", lv.LevelWarning)
        build_place(store)
        build_profiles(store)
        # real registrations are not multiples of 5, as the tiny place's are
        for table in ("pcn_la", "pcn_footprint"):
            frame = store.read(table)
            store.replace_table(table, frame.assign(patients=frame["patients"] + 2))
    return db_path


def run(db, *args):
    app = typer.Typer()
    profile.register(app)
    data_cli.register(app)
    return CliRunner().invoke(app, [*args, "--db", str(db)])


def test_profile_json_footprint_and_council_counts_are_rounded(built):
    with Store(built, read_only=True) as store:
        raw = pd.concat([store.read("pcn_la", pcn_code="U00001")["patients"],
                         store.read("pcn_footprint", pcn_code="U00001")["patients"]])
    assert (raw % 5 != 0).any(), "the tiny place has unrounded counts to protect"
    result = run(built, "profile", "pcn", "U00001", "--period", "2025-01", "--format", "json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    counts = [r["patients"] for key in ("pcn_la", "pcn_footprint") for r in shown[key]]
    assert counts and all(c is None or c % 5 == 0 for c in counts), counts
    assert all(r["la_share_pct"] is None or r["la_share_pct"] * 0 == 0 for r in shown["pcn_la"])


def test_profile_suppression_key_keeps_its_mark(built):
    # E01000002 has age bands of a handful of patients: hidden, and the key says what [c] means
    result = run(built, "profile", "lsoa", "E01000002", "--period", "2025-01", "--disclosure", "nhs_england")
    assert result.exit_code == 0, result.output
    assert "[c] = suppressed to protect confidentiality" in " ".join(result.output.split())


def test_show_csv_and_json_print_every_row(built):
    with Store(built, read_only=True) as store:
        total = len(store.read("registrations_lsoa"))
    assert total > 20
    csv = run(built, "show", "registrations_lsoa", "--format", "csv")
    assert csv.exit_code == 0, csv.output
    assert len(pd.read_csv(io.StringIO(csv.stdout))) == total
    records = json.loads(run(built, "show", "registrations_lsoa", "--format", "json").stdout)
    assert len(records) == total
    table = run(built, "show", "registrations_lsoa", "--disclosure", "nhs_england")
    assert table.exit_code == 0
    assert f"20 of {total:,} rows shown" in table.output


def test_each_command_starts_with_only_its_own_module():
    import importlib

    from placehealth.outputs import cli

    for module in cli.COMMAND_MODULES:
        app = typer.Typer()
        importlib.import_module(module).register(app)
        names = [c.name or c.callback.__name__ for c in app.registered_commands]
        names += [g.name for g in app.registered_groups]
        for name in names:  # a command not listed still runs (every module is registered)
            assert cli.COMMANDS.get(name, module) == module, (name, module)
    assert set(cli.COMMANDS.values()) <= set(cli.COMMAND_MODULES)
