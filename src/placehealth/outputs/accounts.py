"""Accounts of the web app: users and roles, sessions, sign-in attempts and the audit log.

They live in a SQLite file beside the store (``placehealth.duckdb`` -> ``placehealth.users.sqlite``;
``$PLACEHEALTH_USERS`` names another), not in the store: the store is rebuilt and opened
read-only by the app, while sign-ins and edits write all day from every worker. Every statement
here is parameterised (``?``); no SQL is built from what a user typed.

Passwords are hashed with Argon2id (``argon2-cffi``, RFC 9106 parameters as the library sets
them). Sessions are server-side rows keyed by the SHA-256 of a random 256-bit id (the cookie
carries the id signed with HMAC-SHA256); a session is made anew at every sign-in, so an id
planted before it (session fixation) is never signed in. Sign-in is limited per account and
per client (failures in a sliding window, counted in the file so every worker sees them).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from placehealth.sources.validate import InputError
from placehealth.store import resolve_db

ENV_USERS = "PLACEHEALTH_USERS"
#: public: aggregated open data; partner: their own organisation's register entries; analyst:
#: every aggregate and register; admin: users, settings and the audit log.
ROLES = ("public", "partner", "analyst", "admin")
#: Sessions last this long without a new sign-in.
SESSION_SECONDS = 8 * 3600
#: Sign-in failures allowed in WINDOW seconds, per account and per client address.
ACCOUNT_FAILURES, CLIENT_FAILURES, WINDOW = 5, 20, 15 * 60
MIN_PASSWORD = 12

_HASHER = PasswordHasher()
#: Checked when an account is unknown, so a wrong name costs as long as a wrong password.
_DUMMY = _HASHER.hash("placehealth-no-such-user")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
  username TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL,
  organisation TEXT, disabled INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
  id_hash TEXT PRIMARY KEY, username TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (key TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, username TEXT NOT NULL,
  action TEXT NOT NULL, target TEXT NOT NULL, before TEXT, after TEXT);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS identities (subject TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE);
"""
#: The password hash of an account that signs in through an OpenID Connect provider: no
#: password can match it (Argon2 refuses it as a hash).
NO_PASSWORD = "!openid-connect"


@dataclass(frozen=True)
class User:
    username: str
    role: str
    organisation: str | None = None

    def can(self, role: str) -> bool:
        """Whether this user has ``role`` or a stronger one."""
        return ROLES.index(self.role) >= ROLES.index(role)


PUBLIC = User("", "public")


def users_path(db: str | os.PathLike[str] | None = None) -> Path:
    """The accounts file: ``$PLACEHEALTH_USERS``, else beside the store."""
    if os.environ.get(ENV_USERS):
        return Path(os.environ[ENV_USERS])
    store = resolve_db(db)
    if "://" in store:
        raise InputError("accounts", f"the store {store} is not a file: set ${ENV_USERS} to "
                         "the accounts file")
    path = Path(store)
    return path.with_name(path.name.split(".")[0] + ".users.sqlite")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Accounts:
    """The accounts file (opened per call: SQLite handles many readers and one writer)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=10)
        try:
            con.executescript(_SCHEMA)
            with con:
                yield con
        finally:
            con.close()

    # ------------------------------------------------------------------ users
    def exists(self) -> bool:
        """Whether any account exists (without one the app stays public and read-only)."""
        if not self.path.exists():
            return False
        with self._db() as con:
            return con.execute("SELECT count(*) FROM users").fetchone()[0] > 0

    def add(self, username: str, password: str, role: str, organisation: str | None = None) -> User:
        username = username.strip()
        if not username or len(username) > 100 or any(c.isspace() for c in username):
            raise InputError("users", f"{username!r} is not a user name (1-100 characters, no spaces)")
        if role not in ROLES[1:]:
            raise InputError("users", f"unknown role {role!r}", hint=f"roles: {', '.join(ROLES[1:])}")
        if role == "partner" and not organisation:
            raise InputError("users", "a partner account needs --organisation (the register it keeps)")
        if len(password) < MIN_PASSWORD:
            raise InputError("users", f"the password is shorter than {MIN_PASSWORD} characters")
        with self._db() as con:
            if con.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone():
                raise InputError("users", f"user {username!r} already exists")
            con.execute("INSERT INTO users VALUES (?, ?, ?, ?, 0, ?)",
                        [username, _HASHER.hash(password), role, organisation, _now()])
        return User(username, role, organisation)

    def list(self) -> list[dict[str, Any]]:
        with self._db() as con:
            rows = con.execute("SELECT u.username, role, organisation, disabled, created, i.subject "
                               "FROM users u LEFT JOIN identities i ON i.username = u.username "
                               "ORDER BY u.username").fetchall()
        return [{"username": u, "role": r, "organisation": o, "disabled": bool(d), "created": c,
                 "signs_in_with": "OpenID Connect" if subject else "password"}
                for u, r, o, d, c, subject in rows]

    def disable(self, username: str) -> None:
        """Disable an account and end its sessions at once."""
        with self._db() as con:
            if con.execute("UPDATE users SET disabled = 1 WHERE username = ?", [username]).rowcount == 0:
                raise InputError("users", f"no user {username!r}")
            con.execute("DELETE FROM sessions WHERE username = ?", [username])

    def _user(self, con: sqlite3.Connection, username: str) -> User | None:
        row = con.execute("SELECT username, role, organisation FROM users WHERE username = ? "
                          "AND disabled = 0", [username]).fetchone()
        return User(*row) if row else None

    # ---------------------------------------------------------------- sign-in
    def blocked(self, username: str, client: str) -> bool:
        """Whether sign-in is refused for now: too many recent failures for the account or client."""
        since = time.time() - WINDOW
        with self._db() as con:
            con.execute("DELETE FROM attempts WHERE at < ?", [since])
            count = lambda key: con.execute(  # noqa: E731
                "SELECT count(*) FROM attempts WHERE key = ? AND at >= ?", [key, since]).fetchone()[0]
            return count(f"user:{username}") >= ACCOUNT_FAILURES or count(f"client:{client}") >= CLIENT_FAILURES

    def sign_in(self, username: str, password: str, client: str) -> tuple[User, str] | None:
        """(user, new session id) for the right password, else None (and the failure counted).
        Call :meth:`blocked` first."""
        with self._db() as con:
            row = con.execute("SELECT password_hash FROM users WHERE username = ? AND disabled = 0",
                              [username]).fetchone()
            try:
                ok = _HASHER.verify(row[0] if row else _DUMMY, password) and row is not None
            except (VerificationError, InvalidHashError):
                ok = False
            if not ok:
                con.executemany("INSERT INTO attempts VALUES (?, ?)",
                                [(f"user:{username}", time.time()), (f"client:{client}", time.time())])
                return None
            if _HASHER.check_needs_rehash(row[0]):
                con.execute("UPDATE users SET password_hash = ? WHERE username = ?",
                            [_HASHER.hash(password), username])
            con.execute("DELETE FROM attempts WHERE key = ?", [f"user:{username}"])
            return self._user(con, username), _new_session(con, username)

    def sign_in_external(self, subject: str, username: str, role: str,
                         organisation: str | None = None) -> tuple[User, str, dict | None] | None:
        """Sign in someone an OpenID Connect provider vouched for (``subject``: issuer and
        ``sub``): (user, new session id, the account as it was if it changed, or {} when made
        now), or None for a disabled account. Their account is made at the first sign-in and
        takes the role the provider's claims map to at each. A local account of the same name
        is never taken over."""
        with self._db() as con:
            row = con.execute("SELECT u.username, role, organisation, disabled FROM identities i "
                              "JOIN users u ON u.username = i.username WHERE subject = ?",
                              [subject]).fetchone()
            if row is None:
                if con.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone():
                    raise InputError("users", f"an account named {username!r} already exists here "
                                     "and signs in otherwise: ask an admin")
                con.execute("INSERT INTO users VALUES (?, ?, ?, ?, 0, ?)",
                            [username, NO_PASSWORD, role, organisation, _now()])
                con.execute("INSERT INTO identities VALUES (?, ?)", [subject, username])
                before: dict | None = {}
            else:
                username, old_role, old_organisation, disabled = row
                if disabled:
                    return None
                before = None
                if (old_role, old_organisation) != (role, organisation):
                    before = {"username": username, "role": old_role, "organisation": old_organisation}
                    con.execute("UPDATE users SET role = ?, organisation = ? WHERE username = ?",
                                [role, organisation, username])
            return self._user(con, username), _new_session(con, username), before

    def session_user(self, session: str) -> User | None:
        """The signed-in user of a live session, else None."""
        with self._db() as con:
            row = con.execute("SELECT username FROM sessions WHERE id_hash = ? AND expires > ?",
                              [_digest(session), time.time()]).fetchone()
            return self._user(con, row[0]) if row else None

    def sign_out(self, session: str) -> None:
        with self._db() as con:
            con.execute("DELETE FROM sessions WHERE id_hash = ?", [_digest(session)])

    def secret(self) -> bytes:
        """The key that signs cookies and CSRF tokens: ``$PLACEHEALTH_SECRET``, else one made
        once and kept in the accounts file (so every worker shares it)."""
        if os.environ.get("PLACEHEALTH_SECRET"):
            return os.environ["PLACEHEALTH_SECRET"].encode()
        with self._db() as con:
            con.execute("INSERT OR IGNORE INTO settings VALUES ('secret', ?)", [secrets.token_hex(32)])
            return con.execute("SELECT value FROM settings WHERE name = 'secret'").fetchone()[0].encode()

    # ------------------------------------------------------------------ audit
    def audit(self, username: str, action: str, target: str, before: Any, after: Any) -> None:
        """Record one change: who, when (UTC), what, and the record before and after."""
        with self._db() as con:
            con.execute("INSERT INTO audit (at, username, action, target, before, after) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        [_now(), username, action, target,
                         None if before is None else json.dumps(before, default=str, sort_keys=True),
                         None if after is None else json.dumps(after, default=str, sort_keys=True)])

    def audit_log(self) -> list[dict[str, Any]]:
        with self._db() as con:
            rows = con.execute("SELECT id, at, username, action, target, before, after FROM audit "
                               "ORDER BY id").fetchall()
        return [dict(zip(("id", "at", "username", "action", "target", "before", "after"), r, strict=True))
                for r in rows]

    def backup(self, to: str | os.PathLike[str]) -> None:
        """A consistent copy of the accounts file (SQLite's online backup)."""
        with self._db() as con, sqlite3.connect(to) as out:
            con.backup(out)


def _new_session(con: sqlite3.Connection, username: str) -> str:
    """A new random session id for ``username`` (stored only as its digest)."""
    session = secrets.token_urlsafe(32)
    con.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)",
                [_digest(session), username, time.time(), time.time() + SESSION_SECONDS])
    return session


def _digest(session: str) -> str:
    return hashlib.sha256(session.encode()).hexdigest()


def sign(secret: bytes, value: str) -> str:
    """``value.signature`` (HMAC-SHA256)."""
    mac = hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()
    return f"{value}.{mac}"


def unsign(secret: bytes, signed: str | None) -> str | None:
    """The value of a signed string, or None when the signature is wrong."""
    if not signed or "." not in signed:
        return None
    value, mac = signed.rsplit(".", 1)
    good = hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()
    return value if hmac.compare_digest(mac, good) else None


def csrf_token(secret: bytes, session: str) -> str:
    """The CSRF token bound to one session (or to the anonymous sign-in cookie)."""
    return hmac.new(secret, f"csrf:{session}".encode(), hashlib.sha256).hexdigest()
