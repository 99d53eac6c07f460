"""Real data: place profiles of Staffordshire and Stoke-on-Trent (October 2025, LSOA 2021, IoD 2025)
and Pennine Lancashire (April 2020, LSOA 2011, IMD 2019), and the cross-vintage runs (2025
registrations with IMD 2019, 2020 registrations with IoD 2025) through the ONS LSOA11 -> LSOA21
lookup. Files are loaded through the readers; expected values are computed here straight from the
CSVs with pandas.

To keep the stores small, area files (IMD, Census, lookups) are cut to the LSOAs the registration
file mentions (and their lookup partners) before they are stored.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from placehealth import levels as lv
from placehealth.analyses.profile import period_tables
from placehealth.sources import ReadOptions, read_file
from placehealth.store import Store

from support import shared_file

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

SSOT = "regional_subsets/staffordshire_stoke_2025/gp_patients_by_practice_lsoa21_ssot_2025-10.csv"
PENNINE = "regional_subsets/pennine_lancashire_2020/gp-reg-pat-prac-lsoa-all_pennine_2020-04.csv"
PENNINE_AGE = "regional_subsets/pennine_lancashire_2020/gp-reg-pat-prac-sing-age_pennine_2020.csv"
PENNINE_PCN = "regional_subsets/pennine_lancashire_2020/pennine_practice_to_pcn_2020.csv"
QOF_MAP = "pcn_practice_mapping/qof_2020-21_MAPPING_NHS_GEOGRAPHIES_2021.csv"
IOD2025 = "imd2025_lsoa21/imd2025_lsoa21_scores_ranks_deciles.csv"
IMD2019 = "imd2019_lsoa11/imd2019_lsoa11_scores_mysociety.csv"
CHANGES = "geography_lookups/lsoa11_to_lsoa21_ltla22_lookup.csv"
WARDS = "geography_lookups/lsoa21_to_ward24_ltla24_lookup.csv"
LAD11 = "geography_lookups/lsoa11_to_sicbl22_icb22_ltla22_lookup.csv"
TS021 = "census2021_population/census2021-ts021-lsoa.csv"
RUC = "geography_lookups/lsoa21_rural_urban_classification_2021.csv"
POP2020 = "census2021_population/ons_mid2020_population_sya_lsoa11.csv.gz"


def _read(relative: str, codes: set[str] | None = None, **options):
    result = read_file(shared_file(relative), None, ReadOptions(**options))
    if codes is not None:
        for name, frame in result.tables.items():
            for column in ("lsoa_code", "lsoa11_code", "lsoa21_code"):
                if column in frame:
                    result.tables[name] = frame[frame[column].isin(codes)]
                    break
    return result


def _related(codes: set[str]) -> set[str]:
    """The LSOA codes and their partners on the other vintage in the ONS lookup."""
    lookup = pd.read_csv(shared_file(CHANGES), usecols=["lsoa11_code", "lsoa21_code"])
    hit = lookup[lookup["lsoa11_code"].isin(codes) | lookup["lsoa21_code"].isin(codes)]
    return codes | set(hit["lsoa11_code"]) | set(hit["lsoa21_code"])


def _weighted(raw: pd.DataFrame, scores: pd.DataFrame, code: str, value: str) -> float:
    rows = raw.merge(scores, left_on="LSOA_CODE", right_on=code)
    return float((rows["NUMBER_OF_PATIENTS"] * rows[value]).sum() / rows["NUMBER_OF_PATIENTS"].sum())


# ----------------------------------------------------------------------------- Staffordshire
@pytest.fixture(scope="module")
def ssot(tmp_path_factory):
    raw = pd.read_csv(shared_file(SSOT))
    with Store(tmp_path_factory.mktemp("ssot") / "ssot.duckdb") as store:
        registrations = _read(SSOT, period="2025-10")
        codes = _related(set(registrations.tables["registrations_lsoa"]["lsoa_code"]))
        population = _read(POP2020, codes)
        population.tables["lsoa_population"] = population.tables["lsoa_population"].query(
            "age_from == -1")
        store.ingest([registrations, _read(IOD2025, codes), _read(IMD2019, codes),
                      _read(CHANGES, codes), _read(WARDS, codes), _read(TS021, codes),
                      _read(RUC, codes), population])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lv.LevelWarning)
            native = period_tables(store, "2025-10")
            cross = period_tables(store, "2025-10", "IMD2019")
    yield raw, native, cross


def test_ssot_counts_practices_and_pcns(ssot):
    _, native, _ = ssot
    assert len(native["practice_profile"]) == 141
    assert len(native["pcn_profile"]) == 25
    assert native["pcn_profile"]["practices"].sum() == 141
    assert native["icb_profile"]["unit_code"].tolist() == ["QNC"]


def test_ssot_totals_reconcile_to_the_file(ssot):
    raw, native, cross = ssot
    total = int(raw["NUMBER_OF_PATIENTS"].sum())
    assert total == 1_210_283
    for table in ("practice_profile", "pcn_profile", "sub_icb_profile", "icb_profile"):
        assert native[table]["patients"].sum() == pytest.approx(total), table
    by_practice = raw.groupby("PRACTICE_CODE")["NUMBER_OF_PATIENTS"].sum()
    profile = native["practice_profile"].set_index("practice_code")["patients"]
    assert (profile.sort_index() == by_practice.sort_index().astype(float)).all()
    # moving 2021 codes onto 2011 codes keeps every patient
    assert cross["practice_profile"]["patients"].sum() == pytest.approx(total, abs=1e-6)


def test_ssot_registration_weighted_scores_match_a_hand_computation(ssot):
    raw, native, _ = ssot
    iod = pd.read_csv(shared_file(IOD2025))
    profile = native["practice_profile"].set_index("practice_code")
    for practice in ["C81018", "M83001", "M83004", "M83016", "Y02867"]:
        rows = raw[raw["PRACTICE_CODE"] == practice]
        assert len(rows) > 10, practice
        assert profile.loc[practice, "imd_score"] == pytest.approx(
            _weighted(rows, iod, "lsoa21_code", "IMD_score")), practice
        assert profile.loc[practice, "income_score"] == pytest.approx(
            _weighted(rows, iod, "lsoa21_code", "Income_score")), practice
        unknown = rows[~rows["LSOA_CODE"].str.match(r"^[EW]01\d{6}$")]["NUMBER_OF_PATIENTS"].sum()
        assert profile.loc[practice, "unknown_lsoa_pct"] == pytest.approx(
            100 * unknown / rows["NUMBER_OF_PATIENTS"].sum()), practice
    pcn = raw["PCN_CODE"].iloc[0]
    assert native["pcn_profile"].set_index("pcn_code").loc[pcn, "imd_score"] == pytest.approx(
        _weighted(raw[raw["PCN_CODE"] == pcn], iod, "lsoa21_code", "IMD_score"))


def test_ssot_core20_share_falls_where_the_imd_file_says(ssot):
    raw, native, _ = ssot
    iod = pd.read_csv(shared_file(IOD2025)).set_index("lsoa21_code")
    lsoas = native["lsoa_profile"].set_index("lsoa_code")
    english = lsoas[lsoas.index.isin(iod.index)]
    core20 = iod.loc[english.index, "IMD_decile"] <= 2
    assert (english.loc[core20, "core20_pct"] == 100).all()
    assert (english.loc[~core20, "core20_pct"] == 0).all()
    rows = raw.merge(iod["IMD_decile"], left_on="LSOA_CODE", right_index=True)
    expected = 100 * rows.loc[rows["IMD_decile"] <= 2, "NUMBER_OF_PATIENTS"].sum() / rows[
        "NUMBER_OF_PATIENTS"].sum()
    assert native["icb_profile"].iloc[0]["core20_pct"] == pytest.approx(expected)
    stoke = native["la_profile"].set_index("la_code").loc["E06000021"]
    wards = pd.read_csv(shared_file(WARDS))
    in_stoke = rows[rows["LSOA_CODE"].isin(wards.loc[wards["ltla24_code"] == "E06000021",
                                                     "lsoa21_code"])]
    assert stoke["core20_pct"] == pytest.approx(100 * in_stoke.loc[
        in_stoke["IMD_decile"] <= 2, "NUMBER_OF_PATIENTS"].sum() / in_stoke["NUMBER_OF_PATIENTS"].sum())
    assert stoke["core20_pct"] > native["icb_profile"].iloc[0]["core20_pct"]  # Stoke is poorer


def test_ssot_with_imd_2019_through_the_lookup(ssot):
    raw, native, cross = ssot
    practices = cross["practice_profile"].set_index("practice_code")
    assert set(practices["imd_edition"]) == {"IMD2019"} and set(practices["lsoa_vintage"]) == {2011}
    lookup = pd.read_csv(shared_file(CHANGES))
    complex_codes = set(lookup.loc[lookup["change_code"].isin(["M", "X"]), "lsoa21_code"])
    one_target = lookup[lookup["change_code"].isin(["U", "S"])][["lsoa11_code", "lsoa21_code"]]
    scores = pd.read_csv(shared_file(IMD2019)).merge(one_target, left_on="lsoa11cd",
                                                     right_on="lsoa11_code")
    checked = 0
    for practice, rows in raw.groupby("PRACTICE_CODE"):
        if rows["LSOA_CODE"].isin(complex_codes).any() or checked >= 5:
            continue
        expected = _weighted(rows, scores, "lsoa21_code", "imd2019_score")
        assert practices.loc[practice, "imd_score"] == pytest.approx(expected), practice
        checked += 1
    assert checked == 5
    both = native["practice_profile"].set_index("practice_code")["imd_score"]
    assert np.corrcoef(both, practices.loc[both.index, "imd_score"])[0, 1] > 0.9


def test_ssot_footprints_and_fragmentation(ssot):
    _, native, _ = ssot
    footprint = native["pcn_footprint"]
    assert len(footprint) == 25
    assert (footprint["lsoas_50"] <= footprint["lsoas_80"]).all()
    assert (footprint["lsoas_80"] <= footprint["lsoas_95"]).all()
    shares = native["pcn_lsoa"].groupby("pcn_code")["pcn_share_pct"].sum()
    assert shares.to_numpy() == pytest.approx(100.0)
    la = native["pcn_la"]
    assert la["coterminosity"].between(0, 1).all()
    fragmented = native["fragmented_lsoas"]
    assert len(fragmented) and fragmented["largest_pcn_pct"].le(50).all()


# ----------------------------------------------------------------------------- Pennine
@pytest.fixture(scope="module")
def pennine(tmp_path_factory):
    raw = pd.read_csv(shared_file(PENNINE))
    with Store(tmp_path_factory.mktemp("pennine") / "pennine.duckdb") as store:
        registrations = _read(PENNINE)
        codes = _related(set(registrations.tables["registrations_lsoa"]["lsoa_code"]))
        census = _read(TS021, codes)
        census.tables["census"] = census.tables["census"].query("category == 'Total'")
        store.ingest([registrations, _read(PENNINE_AGE, period="2020-04"), _read(PENNINE_PCN),
                      _read(QOF_MAP), _read(IMD2019, codes), _read(IOD2025, codes),
                      _read(CHANGES, codes), _read(LAD11, codes), census])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lv.LevelWarning)
            native = period_tables(store, "2020-04")
            cross = period_tables(store, "2020-04", "IoD2025")
    yield raw, native, cross


def test_pennine_counts_and_totals(pennine):
    raw, native, cross = pennine
    practices = native["practice_profile"]
    assert len(practices) == raw["PRACTICE_CODE"].nunique() == 262
    assert practices["patients"].sum() == raw["NUMBER_OF_PATIENTS"].sum() == 589_463
    assert set(practices["imd_edition"]) == {"IMD2019"} and set(practices["lsoa_vintage"]) == {2011}
    mapping = pd.read_csv(shared_file(QOF_MAP))
    mapped = mapping[mapping["PRACTICE_CODE"].isin(raw["PRACTICE_CODE"])]
    assert len(native["pcn_profile"]) == mapped.loc[mapped["PCN_ODS_CODE"] != "U",
                                                   "PCN_ODS_CODE"].nunique()
    # 2011 codes moved onto 2021 codes, apportioned by Census 2021 residents: totals kept
    assert cross["practice_profile"]["patients"].sum() == pytest.approx(589_463, abs=1e-6)
    assert set(cross["practice_profile"]["lsoa_vintage"]) == {2021}


def test_pennine_scores_unknown_lsoas_and_ages(pennine):
    raw, native, _ = pennine
    imd = pd.read_csv(shared_file(IMD2019))
    profile = native["practice_profile"].set_index("practice_code")
    for practice in ["P81002", "P81005", "P81016", "P81040", "P81709"]:
        rows = raw[raw["PRACTICE_CODE"] == practice]
        assert profile.loc[practice, "imd_score"] == pytest.approx(
            _weighted(rows, imd, "lsoa11cd", "imd2019_score")), practice
    no_lsoa = raw[raw["LSOA_CODE"] == "NO2011"].groupby("PRACTICE_CODE")["NUMBER_OF_PATIENTS"].sum()
    practice = no_lsoa.idxmax()
    total = raw.loc[raw["PRACTICE_CODE"] == practice, "NUMBER_OF_PATIENTS"].sum()
    assert profile.loc[practice, "unknown_lsoa_pct"] == pytest.approx(100 * no_lsoa.max() / total)
    ages = pd.read_csv(shared_file(PENNINE_AGE))
    ages = ages[ages["ORG_CODE"] == "P81005"]
    years = pd.to_numeric(ages["AGE"].str.rstrip("+"))
    assert profile.loc["P81005", "pct_65_plus"] == pytest.approx(
        100 * ages.loc[years >= 65, "NUMBER_OF_PATIENTS"].sum() / ages["NUMBER_OF_PATIENTS"].sum())
    assert profile.loc["P81005", "pct_under_18"] == pytest.approx(
        100 * ages.loc[years < 18, "NUMBER_OF_PATIENTS"].sum() / ages["NUMBER_OF_PATIENTS"].sum())


def test_pennine_local_pcn_list_profiles_as_groups(pennine):
    raw, native, _ = pennine
    local = pd.read_csv(shared_file(PENNINE_PCN))
    members = local.loc[local["PCN"].str.strip() == "BURNLEY EAST PCN", "PCode"].str.strip()
    groups = native["group_profile"].set_index("unit_code")
    expected = raw.loc[raw["PRACTICE_CODE"].isin(members), "NUMBER_OF_PATIENTS"].sum()
    assert groups.loc["BURNLEY EAST PCN", "patients"] == expected
    assert groups.loc["BURNLEY EAST PCN", "practices"] == members.nunique()


def test_ssot_authorities_on_2011_codes_by_best_fit(ssot):
    _, native, cross = ssot
    stoke_now = native["la_profile"].set_index("la_code").loc["E06000021"]
    stoke_2011 = cross["la_profile"].set_index("la_code").loc["E06000021"]
    # the same residents, give or take LSOAs whose 2011 best fit lies across the boundary
    assert stoke_2011["patients"] == pytest.approx(stoke_now["patients"], rel=0.01)
    assert cross["la_profile"]["patients"].sum() == pytest.approx(
        native["la_profile"]["patients"].sum(), rel=1e-6)
    assert len(cross["pcn_la"]) > 0
