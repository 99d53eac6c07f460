"""Derived values reveal no more than their protected counts. The comparison tables (values,
limits, England's and the ICB's values, peer means, ranks, spines, deciles, funnels) are derived
again from the rounded counts (outputs/recomputed.py), in memory and in the copies the build
writes; Core20PLUS5's sides from their rounded registers, its whole-PCN values as the need table
publishes them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from placehealth.measures import proportion
from placehealth.outputs import disclosed
from placehealth.outputs.disclosure import SUPPRESSED
from placehealth.outputs.queries import Data
from placehealth.store import Store

from support.tiny_practices import built_comparison


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return built_comparison(tmp_path_factory.mktemp("comparison") / "tiny.duckdb")


@pytest.fixture(scope="module")
def raw(built) -> pd.DataFrame:
    with Store(built, read_only=True) as store:
        return store.read("comparison")


@pytest.fixture(scope="module", params=["memory", "copies"])
def data(request, built, tmp_path_factory) -> Data:
    """The tables protected in memory, or read from the copies the build writes."""
    if request.param == "memory":
        return Data(built, policy="opensafely")
    copy = tmp_path_factory.mktemp("copies") / "tiny.duckdb"
    copy.write_bytes(built.read_bytes())
    with Store(copy) as store:
        disclosed.write_all(store, ["opensafely"])
    return Data(copy, policy="opensafely")


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["value"].notna()].astype({"numerator": float, "denominator": float})


def test_a_value_gives_back_only_the_rounded_numerator(data, raw):
    table = _shown(data.protected("comparison"))
    assert len(table) >= 4
    assert (table["numerator"] % 5 == 0).all() and (table["denominator"] % 5 == 0).all()
    # the values are percentages of the rounded counts, so value x denominator is the rounded
    # numerator; the stored value would have given the true 12 of practice A00002's 160 back
    assert np.allclose(table["value"] * table["denominator"] / 100, table["numerator"])
    keys = ["indicator", "level", "period", "unit_code"]
    both = table.merge(raw, on=keys, suffixes=("", "_raw"))
    changed = both[both["numerator"] != both["numerator_raw"]]
    assert len(changed) and (changed["value"] != changed["value_raw"]).all()
    wilson = proportion(table, "numerator", "denominator", multiplier=100)
    assert np.allclose(table["lowercl"], wilson["lowercl"]) and np.allclose(table["uppercl"], wilson["uppercl"])


def test_england_and_icb_values_come_from_their_rounded_counts(data):
    table = data.protected("comparison")
    for name in ("england", "icb"):
        counts = table[[f"{name}_numerator", f"{name}_denominator", f"{name}_value"]].dropna().astype(float)
        assert len(counts) and (counts[f"{name}_numerator"] % 5 == 0).all()
        assert np.allclose(counts[f"{name}_value"],
                           counts[f"{name}_numerator"] / counts[f"{name}_denominator"] * 100)


def test_peer_means_and_ranks_are_of_the_published_values(data):
    table = data.protected("comparison")
    links = data.protected("peers")
    links = links[links["within"] == "england"]
    checked = 0
    for row in table[table["peer_mean"].notna()].itertuples():
        codes = links[(links["level"] == row.level) & (links["unit_code"] == row.unit_code)]["peer_code"]
        published = table[(table["level"] == row.level) & (table["indicator"] == row.indicator)
                          & (table["period"] == row.period) & table["unit_code"].isin(codes)]["value"]
        assert row.peer_mean == pytest.approx(published.dropna().astype(float).mean())
        checked += 1
    assert checked
    for _, group in table.groupby(["indicator", "level", "period"]):
        shown = group[group["value"].notna()]
        expected = shown["value"].astype(float).rank(method="min", ascending=False)
        assert (shown["national_rank"].astype(float) == expected).all()
        assert (shown["national_units"] == len(shown)).all()


def test_a_hidden_value_keeps_its_ratings_hidden(data):
    table = data.protected("comparison")
    hidden = table[table["numerator"].isna()]
    assert len(hidden)
    for column in ("value", "lowercl", "uppercl", "vs_england", "vs_icb", "national_rank", "national_decile"):
        assert hidden[column].isna().all(), column
        assert hidden[SUPPRESSED].str.contains(column).all()


def test_spine_deciles_and_funnel_hold_only_published_values(data):
    table = data.protected("comparison")
    spine = data.protected("spine")
    merged = spine.merge(table, on=["level", "indicator", "period", "unit_code"], suffixes=("", "_c"))
    assert len(merged)
    assert np.allclose(merged["value"].astype(float), merged["value_c"].astype(float), equal_nan=True)
    assert spine[SUPPRESSED].str.contains("value").sum() == merged["value_c"].isna().sum()
    for row in spine.dropna(subset=["min"]).itertuples():
        values = table[(table["level"] == row.level) & (table["indicator"] == row.indicator)
                       & (table["period"] == row.period)]["value"].dropna().astype(float)
        assert row.min == pytest.approx(values.min()) and row.max == pytest.approx(values.max())
    deciles = data.protected("deciles")
    assert len(deciles)
    for row in deciles.itertuples():
        values = table[(table["level"] == row.level) & (table["indicator"] == row.indicator)
                       & (table["period"] == row.period)]["value"].dropna().astype(float)
        assert row.value == pytest.approx(np.percentile(values, row.percentile)) and row.units == len(values)
    funnel = data.protected("funnel")
    shown = funnel[funnel["numerator"].notna()]
    assert len(shown) and np.allclose(shown["value"].astype(float),
                                      shown["numerator"].astype(float) / shown["denominator"].astype(float) * 100)
    assert funnel.loc[funnel["numerator"].isna(), "position"].isna().all()


def test_core20plus5_values_follow_the_rounded_registers(demo_db):
    from placehealth.measures.observed_expected import ratio_limits

    data = Data(demo_db, policy="opensafely")
    table = data.protected("core20plus5")
    ratios = table[(table["measure"] == "ratio") & table["core20_value"].notna()].copy()
    assert len(ratios) >= 5
    for side in ("core20", "rest"):
        counts = ratios[[f"{side}_observed", f"{side}_expected"]].astype(float)
        assert (counts % 5 == 0).all().all()
        limits = ratio_limits(pd.DataFrame({"observed": counts.iloc[:, 0], "expected": counts.iloc[:, 1],
                                            "tau2": ratios["tau2"].fillna(0).astype(float)}),
                              [], unique=True, tau2="tau2")
        assert np.allclose(ratios[f"{side}_value"].astype(float), limits["ratio"])
        assert np.allclose(ratios[f"{side}_uppercl"].astype(float), limits["ratio_uppercl"])
    assert np.allclose(ratios["difference"].astype(float),
                       ratios["core20_value"].astype(float) - ratios["rest_value"].astype(float))
    # the whole PCN's ratio is the one the need table publishes (from its rounded registers)
    gap = data.protected("prevalence_gap")
    gap = gap[gap["level"] == "pcn"].assign(indicator="prevalence_gap:" + gap["group_code"])
    both = ratios.merge(gap, left_on=["period", "pcn_code", "indicator"],
                        right_on=["period", "area_code", "indicator"])
    assert len(both) == len(ratios)
    assert np.allclose(both["all_value"].astype(float), both["ratio"].astype(float), equal_nan=True)
    share = table[table["measure"] == "share"].dropna(subset=["core20_share"])
    assert len(share) and np.allclose(share["core20_share"].astype(float) * share["patients"].astype(float),
                                      share["core20_patients"].astype(float))


def test_cells_named_hidden_are_hidden_again_as_one_cell_at_a_time_would():
    """``_hide_again`` nulls, a column at a time, exactly the cells each row's list names (as
    setting them one by one does, column types included), and nothing else."""
    from placehealth.outputs import recomputed

    rng = np.random.default_rng(3)
    n = 400
    lists = ["", "value", "value,rank", "rank,flag,label", "flag", "unknown_column,value"]
    frame = pd.DataFrame({"value": rng.random(n), "rank": pd.array(rng.integers(1, 9, n), dtype="Int64"),
                          "flag": rng.random(n) < 0.5, "label": pd.array(rng.choice(["a", "b"], n), dtype="str"),
                          "kept": rng.random(n), SUPPRESSED: rng.choice(lists, n)})
    expected = frame.copy()
    for position, names in enumerate(expected[SUPPRESSED].tolist()):
        for column in filter(None, names.split(",")):
            if column in expected:
                if expected[column].dtype == bool:
                    expected[column] = expected[column].astype(object)
                expected.iat[position, expected.columns.get_loc(column)] = None
    got = recomputed._hide_again(frame.copy())
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got["value"].isna().sum() == frame[SUPPRESSED].str.contains("value").sum() > 0
    assert got["kept"].equals(frame["kept"])
