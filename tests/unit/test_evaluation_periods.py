"""How `placehealth evaluate` reads periods and treatment options from a panel."""

from __future__ import annotations

import pandas as pd
import pytest

from placehealth.outputs.evaluation import EvaluationError, prepare, read_periods


def test_months_quarters_years_and_dates_become_equally_spaced_numbers():
    months = read_periods(pd.Series(["2023-11", "2023-12", "2024-01"]), "month")
    assert months.season_length == 12
    assert [months.index[m] for m in ("2023-11", "2023-12", "2024-01")] == [24286, 24287, 24288]
    assert months.season(months.index["2024-01"]) == 1
    quarters = read_periods(pd.Series(["2023Q4", "2024Q1", "2024-Q2"]), "quarter")
    assert quarters.season_length == 4
    assert quarters.index["2024Q1"] - quarters.index["2023Q4"] == 1
    assert quarters.index["2024-Q2"] - quarters.index["2024Q1"] == 1
    by_date = read_periods(pd.Series(["2024-01-01", "2024-04-01", "2024-07-01"]), "date")
    assert by_date.season_length == 4  # dates three months apart are quarters
    years = read_periods(pd.Series([2019, 2020, 2021]), "year")
    assert years.season_length is None and years.index[2021] == 2021
    assert years.label[2020.0] == "2020"


def test_unreadable_periods_and_two_dates_in_a_month_are_refused():
    with pytest.raises(EvaluationError, match="cannot read"):
        read_periods(pd.Series(["2024-01", "soon"]), "month")
    with pytest.raises(EvaluationError, match="same month"):
        read_periods(pd.Series(["2024-01-01", "2024-01-15"]), "day")


def test_treatment_options_give_each_unit_its_first_treated_period():
    frame = pd.DataFrame({"pcn": ["A", "A", "B", "B"], "month": ["2024-01", "2024-02"] * 2,
                          "y": [1.0, 2.0, 3.0, 4.0], "pilot": ["yes", "yes", "no", "no"],
                          "started": ["2024-02", "2024-02", "never", "never"]})
    work, periods = prepare(frame, time="month", outcome="y", unit="pcn", treated="pilot",
                            start="2024-02")
    assert work.loc[work["unit"] == "A", "first"].eq(periods.index["2024-02"]).all()
    assert work.loc[work["unit"] == "B", "first"].isna().all()
    same, _ = prepare(frame, time="month", outcome="y", unit="pcn", first_treated="started")
    pd.testing.assert_series_equal(same["first"], work["first"], check_names=False)
    with pytest.raises(EvaluationError, match="more than one first treated"):
        prepare(frame.assign(started=["2024-01", "2024-02", "", ""]), time="month", outcome="y",
                unit="pcn", first_treated="started")
    with pytest.raises(EvaluationError, match="line 4, field 'y'"):  # the header is line 1
        prepare(frame.assign(y=[1, 2, "x", 4]), time="month", outcome="y", unit="pcn")
    with pytest.raises(EvaluationError, match="no rows"):
        prepare(frame.iloc[:0], time="month", outcome="y", unit="pcn")
