"""The intervention page and API ("Did it work?") and the SPC section of PCN pages, on the demo's
series (support/tiny_series.py: `bp-outreach` planted +4 points, `leaflet-drop` nothing)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from placehealth.outputs import impact
from placehealth.outputs.queries import Data
from placehealth.outputs.web.app import create_app

from support.tiny_series import series_store


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    db, truth = series_store(tmp_path_factory.mktemp("intervention-pages"))
    return db, truth


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_intervention_page_answers_in_words_with_its_chart_and_checks(place):
    db, truth = place
    client = TestClient(create_app(db))
    page = client.get("/intervention/bp-outreach")
    assert page.status_code == 200
    text = _text(page.text)
    assert "Did it work?" in text and "it worked" in text and truth["bp-outreach"]["unit"] in text
    assert "Checks: should we believe it?" in text and "placebo in space" in text
    assert "pre-trend" in text and "counterfactual" in page.text  # the observed/counterfactual chart
    null = _text(client.get("/intervention/leaflet-drop").text)
    assert "no clear effect" in null
    assert client.get("/intervention/nope").status_code == 404


def test_the_api_carries_the_answer_and_the_counterfactual_with_its_band(place):
    db, truth = place
    client = TestClient(create_app(db))
    got = client.get("/api/intervention/bp-outreach").json()
    answer = got["answer"]
    assert answer["lower"] <= truth["bp-outreach"]["planted_effect"] <= answer["upper"]
    points = got["its"]["series"][0]["points"]
    after = [p for p in points if p["post"]]
    assert after and all(p["counterfactual_lower"] < p["counterfactual"] < p["counterfactual_upper"]
                         for p in after)
    assert client.get("/api/intervention/nope").status_code == 404


def test_pcn_spc_rows_and_chart_recalculate_at_a_registered_start(place):
    db, truth = place
    unit = SimpleNamespace(data=Data(db), code=truth["bp-outreach"]["unit"],
                           indicator="demo_bp_controlled")
    rows = impact.spc_rows(unit)
    assert list(rows["indicator"]) == ["demo_bp_controlled"] and rows["points"].iloc[0] == 26
    assert rows["lower"].iloc[0] < rows["centre"].iloc[0] < rows["upper"].iloc[0]
    chart = impact.spc_chart(rows, unit)
    values = next(iter(chart["datasets"].values()))
    assert {v["phase"] for v in values} == {0, 1}  # new limits from the intervention's start
    other = SimpleNamespace(data=Data(db), code="U90001", indicator=None)
    assert {v["phase"] for v in next(iter(impact.spc_chart(None, other)["datasets"].values()))} == {0}


def test_a_pcn_lists_the_interventions_registered_there_with_their_pages(place):
    db, truth = place
    unit = SimpleNamespace(data=Data(db), code=truth["leaflet-drop"]["unit"])
    rows = impact.pcn_interventions(unit)
    assert list(rows["name"]) == ["leaflet-drop"]
    assert list(rows["page"]) == ["/intervention/leaflet-drop"]
    assert impact.pcn_interventions(SimpleNamespace(data=Data(db), code="U90001")).empty
