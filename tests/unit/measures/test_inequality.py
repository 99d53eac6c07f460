"""sii() (PHE method), concentration_index() and quantile_gap()."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from scipy.special import expit, logit

from placehealth.measures import concentration_index, quantile_gap, sii

Z95 = stats.norm.ppf(0.975)


def _areas(n_areas: int = 3, k: int = 10, seed: int = 0, kind: str = "rate") -> pd.DataFrame:
    """Areas x quantiles with a deprivation gradient, populations and 95% limits."""
    rng = np.random.default_rng(seed)
    rows = []
    for a in range(n_areas):
        for q in range(1, k + 1):
            pop = float(rng.integers(2000, 9000))
            if kind == "rate":  # per 1,000
                value = 30 - 1.5 * q + rng.normal(0, 1)
                se_log = 1 / np.sqrt(value / 1000 * pop)
                lo, hi = value * np.exp(-Z95 * se_log), value * np.exp(Z95 * se_log)
            elif kind == "proportion":
                value = 0.5 - 0.03 * q + rng.normal(0, 0.01)
                se_logit = 1 / np.sqrt(pop * value * (1 - value))
                lo, hi = expit(logit(value) - Z95 * se_logit), expit(logit(value) + Z95 * se_logit)
            else:  # life expectancy
                value = 75 + 0.8 * q + rng.normal(0, 0.3)
                lo, hi = value - Z95 * 0.5, value + Z95 * 0.5
            rows.append((f"A{a}", q, pop, value, lo, hi))
    return pd.DataFrame(rows, columns=["area", "q", "pop", "v", "lo", "hi"])


def _wls(frame: pd.DataFrame, response: np.ndarray):
    share = frame["pop"].to_numpy() / frame["pop"].sum()
    rank = np.cumsum(share) - share / 2
    return sm.WLS(response, sm.add_constant(rank), weights=share).fit(), share, rank


def test_sii_point_estimate_matches_statsmodels_wls():
    frame = _areas(kind="other")
    out = sii(frame, "q", "pop", "v", lower_cl="lo", upper_cl="hi", group_by="area", rii=True,
              repetitions=1000, seed=1, multiplier=2)
    for area, rows in frame.groupby("area"):
        fit, share, rank = _wls(rows, rows["v"].to_numpy())
        b0, b1 = fit.params
        # The spec's form: no free intercept, regress √a·y on √a and b√a.
        design = np.column_stack([np.sqrt(share), rank * np.sqrt(share)])
        ols = sm.OLS(np.sqrt(share) * rows["v"].to_numpy(), design).fit()
        np.testing.assert_allclose(ols.params, [b0, b1], rtol=1e-10)
        got = out.set_index("area").loc[area]
        assert got["sii"] == pytest.approx(2 * b1, rel=1e-10)
        assert got["rii"] == pytest.approx((b0 + b1) / b0, rel=1e-10)


def test_sii_limits_type0_match_normal_theory():
    # For value_type 0 the refit is linear, so the simulated SII is normal with SD √(Σ c₁ⱼ² sⱼ²):
    # the Monte Carlo limits agree with β₁ ∓ z·SD within 2% of the SD-scaled width.
    frame = _areas(kind="other", n_areas=2)
    out = sii(frame, "q", "pop", "v", lower_cl="lo", upper_cl="hi", group_by="area",
              repetitions=200_000, seed=2, confidence=[0.95, 0.998])
    for area, rows in frame.groupby("area"):
        fit, share, rank = _wls(rows, rows["v"].to_numpy())
        se = ((rows["hi"] - rows["lo"]) / (2 * Z95)).to_numpy()
        design = np.column_stack([np.ones_like(rank), rank])
        c = np.linalg.solve(design.T @ (share[:, None] * design), (share[:, None] * design).T)
        sd = np.sqrt((c[1] ** 2 * se**2).sum())
        got = out.set_index("area").loc[area]
        for level, lo, hi in [(0.95, "sii_lower95_0cl", "sii_upper95_0cl"),
                              (0.998, "sii_lower99_8cl", "sii_upper99_8cl")]:
            z = stats.norm.ppf(0.5 + level / 2)
            assert got[lo] == pytest.approx(fit.params[1] - z * sd, abs=0.02 * z * sd)
            assert got[hi] == pytest.approx(fit.params[1] + z * sd, abs=0.02 * z * sd)


def _naive_simulation(rows, value_type, repetitions, seed, transform=False):
    """Straightforward per-repetition refits with numpy lstsq (independent of the module)."""
    rng = np.random.default_rng(seed)
    g, g_inv = ((np.log, np.exp) if value_type == 1 else (logit, expit))
    m = g(rows["v"].to_numpy())
    s = (g(rows["hi"].to_numpy()) - g(rows["lo"].to_numpy())) / (2 * Z95)
    share = rows["pop"].to_numpy() / rows["pop"].sum()
    rank = np.cumsum(share) - share / 2
    design = np.column_stack([np.sqrt(share), rank * np.sqrt(share)])
    draws = m + s * rng.standard_normal((repetitions, len(m)))
    values = draws if transform else g_inv(draws)
    coef, *_ = np.linalg.lstsq(design, (np.sqrt(share) * values).T, rcond=None)
    return coef  # 2 x repetitions


def test_sii_rate_simulation_agrees_with_naive_refits():
    frame = _areas(kind="rate", n_areas=2)
    out = sii(frame, "q", "pop", "v", lower_cl="lo", upper_cl="hi", group_by="area", value_type=1,
              rii=True, repetitions=50_000, seed=3, multiplier=1)
    for area, rows in frame.groupby("area"):
        coef = _naive_simulation(rows, 1, 50_000, 99)
        sii_lo, sii_hi = np.quantile(coef[1], [0.025, 0.975])
        rii_lo, rii_hi = np.quantile((coef[0] + coef[1]) / coef[0], [0.025, 0.975])
        got = out.set_index("area").loc[area]
        width = sii_hi - sii_lo
        assert got["sii_lowercl"] == pytest.approx(sii_lo, abs=0.03 * width)
        assert got["sii_uppercl"] == pytest.approx(sii_hi, abs=0.03 * width)
        assert got["rii_lowercl"] == pytest.approx(rii_lo, abs=0.03 * (rii_hi - rii_lo))
        assert got["rii_uppercl"] == pytest.approx(rii_hi, abs=0.03 * (rii_hi - rii_lo))


def test_sii_transform_proportion_by_hand_and_naive_limits():
    frame = _areas(kind="proportion", n_areas=1)
    out = sii(frame, "q", "pop", "v", lower_cl="lo", upper_cl="hi", value_type=2, transform=True,
              rii=True, repetitions=50_000, seed=4, multiplier=100).iloc[0]
    fit, _, _ = _wls(frame, logit(frame["v"].to_numpy()))
    b0, b1 = fit.params
    assert out["sii"] == pytest.approx(100 * (expit(b0 + b1) - expit(b0)), rel=1e-10)
    assert out["rii"] == pytest.approx(expit(b0 + b1) / expit(b0), rel=1e-10)
    coef = _naive_simulation(frame, 2, 50_000, 5, transform=True)
    t_lo, t_hi = np.quantile(coef[1], [0.025, 0.975])
    h = b0 + b1 / 2
    lo = 100 * (expit(h + t_lo / 2) - expit(h - t_lo / 2))
    hi = 100 * (expit(h + t_hi / 2) - expit(h - t_hi / 2))
    assert out["sii_lowercl"] == pytest.approx(lo, abs=0.03 * abs(hi - lo))
    assert out["sii_uppercl"] == pytest.approx(hi, abs=0.03 * abs(hi - lo))
    assert out["sii_lowercl"] <= out["sii"] <= out["sii_uppercl"]
    assert out["rii_lowercl"] <= out["rii"] <= out["rii_uppercl"]


def test_negative_multiplier_flips_and_inverts():
    frame = _areas(kind="rate", n_areas=1)
    args = dict(lower_cl="lo", upper_cl="hi", value_type=1, rii=True, repetitions=5000, seed=6)
    plus = sii(frame, "q", "pop", "v", multiplier=1, **args).iloc[0]
    minus = sii(frame, "q", "pop", "v", multiplier=-1, **args).iloc[0]
    assert minus["sii"] == pytest.approx(-plus["sii"])
    assert minus["sii_lowercl"] == pytest.approx(-plus["sii_uppercl"])
    assert minus["rii"] == pytest.approx(1 / plus["rii"])
    assert minus["rii_uppercl"] == pytest.approx(1 / plus["rii_lowercl"])


def test_seed_reproducible_and_se_input():
    frame = _areas(kind="other", n_areas=2)
    frame["se"] = (frame["hi"] - frame["lo"]) / (2 * Z95)
    one = sii(frame, "q", "pop", "v", se="se", group_by="area", repetitions=2000, seed=7)
    two = sii(frame, "q", "pop", "v", se="se", group_by="area", repetitions=2000, seed=7)
    pd.testing.assert_frame_equal(one, two)
    by_limits = sii(frame, "q", "pop", "v", lower_cl="lo", upper_cl="hi", group_by="area",
                    repetitions=2000, seed=7)
    np.testing.assert_allclose(one["sii_uppercl"], by_limits["sii_uppercl"], rtol=1e-9)


def test_reliability_statistic_small_and_shrinks():
    frame = _areas(kind="rate", n_areas=1)
    args = dict(lower_cl="lo", upper_cl="hi", value_type=1, reliability_stat=True, seed=8)
    small = sii(frame, "q", "pop", "v", repetitions=1000, **args).iloc[0]
    large = sii(frame, "q", "pop", "v", repetitions=16000, **args).iloc[0]
    width = small["sii_uppercl"] - small["sii_lowercl"]
    assert 0 < small["sii_lowercl_reliability"] < 0.1 * abs(width)
    assert large["sii_lowercl_reliability"] < small["sii_lowercl_reliability"]


def test_missing_quantile_and_zero_rate_are_skipped_with_warning():
    frame = _areas(kind="rate", n_areas=3)
    frame = frame[~((frame["area"] == "A1") & (frame["q"] == 4))]
    frame.loc[(frame["area"] == "A2") & (frame["q"] == 2), "lo"] = 0.0
    with pytest.warns(UserWarning) as caught:
        out = sii(frame, "q", "pop", "v", lower_cl="lo", upper_cl="hi", group_by="area",
                  value_type=1, repetitions=1000, seed=9)
    assert list(out["area"]) == ["A0"]
    text = " ".join(str(w.message) for w in caught)
    assert "area='A1'" in text and "area='A2'" in text


def test_sii_bad_input():
    frame = _areas(kind="other", n_areas=1, k=4)
    with pytest.raises(ValueError, match="between 5 and 100 quantiles"):
        sii(frame, "q", "pop", "v", lower_cl="lo", upper_cl="hi", repetitions=1000)
    frame = _areas(kind="other", n_areas=1)
    with pytest.raises(ValueError, match="at least 1,000"):
        sii(frame, "q", "pop", "v", lower_cl="lo", upper_cl="hi", repetitions=10)
    with pytest.raises(ValueError, match="transform=True needs"):
        sii(frame, "q", "pop", "v", lower_cl="lo", upper_cl="hi", transform=True)
    doubled = pd.concat([frame, frame.iloc[[0]]])
    with pytest.raises(ValueError, match="appears more than once"):
        sii(doubled, "q", "pop", "v", lower_cl="lo", upper_cl="hi", repetitions=1000)
    with pytest.raises(ValueError, match="give the standard error"):
        sii(frame, "q", "pop", "v", lower_cl="lo")


def test_sii_coverage_in_simulation():
    # True line y = 70 + 8·rank observed with known SE: the 95% limits cover the true SII (8)
    # in 92-98% of 300 simulated areas.
    rng = np.random.default_rng(10)
    k, areas = 10, 300
    pop = rng.integers(1000, 5000, (areas, k)).astype(float)
    share = pop / pop.sum(axis=1, keepdims=True)
    rank = np.cumsum(share, axis=1) - share / 2
    se = 0.7
    values = 70 + 8 * rank + rng.normal(0, se, (areas, k))
    frame = pd.DataFrame({"area": np.repeat(np.arange(areas), k), "q": np.tile(np.arange(1, k + 1), areas),
                          "pop": pop.ravel(), "v": values.ravel(), "se": se})
    out = sii(frame, "q", "pop", "v", se="se", group_by="area", repetitions=2000, seed=11)
    covered = ((out["sii_lowercl"] <= 8) & (out["sii_uppercl"] >= 8)).mean()
    assert 0.92 <= covered <= 0.98


def test_concentration_index_matches_convenient_regression():
    frame = _areas(kind="rate", n_areas=2)
    out = concentration_index(frame, "q", "pop", "v", group_by="area").set_index("area")
    for area, rows in frame.groupby("area"):
        y = rows["v"].to_numpy()
        share = rows["pop"].to_numpy() / rows["pop"].sum()
        rank = np.cumsum(share) - share / 2
        mu = (share * y).sum()
        by_definition = 2 * (share * y * rank).sum() / mu - 1
        var_r = (share * (rank - (share * rank).sum()) ** 2).sum()
        fit = sm.WLS(2 * var_r * y / mu, sm.add_constant(rank), weights=share).fit()
        got = out.loc[area]
        assert got["value"] == pytest.approx(by_definition, rel=1e-10)
        assert got["value"] == pytest.approx(fit.params[1], rel=1e-8)
        assert got["se"] == pytest.approx(fit.bse[1], rel=1e-8)
        assert got["uppercl"] == pytest.approx(by_definition + Z95 * fit.bse[1], rel=1e-8)
        assert got["value"] < 0  # rates fall with quantile: concentrated among the most deprived
    flat = pd.DataFrame({"q": range(1, 6), "pop": [10, 20, 30, 40, 50], "v": 3.0})
    assert concentration_index(flat, "q", "pop", "v")["value"].iloc[0] == pytest.approx(0, abs=1e-12)


def test_quantile_gap_by_hand():
    frame = pd.DataFrame({"q": [1, 2, 3], "v": [20.0, 15.0, 10.0], "lo": [16.0, 12.0, 8.0],
                          "hi": [25.0, 18.0, 12.5]})
    out = quantile_gap(frame, "q", "v", lower_cl="lo", upper_cl="hi").iloc[0]
    se_most, se_least = (25 - 16) / (2 * Z95), (12.5 - 8) / (2 * Z95)
    gap_se = np.hypot(se_most, se_least)
    assert out["gap"] == -10
    assert out["gap_lowercl"] == pytest.approx(-10 - Z95 * gap_se)
    s_log = np.hypot(np.log(25 / 16), np.log(12.5 / 8)) / (2 * Z95)
    assert out["ratio"] == pytest.approx(0.5)
    assert out["ratio_uppercl"] == pytest.approx(0.5 * np.exp(Z95 * s_log))
    with_se = quantile_gap(frame.assign(se=1.0), "q", "v", se="se").iloc[0]
    assert with_se["gap_uppercl"] == pytest.approx(-10 + Z95 * np.sqrt(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="skipped 1 area"):
            quantile_gap(pd.concat([frame.assign(a="x"), frame.iloc[:2].assign(a="y")]), "q", "v",
                         lower_cl="lo", upper_cl="hi", group_by="a")


def test_box_muller_draws_are_standard_normal():
    from placehealth.measures.inequality import standard_normal_f32

    draws = standard_normal_f32(np.random.default_rng(12), (3, 40_001))
    assert draws.shape == (3, 40_001) and draws.dtype == np.float32
    flat = draws.ravel().astype(float)
    assert stats.kstest(flat, "norm").pvalue > 0.001
    assert abs(flat.mean()) < 0.01 and abs(flat.std() - 1) < 0.01
    # The two halves (cos and sin) are uncorrelated.
    half = flat.size // 2
    assert abs(np.corrcoef(flat[:half], flat[half:2 * half])[0, 1]) < 0.02


def test_empty_input_gives_empty_frames_and_ibis_input_works():
    import ibis

    empty = _areas(kind="rate", n_areas=1).iloc[:0]
    out = sii(empty, "q", "pop", "v", lower_cl="lo", upper_cl="hi", group_by="area", rii=True)
    assert len(out) == 0 and "rii_uppercl" in out.columns
    assert len(concentration_index(empty, "q", "pop", "v", "area")) == 0
    assert len(quantile_gap(empty, "q", "v", lower_cl="lo", upper_cl="hi", group_by="area")) == 0
    frame = _areas(kind="rate", n_areas=2)
    args = dict(lower_cl="lo", upper_cl="hi", group_by="area", value_type=1, repetitions=1000, seed=3)
    pd.testing.assert_frame_equal(sii(ibis.memtable(frame), "q", "pop", "v", **args),
                                  sii(frame, "q", "pop", "v", **args))


def test_simulation_memory_is_bounded_by_the_chunk(monkeypatch):
    import tracemalloc

    from placehealth.measures import inequality

    frame = _areas(kind="rate", n_areas=100)
    monkeypatch.setattr(inequality, "CHUNK_ELEMENTS", 200_000)
    tracemalloc.start()
    out = sii(frame, "q", "pop", "v", lower_cl="lo", upper_cl="hi", group_by="area", value_type=1,
              repetitions=10_000, seed=13, threads=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(out) == 100
    # All draws at once would be 100 x 10,000 x 10 float32 = 40 MB (80 MB as float64).
    assert peak < 10_000_000


def test_row_quantiles_are_numpys_bit_for_bit():
    from placehealth.measures.inequality import row_quantiles

    rng = np.random.default_rng(21)
    odd = rng.standard_normal((40, 1000))
    odd[3, 5], odd[4, 7], odd[5, 1], odd[6] = np.nan, np.inf, -np.inf, np.inf
    odd[7, 4], odd[8] = 1e200, 0.0  # squares overflow; no spread
    rows = [rng.standard_normal((300, 1000)) * 3 + 1, rng.standard_cauchy((300, 1000)),
            np.round(rng.standard_normal((300, 1000)), 1),  # ties
            rng.exponential(size=(300, 1001)), odd, rng.standard_normal((0, 1000)),
            rng.standard_normal((200, 1000)).astype(np.float32)]
    for x in rows:
        for probs in ([0.025, 0.975], [(1 - 0.95) / 2, (1 + 0.95) / 2, 0.001, 0.999], [0.05],
                      [0.9], [0.5], [0.0, 1.0], [0.2, 0.8]):
            expected = np.quantile(x.copy(), probs, axis=1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                got = row_quantiles(x, probs)
            assert got.dtype == expected.dtype and got.shape == expected.shape
            np.testing.assert_array_equal(got, expected, strict=True)


def test_row_quantiles_find_the_tails_without_numpy_quantile(monkeypatch):
    from placehealth.measures import inequality

    x = np.random.default_rng(22).standard_normal((500, 1000))
    expected = np.quantile(x, [0.025, 0.975], axis=1)
    monkeypatch.setattr(inequality.np, "quantile", None)  # any row handed to it fails
    np.testing.assert_array_equal(inequality.row_quantiles(x, [0.025, 0.975]), expected)


@pytest.mark.parametrize("kind,value_type,transform", [("other", 0, False), ("rate", 1, True),
                                                       ("proportion", 2, True)])
def test_simulated_limits_do_not_depend_on_the_areas_drawn_at_a_time(monkeypatch, kind,
                                                                    value_type, transform):
    from placehealth.measures import inequality

    frame = _areas(kind=kind, n_areas=150, k=5)
    args = dict(lower_cl="lo", upper_cl="hi", group_by="area", value_type=value_type,
                transform=transform, repetitions=1000, rii=True, seed=4, threads=1)
    monkeypatch.setattr(inequality, "CHUNK_ELEMENTS", 100_000)  # 50 areas a chunk: 3 streams
    whole = sii(frame, "q", "pop", "v", **args)
    monkeypatch.setattr(inequality, "CACHE_AREAS", 7)
    pd.testing.assert_frame_equal(sii(frame, "q", "pop", "v", **args), whole, check_exact=True)
    monkeypatch.setattr(inequality, "CACHE_AREAS", 1_000)
    pd.testing.assert_frame_equal(sii(frame, "q", "pop", "v", **args), whole, check_exact=True)
