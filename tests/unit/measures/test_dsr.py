"""dsr(): directly standardised rates, Dobson limits, ESP 2013 matched by band label."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from placehealth.measures import dsr, esp2013
from placehealth.measures._limits import byar_limits, exact_limits

ESP_2013 = [5000, 5500, 5500, 5500, 6000, 6000, 6500, 7000, 7000, 7000, 7000, 6500, 6000, 5500,
            5000, 4000, 2500, 1500, 1000]


def _dobson_by_hand(x, n, w, level, multiplier):
    """Independent loop over bands following Dobson et al. 1991 as written in the spec."""
    total_w = sum(w)
    value = sum(wi * xi / ni for wi, xi, ni in zip(w, x, n, strict=True) if ni > 0) / total_w
    var = sum(wi**2 * xi / ni**2 for wi, xi, ni in zip(w, x, n, strict=True) if ni > 0) / total_w**2
    o = sum(x)
    if o < 10:
        o_l, o_u = (v[0] for v in exact_limits(np.array([o]), level))
    else:
        o_l, o_u = (v[0] for v in byar_limits(np.array([o]), level))
    lower = value + np.sqrt(var / o) * (o_l - o)
    upper = value + np.sqrt(var / o) * (o_u - o)
    return value * multiplier, lower * multiplier, upper * multiplier


def test_esp2013_bundled():
    esp = esp2013()
    assert list(esp.to_numpy()) == ESP_2013 and esp.sum() == 100_000
    assert esp.index[0] == "0-4" and esp.index[-1] == "90+"


def test_dsr_matches_hand_calculation_with_shuffled_rows_and_other_labels():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 40, 19).astype(float)
    n = rng.integers(500, 5000, 19).astype(float)
    labels = [f"{a:02d}-{a + 4:02d}" for a in range(0, 90, 5)] + ["90 and over"]
    frame = pd.DataFrame({"band": labels, "x": x, "n": n}).sample(frac=1, random_state=1)
    out = dsr(frame, "x", "n", ageband="band", confidence=[0.95, 0.998])
    for level, lo, hi in [(0.95, "lower95_0cl", "upper95_0cl"), (0.998, "lower99_8cl", "upper99_8cl")]:
        value, lower, upper = _dobson_by_hand(x, n, ESP_2013, level, 100_000)
        assert out["value"].iloc[0] == pytest.approx(value, rel=1e-12)
        assert out[lo].iloc[0] == pytest.approx(lower, rel=1e-12)
        assert out[hi].iloc[0] == pytest.approx(upper, rel=1e-12)
    assert out["total_count"].iloc[0] == x.sum() and out["total_pop"].iloc[0] == n.sum()
    assert out["method"].iloc[0] == "Dobson" and out["statistic"].iloc[0] == "dsr per 100000"


def test_uniform_rate_standardises_to_itself():
    frame = pd.DataFrame({"ageband": esp2013().index, "x": 20.0, "n": 10_000.0})
    out = dsr(frame, "x", "n", multiplier=1000)
    assert out["value"].iloc[0] == pytest.approx(2.0)
    assert out["lowercl"].iloc[0] < 2 < out["uppercl"].iloc[0]


def test_grouped_custom_standard_and_suppression():
    standard = {"0-39": 60, "40-64": 30, "65+": 10}
    frame = pd.DataFrame({
        "area": ["a"] * 3 + ["b"] * 3,
        "band": ["65+", "0-39", "40-64"] * 2,
        "x": [30, 10, 20, 1, 2, 3],
        "n": [1000, 5000, 3000, 800, 900, 1000],
    })
    out = dsr(frame, "x", "n", ageband="band", stdpop=standard, group_by="area", multiplier=1000)
    value, lower, upper = _dobson_by_hand([10, 20, 30], [5000, 3000, 1000], [60, 30, 10], 0.95, 1000)
    a = out.set_index("area").loc["a"]
    assert a["value"] == pytest.approx(value) and a["lowercl"] == pytest.approx(lower)
    assert a["uppercl"] == pytest.approx(upper)
    b = out.set_index("area").loc["b"]
    assert b["total_count"] == 6 and np.isnan(b["value"]) and np.isnan(b["uppercl"])
    kept = dsr(frame, "x", "n", ageband="band", stdpop=standard, group_by="area", suppress_below=None)
    assert not np.isnan(kept["value"]).any()


def test_standard_population_as_column_and_frame():
    frame = pd.DataFrame({"band": ["young", "old"], "x": [12, 30], "n": [4000, 2000], "w": [70, 30]})
    by_column = dsr(frame, "x", "n", ageband="band", stdpop="w")
    by_frame = dsr(frame, "x", "n", ageband="band",
                   stdpop=pd.DataFrame({"b": ["old", "young"], "p": [30, 70]}))
    expected = (70 * 12 / 4000 + 30 * 30 / 2000) / 100 * 100_000
    assert by_column["value"].iloc[0] == pytest.approx(expected)
    assert by_frame["value"].iloc[0] == pytest.approx(expected)


def test_zero_population_rules():
    frame = pd.DataFrame({"area": "a", "ageband": list(esp2013().index), "x": 5.0, "n": 1000.0})
    frame.loc[18, ["x", "n"]] = [0, 0]  # 90+ with no people and no events contributes nothing
    out = dsr(frame, "x", "n", group_by="area")
    w = np.array(ESP_2013[:18], dtype=float)
    assert out["value"].iloc[0] == pytest.approx((w * 5 / 1000).sum() / 100_000 * 100_000)
    frame.loc[18, "x"] = 2
    with pytest.raises(ValueError, match=r"age band '90\+' has 2 events but zero population.*area='a'"):
        dsr(frame, "x", "n", group_by="area")


def test_bad_bands_and_positional_standard_rejected():
    frame = pd.DataFrame({"ageband": ["0-4", "100+"], "x": [1, 1], "n": [10, 10]})
    with pytest.raises(ValueError, match=r"age band '100\+'"):
        dsr(frame, "x", "n")
    with pytest.raises(ValueError, match="never by position"):
        dsr(frame, "x", "n", stdpop=[1, 2])


def test_many_groups_vectorised_agree_with_loop():
    rng = np.random.default_rng(11)
    bands = list(esp2013().index)
    frame = pd.DataFrame({"area": np.repeat([f"A{i:03d}" for i in range(40)], 19),
                          "ageband": bands * 40,
                          "x": rng.poisson(15, 760).astype(float),
                          "n": rng.integers(200, 3000, 760).astype(float)})
    out = dsr(frame, "x", "n", group_by="area").set_index("area")
    for area, rows in frame.groupby("area"):
        value, lower, upper = _dobson_by_hand(rows["x"].tolist(), rows["n"].tolist(), ESP_2013,
                                              0.95, 100_000)
        assert out.loc[area, "value"] == pytest.approx(value, rel=1e-10)
        assert out.loc[area, "lowercl"] == pytest.approx(lower, rel=1e-10)
        assert out.loc[area, "uppercl"] == pytest.approx(upper, rel=1e-10)


@given(counts=st.lists(st.integers(0, 400), min_size=19, max_size=19),
       pops=st.lists(st.integers(1, 50_000), min_size=19, max_size=19))
@settings(max_examples=100, deadline=None)
def test_property_interval_contains_value_and_narrows(counts, pops):
    frame = pd.DataFrame({"ageband": list(esp2013().index), "x": counts, "n": pops})
    bigger = frame.assign(x=frame["x"] * 4 + 4, n=frame["n"] * 4 + 4 * frame["n"] / np.maximum(frame["x"], 1))
    out = dsr(pd.concat([frame.assign(g=1), bigger.assign(g=2)]), "x", "n", group_by="g",
              suppress_below=None)
    if frame["x"].sum() == 0:
        assert np.isnan(out["lowercl"].iloc[0])
        return
    assert (out["lowercl"] <= out["value"] * (1 + 1e-12)).all()
    assert (out["value"] <= out["uppercl"] * (1 + 1e-12)).all()


def test_arrow_and_ibis_tables_give_the_same_result():
    import ibis
    import pyarrow as pa

    frame = pd.DataFrame({"area": np.repeat(["a", "b"], 19), "ageband": list(esp2013().index) * 2,
                          "x": np.arange(38, dtype=float), "n": 1000.0})
    expected = dsr(frame, "x", "n", group_by="area")
    for data in (pa.Table.from_pandas(frame), ibis.memtable(frame)):
        pd.testing.assert_frame_equal(dsr(data, "x", "n", group_by="area"), expected)


def test_a_missing_count_is_no_events_as_in_phe_dsr():
    """PHEindicatormethods' phe_dsr sums na.zero(x): a band whose count is missing adds no events
    but keeps its population; the rate is the one with a 0 there, derived by hand."""
    rng = np.random.default_rng(11)
    x = rng.integers(5, 40, 19).astype(float)
    n = rng.integers(500, 5000, 19).astype(float)
    with_gap = x.copy()
    with_gap[[3, 17]] = np.nan
    frame = pd.DataFrame({"ageband": esp2013().index, "x": with_gap, "n": n})
    with pytest.warns(UserWarning, match="2 missing count"):
        out = dsr(frame, "x", "n")
    zeros = np.nan_to_num(with_gap)
    value, lower, upper = _dobson_by_hand(zeros, n, ESP_2013, 0.95, 100_000)
    assert out["value"].iloc[0] == pytest.approx(value, rel=1e-12)
    assert (out["lowercl"].iloc[0], out["uppercl"].iloc[0]) == pytest.approx((lower, upper),
                                                                          rel=1e-12)
    assert out["total_count"].iloc[0] == zeros.sum() and out["total_pop"].iloc[0] == n.sum()
    frame.loc[5, "n"] = np.nan  # a missing population is still an error
    with pytest.raises(ValueError, match="missing"), pytest.warns(UserWarning):
        dsr(frame, "x", "n")
