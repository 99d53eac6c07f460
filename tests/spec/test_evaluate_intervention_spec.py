"""`evaluate intervention` on the demo's series: the planted effects are found where they are
and not where they are not.

The demo's quarterly PCN indicator (sources/demo/series.py: seasonality, AR(1) noise, binomial
counts) is generated for 30 PCNs with the demo's own random stream, written in its files, read
by the readers and built into `series`; `bp-outreach` adds 4 points from 2023Q1, `leaflet-drop`
nothing. The evaluation reads the protected series through the data layer, as every output does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from placehealth.outputs.impact import InterventionError, evaluate_intervention
from placehealth.outputs.queries import Data
from placehealth.store import Store

from support.tiny_series import series_store


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    db, truth = series_store(tmp_path_factory.mktemp("evaluate-intervention"))
    return Data(db), truth


def test_the_working_intervention_is_found_with_the_planted_effect_in_its_interval(place):
    data, truth = place
    planted = truth["bp-outreach"]
    result = evaluate_intervention(data, "bp-outreach", draws=199)
    answer = result["answer"]
    assert answer["lower"] <= planted["planted_effect"] <= answer["upper"]
    assert answer["lower"] > 0 and answer["clear"] and answer["intended"]
    assert "it worked" in answer["words"] and planted["unit"] in answer["words"]
    its = result["its"]["level_change"]
    assert its["lower"] <= planted["planted_effect"] <= its["upper"] and its["lower"] > 0
    # SPC limits are recalculated at the start: two phases, the second from 2023Q1
    points = result["spc"]["series"][0]["points"]
    assert {p["phase"] for p in points} == {0, 1}
    assert next(p for p in points if p["phase"] == 1)["period"] == planted["start"]


def test_the_null_intervention_is_not_called_an_effect(place):
    data, truth = place
    result = evaluate_intervention(data, "leaflet-drop", draws=199)
    answer = result["answer"]
    assert truth["leaflet-drop"]["planted_effect"] == 0
    assert answer["lower"] <= 0 <= answer["upper"] and not answer["clear"]
    assert "no clear effect" in answer["words"]
    assert result["did"]["lower"] <= 0 <= result["did"]["upper"]


def test_comparators_leave_out_units_of_another_intervention_on_the_indicator(place):
    data, truth = place
    result = evaluate_intervention(data, "bp-outreach", draws=199)
    other = truth["leaflet-drop"]["unit"]
    assert result["excluded"] == [other] and other not in result["comparators"]
    assert other not in {w["unit"] for u in result["synth"]["units"] for w in u["weights"]}
    # no peers table here: comparators are matched on the pre-period, never the treated unit
    assert "before the start" in result["comparators_chosen_by"]
    assert truth["bp-outreach"]["unit"] not in result["comparators"]


def test_echoed_values_are_the_protected_series(place):
    data, truth = place
    result = evaluate_intervention(data, "bp-outreach", draws=199)
    unit = truth["bp-outreach"]["unit"]
    shown = data.rows("series", latest=False, unit_code=unit).set_index("period")["value"]
    raw = pd.Series({p["period"]: p["value"] for p in result["spc"]["series"][0]["points"]})
    assert np.allclose(raw.sort_index(), shown.reindex(raw.index).sort_index())
    with Store(data.location, read_only=True) as store:  # the unprotected values differ (rounding)
        stored = store.read("series", unit_code=unit).set_index("period")["value"]
    assert not np.allclose(raw.sort_index(), stored.reindex(raw.index).sort_index())


def test_unknown_names_and_indicators_are_said_plainly(place):
    data, _ = place
    with pytest.raises(InterventionError, match="recorded: bp-outreach, leaflet-drop"):
        evaluate_intervention(data, "nope")
    with pytest.raises(InterventionError, match="aims at demo_bp_controlled"):
        evaluate_intervention(data, "bp-outreach", "qof_hyp_prevalence")


def test_the_command_prints_the_answer_as_json_csv_and_text(place, tmp_path):
    import json

    from typer.testing import CliRunner

    from placehealth.outputs.cli import _register, app

    _register()
    db = str(place[0].location)
    got = CliRunner().invoke(app, ["evaluate", "intervention", "bp-outreach", "--db", db,
                                   "--format", "json", "--draws", "199"])
    assert got.exit_code == 0, got.stderr
    result = json.loads(got.stdout)
    assert result["answer"]["clear"] and result["intervention"]["start"] == "2023Q1"
    out = tmp_path / "bp.csv"
    got = CliRunner().invoke(app, ["evaluate", "intervention", "bp-outreach", "--db", db,
                                   "--format", "csv", "--out", str(out), "--draws", "199"])
    assert got.exit_code == 0 and out.read_text().startswith("method,estimate,lower,upper")
    got = CliRunner().invoke(app, ["evaluate", "intervention", "nope", "--db", db])
    assert got.exit_code == 2 and "no intervention 'nope'" in got.stderr


def test_a_unit_missing_a_period_is_left_out_so_the_panel_is_balanced(tmp_path):
    db, truth = series_store(tmp_path)
    with Store(db) as store:  # a comparator loses a quarter, as real council series do
        store.con.raw_sql("DELETE FROM series WHERE unit_code = 'U90001' AND period = '2020Q1'")
    result = evaluate_intervention(Data(db), "bp-outreach", draws=99)
    assert result["incomplete"] == ["U90001"] and result["periods"] == 26
    assert "U90001" not in result["comparators"]
    assert result["answer"]["lower"] <= truth["bp-outreach"]["planted_effect"] <= result["answer"]["upper"]
