"""The navigation (who is signed in, their role and the pages it opens) and the admin pages
(users added and disabled through forms, audited without passwords)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from placehealth.outputs.web.app import create_app

from support.signin import PASSWORD, csrf_of, sign_in


def nav(html: str) -> str:
    return re.search(r'<nav class="header__nav".*?</nav>', html, re.S).group(0)


def test_without_accounts_the_navigation_offers_no_sign_in(place):
    page = TestClient(create_app(place)).get("/pcn/U00001").text
    assert "Sign in" not in nav(page) and "/signin" not in page


def test_the_navigation_shows_each_visitor_their_own_links_on_shared_pages(place, accounts):
    app = create_app(place)
    public, analyst, partner, admin = (TestClient(app) for _ in range(4))
    for who, name in ((analyst, "ana"), (partner, "pat"), (admin, "ada")):
        assert sign_in(who, name).status_code == 303
    # The PCN page is built once and kept for everyone: each visitor still sees their own links.
    first = nav(public.get("/pcn/U00001").text)
    assert 'href="/signin?next=/pcn/U00001"' in first and "Sign out" not in first
    mine = nav(analyst.get("/pcn/U00001").text)
    assert "ana" in mine and "(analyst)" in mine and "Sign out" in mine
    assert 'href="/registers"' in mine and 'href="/interventions"' in mine
    assert 'href="/admin/users"' not in mine and "Sign in" not in mine
    theirs = nav(partner.get("/pcn/U00001").text)
    assert "(partner, reg)" in theirs and 'href="/registers"' in theirs
    assert 'href="/interventions"' not in theirs and "ana" not in theirs
    admins = nav(admin.get("/").text)
    assert 'href="/admin/users"' in admins and 'href="/admin/audit"' in admins
    assert "ana" not in nav(public.get("/pcn/U00001").text)      # nothing leaks between visitors
    # Every link in the navigation opens for that visitor.
    for client, html in ((analyst, mine), (partner, theirs), (admin, admins)):
        for href in re.findall(r'href="(/[^"?]*)"', html):
            assert client.get(href).status_code == 200, href


def test_sign_out_from_the_navigation(client_for):
    client = client_for("analyst")
    token = csrf_of(nav(client.get("/compare").text))
    assert client.post("/signout", data={"csrf": token}, follow_redirects=False).status_code == 303
    assert "Sign in" in nav(client.get("/").text)
    assert client.get("/registers", follow_redirects=False).status_code == 303   # to sign-in


def _add(client, **fields):
    token = csrf_of(client.get("/admin/users").text)
    return client.post("/admin/users", data={"csrf": token, **fields}, follow_redirects=False)


def test_admin_adds_a_user_who_can_then_sign_in_and_the_audit_keeps_no_password(client_for, accounts, place):
    admin = client_for("admin")
    added = _add(admin, username="cara", role="partner", organisation="reg", password=PASSWORD)
    assert added.status_code == 303
    listed = admin.get("/admin/users").text
    assert "cara" in listed and "partner" in listed
    assert sign_in(TestClient(create_app(place)), "cara").status_code == 303
    entry = accounts.audit_log()[-1]
    assert entry["action"] == "user.add" and entry["username"] == "ada" and "cara" in entry["after"]
    assert PASSWORD not in str(accounts.audit_log())


def test_bad_user_form_input_gets_a_message_and_422(client_for, accounts):
    admin = client_for("admin")
    for fields, message in (({"role": "owner"}, "unknown role"),
                            ({"role": "partner"}, "needs --organisation"),
                            ({"password": "short"}, "shorter than 12"),
                            ({"username": "ana"}, "already exists"),
                            ({"username": "two words"}, "not a user name")):
        form = {"username": "newbie", "role": "analyst", "organisation": "", "password": PASSWORD, **fields}
        answer = _add(admin, **form)
        assert answer.status_code == 422 and message in answer.text, (fields, answer.status_code)
    assert "newbie" not in [u["username"] for u in accounts.list()]


def test_disabling_a_user_ends_their_session_and_admins_cannot_disable_themselves(client_for, accounts):
    admin, analyst = client_for("admin"), client_for("analyst")
    assert analyst.get("/registers").status_code == 200
    token = csrf_of(admin.get("/admin/users").text)
    assert admin.post("/admin/users/ana/disable", data={"csrf": token},
                      follow_redirects=False).status_code == 303
    assert analyst.get("/registers", follow_redirects=False).status_code == 303   # signed out
    assert admin.post("/admin/users/ada/disable", data={"csrf": token}).status_code == 403
    assert admin.post("/admin/users/nobody/disable", data={"csrf": token}).status_code == 404
    assert [e["action"] for e in accounts.audit_log()] == ["user.disable"]


def test_only_admins_reach_the_user_forms_and_every_form_needs_its_token(client_for):
    analyst, admin = client_for("analyst"), client_for("admin")
    assert analyst.get("/admin/users").status_code == 403
    token = csrf_of(nav(analyst.get("/").text))   # the analyst's own token, for sign-out
    refused = analyst.post("/admin/users", data={"csrf": token, "username": "x", "role": "admin",
                                                  "password": PASSWORD})
    assert refused.status_code == 403
    assert admin.post("/admin/users", data={"username": "x", "role": "admin",
                                            "password": PASSWORD}).status_code == 403   # no CSRF token
