"""Pages, API, downloads, reports and exports on a tiny store: they answer, fail clearly on bad
requests, and none of them gives away a suppressed count."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from placehealth.outputs.cli import _register, app
from placehealth.outputs.queries import Data
from placehealth.outputs.reports import pcn_report_html
from placehealth.outputs.web.app import create_app
from placehealth.outputs.web.assets import installed
from placehealth.sources.validate import InputError

from support import tiny_outputs as tiny

#: The small cells of the tiny store (PCN U00001): E01000004 has 3 patients, E01000005 has 5.
SMALL = {"E01000004": 3, "E01000005": 5}


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return tiny.build(tmp_path_factory.mktemp("web") / "tiny.duckdb")


@pytest.fixture(scope="module")
def client(db) -> TestClient:
    return TestClient(create_app(db))


@pytest.mark.parametrize("url", ["/", "/pcn/U00001", "/pcn/U00002?indicator=qof_hyp_prevalence",
                                 "/lsoa/E01000001", "/practice/A00001", "/la/E06000001", "/compare",
                                 "/compare?pcn=U00001&pcn=U00002", "/openapi.json", "/api/tables",
                                 "/group/East Side", "/api/group/East Side", "/api-docs",
                                 "/api/pcn/U00001", "/api/lsoa/E01000004", "/api/disclosure",
                                 "/api/boundaries?codes=E01000001,E01000002"])
def test_pages_and_api_answer(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.text[:300]
    if response.headers["content-type"].startswith("text/html"):  # nothing from a CDN
        assert not re.search(r'(src|href)="(https?:)?//', response.text)


@pytest.mark.parametrize("url,status", [
    ("/pcn/U99999", 404), ("/lsoa/NOPE", 404), ("/practice/Z", 404), ("/group/none", 404),
    ("/no/such/page", 404), ("/compare?indicator=nonsense", 404),
    ("/api/pcn/U99999", 404), ("/api/tables/no_table", 404), ("/api/tables/pcn_lsoa?colour=red", 422),
    ("/api/tables/pcn_lsoa?patients=many", 422), ("/api/tables/pcn_lsoa?limit=-5", 422),
    ("/api/tables/pcn_lsoa?limit=abc", 422), ("/api/tables/pcn_lsoa?sort=nothing", 422),
    ("/download/pcn_lsoa?format=docx", 422), ("/download/no_table?format=csv", 404),
])
def test_bad_requests_are_clear_4xx_never_500(client, url, status):
    response = client.get(url)
    assert response.status_code == status, response.text[:300]
    if url.startswith("/api/"):
        assert response.json()["detail"]
    else:
        assert "<h1>" in response.text and "Traceback" not in response.text


def test_api_filters_pages_and_sorts(client):
    body = client.get("/api/tables/pcn_lsoa?pcn_code=U00002&sort=-lsoa_code&limit=2&offset=1").json()
    assert body["total"] == 8
    assert [r["lsoa_code"] for r in body["rows"]] == ["E01000007", "E01000006"]
    either = client.get("/api/tables/pcn_lsoa?pcn_code=U00001|U00002&limit=0").json()
    assert either["total"] == 14


def test_openapi_lists_the_api(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/tables/{name}" in paths and "/api/pcn/{code}" in paths


def test_missing_tables_say_not_built_yet(tmp_path):
    from placehealth.store import Store

    with Store(tmp_path / "bare.duckdb") as store:
        store.replace_table("pcn_lsoa", pd.DataFrame({"period": ["2025-10"], "pcn_code": ["U1"],
                                                      "pcn_name": ["X"], "lsoa_code": ["E01000001"],
                                                      "patients": [100.0]}))
    bare = TestClient(create_app(tmp_path / "bare.duckdb"))
    page = bare.get("/pcn/U1")
    assert page.status_code == 200
    assert "Not built yet" in page.text and "prevalence_gap" in page.text
    assert bare.get("/").status_code == 200
    assert bare.get("/lsoa/E01000001").status_code == 404


# ------------------------------------------------------------------ recovering suppressed values
def _published_pcn_lsoa(rows: list[dict]) -> dict[str, float | None]:
    return {r["lsoa_code"]: r["patients"] for r in rows if r["pcn_code"] == "U00001"}


def _assert_unrecoverable(published: dict[str, float | None], pcn_total: float | None):
    """The small cells are hidden, and the PCN total minus what is shown leaves a sum shared by
    at least two hidden cells that is not itself small."""
    for lsoa in SMALL:
        assert published.get(lsoa) is None, (lsoa, published.get(lsoa))
    hidden = [k for k, v in published.items() if v is None]
    assert len(hidden) >= 2
    true = dict(zip(tiny.LSOAS, tiny.PCN_LSOA["U00001"], strict=True))
    assert sum(true[k] for k in hidden) > 7
    if pcn_total is not None:
        # Best case for an attacker: rounded cells are within 2 of the truth.
        shown = sum(v for v in published.values() if v is not None)
        low, high = pcn_total - shown - 2 * (len(published) - len(hidden) + 1), \
            pcn_total - shown + 2 * (len(published) - len(hidden) + 1)
        for lsoa in SMALL:
            # every hidden cell could be anything from 0 to the hidden sum: never pinned
            assert high - low > 0 and high >= SMALL[lsoa]


def test_api_json_does_not_reveal_small_counts(client):
    rows = client.get("/api/tables/pcn_lsoa?limit=0").json()["rows"]
    profile = client.get("/api/tables/pcn_profile?unit_code=U00001").json()["rows"][0]
    published = _published_pcn_lsoa(rows)
    _assert_unrecoverable(published, profile["patients"])
    # shares of a hidden count are hidden too (share x total would give it back)
    for row in rows:
        if row["lsoa_code"] in SMALL and row["pcn_code"] == "U00001":
            assert row["pcn_share_pct"] is None and row["lsoa_share_pct"] is None
            assert "patients" in row["suppressed_cells"]
    # the view API agrees with the table API
    view = client.get("/api/pcn/U00001").json()
    hoods = {r["lsoa_code"]: r["patients"] for r in view["sections"]["neighbourhoods"]["rows"]}
    assert hoods == published


def test_csv_xlsx_parquet_downloads_do_not_reveal_small_counts(client):
    csv = client.get("/download/pcn_lsoa?format=csv&pcn_code=U00001")
    frame = pd.read_csv(io.StringIO(csv.text), dtype=str)
    assert set(frame.loc[frame["lsoa_code"].isin(SMALL), "patients"]) == {"[c]"}
    published = {r.lsoa_code: (None if r.patients == "[c]" else float(r.patients)) for r in frame.itertuples()}
    _assert_unrecoverable(published, None)
    xlsx = pd.read_excel(io.BytesIO(client.get("/download/pcn_lsoa?format=xlsx").content), dtype=str)
    assert set(xlsx.loc[(xlsx["pcn_code"] == "U00001") & xlsx["lsoa_code"].isin(SMALL), "patients"]) == {"[c]"}
    parquet = pd.read_parquet(io.BytesIO(client.get("/download/pcn_lsoa?format=parquet").content))
    small = parquet[(parquet["pcn_code"] == "U00001") & parquet["lsoa_code"].isin(SMALL)]
    assert small["patients"].isna().all() and small["pcn_share_pct"].isna().all()


def _table_cells(html: str, table_id: str) -> list[list[str]]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S)]
            for r in rows if "<td" in r]


def test_html_page_does_not_reveal_small_counts(client):
    html = client.get("/pcn/U00001").text
    cells = _table_cells(html, "neighbourhoods-table")
    by_code = {row[0]: row for row in cells}
    # The page lists the footprint (largest first, 95% of patients); a small cell is never in it.
    assert set(by_code) == {"E01000001", "E01000002", "E01000003"}
    assert not any(str(count) in cell for lsoa, count in SMALL.items() for cell in by_code.get(lsoa, []))
    # The map's data carries no hidden value either.
    geo = json.loads(re.search(r'id="geo-pcn">(.*?)</script>', html, flags=re.S).group(1).replace("<\\/", "</"))
    for feature in geo["features"]:
        if feature["id"] in SMALL:
            assert feature["properties"]["patients"] is None
            assert feature["properties"]["pcn_share_pct"] is None


@pytest.mark.skipif(not installed(), reason="front-end assets not installed (make assets)")
def test_report_is_self_contained_and_does_not_reveal_small_counts(db):
    html = pcn_report_html(Data(db), "U00001")
    assert "<script src=" not in html and 'rel="stylesheet"' not in html  # nothing fetched
    assert "http://" not in html.split("<script>", 1)[0]  # no remote resources in the document head
    assert "Methods and sources" in html and "Patients Registered at a GP Practice" in html
    cells = {row[0]: row for row in _table_cells(html, "neighbourhoods-table")}
    assert set(cells) == {"E01000001", "E01000002", "E01000003"}  # the footprint
    geo = json.loads(re.search(r'id="geo-pcn">(.*?)</script>', html, flags=re.S).group(1).replace("<\\/", "</"))
    assert all(f["properties"]["patients"] is None for f in geo["features"] if f["id"] in SMALL)
    assert "most deprived fifth" in html


def test_cli_export_and_report(db, tmp_path):
    _register()
    runner = CliRunner()
    out = tmp_path / "pcn_lsoa.csv"
    result = runner.invoke(app, ["export", "pcn_lsoa", "--out", str(out), "--db", str(db)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype=str)
    assert (frame.loc[(frame["pcn_code"] == "U00001") & frame["lsoa_code"].isin(SMALL), "patients"] == "[c]").all()
    nhs = tmp_path / "pcn_lsoa_nhs.parquet"
    result = runner.invoke(app, ["export", "pcn_lsoa", "--out", str(nhs), "--disclosure", "nhs_england",
                                 "--where", "pcn_code=U00001", "--db", str(db)])
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(nhs)
    assert set(frame["pcn_code"]) == {"U00001"}
    assert frame.loc[frame["lsoa_code"].isin(SMALL), "patients"].isna().all()
    result = runner.invoke(app, ["export", "nope", "--out", str(out), "--db", str(db)])
    assert result.exit_code != 0
    if installed():
        report = tmp_path / "r.html"
        result = runner.invoke(app, ["report", "pcn", "U00001", "--out", str(report), "--db", str(db)])
        assert result.exit_code == 0, result.output
        assert report.stat().st_size > 100_000


def test_report_takes_a_code_in_any_case_and_suggests_the_nearest(db, tmp_path):
    _register()
    runner = CliRunner()
    wrong = runner.invoke(app, ["report", "pcn", "U0001", "--out", str(tmp_path / "w.html"), "--db", str(db)])
    assert wrong.exit_code != 0 and isinstance(wrong.exception, InputError)
    assert "no PCN with code 'U0001'" in str(wrong.exception)
    assert wrong.exception.hint.startswith("did you mean U00001")
    assert not (tmp_path / "w.html").exists()
    if installed():
        lower = tmp_path / "lower.html"
        result = runner.invoke(app, ["report", "pcn", "u00001", "--out", str(lower), "--db", str(db)])
        assert result.exit_code == 0, result.output
        assert "U00001" in lower.read_text()


def test_pdf_without_chromium_is_a_clear_error(db, tmp_path, monkeypatch):
    from placehealth.outputs import pdf, reports

    monkeypatch.setattr(pdf, "find_chromium", lambda: None)
    with pytest.raises(RuntimeError, match="need Chromium"):
        reports.html_to_pdf("<p>x</p>", tmp_path / "r.pdf")
    with pytest.raises(ValueError, match=r"use \.html or \.pdf"):
        reports.write_pcn_report(Data(db), "U00001", tmp_path / "r.docx")


def test_any_filter_on_any_table_is_answered_or_refused_never_500(client):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    tables = {t["table"]: t["columns"] for t in client.get("/api/tables").json()}

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.sampled_from(sorted(tables)), st.data())
    def check(table, data):
        column = data.draw(st.one_of(st.sampled_from(tables[table]), st.text(min_size=1, max_size=8)))
        value = data.draw(st.one_of(st.text(max_size=12), st.integers().map(str), st.just("true"),
                                    st.just("1|2"), st.just("")))
        sort = data.draw(st.one_of(st.none(), st.sampled_from(tables[table]).map(lambda c: "-" + c),
                                   st.text(max_size=6)))
        params = {column: value, "limit": str(data.draw(st.integers(-2, 50)))}
        if sort is not None:
            params["sort"] = sort
        response = client.get(f"/api/tables/{table}", params=params)
        assert response.status_code in (200, 404, 422), (table, params, response.text[:300])
        body = response.json()
        assert ("rows" in body) if response.status_code == 200 else body["detail"]
        download = client.get(f"/download/{table}", params={column: value, "format": "csv"})
        assert download.status_code in (200, 404, 422), (table, column, value, download.text[:300])

    check()


def test_a_store_locked_by_a_writer_gives_503_not_500(tmp_path):
    import subprocess
    import sys

    db = tiny.build(tmp_path / "locked.duckdb")
    writer = subprocess.Popen([sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(db)!r}); "
                               "print('locked', flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "locked"
        locked = TestClient(create_app(db))
        assert locked.get("/api/tables/pcn_lsoa").status_code == 503
        page = locked.get("/pcn/U00001")
        assert page.status_code == 503 and "being updated" in page.text
    finally:
        writer.kill()
        writer.wait()


def test_indicators_are_offered_by_their_titles(client):
    html = client.get("/pcn/U00001").text
    assert '<option value="qof_hyp_prevalence" selected>Hypertension recorded prevalence (QOF HYP)</option>' in html


def test_a_configured_tile_url_reaches_the_maps(db, monkeypatch):
    monkeypatch.setenv("PLACEHEALTH_TILES", "http://tiles.local/{z}/{x}/{y}.png")
    tiled = TestClient(create_app(db))
    for url in ("/", "/pcn/U00002", "/lsoa/E01000001"):
        assert 'data-tiles="http://tiles.local/{z}/{x}/{y}.png"' in tiled.get(url).text, url


def test_a_pcn_page_lists_its_national_peers_once(client):
    """Peers are stored nationally and within the ICB; the page shows the national group only."""
    view = client.get("/api/pcn/U00001").json()
    peers = view["sections"]["peers"]
    assert [row["peer_code"] for row in peers["rows"]] == ["U00002"]


def test_page_cells_use_the_one_formatter_and_word_missing_patients():
    from placehealth.outputs.html import cell_text

    assert cell_text(0.004321, "value") == "0.00432"  # a slope, not "0.00"
    assert cell_text(-0.0123, "value") == "-0.0123"
    assert cell_text(4560.0, "value") == "4,560"
    assert cell_text(452.7, "expected") == "450"  # an estimate: two significant figures
    assert cell_text(0.938, "uptake") == "93.8%"  # a 0-1 share as a percentage
    assert cell_text(452.7, "missing", "missing") == "450"
    assert cell_text(-217.0, "missing", "missing") == "220 more recorded than expected"
    assert cell_text(-0.442, "missing", "missing") == "none"


def test_comparison_rows_are_named_by_indicator_title(client):
    rows = client.get("/api/pcn/U00001").json()["sections"]["comparison"]["rows"]
    assert rows and all(r["indicator_title"] == "Hypertension recorded prevalence (QOF HYP)"
                        for r in rows)
