"""The demo place: written in the official layouts, read by the same readers, realistic where
later features rely on it, and identical for the same seed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from placehealth.sources import read_file
from placehealth.sources.demo import DemoConfig, generate, read_options
from placehealth.sources.demo.geography import build_geography, national_ranks
from placehealth.sources.demo.population import build_population
from placehealth.sources.demo.registrations import (
    build_organisations,
    build_practices,
    largest_remainder,
    register,
)
from placehealth.store import Store

from support import shared_file

SMALL = DemoConfig(seed=11, practices=20, pcns=4, lsoas=80, las=2, patients=120_000)

#: File (relative to the demo folder) -> the reader kind that must detect it.
EXPECTED_KINDS = {
    "registrations/2025-10/gp-reg-pat-prac-lsoa-all.csv": "gp-reg-lsoa",
    "registrations/2025-10/gp-reg-pat-prac-quin-age.csv": "gp-reg-age",
    "registrations/2025-10/gp-reg-pat-prac-map.csv": "gp-reg-map",
    "registrations/2025-04/gp-reg-pat-prac-lsoa-all.csv": "gp-reg-lsoa",
    "File_7_IoD2025_All_Ranks_Scores_Deciles_Population_Denominators.csv": "imd",
    "qof/PREVALENCE_2425.csv": "qof-prevalence",
    "qof/MAPPING_INDICATORS_2425.csv": "qof-indicators",
    "qof/MAPPING_NHS_GEOGRAPHIES_2425.csv": "qof-geographies",
    "census2021-ts021-lsoa.csv": "census",
    "lookups/LSOA21_WD24_LAD24_EW_LU.csv": "geography-lookup",
    "lookups/LSOA21_SICBL24_ICB24_LAD24_EN_LU.csv": "geography-lookup",
    "lookups/RUC21_LSOA21_EW.csv": "geography-lookup",
    "boundaries/LSOA21_boundaries.geojson": "boundaries",
    "boundaries/LAD24_boundaries.geojson": "boundaries",
    "sapelsoasyoa2022.csv": "population-sya",
    "practice_locations_2025-10.csv": "practice-locations",
    "cover_practice_uptake.csv": "uptake",
    "partners/ONSPD_OCT_2025_DEMO.csv": "postcodes",
    "partners/jts0505_demo_2019.csv": "travel-times",
}


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("demo"), SMALL)


@pytest.fixture(scope="module")
def loaded(place, tmp_path_factory):
    """The small demo read by auto-detection and ingested into a fresh store."""
    with Store(tmp_path_factory.mktemp("store") / "demo.duckdb") as store:
        results: list = []
        for path in place.files:  # in order: partner postcodes resolve through the lookup
            results.append(read_file(path, options=read_options(results)))
        store.ingest(results)
        yield store


def test_every_official_layout_is_written(place):
    written = {p.relative_to(place.out).as_posix() for p in place.files}
    assert set(EXPECTED_KINDS) <= written
    assert place.truth.exists()


@pytest.mark.parametrize("relative", sorted(EXPECTED_KINDS))
def test_each_file_is_detected_by_its_reader(place, relative):
    result = read_file(place.out / relative)
    assert result.kind == EXPECTED_KINDS[relative]
    assert result.rows > 0


def test_headers_are_the_official_ones(place):
    lsoa = (place.out / "registrations/2025-10/gp-reg-pat-prac-lsoa-all.csv").open().readline()
    assert lsoa.strip() == ("PUBLICATION,EXTRACT_DATE,PRACTICE_CODE,PRACTICE_NAME,LSOA_CODE,SEX,"
                            "NUMBER_OF_PATIENTS")
    iod = (place.out / "File_7_IoD2025_All_Ranks_Scores_Deciles_Population_Denominators.csv"
           ).read_bytes()
    assert iod.startswith(b"\xef\xbb\xbf\"LSOA code (2021)\"") or iod.startswith(
        b"\xef\xbb\xbfLSOA code (2021),")
    assert b'"1,' in iod or b'"2,' in iod  # ranks carry thousands separators, quoted


def test_ts021_header_matches_the_real_nomis_file(place):
    real = shared_file("census2021_population/census2021-ts021-lsoa.csv")
    with real.open(encoding="utf-8-sig") as f:
        expected = f.readline().strip()
    demo = (place.out / "census2021-ts021-lsoa.csv").open().readline().strip()
    assert demo == expected


def test_practice_locations_header_matches_the_real_lookup(place):
    real = shared_file("gp_practices/practice_pcn_locations_lookup_2024-01.csv")
    expected = real.open(encoding="utf-8-sig").readline().strip()
    demo = (place.out / "practice_locations_2025-10.csv").open().readline().strip()
    assert demo == expected


def test_everything_ingests_into_one_store(loaded, place):
    tables = set(loaded.list_tables())
    for name in ["registrations_lsoa", "registrations_age", "practice_pcn", "imd",
                 "qof_prevalence", "qof_indicators", "census", "geography_lookup",
                 "boundaries", "lsoa_population", "practice_locations", "uptake"]:
        assert name in tables, name
    assert loaded.periods("registrations_lsoa") == ["2025-04", "2025-10"]
    assert loaded.periods("qof_prevalence") == ["2023-24", "2024-25"]
    assert loaded.periods("practice_pcn") == ["2023-24", "2024-25", "2025-04", "2025-10"]
    assert len(loaded.loads()) == len(place.files)  # no two files collapse into one load


def test_registrations_reconcile(loaded, place):
    """Sum of practice x LSOA rows (with NO2021) = sum of age bands = patients, per practice."""
    for period in ["2025-04", "2025-10"]:
        lsoa = loaded.read("registrations_lsoa", period=period)
        age = loaded.read("registrations_age", period=period)
        by_lsoa = lsoa.groupby("practice_code")["patients"].sum()
        by_age = age.groupby("practice_code")["patients"].sum()
        pd.testing.assert_series_equal(by_lsoa.sort_index(), by_age.sort_index(),
                                       check_names=False, check_dtype=False)
        assert (~lsoa["lsoa_known"]).sum() > 0  # a few NO2021 rows, kept as unknown
        assert lsoa.loc[~lsoa["lsoa_known"], "patients"].sum() < 0.01 * by_lsoa.sum()
    assert int(by_lsoa.sum()) == place.patients
    assert abs(place.patients - SMALL.patients) < 0.01 * SMALL.patients


def test_about_99_percent_of_residents_are_registered(loaded):
    residents = loaded.read("lsoa_population", age_from=-1, sex="ALL")["population"]
    assert len(residents) == SMALL.lsoas
    reg = loaded.read("registrations_lsoa", period="2025-10")
    registered = reg[reg["lsoa_known"]]["patients"].sum()
    assert 0.97 < registered / residents.sum() < 1.0


def _queen_neighbours(geoms: np.ndarray) -> list[tuple[int, int]]:
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    return [(a, b) for a, b in zip(left, right, strict=True) if a < b]


def morans_i(values: np.ndarray, pairs: list[tuple[int, int]]) -> float:
    """Moran's I with binary symmetric weights (Moran 1950, Biometrika 37:17-23)."""
    z = values - values.mean()
    cross = sum(z[a] * z[b] for a, b in pairs) * 2
    weight = 2 * len(pairs)
    return len(values) / weight * cross / (z**2).sum()


def test_deprivation_is_spatially_clustered(place):
    iod = pd.read_csv(place.out / "File_7_IoD2025_All_Ranks_Scores_Deciles_Population_"
                      "Denominators.csv", encoding="utf-8-sig")
    features = json.loads((place.out / "boundaries/LSOA21_boundaries.geojson").read_text())
    codes = [f["properties"]["LSOA21CD"] for f in features["features"]]
    geoms = np.array([shapely.from_geojson(json.dumps(f["geometry"]))
                      for f in features["features"]])
    score = iod.set_index("LSOA code (2021)").loc[codes, "Index of Multiple Deprivation (IMD) "
                                                         "Score"].to_numpy()
    pairs = _queen_neighbours(geoms)
    assert morans_i(np.log(score), pairs) > 0.3
    shuffled = np.random.default_rng(0).permutation(np.log(score))
    assert abs(morans_i(shuffled, pairs)) < 0.2  # the statistic can tell clustered from not


def test_core20_share_looks_like_a_deprived_icb(place):
    iod = pd.read_csv(place.out / "File_7_IoD2025_All_Ranks_Scores_Deciles_Population_"
                      "Denominators.csv", encoding="utf-8-sig", thousands=",")
    decile = iod["Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of "
                 "LSOAs)"]
    assert 0.2 <= (decile <= 2).mean() <= 0.3
    assert set(decile) <= set(range(1, 11)) and decile.nunique() >= 8


def test_national_ranks_are_plain_ranks_at_england_scale():
    score = np.arange(33_755, 0, -1, dtype=float)
    rank, decile = national_ranks(score, 0.2)
    assert rank.tolist() == list(range(1, 33_756))
    assert np.bincount(decile)[1:].tolist() == [3375, 3376] * 5


def test_boundaries_are_polygons_around_their_lsoas_in_england(place):
    features = json.loads((place.out / "boundaries/LSOA21_boundaries.geojson").read_text())
    geoms = np.array([shapely.from_geojson(json.dumps(f["geometry"]))
                      for f in features["features"]])
    assert set(shapely.get_type_id(geoms)) == {3}  # Polygon
    bounds = shapely.total_bounds(geoms)
    assert 50 < bounds[1] < bounds[3] < 55.8 and -6 < bounds[0] < bounds[2] < 2
    union = shapely.union_all(geoms)
    assert shapely.area(union) == pytest.approx(shapely.area(geoms).sum(), rel=1e-4)  # no overlap
    lads = json.loads((place.out / "boundaries/LAD24_boundaries.geojson").read_text())
    assert len(lads["features"]) == SMALL.las


def test_patients_register_mostly_nearby(loaded):
    reg = loaded.read("registrations_lsoa", period="2025-10")
    reg = reg[reg["lsoa_known"]]
    where = loaded.read("practice_locations").set_index("practice_code")
    lsoas = loaded.read("boundaries", level="lsoa21").set_index("area_code")
    centroid = shapely.centroid(np.array([shapely.from_geojson(g) for g in lsoas["geometry"]]))
    lsoa_xy = pd.DataFrame({"lx": shapely.get_x(centroid), "ly": shapely.get_y(centroid)},
                           index=lsoas.index)
    reg = reg.join(lsoa_xy, on="lsoa_code").join(where[["latitude", "longitude"]],
                                                 on="practice_code")
    km = np.hypot((reg["longitude"] - reg["lx"]) * 68, (reg["latitude"] - reg["ly"]) * 111)
    near = (km < 5).to_numpy()
    assert reg["patients"][near].sum() / reg["patients"].sum() > 0.7
    assert reg.groupby("lsoa_code")["practice_code"].nunique().median() >= 8  # long tail


def test_prevalence_rises_with_deprivation(loaded):
    reg = loaded.read("registrations_lsoa", period="2025-10")
    reg = reg[reg["lsoa_known"]]
    imd = loaded.read("imd", domain="imd")[["lsoa_code", "score"]]
    reg = reg.merge(imd, on="lsoa_code")
    practice_imd = (reg["score"] * reg["patients"]).groupby(reg["practice_code"]).sum() / \
        reg.groupby("practice_code")["patients"].sum()
    qof = loaded.read("qof_prevalence", period="2024-25")
    for group in ["COPD", "MH", "DM"]:
        g = qof[qof["group_code"] == group].set_index("practice_code")
        prevalence = g["register"] / g["list_size"]
        rho = stats.spearmanr(practice_imd.loc[prevalence.index], prevalence).statistic
        assert rho > 0.3, group
    # Overall recorded prevalence is near England's (HYP 13.9%, DEP 12.3%, COPD 1.9%).
    total = qof.groupby("group_code")[["register", "list_size"]].sum()
    rate = total["register"] / total["list_size"]
    assert 0.08 < rate["HYP"] < 0.2 and 0.012 < rate["COPD"] < 0.035


def test_prevalence_rises_with_age(loaded):
    """Older practices (more 65+) have higher hypertension and AF prevalence."""
    age = loaded.read("registrations_age", period="2025-10")
    old = age[age["age_from"] >= 65].groupby("practice_code")["patients"].sum() / \
        age.groupby("practice_code")["patients"].sum()
    qof = loaded.read("qof_prevalence", period="2024-25")
    for group in ["HYP", "AF"]:
        g = qof[qof["group_code"] == group].set_index("practice_code")
        rho = stats.spearmanr(old.loc[g.index], g["register"] / g["list_size"]).statistic
        assert rho > 0.5, group


def test_truth_names_the_planted_under_diagnosis(place, loaded):
    truth = json.loads(place.truth.read_text())
    assert truth["seed"] == SMALL.seed
    planted = set(truth["planted"]["deprived_lsoas"]) | set(truth["planted"]["minority_ethnic_lsoas"])
    assert planted and set(truth["planted"]["lsoa_gap"]) == planted
    detection = pd.Series(truth["detection_by_lsoa"])
    assert (detection[list(planted)] < 0.85).all() and (detection.drop(list(planted)) == 1).all()
    imd = loaded.read("imd", domain="imd").set_index("lsoa_code")["decile"]
    assert (imd[truth["planted"]["deprived_lsoas"]] <= 2).all()
    # Practices drawing on planted LSOAs record less than their true registers.
    ratio = pd.Series(truth["practice_recorded_over_true"]["HYP"])
    reg = loaded.read("registrations_lsoa", period="2025-10")
    exposure = reg[reg["lsoa_code"].isin(planted)].groupby("practice_code")["patients"].sum() / \
        reg.groupby("practice_code")["patients"].sum()
    exposure = exposure.reindex(ratio.index).fillna(0)
    assert stats.spearmanr(exposure, ratio).statistic < -0.3


def test_immunisation_uptake_is_lower_in_deprived_practices(loaded):
    uptake = loaded.read("uptake", area_level="practice")
    by_practice = uptake.groupby("area_code")[["numerator", "denominator"]].sum()
    rate = by_practice["numerator"] / by_practice["denominator"]
    reg = loaded.read("registrations_lsoa", period="2025-10")
    reg = reg[reg["lsoa_known"]].merge(loaded.read("imd", domain="imd")[["lsoa_code", "score"]],
                                       on="lsoa_code")
    practice_imd = (reg["score"] * reg["patients"]).groupby(reg["practice_code"]).sum() / \
        reg.groupby("practice_code")["patients"].sum()
    assert stats.spearmanr(practice_imd.loc[rate.index], rate).statistic < -0.3


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_files(place, tmp_path):
    again = generate(tmp_path / "again", SMALL)
    assert _digest(again.out) == _digest(place.out)
    other = generate(tmp_path / "other", DemoConfig(**{**SMALL.__dict__, "seed": 12}))
    differs = {k for k, v in _digest(other.out).items() if _digest(place.out).get(k) != v}
    assert "registrations/2025-10/gp-reg-pat-prac-lsoa-all.csv" in differs


def test_largest_remainder_rounds_to_exact_totals():
    expected = np.array([[0.5, 0.5, 1.0], [1.2, 1.2, 0.6], [0.0, 0.0, 0.0]])
    rounded = largest_remainder(expected, np.array([2, 3, 0]))
    # By hand: row 1 floors to [0,0,1], one short, ties go to the first; row 2 floors to [1,1,0],
    # one short, largest remainder is the 0.6.
    assert rounded.tolist() == [[1, 0, 1], [1, 1, 1], [0, 0, 0]]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.floats(0, 1e4), min_size=1, max_size=8).map(
    lambda row: row + [0.0] * (8 - len(row))), min_size=1, max_size=6))
def test_largest_remainder_keeps_totals_and_stays_within_one(rows):
    expected = np.array(rows)
    totals = np.round(expected.sum(1)).astype(np.int64)
    rounded = largest_remainder(expected, totals)
    assert (rounded.sum(1) == totals).all()
    assert (np.abs(rounded - expected) < 1 + 1e-9).all()


def test_bad_sizes_are_refused_clearly():
    with pytest.raises(ValueError, match="local authorities"):
        generate("/nonexistent-never-written", DemoConfig(lsoas=20, las=9))


@pytest.mark.slow
def test_generator_scales_to_england():
    """6,300 practices and 33,755 LSOAs: >= 1M practice x LSOA rows, in seconds (no files)."""
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(5).spawn(4)]
    geo = build_geography(rngs[0], 33_755, 300)
    pop = build_population(rngs[1], geo, 61_000_000)
    orgs = build_organisations(geo)
    prac = build_practices(rngs[2], geo, pop, orgs, 6_300, 1_250)
    month = register(rngs[3], geo, pop, prac, "2025-10")
    assert len(month.patients) >= 1_000_000
    assert len(set(prac.pcn)) == 1_250
    assert month.practice_totals.sum() == month.patients.sum() + month.unknown.sum()


def test_cli_demo_generates_loads_builds_and_summarises(demo_place):
    """`placehealth demo` (the session's shared demo place, tests/conftest.py) writes the files,
    loads them, builds and prints a summary."""
    assert "practices" in demo_place["output"] and "PCNs" in demo_place["output"]
    assert (demo_place["out"] / "demo-truth.json").exists()
    with Store(demo_place["db"], read_only=True) as store:
        assert store.periods("registrations_lsoa") == ["2025-04", "2025-10"]
        gaps = store.read("prevalence_gap", level="practice", period="2024-25")
    # The need analysis finds the practices where under-diagnosis was planted (truth file).
    truth = json.loads((demo_place["out"] / "demo-truth.json").read_text())
    planted = set(truth["planted"]["practice_factor"])
    assert planted
    flagged = gaps[gaps["significantly_low"].astype(bool)].groupby("area_code").size()
    often = set(flagged[flagged >= 3].index)
    assert planted <= set(flagged.index)
    assert len(often & planted) >= len(often) / 2


def test_demo_partners_resolve_through_the_demo_postcode_lookup(place, loaded):
    """The register names postcodes only; every current partner is placed by the lookup, and
    the lookup's points lie in (or beside) the LSOA it names."""
    partners = loaded.read("partners")
    assert set(partners["kind"]) >= {"pharmacy", "library", "faith_venue", "food_bank",
                                     "voluntary_group", "community_centre"}
    assert (partners["located_by"] == "postcode").all()
    assert partners["contact"].str.endswith("@example.org").all()
    assert partners["valid_to"].notna().any()  # a few closed since: history kept
    postcodes = loaded.read("postcodes")
    assert postcodes["lsoa21_code"].notna().all() and postcodes["terminated"].notna().any()
