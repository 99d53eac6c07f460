"""Real data: the expected-prevalence model on national QOF 2020/21 and 2021/22 (NHS Digital),
with practice IMD 2019 (registration-weighted, blackwellrd 2023-01) and QOF 2019/20 list ages."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import placehealth.sources.generic  # registers practice-attributes
import placehealth.sources.qof  # noqa: F401  (registers qof-prevalence)
from placehealth.analyses import inequality, need
from placehealth.sources import ReadOptions, read_file

from support import shared_file

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

QOF = {"2020-21": "qof_prevalence/qof_2020-21_PREVALENCE_2021_v2.csv",
       "2021-22": "qof_prevalence/qof_2021-22_PREVALENCE_2122_V2_inferred.csv"}


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    from placehealth.store import Store
    store = Store(tmp_path_factory.mktemp("qof") / "national.duckdb")
    results = [read_file(shared_file(path), "qof-prevalence", ReadOptions(period=period))
               for period, path in QOF.items()]
    results.append(read_file(shared_file("derived_reference/practice_imd2019_blackwellrd_2023-01.csv"),
                             "practice-attributes", ReadOptions(period="2023-01")))
    results.append(read_file(shared_file("gp_registrations/qof_2019-20_practice_list_by_age_group.csv"),
                             "practice-attributes", ReadOptions(period="2019-20")))
    results.append(read_file(shared_file("pcn_practice_mapping/qof_2020-21_MAPPING_NHS_GEOGRAPHIES_2021.csv"),
                             "qof-geographies"))
    store.ingest(results)
    model, gap, practice = need.prevalence_gaps(store)
    yield store, model, gap, practice
    store.close()


def _quintile_prevalence(store, period, group):
    """Recorded prevalence by practice IMD quintile, straight from the loaded tables."""
    qof = store.read("qof_prevalence", period=period, group_code=group)
    imd = store.read("practice_attributes", attribute="imd_score")[["practice_code", "value"]]
    rows = qof.merge(imd, on="practice_code")
    rows["quintile"] = pd.qcut(rows["value"], 5, labels=False) + 1  # 5 = most deprived
    by = rows.groupby("quintile")[["register", "list_size"]].sum()
    return by["register"] / by["list_size"]


@pytest.mark.parametrize("period", list(QOF))
@pytest.mark.parametrize("group", ["COPD", "DM", "MH"])
def test_recorded_prevalence_rises_with_deprivation(national, period, group):
    store, model, _, _ = national
    prevalence = _quintile_prevalence(store, period, group)
    assert prevalence[5] > prevalence[1] * 1.1
    assert prevalence.is_monotonic_increasing or prevalence[5] == prevalence.max()
    coefficients = json.loads(model[(model.period == period) & (model.group_code == group)]
                              ["coefficients"].iloc[0])
    name = next(k for k in coefficients if k.startswith("deprivation_") and not k.endswith(("_sq", "_missing")))
    assert coefficients[name] > 0


@pytest.mark.parametrize("period", list(QOF))
def test_hypertension_rises_with_age_and_the_model_says_it_used_list_types(national, period):
    store, model, _, _ = national
    hyp = store.read("qof_prevalence", period=period, group_code="HYP")
    age = store.read("practice_attributes", attribute="65ov_pct")[["practice_code", "value"]]
    rows = hyp.merge(age, on="practice_code")
    rows = rows[rows["list_size"] > 1000]
    assert (rows["register"] / rows["list_size"]).corr(rows["value"], method="spearman") > 0.6
    row = model[(model.period == period) & (model.group_code == "HYP")].iloc[0]
    assert "QOF list-type denominators" in row["model"] and "no registrations_age" in row["model"]
    # the model's expected prevalence carries the age gradient (coefficients of the overlapping
    # 50+ and 65+ shares may split it either way)
    _, _, _, practice = national
    fitted = practice[(practice.period == period) & (practice.group_code == "HYP")]
    fitted = fitted.merge(age, on="practice_code")
    fitted = fitted[fitted["list_size"] > 1000]
    assert (fitted["expected"] / fitted["list_size"]).corr(fitted["value"], method="spearman") > 0.8
    assert row["pseudo_r2"] > 0.5 and row["n_practices"] > 6400


def test_expected_sums_to_observed_for_every_condition_and_period(national):
    store, model, gap, practice = national
    assert set(model["group_code"]) >= {"AF", "AST", "COPD", "DM", "HYP", "MH"}
    assert len(model) == 2 * 21
    fitted = practice[practice["expected"].notna()]
    assert len(practice) - len(fitted) <= 2  # a register larger than its list is left out
    sums = fitted.groupby(["period", "group_code"])[["observed", "expected"]].sum()
    assert (sums["expected"] / sums["observed"]).sub(1).abs().max() < 1e-9
    england = store.read("qof_prevalence", period="2020-21", group_code="HYP")["register"].sum()
    assert sums.loc[("2020-21", "HYP"), "observed"] == england  # no HYP row left out
    practices = gap[gap.level == "practice"]
    assert practices["significantly_low"].any() and not practices["significantly_low"].all()
    # practice data are over-dispersed (Pearson dispersion well above 1): Poisson limits alone
    # would flag a quarter of practices; allowing for the between-practice variation τ² (Winsorised
    # DerSimonian-Laird, about 0.09² for hypertension) flags the tail only
    from placehealth.measures.observed_expected import widened_limits
    hyp = practices[(practices.group_code == "HYP") & (practices.period == "2020-21")]
    assert model.set_index(["period", "group_code"]).loc[("2020-21", "HYP"), "dispersion"] > 5
    _, poisson_upper = widened_limits(hyp["observed"], hyp["expected"], 0.0)
    assert (poisson_upper < 1).mean() > 0.2
    assert 0.004 < hyp["tau2"].iloc[0] < 0.02
    assert 0.01 < hyp["significantly_low"].mean() < 0.12
    # a practice with the median hypertension register could show a gap of about a fifth
    assert 0.1 < hyp["detectable_shortfall"].median() < 0.25


def test_within_icbs_recorded_copd_is_higher_in_the_more_deprived_practices(national):
    """Inequality within each ICB (QOF 2020/21 geography: CCG-era STPs) across local quintiles of
    its practices: recorded COPD prevalence has a negative SII (higher at the deprived end) in
    nearly every area; the deprivation-adjusted O/E ratio has a much flatter one."""
    store, _, _, practice = national
    table = inequality.inequality(store, practice[practice.period == "2020-21"], pd.DataFrame())
    sii = table[(table.measure == "sii") & (table.quantiles == 5) & (table.area_level == "icb")]
    recorded = sii[sii.indicator == "prevalence:COPD"]
    assert len(recorded) >= 40
    assert (recorded["value"] < 0).mean() > 0.9
    adjusted = sii[sii.indicator == "prevalence_ratio:COPD"]
    # the SII of a prevalence (about 0.02) and of a ratio (about 1) differ in scale: compare RII
    rii = table[(table.measure == "rii") & (table.quantiles == 5) & (table.area_level == "icb")]
    raw = rii[rii.indicator == "prevalence:COPD"]["value"]
    ratio = rii[rii.indicator == "prevalence_ratio:COPD"]["value"]
    assert (raw - 1).abs().median() > 2 * (ratio - 1).abs().median()
    assert len(adjusted) == len(recorded)


def test_childhood_immunisation_uptake_is_lower_in_more_deprived_west_sussex_practices(store):
    """UKHSA COVER by practice (West Sussex 2019/20-2021/22), practice IMD 2019, the Oct 2025
    practice -> ICB map: across local quintiles of the ICB's West Sussex practices, uptake rises
    towards the least deprived (positive SII) for almost every vaccine and year."""
    import placehealth.sources.uptake  # noqa: F401  (registers the uptake reader)

    store.ingest([
        read_file(shared_file("childhood_immunisations/west_sussex_gp_childhood_immunisations.csv")),
        read_file(shared_file("derived_reference/practice_imd2019_blackwellrd_2023-01.csv"),
                  "practice-attributes", ReadOptions(period="2023-01")),
        read_file(shared_file("pcn_practice_mapping/gp-reg-pat-prac-map_2025-10.csv")),
    ])
    no_qof = pd.DataFrame(columns=["period", "practice_code", "group_code", "observed",
                                   "expected", "list_size"])
    table = inequality.inequality(store, no_qof, pd.DataFrame())
    sii = table[(table.measure == "sii") & (table.area_level == "icb") & (table.quantiles == 5)]
    assert set(sii["area_code"]) == {"QNX"} and len(sii) >= 40  # NHS Sussex ICB
    assert sii["indicator"].str.startswith("uptake:").all()
    assert (sii["value"] > 0).mean() > 0.9
    assert (sii["lowercl"] > 0).mean() > 0.6
