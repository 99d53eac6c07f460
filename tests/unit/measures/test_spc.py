"""XmR charts (Making Data Count): limits, screening, each special-cause rule, phases, icons.

Expected values are derived here by hand or by a plain per-series loop written from the rules'
wording, independently of the vectorised implementation.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from placehealth.measures.spc import xmr


def _series(values, **kwargs):
    frame = pd.DataFrame({"t": range(len(values)), "y": values})
    return xmr(frame, "y", "t", **kwargs)


def test_limits_are_mean_plus_minus_2_66_mean_moving_ranges():
    values = [10, 12, 11, 13, 12, 11, 10, 12, 13, 11, 12, 11]
    result = _series(values)
    ranges = [abs(b - a) for a, b in itertools.pairwise(values)]  # 11 ranges, sum 15
    mean_range = sum(ranges) / len(ranges)
    assert mean_range == pytest.approx(15 / 11)
    summary = result.summary.iloc[0]
    assert summary["centre"] == pytest.approx(138 / 12)
    assert summary["upper"] == pytest.approx(138 / 12 + 2.66 * 15 / 11)
    assert summary["lower"] == pytest.approx(138 / 12 - 2.66 * 15 / 11)
    assert not result.points["special_cause"].astype(bool).any()
    assert summary["variation"] == "common_cause"
    assert summary["warning"] == ""


def test_screening_drops_moving_ranges_above_3_267_times_their_mean():
    values = [10, 11, 10, 11, 10, 30, 10, 11, 10, 11, 10, 11, 10]
    ranges = np.abs(np.diff(values)).astype(float)  # 1,1,1,1,20,20,1,...: mean 50/12
    assert ranges.mean() == pytest.approx(50 / 12)
    kept = ranges[ranges <= 3.267 * ranges.mean()]  # the two 20s go (20 > 13.6)
    plain = _series(values).summary.iloc[0]
    screened = _series(values, screen_moving_ranges=True).summary.iloc[0]
    assert plain["mean_moving_range"] == pytest.approx(50 / 12)
    assert screened["mean_moving_range"] == pytest.approx(kept.mean()) == pytest.approx(1.0)
    assert screened["upper"] == pytest.approx(np.mean(values) + 2.66)


def _flags(values, rule):
    return _series(values).points[rule].tolist()


def test_a_point_beyond_a_limit():
    values = [10, 11] * 8 + [20]
    flags = _flags(values, "beyond_limit")
    assert flags == [False] * 16 + [True]


def test_a_shift_is_seven_points_on_one_side_and_six_is_not():
    base = [12, 10] * 6  # mean 11 over the baseline, ending below it
    seven = _series(base + [11.5] * 7, baseline=12).points
    six = _series(base + [11.5] * 6 + [10], baseline=12).points
    assert seven["shift"].tolist() == [False] * 12 + [True] * 7
    assert not six["shift"].any()


def test_a_trend_is_seven_points_each_rising_and_six_is_not():
    base = [12, 10] * 6
    rising7 = [9.0, 9.2, 9.4, 9.6, 9.8, 10.0, 10.2]
    rising6 = rising7[:6]
    seven = _series(base + rising7, baseline=12).points
    six = _series(base + rising6, baseline=12).points
    assert seven["trend"].tolist() == [False] * 12 + [True] * 7
    assert not six["trend"].any()
    falling = _series(base + rising7[::-1], baseline=12).points
    assert falling["trend"].tolist() == [False] * 12 + [True] * 7
    assert set(falling["special_cause"].iloc[12:]) == {"low"}


def test_two_of_three_beyond_two_thirds_of_the_way_to_a_limit():
    base = [12, 10] * 6  # centre 11, mean range 2, sigma 2/1.128, 2-sigma line 14.55, limit 16.32
    two = _series([*base, 15, 11, 15, 11], baseline=12).points
    assert two["two_of_three"].tolist() == [False] * 12 + [True, False, True, False]
    assert not two["beyond_limit"].any()
    apart = _series([*base, 15, 11, 11, 15], baseline=12).points
    assert not apart["two_of_three"].any()


def test_limits_fixed_on_a_baseline_and_recalculated_at_a_change():
    before = [10, 12] * 8
    after = [20, 23] * 8
    frame = pd.DataFrame({"t": range(32), "y": before + after})
    result = xmr(frame, "y", "t", changes=[16], baseline=12)
    points = result.points
    assert set(points["phase"]) == {0, 1}
    first, second = points[points["phase"] == 0], points[points["phase"] == 1]
    assert first["centre"].iloc[0] == pytest.approx(11)
    assert first["upper"].iloc[0] == pytest.approx(11 + 2.66 * 2)
    assert second["centre"].iloc[0] == pytest.approx(21.5)
    assert second["upper"].iloc[0] == pytest.approx(21.5 + 2.66 * 3)
    assert points["baseline"].sum() == 24  # 12 points set each phase's limits
    assert not points["special_cause"].astype(bool).any()  # nothing special within either phase
    unchanged = xmr(frame, "y", "t", baseline=12).points
    assert unchanged["special_cause"].iloc[16:].eq("high").all()  # one phase: all of it is a shift


def test_each_unit_recalculates_at_its_own_start():
    frame = pd.DataFrame({"unit": ["a"] * 20 + ["b"] * 20, "t": list(range(20)) * 2,
                          "y": [10, 12] * 5 + [30, 33] * 5 + [10, 12] * 10,
                          "start": [10] * 20 + [None] * 20})
    result = xmr(frame, "y", "t", "unit", change_column="start")
    summary = result.summary.set_index("unit")
    assert summary.loc["a", "phases"] == 2 and summary.loc["b", "phases"] == 1
    assert summary.loc["a", "centre"] == pytest.approx(31.5)
    assert summary.loc["b", "centre"] == pytest.approx(11)


def test_icons_and_the_short_series_warning():
    values = [50, 52] * 6 + [60]
    up = _series(values, improvement="up", target=40).summary.iloc[0]
    down = _series(values, improvement="down", target=40).summary.iloc[0]
    assert up["variation"] == "improvement_high" and down["variation"] == "concern_high"
    assert up["assurance"] == "consistently_pass" and down["assurance"] == "consistently_fail"
    middle = _series(values, improvement="up", target=51).summary.iloc[0]
    assert middle["assurance"] == "hit_and_miss"
    assert _series(values).summary.iloc[0]["variation"] == "special_cause_high"
    assert "12" in _series(values[:11]).summary.iloc[0]["warning"]
    assert _series(values[:12]).summary.iloc[0]["warning"] == ""


def _reference(values: list[float], baseline: int | None) -> dict[str, list[bool]]:
    """The rules written plainly from the guide's wording, one series at a time."""
    base = values[:baseline] if baseline else values
    centre = sum(base) / len(base)
    ranges = [abs(b - a) for a, b in itertools.pairwise(base)]
    sigma = sum(ranges) / len(ranges) / 1.128
    n = len(values)
    out = {k: [False] * n for k in ("beyond_limit", "shift", "trend", "two_of_three")}
    for i, v in enumerate(values):
        out["beyond_limit"][i] = abs(v - centre) > 3 * sigma
    for side in (1, -1):
        for i in range(n):
            for j in range(i + 7, n + 1):
                if all(side * (values[k] - centre) > 0 for k in range(i, j)):
                    for k in range(i, j):
                        out["shift"][k] = True
                if all(side * (values[k] - values[k - 1]) > 0 for k in range(i + 1, j)):
                    for k in range(i, j):
                        out["trend"][k] = True
        for i in range(n - 2):
            near = [side * (values[k] - centre) > 2 * sigma for k in range(i, i + 3)]
            if sum(near) >= 2:
                for k in range(3):
                    if near[k]:
                        out["two_of_three"][i + k] = True
    return out


@pytest.mark.parametrize("baseline", [None, 15])
def test_vectorised_rules_match_a_plain_loop_on_many_series(baseline):
    rng = np.random.default_rng(7)
    series, rows = 60, []
    for s in range(series):
        noise = np.cumsum(rng.normal(0, 1, 36)) * rng.uniform(0, 0.6) + rng.normal(0, 1, 36)
        for t, v in enumerate(np.round(noise + 20, 1)):
            rows.append((f"s{s:02d}", t, float(v)))
    frame = pd.DataFrame(rows, columns=["series", "t", "y"])
    points = xmr(frame, "y", "t", "series", baseline=baseline).points
    flagged_rules = 0
    for name, values in frame.groupby("series")["y"]:
        expected = _reference(values.tolist(), baseline)
        mine = points[points["series"] == name]
        for rule, flags in expected.items():
            assert mine[rule].tolist() == flags, (name, rule)
            flagged_rules += sum(flags)
    assert flagged_rules > 50  # the comparison exercised every rule, not only quiet series


def test_bad_input_is_named():
    frame = pd.DataFrame({"t": [1, 1], "y": [1.0, 2.0]})
    with pytest.raises(ValueError, match="more than one row"):
        xmr(frame, "y", "t")
    with pytest.raises(ValueError, match="not found"):
        xmr(frame, "value", "t")
    with pytest.raises(ValueError, match="improvement"):
        xmr(frame.iloc[:1], "y", "t", improvement="higher")
