"""Patients Registered at a GP Practice: single-year-of-age rows in the CODE layout of
gp-reg-pat-prac-all (PUBLICATION, EXTRACT_DATE, TYPE, CCG_CODE, ONS_CCG_CODE, CODE, POSTCODE,
SEX, AGE, NUMBER_OF_PATIENTS) are registrations by age, not refused as practice totals.

The rows are real: the Pennine Lancashire single-year-of-age extract (spring 2020) written in the
layout of the national January 2021 file, whose header is read from the real file.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from placehealth.sources import read_file
from placehealth.store import Store

from support import shared_file

pytestmark = pytest.mark.realdata

SING_AGE = "regional_subsets/pennine_lancashire_2020/gp-reg-pat-prac-sing-age_pennine_2020.csv"
ALL_FILE = "gp_registrations/gp-reg-pat-prac-all_2021-01.csv"


def code_layout(tmp_path: Path, *, with_totals: bool) -> tuple[Path, pd.DataFrame]:
    """The Pennine ages in the gp-reg-pat-prac-all header; with each practice's ALL/ALL row."""
    header = next(csv.reader(shared_file(ALL_FILE).open(encoding="utf-8-sig")))
    ages = pd.read_csv(shared_file(SING_AGE), dtype={"AGE": str})
    rows = []
    for r in ages.itertuples(index=False):
        rows.append(["GP_PRAC_PAT_LIST", "01APR2020", "GP", "00Q", "E38000014", r.ORG_CODE,
                     "BB1 1AA", r.SEX, r.AGE, r.NUMBER_OF_PATIENTS])
    if with_totals:
        for code, total in ages.groupby("ORG_CODE")["NUMBER_OF_PATIENTS"].sum().items():
            rows.append(["GP_PRAC_PAT_LIST", "01APR2020", "GP", "00Q", "E38000014", code,
                         "BB1 1AA", "ALL", "ALL", total])
    path = tmp_path / "gp-reg-pat-prac-sing-age-regions.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path, ages


@pytest.mark.parametrize("with_totals", [False, True])
def test_single_years_in_the_code_layout_are_read_by_age(tmp_path, with_totals):
    path, ages = code_layout(tmp_path, with_totals=with_totals)
    result = read_file(path)
    assert result.kind == "gp-reg-age" and result.period == "2020-04"
    by_age = result.tables["registrations_age"]
    assert len(by_age) == len(ages) == 14_016
    assert by_age["patients"].sum() == ages["NUMBER_OF_PATIENTS"].sum()
    p81005 = by_age[(by_age["practice_code"] == "P81005") & (by_age["sex"] == "MALE")]
    assert p81005.set_index("age_from").loc[0, "patients"] == 65  # as in the source file
    assert (by_age["age_to"].isna() == (by_age["age_from"] == 95)).all()  # 95+ is open
    if with_totals:
        totals = result.tables["registrations_total"].set_index("practice_code")["patients"]
        assert totals.to_dict() == ages.groupby("ORG_CODE")["NUMBER_OF_PATIENTS"].sum().to_dict()
    else:
        assert "registrations_total" not in result.tables


def test_the_national_totals_file_is_still_read_as_totals(tmp_path):
    result = read_file(shared_file(ALL_FILE))
    assert result.kind == "gp-reg-all"
    assert len(result.tables["registrations_total"]) == 6_658
    with Store(tmp_path / "s.duckdb") as store:
        store.ingest([result])
        assert store.read("registrations_total")["patients"].sum() == pytest.approx(60.6e6, rel=0.01)
