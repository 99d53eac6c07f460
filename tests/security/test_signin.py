"""Sign-in: public mode without accounts, roles, session fixation, CSRF and brute force."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from placehealth.outputs.accounts import ACCOUNT_FAILURES, Accounts, users_path
from placehealth.outputs.web.app import create_app
from placehealth.sources.validate import InputError

from support.signin import PASSWORD, csrf_of, sign_in
from support.tiny_targeting import SECRET


def test_without_accounts_the_app_stays_public_and_read_only(place):
    client = TestClient(create_app(place))
    assert client.get("/").status_code == 200
    assert client.get("/api/tables/partners").status_code == 200   # as before accounts existed
    assert client.get("/signin").status_code == 404
    assert not users_path(place).exists() or not Accounts(users_path(place)).exists()


def test_passwords_are_stored_as_argon2_hashes(accounts):
    import sqlite3
    with sqlite3.connect(accounts.path) as con:
        hashes = [h for (h,) in con.execute("SELECT password_hash FROM users")]
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)


def test_sign_in_sets_a_hardened_cookie_and_signs_out(client_for, place):
    client = TestClient(create_app(place), base_url="https://testserver")
    response = sign_in(client, "ana")
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie
    page = client.get("/signin")
    assert re.search(r"ana <span[^>]*>\(analyst\)</span>", page.text)   # in the navigation
    token = csrf_of(page.text)
    assert client.post("/signout", data={"csrf": token}, follow_redirects=False).status_code == 303
    assert client.get("/api/tables/partners").status_code == 401


def test_wrong_password_and_unknown_user_get_the_same_message(accounts, place):
    client = TestClient(create_app(place))
    wrong = sign_in(client, "ana", "not the password at all")
    nobody = sign_in(client, "nobody", "not the password at all")
    assert wrong.status_code == nobody.status_code == 401
    assert "user name or password is wrong" in wrong.text and "user name or password is wrong" in nobody.text


def test_brute_force_sign_in_is_refused_even_with_the_right_password(accounts, place):
    client = TestClient(create_app(place))
    for _ in range(ACCOUNT_FAILURES):
        assert sign_in(client, "ana", "guess guess guess").status_code == 401
    blocked = sign_in(client, "ana")
    assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.text
    assert sign_in(client, "ada").status_code == 303   # other accounts are not locked out
    # the client is limited too: 20 failures from one address block every account there
    other = TestClient(create_app(place))
    for i in range(20):
        sign_in(other, f"user{i}", "guess guess guess")
    assert sign_in(other, "pat").status_code == 429


def test_session_fixation_is_refused(accounts, place):
    """A session id planted before sign-in is never the one signed in: sign-in makes a new
    one and ends the planted one."""
    attacker = TestClient(create_app(place))
    assert sign_in(attacker, "pat").status_code == 303
    planted = attacker.cookies.get("ph_session")
    victim = TestClient(create_app(place), cookies={"ph_session": planted})
    response = sign_in(victim, "ana")
    issued = response.headers["set-cookie"].split(";")[0].split("=", 1)[1].strip('"')
    assert response.status_code == 303 and issued != planted
    assert attacker.get("/api/tables/partners").status_code == 401   # the planted id is dead
    # and a forged (unsigned) cookie is no session at all
    forged = TestClient(create_app(place))
    forged.cookies.set("ph_session", "made-up-session-id.0000")
    assert forged.get("/api/tables/partners").status_code == 401


def test_csrf_token_is_required_and_bound_to_the_visitor(accounts, place):
    client = TestClient(create_app(place))
    client.get("/signin")
    missing = client.post("/signin", data={"username": "ana", "password": PASSWORD})
    assert missing.status_code == 403 and "form has expired" in missing.text
    other = TestClient(create_app(place))
    stolen = csrf_of(other.get("/signin").text)
    assert client.post("/signin", data={"username": "ana", "password": PASSWORD,
                                        "csrf": stolen}).status_code == 403
    cross = client.post("/signin", data={"username": "ana", "password": PASSWORD},
                        headers={"sec-fetch-site": "cross-site"})
    assert cross.status_code == 403


def test_disabled_accounts_lose_their_sessions(client_for, accounts):
    client = client_for("analyst")
    assert client.get("/api/tables/partners").status_code == 200
    accounts.disable("ana")
    assert client.get("/api/tables/partners").status_code == 401
    assert sign_in(TestClient(client.app), "ana").status_code == 401


def test_registers_by_role(client_for):
    public = client_for("public")
    assert public.get("/api/tables/partners").status_code == 401
    assert public.get("/download/partners?format=csv").status_code == 401
    assert "partners" not in [t["table"] for t in public.get("/api/tables").json()]
    partner = client_for("partner")
    rows = partner.get("/api/tables/partners?register=someone_else").json()["rows"]
    assert rows and {r["register"] for r in rows} == {"reg"}
    analyst = client_for("analyst").get("/api/tables/partners").json()
    assert analyst["total"] == 2 and SECRET not in str(analyst)


def test_required_sign_in_guards_every_page(client_for):
    public = client_for("public", required=True)
    assert public.get("/", follow_redirects=False).status_code == 303
    assert public.get("/api/disclosure").status_code == 401
    assert public.get("/openapi.json").status_code == 401
    assert public.get("/signin").status_code == 200
    assert client_for("analyst", required=True).get("/").status_code == 200


def test_redirect_after_sign_in_stays_on_this_site(accounts, place):
    client = TestClient(create_app(place))
    token = csrf_of(client.get("/signin").text)
    response = client.post("/signin", data={"username": "ana", "password": PASSWORD, "csrf": token,
                                            "next": "//evil.example/steal"}, follow_redirects=False)
    assert response.headers["location"] == "/"


def test_users_commands(place):
    from typer.testing import CliRunner

    from placehealth.outputs.cli import _register, app
    if not app.registered_commands:
        _register()
    runner = CliRunner()
    db = ["--db", str(place)]
    made = runner.invoke(app, ["users", "add", "bea", "--role", "admin", *db],
                         input=f"{PASSWORD}\n{PASSWORD}\n")
    assert made.exit_code == 0, made.output
    short = runner.invoke(app, ["users", "add", "cy", "--role", "admin", "--password", "short", *db])
    assert isinstance(short.exception, InputError) and "shorter than 12" in str(short.exception)
    partner = runner.invoke(app, ["users", "add", "di", "--role", "partner", "--password", PASSWORD, *db])
    assert isinstance(partner.exception, InputError) and "--organisation" in str(partner.exception)
    listed = runner.invoke(app, ["users", "list", "--format", "csv", *db])
    assert "bea,admin" in listed.output and "argon2" not in listed.output
    assert runner.invoke(app, ["users", "disable", "bea", *db]).exit_code == 0
    assert "bea,admin,,True" in runner.invoke(app, ["users", "list", "--format", "csv", *db]).output
