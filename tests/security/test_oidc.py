"""OpenID Connect sign-in against a fake provider in the test process: accounts made at the first
sign-in with the mapped role, state, nonce, signature, audience, issuer and expiry checked,
disabled accounts refused, local accounts never taken over."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient

from placehealth.outputs.web.app import create_app
from placehealth.outputs.web.oidc import Config, Provider
from placehealth.sources.validate import InputError

from support.fake_oidc import ISSUER, FakeProvider, environment

ROLES = "ph-analysts=analyst,ph-admins=admin,hope=partner:reg"


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def app_with(place, provider, monkeypatch):
    """An app over the place whose OpenID Connect provider is the fake one."""
    monkeypatch.delenv("PLACEHEALTH_USERS", raising=False)
    monkeypatch.delenv("PLACEHEALTH_AUTH", raising=False)

    def make(**extra: str):
        for name, value in environment(roles=ROLES, **extra).items():
            monkeypatch.setenv(name, value)
        app = create_app(place)
        assert isinstance(app.state.oidc, Provider)
        app.state.oidc = Provider(app.state.oidc.config, transport=provider.transport)
        return app
    return make


def sign_in(client: TestClient, provider: FakeProvider, **claims):
    """Through the provider as a browser goes: start, the provider's page, the callback."""
    started = client.get("/signin/oidc?next=/registers", follow_redirects=False)
    assert started.status_code == 303, started.text
    return client.get("/signin/oidc/callback", params=provider.authorize(started.headers["location"], **claims),
                      follow_redirects=False)


def test_the_first_sign_in_makes_the_account_with_the_mapped_role(app_with, provider, place):
    app = app_with()
    client = TestClient(app)
    assert "Sign in with your organisation" in client.get("/signin").text
    done = sign_in(client, provider, email="nia@pcn.example", groups=["staff", "ph-analysts"])
    assert done.status_code == 303 and done.headers["location"] == "/registers"
    assert client.get("/registers").status_code == 200
    assert re.search(r"nia@pcn.example <span[^>]*>\(analyst\)", client.get("/").text)
    listed = {u["username"]: u for u in app.state.accounts.list()}
    assert listed["nia@pcn.example"]["role"] == "analyst"
    assert listed["nia@pcn.example"]["signs_in_with"] == "OpenID Connect"
    assert [e["action"] for e in app.state.accounts.audit_log()] == ["user.add"]
    # The same person again: the same account, with the role the provider now maps them to.
    again = TestClient(app)
    assert sign_in(again, provider, email="nia@pcn.example", groups=["ph-admins"]).status_code == 303
    assert again.get("/admin/users").status_code == 200
    assert [e["action"] for e in app.state.accounts.audit_log()] == ["user.add", "user.role"]
    # No password signs in an account made by the provider.
    form = again.get("/signin").text
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    assert TestClient(app).post("/signin", data={"username": "nia@pcn.example", "password": "",
                                                 "csrf": token}).status_code in (401, 403)


def test_a_partner_role_names_its_register(app_with, provider):
    client = TestClient(app_with())
    assert sign_in(client, provider, preferred_username="hope-lead", groups="hope").status_code == 303
    assert "(partner, reg)" in client.get("/").text
    assert client.get("/registers/other/new").status_code == 403


def test_without_a_mapped_role_the_default_role_or_a_refusal(app_with, provider):
    refused = sign_in(TestClient(app_with()), provider, email="x@elsewhere.example", groups=["nobody"])
    assert refused.status_code == 403 and "no role here" in refused.text
    client = TestClient(app_with(default_role="analyst"))
    assert sign_in(client, provider, email="y@pcn.example", groups=["nobody"]).status_code == 303
    assert client.get("/interventions").status_code == 200


@pytest.mark.parametrize("tamper,why", [
    ({"nonce": "a replayed nonce"}, "nonce"),
    ({"aud": "another-client"}, "audience"),
    ({"iss": "https://evil.example"}, "issuer"),
    ({"exp": int(time.time()) - 3600}, "expired"),
    ({"key": "key-2"}, "signed by another key"),
])
def test_an_id_token_that_does_not_check_out_is_refused(app_with, provider, tamper, why):
    app = app_with()
    client = TestClient(app)
    provider.tamper = tamper
    refused = sign_in(client, provider, email="z@pcn.example", groups=["ph-admins"])
    assert refused.status_code == 401 and "failed" in refused.text, why
    assert "ph_session" not in client.cookies
    assert app.state.accounts.list() == [], why


def test_the_state_must_be_this_browsers(app_with, provider):
    app = app_with()
    victim, attacker = TestClient(app), TestClient(app)
    started = attacker.get("/signin/oidc", follow_redirects=False)
    query = provider.authorize(started.headers["location"], email="a@pcn.example", groups=["ph-admins"])
    # The attacker's callback in the victim's browser (login CSRF): no state of theirs, refused.
    forced = victim.get("/signin/oidc/callback", params=query, follow_redirects=False)
    assert forced.status_code == 400 and "ph_session" not in victim.cookies
    mine = victim.get("/signin/oidc", follow_redirects=False)
    wrong_state = victim.get("/signin/oidc/callback", params={**query, "state": "guessed"},
                             follow_redirects=False)
    assert mine.status_code == 303 and wrong_state.status_code == 400
    assert app.state.accounts.list() == []


def test_disabled_accounts_are_refused_and_local_accounts_not_taken_over(app_with, provider, accounts):
    app = app_with()
    assert sign_in(TestClient(app), provider, email="dee@pcn.example", groups=["ph-analysts"]).status_code == 303
    accounts.disable("dee@pcn.example")
    refused = sign_in(TestClient(app), provider, email="dee@pcn.example", groups=["ph-analysts"])
    assert refused.status_code == 403 and "disabled" in refused.text
    provider_user = sign_in(TestClient(app), provider, sub="subject-2", preferred_username="ada",
                            groups=["ph-admins"])   # "ada" is a local admin's name
    assert provider_user.status_code == 403 and "already exists" in provider_user.text


def test_configuration_errors_name_the_variable():
    assert Config.from_env({}) is None     # no issuer: password sign-in only
    with pytest.raises(InputError, match="PLACEHEALTH_OIDC_CLIENT_SECRET"):
        Config.from_env({"PLACEHEALTH_OIDC_ISSUER": ISSUER, "PLACEHEALTH_OIDC_CLIENT_ID": "c",
                         "PLACEHEALTH_OIDC_REDIRECT_URL": "https://x/signin/oidc/callback"})
    with pytest.raises(InputError, match="unknown role 'owner'"):
        Config.from_env(environment(roles="a=owner"))
    with pytest.raises(InputError, match="partner:REGISTER"):
        Config.from_env(environment(default_role="partner"))
    config = Config.from_env(environment(roles=ROLES))
    assert config.role_for({"groups": ["ph-analysts", "ph-admins"]}) == ("admin", None)
    assert config.role_for({"groups": "hope"}) == ("partner", "reg")
    assert config.role_for({}) is None
