"""The demo's patient-level extract: seeded, chunked, and consistent with the demo place."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from placehealth.sources.demo import DemoConfig, generate

CONFIG = dict(practices=8, pcns=2, lsoas=30, las=1, patients=40_000, months=1)


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    place = generate(tmp_path_factory.mktemp("a"), DemoConfig(**CONFIG, patients_level=30_000,
                                                              patients_chunk=8_000))
    return place, pq.read_table(place.patients_file)


def test_same_seed_same_rows_written_in_chunks(extract, tmp_path):
    place, rows = extract
    assert rows.num_rows == 30_000
    assert pq.ParquetFile(place.patients_file).num_row_groups == 4  # 8,000 people a chunk
    again = generate(tmp_path / "b", DemoConfig(**CONFIG, patients_level=30_000,
                                                patients_chunk=8_000))
    assert pq.read_table(again.patients_file).equals(rows)
    other = generate(tmp_path / "c", DemoConfig(**CONFIG, seed=7, patients_level=30_000,
                                                patients_chunk=8_000))
    assert not pq.read_table(other.patients_file).equals(rows)
    assert len(rows.column("person_id").unique()) == rows.num_rows


def test_people_come_from_the_demo_place(extract):
    place, rows = extract
    frame = rows.to_pandas()
    truth = json.loads(place.truth.read_text())
    lsoas = set(truth["lsoa_deprivation_z"])
    practices = set(truth["practice_recorded_over_true"]["HYP"])
    assert set(frame["practice_code"]) == practices
    known = frame["lsoa_code"] != "NO2021"
    assert set(frame.loc[known, "lsoa_code"]) <= lsoas and known.mean() > 0.95
    assert frame["sex"].isin(["M", "F"]).all() and 0.45 < (frame["sex"] == "F").mean() < 0.55
    assert frame["age"].between(0, 105).all() and 35 < frame["age"].mean() < 45


def test_prevalence_rises_with_age_and_deprivation(extract):
    place, rows = extract
    frame = rows.to_pandas()
    z = pd.Series(json.loads(place.truth.read_text())["lsoa_deprivation_z"])
    frame = frame[frame["lsoa_code"].isin(z.index) & (frame["age"] >= 40)]
    deprived = frame["lsoa_code"].map(z) > z.quantile(0.7)
    copd = frame["copd_date"].notna()
    assert copd[deprived].mean() > 1.3 * copd[~deprived].mean()
    hyp = frame["hyp_date"].notna()
    assert hyp[frame["age"] >= 70].mean() > 2 * hyp[frame["age"] < 55].mean()
    # dates on or before the extract, never before birth
    for column in ("hyp_date", "flu_vaccination_date", "mmr1_date"):
        dates = pd.to_datetime(frame[column]).dropna()
        assert len(dates) and (dates <= pd.Timestamp("2025-10-31")).all(), column
