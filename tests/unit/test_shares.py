"""Fair shares: largest remainder adds up exactly, weights worked by hand, actuals and gaps."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from placehealth.analyses import profile, shares
from placehealth.analyses.shares import (
    decile_weight,
    fair_shares,
    largest_remainder,
    shares_within,
)
from placehealth.outputs.cli import _register, app
from placehealth.store import Store

from support.tiny_place import build_place

if not app.registered_commands:
    _register()


@settings(max_examples=300, deadline=None)
@given(weights=st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=40)
       .filter(lambda w: sum(w) > 0),
       seats=st.integers(0, 100_000))
def test_largest_remainder_adds_up_exactly_and_keeps_the_quota(weights, seats):
    counts = largest_remainder(weights, seats)
    assert counts.sum() == seats and (counts >= 0).all()
    w = np.asarray(weights)
    quota = seats * w / w.sum()
    # Hamilton's quota rule: each share is its quota rounded down or up
    assert (counts >= np.floor(quota - 1e-6)).all() and (counts <= np.ceil(quota + 1e-6)).all()
    # the extra units went to the largest remainders
    extra = counts > np.floor(quota + 1e-9)
    remainder = quota - np.floor(quota + 1e-9)
    if extra.any() and (~extra & (remainder > 1e-9)).any():
        assert remainder[extra].min() >= remainder[~extra & (remainder > 1e-9)].max() - 1e-6


def test_largest_remainder_worked_by_hand():
    # 10 sessions by 5 : 3 : 2.5 -> quotas 4.76, 2.86, 2.38: floors 4 + 2 + 2 = 8, two left go to
    # the largest remainders (0.86 then 0.76)
    assert largest_remainder([5, 3, 2.5], 10).tolist() == [5, 3, 2]
    # equal remainders: the larger weight first, then the first unit
    assert largest_remainder([1, 1, 1], 2).tolist() == [1, 1, 0]
    assert largest_remainder([1, 2, 1], 3).tolist() == [1, 1, 1]
    assert largest_remainder([0, 7, 0], 5).tolist() == [0, 5, 0]
    # half units: 7.5 hours = 15 halves by 1 : 1 : 1 -> 5 halves each = 2.5 hours
    table = fair_shares(pd.DataFrame({"unit_code": list("abc"), "weight": [1.0, 1.0, 1.0]}),
                        7.5, 0.5)
    assert table["fair_share"].tolist() == [2.5, 2.5, 2.5] and table["fair_share"].sum() == 7.5


@pytest.mark.parametrize("weights,total,unit,message", [
    ([1, -1], 10, 1, "not negative"), ([0, 0], 10, 1, "add up to zero"),
    ([1, float("nan")], 10, 1, "present"), ([1, 1], 10.3, 1, "whole number"),
    ([], 10, 1, "no units")])
def test_largest_remainder_refuses_what_cannot_be_shared(weights, total, unit, message):
    with pytest.raises(ValueError, match=message):
        largest_remainder(weights, total, unit)


def test_actuals_and_gaps():
    units = pd.DataFrame({"unit_code": ["A", "B"], "weight": [300.0, 100.0]})
    table = fair_shares(units, 8, actual={"A": 2.0, "B": 6.0}).set_index("unit_code")
    assert table["fair_share"].tolist() == [6, 2]
    assert table["gap"].tolist() == [-4.0, 4.0]   # A gets 4 sessions fewer than its fair share
    assert table["weight_pct"].tolist() == [75.0, 25.0]


def test_shares_within_each_group_are_each_groups_own_fair_shares():
    rng = np.random.default_rng(3)
    units = pd.DataFrame({"unit_code": [f"P{i:03d}" for i in range(60)],
                          "unit_name": [f"Practice {i}" for i in range(60)],
                          "weight": rng.gamma(2.0, 1000.0, 60),
                          "pcn_code": rng.choice(["U3", "U1", "U2"], 60)})
    got = shares_within(units, "pcn_code", 100)
    want = pd.concat([fair_shares(rows.drop(columns="pcn_code"), 100).assign(scope=code)
                      for code, rows in units.groupby("pcn_code")], ignore_index=True)
    pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False)
    assert got.groupby("scope")["fair_share"].sum().tolist() == [100, 100, 100]


def test_deprivation_gradient():
    assert decile_weight(10).item() == 1 and decile_weight(1).item() == 2
    assert decile_weight(5, gradient=0.9).item() == pytest.approx(1.5)
    assert decile_weight(1, gradient=0).item() == 1   # no gradient: population shares


@pytest.fixture
def tiny(tmp_path):
    with Store(tmp_path / "tiny.duckdb") as store:
        build_place(store)
        profile.build(store)
    return tmp_path / "tiny.duckdb"


def test_need_weighted_population_on_the_tiny_place_by_hand(tiny):
    # A00001: 100 patients, two thirds in LSOA1 (decile 1, weight 2), one third in LSOA2
    # (decile 5, weight 1 + 5/9): 100 x (2/3 x 2 + 1/3 x 14/9) = 185.19
    with Store(tiny, read_only=True) as store:
        w = shares.weights(store, "practice", "need_weighted").set_index("unit_code")["weight"]
        p = shares.weights(store, "practice", "population").set_index("unit_code")["weight"]
    assert w["A00001"] == pytest.approx(100 * (2 / 3 * 2 + 1 / 3 * 14 / 9))
    # A00003: all in LSOA3 (decile 9, weight 10/9)
    assert w["A00003"] == pytest.approx(100 * 10 / 9)
    assert p["A00002"] == 200


def test_shares_command_splits_and_compares(tiny, tmp_path):
    actual = tmp_path / "sessions_2025-26.csv"
    actual.write_text("level,unit_code,amount\npcn,U00001,10\npcn,U00002,2\npcn,U00003,0\n")
    result = CliRunner().invoke(app, ["target", "shares", "pcn", "--total", "12", "--weight",
                                      "need_weighted", "--actual", str(actual), "--db",
                                      str(tiny), "--format", "json"])
    assert result.exit_code == 0, result.output
    import json
    rows = {r["unit_code"]: r for r in json.loads(result.output)["shares"]}
    weights = {"U00001": 100 * (2 / 3 * 2 + 1 / 3 * 14 / 9),
               # 300 patients; of the 200 with an English LSOA, 50 in decile 5 and 150 in
               # decile 9 (the 100 in Wales count as the PCN's known patients do)
               "U00002": 300 * (1 / 4 * 14 / 9 + 3 / 4 * 10 / 9),
               "U00003": 100 * 10 / 9}
    expected = largest_remainder(list(weights.values()), 12)
    assert [rows[c]["fair_share"] for c in weights] == expected.tolist()
    assert sum(r["fair_share"] for r in rows.values()) == 12
    assert rows["U00001"]["gap"] == 10 - rows["U00001"]["fair_share"]
    assert math.isclose(rows["U00003"]["weight_pct"],
                        100 * weights["U00003"] / sum(weights.values()), rel_tol=1e-6)


def test_a_loaded_allocation_is_resplit_fairly_beside_its_actuals(tiny, tmp_path):
    from placehealth.sources import ReadOptions, read_file
    sessions = tmp_path / "outreach_sessions_2025-26.csv"
    sessions.write_text("level,unit_code,amount\npcn,U00001,3\npcn,U00002,9\npcn,U00003,0\n")
    with Store(tiny) as store:
        store.ingest([read_file(sessions, "allocations", ReadOptions())])
        shares.build(store)
        table = store.read("fair_shares", scope="allocated", weight_by="population")
    assert table["resource"].unique().tolist() == ["outreach_sessions"]
    rows = table.set_index("unit_code")
    assert rows["fair_share"].sum() == 12 and rows["total"].unique().tolist() == [12]
    # population 100 : 300 : 100 of 12 sessions -> quotas 2.4, 7.2, 2.4 -> 2, 7, 2 and one left
    # for the largest remainder (0.4 twice: the larger weight is equal, so the first unit)
    assert rows.loc[["U00001", "U00002", "U00003"], "fair_share"].tolist() == [3, 7, 2]
    assert rows.loc["U00002", "actual"] == 9 and rows.loc["U00002", "gap"] == 2
