"""A partner's contact never leaves: not in the API, downloads, exports or `show`."""

from __future__ import annotations

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from placehealth.outputs.cli import _register, app
from placehealth.outputs.disclosure import protect
from placehealth.outputs.web.app import create_app
from placehealth.sources import read_file

if not app.registered_commands:
    _register()

SECRET = "hope.manager@example.org"


def stored(tmp_path):
    reg = tmp_path / "reg_2025-10.csv"
    reg.write_text("partner_id,name,kind,easting,northing,contact\n"
                   f"P1,Hope Centre,community centre,388000,345000,{SECRET}\n")
    db = tmp_path / "s.duckdb"
    from placehealth.store import Store
    with Store(db) as store:
        store.ingest([read_file(reg, "partners")])
    return db


def test_protect_drops_the_contact_column(tmp_path):
    import pandas as pd
    frame = pd.DataFrame({"partner_id": ["P1"], "name": ["Hope"], "contact": [SECRET]})
    out = protect(frame, "partners")
    assert "contact" not in out.columns and out["name"].tolist() == ["Hope"]


def test_no_output_carries_the_contact(tmp_path):
    db = stored(tmp_path)
    client = TestClient(create_app(db))
    api = client.get("/api/tables/partners")
    assert api.status_code == 200 and "Hope Centre" in api.text
    for response in (api, client.get("/download/partners?format=csv")):
        assert SECRET not in response.text and "contact" not in response.text
    runner = CliRunner()
    shown = runner.invoke(app, ["show", "partners", "--db", str(db), "--format", "csv"])
    assert shown.exit_code == 0 and "Hope Centre" in shown.output and SECRET not in shown.output
    out = tmp_path / "partners.csv"
    exported = runner.invoke(app, ["export", "partners", "--out", str(out), "--db", str(db)])
    assert exported.exit_code == 0, exported.output
    assert "Hope Centre" in out.read_text() and SECRET not in out.read_text()
