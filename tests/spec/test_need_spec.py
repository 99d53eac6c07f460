"""Spec: recorded vs expected prevalence, neighbourhood apportioning and uptake gaps.

Small hand-made stores; every expected number below is worked out by hand in the comments.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import placehealth.sources.uptake  # noqa: F401  (registers the uptake table)
from placehealth.analyses import need

from support import ingest
from support.tiny_need import PCN, QOF

Z = 1.959963984540054


def byar(o: float) -> tuple[float, float]:
    """Byar's approximation (Breslow & Day 1987, vol. II p. 69), written out for the test."""
    lower = o * (1 - 1 / (9 * o) - Z / (3 * math.sqrt(o))) ** 3
    upper = (o + 1) * (1 - 1 / (9 * (o + 1)) + Z / (3 * math.sqrt(o + 1))) ** 3
    return lower, upper


@pytest.fixture
def gap_store(store):
    ingest(store, "qof_prevalence", QOF, "2024-25")
    ingest(store, "practice_pcn", PCN, "2025-03")
    return store


def test_without_covariates_expected_is_the_overall_rate_and_the_ratio_has_byar_limits(gap_store):
    model, gap, _ = need.prevalence_gaps(gap_store)
    # no age, deprivation... loaded: an intercept-only model, E = 2.5% x 1,000 = 25 everywhere
    assert "not available: age" in model["model"].iloc[0]
    assert model["calibration_factor"].iloc[0] == pytest.approx(1.0)
    a = gap[(gap.level == "practice") & (gap.area_code == "A00001")].iloc[0]
    assert a["expected"] == pytest.approx(25.0, rel=1e-6)
    assert a["ratio"] == pytest.approx(10 / 25, rel=1e-6)
    # between-practice variance (Spiegelhalter 2005): z = 5·log(O/25) for O = 10, 30, 20, 40,
    # Winsorised at the 10th/90th percentiles, φ = Σz²/4 > 1 + 2√(2/4), w = 25 each:
    # τ² = (4φ − 3) / (100 − 25)
    z = 5 * np.log(np.array([10, 30, 20, 40]) / 25)
    z = np.clip(z, *np.percentile(z, [10, 90]))
    phi = np.sum(z**2) / 4
    assert phi > 1 + 2 * math.sqrt(2 / 4)
    tau2 = (4 * phi - 3) / 75
    assert a["tau2"] == pytest.approx(tau2, rel=1e-9)
    lower, upper = byar(10)  # O = 10: Byar (exact only below 10), widened by τ in quadrature
    ratio = 0.4
    widened_upper = ratio * math.exp(math.sqrt(math.log(upper / 25 / ratio) ** 2 + Z**2 * tau2))
    widened_lower = ratio * math.exp(-math.sqrt(math.log(ratio / (lower / 25)) ** 2 + Z**2 * tau2))
    assert a["ratio_lowercl"] == pytest.approx(widened_lower, rel=1e-6)
    assert a["ratio_uppercl"] == pytest.approx(widened_upper, rel=1e-6)
    assert a["missing"] == pytest.approx(15.0, rel=1e-6)
    assert a["missing_lowercl"] == pytest.approx(25 - 25 * widened_upper, rel=1e-6)
    assert a["missing_uppercl"] == pytest.approx(25 - 25 * widened_lower, rel=1e-6)
    assert bool(a["significantly_low"]) == (widened_upper < 1)
    assert a["area_name"] == "Practice 1"
    # fewer than 20 PCNs: they borrow the practices' τ²
    others = gap.loc[gap.level != "practice", "tau2"]
    assert len(others) >= 3 and others.tolist() == pytest.approx([tau2] * len(others))
    # PCN U00001 = A00001 + A00002: O = 40, E = 50
    u = gap[(gap.level == "pcn") & (gap.area_code == "U00001")].iloc[0]
    assert (u["observed"], u["expected"]) == pytest.approx((40, 50), rel=1e-6)
    assert u["ratio"] == pytest.approx(0.8, rel=1e-6)
    assert u["observed_prevalence"] == pytest.approx(0.02)
    assert u["expected_prevalence"] == pytest.approx(0.025)
    icb = gap[gap.level == "icb"].iloc[0]
    assert (icb["area_code"], icb["observed"], icb["expected"]) == ("QZ1", 100, pytest.approx(100))
    assert not bool(icb["significantly_low"])
    assert np.isnan(icb["detectable_shortfall"]) or icb["detectable_shortfall"] > 0


def test_exact_limits_below_ten(store):
    rows = [dict(QOF[0], register=3), dict(QOF[1], register=47)]  # 50 of 2,000 -> E = 25 each
    ingest(store, "qof_prevalence", rows, "2024-25")
    _, gap, _ = need.prevalence_gaps(store)
    a = gap[gap.area_code == "A00001"].iloc[0]
    from scipy.stats import chi2
    ratio, widen = 3 / 25, Z**2 * a["tau2"]  # the exact limits, widened by τ (two practices)
    assert math.log(ratio / a["ratio_lowercl"]) ** 2 - widen == pytest.approx(
        math.log(ratio / (chi2.ppf(0.025, 6) / 2 / 25)) ** 2, rel=1e-6)
    assert math.log(a["ratio_uppercl"] / ratio) ** 2 - widen == pytest.approx(
        math.log(chi2.ppf(0.975, 8) / 2 / 25 / ratio) ** 2, rel=1e-6)


def test_deprivation_adjustment_is_a_documented_choice_and_expected_sums_to_observed(store):
    rng = np.random.default_rng(5)
    codes = [f"B{i:05d}" for i in range(200)]
    imd = rng.uniform(5, 60, len(codes))
    size = rng.integers(2000, 15000, len(codes))
    p = 1 / (1 + np.exp(-(-4 + 0.03 * imd)))  # prevalence rises with deprivation
    reg = rng.binomial(size, p)
    ingest(store, "qof_prevalence", [
        {"period": "2024-25", "practice_code": c, "group_code": "DM", "register": int(r),
         "list_type": "17OV", "list_size": int(s)} for c, r, s in zip(codes, reg, size, strict=True)], "2024-25")
    ingest(store, "practice_attributes", [
        {"period": "2023-01", "practice_code": c, "attribute": "imd_score", "value": float(v)}
        for c, v in list(zip(codes, imd, strict=True))[:-10]], "2023-01")  # 10 practices have no score
    with_dep, gap, practice = need.prevalence_gaps(store)
    assert "deprivation: practice imd_score" in with_dep["model"].iloc[0]
    assert practice["expected"].sum() == pytest.approx(reg.sum(), rel=1e-9)
    assert with_dep["pseudo_r2"].iloc[0] > 0.5
    # fit statistics match an independent statsmodels fit of the same data
    import statsmodels.api as sm
    y = np.column_stack([reg, size - reg])
    null = sm.GLM(y, np.ones((len(reg), 1)), family=sm.families.Binomial()).fit()
    assert with_dep["null_deviance"].iloc[0] == pytest.approx(null.deviance, rel=1e-6)
    keep = np.arange(len(codes)) < len(codes) - 10
    x = np.column_stack([np.ones(keep.sum()), imd[keep], imd[keep] ** 2])
    full = sm.GLM(y[keep], x, family=sm.families.Binomial()).fit()
    assert full.params[1] > 0
    mcfadden = 1 - full.llf / sm.GLM(y[keep], x[:, :1], family=sm.families.Binomial()).fit().llf
    assert 0 < with_dep["mcfadden_r2"].iloc[0] < 1 and mcfadden > 0
    without, gap_nodep, _ = need.prevalence_gaps(store, adjust_for=("age", "sex"))
    assert "deprivation deliberately NOT adjusted for" in without["model"].iloc[0]
    assert without["pseudo_r2"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    # without deprivation the least deprived practices look "low"; with it they do not
    least = codes[int(np.argmin(imd[:-10]))]
    r_dep = gap[(gap.level == "practice") & (gap.area_code == least)]["ratio"].iloc[0]
    r_nodep = gap_nodep[(gap_nodep.level == "practice") & (gap_nodep.area_code == least)]["ratio"].iloc[0]
    assert r_nodep < r_dep


@pytest.mark.engines
def test_registers_are_apportioned_to_neighbourhoods_by_registration_shares(gap_store):
    reg = [("A00001", "E01000001", 600), ("A00001", "E01000002", 400),
           ("A00002", "E01000002", 900), ("A00002", "NO2021", 100)]
    ingest(gap_store, "registrations_lsoa", [
        {"period": "2025-03", "practice_code": p, "lsoa_code": lsoa, "lsoa_vintage": 2021,
         "lsoa_known": lsoa != "NO2021", "sex": "ALL", "patients": n} for p, lsoa, n in reg], "2025-03")
    _, _, practice = need.prevalence_gaps(gap_store)
    lsoa = need.lsoa_gaps(gap_store, practice)
    pcn = lsoa[(lsoa.level == "pcn") & (lsoa.area_code == "U00001")].set_index("lsoa_code")
    # E01000001: 60% of A00001 -> O = 6, E = 15
    assert pcn.loc["E01000001", ["observed", "expected"]].tolist() == pytest.approx([6, 15])
    # E01000002: 40% of A00001 (O 4, E 10) + 90% of A00002 (O 27, E 22.5)
    assert pcn.loc["E01000002", ["observed", "expected"]].tolist() == pytest.approx([31, 32.5])
    assert pcn.loc["E01000002", "patients"] == 1300
    assert "NO2021" not in pcn.index  # unknown LSOA keeps its 10% share but is not listed
    assert pcn.loc["E01000001", "missing"] == pytest.approx(9)
    for column in ("area_code", "lsoa_code", "group_code"):  # text, decoded from categories
        assert lsoa[column].dtype == "string" and lsoa[column].map(type).eq(str).all()


@pytest.mark.engines
def test_uptake_gap_and_people_behind_it(store):
    rows = [("A00001", 90, 100), ("A00002", 90, 101), ("A00003", None, None), ("A00004", 97, 100)]
    ingest(store, "uptake", [
        {"period": "2024-25", "area_level": "practice", "area_code": c, "indicator": "MMR1",
         "age": "24 months", "numerator": n, "denominator": d} for c, n, d in rows], "2024-25")
    ingest(store, "practice_pcn", PCN, "2025-03")
    out = need.uptake_gaps(store)
    by = out.set_index(["area_level", "area_code"])
    a = by.loc[("practice", "A00001")]
    assert (a["uptake"], a["target"], a["gap"]) == pytest.approx((0.9, 0.95, 0.05))
    assert a["people_behind"] == 5  # ceil(0.95 x 100) - 90
    assert by.loc[("practice", "A00002"), "people_behind"] == 6  # ceil(95.95) - 90
    assert by.loc[("practice", "A00004"), "people_behind"] == 0 and by.loc[("practice", "A00004"), "gap"] == 0
    assert pd.isna(by.loc[("practice", "A00003"), "uptake"])
    # PCN U00002 = A00003 (suppressed, left out) + A00004
    u = by.loc[("pcn", "U00002")]
    assert (u["numerator"], u["denominator"], u["suppressed_rows"]) == (97, 100, 1)
    assert by.loc[("pcn", "U00001"), "people_behind"] == math.ceil(0.95 * 201) - 180
    # Wilson limits of 90/100 (Wilson 1927), written out
    p, n = 0.9, 100
    centre, half = p + Z**2 / (2 * n), Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    assert a["lowercl"] == pytest.approx((centre - half) / (1 + Z**2 / n), rel=1e-6)
    lower_target = need.uptake_gaps(store, targets={"MMR1": 90})
    assert lower_target.set_index(["area_level", "area_code"]).loc[("practice", "A00001"), "people_behind"] == 0


def test_what_the_model_adjusts_for_is_a_setting(monkeypatch):
    monkeypatch.setenv(need.ENV_ADJUST_FOR, "age, sex")
    assert need.adjust_for_setting() == ("age", "sex")
    monkeypatch.delenv(need.ENV_ADJUST_FOR)
    assert "deprivation" in need.adjust_for_setting()
    with pytest.raises(ValueError, match="unknown driver"):
        need.adjust_for_setting("age,income")


def test_need_target_sets_a_per_indicator_target_for_the_next_build(store):
    from typer.testing import CliRunner

    from placehealth.outputs.cli import _register, app
    _register()
    ingest(store, "uptake", [
        {"period": "2024-25", "area_level": "practice", "area_code": "A00001", "indicator": "MMR2",
         "age": "5 years", "numerator": 88, "denominator": 100}], "2024-25")
    path = store.location
    result = CliRunner().invoke(app, ["need", "target", "MMR2", "90", "--db", path])
    assert result.exit_code == 0, result.output
    need.build(store)
    row = store.read("uptake_gap", indicator="MMR2").iloc[0]
    assert (row["target"], row["people_behind"]) == (pytest.approx(0.9), 2)  # ceil(90) - 88
    bad = CliRunner().invoke(app, ["need", "target", "MMR2", "190", "--db", path])
    assert bad.exit_code != 0


def test_practices_with_impossible_registers_are_left_out_and_counted(store):
    rows = [*QOF, dict(QOF[0], practice_code="A00005", register=1200),  # register > list
            dict(QOF[0], practice_code="A00006", register=0, list_size=0)]  # no list
    ingest(store, "qof_prevalence", rows, "2024-25")
    model, gap, practice = need.prevalence_gaps(store)
    assert (model["n_practices"].iloc[0], model["n_excluded"].iloc[0]) == (4, 2)
    assert model["observed_total"].iloc[0] == 100  # the four usable practices only
    left_out = practice[practice.practice_code.isin(["A00005", "A00006"])]
    assert left_out["expected"].isna().all()
    assert not gap["area_code"].isin(["A00005", "A00006"]).any()
    assert practice["expected"].sum() == pytest.approx(100)


def test_lsoa_uptake_sums_to_local_authorities_leaving_suppressed_rows_out(store):
    rows = [("E01000001", 90, 100), ("E01000002", None, 50), ("E01000003", 40, 50)]
    ingest(store, "uptake", [
        {"period": "2024-25", "area_level": "lsoa", "area_code": c, "indicator": "Bowel screening",
         "age": "all", "numerator": n, "denominator": d} for c, n, d in rows], "2024-25")
    ingest(store, "geography_lookup", [
        {"lsoa_vintage": 2021, "lsoa_code": c, "level": "lad", "edition": "2024",
         "area_code": "E06000001", "area_name": "Town"} for c, _, _ in rows], "lad")
    out = need.uptake_gaps(store, targets={"Bowel screening": 0.8})
    la = out[out.area_level == "la"].iloc[0]
    # E01000002's numerator is suppressed: its 50 eligible people are left out of the sum too
    assert (la["numerator"], la["denominator"], la["suppressed_rows"]) == (130, 150, 1)
    assert la["source"] == "summed from lsoas" and la["area_name"] == "Town"
    assert la["people_behind"] == 0  # ceil(0.8 x 150) = 120 <= 130


def test_each_level_estimates_its_own_between_unit_variance_given_enough_units(store):
    from placehealth.measures.observed_expected import random_effects_tau2
    rng = np.random.default_rng(9)
    codes = [f"C{i:05d}" for i in range(60)]
    size = rng.integers(3000, 12000, 60)
    register = rng.poisson(size * 0.05 * np.exp(rng.normal(0, 0.15, 60)))
    ingest(store, "qof_prevalence", [
        {"period": "2024-25", "practice_code": c, "group_code": "HYP", "register": int(r),
         "list_type": "TOTAL", "list_size": int(n)} for c, r, n in zip(codes, register, size, strict=True)], "2024-25")
    ingest(store, "practice_pcn", [  # 30 PCNs of two practices
        {"period": "2025-03", "practice_code": c, "practice_name": c, "pcn_code": f"U{i // 2:05d}",
         "pcn_name": f"PCN {i // 2}", "sub_icb_code": "9A1", "icb_code": "QZ1"}
        for i, c in enumerate(codes)], "2025-03")
    _, gap, _ = need.prevalence_gaps(store)
    practices, pcns = gap[gap.level == "practice"], gap[gap.level == "pcn"]
    assert len(pcns) == 30
    assert practices["tau2"].iloc[0] == pytest.approx(
        random_effects_tau2(practices["observed"], practices["expected"])[0])
    assert pcns["tau2"].iloc[0] == pytest.approx(
        random_effects_tau2(pcns["observed"], pcns["expected"])[0])
    assert 0.005 < practices["tau2"].iloc[0] < 0.05  # about the 0.15² simulated
    # one ICB: too few units, the practices' τ² is borrowed
    assert gap.loc[gap.level == "icb", "tau2"].iloc[0] == pytest.approx(practices["tau2"].iloc[0])
    # the flag is the widened upper limit below 1, and the detectable shortfall shrinks with E
    assert (practices["significantly_low"] == (practices["ratio_uppercl"] < 1)).all()
    ordered = practices.sort_values("expected")
    assert ordered["detectable_shortfall"].is_monotonic_decreasing


def _dm_store(store, n: int, known: int, seed: int = 4):
    """n practices with a DM register rising with deprivation; ``known`` of them have a score."""
    rng = np.random.default_rng(seed)
    codes = [f"D{i:05d}" for i in range(n)]
    imd = rng.uniform(5, 60, n)
    size = rng.integers(2000, 15000, n)
    reg = rng.binomial(size, 1 / (1 + np.exp(-(-3.5 + 0.02 * imd))))
    ingest(store, "qof_prevalence", [
        {"period": "2024-25", "practice_code": c, "group_code": "DM", "register": int(r),
         "list_type": "17OV", "list_size": int(s)} for c, r, s in zip(codes, reg, size, strict=True)], "2024-25")
    ingest(store, "practice_attributes", [
        {"period": "2023-01", "practice_code": c, "attribute": "imd_score", "value": float(v)}
        for c, v in list(zip(codes, imd, strict=True))[:known]], "2023-01")
    return codes, imd, size, reg


def test_a_driver_known_for_under_half_the_practices_is_not_used_and_the_model_says_so(store):
    _dm_store(store, 100, 30)
    model, _, _ = need.prevalence_gaps(store)
    row = model.iloc[0]
    assert "not used: deprivation (practice imd_score known for only 30% of practices" in row["model"]
    assert not any(k.startswith("deprivation") for k in json.loads(row["coefficients"]))
    assert json.loads(row["covariate_coverage"])["deprivation"] == pytest.approx(0.3)


def test_a_driver_known_for_most_practices_is_used_and_its_coverage_stated(store):
    _dm_store(store, 100, 80)
    model, _, _ = need.prevalence_gaps(store)
    row = model.iloc[0]
    assert "deprivation: practice imd_score (known for 80% of practices; the rest filled with " \
           "the average and flagged)" in row["model"]
    coefficients = json.loads(row["coefficients"])
    assert "deprivation_imd_score" in coefficients and "deprivation_imd_score_missing" in coefficients
    assert "deprivation_imd_score_sq" not in coefficients  # 100 practices: a straight line
    assert json.loads(row["covariate_coverage"])["deprivation"] == pytest.approx(0.8)


def test_practices_missing_much_of_a_register_do_not_bend_the_model(store):
    """The 15 most deprived of 200 practices record 60% of their diabetes register. A plain GLM
    bends its deprivation slope towards them and hides part of their gap; the robust fit gives
    them little weight, keeps the slope near the one that generated the data, and flags all 15."""
    import statsmodels.api as sm
    rng = np.random.default_rng(8)
    n = 200
    codes = np.array([f"E{i:05d}" for i in range(n)])
    imd = rng.uniform(5, 60, n)
    size = rng.integers(4000, 15000, n)
    p = 1 / (1 + np.exp(-(-3.5 + 0.02 * imd)))
    reg = rng.binomial(size, p)
    low = imd >= np.sort(imd)[-15]
    reg[low] = rng.binomial(reg[low], 0.6)
    ingest(store, "qof_prevalence", [
        {"period": "2024-25", "practice_code": c, "group_code": "DM", "register": int(r),
         "list_type": "17OV", "list_size": int(s)} for c, r, s in zip(codes, reg, size, strict=True)], "2024-25")
    ingest(store, "practice_attributes", [
        {"period": "2023-01", "practice_code": c, "attribute": "imd_score", "value": float(v)}
        for c, v in zip(codes, imd, strict=True)], "2023-01")
    model, gap, _ = need.prevalence_gaps(store)
    assert model["n_downweighted"].iloc[0] >= 15
    # coefficients are per standard deviation of the score
    slope = json.loads(model["coefficients"].iloc[0])["deprivation_imd_score"] / imd.std()
    plain = sm.GLM(np.column_stack([reg, size - reg]), sm.add_constant(imd),
                   family=sm.families.Binomial()).fit()
    assert abs(slope - 0.02) < 0.003 < abs(plain.params[1] - 0.02)
    practices = gap[gap.level == "practice"].set_index("area_code")
    assert practices.loc[codes[low], "significantly_low"].all()
    assert practices.loc[codes[~low], "significantly_low"].mean() <= 0.05


def test_a_national_attribute_file_beats_one_places_profile(store):
    """The profile knows deprivation for the place's two practices only; a practice attribute file
    of the same name knows all 100: the model uses the file, and says so."""
    codes, *_ = _dm_store(store, 100, 100)
    store.replace_table("practice_profile", pd.DataFrame({
        "practice_code": codes[:2], "imd_score": [70.0, 71.0]}))
    model, _, _ = need.prevalence_gaps(store)
    row = model.iloc[0]
    assert "deprivation: practice imd_score from practice_attributes" in row["model"]
    assert json.loads(row["covariate_coverage"])["deprivation"] == pytest.approx(1.0)
