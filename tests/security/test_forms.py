"""Register forms: add, edit, retire with the reader's validation, 4xx for bad input, history,
the audit log, stored XSS escaped, and no SQL built from user input in the web layer."""

from __future__ import annotations

import ast
import csv
import io
from datetime import date
from pathlib import Path

import pytest

import placehealth.outputs.web as web
from placehealth.outputs import accounts as accounts_module
from placehealth.outputs import edits
from placehealth.store import Store

from support.signin import csrf_of
from support.tiny_targeting import SECRET

HOSTILE = "<script>alert(1)</script>'; DROP TABLE partners; --"


def post(client, url, **fields):
    token = csrf_of(client.get(url).text)
    return client.post(url, data={"csrf": token, **fields}, follow_redirects=False)


def stored(place: Path, register: str = "reg"):
    with Store(place, read_only=True) as store:
        return store.read("partners", register=register)


def test_add_edit_retire_keep_history_and_audit(client_for, place, accounts):
    client = client_for("partner")
    added = post(client, "/registers/reg/new", partner_id="P9", name="Library Hub", kind="library",
                 easting="400500", northing="300000", contact="private@example.org")
    assert added.status_code == 303, added.text
    edited = post(client, "/registers/reg/P9", name="Library Hub (Tuesdays)", kind="library",
                  easting="400500", northing="300000", action="save")
    assert edited.status_code == 303
    retired = post(client, "/registers/reg/P1", action="retire", name="Hope Centre",
                   kind="community centre")
    assert retired.status_code == 303
    rows = stored(place)
    today = date.today().isoformat()
    assert set(rows["period"]) == {"2025-03", today}           # the older snapshot is kept
    now = rows[rows["period"] == today].set_index("partner_id")
    assert now.loc["P9", "name"] == "Library Hub (Tuesdays)"
    assert now.loc["P9", "contact"] == "private@example.org"   # kept, a blank box kept it
    assert now.loc["P1", "valid_to"] == today and now.loc["P1", "contact"] == SECRET
    assert now.loc["P2", "name"] == "Corner Pharmacy"          # untouched rows carried over
    log = accounts.audit_log()
    assert [e["action"] for e in log] == ["partner.add", "partner.edit", "partner.retire"]
    assert log[1]["username"] == "pat" and "Library Hub" in log[1]["before"]
    assert "Tuesdays" in log[1]["after"] and all(SECRET not in str(e) and "private@" not in str(e)
                                                 for e in log)
    listed = client.get("/registers").text
    assert "Library Hub (Tuesdays)" in listed and "Hope Centre" not in listed   # retired today


@pytest.mark.parametrize("fields, field", [
    ({"partner_id": "P7", "name": "X", "kind": "spaceship", "lsoa_code": "E01000001"}, "kind"),
    ({"partner_id": "P7", "name": "X", "kind": "library", "lsoa_code": "E01000001",
      "valid_from": "31/02/2025"}, "valid_from"),
    ({"partner_id": "P7", "name": "X", "kind": "library", "lsoa_code": "nowhere"}, "lsoa_code"),
    ({"partner_id": "P7", "name": "X", "kind": "library", "postcode": "ZZ9 9ZZ"}, "postcode"),
    ({"partner_id": "P7", "name": "X", "kind": "library", "lsoa_code": "E01000001",
      "capacity": "-3"}, "capacity"),
    ({"partner_id": "P1", "name": "X", "kind": "library", "lsoa_code": "E01000001"}, "partner_id"),
    ({"partner_id": "P7", "name": "X", "kind": "library", "easting": "5", "northing": "5000000"},
     "easting"),
])
def test_bad_form_input_gets_a_4xx_naming_the_field(client_for, place, fields, field):
    client = client_for("analyst")
    before = stored(place)
    response = post(client, "/registers/reg/new", **fields)
    assert response.status_code == 422, response.text
    assert f"{field}:" in response.text
    assert stored(place).equals(before)                        # nothing written


def test_forms_refuse_other_registers_and_missing_tokens(client_for, place):
    partner = client_for("partner")
    assert partner.get("/registers/other/new").status_code == 403
    assert partner.post("/registers/reg/new", data={"partner_id": "P8", "name": "X",
                                                    "kind": "library"}).status_code == 403
    assert partner.get("/registers/reg/NOPE").status_code == 404
    assert partner.get("/registers/Bad%20Name/new").status_code == 404
    assert client_for("public").post("/registers/reg/new", data={}).status_code in (401, 403)


def test_stored_xss_in_names_is_escaped_everywhere(client_for, place):
    client = client_for("admin")
    assert post(client, "/registers/reg/new", partner_id="P6", name=HOSTILE, kind="library",
                services=HOSTILE, easting="400500", northing="300000").status_code == 303
    assert len(stored(place)) == 5                            # the table is still there
    for url in ("/registers", "/registers/reg/P6", "/admin/audit", "/target/pcn/U00001"):
        text = client.get(url).text
        assert "<script>alert(1)</script>" not in text, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get("/registers").text
    export = client.get("/admin/audit.csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert rows[-1]["action"] == "partner.add" and rows[-1]["username"] == "ada"


def test_audit_log_is_for_admins_only(client_for):
    assert client_for("analyst").get("/admin/audit").status_code == 403
    assert client_for("partner").get("/admin/audit.csv").status_code == 403
    assert client_for("admin").get("/admin/audit").status_code == 200


def _sql_built_from_strings(path: Path) -> list[str]:
    """f-strings, %-formatting or + concatenation passed to execute()/raw_sql()/sql()."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        called = isinstance(node, ast.Call) and getattr(node.func, "attr", "") in (
            "execute", "executemany", "raw_sql", "sql")
        if called and node.args and isinstance(node.args[0], ast.JoinedStr | ast.BinOp):
            found.append(f"{path.name}:{node.lineno}")
    return found


def test_no_sql_is_built_from_strings_in_the_web_layer():
    files = [*Path(web.__file__).parent.glob("*.py"), Path(accounts_module.__file__), Path(edits.__file__)]
    assert len(files) >= 7
    assert [hit for f in files for hit in _sql_built_from_strings(f)] == []


def test_the_sql_check_would_catch_an_f_string(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('con.execute(f"SELECT * FROM users WHERE name = \'{name}\'")\n')
    assert _sql_built_from_strings(bad) == ["bad.py:1"]


def test_hostile_sign_in_names_round_trip_harmlessly(client_for, accounts, place):
    from fastapi.testclient import TestClient
    client = TestClient(client_for("public").app)
    token = csrf_of(client.get("/signin").text)
    response = client.post("/signin", data={"username": "x' OR '1'='1", "password": "' OR 1=1 --",
                                            "csrf": token})
    assert response.status_code == 401
    assert [u["username"] for u in accounts.list()] == ["ada", "ana", "pat"]


def test_intervention_forms_add_change_delete_with_history(client_for, place, accounts):
    client = client_for("analyst")
    aims = {"level": "pcn", "unit_codes": "U00001", "start": "2024Q2",
            "indicators": "qof_hyp_prevalence:up"}
    assert post(client, "/interventions/new", name="bp-checks", **aims).status_code == 303
    bad = post(client, "/interventions/new", name="bad one", **aims)
    assert bad.status_code == 422 and "name:" in bad.text
    wrong_code = post(client, "/interventions/new", name="x", **{**aims, "unit_codes": "E01000001"})
    assert wrong_code.status_code == 422 and "unit_codes:" in wrong_code.text
    changed = post(client, "/interventions/bp-checks", **{**aims, "end": "2025Q1"}, action="save")
    assert changed.status_code == 303
    assert "2025Q1" in client.get("/interventions").text
    assert post(client, "/interventions/bp-checks", **aims, action="delete").status_code == 303
    assert "bp-checks" not in client.get("/interventions").text
    with Store(place, read_only=True) as store:
        history = store.read("interventions")
    assert list(history.sort_values("recorded_at")["status"]) == ["active", "active", "deleted"]
    assert [e["action"] for e in accounts.audit_log()] == [
        "intervention.add", "intervention.change", "intervention.delete"]
    assert client_for("partner").get("/interventions").status_code == 403
