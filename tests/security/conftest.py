"""Fixtures of the security tests: the tiny targeting place (a register with a contact) and
accounts of every role beside it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from placehealth.outputs.accounts import Accounts, users_path
from placehealth.outputs.web.app import create_app

from support.signin import PASSWORD, USERS, sign_in
from support.tiny_targeting import build_targeting


@pytest.fixture(scope="session")
def built_place(tmp_path_factory) -> Path:
    return build_targeting(tmp_path_factory.mktemp("secure-place"))


@pytest.fixture
def place(built_place: Path, tmp_path: Path) -> Path:
    """A fresh copy of the place for each test (forms write to it)."""
    db = tmp_path / "place.duckdb"
    shutil.copy(built_place, db)
    return db


@pytest.fixture
def accounts(place: Path, monkeypatch) -> Accounts:
    monkeypatch.delenv("PLACEHEALTH_USERS", raising=False)
    monkeypatch.delenv("PLACEHEALTH_AUTH", raising=False)
    store = Accounts(users_path(place))
    for role, name in USERS.items():
        store.add(name, PASSWORD, role, "reg" if role == "partner" else None)
    return store


@pytest.fixture
def client_for(place: Path, accounts: Accounts):
    """A client signed in as ``role`` ('public': nobody), over an app with or without
    required sign-in."""
    def make(role: str, required: bool = False) -> TestClient:
        client = TestClient(create_app(place, auth_required=required))
        if role != "public":
            assert sign_in(client, USERS[role]).status_code == 303
        return client
    return make


@pytest.fixture
def https_client(place: Path):
    return TestClient(create_app(place), base_url="https://testserver")

