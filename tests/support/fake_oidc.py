"""An OpenID Connect provider in the test process (no network): discovery document, JWKS and a
token endpoint that checks the client's secret and PKCE verifier and returns a signed ID token.

The browser's visit to the authorization endpoint is :meth:`FakeProvider.authorize`: it reads
the query the app redirected to and returns the code the provider would send back. ``tamper``
changes what the token endpoint answers, to test that the app refuses it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from functools import cache
from urllib.parse import parse_qs, urlsplit

import httpx2
from joserfc import jwt
from joserfc.jwk import RSAKey

ISSUER = "https://id.example.test"
CLIENT_ID, CLIENT_SECRET = "placehealth", "client-secret-for-tests"
REDIRECT = "http://testserver/signin/oidc/callback"


@cache
def signing_key(kid: str = "key-1") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid})


def environment(**extra: str) -> dict[str, str]:
    """The app's PLACEHEALTH_OIDC_* variables for this provider."""
    return {"PLACEHEALTH_OIDC_ISSUER": ISSUER, "PLACEHEALTH_OIDC_CLIENT_ID": CLIENT_ID,
            "PLACEHEALTH_OIDC_CLIENT_SECRET": CLIENT_SECRET, "PLACEHEALTH_OIDC_REDIRECT_URL": REDIRECT,
            **{f"PLACEHEALTH_OIDC_{k.upper()}": v for k, v in extra.items()}}


class FakeProvider:
    def __init__(self) -> None:
        self.codes: dict[str, dict] = {}
        self.tamper: dict = {}           # claims to change, or "key": another signing key
        self.transport = httpx2.MockTransport(self.handle)

    def authorize(self, url: str, **claims) -> dict[str, str]:
        """The visitor signs in at the provider as ``claims``: the callback's query."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert url.startswith(ISSUER + "/authorize") and query["client_id"] == CLIENT_ID
        assert query["redirect_uri"] == REDIRECT and "openid" in query["scope"].split()
        assert query["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": query["nonce"], "challenge": query["code_challenge"], "claims": claims}
        return {"code": code, "state": query["state"]}

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx2.Response(200, json={
                "issuer": ISSUER, "authorization_endpoint": ISSUER + "/authorize",
                "token_endpoint": ISSUER + "/token", "jwks_uri": ISSUER + "/jwks",
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code"], "subject_types_supported": ["public"]})
        if path == "/jwks":
            return httpx2.Response(200, json={"keys": [signing_key().as_dict(private=False)]})
        if path == "/token" and request.method == "POST":
            return self.token(request)
        return httpx2.Response(404)

    def token(self, request: httpx2.Request) -> httpx2.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {basic}":
            return httpx2.Response(401, json={"error": "invalid_client"})
        grant = self.codes.pop(form.get("code", ""), None)   # a code works once
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if grant is None or challenge != grant["challenge"] or form.get("redirect_uri") != REDIRECT:
            return httpx2.Response(400, json={"error": "invalid_grant"})
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": "subject-1", "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                  "nonce": grant["nonce"], **grant["claims"]}
        tamper = dict(self.tamper)
        key = signing_key(tamper.pop("key")) if "key" in tamper else signing_key()
        claims.update(tamper)
        id_token = jwt.encode({"alg": "RS256", "kid": "key-1"}, claims, key)
        return httpx2.Response(200, json={"access_token": secrets.token_urlsafe(16),
                                          "token_type": "Bearer", "expires_in": 300,
                                          "id_token": id_token})
