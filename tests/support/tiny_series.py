"""A store holding only the demo's quarterly PCN series and its two registered interventions
(sources/demo/series.py, with the demo's own random stream), read by the readers and built into
``series``: 30 PCNs U90001..U90030, 2019Q1-2025Q2."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from placehealth.analyses.series import build
from placehealth.sources import ReadOptions, read_file
from placehealth.sources.demo import series as demo_series
from placehealth.store import Store


def series_store(folder: Path) -> tuple[Path, dict]:
    """(the store's path, the planted truth by intervention name)."""
    rng = np.random.default_rng(np.random.SeedSequence(2026).spawn(9)[8])  # the demo's stream
    codes = np.array([f"U9{i:04d}" for i in range(1, 31)])
    patients = np.linspace(20_000, 70_000, 30)
    rows, entries, truth = demo_series.build_series(rng, codes, patients)
    db = folder / "demo.duckdb"
    with Store(db) as store:
        store.ingest([read_file(p, None, ReadOptions())
                      for p in demo_series.write(folder / "files", rows, entries)])
        build(store)
    return db, truth
