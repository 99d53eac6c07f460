"""QOF 2021-22 (registers counted at 31 March 2022) is placed in PCNs by the practice -> PCN
mapping nearest that date: the ODS ePCN list of spring 2022, not the QOF 2020-21 mapping a year
earlier, so the 214 practices that moved PCN in between count in their new PCN; the choice is
said in words."""

from __future__ import annotations

import pytest

from placehealth import levels as lv
from placehealth.indicators import units_for
from placehealth.sources import read_file
from placehealth.store import Store

from support import shared_file

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    files = ["qof_prevalence/qof_2021-22_PREVALENCE_2122_V2_inferred.csv",
             "pcn_practice_mapping/qof_2020-21_MAPPING_NHS_GEOGRAPHIES_2021.csv",
             "pcn_practice_mapping/ePCN_2022-04.xlsx"]
    paths = [shared_file(f) for f in files]
    with Store(tmp_path_factory.mktemp("mapping") / "s.duckdb") as s:
        s.ingest([read_file(p) for p in paths])
        yield s


def test_the_mapping_nearest_the_qof_year_end_is_used(store):
    assert store.periods("practice_pcn") == ["2020-21", "2022-05"]
    assert lv.nearest_period(store.periods("practice_pcn"), "2021-22") == ("2022-05", "later")
    with pytest.warns(lv.LevelWarning, match=r"2021-22: practices are placed in PCNs.* by the "
                      r"2022-05 practice -> PCN mapping, the nearest loaded"):
        members = units_for(store, "pcn", "2021-22").set_index("practice_code")["unit_code"]
    # F81031 was in U15488 in the QOF 2020-21 mapping and in U55146 in the spring 2022 ePCN
    assert members["F81031"] == "U55146"
    old = store.read("practice_pcn", period="2020-21").set_index("practice_code")["pcn_code"]
    assert old["F81031"] == "U15488"


def test_a_qof_year_with_its_own_mapping_uses_it(store):
    members = units_for(store, "pcn", "2020-21").set_index("practice_code")["unit_code"]
    assert members["F81031"] == "U15488"


@pytest.mark.parametrize(("periods", "period", "expected"), [
    (["2020-21", "2025-10"], "2021-22", ("2020-21", "earlier")),  # 12 months before, 43 after
    (["2020-21", "2022-05"], "2021-22", ("2022-05", "later")),  # 12 months before, 2 after
    (["2021-02", "2021-04"], "2021-03", ("2021-02", "earlier")),  # a tie goes to the earlier
    (["2019-20", "2023-04"], "2023-01", ("2023-04", "later")),  # no longer "earlier first"
])
def test_nearest_period_is_nearest_in_time(periods, period, expected):
    assert lv.nearest_period(periods, period) == expected
