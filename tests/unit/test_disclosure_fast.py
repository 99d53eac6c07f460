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
    TableRule,
    _bridge_edges,
    _distinct,
    _family_cells,
    _group_ids,
    _observed_expected,
    _rounded,
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
        read = disclosed.read_numbered
        monkeypatch.setattr(disclosed, "read_numbered", lambda store, name: reads.append(name) or read(store, name))
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

        # were the engine ever to give a block's rows out of stored order, they are sorted back
        for a, rows_a in by_range:
            read = a.assign(**{blocks.ROW: rows_a}).iloc[rng.permutation(len(a))].reset_index(drop=True)
            b, rows_b = blocks._typed(read, plan)
            pd.testing.assert_frame_equal(a, b, check_exact=True)
            np.testing.assert_array_equal(rows_a, rows_b)


def test_group_ids_number_groups_as_ngroup():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"period": rng.choice(["a", "b"], 500), "area": rng.choice(["X", "Y", None], 500),
                          "lsoa": pd.array(rng.choice([f"L{i}" for i in range(40)], 500), dtype="str")})
    groupings = [["period", "lsoa"], ["period", "area"], [], ["lsoa"]]
    got = _group_ids(frame, groupings)
    for ids, keys in zip(got, groupings, strict=True):
        expected = (frame.groupby(keys, sort=False, dropna=False).ngroup().to_numpy() if keys
                    else np.zeros(len(frame), dtype=int))
        # the same groups (nulls one group of their own); numbered alike where no key is null
        assert pd.crosstab(ids, expected).gt(0).sum(axis=1).eq(1).all()
        assert len(np.unique(ids)) == len(np.unique(expected))
        if "area" not in keys:
            np.testing.assert_array_equal(ids, expected)


def test_distinct_rows_and_their_first_rows():
    o = np.array([5.0, 10.0, 5.0, 0.0, -0.0, 5.0, np.nan, np.nan])
    e = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 1.0, 1.0])
    codes, first = _distinct((o, e))
    np.testing.assert_array_equal(codes, [0, 1, 0, 2, 3, 4, 5, 5])  # 0.0 and -0.0 apart
    np.testing.assert_array_equal(first, [0, 1, 3, 4, 5, 6])
    assert _distinct((np.zeros(0), np.zeros(0)))[1].size == 0


def test_limits_of_distinct_counts_are_every_rows_limits():
    """Observed/expected limits computed once per distinct rounded row equal those computed for
    every row."""
    from placehealth.measures.observed_expected import ratio_limits

    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"observed": rng.choice([0.0, 3.0, 12.0, 41.0, 260.0], 3000),
                          "expected": rng.choice([2.0, 9.0, 30.0, 300.0, np.nan], 3000),
                          "tau2": rng.choice([0.0, 0.02, np.nan], 3000), "list_size": 1000.0})
    frame["ratio"] = frame["ratio_lowercl"] = frame["ratio_uppercl"] = frame["missing"] = 0.0
    frame["significantly_low"] = False
    rule = TableRule(counts=("observed", "expected"), observed_expected=("observed", "expected"))
    policy = get_policy("opensafely")
    got = _observed_expected(frame, rule, policy)
    observed, expected = (_rounded(frame[c].to_numpy(), policy) for c in ("observed", "expected"))
    usable = np.isfinite(observed) & np.isfinite(expected) & (expected > 0)
    every = ratio_limits(pd.DataFrame({"observed": np.where(usable, observed, 0.0),
                                       "expected": np.where(usable, expected, 1.0),
                                       "tau2": frame["tau2"].fillna(0.0)}), [], unique=True, tau2="tau2")
    assert usable.sum() > 1000 and not usable.all()
    for column in ("ratio", "ratio_lowercl", "ratio_uppercl", "missing"):
        np.testing.assert_array_equal(got[column].to_numpy(), np.where(usable, every[column], np.nan))
    np.testing.assert_array_equal(got["significantly_low"].to_numpy(),
                                  np.where(usable, every["significantly_low"], False))


def test_bridges_of_many_components():
    """Thousands of components (the graphs of profile families): triangles have no bridge, a
    lone edge or a path's edges are all bridges, parallel edges are none."""
    k = 5000
    base = np.arange(k) * 10
    a = np.r_[base, base + 1, base + 2, base + 3, base + 4, base + 5, base + 5]
    b = np.r_[base + 1, base + 2, base, base + 4, base + 6, base + 7, base + 7]
    got = _bridge_edges(a, b, k * 10)
    expected = np.r_[np.zeros(3 * k, bool), np.ones(2 * k, bool), np.zeros(2 * k, bool)]
    np.testing.assert_array_equal(got, expected)


def test_copies_are_made_after_the_copies_they_are_made_from(monkeypatch):
    """Tables others are made from first, then what is made from them, then the rest; a table
    made from another comes after it even when both are made from (a chain of FOLLOWS)."""
    monkeypatch.setitem(disclosed.FOLLOWS, "peers", ("census", (), {}))  # census -> peers -> comparison
    tables = ["census", "comparison", "deciles", "lsoa_profile", "peers", "spine"]
    needed = set().union(*(disclosed.made_from(t) for t in tables))
    order = disclosed._in_order(tables, needed)
    assert sorted(order) == sorted(tables)
    for table in tables:
        for source in disclosed.made_from(table) & set(tables):
            assert order.index(source) < order.index(table), (source, table, order)
    assert order[-1] == "lsoa_profile"  # made from nothing, needed by nothing: last
