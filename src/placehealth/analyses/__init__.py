"""Analyses: each reads the store and writes derived tables.

``BUILD_STEPS`` is the order ``placehealth build`` runs them in; each step is a
``(name, module:function)`` pair whose function takes a :class:`placehealth.store.Store`
(and a progress callback) and returns a dict of table name -> row count.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from contextlib import nullcontext

import pandas as pd

BUILD_STEPS: list[tuple[str, str]] = [
    ("profiles", "placehealth.analyses.profile:build"),
    # need reads practice_profile: keep it after the profile steps
    ("need", "placehealth.analyses.need:build"),
    # inequality reads prevalence_gap, prevalence_gap_lsoa and uptake_gap: keep it after need
    ("inequality", "placehealth.analyses.inequality:build"),
    # Core20PLUS5 cohorts counted from a patient-level extract in the engine (if one is loaded)
    ("cohorts", "placehealth.analyses.cohorts:build"),
    # peers reads practice_profile; compare reads peers: keep them last, in this order
    ("peers", "placehealth.analyses.peers:build"),
    ("compare", "placehealth.analyses.compare:build"),
    # series: every indicator in every period at every level, with the loaded series
    ("series", "placehealth.analyses.series:build"),
    # reach reads lsoa_profile, pcn_lsoa and prevalence_gap_lsoa: after profiles and need
    ("reach", "placehealth.analyses.reach:build"),
    ("shares", "placehealth.analyses.shares:build"),
]


def build_all(store, progress: Callable[[str], None] | None = None,
              notes: list[str] | None = None,
              done: Callable[[str, dict[str, int]], None] | None = None) -> dict[str, int]:
    """Run every build step in order; returns rows written per derived table. ``progress(name)``
    is called as a step starts, ``done(name, written)`` when it has written its tables.

    Given a ``notes`` list, what the steps had to say (a level skipped, a mapping from another
    period used, units left out) is appended to it as plain sentences, once each, instead of
    being raised as Python warnings, and kept in the table ``build_notes`` (step, note) for
    every output to show beside the results.
    """
    written: dict[str, int] = {}
    said: list[dict[str, str]] = []
    for name, target in BUILD_STEPS:
        module, function = target.split(":")
        if progress:
            progress(name)
        step = getattr(importlib.import_module(module), function)
        with warnings.catch_warnings(record=True) if notes is not None else nullcontext() as caught:
            if notes is not None:
                warnings.simplefilter("always")
            wrote = step(store)
        written.update(wrote)
        store.let_go()  # what the step read and freed, given back before the next one
        for warning in caught or ():
            text = str(warning.message)
            if issubclass(warning.category, UserWarning) and text not in notes:
                notes.append(text)
                said.append({"step": name, "note": text})
        if done:
            done(name, wrote)
    if notes is not None:
        frame = pd.DataFrame(said, columns=["step", "note"])
        store.replace_table("build_notes", frame)
        written["build_notes"] = len(frame)
    return written
