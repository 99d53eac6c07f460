"""Core20PLUS5 cohorts leave only as protected counts, and their percentages as the rounded
counts give them (an exact percentage beside a rounded count would give the count back)."""

from __future__ import annotations

import pandas as pd
import pytest

from placehealth.analyses.cohorts import COLUMNS, finish
from placehealth.outputs.disclosure import SUPPRESSED, protect


def cohort_rows() -> pd.DataFrame:
    counts = pd.DataFrame({
        "period": "2025-10", "level": "practice", "unit_code": ["A00001", "A00002", "A00003"],
        "unit_name": ["One", "Two", "Three"], "clinical_area": "hypertension",
        "cohort": "on the hypertension register",
        "core20_denominator": [72, 300, 51], "core20_numerator": [33, 5, 12],
        "rest_denominator": [696, 900, 400], "rest_numerator": [421, 120, 60]})
    return finish(counts)


def test_percentages_follow_the_rounded_counts():
    rows = cohort_rows()
    assert list(rows.columns) == COLUMNS
    assert rows.loc[0, "core20_pct"] == pytest.approx(33 / 72 * 100)
    out = protect(rows, "core20plus5_cohorts", "opensafely").set_index("unit_code")
    one = out.loc["A00001"]
    assert (one["core20_numerator"], one["core20_denominator"]) == (35, 70)  # nearest 5
    assert one["core20_pct"] == pytest.approx(35 / 70 * 100)  # not 45.83: 33 of 72 is not shown
    assert one["rest_pct"] == pytest.approx(420 / 695 * 100)
    assert one["core20_share_pct"] == pytest.approx(70 / 770 * 100)  # of 768 eligible, rounded
    two = out.loc["A00002"]
    assert pd.isna(two["core20_numerator"]) and pd.isna(two["core20_pct"])  # 5 people: hidden
    assert "core20_numerator" in two[SUPPRESSED] and "core20_pct" in two[SUPPRESSED]
    three = out.loc["A00003"]  # hidden too, so the PCN's total cannot give Two's back
    assert pd.isna(three["core20_numerator"]) and pd.isna(three["core20_pct"])
