"""Every page in a real browser: charts and maps drawn, no console errors, no serious
accessibility violations (axe-core), and a click-through from home to a report opened offline."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from placehealth.outputs.web.assets import VENDOR

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _codes(server: str) -> dict[str, str]:
    def get(path: str) -> dict:
        with urllib.request.urlopen(server + path) as response:
            return json.loads(response.read())
    pcn = get("/api/tables/pcn_profile?limit=1&sort=unit_code")["rows"][0]["unit_code"]
    view = get(f"/api/pcn/{pcn}")
    lsoa = view["sections"]["neighbourhoods"]["rows"][0]["lsoa_code"]
    practice = view["sections"]["practices"]["rows"][0]["unit_code"]
    la = get("/api/tables/la_profile?limit=1")["rows"][0]["unit_code"]
    return {"pcn": pcn, "lsoa": lsoa, "practice": practice, "la": la}


def _check_drawn(page, name: str, maps: int = 1) -> None:
    """Every chart drawn (the page's own ``data-drawn`` flag) and, with ``maps``, its map's
    areas. Pages fetch nothing after ``load`` (charts and maps are drawn from data inside the
    page), so the test waits for the drawing itself, naming any request still open if it
    does not come."""
    page.wait_for_load_state("load")
    charts = page.locator("[data-chart]")
    for i in range(charts.count()):
        chart = charts.nth(i)
        chart.wait_for(state="attached")
        try:
            page.wait_for_function("el => el.getAttribute('data-drawn') === 'true'",
                                   arg=chart.element_handle(), timeout=30000)
        except PlaywrightTimeout:
            pytest.fail(f"{name}: chart {i} not drawn in 30 s; requests still open: "
                        f"{sorted(page.pending)}; console: {page.console_errors}")
        marks = chart.locator("svg path, svg rect, svg line, svg circle").count()
        assert marks > 5, f"{name}: chart {i} drew nothing"
    if maps:
        page.wait_for_selector(".leaflet-interactive", state="attached")
        assert page.locator(".leaflet-interactive").count() > 0, f"{name}: the map drew no areas"
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert page.console_errors == [], f"{name}: console errors {page.console_errors}"
    assert page.evaluate("window.cspViolations") == [], f"{name}: CSP violations"


def _axe(page, name: str) -> None:
    if page.url.startswith("http"):   # the CSP allows this site's scripts, not inline ones
        page.add_script_tag(url="/static/vendor/axe.min.js")
    else:                             # a report opened from a file
        page.add_script_tag(path=str(VENDOR / "axe.min.js"))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    serious = [(v["id"], v["impact"], v["help"], len(v["nodes"])) for v in result["violations"]
               if v["impact"] in ("serious", "critical")]
    assert serious == [], f"{name}: accessibility violations {serious}"


@pytest.mark.parametrize("name,path,maps", [
    ("home", "/", 1), ("pcn", "/pcn/{pcn}", 1), ("lsoa", "/lsoa/{lsoa}", 1),
    ("practice", "/practice/{practice}", 0), ("la", "/la/{la}", 1), ("compare", "/compare", 0),
    ("api-docs", "/api-docs", 0),
])
def test_page_draws_and_is_accessible(server, page, name, path, maps):
    url = server + path.format(**_codes(server))
    response = page.goto(url)
    assert response.status == 200
    # Drawn under the strict policy: no inline script and no eval (Vega's interpreter instead).
    script_src = response.headers["content-security-policy"].split("script-src")[1].split(";")[0]
    assert script_src.split() == ["'self'"]
    _check_drawn(page, name, maps)
    _axe(page, name)


def test_the_pcn_map_shows_its_footprint_with_a_swatch_for_every_key_entry(server, page):
    page.goto(server + "/pcn/" + _codes(server)["pcn"])
    page.wait_for_selector(".legend")
    # Ten deciles and "no data", each with its colour (decile 10 too).
    assert page.locator(".legend i").count() == 11
    assert "10 (least deprived)" in page.inner_text(".legend")
    drawn = page.locator(".leaflet-interactive").count()
    page.check("#map-all")  # every neighbourhood where any patient lives, on request
    assert page.locator(".leaflet-interactive").count() > drawn


def test_unknown_code_is_a_clear_404_page(server, page):
    response = page.goto(server + "/pcn/U00000")
    assert response.status == 404
    assert "Page not found" in page.inner_text("h1")
    _axe(page, "404")


def test_click_home_to_pcn_to_neighbourhood_and_report(server, page, tmp_path):
    page.goto(server + "/")
    # The PCN search narrows the list as one types.
    rows = page.locator("#pcn-table tbody tr")
    first_name = rows.first.locator("td").nth(1).inner_text()
    page.fill("#pcn-search", first_name)
    visible = [r for r in rows.all() if r.is_visible()]
    assert 1 <= len(visible) < rows.count() and first_name in visible[0].inner_text()
    page.fill("#pcn-search", "")
    page.locator("#pcn-table tbody a").first.click()
    page.wait_for_url("**/pcn/*")
    _check_drawn(page, "click-pcn")
    pcn_url = page.url
    # Recolour the map by another measure: the legend changes, the areas stay drawn.
    legend = page.inner_text(".legend")
    page.select_option("#map-colour", "pcn_share_pct")
    assert page.inner_text(".legend") != legend
    assert page.locator(".leaflet-interactive").count() > 0
    page.locator("#neighbourhoods-table tbody a").first.click()
    page.wait_for_url("**/lsoa/*")
    _check_drawn(page, "click-lsoa")
    page.goto(pcn_url)
    with page.expect_download() as download:
        page.get_by_text("Download report (HTML)").click()
    report = tmp_path / "report.html"
    download.value.save_as(report)
    # The report opens with the network cut off: everything it needs is inside it.
    page.context.route("http*://**", lambda route: route.abort())
    page.console_errors.clear()
    page.goto(report.as_uri())
    _check_drawn(page, "click-report")
    assert "Methods and sources" in page.inner_text("body")
    _axe(page, "report")


def test_pdf_report_prints_with_chromium(demo_db, browser, tmp_path):
    from placehealth.outputs.queries import Data
    from placehealth.outputs.reports import write_pcn_report

    data = Data(demo_db)
    code = sorted(data.names("pcn"))[0]
    out = write_pcn_report(data, code, tmp_path / "report.pdf")
    assert out.read_bytes()[:5] == b"%PDF-" and out.stat().st_size > 50_000
