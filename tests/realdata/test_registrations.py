"""Real files of NHS England's Patients Registered at a GP Practice, read and stored."""

from __future__ import annotations

import pytest

from placehealth.sources import ReadOptions, read_file

from support import shared_file

pytestmark = pytest.mark.realdata

PENNINE = "regional_subsets/pennine_lancashire_2020/"
SSOT = "regional_subsets/staffordshire_stoke_2025/"


def test_pennine_april_2020_practice_by_lsoa_keeps_unknown_lsoas(store):
    result = read_file(shared_file(PENNINE + "gp-reg-pat-prac-lsoa-all_pennine_2020-04.csv"))
    frame = result.tables["registrations_lsoa"]
    assert result.kind == "gp-reg-lsoa" and result.period == "2020-04"
    assert len(frame) == 8640
    assert int(frame["patients"].sum()) == 589_463
    unknown = frame[~frame["lsoa_known"]]
    assert set(unknown["lsoa_code"]) == {"NO2011"} and len(unknown) == 36
    assert set(frame["lsoa_vintage"]) == {2011}
    store.ingest([result])
    assert int(store.table("registrations_lsoa").patients.sum().execute()) == 589_463


def test_staffordshire_october_2025_needs_a_period_and_gives_pcns(store):
    path = shared_file(SSOT + "gp_patients_by_practice_lsoa21_ssot_2025-10.csv")
    result = read_file(path, options=ReadOptions(period="2025-10"))
    frame = result.tables["registrations_lsoa"]
    assert int(frame["patients"].sum()) == 1_210_283
    assert frame["practice_code"].nunique() == 141
    assert set(frame["lsoa_vintage"]) == {2021}
    pcns = result.tables["practice_pcn"]
    assert len(pcns) == 141 and pcns["pcn_code"].nunique() == 25


def test_single_year_of_age_file_by_sex(store):
    result = read_file(shared_file(PENNINE + "gp-reg-pat-prac-sing-age_pennine_2020.csv"),
                       options=ReadOptions(period="2020-04"))
    ages = result.tables["registrations_age"]
    assert ages["practice_code"].nunique() == 73
    assert set(ages["sex"]) == {"MALE", "FEMALE"}
    top = ages[ages["age_from"] == 95]
    assert top["age_to"].isna().all()


def test_national_practice_totals_january_2021():
    result = read_file(shared_file("gp_registrations/gp-reg-pat-prac-all_2021-01.csv"))
    assert result.kind == "gp-reg-all" and result.period == "2021-01"
    totals = result.tables["registrations_total"]
    assert len(totals) == 6658
    assert 60.0e6 < totals["patients"].sum() < 61.0e6


def test_mapping_october_2025():
    result = read_file(shared_file("pcn_practice_mapping/gp-reg-pat-prac-map_2025-10.csv"))
    mapping = result.tables["practice_pcn"]
    assert result.period == "2025-10" and len(mapping) == 6202
    assert mapping.loc[mapping.pcn_code != "U", "pcn_code"].nunique() == 1297
    assert mapping["icb_code"].nunique() == 42
