"""The NHS commissioning region is a practice-based level like any other.

Hand-made store: practice_pcn for April and May 2024. In April practices A1, A2 are in region Y01
(East) and A3 in Y02 (West); in May A2 has moved to Y02. A4 has no region code but an ONS code
(E40000009, named 'North'), so it is in that region by its ONS code. QOF 2024-25 hypertension:
A1 10/100, A2 30/200, A3 5/50, A4 4/40.

By hand, for registrations of June 2024 (no mapping: the nearest earlier, May, is used):
Y01 = {A1}; Y02 = {A2, A3}; E40000009 = {A4}. QOF 2024-25 covers every month of the year, so the
narrowest covering mapping is the latest month, May: region Y02 hypertension prevalence is
(30 + 5) / (200 + 50) = 35 / 250 = 14%, Y01 is 10 / 100 = 10%.
"""

from __future__ import annotations

import pytest
from statsmodels.stats.proportion import proportion_confint

from placehealth import levels as lv
from placehealth.indicators import indicator_values

from support import frame, ingest

MAPPING = """
| period  | practice_code | pcn_code | pcn_name | icb_code | icb_name | region_code | region_ons_code | region_name |
| 2024-04 | A00001        | U00001   | North    | Q01      | Alpha    | Y01         | E40000001       | East        |
| 2024-04 | A00002        | U00001   | North    | Q01      | Alpha    | Y01         | E40000001       | East        |
| 2024-04 | A00003        | U00002   | South    | Q02      | Beta     | Y02         | E40000002       | West        |
| 2024-04 | A00004        | U00002   | South    | Q02      | Beta     |             | E40000009       | North       |
| 2024-05 | A00001        | U00001   | North    | Q01      | Alpha    | Y01         | E40000001       | East        |
| 2024-05 | A00002        | U00002   | South    | Q02      | Beta     | Y02         | E40000002       | West        |
| 2024-05 | A00003        | U00002   | South    | Q02      | Beta     | Y02         | E40000002       | West        |
| 2024-05 | A00004        | U00002   | South    | Q02      | Beta     |             | E40000009       | North       |
"""

QOF = """
| period  | practice_code | group_code | register | list_type | list_size |
| 2024-25 | A00001        | HYP        | 10       | TOTAL     | 100       |
| 2024-25 | A00002        | HYP        | 30       | TOTAL     | 200       |
| 2024-25 | A00003        | HYP        | 5        | TOTAL     | 50        |
| 2024-25 | A00004        | HYP        | 4        | TOTAL     | 40        |
"""

GROUPS = """
| period  | indicator_code | group_code | group_description |
| 2024-25 | HYP001         | HYP        | Hypertension      |
"""


@pytest.fixture
def regions(store):
    mapping = frame(MAPPING)
    for period, rows in mapping.groupby("period"):
        ingest(store, "practice_pcn", rows, period)
    ingest(store, "qof_prevalence", frame(QOF), "2024-25")
    ingest(store, "qof_indicators", frame(GROUPS), "2024-25")
    return store


def members(store, period):
    units = lv.practice_units(store, "region", period)
    return {code: sorted(rows["practice_code"]) for code, rows in units.groupby("unit_code")}


def test_region_is_a_practice_based_level():
    assert "region" in lv.PRACTICE_LEVELS and lv.check_level("region") == "region"


def test_region_membership_follows_the_mapping_of_the_period(regions):
    assert members(regions, "2024-04") == {"Y01": ["A00001", "A00002"], "Y02": ["A00003"],
                                           "E40000009": ["A00004"]}
    assert members(regions, "2024-05") == {"Y01": ["A00001"], "Y02": ["A00002", "A00003"],
                                           "E40000009": ["A00004"]}
    units = lv.practice_units(regions, "region", "2024-05")
    names = dict(zip(units["unit_code"], units["unit_name"], strict=True))
    assert names == {"Y01": "East", "Y02": "West", "E40000009": "North"}


def test_region_membership_falls_back_like_other_levels(regions):
    with pytest.warns(lv.LevelWarning, match="by the 2024-05 practice -> PCN mapping"):
        later = members(regions, "2024-06")
    assert later == members(regions, "2024-05")
    with pytest.warns(lv.LevelWarning, match="by the 2024-04 practice -> PCN mapping"):
        assert members(regions, "2024-01") == members(regions, "2024-04")
    (only,) = lv.membership(regions, "region", "2024-06")
    assert only.kind == "practice" and only.source_period == "2024-05"


@pytest.mark.engines
def test_region_indicator_uses_the_level(regions):
    values = indicator_values(regions, "qof_hyp_prevalence", "region", "2024-25")
    rows = values.set_index("unit_code")
    assert set(rows.index) == {"Y01", "Y02", "E40000009"}
    west = rows.loc["Y02"]
    assert (west["numerator"], west["denominator"], west["practices"]) == (35, 250, 2)
    assert west["value"] == pytest.approx(14.0)
    lower, upper = proportion_confint(35, 250, alpha=0.05, method="wilson")
    assert (west["lowercl"], west["uppercl"]) == (pytest.approx(100 * lower),
                                                 pytest.approx(100 * upper))
    assert rows.loc["Y01", "value"] == pytest.approx(10.0)
    assert west["unit_name"] == "West" and west["level"] == "region"


def test_region_without_a_mapping_says_what_to_load(store):
    with pytest.raises(LookupError, match="region level cannot be built"):
        lv.practice_units(store, "region", "2024-05")
