"""Callaway & Sant'Anna group-time effects, checked against independent computations: a saturated
least-squares event study (statsmodels), plain means, the HC0 standard error of a 2x2 comparison,
and brute-force randomisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from placehealth.measures.did import callaway_santanna, match_comparators


def _staggered(seed: int = 0, units: int = 60, periods: int = 10) -> pd.DataFrame:
    """Two cohorts (first treated in periods 4 and 7) and never-treated units; effects grow with
    time since the start and differ by cohort (what two-way fixed effects gets wrong)."""
    rng = np.random.default_rng(seed)
    first = np.where(np.arange(units) < 15, 2004, np.where(np.arange(units) < 30, 2007, np.nan))
    rows = []
    for i in range(units):
        level = rng.normal()
        for t in range(periods):
            year = 2000 + t
            effect = (1 + 0.5 * (year - first[i])) * (1 if i < 15 else 2) if year >= first[i] else 0
            rows.append((f"u{i:02d}", year, level + 0.3 * t + effect + rng.normal(), first[i]))
    return pd.DataFrame(rows, columns=["unit", "year", "y", "first"])


def test_group_time_effects_equal_a_saturated_least_squares_event_study():
    frame = _staggered()
    result = callaway_santanna(frame, "y", "unit", "year", "first", draws=199)
    work = frame.assign(cohort=frame["first"].fillna(0).astype(int))
    dummies = []
    for g in (2004, 2007):
        for t in range(2000, 2010):
            if t != g - 1:
                name = f"d{g}_{t}"
                work[name] = ((work["cohort"] == g) & (work["year"] == t)).astype(float)
                dummies.append(name)
    ols = smf.ols("y ~ C(unit) + C(year) + " + " + ".join(dummies), data=work).fit()
    post = result.group_time[result.group_time["post"]]
    assert len(post) == 6 + 3
    for row in post.itertuples():
        assert row.estimate == pytest.approx(ols.params[f"d{row.group}_{row.time}"], abs=1e-9)


def test_pre_period_cells_compare_each_period_with_the_one_before():
    frame = _staggered(1)
    result = callaway_santanna(frame, "y", "unit", "year", "first", draws=199)
    wide = frame.pivot(index="unit", columns="year", values="y")
    cohort = frame.groupby("unit")["first"].first()
    cell = result.group_time.set_index(["group", "time"]).loc[(2007, 2003)]
    change = wide[2003] - wide[2002]
    expected = change[cohort == 2007].mean() - change[cohort.isna()].mean()
    assert cell["base"] == 2002 and not cell["post"]
    assert cell["estimate"] == pytest.approx(expected)


def test_aggregations_are_size_weighted_means_of_the_cells():
    frame = _staggered(2)
    frame = frame[~frame["unit"].isin(["u00", "u01", "u02"])]  # cohorts of 12 and 15 units
    result = callaway_santanna(frame, "y", "unit", "year", "first", draws=199)
    gt = result.group_time
    post = gt[gt["post"]]
    size = post["group"].map({2004: 12, 2007: 15})
    assert result.simple["estimate"].iloc[0] == pytest.approx((post["estimate"] * size).sum() / size.sum())
    group = result.group.set_index("group")["estimate"]
    by_group = post.groupby("group")["estimate"].mean()
    assert group[2004] == pytest.approx(by_group[2004])
    assert group["overall"] == pytest.approx((by_group[2004] * 12 + by_group[2007] * 15) / 27)
    dynamic = result.dynamic.set_index("event_time")["estimate"]
    e0 = post[post["time"] == post["group"]]
    assert dynamic[0] == pytest.approx((e0["estimate"] * e0["group"].map({2004: 12, 2007: 15})).sum() / 27)
    assert dynamic[5] == pytest.approx(post.set_index(["group", "time"]).loc[(2004, 2009), "estimate"])
    assert dynamic["overall"] == pytest.approx(dynamic[[e for e in dynamic.index if e != "overall" and e >= 0]].mean())


def test_bootstrap_standard_error_of_a_2x2_matches_hc0():
    rng = np.random.default_rng(4)
    units = 400
    treated = np.arange(units) < 120
    before = rng.normal(size=units)
    after = before + 0.2 + 0.5 * treated + rng.normal(size=units) * np.where(treated, 1.5, 1)
    frame = pd.DataFrame({"unit": np.repeat(np.arange(units), 2), "t": np.tile([0, 1], units),
                          "y": np.column_stack([before, after]).ravel(),
                          "first": np.repeat(np.where(treated, 1.0, np.nan), 2)})
    result = callaway_santanna(frame, "y", "unit", "t", "first", draws=4999, seed=3)
    change = pd.DataFrame({"d": after - before, "treated": treated.astype(float)})
    ols = smf.ols("d ~ treated", data=change).fit(cov_type="HC0")
    simple = result.simple.iloc[0]
    assert simple["estimate"] == pytest.approx(ols.params["treated"])
    assert simple["se"] == pytest.approx(ols.bse["treated"], rel=0.06)


def test_permutation_inference_matches_brute_force_and_inverts_to_limits():
    frame = _staggered(5, units=30, periods=6)
    frame["first"] = np.where(frame["unit"].isin([f"u{i:02d}" for i in range(4)]), 2003.0, np.nan)
    frame.loc[frame["first"].notna() & (frame["year"] >= 2003), "y"] += 1.0
    result = callaway_santanna(frame, "y", "unit", "year", "first", inference="permutation",
                               draws=999, seed=2)
    simple = result.simple.iloc[0]
    # brute force: the same statistic for random relabellings, computed by plain means
    wide = frame.pivot(index="unit", columns="year", values="y")
    change = (wide[[2003, 2004, 2005]].to_numpy() - wide[[2002]].to_numpy()).mean(axis=1)
    rng = np.random.default_rng(11)

    def effect(treated: np.ndarray) -> float:
        """Mean post-start change of the treated less that of the rest (plain means)."""
        mask = np.zeros(len(change), dtype=bool)
        mask[treated] = True
        return float(change[mask].mean() - change[~mask].mean())

    observed = effect(np.arange(4))  # u00-u03, the first four rows of the sorted pivot
    assert simple["estimate"] == pytest.approx(observed)
    draws = [effect(rng.choice(len(change), 4, replace=False)) for _ in range(2000)]
    brute = (1 + np.sum(np.abs(draws) >= abs(observed))) / 2001
    assert simple["p_value"] == pytest.approx(brute, abs=0.02)
    assert simple["lower"] < simple["estimate"] < simple["upper"]
    assert simple["lower"] < 1.0 < simple["upper"] or simple["p_value"] < 0.05
    # every other estimate is randomised too: p-values on the 1/1000 lattice, limits after the start
    for part in (result.group, result.dynamic, result.group_time):
        np.testing.assert_allclose(part["p_value"] * 1000, np.round(part["p_value"] * 1000), atol=1e-9)
    dynamic = result.dynamic.set_index("event_time")
    assert dynamic.loc[0, "lower"] < dynamic.loc[0, "estimate"] < dynamic.loc[0, "upper"]
    assert np.isnan(dynamic.loc[-1, "lower"])  # a lead: p-value only
    # one reassignment done by hand gives the same group-time estimate as the weights do
    cell = result.group_time.set_index(["group", "time"]).loc[(2003, 2005)]
    d = wide[2005].to_numpy() - wide[2002].to_numpy()
    assert cell["estimate"] == pytest.approx(d[:4].mean() - d[4:].mean())


def test_matching_reads_only_pre_period_outcomes():
    frame = _staggered(6, units=80)
    chosen = match_comparators(frame, "y", "unit", "year", "first", per_treated=3)
    assert chosen and all(frame.loc[frame["unit"] == u, "first"].isna().all() for u in chosen)
    changed = frame.copy()
    # every outcome from the last start on, and each treated unit's own from its start
    late = (changed["year"] >= 2007) | (changed["year"] >= changed["first"])
    changed.loc[late, "y"] = np.random.default_rng(0).normal(100, 50, late.sum())
    assert match_comparators(changed, "y", "unit", "year", "first", per_treated=3) == chosen
    result = callaway_santanna(frame, "y", "unit", "year", "first", comparators=chosen, draws=199)
    assert sorted(result.comparators) == sorted(chosen)


def test_units_treated_from_the_first_period_or_with_gaps_are_left_out_with_a_warning():
    frame = _staggered(7)
    frame.loc[frame["unit"] == "u00", "first"] = 2000
    frame = frame[~((frame["unit"] == "u40") & (frame["year"] == 2005))]
    with pytest.warns(UserWarning, match="left out"):
        result = callaway_santanna(frame, "y", "unit", "year", "first", draws=199)
    assert "u00" not in result.treated and "u40" not in result.comparators
    with pytest.raises(ValueError, match="not one of the periods"):
        callaway_santanna(frame.assign(first=frame["first"] + 0.5), "y", "unit", "year", "first")
