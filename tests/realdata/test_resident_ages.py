"""An age profile where no practice age file is loaded: the Census 2021 age groups of the usual
residents of the LSOAs a unit's patients live in, weighted by where they live. Real files: the
Staffordshire & Stoke-on-Trent registrations by LSOA (October 2025) and the Census 2021 six
age groups by LSOA 2021; expected values worked from the two CSVs with pandas."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from placehealth.analyses import peers, profile
from placehealth.outputs.cli import _register, app
from placehealth.sources import ReadOptions, read_file
from placehealth.store import Store

from support import shared_file

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

REGISTRATIONS = ("regional_subsets/staffordshire_stoke_2025/"
                 "gp_patients_by_practice_lsoa21_ssot_2025-10.csv")
AGES = "census2021_population/census2021_usual_residents_6_age_groups_lsoa21.csv"


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("ages") / "s.duckdb"
    with Store(path) as store:
        store.ingest([read_file(shared_file(REGISTRATIONS), None, ReadOptions(period="2025-10")),
                      read_file(shared_file(AGES))])
        assert not store.has("registrations_age")
        with pytest.warns(UserWarning, match="usual residents .* no practice age file"):
            profile.build(store)
    return path


def expected_65_plus(pcn_code: str) -> float:
    """Patients' LSOAs' share of residents aged 65+, weighted by patients, by hand."""
    reg = pd.read_csv(shared_file(REGISTRATIONS), dtype=str)
    reg = reg[reg["PCN_CODE"] == pcn_code].assign(
        patients=lambda f: f["NUMBER_OF_PATIENTS"].astype(float))
    ages = pd.read_csv(shared_file(AGES)).set_index("lsoa21_code")
    groups = [c for c in ages.columns if c.startswith("Aged ")]
    share = ages["Aged 65 years and over"] / ages[groups].sum(axis=1)
    reg = reg.assign(share=reg["LSOA_CODE"].map(share)).dropna(subset=["share"])
    return 100 * (reg["patients"] * reg["share"]).sum() / reg["patients"].sum()


def test_pcn_age_profile_from_census_groups(db):
    with Store(db, read_only=True) as store:
        pcn = store.read("pcn_profile").set_index("unit_code")
    bands = [c for c in pcn.columns if c.startswith("resident_age_")]
    assert len(bands) == 6
    assert pcn[bands].sum(axis=1).round(9).eq(100).all()
    assert pcn.loc["U05734", "resident_age_65_plus_pct"] == pytest.approx(
        expected_65_plus("U05734"), rel=1e-9)


def test_the_cli_profile_shows_the_residents_ages(db):
    _register()
    result = CliRunner().invoke(app, ["profile", "pcn", "U05734", "--db", str(db)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Ages where patients live" in text and "% aged 65 and over 15.3" in text
    as_json = CliRunner().invoke(app, ["profile", "pcn", "U05734", "--format", "json",
                                       "--db", str(db)])
    assert json.loads(as_json.stdout)["resident_age_65_plus_pct"] == pytest.approx(15.3, abs=0.05)


def test_peers_take_age_from_the_residents_and_say_so(db):
    with Store(db, read_only=True) as store:
        features = peers.practice_features(store)
    assert features["pct_65_plus"].notna().all()
    assert "Census 2021 residents" in features.attrs["sources"]["pct_65_plus"]
