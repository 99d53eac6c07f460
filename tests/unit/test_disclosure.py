"""Disclosure control: the presets, and attacks that try to recover suppressed counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from placehealth.outputs.disclosure import (
    MARK,
    SUPPRESSED,
    Policy,
    get_policy,
    protect,
    protect_frame,
    rule_for,
    suppressed_names,
)

#: The worst case for an attacker's arithmetic: no rounding, so published cells are exact.
EXACT = Policy("exact-test", 1, 7, 1, "test: suppression only")


def test_nhs_england_preset_by_hand():
    frame = pd.DataFrame({"practice_code": list("ABCDEFGH"),
                          "patients": [0, 1, 7, 8, 12, 13, 102, 1000]})
    out = protect(frame, "t", "nhs_england")
    # 0 shown; 1 and 7 suppressed (two hidden cells summing to 8, above 7, so no complement is
    # needed); 8 -> 10, 12 -> 10, 13 -> 15, 102 -> 100, 1000 -> 1000.
    assert out["patients"].isna().tolist() == [False, True, True] + [False] * 5
    assert out["patients"].dropna().tolist() == [0, 10, 10, 15, 100, 1000]
    assert out[SUPPRESSED].tolist()[:4] == ["", "patients", "patients", ""]
    # 1 alone: its complement is the next smallest, then the next until the sum is above 7.
    single = protect(frame.assign(patients=[0, 1, 30, 31, 32, 40, 50, 60]), "t", "nhs_england")
    assert single["patients"].isna().tolist() == [False, True, True] + [False] * 5


def test_opensafely_preset_suppresses_zero_and_is_the_default():
    frame = pd.DataFrame({"patients": [0, 9, 20]})
    out = protect(frame, "t")  # no dimensions: nothing adds up, primary suppression only
    assert get_policy().name == "opensafely"
    assert out["patients"].isna().tolist() == [True, False, False]
    assert out["patients"].dropna().tolist() == [10, 20]
    nhs = protect(frame, "t", "nhs_england")
    assert nhs["patients"].tolist() == [0, 10, 20]


def test_unknown_policy_is_a_clear_error():
    with pytest.raises(ValueError, match="known: opensafely, nhs_england"):
        get_policy("lenient")


def test_rule_inferred_from_column_names():
    frame = pd.DataFrame({"pcn_code": ["U1"], "pcn_name": ["x"], "period": ["2025-01"],
                          "imd_quintile": [1], "patients": [5], "n_practices": [3],
                          "prevalence": [0.1], "prevalence_lower": [0.05], "register": [4],
                          "expected": [6.2], "gap": [1.0], "imd_rank": [10]})
    rule = rule_for("not_declared", frame)
    assert set(rule.counts) == {"patients", "register", "expected"}
    assert set(rule.derived) == {"prevalence", "prevalence_lower", "gap"}
    assert rule.dimensions == ("pcn_code", "imd_quintile")
    assert rule.fixed == ("period",)


def test_rates_with_a_suppressed_count_are_suppressed():
    frame = pd.DataFrame({"practice_code": ["A", "B", "C"], "register": [3, 400, 900],
                          "list_size": [1000, 8000, 9000], "prevalence": [0.003, 0.05, 0.1]})
    out = protect(frame, "t", "nhs_england")
    # register 3 (primary) and 400 (its complement) hidden; so are their prevalences, or
    # prevalence x list_size would give them back.
    assert out["register"].isna().tolist() == [True, True, False]
    assert out["prevalence"].isna().tolist() == [True, True, False]
    assert out["list_size"].tolist() == [1000, 8000, 9000]


def test_marked_output_shows_the_mark():
    frame = pd.DataFrame({"practice_code": ["A", "B"], "patients": [3, 50]})
    out = protect_frame(frame, "t", "nhs_england")
    assert out["patients"].tolist() == [MARK, MARK]


def test_protect_whole_table_then_filter_agrees_across_views():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"pcn_code": np.repeat(["U1", "U2", "U3"], 20),
                          "lsoa_code": np.tile([f"E{i:02d}" for i in range(20)], 3),
                          "patients": rng.integers(0, 40, 60)})
    whole = protect(frame, "pcn_lsoa")
    again = protect(frame.sample(frac=1, random_state=3), "pcn_lsoa").loc[whole.index]
    pd.testing.assert_frame_equal(whole, again)


# ------------------------------------------------------------------------------ attacks
def _feasible_range(hidden_values: np.ndarray, groups: list[np.ndarray], lower: float
                    ) -> list[tuple[float, float]]:
    """For each hidden cell, the least and greatest value consistent with every group's exact
    hidden sum (total minus exact published cells), each hidden cell >= ``lower``: a linear
    programme, which an attacker with the totals could solve."""
    n = len(hidden_values)
    a_eq = np.array([[1.0 if j in g else 0.0 for j in range(n)] for g in groups]) if groups else None
    b_eq = np.array([hidden_values[list(g)].sum() for g in groups]) if groups else None
    ranges = []
    for j in range(n):
        c = np.zeros(n)
        c[j] = 1
        low = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=[(lower, None)] * n, method="highs")
        high = linprog(-c, A_eq=a_eq, b_eq=b_eq, bounds=[(lower, None)] * n, method="highs")
        ranges.append((low.fun, -high.fun if high.status == 0 else np.inf))
    return ranges


def attack_two_way(frame: pd.DataFrame, published: pd.DataFrame, lower: float) -> list[tuple]:
    """Recover hidden cells of a PCN x LSOA table from exact PCN and LSOA totals."""
    hidden = published["patients"].isna().to_numpy()
    idx = np.flatnonzero(hidden)
    values = frame["patients"].to_numpy(dtype=float)[idx]
    groups = []
    for column in ("pcn_code", "lsoa_code"):
        keys = frame[column].to_numpy()[idx]
        for key in np.unique(keys):
            groups.append(set(np.flatnonzero(keys == key)))
    return [(frame.index[i], lo, hi) for i, (lo, hi) in zip(idx, _feasible_range(values, [np.array(sorted(g)) for g in groups], lower), strict=True)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_one_way_totals_never_pin_a_suppressed_value(data):
    counts = data.draw(st.lists(st.integers(0, 30), min_size=2, max_size=12))
    policy = data.draw(st.sampled_from([EXACT, get_policy("nhs_england"), get_policy("opensafely")]))
    frame = pd.DataFrame({"practice_code": [f"P{i}" for i in range(len(counts))],
                          "patients": counts})
    out = protect(frame, "registrations_total", policy)
    hidden = out["patients"].isna().to_numpy()
    if not hidden.any():
        return
    true = np.array(counts, dtype=float)
    # The attacker knows the exact total and (worst case) the exact published cells.
    hidden_sum = true.sum() - true[~hidden].sum()
    k = hidden.sum()
    lower = policy.suppress_min if policy.suppress_min > 0 and k == 1 else 0
    if policy.suppress_min <= true.sum() <= policy.suppress_max:
        return  # the total itself is a small count, which its own publication suppresses
    assert k >= 2, out
    # each hidden cell could be anything from `lower` to hidden_sum - (k-1)*lower: never one value
    assert hidden_sum - (k - 1) * lower > lower


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_two_way_totals_never_pin_a_suppressed_value(data):
    n_pcn = data.draw(st.integers(2, 4))
    n_lsoa = data.draw(st.integers(2, 6))
    cells = data.draw(st.lists(st.integers(0, 25), min_size=n_pcn * n_lsoa, max_size=n_pcn * n_lsoa))
    frame = pd.DataFrame({"pcn_code": np.repeat([f"U{i}" for i in range(n_pcn)], n_lsoa),
                          "lsoa_code": np.tile([f"E{j}" for j in range(n_lsoa)], n_pcn),
                          "patients": cells})
    out = protect(frame, "pcn_lsoa", EXACT)
    if not out["patients"].isna().any():
        return
    if (frame.groupby("pcn_code")["patients"].sum() == 0).any() or \
            (frame.groupby("lsoa_code")["patients"].sum() == 0).any():
        return  # a published zero total pins its cells: only rounding of totals protects then
    for where, low, high in attack_two_way(frame, out, lower=0):
        totals = [frame.loc[frame[c] == frame.loc[where, c], "patients"].sum()
                  for c in ("pcn_code", "lsoa_code")]
        if any(1 <= t <= 7 for t in totals):
            continue  # a small total is itself suppressed where it is published
        if high == 0:
            continue  # a zero in a group totalling zero: zeros are published under this rule
        assert high - low >= 1, (where, low, high, frame.assign(published=out["patients"]))


def test_profile_percentages_that_imply_small_counts_are_hidden_with_a_complement():
    deciles = {f"imd_decile_{d}_pct": v for d, v in
               zip(range(1, 11), [0.3, 20.0, 9.7, 10, 10, 10, 10, 10, 10, 10], strict=True)}
    frame = pd.DataFrame([{"period": "2025-10", "level": "pcn", "unit_code": "U1",
                           "patients": 1000, **deciles, "core20_pct": 20.3},
                          {"period": "2025-10", "level": "pcn", "unit_code": "U2",
                           "patients": 50000, **deciles, "core20_pct": 20.3}])
    out = protect(frame, "pcn_profile", "nhs_england")
    first = out.iloc[0]
    # 0.3% of 1000 = 3 patients: hidden; its complement is found inside Core20 first (decile 2,
    # 200 patients), so 100 minus the shown deciles gives only d1 + d2 = Core20, 203 patients:
    # Core20, a share of a large population, stays shown and gives nothing away.
    hidden = {c for c in deciles if pd.isna(first[c])}
    assert hidden == {"imd_decile_1_pct", "imd_decile_2_pct"}
    # ...republished from the rounded count: 203 patients of 1,000 is shown as 205 of 1,000
    assert first["core20_pct"] == pytest.approx(20.5)
    # 0.3% of 50,000 = 150 patients: nothing to hide.
    assert out.iloc[1][SUPPRESSED] == ""
    assert out.iloc[1]["core20_pct"] == 20.3


def test_declared_tables_also_hide_derived_columns_named_as_such():
    frame = pd.DataFrame({"indicator": "x", "level": "pcn", "period": "2024-25",
                          "unit_code": ["U1", "U2", "U3"], "numerator": [3, 400, 500],
                          "denominator": [1000, 9000, 9000], "value": [0.3, 4.4, 5.6],
                          "lowercl": [0.1, 4.0, 5.1], "peer_mean": [4.0, 4.1, 4.2],
                          "national_rank": [1, 2, 3], "practices": [1, 2, 3]})
    out = protect(frame, "comparison", "nhs_england")
    assert out["value"].isna().tolist() == [True, True, False]
    assert out["lowercl"].isna().tolist() == [True, True, False]
    assert out["peer_mean"].isna().tolist() == [True, True, False]  # not declared, named as derived
    # a hidden value's rank would place it among the shown ones: hidden too (declared)
    assert out["national_rank"].isna().tolist() == [True, True, False]
    assert out["practices"].tolist() == [1, 2, 3]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 400), min_size=10, max_size=10), st.sampled_from(["opensafely", "nhs_england"]))
def test_decile_shares_never_leave_one_hidden_share_to_the_hundred(counts, policy_name):
    total = sum(counts)
    if total == 0:
        return
    row = {"period": "2025-10", "level": "pcn", "unit_code": "U1", "patients": total,
           **{f"imd_decile_{d + 1}_pct": 100 * c / total for d, c in enumerate(counts)},
           "core20_pct": 100 * (counts[0] + counts[1]) / total}
    out = protect(pd.DataFrame([row]), "pcn_profile", policy_name).iloc[0]
    if pd.isna(out["patients"]):
        return  # the whole row is hidden with its population
    hidden = [d for d in range(10) if pd.isna(out[f"imd_decile_{d + 1}_pct"])]
    for d in range(10):  # every small implied count (zeros aside) is hidden
        if 1 <= counts[d] <= 7:
            assert d in hidden
    if hidden:
        # 100 minus the shown shares gives only the sum of two or more hidden ones, above 7
        assert (len(hidden) >= 2 and sum(counts[d] for d in hidden) > 7) or len(hidden) == 10 - counts.count(0)
    if pd.notna(out["core20_pct"]):
        # Core20 (deciles 1 + 2) shown: it must not give a hidden decile away, inside or outside
        for part in ([0, 1], list(range(2, 10))):
            inside = [d for d in hidden if d in part]
            assert not inside or (len(inside) >= 2 and sum(counts[d] for d in inside) > 7), (inside, counts)


def test_a_single_valued_dimension_does_not_stop_bridge_closing():
    # Found by the two-way property test: without the bridge check the cell (U0, E1) = 5 is fixed
    # by the totals. Here the table has a third dimension (sex) with one value, as the NHS
    # England practice x LSOA file does.
    cells = [[11, 5, 13, 19, 7], [11, 11, 16, 1, 15], [20, 1, 22, 15, 18], [8, 12, 18, 21, 14]]
    frame = pd.DataFrame([{"period": "2025-10", "practice_code": f"U{i}", "lsoa_code": f"E{j}", "sex": "ALL",
                           "patients": v} for i, row in enumerate(cells) for j, v in enumerate(row)])
    out = protect(frame, "registrations_lsoa", EXACT)
    as_pcn = frame.rename(columns={"practice_code": "pcn_code"})
    for where, low, high in attack_two_way(as_pcn, out, lower=0):
        assert high - low >= 1, (where, low, high)


def test_suppressed_names_join_each_rows_hidden_columns():
    # one join per distinct pattern (millions of rows, few patterns), words of 62 columns
    rng = np.random.default_rng(4)
    for columns in (1, 5, 62, 63, 130):
        hidden = pd.DataFrame(rng.random((2000, columns)) < 0.5 / columns,
                              columns=[f"c{i}" for i in range(columns)])
        expected = [",".join(c for c in hidden.columns if row[c]) for _, row in hidden.iterrows()]
        assert list(suppressed_names(hidden)) == expected
    assert suppressed_names(pd.DataFrame({"a": [False, False]})) == ""
