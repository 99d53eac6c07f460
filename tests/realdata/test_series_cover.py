"""Real data: the COVER quarterly tables by upper-tier council (uptake_series/, PROVENANCE.md
section 14) loaded into the store, built into `series`, and a pretend intervention registered at
Stoke-on-Trent (there was none): the evaluation answers from the store, and a placebo is not
called an effect."""

from __future__ import annotations

import pytest

from placehealth.analyses.series import build
from placehealth.outputs.impact import evaluate_intervention
from placehealth.outputs.queries import Data
from placehealth.sources import ReadOptions, read_file
from placehealth.sources.base import ReadResult
from placehealth.sources.interventions import entries
from placehealth.store import Store

from support import shared_file

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

COVER = "uptake_series/cover_utla_quarterly_long_2014q1_2025q4.csv.gz"


@pytest.fixture(scope="module")
def cover(tmp_path_factory):
    path = shared_file(COVER)
    db = tmp_path_factory.mktemp("cover") / "cover.duckdb"
    register = entries([{"name": "stoke-mmr-pretend", "level": "utla", "unit_codes": "E06000021",
                         "start": "2019Q2", "indicators": "cover_mmr1_24m:up"}])
    with Store(db) as store:
        store.ingest([read_file(path, None, ReadOptions()),
                      ReadResult("interventions", "test", "-", {"interventions": register},
                                 file_name="register", sha256="pretend")])
        build(store)
    return Data(db)


def test_the_quarterly_tables_become_series_by_council_and_quarter(cover):
    rows = cover.rows("series", latest=False, indicator="cover_mmr1_24m", level="utla")
    # 2014/15 Q1 (April-June 2014) is the first quarter; Hartlepool 24m MMR1 91.2% of 284
    assert rows["period"].min() == "2014Q2" and rows["unit_code"].nunique() > 140
    hartlepool = rows[(rows["unit_code"] == "E06000001") & (rows["period"] == "2014Q2")].iloc[0]
    assert hartlepool["value"] == pytest.approx(91.2, abs=0.5)  # rescaled to rounded counts


def test_a_pretend_intervention_on_real_series_is_not_called_an_effect(cover):
    result = evaluate_intervention(cover, "stoke-mmr-pretend", draws=199)
    answer = result["answer"]
    assert answer["estimate"] is not None and not answer["clear"]
    assert answer["lower"] <= 0 <= answer["upper"] and result["periods"] > 30
    assert result["its"]["series"][0]["unit"] == "E06000021"
