"""The sentence beside every need table: how big a gap the data could show."""

from __future__ import annotations

from placehealth.outputs.sections import detectable_sentence


def test_the_range_over_conditions_names_the_smallest_and_largest():
    rows = [{"condition": "Hypertension", "detectable_shortfall": 0.14},
            {"condition": "Osteoporosis", "detectable_shortfall": 0.68},
            {"condition": "Asthma", "detectable_shortfall": 0.2}]
    assert detectable_sentence(rows) == (
        "With this list size, under-recording of about 14% (Hypertension) to 68% (Osteoporosis) "
        "or more would be flagged; smaller gaps cannot be told apart from the usual variation.")


def test_one_figure_when_they_agree_and_the_latest_year_only():
    rows = [{"group_code": "HYP", "period": "2021-22", "detectable_shortfall": 0.12},
            {"group_code": "DM", "period": "2021-22", "detectable_shortfall": 0.121},
            {"group_code": "HYP", "period": "2020-21", "detectable_shortfall": 0.5}]
    assert detectable_sentence(rows).startswith("With this list size, under-recording of about 12% "
                                                "or more would be flagged")


def test_nothing_said_without_a_figure():
    assert detectable_sentence([]) is None
    assert detectable_sentence([{"group_code": "OST", "detectable_shortfall": None},
                                {"group_code": "PC", "detectable_shortfall": "[c]"}]) is None
