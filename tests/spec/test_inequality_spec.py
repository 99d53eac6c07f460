"""Spec: local deprivation quantiles, SII/RII/gap per area, and the Core20PLUS5 view."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from placehealth.analyses import inequality, need

from support import ingest
from support.tiny_need import PCN, QOF


def test_local_quintiles_are_population_weighted_most_deprived_first():
    units = pd.DataFrame({
        "area_level": "pcn", "area_code": ["U1"] * 5 + ["U2"] * 5 + ["U3"] * 4,
        "unit_code": [f"L{i}" for i in range(14)],
        "score": [50, 40, 30, 20, 10, 50, 40, 30, 20, 10, 4, 3, 2, 1],
        "population": [100] * 5 + [300, 100, 100, 100, 400] + [100] * 4})
    out = inequality.assign_quantiles(units, 5)
    # U1: equal populations, mid-points 0.1 ... 0.9 -> quintiles 1..5 from the most deprived
    assert out[out.area_code == "U1"]["quantile"].tolist() == [1, 2, 3, 4, 5]
    # U2: mid-points .15 .35 .45 .55 .80 -> 1 2 3 3 5: quintile 4 empty, so U2 is left out;
    # U3 has fewer than 5 units
    assert set(out["area_code"]) == {"U1"}


def test_an_areas_lsoas_and_practices_are_quantiled_apart():
    # one PCN, five LSOAs with registers (ratio) and five practices with uptake (proportion);
    # the practices' scores sit between the LSOAs' and their denominators are large, so pooling
    # the two kinds would move the LSOAs' cuts (L0 and L1 would share quintile 1)
    lsoas = pd.DataFrame({
        "area_level": "pcn", "area_code": "U1", "area_name": "PCN", "units": "lsoa",
        "unit_code": [f"L{i}" for i in range(5)], "period": "2024-25",
        "indicator": "HYP", "kind": "ratio", "score": [50, 40, 30, 20, 10],
        "population": 100.0, "x": [30.0, 25, 20, 15, 10], "n": 20.0})
    practices = pd.DataFrame({
        "area_level": "pcn", "area_code": "U1", "area_name": "PCN", "units": "practice",
        "unit_code": [f"P{i}" for i in range(5)], "period": "2024-25",
        "indicator": "uptake:MMR2 5y", "kind": "proportion", "score": [45, 44, 43, 42, 41],
        "population": 1000.0, "x": [800.0, 820, 850, 870, 900], "n": 1000.0})
    alone = inequality.quantile_values(lsoas, 5)
    both = inequality.quantile_values(pd.concat([lsoas, practices], ignore_index=True), 5)
    lsoa_rows = both[both["units"] == "lsoa"].reset_index(drop=True)
    assert lsoa_rows["quantile"].tolist() == [1, 2, 3, 4, 5]
    pd.testing.assert_frame_equal(lsoa_rows, alone.reset_index(drop=True))
    # and the practices get quintiles of their own: equal denominators, one practice each
    assert both[both["units"] == "practice"]["quantile"].tolist() == [1, 2, 3, 4, 5]


def test_sii_of_a_planted_gradient_matches_a_weighted_least_squares_fit():
    # one ICB, 10 practices of 1,000 (2 per quintile), prevalence 5% in the most deprived pair
    # falling by 1 point per quintile to 1% in the least deprived pair
    codes = [f"C{i:05d}" for i in range(10)]
    score = np.repeat([50, 40, 30, 20, 10], 2)
    register = np.repeat([50, 40, 30, 20, 10], 2)
    practice = pd.DataFrame({"period": "2024-25", "practice_code": codes, "group_code": "COPD",
                             "observed": register.astype(float), "expected": 30.0,
                             "list_size": 1000.0})
    units = pd.DataFrame({
        "area_level": "icb", "area_code": "QZ1", "area_name": "ICB", "unit_code": codes,
        "units": "practice", "period": "2024-25", "population": 1000.0, "score": score,
        "indicator": "prevalence:COPD", "kind": "proportion",
        "x": practice["observed"], "n": practice["list_size"]})
    out = inequality.inequality_measures(units, repetitions=1000)
    quintile = out[out.quantiles == 5].set_index("measure")
    # the SII is the slope over the mid-point ranks 0.1, 0.3, ..., 0.9 (equal populations):
    slope, intercept = np.polyfit([0.1, 0.3, 0.5, 0.7, 0.9], [0.05, 0.04, 0.03, 0.02, 0.01], 1)
    assert quintile.loc["sii", "value"] == pytest.approx(slope, rel=1e-9)  # -0.05
    assert quintile.loc["rii", "value"] == pytest.approx((intercept + slope) / intercept, rel=1e-9)
    assert quintile.loc["sii", "uppercl"] < 0
    assert quintile.loc["gap", "value"] == pytest.approx(0.01 - 0.05)
    assert quintile.loc["gap_ratio", "value"] == pytest.approx(0.2)
    assert set(out["quantiles"]) == {5}  # 10 practices: too few for deciles


@pytest.mark.engines  # the LSOA gap rows are filtered inside the engine
def test_core20_neighbourhoods_against_the_rest(store):
    ingest(store, "qof_prevalence", QOF, "2024-25")
    ingest(store, "practice_pcn", PCN, "2025-03")
    reg = [("A00001", "E01000001", 600), ("A00001", "E01000002", 400),
           ("A00002", "E01000002", 900)]
    ingest(store, "registrations_lsoa", [
        {"period": "2025-03", "practice_code": p, "lsoa_code": lsoa, "lsoa_vintage": 2021,
         "lsoa_known": True, "sex": "ALL", "patients": n} for p, lsoa, n in reg], "2025-03")
    ingest(store, "imd", [
        {"edition": "IoD2025", "lsoa_code": code, "lsoa_vintage": 2021, "domain": "imd",
         "score": score, "rank": rank, "decile": decile}
        for code, score, rank, decile in [("E01000001", 55.0, 100, 1), ("E01000002", 12.0, 20000, 6)]], "IoD2025")
    need.build(store)  # inequality is its own build step: it reads the need tables from the store
    tables = inequality.compute(store)
    core = tables["core20plus5"]
    copd = core[(core.pcn_code == "U00001") & (core.indicator == "prevalence_gap:COPD")]
    ratio = copd.set_index("measure").loc["ratio"]
    # Core20 (E01000001): 60% of A00001 -> O 6, E 15; rest (E01000002): 40% of A00001 and all
    # of A00002 -> O 4 + 30, E 10 + 25
    assert ratio["core20_value"] == pytest.approx(6 / 15)
    assert ratio["rest_value"] == pytest.approx(34 / 35)
    assert ratio["all_value"] == pytest.approx(40 / 50)
    assert ratio["clinical_area"] == "chronic respiratory disease"
    assert copd.set_index("measure").loc["missing", "core20_value"] == pytest.approx(9)
    assert ratio["core20_share"] == pytest.approx(600 / 1900)
    assert (ratio["core20_observed"], ratio["rest_observed"]) == pytest.approx((6, 34))
    share = core[(core.pcn_code == "U00001") & (core.indicator == "core20_share")]
    assert share["all_value"].iloc[0] == pytest.approx(600 / 1900)
    assert set(tables) == {"inequality", "core20plus5"}


def test_deciles_only_where_the_population_allows():
    rng = np.random.default_rng(3)

    def area(code, units, people):
        return pd.DataFrame({
            "area_level": "icb", "area_code": code, "area_name": code,
            "unit_code": [f"{code}{i:03d}" for i in range(units)], "units": "practice",
            "period": "2024-25", "population": float(people), "score": rng.uniform(5, 60, units),
            "indicator": "prevalence:DM", "kind": "proportion",
            "x": rng.binomial(people, 0.07, units).astype(float), "n": float(people)})

    # 25 practices of 5,000 (125,000 people) -> quintiles and deciles;
    # 25 of 1,000 (25,000 people, fewer than DECILE_MIN_POPULATION) -> quintiles only
    units = pd.concat([area("BIG", 25, 5000), area("SMALL", 25, 1000)], ignore_index=True)
    out = inequality.inequality_measures(units, repetitions=1000)
    quantiles = out.groupby("area_code")["quantiles"].agg(set)
    assert quantiles["BIG"] == {5, 10} and quantiles["SMALL"] == {5}


def test_blocks_of_areas_give_the_same_measures_as_all_areas_at_once(monkeypatch):
    # quantiles and their sums are per area, taken a block of areas at a time; the simulated
    # limits are drawn for every area at once, so neither depends on the block size
    rng = np.random.default_rng(5)
    units = pd.concat([pd.DataFrame({
        "area_level": level, "area_code": f"{level}{a}", "area_name": f"{level}{a}",
        "unit_code": [f"L{(a * 7 + i) % 40:03d}" for i in range(12)], "units": "lsoa",
        "period": period, "population": rng.integers(200, 900, 12).astype(float),
        "score": rng.uniform(5, 60, 12), "indicator": "prevalence:DM", "kind": "proportion",
        "x": rng.integers(10, 60, 12).astype(float), "n": 800.0})
        for level in ("pcn", "la") for a in range(6) for period in ("2023-24", "2024-25")],
        ignore_index=True)
    whole = inequality.inequality_measures(units, repetitions=1000)
    monkeypatch.setattr(inequality, "BLOCK_ROWS", 30)  # 2-3 areas a block
    calls = []
    quantile_values = inequality.quantile_values
    monkeypatch.setattr(inequality, "quantile_values",
                        lambda rows, k: calls.append(k) or quantile_values(rows, k))
    pd.testing.assert_frame_equal(inequality.inequality_measures(units, repetitions=1000), whole)
    assert calls.count(5) > 4
    assert len(whole) == 12 * 2 * 4  # 12 areas x 2 periods x (sii, rii, gap, gap_ratio)


def test_uptake_by_lsoa_gives_inequality_within_each_local_authority(store):
    import placehealth.sources.uptake  # noqa: F401  (registers the uptake table)

    codes = [f"E01{i:06d}" for i in range(10)]
    score = np.repeat([50.0, 40.0, 30.0, 20.0, 10.0], 2)
    uptake = np.repeat([75, 80, 85, 90, 95], 2)  # of 100 children: lowest where most deprived
    ingest(store, "uptake", [
        {"period": "2024-25", "area_level": "lsoa", "area_code": c, "indicator": "MMR1",
         "age": "24 months", "numerator": int(u), "denominator": 100}
        for c, u in zip(codes, uptake, strict=True)], "2024-25")
    ingest(store, "imd", [
        {"edition": "IoD2025", "lsoa_code": c, "lsoa_vintage": 2021, "domain": "imd",
         "score": s, "rank": i + 1, "decile": 1 + i // 2} for i, (c, s) in enumerate(zip(codes, score, strict=True))], "IoD2025")
    ingest(store, "geography_lookup", [
        {"lsoa_vintage": 2021, "lsoa_code": c, "level": "lad", "edition": "2024",
         "area_code": "E06000001", "area_name": "Town"} for c in codes], "lad 2024")
    no_qof = pd.DataFrame(columns=["period", "practice_code", "group_code", "observed",
                                   "expected", "list_size"])
    table = inequality.inequality(store, no_qof, pd.DataFrame())
    la = table[(table.area_level == "la") & (table.quantiles == 5)].set_index("measure")
    assert la.loc["sii", "indicator"] == "uptake:MMR1 24 months" and la.loc["sii", "units"] == "lsoa"
    slope, _ = np.polyfit([0.1, 0.3, 0.5, 0.7, 0.9], [0.75, 0.80, 0.85, 0.90, 0.95], 1)
    assert la.loc["sii", "value"] == pytest.approx(slope, rel=1e-9)  # +0.25
    assert la.loc["gap", "value"] == pytest.approx(0.95 - 0.75)


def test_unit_rows_made_a_block_of_areas_at_a_time_give_the_table_of_one_frame(demo_db,
                                                                               monkeypatch):
    # the build makes the unit rows a block of areas at a time (the PCNs' LSOA rows read by a run
    # of area codes); the table is the one every unit row held in one frame gives: the same
    # quantile sums and the areas simulated in the same order (one seeded stream)
    from placehealth.store import Store

    with Store(demo_db, read_only=True) as store:
        gap = store.read("prevalence_gap")
        practice = gap[gap["level"] == "practice"].rename(columns={"area_code": "practice_code"})[
            ["period", "practice_code", "group_code", "observed", "expected", "list_size"]]
        lsoa = store.table("prevalence_gap_lsoa")
        uptake = store.read("uptake")
        parts = sorted(inequality._plan(store, practice, lsoa, uptake), key=lambda p: p.index)
        frames = [p.frame if p.frame is not None else p.build(None) for p in parts]
        one_frame = inequality._concat_categorical([f for f in frames if len(f)])
        whole = inequality.inequality_measures(one_frame, repetitions=1000)
        monkeypatch.setattr(inequality, "BLOCK_ROWS", 3000)
        blocks = []
        made = inequality._unit_blocks
        monkeypatch.setattr(inequality, "_unit_blocks",
                            lambda *a: (blocks.append(len(b)) or b for b in made(*a)))
        by_blocks = inequality.inequality(store, practice, lsoa, repetitions=1000)
    assert len(blocks) > 10 and max(blocks) < len(one_frame) / 5
    pd.testing.assert_frame_equal(by_blocks, whole, check_exact=True)
