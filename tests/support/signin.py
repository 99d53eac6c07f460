"""Signing in to the web app as a browser does (the security tests' helpers)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

PASSWORD = "correct horse battery staple"
#: role -> user name; the partner keeps the register "reg" (the tiny targeting place's register).
USERS = {"partner": "pat", "analyst": "ana", "admin": "ada"}


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token in the form"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD):
    """Sign in through the form; returns the POST's response (303 when it worked)."""
    token = csrf_of(client.get("/signin").text)
    return client.post("/signin", data={"username": username, "password": password,
                                        "csrf": token, "next": "/"}, follow_redirects=False)
