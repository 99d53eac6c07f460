"""Targeting on the PCN and council pages, their JSON and the PCN report: reach, unreached
high-need neighbourhoods, partners (never their contacts) and fair shares, on the tiny place."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from placehealth.outputs.queries import Data
from placehealth.outputs.reports import pcn_report_html
from placehealth.outputs.web.app import create_app

from support.tiny_place import L3
from support.tiny_targeting import SECRET, build_targeting


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_targeting(tmp_path_factory.mktemp("target"))


def test_council_page_shows_reach_unreached_partners_and_shares(tiny):
    from placehealth.outputs import views
    data = Data(tiny, policy="nhs_england")  # zeros shown (opensafely hides Beta's zero need,
    # and with it, by complementary suppression, Alpha's)
    # Alpha: LSOA1 (Core20, decile 1: its patients are the need, no QOF being loaded) at
    # 400000 E and LSOA2 at 401000 E; the community centre stands 100 m from LSOA1
    alpha = views.unit_view(data, "la", "E06000001")["sections"]["reach"].frame
    centres = alpha.set_index("kind_title").loc["Community centres"]
    assert (centres["lsoas"], centres["high_need_lsoas"], centres["need_reached_pct"]) == (2, 1, 100)
    view = views.unit_view(data, "la", "E06000002")   # Beta: LSOA3 only, 3 km from the pharmacy
    built = view["sections"]
    pharmacies = built["reach"].frame.set_index("kind_title").loc["Pharmacies"]
    assert (pharmacies["lsoas"], pharmacies["high_need_lsoas"]) == (1, 0)
    distance = data.rows("reach_lsoa", latest=False, lsoa_code=L3, kind="pharmacy")["distance_m"]
    assert distance.tolist() == [3000]
    assert list(built["partners"].frame["name"]) == ["Corner Pharmacy"]
    assert built["partners"].chart is not None
    shares_frame = built["fair_shares"].frame
    assert set(shares_frame["unit_code"]) == {"U00002", "U00003"}   # the PCNs serving Beta


def test_pcn_page_json_and_report_never_carry_a_contact(tiny):
    client = TestClient(create_app(tiny))
    page = client.get("/pcn/U00001")
    assert page.status_code == 200 and "Targeting: need within reach of partners" in page.text
    assert "Hope Centre" in page.text and SECRET not in page.text
    api = client.get("/api/pcn/U00001").json()
    assert "reach" in api["sections"] and SECRET not in str(api)
    partners = client.get("/api/tables/partners").json()
    assert SECRET not in str(partners)
    report = pcn_report_html(Data(tiny), "U00001")
    assert "Targeting: fair shares" in report and SECRET not in report


def test_targeting_pages_and_their_api(tiny):
    client = TestClient(create_app(tiny))
    for url in ("/target/pcn/U00001", "/target/la/E06000001"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert "Targeting: need within reach of partners" in page.text
        assert "Neighbourhoods where patients live" not in page.text   # only targeting sections
        assert SECRET not in page.text
    api = client.get("/api/target/la/E06000001").json()
    assert set(api["sections"]) == {"reach", "unreached", "partners", "fair_shares"}
    assert client.get("/target/pcn/U99999").status_code == 404
    assert client.get("/target/pcn/u00001", follow_redirects=False).status_code == 308


def test_pcn_and_council_pages_link_to_their_targeting_pages(tiny):
    client = TestClient(create_app(tiny))
    assert 'href="/target/pcn/U00001"' in client.get("/pcn/U00001").text
    assert 'href="/target/la/E06000001"' in client.get("/la/E06000001").text
    assert 'href="/target/la/E06000001"' not in client.get("/target/la/E06000001").text
    assert "/target/pcn/" not in pcn_report_html(Data(tiny), "U00001")   # reports stand alone
