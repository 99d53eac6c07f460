"""Sign-in through an OpenID Connect provider, when one is configured (Authlib's client).

The authorization code flow with PKCE (RFC 7636) of OpenID Connect Core 1.0 §3.1: the app
sends the visitor to the provider with a fresh ``state``, ``nonce`` and code challenge (kept in
a signed cookie, :mod:`.auth`), then at the callback checks the state, trades the code for
tokens at the token endpoint and validates the ID token with Authlib (signature against the
provider's JWKS, ``iss``, ``aud``, ``exp``, ``iat`` and the ``nonce``). Endpoints come from the
provider's discovery document (OpenID Connect Discovery 1.0), whose ``issuer`` must be the one
configured.

Configured by environment (docs/DEPLOYMENT.md): ``PLACEHEALTH_OIDC_ISSUER``,
``_CLIENT_ID``, ``_CLIENT_SECRET``, ``_REDIRECT_URL`` (``https://HOST/signin/oidc/callback``), and
the role: ``_ROLES`` maps values of the ``_ROLE_CLAIM`` claim (default ``groups``) to roles,
``value=role`` or ``value=partner:REGISTER``, comma separated (the strongest match wins);
``_DEFAULT_ROLE`` is given to anyone else the provider signs in (without it they are refused).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2
from authlib.integrations.base_client import OAuthError
from authlib.integrations.base_client.sync_app import BaseApp, OAuth2Mixin
from authlib.integrations.base_client.sync_openid import OpenIDMixin
from authlib.integrations.httpx_client import OAuth2Client
from joserfc.errors import JoseError

from placehealth.outputs.accounts import ROLES
from placehealth.sources.validate import InputError

PREFIX = "PLACEHEALTH_OIDC_"
REQUIRED = ("ISSUER", "CLIENT_ID", "CLIENT_SECRET", "REDIRECT_URL")


class SignInRefused(Exception):
    """The provider's answer did not prove who the visitor is (or gave them no role here)."""


@dataclass(frozen=True)
class Config:
    issuer: str
    client_id: str
    client_secret: str
    redirect_url: str
    role_claim: str = "groups"
    #: claim value -> (role, register of a partner)
    roles: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    default_role: tuple[str, str | None] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Config | None:
        """The configuration in ``PLACEHEALTH_OIDC_*``, or None when no issuer is set."""
        if not env.get(PREFIX + "ISSUER"):
            return None
        missing = [PREFIX + name for name in REQUIRED if not env.get(PREFIX + name)]
        if missing:
            raise InputError("environment", f"OpenID Connect sign-in needs {', '.join(missing)}")
        roles = {}
        for entry in filter(None, (e.strip() for e in env.get(PREFIX + "ROLES", "").split(","))):
            value, sep, role = entry.partition("=")
            if not sep or not value.strip():
                raise InputError("environment", f"{PREFIX}ROLES entry {entry!r} is not value=role",
                                 field=PREFIX + "ROLES")
            roles[value.strip()] = _role(role, PREFIX + "ROLES")
        default = env.get(PREFIX + "DEFAULT_ROLE")
        return cls(env[PREFIX + "ISSUER"].rstrip("/"), env[PREFIX + "CLIENT_ID"],
                   env[PREFIX + "CLIENT_SECRET"], env[PREFIX + "REDIRECT_URL"],
                   env.get(PREFIX + "ROLE_CLAIM") or "groups", roles,
                   _role(default, PREFIX + "DEFAULT_ROLE") if default else None)

    def role_for(self, claims: Mapping[str, Any]) -> tuple[str, str | None] | None:
        """The strongest role the claims map to, else the default role (None: refused)."""
        values = claims.get(self.role_claim)
        values = [values] if isinstance(values, str) else list(values or [])
        matched = [self.roles[str(v)] for v in values if str(v) in self.roles]
        if matched:
            return max(matched, key=lambda role: ROLES.index(role[0]))
        return self.default_role


def _role(text: str, variable: str) -> tuple[str, str | None]:
    role, _, register = text.strip().partition(":")
    if role not in ROLES[1:]:
        raise InputError("environment", f"{variable}: unknown role {role!r}", field=variable,
                         hint=f"roles: {', '.join(ROLES[1:])}")
    if role == "partner" and not register:
        raise InputError("environment", f"{variable}: a partner role names its register, "
                         "partner:REGISTER", field=variable)
    return role, register or None


class _Client(OAuth2Mixin, OpenIDMixin, BaseApp):
    """Authlib's framework-neutral OpenID Connect client over httpx2."""

    client_cls = OAuth2Client


class Provider:
    """One configured provider. ``transport``: an httpx2 transport (tests use an in-process
    fake provider; by default the network)."""

    def __init__(self, config: Config, transport: httpx2.BaseTransport | None = None):
        self.config = config
        kwargs: dict[str, Any] = {"scope": "openid email profile", "code_challenge_method": "S256",
                                  "timeout": 10}
        if transport is not None:
            kwargs["transport"] = transport
        self.client = _Client(None, client_id=config.client_id, client_secret=config.client_secret,
                              server_metadata_url=f"{config.issuer}/.well-known/openid-configuration",
                              client_kwargs=kwargs)

    def _metadata(self) -> dict[str, Any]:
        metadata = self.client.load_server_metadata()
        if metadata.get("issuer", "").rstrip("/") != self.config.issuer:
            raise SignInRefused(f"the provider's discovery document names issuer "
                                f"{metadata.get('issuer')!r}, not {self.config.issuer!r}")
        return metadata

    def start(self) -> dict[str, str]:
        """Where to send the visitor, and the ``state``, ``nonce`` and ``code_verifier`` to keep."""
        try:
            self._metadata()
            return self.client.create_authorization_url(self.config.redirect_url)
        except (httpx2.HTTPError, ValueError, KeyError, RuntimeError) as exc:
            raise SignInRefused(f"the sign-in provider could not be reached ({exc})") from exc

    def finish(self, code: str, code_verifier: str, nonce: str) -> dict[str, Any]:
        """The validated claims of the ID token the code is traded for."""
        try:
            metadata = self._metadata()
            token = self.client.fetch_access_token(self.config.redirect_url, code=code,
                                                   code_verifier=code_verifier)
            options = {"iss": {"essential": True, "value": metadata["issuer"]},
                       "aud": {"essential": True, "value": self.config.client_id}}
            claims = self.client.parse_id_token(token, nonce, claims_options=options, leeway=60)
        except (OAuthError, JoseError, httpx2.HTTPError, ValueError, KeyError, RuntimeError) as exc:
            raise SignInRefused(f"the provider's answer was not accepted ({type(exc).__name__}: "
                                f"{exc})") from exc
        if claims is None:
            raise SignInRefused("the provider sent no ID token")
        return dict(claims)
