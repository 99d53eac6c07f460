"""The series table: every indicator in every period at every level, plus loaded series.

Tiny store (support/tiny_practices.py): PCN U00001 = practices A00001 + A00002, hypertension
2020-21 (10 + 30) / (100 + 200); England all five practices, 52 / 500. Loaded series are
worked out by hand below.
"""

from __future__ import annotations

import pandas as pd
import pytest

from placehealth.analyses.series import build
from placehealth.sources import ReadOptions, read_file
from placehealth.sources.validate import InputError

from support.tiny_practices import tiny_store


def _series(store) -> pd.DataFrame:
    build(store)
    return store.read("series").set_index(["level", "unit_code", "indicator", "period"])


def test_every_indicator_level_and_period_from_the_one_computation(store):
    series = _series(tiny_store(store))
    pcn = series.loc[("pcn", "U00001", "qof_hyp_prevalence", "2020-21")]
    assert (pcn["numerator"], pcn["denominator"]) == (40, 300)
    assert pcn["value"] == pytest.approx(100 * 40 / 300) and pcn["source"] == "computed"
    england = series.loc[("england", "E92000001", "qof_hyp_prevalence", "2020-21")]
    assert (england["numerator"], england["denominator"]) == (52, 500)
    levels = set(series.index.get_level_values("level"))
    assert {"practice", "pcn", "icb", "region", "england"} <= levels


def _write(tmp_path, text: str, name: str = "local.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_local_series_loads_with_counts_or_values_and_joins_the_series(store, tmp_path):
    path = _write(tmp_path, "unit_code,period,indicator,numerator,denominator,value\n"
                            "U00001,2023 Q1,smoking_quits,30,120,\n"
                            "U00001,2023Q2,smoking_quits,45,150,\n"
                            "U00002,2023-Q1,smoking_quits,,,12.5\n")
    result = read_file(path, "series", ReadOptions())
    rows = result.tables["series_input"].set_index(["unit_code", "period"])
    assert list(rows.loc[("U00001", "2023Q1"), ["numerator", "denominator", "value"]]) == [30, 120, 25]
    assert rows.loc[("U00002", "2023Q1"), "value"] == 12.5
    assert set(rows["level"]) == {"pcn"}
    store.ingest([result])
    series = _series(tiny_store(store))
    assert series.loc[("pcn", "U00001", "smoking_quits", "2023Q2"), "value"] == pytest.approx(30)
    assert series.loc[("pcn", "U00001", "smoking_quits", "2023Q2"), "source"] == "loaded"


@pytest.mark.parametrize("text, line, field", [
    ("unit_code,period,indicator,value\nU00001,2023Q1,x,1\nU00001,2023-04,x,2\n", 3, "period"),
    ("unit_code,period,indicator,value\nU00001,spring,x,1\n", 2, "period"),
    ("unit_code,period,indicator,numerator,denominator\nU00001,2023Q1,x,9,5\n", 2, "numerator"),
    ("unit_code,period,indicator,value\nU00001,2023Q1,x,1\nU00001,2023Q1,x,2\n", 3, "period"),
    ("unit_code,period,indicator,value\nZZ,2023Q1,x,1\n", 2, "unit_code"),
    ("unit_code,period,indicator,value\nU00001,2023Q1,Bad Name,1\n", 2, "indicator"),
    ("unit_code,period,indicator,value\nU00001,2023Q1,x,lots\n", 2, "value"),
])
def test_bad_series_rows_are_named_by_line_and_field(tmp_path, text, line, field):
    with pytest.raises(InputError) as caught:
        read_file(_write(tmp_path, text), "series", ReadOptions())
    assert (caught.value.line, caught.value.field) == (line, field)


def test_cover_quarterly_long_form_becomes_calendar_quarters(tmp_path):
    path = _write(tmp_path, "financial_year,quarter,cohort,utla_ons_code,utla_name,"
                            "column_label_raw,vaccine,coverage_pct,denominator,vaccine_std\n"
                            "2014/15,1,24m,E06000001,Hartlepool,24m MMR1 %,MMR1,91.2,284,MMR1\n"
                            "2014/15,4,24m,E06000001,Hartlepool,24m MMR1 %,MMR1,89.6,231,MMR1\n"
                            "2014/15,4,24m,E06000002,Middlesbrough,24m MMR1 %,MMR1,N/A,300,MMR1\n",
                  "cover.csv")
    result = read_file(path, None, ReadOptions())
    rows = result.tables["series_input"]
    assert result.kind == "cover-quarterly"
    # April-June 2014 is calendar 2014Q2; January-March 2015 is 2015Q1; 91.2% of 284 = 259.0
    assert list(rows["period"]) == ["2014Q2", "2015Q1"]
    assert list(rows["numerator"]) == [259, 207] and set(rows["indicator"]) == {"cover_mmr1_24m"}
    assert any("without a published coverage" in w for w in result.warnings)
