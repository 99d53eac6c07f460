"""A build with registrations, IMD and QOF but no practice -> PCN mapping builds the practice,
LSOA and council levels and says, in plain notes, what it skipped (no traceback, no Python
warnings). Real files: Pennine Lancashire registrations (April 2020, LSOA 2011), IMD 2019 scores,
QOF 2020-21 prevalence, the ONS LSOA 2011 -> local authority lookup."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from placehealth.outputs.cli import _register, app
from placehealth.sources import read_file
from placehealth.store import Store

from support import shared_file

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

FILES = ["regional_subsets/pennine_lancashire_2020/gp-reg-pat-prac-lsoa-all_pennine_2020-04.csv",
         "imd2019_lsoa11/imd2019_lsoa11_scores_mysociety.csv",
         "qof_prevalence/qof_2020-21_PREVALENCE_2021_v2.csv",
         "geography_lookups/lsoa11_to_ccg21_stp21_ltla21_lookup.csv"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    paths = [shared_file(f) for f in FILES]
    db = tmp_path_factory.mktemp("nomap") / "s.duckdb"
    with Store(db) as store:
        store.ingest([read_file(p) for p in paths])
        assert not store.has("practice_pcn")
    _register()
    result = CliRunner().invoke(app, ["build", "--db", str(db)])
    return db, result


def test_the_build_finishes_and_says_what_it_skipped(built):
    _, result = built
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "Traceback" not in result.output and "Warning:" not in result.output
    assert "note: no comparison at the pcn level: no practice -> PCN mapping" in " ".join(
        result.output.split())
    assert "note: no peers for the pcn level" in " ".join(result.output.split())


def test_the_levels_without_pcns_are_built(built):
    db, _ = built
    with Store(db, read_only=True) as store:
        tables = set(store.list_tables())
        assert {"practice_profile", "lsoa_profile", "la_profile", "prevalence_gap",
                "comparison"} <= tables
        assert "pcn_profile" not in tables
        notes = store.read("build_notes")
        said = notes.loc[notes["step"] == "compare", "note"].str.cat(sep=" | ")
        assert "no comparison at the pcn level" in said
        compared = store.read("comparison")
        assert set(compared["level"]) == {"practice"}
        # a Pennine practice compared on QOF 2020-21 (registrations of April 2020 name the units)
        p81005 = compared[(compared["unit_code"] == "P81005")
                          & (compared["indicator"] == "qof_hyp_prevalence")]
        assert len(p81005) == 1 and p81005["period"].iloc[0] == "2020-21"
