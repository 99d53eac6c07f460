"""Comparison, by hand: the peer mean with its uncertainty, ranks and deciles, trends, funnels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import optimize, stats
from statsmodels.stats.contingency_tables import Table
from statsmodels.stats.proportion import proportion_confint

from placehealth.analyses import compare, peers
from placehealth.indicators import registry

from support import frame, ingest
from support.tiny_practices import ATTRIBUTES, tiny_store

Z = stats.norm.ppf(0.975)


def test_peer_mean_with_its_t_interval_by_hand():
    values = pd.DataFrame({"indicator": "i", "period": "p", "unit_code": list("ABCD"),
                           "value": [10.0, 20.0, 30.0, 50.0]})
    pairs = pd.DataFrame({"unit_code": ["A"] * 3 + ["B"], "peer_code": ["B", "C", "D", "A"]})
    bench = compare.peer_benchmark(values, pairs).set_index("unit_code")
    a = bench.loc["A"]
    sd = math.sqrt(((20 - 100 / 3) ** 2 + (30 - 100 / 3) ** 2 + (50 - 100 / 3) ** 2) / 2)
    assert a["peer_n"] == 3 and a["peer_mean"] == pytest.approx(100 / 3)
    assert a["peer_sd"] == pytest.approx(sd)  # 15.275
    half = stats.t.ppf(0.975, 2) * sd / math.sqrt(3)  # t(2) = 4.303
    assert (a["peer_lowercl"], a["peer_uppercl"]) == pytest.approx((100 / 3 - half, 100 / 3 + half))
    b = bench.loc["B"]  # one peer: a mean with no spread to estimate its uncertainty
    assert b["peer_n"] == 1 and b["peer_mean"] == 10 and np.isnan(b["peer_sd"])


def test_peer_rating_combines_both_uncertainties():
    row = pd.DataFrame({"value": [10.0, 25.0], "lowercl": [8.0, 23.0], "uppercl": [12.0, 27.0],
                        "peer_mean": [100 / 3] * 2, "peer_se": [15.275252 / math.sqrt(3)] * 2,
                        "peer_n": [3, 3]})
    rated = compare.rate_against_peers(row, "high_is_good")
    se = math.sqrt((4 / (2 * Z)) ** 2 + (15.275252 / math.sqrt(3)) ** 2)
    assert rated.loc[0, "peer_difference_uppercl"] == pytest.approx(10 - 100 / 3 + Z * se)
    # 10 is well below 33.3 even allowing for the peers' spread; 25 is not
    assert rated["vs_peers"].tolist() == ["worse", "similar"]
    # against the peer *point* value (no peer uncertainty), 25 (23..27) would have been called
    # "worse": a false alarm
    point = compare.rate_against_peers(row.assign(peer_se=0.0), "high_is_good")
    assert point["vs_peers"].tolist() == ["worse", "worse"]


def test_rank_and_decile():
    values = pd.DataFrame({"indicator": "i", "period": "p", "unit_code": [f"U{i:05d}" for i in
                                                                          range(20)],
                           "value": np.arange(1.0, 21.0)})
    got = compare.rank_and_decile(values)
    assert got["national_rank"].tolist() == list(range(20, 0, -1))
    assert got["national_decile"].tolist() == [v for v in range(1, 11) for _ in range(2)]
    assert (got["national_units"] == 20).all()


def _series(counts, sizes):
    values = pd.DataFrame({"indicator": "i", "unit_code": "U00001",
                           "period": [f"20{10 + i}" for i in range(len(counts))],
                           "numerator": counts, "denominator": sizes})
    lo, hi = proportion_confint(values["numerator"], values["denominator"], method="wilson")
    return values.assign(value=100 * values["numerator"] / values["denominator"],
                         lowercl=100 * lo, uppercl=100 * hi)


def test_chi_square_trend_matches_linear_by_linear_association():
    counts, sizes = [50, 60, 62, 75, 80], [500, 500, 520, 510, 500]
    got = compare.trends(_series(counts, sizes), {"i": "proportion"}).iloc[0]
    table = np.column_stack([counts, np.subtract(sizes, counts)])
    lbl = Table(table).test_ordinal_association(row_scores=np.arange(5), col_scores=np.arange(2))
    n = sum(sizes)
    armitage = lbl.zscore**2 * n / (n - 1)  # Cochran-Armitage = N/(N-1) x linear-by-linear
    assert got["trend_method"] == "chi-square test for trend"
    assert got["trend_statistic"] == pytest.approx(armitage, rel=1e-9)
    assert got["trend_p"] == pytest.approx(stats.chi2.sf(armitage, 1))
    assert got["trend"] == got["trend_direction"] == "increasing"


def test_fewer_than_five_periods_weighted_regression_labelled_insufficient():
    values = _series([50, 60, 75], [500, 500, 500])
    got = compare.trends(values, {"i": "proportion"}).iloc[0]
    se = (values["uppercl"] - values["lowercl"]) / (2 * Z)
    fit = sm.WLS(values["value"], sm.add_constant(np.arange(3.0)), weights=1 / se**2).fit(
        cov_type="fixed scale")
    assert got["trend_method"] == "weighted regression"
    assert got["trend_slope"] == pytest.approx(fit.params.iloc[1])
    assert got["trend_p"] == pytest.approx(fit.pvalues.iloc[1])
    assert got["trend_periods"] == 3 and got["trend"] == "insufficient periods"
    assert got["trend_direction"] == "increasing"
    flat = compare.trends(_series([50, 51, 50, 49, 50, 50], [500] * 6), {"i": "proportion"})
    assert flat.iloc[0]["trend"] == "no significant change"
    assert flat.iloc[0]["trend_periods"] == 5  # only the latest five count


def test_funnel_limits_are_where_the_wilson_interval_touches_the_target():
    values = pd.DataFrame({"indicator": "i", "level": "pcn", "period": "p",
                           "unit_code": ["A", "B", "C"], "unit_name": None,
                           "numerator": [5.0, 40.0, 100.0], "denominator": [100.0, 400.0, 500.0]})
    known = {"i": registry_stub()}
    got = compare.funnel(values, known).set_index("unit_code")
    target = 145 / 1000
    for unit, n in (("A", 100), ("B", 400), ("C", 500)):
        # upper 95% limit: the proportion p whose Wilson lower limit at N equals the target
        def lower_gap(p, n=n):
            return proportion_confint(p * n, n, alpha=0.05, method="wilson")[0] - target

        upper = optimize.brentq(lower_gap, target, 1 - 1e-9)
        assert got.loc[unit, "upper95_0limit"] == pytest.approx(100 * upper, rel=1e-6)
        # and close to the exact binomial quantile (within one patient)
        assert abs(got.loc[unit, "upper95_0limit"] / 100 * n
                   - stats.binom.ppf(0.975, n, target)) <= 1.5
    assert got.loc["A", "position"] == "below 95%"  # 5% vs 14.5% at N = 100
    # z = (p - T) / sqrt(T(1 - T)/N): A -2.69, B -2.56 (beyond 1.96), C +3.49 (beyond 3.09)
    assert got.loc["B", "position"] == "below 95%"
    assert got.loc["C", "position"] == "above 99.8%"
    assert got.loc["B", "target"] == pytest.approx(14.5)
    # the limit lines drawn behind the points pass through each point's limits
    curve = compare.funnel_curves(values, known, points=50)
    assert curve["denominator"].min() <= 100 and curve["denominator"].max() >= 500
    assert np.interp(400, curve["denominator"], curve["upper95_0limit"]) == pytest.approx(
        got.loc["B", "upper95_0limit"], rel=1e-3)


def registry_stub():
    from placehealth.indicators import Indicator

    return Indicator("i", "I", "t", "a", "b", method="proportion", multiplier=100)


# ----------------------------------------------------------------------- end to end, tiny store



def test_build_on_a_tiny_store(store):
    tiny_store(store)
    ingest(store, "practice_attributes", frame(ATTRIBUTES), "2020-21")
    written = peers.build(store)
    assert written["peers"] > 0
    table = store.read("peers", level="pcn")
    # PCN features: U00001 = list-weighted (100, 200): imd (10*100 + 40*200)/300 = 30,
    # 65+ (20*100 + 10*200)/300 = 13.33; U00002: 30, 15; U00003: 12, 30 — so U00001 ~ U00002
    nearest = table[table["rank"] == 1].set_index("unit_code")["peer_code"].to_dict()
    assert nearest["U00001"] == "U00002" and nearest["U00002"] == "U00001"
    assert (table["unit_code"] != table["peer_code"]).all()
    written = compare.build(store)
    assert {"comparison", "funnel", "funnel_limits", "deciles", "spine", "peer_feature_fit",
            "indicators"} <= set(written)
    comp = store.read("comparison", level="pcn", period="2020-21",
                      indicator="qof_hyp_prevalence").set_index("unit_code")
    assert comp.loc["U00003", "england_value"] == pytest.approx(100 * 52 / 500)
    assert comp.loc["U00003", "vs_england"] == "lower"  # 0/80: Wilson upper 4.6% < 10.4%
    assert comp.loc["U00001", "icb_code"] == "Q01"
    assert comp.loc["U00001", "icb_value"] == pytest.approx(100 * 45 / 350)
    assert comp.loc["U00001", "trend"] == "insufficient periods"
    assert comp.loc["U00001", "peer_n"] == 2
    assert set(comp["vs_peers"]) <= {"higher", "lower", "similar", "not compared"}
    spine = store.read("spine", unit_code="U00001")
    assert set(spine["indicator"]) == set(registry(store))
    dec = store.read("deciles", level="practice", indicator="qof_hyp_prevalence",
                     period="2020-21")
    practice_values = [10.0, 15.0, 10.0, 0.0, 10.0]
    assert dec.sort_values("percentile")["value"].tolist() == pytest.approx(
        np.percentile(practice_values, range(10, 100, 10)))


def test_peer_z_is_the_distance_in_peer_standard_deviations():
    values = pd.DataFrame({"indicator": "i", "period": "p", "unit_code": list("ABCD"),
                           "value": [10.0, 20.0, 30.0, 50.0], "lowercl": [9.0, 19, 29, 49],
                           "uppercl": [11.0, 21, 31, 51], "numerator": 1.0, "denominator": 2.0})
    pairs = pd.DataFrame({"unit_code": ["A"] * 3, "peer_code": ["B", "C", "D"]})
    england = pd.DataFrame({"indicator": ["i"], "period": ["p"], "value": [25.0]})
    table = compare.comparison(values, england, {"i": registry_stub()}, peers=pairs)
    a = table.set_index("unit_code").loc["A"]
    sd = np.std([20, 30, 50], ddof=1)
    assert a["peer_z"] == pytest.approx((10 - 100 / 3) / sd)  # -1.53: within the usual spread
    assert a["vs_england"] == "lower"


def test_a_falling_proportion_over_six_periods_uses_the_latest_five():
    got = compare.trends(_series([10, 80, 75, 62, 60, 50], [500] * 6), {"i": "proportion"})
    row = got.iloc[0]
    # the first period (10 of 500) is not among the latest five, so it cannot make this rise
    assert row["trend_periods"] == 5 and row["trend"] == "decreasing"
    later = _series([80, 75, 62, 60, 50], [500] * 5)
    table = np.column_stack([later["numerator"], 500 - later["numerator"]])
    z = Table(table).test_ordinal_association(row_scores=np.arange(5), col_scores=np.arange(2))
    assert row["trend_statistic"] == pytest.approx(z.zscore**2 * 2500 / 2499, rel=1e-9)
