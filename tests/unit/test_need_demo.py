"""The demo place: the need analysis finds the under-diagnosis the generator planted
(demo-truth.json), at the practices and in the neighbourhoods where it was put."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from placehealth.analyses import need, profile
from placehealth.sources import read_file
from placehealth.sources.demo import DemoConfig, generate, read_options
from placehealth.store import Store

pytestmark = pytest.mark.slow

CONFIG = DemoConfig(seed=2026, practices=80, pcns=16, lsoas=400, las=2, patients=600_000)
CONDITIONS = ["HYP", "COPD", "DM", "CKD"]  # conditions the generator plants with full weight


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    place = generate(tmp_path_factory.mktemp("demo"), CONFIG)
    path = tmp_path_factory.mktemp("store") / "demo.duckdb"
    with Store(path) as store:
        results: list = []
        for file in place.files:  # in order: partner postcodes resolve through the lookup
            results.append(read_file(file, options=read_options(results)))
        store.ingest(results)
        profile.build(store)
        need.build(store)
    truth = json.loads(place.truth.read_text())
    year = CONFIG.qof_years[-1]
    with Store(path, read_only=True) as store:  # as the CLI's data layer opens it
        yield store, truth, year, path


def test_the_model_used_ages_deprivation_ethnicity_and_rurality(demo):
    store, _, year, _ = demo
    model = store.read("prevalence_model", period=year)["model"].iloc[0]
    for driver in ("age: registrations_age", "sex:", "deprivation:", "ethnicity:", "rurality:"):
        assert driver in model


def test_the_lsoa_gaps_made_a_condition_at_a_time_are_the_table_made_whole(demo):
    """build writes the LSOA gaps in parts (a block of conditions of a period and level each):
    the parts joined, however small, are the one frame, row for row and bit for bit."""
    store, _, _, _ = demo
    _, _, practice = need.prevalence_gaps(store)
    whole = need.lsoa_gaps(store, practice)
    parts = list(need.lsoa_gap_parts(store, practice, part_rows=1))  # one condition each
    assert len(parts) > 4 * len(CONDITIONS)
    joined = pa.concat_tables(parts).to_pandas().astype(whole.dtypes)  # codes as text
    pd.testing.assert_frame_equal(joined, whole, check_exact=True)
    written = store.table("prevalence_gap_lsoa").to_pandas()
    pd.testing.assert_frame_equal(written, whole, check_exact=True, check_dtype=False)


@pytest.mark.parametrize("group", CONDITIONS)
def test_planted_practices_record_less_than_expected(demo, group):
    store, truth, year, _ = demo
    planted = set(truth["planted"]["practice_factor"])
    assert len(planted) >= 4
    gap = store.read("prevalence_gap", level="practice", period=year, group_code=group)
    gap["planted"] = gap["area_code"].isin(planted)
    assert gap.loc[gap["planted"], "ratio"].mean() < 0.9 < gap.loc[~gap["planted"], "ratio"].mean()
    # the one flag: no more than one practice in ten without a planted gap
    assert gap.loc[~gap["planted"], "significantly_low"].mean() <= 0.10


def test_the_flag_finds_practices_missing_a_fifth_of_a_large_register(demo):
    """Calibration on the demo's planted under-diagnosis (the generator multiplies every register
    of about 8% of practices by 0.70-0.85): practices missing 20% or more of a register expected
    to hold at least 100 people are flagged at least 3 times in 4, the others rarely."""
    store, truth, year, _ = demo
    factor = truth["planted"]["practice_factor"]
    gap = store.read("prevalence_gap", level="practice", period=year)
    gap = gap[gap["group_code"].isin(CONDITIONS)]
    gap["factor"] = gap["area_code"].map(factor).fillna(1.0)
    missing_a_fifth = gap[(gap["factor"] <= 0.8) & (gap["expected"] >= 100)]
    assert len(missing_a_fifth) >= 8
    assert missing_a_fifth["significantly_low"].mean() >= 0.75
    others = gap[gap["factor"] == 1]
    assert others["significantly_low"].mean() <= 0.07
    # what the flag can see is said beside it: these gaps exceed the detectable shortfall
    assert (missing_a_fifth["detectable_shortfall"] < 0.2).mean() >= 0.75


def test_planted_neighbourhoods_have_lower_recorded_over_expected(demo):
    store, truth, year, _ = demo
    detection = truth["detection_by_lsoa"]
    planted = set(truth["planted"]["deprived_lsoas"]) | set(truth["planted"]["minority_ethnic_lsoas"])
    lsoa = store.read("prevalence_gap_lsoa", level="all", period=year, group_code="HYP")
    lsoa = lsoa[lsoa["patients"] > 200]
    inside = lsoa["lsoa_code"].isin(planted)
    assert inside.sum() >= 10
    assert lsoa.loc[inside, "ratio"].mean() < lsoa.loc[~inside, "ratio"].mean()
    truth_detection = lsoa["lsoa_code"].map(detection)
    assert np.corrcoef(lsoa["ratio"], truth_detection)[0, 1] > 0.1


def test_need_pcn_prints_worst_gaps_first_with_their_neighbourhoods(demo):
    store, _, year, path = demo
    from placehealth.outputs.cli import _register, app
    _register()
    gap = store.read("prevalence_gap", level="pcn", period=year)
    pcn = gap.sort_values("missing").iloc[-1]["area_code"]
    result = CliRunner().invoke(app, ["need", "pcn", pcn, "--db", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["pcn_code"] == pcn and data["period"] == year
    missing = [c["missing"] for c in data["conditions"] if c["missing"] is not None
               and not isinstance(c["missing"], str)]
    assert missing == sorted(missing, reverse=True)
    assert data["conditions"][0]["neighbourhoods"]
    table = CliRunner().invoke(app, ["need", "pcn", pcn, "--db", str(path)])
    assert table.exit_code == 0 and "recorded vs expected" in table.output
    # how big a gap the data can show, in words, beside the one flag
    words = " ".join(table.output.split())
    assert "under-recording of about" in words and "or more would be flagged" in words
    assert all("detectable_shortfall" in c and "significantly_low" in c for c in data["conditions"])
    bad = CliRunner().invoke(app, ["need", "pcn", "U99999", "--db", str(path)])
    assert bad.exit_code != 0 and "no PCN 'U99999'" in bad.output
