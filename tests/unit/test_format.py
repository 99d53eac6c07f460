"""The one number formatter: each kind of number written one way, suppressed cells as [c]."""

import math

import pandas as pd
import pytest

from placehealth.outputs import format as fmt


def test_counts_are_whole_with_separators():
    assert fmt.count(13370) == "13,370"
    assert fmt.count(13369.6) == "13,370"
    assert fmt.count(None) == ""
    assert fmt.count(float("nan"), missing="-") == "-"


def test_percent_and_fraction_are_percentages():
    assert fmt.percent(72.8139) == "72.8%"
    assert fmt.percent(5, sign=False) == "5.0"
    assert fmt.fraction(0.1713) == "17.1%"
    assert fmt.fraction(pd.NA) == ""


def test_ratio_two_decimals():
    assert fmt.ratio(0.8749) == "0.87"
    assert fmt.ratio(1.0) == "1.00"


@pytest.mark.parametrize(("value", "text"), [(452.7, "450"), (-217, "-220"), (-0.442, "0"),
                                             (6.4, "6"), (12_345.6, "12,000"), (95.2, "95"), (0, "0")])
def test_estimates_to_two_significant_figures(value, text):
    assert fmt.estimate(value) == text


def test_significant_never_finer_than_whole():
    assert fmt.significant(0.442) == 0
    assert fmt.significant(1234.0, 3) == 1230
    assert math.isnan(fmt.significant(float("nan")))


def test_generic_numbers():
    assert fmt.number(0.0043) == "0.0043"
    assert fmt.number(27.44) == "27.4"
    assert fmt.number(1234.5) == "1,234"
    assert fmt.number(300.0) == "300"
    assert fmt.number(3) == "3"
    assert fmt.number(True) == "yes"


@pytest.mark.parametrize(("column", "kind"), [
    ("patients", "count"), ("list_size", "count"), ("core20_pct", "percent"), ("pct_rural", "percent"),
    ("pcn_share_pct", "percent"), ("uptake", "fraction"), ("ratio_lowercl", "ratio"), ("ratio", "ratio"),
    ("missing", "estimate"), ("expected", "estimate"), ("imd_score", "score"), ("value", "number"),
    ("coterminosity", "ratio"), ("people_behind", "count")])
def test_kind_of_column(column, kind):
    assert fmt.kind_of(column) == kind


def test_cell_marks_suppressed_whatever_the_value():
    assert fmt.cell(None, "patients", suppressed=True) == "[c]"
    assert fmt.cell(15, "patients", suppressed=True) == "[c]"
    assert fmt.cell("[c]", "patients") == "[c]"
    assert fmt.cell(13370.0, "patients") == "13,370"
    assert fmt.cell(0.87, kind="ratio") == "0.87"
    with pytest.raises(ValueError, match="unknown number kind"):
        fmt.cell(1.0, kind="money")


def test_text_frame_formats_by_column_and_marks_hidden_cells():
    frame = pd.DataFrame({"unit_code": ["U1", "U2"], "patients": [13370.0, None],
                          "core20_pct": [72.81, None], "missing": [452.7, -217.0],
                          "suppressed_cells": ["", "patients,core20_pct"]})
    text = fmt.text_frame(frame)
    assert text["patients"].tolist() == ["13,370", "[c]"]
    assert text["core20_pct"].tolist() == ["72.8%", "[c]"]
    assert text["missing"].tolist() == ["450", "-220"]
    assert text["unit_code"].tolist() == ["U1", "U2"]
    assert text["suppressed_cells"].tolist() == ["", "patients,core20_pct"]


@pytest.mark.parametrize(("values", "texts"), [
    ([0.82, 0.721, 0.936], ["0.820", "0.721", "0.936"]),              # typical 0.8: three decimals
    ([1.05, 1.8, 0.95], ["1.05", "1.80", "0.95"]),                    # typical 1: two
    ([0.0727, -0.3, 0.453], ["0.073", "-0.300", "0.453"]),           # typical 0.07: three
    ([3.21, 3.01, 3.4, None], ["3.21", "3.01", "3.40", ""]),
    ([41.7, 38.25, 9.0], ["41.7", "38.2", "9.0"]),                    # typical 38: one decimal
    ([1520.4, 980.0], ["1,520", "980"]),                              # whole above 100s
    ([0.0004, 0.0012], ["0.000", "0.001"]),                           # never more than 3 decimals
])
def test_a_column_of_numbers_gets_one_number_of_decimals(values, texts):
    frame = pd.DataFrame({"value": pd.Series(values, dtype="float64")})
    assert fmt.text_frame(frame)["value"].tolist() == texts


def test_named_kinds_and_whole_columns_keep_their_own_format():
    frame = pd.DataFrame({"ratio": [0.8, 1.234], "patients": [10.0, 2000.0], "rank": [1.0, 12.0],
                          "score": [2.0, 30.0]})
    text = fmt.text_frame(frame)
    assert text["ratio"].tolist() == ["0.80", "1.23"]
    assert text["patients"].tolist() == ["10", "2,000"]
    assert text["score"].tolist() == ["2", "30"]      # whole numbers stay whole
