"""Peer groups, by hand: standardise, weigh, measure, rank — on stores small enough to check.

Four units on one feature x = 0, 2, 4, 6: mean 3, population sd sqrt(5), so neighbours are
2/sqrt(5) = 0.894427 apart. Ties are broken by code, a unit is never its own peer.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from placehealth.analyses.peers import (
    PeerOptions,
    feature_fit,
    nearest_peers,
    parse_features,
    standardise,
)

ONE = pd.DataFrame({"x": [0.0, 2.0, 4.0, 6.0]}, index=["A", "B", "C", "D"])


def options(n=1, **weights):
    return PeerOptions(n=n, features=weights or {"x": 1.0}, log_features=frozenset(), winsor=None)


def test_nearest_peer_on_one_feature_with_ties_broken_by_code():
    peers, _ = nearest_peers(ONE, options(n=1))
    got = dict(zip(peers["unit_code"], peers["peer_code"], strict=True))
    # B is equally near A and C: A wins by code; C is equally near B and D: B wins.
    assert got == {"A": "B", "B": "A", "C": "B", "D": "C"}
    assert peers["distance"].tolist() == pytest.approx([2 / math.sqrt(5)] * 4)


def test_never_its_own_peer_and_at_most_n_minus_one_peers():
    peers, _ = nearest_peers(ONE, options(n=10))
    assert (peers["unit_code"] != peers["peer_code"]).all()
    assert peers.groupby("unit_code").size().tolist() == [3, 3, 3, 3]
    a = peers[peers["unit_code"] == "A"]
    assert a["peer_code"].tolist() == ["B", "C", "D"]
    assert a["rank"].tolist() == [1, 2, 3]
    assert a["distance"].tolist() == pytest.approx([2, 4, 6] / np.sqrt(5))


def test_weighted_euclidean_distance_and_feature_shares_by_hand():
    # y = 0, 0, 0, 4: mean 1, sd sqrt(3); z_y = (-1, -1, -1, 3)/sqrt(3).
    two = ONE.assign(y=[0.0, 0.0, 0.0, 4.0])
    peers, shares = nearest_peers(two, options(n=3, x=1.0, y=2.0))
    ad = peers[(peers["unit_code"] == "A") & (peers["peer_code"] == "D")]
    dx2, dy2 = 36 / 5, 16 / 3
    assert ad["distance"].item() == pytest.approx(math.sqrt(dx2 + 2 * dy2))
    pair = shares[(shares["unit_code"] == "A") & (shares["peer_code"] == "D")].set_index("feature")
    assert pair.loc["x", "share"] == pytest.approx(dx2 / (dx2 + 2 * dy2))
    assert pair.loc["y", "share"] == pytest.approx(2 * dy2 / (dx2 + 2 * dy2))
    assert pair.loc["y", "unit_value"] == 0 and pair.loc["y", "peer_value"] == 4
    assert pair.loc["x", "z_difference"] == pytest.approx(6 / math.sqrt(5))
    # D's nearest is C (x differs by 2/sqrt5, y by 4/sqrt3 weighted 2) — not A, B
    d = peers[peers["unit_code"] == "D"]
    assert d["peer_code"].tolist() == ["C", "B", "A"]


def test_zero_weight_ignores_a_feature():
    two = ONE.assign(y=[100.0, 0.0, 0.0, 0.0])
    peers, _ = nearest_peers(two, options(n=1, x=1.0, y=0.0))
    assert dict(zip(peers["unit_code"], peers["peer_code"], strict=True))["A"] == "B"


def test_within_restricts_candidates_to_the_same_group():
    groups = pd.Series({"A": "north", "B": "north", "C": "south", "D": "south"})
    peers, _ = nearest_peers(ONE, options(n=5), within=groups)
    got = peers.groupby("unit_code")["peer_code"].apply(list).to_dict()
    assert got == {"A": ["B"], "B": ["A"], "C": ["D"], "D": ["C"]}


def test_same_inputs_same_peers_whatever_the_row_order():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.integers(0, 5, size=(60, 3)).astype(float), columns=list("abc"),
                         index=[f"U{i:05d}" for i in range(60)])
    opts = PeerOptions(n=5, features={"a": 1, "b": 1, "c": 1}, log_features=frozenset())
    first, _ = nearest_peers(frame, opts)
    again, _ = nearest_peers(frame.sample(frac=1, random_state=3), opts, block=7)
    pd.testing.assert_frame_equal(first, again)
    # integer features make many exact ties: within a unit, equal distances are in code order
    for _, rows in first.groupby("unit_code"):
        keys = list(zip(rows["distance"].round(9), rows["peer_code"], strict=True))
        assert keys == sorted(keys)


def test_winsorising_and_log_transform():
    x = pd.Series(np.r_[np.arange(1, 100, dtype=float), 1e6], index=[f"P{i:05d}" for i in range(100)])
    frame = pd.DataFrame({"list_size": x})
    opts = PeerOptions(features={"list_size": 1.0}, winsor=(0.01, 0.99))
    z = standardise(frame, opts)["list_size"]
    logged = np.log1p(x)
    clipped = logged.clip(logged.quantile(0.01), logged.quantile(0.99))
    expected = (clipped - clipped.mean()) / clipped.std(ddof=0)
    pd.testing.assert_series_equal(z, expected, check_names=False)
    assert z.max() < 2  # the 1,000,000 outlier is pulled in


def test_missing_value_stays_missing_and_constant_feature_counts_nothing():
    frame = pd.DataFrame({"x": [0.0, np.nan, 4.0], "k": [7.0, 7.0, 7.0]}, index=["A", "B", "C"])
    z = standardise(frame, options(x=1.0, k=1.0))
    assert np.isnan(z.loc["B", "x"])  # not the average
    assert z.loc["A", "x"] == -1.0 and z.loc["C", "x"] == 1.0  # mean 2, sd 2 of the known
    assert (z["k"] == 0).all()


def test_a_missing_value_neither_adds_to_nor_shrinks_the_distance():
    """Gower (1971): a pair's squared distance sums the features both know, scaled up by all the
    weight over the weight known. x = 0, 2, 4, 6 (z = ±1.342, ±0.447); y = 0, 0, 10, 10 but
    unknown for B: z(y) of A, C, D = -sqrt(2), sqrt(1/2), sqrt(1/2)."""
    frame = pd.DataFrame({"x": [0.0, 2.0, 4.0, 6.0], "y": [0.0, np.nan, 10.0, 10.0]},
                         index=["A", "B", "C", "D"])
    found, shares = nearest_peers(frame, options(n=3, x=1.0, y=1.0))
    d = found.set_index(["unit_code", "peer_code"])["distance"]
    step = 2 / math.sqrt(5)
    # A-B share only x: (one step)^2 scaled by 2/1
    assert d["A", "B"] == pytest.approx(math.sqrt(2 * step**2))
    # A-C know both: 2 steps on x, sqrt(2) + sqrt(1/2) on y
    assert d["A", "C"] == pytest.approx(math.sqrt((2 * step) ** 2 + (1.5 * math.sqrt(2)) ** 2))
    pair = shares[(shares["unit_code"] == "A") & (shares["peer_code"] == "B")].set_index("feature")
    assert pair.loc["x", "share"] == 1.0 and np.isnan(pair.loc["y", "share"])  # not "differs"


def test_a_feature_known_for_few_units_is_not_used_and_said_so():
    from placehealth.analyses.peers import PeerWarning, feature_coverage

    frame = pd.DataFrame({"x": [0.0, 2.0, 4.0, 6.0, 8.0], "y": [1.0, 5.0, 2.0, 7.0, 3.0],
                          "rural": [50.0, np.nan, np.nan, np.nan, 10.0]},
                         index=["A", "B", "C", "D", "E"])
    opts = options(n=2, x=1.0, y=1.0, rural=1.0)
    coverage = feature_coverage(frame, opts).set_index("feature")
    assert coverage.loc["rural", "known_units"] == 2 and coverage.loc["rural", "units"] == 5
    assert not coverage.loc["rural", "used"] and coverage.loc["x", "used"]
    with pytest.warns(PeerWarning, match="rural: known for 2 of 5 units"):
        found, shares = nearest_peers(frame, opts)
    expected, _ = nearest_peers(frame[["x", "y"]], options(n=2, x=1.0, y=1.0))
    pd.testing.assert_frame_equal(found, expected)
    assert "rural" not in set(shares["feature"])


def test_bad_options_and_features_are_clear_errors():
    with pytest.raises(ValueError, match="n must be"):
        PeerOptions(n=0)
    with pytest.raises(ValueError, match="weights"):
        PeerOptions(features={"x": -1})
    with pytest.raises(ValueError, match="not available: nope"):
        nearest_peers(ONE, options(nope=1.0))
    with pytest.raises(ValueError, match="twice"):
        nearest_peers(pd.concat([ONE, ONE.iloc[:1]]), options())
    assert parse_features("imd_score, pct_65_plus:2") == {"imd_score": 1.0, "pct_65_plus": 2.0}
    with pytest.raises(ValueError, match="weight must be a number"):
        parse_features("imd_score:heavy")


def test_feature_fit_r_squared_matches_statsmodels():
    import statsmodels.api as sm

    rng = np.random.default_rng(7)
    feats = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)},
                         index=[f"U{i:05d}" for i in range(40)])
    y = 3 * feats["a"] - feats["b"] + rng.normal(scale=0.5, size=40)
    values = pd.DataFrame({"indicator": "i", "period": "p", "unit_code": feats.index, "value": y})
    fit = feature_fit(feats, values, PeerOptions(features={"a": 1, "b": 1},
                                                 log_features=frozenset(), winsor=None))
    ols = sm.OLS(y.to_numpy(), sm.add_constant(feats.to_numpy())).fit()
    assert fit["r_squared"].item() == pytest.approx(ols.rsquared)
    assert fit["adjusted_r_squared"].item() == pytest.approx(ols.rsquared_adj)
    assert fit["units"].item() == 40


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=2, max_size=30),
       st.integers(1, 5))
def test_properties_never_self_symmetric_and_nearest_first(points, n):
    """For any small set of units: never its own peer, ranks 1..k, distances non-decreasing,
    d(i, j) = d(j, i), and no excluded unit is strictly nearer than an included one."""
    frame = pd.DataFrame(points, columns=["a", "b"], dtype=float,
                         index=[f"U{i:05d}" for i in range(len(points))])
    opts = PeerOptions(n=n, features={"a": 1.0, "b": 1.0}, log_features=frozenset(), winsor=None)
    found, _ = nearest_peers(frame, opts)
    assert (found["unit_code"] != found["peer_code"]).all()
    z = standardise(frame, opts).to_numpy()
    full = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(axis=2))
    index = {code: i for i, code in enumerate(frame.index)}
    for unit, rows in found.groupby("unit_code"):
        assert rows["rank"].tolist() == list(range(1, len(rows) + 1))
        assert len(rows) == min(n, len(points) - 1)
        assert rows["distance"].is_monotonic_increasing
        i = index[unit]
        others = np.delete(full[i], i)
        assert rows["distance"].max() <= np.sort(others)[len(rows) - 1] + 1e-9
        for peer, d in zip(rows["peer_code"], rows["distance"], strict=True):
            assert d == pytest.approx(full[index[peer], i], abs=1e-9)


def test_a_unit_known_only_by_one_feature_is_left_out_not_called_average():
    from placehealth.analyses.peers import PeerWarning

    frame = pd.DataFrame({"x": [0.0, 2.0, 4.0, 6.0, np.nan], "y": [1.0, 2.0, 3.0, 4.0, np.nan],
                          "size": [10.0, 20.0, 30.0, 40.0, 25.0]},
                         index=["A", "B", "C", "D", "E"])
    with pytest.warns(PeerWarning, match="1 unit"):
        found, _ = nearest_peers(frame, options(n=4, x=1.0, y=1.0, size=1.0))
    assert "E" not in set(found["unit_code"]) | set(found["peer_code"])
    # one missing feature of three is still compared (on the two it has)
    frame.loc["E", "x"] = 3.0
    found, _ = nearest_peers(frame, options(n=4, x=1.0, y=1.0, size=1.0))
    assert "E" in set(found["unit_code"])
