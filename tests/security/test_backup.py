"""Backup and restore round trip: every table, the registers' history and the accounts."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from placehealth.outputs.accounts import Accounts, users_path
from placehealth.outputs.cli import _register, app
from placehealth.outputs.web.app import create_app
from placehealth.sources.validate import InputError
from placehealth.store import Store

from support.signin import sign_in

if not app.registered_commands:
    _register()


def _tables(db) -> dict[str, pd.DataFrame]:
    with Store(db, read_only=True) as store:
        return {name: store.table(name).to_pandas() for name in store.list_tables()}


def test_backup_and_restore_round_trip(place, accounts, tmp_path):
    accounts.audit("ada", "partner.edit", "partners/reg/P1", {"name": "a"}, {"name": "b"})
    runner = CliRunner()
    made = runner.invoke(app, ["backup", "--out", str(tmp_path / "bk"), "--db", str(place)])
    assert made.exit_code == 0, made.output
    restored = tmp_path / "restored" / "new.duckdb"
    done = runner.invoke(app, ["restore", str(tmp_path / "bk"), "--db", str(restored)])
    assert done.exit_code == 0, done.output
    before, after = _tables(place), _tables(restored)
    assert set(before) == set(after) and "partners" in after
    for name, frame in before.items():
        pd.testing.assert_frame_equal(
            frame.sort_values(list(frame.columns)).reset_index(drop=True),
            after[name].sort_values(list(frame.columns)).reset_index(drop=True),
            check_dtype=False, obj=name)
    copy = Accounts(users_path(restored))
    assert [u["username"] for u in copy.list()] == ["ada", "ana", "pat"]
    assert copy.audit_log()[0]["after"] == '{"name": "b"}'
    assert sign_in(TestClient(create_app(restored)), "ana").status_code == 303   # hashes intact


def test_restore_never_writes_over_a_store(place, accounts, tmp_path):
    runner = CliRunner()
    assert runner.invoke(app, ["backup", "--out", str(tmp_path / "bk"), "--db", str(place)]).exit_code == 0
    refused = runner.invoke(app, ["restore", str(tmp_path / "bk"), "--db", str(place)])
    assert isinstance(refused.exception, InputError) and "restore into a new file" in str(refused.exception)
    again = runner.invoke(app, ["backup", "--out", str(tmp_path / "bk"), "--db", str(place)])
    assert isinstance(again.exception, InputError) and "not empty" in str(again.exception)
    with pytest.raises(InputError, match="not a placehealth backup"):
        from placehealth.outputs.backup import restore
        restore(tmp_path, tmp_path / "x.duckdb")
