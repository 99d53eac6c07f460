"""Real data: peers and comparison on national QOF 2020/21 and 2021/22 (NHS Digital) with the QOF
2020/21 practice -> PCN mapping (MAPPING_NHS_GEOGRAPHIES_2021), practice IMD 2019 and ethnicity
(blackwellrd 2023-01, registration-weighted), QOF 2019/20 list ages and the Census 2021 rural-urban
class of each practice's LSOA (practice locations, Jan 2024); and the Staffordshire and
Stoke-on-Trent place (Patients Registered at a GP Practice, October 2025, with the October 2025
practice map and IoD 2025)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import placehealth.sources  # noqa: F401
from placehealth.analyses import compare, peers, profile
from placehealth.indicators import registry
from placehealth.sources import ReadOptions, read_file
from placehealth.store import Store

from support import ingest, shared_file

pytestmark = [pytest.mark.realdata, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::UserWarning")]

QOF = {"2020-21": "qof_prevalence/qof_2020-21_PREVALENCE_2021_v2.csv",
       "2021-22": "qof_prevalence/qof_2021-22_PREVALENCE_2122_V2_inferred.csv"}
FEATURES = ["imd_score", "pct_65_plus", "pct_non_white", "pct_rural", "list_size"]


def _attributes() -> pd.DataFrame:
    """National practice features, read with pandas from the published files."""
    imd = pd.read_csv(shared_file("derived_reference/practice_imd2019_blackwellrd_2023-01.csv"))
    eth = pd.read_csv(shared_file(
        "derived_reference/practice_ethnicity_census2021_blackwellrd_2023-01.csv"))
    age = pd.read_csv(shared_file("gp_registrations/qof_2019-20_practice_list_by_age_group.csv"))
    loc = pd.read_csv(shared_file("gp_practices/practice_pcn_locations_lookup_2024-01.csv"),
                      usecols=["PRAC_CODE", "PRAC_LSOA21"])
    ruc = pd.read_csv(shared_file("geography_lookups/lsoa21_rural_urban_classification_2021.csv"))
    rural = loc.merge(ruc, left_on="PRAC_LSOA21", right_on="lsoa21_code")
    parts = [
        imd[["practice_code", "imd_score"]].rename(columns={"imd_score": "value"})
        .assign(attribute="imd_score"),
        eth.assign(value=100 * eth["pct_non_white"])[["practice_code", "value"]]
        .assign(attribute="pct_non_white"),
        age.assign(value=100 * age["65OV%"], practice_code=age["PRACTICE_CODE"])
        [["practice_code", "value"]].assign(attribute="pct_65_plus"),
        pd.DataFrame({"practice_code": rural["PRAC_CODE"],
                      "value": 100.0 * (rural["ruc"] == "Rural"), "attribute": "pct_rural"}),
    ]
    out = pd.concat(parts, ignore_index=True).dropna(subset=["value"])
    out = out.drop_duplicates(["practice_code", "attribute"])
    return out.assign(period="2023-01")


def _ingest_attributes(store: Store) -> None:
    ingest(store, "practice_attributes", _attributes(), "2023-01")


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("compare") / "national.duckdb")
    results = [read_file(shared_file(path), "qof-prevalence", ReadOptions(period=period))
               for period, path in QOF.items()]
    results.append(read_file(shared_file(
        "qof_prevalence/qof_2020-21_MAPPING_INDICATORS_2021_v2.csv"), "qof-indicators",
        ReadOptions(period="2020-21")))
    results.append(read_file(shared_file(
        "pcn_practice_mapping/qof_2020-21_MAPPING_NHS_GEOGRAPHIES_2021.csv"), "qof-geographies",
        ReadOptions(period="2020-21")))
    store.ingest(results)
    _ingest_attributes(store)
    peers.build(store)
    compare.build(store)
    yield store
    store.close()


def test_peer_groups_for_every_pcn_and_practice(national):
    table = national.read("peers", within="england")
    pcn = table[table["level"] == "pcn"]
    assert pcn["unit_code"].nunique() > 1200
    assert (pcn.groupby("unit_code").size() == 10).all()
    assert (table["unit_code"] != table["peer_code"]).all()
    practice = table[table["level"] == "practice"]
    assert practice["unit_code"].nunique() > 6400
    in_icb = national.read("peers", level="pcn", within="icb")
    icb = peers.unit_groups(national, "pcn", "icb", "2020-21")
    assert (in_icb["unit_code"].map(icb) == in_icb["peer_code"].map(icb)).all()
    assert in_icb["unit_code"].nunique() == pcn["unit_code"].nunique()
    shares = national.read("peer_features", level="pcn", within="england")
    assert set(shares["feature"]) == set(FEATURES)
    total = shares.groupby(["unit_code", "peer_code"])["share"].sum()
    assert np.allclose(total, 1.0)


def test_peers_are_plausible_similar_deprivation_and_more_often_the_same_icb(national):
    """Quantified: a PCN's peers are far closer in IMD score than random PCNs, and share its ICB
    several times more often than chance."""
    features = peers.unit_features(national, "pcn", "2023-01")
    table = national.read("peers", level="pcn", within="england")
    imd = features["imd_score"]
    gap = (table["unit_code"].map(imd) - table["peer_code"].map(imd)).abs()
    rng = np.random.default_rng(0)
    random_gap = np.abs(imd.to_numpy()[rng.integers(0, len(imd), 20000)]
                        - imd.to_numpy()[rng.integers(0, len(imd), 20000)])
    print(f"median |IMD gap| peers {gap.median():.2f} vs random {np.nanmedian(random_gap):.2f}")
    assert gap.median() < 0.25 * np.nanmedian(random_gap)
    icb = peers.unit_groups(national, "pcn", "icb", "2020-21")
    same = (table["unit_code"].map(icb) == table["peer_code"].map(icb)).mean()
    chance = (icb.value_counts(normalize=True) ** 2).sum()
    print(f"peers sharing the ICB: {same:.1%} vs chance {chance:.1%}")
    assert same > 2 * chance
    # every PCN: peers in its ICB, or a similar deprivation profile (within 5 IMD points)
    per_unit = table.assign(same=table["unit_code"].map(icb) == table["peer_code"].map(icb),
                            near=gap < 5).groupby("unit_code")[["same", "near"]].any()
    assert (per_unit["same"] | per_unit["near"]).mean() > 0.99


def test_feature_fit_is_documented_for_every_indicator(national):
    fit = national.read("peer_feature_fit", level="pcn")
    assert set(fit["indicator"]) == set(registry(national))
    hyp = fit[(fit["indicator"] == "qof_hyp_prevalence") & (fit["period"] == "2020-21")].iloc[0]
    print(fit.sort_values("r_squared")[["indicator", "period", "r_squared"]].to_string())
    assert hyp["r_squared"] > 0.5  # hypertension is mostly age: the features explain it well
    assert fit["r_squared"].between(0, 1).all()


def test_funnel_limits_agree_with_exact_binomial_quantiles(national):
    funnel = national.read("funnel", level="pcn", indicator="qof_hyp_prevalence",
                           period="2020-21")
    target = funnel["numerator"].sum() / funnel["denominator"].sum()
    assert funnel["target"].iloc[0] == pytest.approx(100 * target)
    n = funnel["denominator"].to_numpy()
    for level, tail in (("95_0", 0.025), ("99_8", 0.001)):
        upper = stats.binom.ppf(1 - tail, n, target) / n * 100
        lower = stats.binom.ppf(tail, n, target) / n * 100
        # the Wilson-based limits sit within about one patient of the exact binomial quantiles
        assert np.abs(funnel[f"upper{level}limit"] - upper).max() < 1.5 * 100 / n.min()
        assert np.abs(funnel[f"lower{level}limit"] - lower).max() < 1.5 * 100 / n.min()
    # positions agree with an exact binomial test of each PCN's count at the 99.8% level
    x = funnel["numerator"].to_numpy()
    high = stats.binom.sf(x - 1, n, target) < 0.001
    low = stats.binom.cdf(x, n, target) < 0.001
    exact = np.select([high, low], ["above", "below"], "inside")
    assert (exact == funnel["funnel99_8"].to_numpy()).mean() > 0.98
    assert (funnel["funnel99_8"] != "inside").mean() > 0.3  # real PCNs are overdispersed


def test_comparison_has_every_pcn_indicator_and_period(national):
    comp = national.read("comparison", level="pcn")
    n_ind = len(registry(national))
    assert comp.groupby("unit_code")["indicator"].nunique().max() == n_ind
    assert set(comp["period"]) == set(QOF)
    assert comp["vs_england"].isin(["higher", "lower", "similar"]).all()
    assert comp["peer_n"].median() == 10
    assert (comp["trend"] == "insufficient periods").all()
    # the peer benchmark flags fewer PCNs than the England benchmark: peers are like the unit
    flagged_peers = (comp["vs_peers"] != "similar").mean()
    flagged_england = (comp["vs_england"] != "similar").mean()
    print(f"flagged vs peers {flagged_peers:.1%}, vs England {flagged_england:.1%}")
    assert flagged_peers < flagged_england
    dec = national.read("deciles", level="pcn", indicator="qof_hyp_prevalence",
                        period="2021-22").sort_values("percentile")
    values = comp[(comp["indicator"] == "qof_hyp_prevalence") & (comp["period"] == "2021-22")]
    assert dec["value"].tolist() == pytest.approx(np.percentile(values["value"],
                                                                range(10, 100, 10)))


# ------------------------------------------------------------------ Staffordshire and Stoke-on-Trent

SSOT = "regional_subsets/staffordshire_stoke_2025/gp_patients_by_practice_lsoa21_ssot_2025-10.csv"


@pytest.fixture(scope="module")
def staffordshire(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("compare") / "ssot.duckdb")
    results = [read_file(shared_file(path), "qof-prevalence", ReadOptions(period=period))
               for period, path in QOF.items()]
    results.append(read_file(shared_file("pcn_practice_mapping/gp-reg-pat-prac-map_2025-10.csv")))
    results.append(read_file(shared_file(SSOT), None, ReadOptions(period="2025-10")))
    results.append(read_file(shared_file("imd2025_lsoa21/imd2025_lsoa21_scores_ranks_deciles.csv")))
    store.ingest(results)
    profile.build(store)
    _ingest_attributes(store)
    peers.build(store)
    compare.build(store)
    yield store
    store.close()


def test_every_staffordshire_pcn_is_compared_with_its_peers(staffordshire):
    mapping = staffordshire.read("practice_pcn", period="2025-10")
    ssot = set(mapping.loc[(mapping["icb_code"] == "QNC") & (mapping["pcn_code"] != "U"),
                           "pcn_code"])
    assert len(ssot) == 25
    comp = staffordshire.read("comparison", level="pcn", unit_code=sorted(ssot))
    assert set(comp["unit_code"]) == ssot
    n_ind = len(registry(staffordshire))
    per_pcn = comp.groupby("unit_code").agg(indicators=("indicator", "nunique"),
                                            peers=("peer_n", "min"))
    assert (per_pcn["indicators"] == n_ind).all()
    assert (per_pcn["peers"] >= 8).all()
    assert comp["vs_peers"].isin(["higher", "lower", "similar"]).all()
    assert comp["icb_code"].eq("QNC").all()
    # their peers (national) have a similar deprivation profile
    table = staffordshire.read("peers", level="pcn", within="england", unit_code=sorted(ssot))
    features = peers.unit_features(staffordshire, "pcn", table["period"].iloc[0])
    gap = (table["unit_code"].map(features["imd_score"])
           - table["peer_code"].map(features["imd_score"])).abs()
    assert gap.median() < 3


def test_staffordshire_pcns_peers_within_their_icb(staffordshire):
    """Within the place: each of the 25 PCNs gets its 10 nearest among the other 24, all in QNC;
    restricting the search can only move the nearest peer further away than nationally."""
    within = staffordshire.read("peers", level="pcn", within="icb")
    mapping = staffordshire.read("practice_pcn", period="2025-10")
    ssot = set(mapping.loc[(mapping["icb_code"] == "QNC") & (mapping["pcn_code"] != "U"),
                           "pcn_code"])
    mine = within[within["unit_code"].isin(ssot)]
    assert set(mine["unit_code"]) == ssot
    assert mine["peer_code"].isin(ssot).all()
    assert (mine.groupby("unit_code").size() == 10).all()
    national = staffordshire.read("peers", level="pcn", within="england")
    nearest = national[national["rank"] == 1].set_index("unit_code")["distance"]
    assert (mine[mine["rank"] == 1].set_index("unit_code")["distance"]
            >= nearest.reindex(sorted(ssot)) - 1e-9).all()
