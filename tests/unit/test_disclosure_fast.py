"""The fast paths of the protected copies give what the plain ones gave: a profile family's cells
laid out without a long (melted) frame, and every policy protected from one read of a table."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from placehealth.outputs import blocks, disclosed
from placehealth.outputs.disclosure import (
    PROFILE_SUBSETS,
    _family_cells,
    _group_ids,
    get_policy,
    protect,
)
from placehealth.store import Store

DECILES = [f"imd_decile_{d}_pct" for d in range(1, 11)]


def _melted(implied: pd.DataFrame, hidden: pd.DataFrame, parts: dict) -> tuple:
    """The family's cells as the long frame made them before (``melt`` and ``ngroup``)."""
    long = implied.replace(0, np.nan).reset_index(drop=True).melt(var_name="column", ignore_index=False)
    long["row"] = long.index
    flags = hidden.reset_index(drop=True).melt(ignore_index=False)["value"].to_numpy()
    long["part"] = long["column"].map({m: str(p) for m, p in parts.items()})
    return long["value"].to_numpy(dtype="float64"), flags.astype(bool), _group_ids(long, [["row", "part"], ["row"]])


@pytest.mark.parametrize("seed", range(4))
def test_family_cells_are_the_melted_cells(seed):
    rng = np.random.default_rng(seed)
    rows = 200
    implied = pd.DataFrame(rng.choice([0.0, 2.0, 5.0, 30.0, 400.0], size=(rows, len(DECILES))),
                           columns=DECILES, index=rng.permutation(rows) + 1000)  # index not 0..n
    hidden = implied.gt(0) & implied.le(7)
    parts = {m: (bool(re.fullmatch(PROFILE_SUBSETS["core20_pct"], m)),) for m in DECILES}
    expected = _melted(implied, hidden, parts)
    got = _family_cells(implied.to_numpy(), hidden.to_numpy(), [parts[m] for m in DECILES])
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert len(np.unique(got[2][0])) == 2 * rows  # deciles 1-2 and the rest, per row
    for ours, theirs in zip(got[2], expected[2], strict=True):
        np.testing.assert_array_equal(ours, theirs)


def _profile(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    patients = rng.choice([40.0, 300.0, 2000.0], size=120)
    shares = rng.dirichlet(np.full(10, 0.6), size=120) * 100
    frame = pd.DataFrame(shares, columns=DECILES)
    frame.insert(0, "patients", patients)
    frame.insert(0, "unit_code", [f"U{i:03d}" for i in range(120)])
    frame.insert(0, "level", "pcn")
    frame.insert(0, "period", np.repeat(["2024-01", "2024-02"], 60))
    frame["core20_pct"] = frame[DECILES[:2]].sum(axis=1)
    return frame


def test_one_read_protects_every_policy_as_each_alone(tmp_path, monkeypatch):
    """Both policies' copies come from one read of each table (blocks included), and equal the
    table protected whole under each policy alone."""
    table = "pcn_profile"
    frame = _profile()
    with Store(tmp_path / "s.duckdb") as store:
        store.con.create_table(table, frame)
        reads = []
        read = Store.read
        monkeypatch.setattr(Store, "read", lambda self, name, *a, **k: reads.append(name) or read(self, name, *a, **k))
        disclosed.write_all(store)
        assert reads.count(table) == 1
        for policy in ("opensafely", "nhs_england"):
            entry = disclosed.valid_copy(store, table, get_policy(policy))
            copy = disclosed.read_copy(store, table, get_policy(policy), entry)
            alone = protect(store.con.table(table).to_pandas(), table, policy)
            assert (alone["suppressed_cells"] != "").sum() > 5, "the test table has hidden shares"
            pd.testing.assert_frame_equal(copy, disclosed.restore_types(disclosed._storable(alone), entry),
                                          check_exact=True)


def test_blocks_in_order_are_read_as_row_ranges(tmp_path):
    """A table whose blocks come one after another is read by row-number ranges: the same
    frames, row numbers and types as the join of the table with its block numbers."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"period": np.repeat([f"2024-{m:02d}" for m in range(1, 9)], 50),
                          "practice_code": rng.choice(["P1", "P2", "P3", "P4"], 400),
                          "lsoa_code": rng.choice([f"L{i}" for i in range(12)], 400),
                          "sex": "ALL", "patients": rng.choice([3.0, 9.0, 40.0, None], 400)})
    with Store(tmp_path / "s.duckdb") as store:
        store.con.create_table("registrations_lsoa", frame)
        plan = blocks.plan(store, "registrations_lsoa", 120)
        assert plan.in_order and plan.blocks == 4 and len(plan.spans) == 4
        by_range = list(blocks.frames(store, plan))
        by_join = list(blocks.frames(store, dataclasses.replace(plan, spans=())))
        assert sum(len(f) for f, _ in by_range) == len(frame)
        for (a, rows_a), (b, rows_b) in zip(by_range, by_join, strict=True):
            pd.testing.assert_frame_equal(a, b, check_exact=True)
            np.testing.assert_array_equal(rows_a, rows_b)
        blocks.drop(store, plan)

