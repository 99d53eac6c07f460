"""Analyses: each reads the store and writes derived tables.

``BUILD_STEPS`` is the order ``placehealth build`` runs them in; each step is a
``(name, module:function)`` pair whose function takes a :class:`placehealth.store.Store`
(and a progress callback) and returns a dict of table name -> row count.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

BUILD_STEPS: list[tuple[str, str]] = [
    ("profiles", "placehealth.analyses.profile:build"),
    # need reads practice_profile: keep it after the profile steps
    ("need", "placehealth.analyses.need:build"),
    # peers reads practice_profile; compare reads peers: keep them last, in this order
    ("peers", "placehealth.analyses.peers:build"),
    ("compare", "placehealth.analyses.compare:build"),
]


def build_all(store, progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Run every build step in order; returns rows written per derived table."""
    written: dict[str, int] = {}
    for name, target in BUILD_STEPS:
        module, function = target.split(":")
        if progress:
            progress(name)
        step = getattr(importlib.import_module(module), function)
        written.update(step(store))
    return written
