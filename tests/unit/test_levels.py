"""The level registry is complete and consistent: each level says how its membership is found,
and every analysis reads its level list from it."""

from __future__ import annotations

import pytest

from placehealth import levels as lv
from placehealth.analyses import compare, peers, profile
from placehealth.indicators import PRACTICE_LEVELS
from placehealth.outputs.disclosure import PROFILE_TABLES
from placehealth.outputs.queries import PROFILE_OF


@pytest.mark.parametrize("name", list(lv.REGISTRY))
def test_every_level_says_where_its_members_come_from(name):
    level = lv.get(name)
    assert level.name == name and level.title
    assert level.analyses <= set(lv.ANALYSES)
    if level.kind == lv.PRACTICE:
        codes, name_column = level.mapping
        assert codes and name_column  # practice_pcn columns
    elif level.kind == lv.PLACE and name != "lsoa":
        assert level.lookup  # a geography_lookup level
    elif level.kind == lv.ALL:
        assert level.unit and len(level.unit) == 2
    else:
        assert level.kind in (lv.GROUP, lv.PLACE)


def test_every_analysis_takes_its_levels_from_the_registry():
    assert set(profile.PROFILE_TABLES) == set(lv.levels_for("profile"))
    assert lv.profile_tables() == PROFILE_OF
    assert set(PROFILE_TABLES) == set(lv.profile_tables().values())
    assert tuple(compare.LEVELS) == tuple(peers.LEVELS) == lv.levels_for("compare")
    assert lv.levels_for("indicators") == PRACTICE_LEVELS
    # indicators are sums of practice rows: only practice-based levels, England and groups
    assert all(lv.get(n).kind in (lv.PRACTICE, lv.ALL, lv.GROUP) for n in PRACTICE_LEVELS)
    for analysis in lv.ANALYSES:
        assert lv.levels_for(analysis), analysis


def test_unknown_levels_and_analyses_are_named():
    with pytest.raises(ValueError, match=r"unknown level 'county'.*utla"):
        lv.get("county")
    with pytest.raises(ValueError, match="unknown analysis 'maps'"):
        lv.levels_for("maps")
    assert lv.levels_for("uptake", lv.PLACE) == ("la", "utla")
    assert lv.get("group").code_column == "group_name"
    assert lv.get("pcn").profile_table == "pcn_profile"
    assert lv.get("england").profile_table is None  # England has no profile of its own
