"""Pages and reports fit for a board: titles not codes, estimates in words, one Core20 figure,
one name per PCN, the footprint on the map, councils, honest labels, whole tables on A4, and
sections declared once for every level."""

from __future__ import annotations

import ast
import html as htmllib
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from placehealth.outputs import sections as declared
from placehealth.outputs.queries import Data
from placehealth.outputs.web.app import create_app
from placehealth.store import Store

from support import ROOT
from support import tiny_outputs as tiny

OUTPUTS = ROOT / "src" / "placehealth" / "outputs"


@pytest.fixture(scope="module")
def demo(demo_db) -> TestClient:
    return TestClient(create_app(demo_db))


@pytest.fixture(scope="module")
def demo_pcn(demo_db) -> str:
    return sorted(Data(demo_db).names("pcn"))[0]


@pytest.fixture(scope="module")
def tiny_client(tmp_path_factory) -> TestClient:
    return TestClient(create_app(tiny.build(tmp_path_factory.mktemp("board") / "tiny.duckdb")))


def _visible_text(page: str) -> str:
    """What a reader sees: the page without scripts, tags or attribute values."""
    page = re.sub(r"<script\b.*?</script>", " ", page, flags=re.S)
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", page))


def _table(page: str, table_id: str) -> list[list[str]]:
    body = page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    return [[htmllib.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
            for r in rows if "<td" in r]


# ------------------------------------------------------------------------------ titles, not codes
def test_no_indicator_key_or_condition_code_reaches_a_reader(demo, demo_db, demo_pcn):
    page = demo.get(f"/pcn/{demo_pcn}").text
    text = _visible_text(page)
    for key in ("prevalence_ratio:", "prevalence_gap:", "prevalence:", "uptake:", "core20_share"):
        assert key not in text, key
    codes = set(Data(demo_db).rows("prevalence_gap", level="pcn", area_code=demo_pcn)["group_code"])
    cells = [c for row in _table(page, "need-table") + _table(page, "inequality-table") for c in row]
    assert codes and not codes & set(cells), "a condition code shown where its title belongs"
    assert "Hypertension" in cells
    # The charts label their marks by title too.
    for chart_id in ("chart-need", "chart-inequality"):
        spec = json.loads(re.search(rf'id="{chart_id}">(.*?)</script>', page, re.S).group(1).replace("<\\/", "</"))
        labels = {v for rows in spec["datasets"].values() for r in rows for v in r.values() if isinstance(v, str)}
        assert not codes & labels and not any(":" in v for v in labels), chart_id


def test_inequality_shares_are_percentage_points(demo, demo_db, demo_pcn):
    rows = demo.get(f"/api/pcn/{demo_pcn}").json()["sections"]["inequality"]["rows"]
    raw = Data(demo_db).rows("inequality", area_level="pcn", area_code=demo_pcn, measure="sii")
    raw = raw[raw["indicator"].str.startswith("prevalence:")].set_index("indicator")["value"]
    shown = {r["indicator"]: r for r in rows if r["indicator"].startswith("prevalence:")}
    assert shown and all(r["scale"] == "percentage points" for r in shown.values())
    for key, row in shown.items():
        if row["value"] is not None:
            assert row["value"] == pytest.approx(100 * raw[key])


# ------------------------------------------------------------------------------ estimates in words
def test_missing_patients_are_rounded_and_worded(demo, demo_db, demo_pcn):
    page = demo.get(f"/pcn/{demo_pcn}").text
    header = [h for h in re.findall(r"<th[^>]*>(.*?)</th>", page.split('id="need-table"', 1)[1].split("</thead>")[0])]
    column = header.index("Missing patients (estimate)")
    gaps = Data(demo_db).rows("prevalence_gap", level="pcn", area_code=demo_pcn).sort_values("missing", ascending=False)
    shown = [row[column] for row in _table(page, "need-table")]
    assert len(shown) == len(gaps)
    for text, value in zip(shown, gaps["missing"], strict=True):
        if pd.isna(value):
            continue
        number = int(text.split(" ")[0].replace(",", "")) if text != "none" else 0
        assert abs(number - abs(value)) <= max(0.05 * abs(value), 0.5)  # two significant figures
        assert ("more recorded than expected" in text) == (value < 0 and number > 0)
        assert "." not in text


# ------------------------------------------------------------------------------ one figure, one name
def test_core20_is_one_figure(demo, demo_db, demo_pcn):
    view = demo.get(f"/api/pcn/{demo_pcn}").json()
    core20 = Data(demo_db).rows("pcn_profile", unit_code=demo_pcn)["core20_pct"].iloc[0]
    figure = f"{core20:.1f}%"
    assert figure in view["narrative"][0]
    assert figure in _visible_text(demo.get(f"/pcn/{demo_pcn}").text)
    core20plus5 = view["sections"]["core20plus5"]["rows"]
    assert core20plus5 and all(r.get("indicator") != "core20_share" for r in core20plus5)
    assert all("core20_share" not in r for r in core20plus5)


def test_a_pcn_is_named_one_way_everywhere(demo, demo_db, demo_pcn):
    data = Data(demo_db)
    current = data.names("pcn")
    older = set(data.rows("comparison", latest=False, level="pcn")["unit_name"]) \
        | set(data.rows("uptake_gap", area_level="pcn")["area_name"])
    older = {name for name in older if isinstance(name, str)} - set(current.values())
    assert older, "the demo names PCNs differently in QOF, as the real files do"
    page = demo.get(f"/pcn/{demo_pcn}").text.replace("<\\/", "</")
    assert current[demo_pcn] in page
    assert not [name for name in older if name in page]
    assert not [name for name in older if name in demo.get("/compare").text]


# ------------------------------------------------------------------------------ what a user expected
def test_uptake_without_an_uptake_file_says_none_was_loaded(tiny_client):
    section = tiny_client.get("/api/pcn/U00001").json()["sections"]["uptake"]
    assert section["status"].startswith("No vaccination uptake data was loaded")
    page = _visible_text(tiny_client.get("/pcn/U00001").text)
    assert "No vaccination uptake data was loaded" in page
    assert "needs the uptake_gap table" not in page


def test_councils_on_the_pcn_page_report_and_home(tiny_client, tmp_path):
    rows = tiny_client.get("/api/pcn/U00001").json()["sections"]["councils"]["rows"]
    assert [(r["la_code"], r["la_name"]) for r in rows] == [("E06000001", "Demoshire")]
    assert _table(tiny_client.get("/pcn/U00001").text, "councils-table")[0][:2] == ["E06000001", "Demoshire"]
    assert _table(tiny_client.get("/").text, "council-table")[0][:2] == ["E06000001", "Demoshire"]


def test_neighbourhood_need_names_each_neighbourhood(demo, demo_db, demo_pcn):
    rows = demo.get(f"/api/pcn/{demo_pcn}").json()["sections"]["need_lsoa"]["rows"]
    names = Data(demo_db).rows("lsoa_profile").set_index("unit_code")["unit_name"]
    assert rows and all(r["lsoa_name"] == names[r["lsoa_code"]] for r in rows)
    cells = _table(demo.get(f"/pcn/{demo_pcn}").text, "need_lsoa-table")
    assert cells and all(row[1] == names[row[0]] for row in cells)


def test_lower_case_codes_find_the_page(tiny_client):
    response = tiny_client.get("/pcn/u00001?indicator=qof_hyp_prevalence", follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == "/pcn/U00001?indicator=qof_hyp_prevalence"
    assert tiny_client.get("/pcn/u00001").status_code == 200
    assert tiny_client.get("/practice/a00001").status_code == 200


def test_compare_starts_from_the_place_not_all_of_england(tmp_path):
    """With national QOF loaded, comparison holds every PCN in England; /compare starts from the
    PCNs of the place loaded (those with profiles), and an ICB can be chosen."""
    db = tiny.build(tmp_path / "national.duckdb")
    with Store(db) as store:
        comparison = store.read("comparison")
        others = pd.concat([comparison.iloc[[0]].assign(unit_code=f"U9{i:04d}", unit_name=f"FAR PCN {i}")
                            for i in range(100)])
        store.replace_table("comparison", pd.concat([comparison, others], ignore_index=True))
    client = TestClient(create_app(db))
    page = client.get("/compare").text
    shown = {row[0] for row in _table(page, "compare-table")}
    assert shown == {"U00001", "U00002"}
    assert "FAR PCN" not in page.split('id="pcn"')[0]  # not in the table or chart (the picker lists all)
    by_icb = {row[0] for row in _table(client.get("/compare?icb=QZ1").text, "compare-table")}
    assert by_icb == {"U00001", "U00002"}
    chosen = {row[0] for row in _table(client.get("/compare?pcn=U90007").text, "compare-table")}
    assert chosen == {"U90007"}


def test_deciles_are_labelled_for_what_they_rank(demo, demo_db, demo_pcn):
    page = demo.get(f"/pcn/{demo_pcn}").text
    assert "Decile among PCNs compared (1 = lowest)" in page and "National decile" not in page
    data = Data(demo_db)
    imd = data.rows("imd", latest=False)
    imd = imd[imd["domain"] == "imd"].set_index("lsoa_code")["decile"]
    rows = demo.get(f"/api/pcn/{demo_pcn}").json()["sections"]["neighbourhoods"]["rows"]
    assert rows and all(r["imd_decile"] == imd[r["lsoa_code"]] for r in rows)


# ------------------------------------------------------------------------------ maps
def test_the_map_draws_the_footprint_and_fragmentation_is_local(demo, demo_db, demo_pcn):
    page = demo.get(f"/pcn/{demo_pcn}").text
    geo = json.loads(re.search(r'id="geo-pcn">(.*?)</script>', page, re.S).group(1).replace("<\\/", "</"))
    rows = Data(demo_db).rows("pcn_lsoa", pcn_code=demo_pcn).set_index("lsoa_code")["patients"]
    inside = {f["id"] for f in geo["features"] if f["properties"]["footprint"]}
    outside = {f["id"] for f in geo["features"] if not f["properties"]["footprint"]}
    assert inside and outside, "the demo scatters a few patients beyond the footprint, as real data does"
    assert rows[list(inside)].sum() >= 0.95 * rows.sum()  # (protected counts: rounded, small ones hidden)
    assert rows[list(outside)].max() <= rows[list(inside)].min()  # the largest first, so the fewest
    fragmented = demo.get(f"/api/pcn/{demo_pcn}").json()["sections"]["fragmented"]["rows"]
    assert fragmented and {r["lsoa_code"] for r in fragmented} <= inside


# ------------------------------------------------------------------------------ declared once
def test_a_section_declared_once_appears_on_every_level_it_names(tiny_client, monkeypatch):
    extra = declared.Spec("extra", "A section added in one place", ("pcn", "la"), table="pcn_la",
                          filters={"la_code": "E06000001"}, columns={"pcn_code": "PCN", "patients": "Patients"})
    monkeypatch.setattr(declared, "SECTIONS", [*declared.SECTIONS, extra])
    for url in ("/api/pcn/U00002", "/api/la/E06000001"):
        rows = tiny_client.get(url).json()["sections"]["extra"]["rows"]
        assert {r["pcn_code"] for r in rows} == {"U00001", "U00002"}, url
    assert "extra" not in tiny_client.get("/api/practice/A00001").json()["sections"]


def test_every_level_with_a_profile_has_an_api_view_and_a_page(tiny_client, monkeypatch):
    """/api/{level}/{code} and /{level}/{code} answer for the level registry's levels with a
    profile (the old /api/practice, /api/lsoa and /api/la URLs among them), and only those."""
    from placehealth import levels
    from placehealth.outputs import views

    assert {"practice", "lsoa", "la", "icb", "ward", "utla"} <= set(views.UNIT_LEVELS)
    assert set(views.UNIT_LEVELS) == set(levels.profile_tables()) - {"pcn", "group"}
    for url in ("/api/practice/A00001", "/api/la/E06000001", "/api/icb/QZ1"):
        answer = tiny_client.get(url)
        assert answer.status_code == 200, url
        assert answer.json()["code"] == url.rsplit("/", 1)[1]
        assert tiny_client.get(url.removeprefix("/api")).status_code == 200
    assert tiny_client.get("/api/nowhere/X1").status_code == 404
    assert tiny_client.get("/api/icb/NOPE").status_code == 404
    assert tiny_client.get("/api/tables/pcn_la").status_code == 200  # named routes still first


def _functions(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text())
    return [(f"{path.name}:{node.name}", node.end_lineno - node.lineno + 1) for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]


def test_no_view_function_is_over_50_lines():
    files = [OUTPUTS / "views.py", OUTPUTS / "sections.py", OUTPUTS / "html.py", OUTPUTS / "web" / "pages.py",
             OUTPUTS / "reports.py"]
    long = [(name, n) for path in files for name, n in _functions(path) if n > 50]
    assert long == []


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return names


def test_reports_and_pages_share_rendering_without_importing_each_other():
    reports = _imports(OUTPUTS / "reports.py")
    assert not any(name.startswith("placehealth.outputs.web.pages") for name in reports)
    assert "placehealth.outputs.html" in reports or "placehealth.outputs.html" in {
        n.rsplit(".", 1)[0] for n in reports}
    for module in ("html.py", "pdf.py", "views.py", "sections.py"):
        assert not any(n.startswith(("placehealth.outputs.web", "placehealth.outputs.reports"))
                       for n in _imports(OUTPUTS / module)), module


# ------------------------------------------------------------------------------ the PDF
def test_the_pdf_report_is_a4_with_whole_tables(demo_db, demo_pcn, tmp_path):
    from placehealth.outputs.pdf import find_chromium
    from placehealth.outputs.reports import write_pcn_report
    from placehealth.outputs.web.assets import installed

    if find_chromium() is None or not installed():
        pytest.skip("PDF reports need Chromium and the front-end assets")
    pypdf = pytest.importorskip("pypdf")
    data = Data(demo_db)
    out = write_pcn_report(data, demo_pcn, tmp_path / "report.pdf")
    reader = pypdf.PdfReader(out)
    for page in reader.pages:  # A4: 210 x 297 mm = 595 x 842 points
        assert round(float(page.mediabox.width)) == 595 and round(float(page.mediabox.height)) == 842
    text = re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))
    titles = declared.indicator_titles(data)
    compared = data.rows("comparison", latest=False, level="pcn", unit_code=demo_pcn)["indicator"].unique()
    assert len(compared) > 10
    missing = [titles[i] for i in compared if titles[i] not in text]
    assert missing == [], "every comparison row is printed, not the first few of a scroll box"


def test_the_profile_decile_is_not_called_a_peer_or_national_decile(demo_db, demo_pcn):
    from typer.testing import CliRunner

    from placehealth.outputs.cli import _register, app

    _register()
    result = CliRunner().invoke(app, ["profile", "pcn", demo_pcn, "--db", str(demo_db)],
                                env={"COLUMNS": "240"})
    assert result.exit_code == 0, result.output
    assert "among peers" not in result.output
    assert "IMD decile among those loaded here (1 = most deprived; not national)" in result.output


def test_the_home_map_draws_the_footprints_not_every_far_neighbourhood(tmp_path):
    db = tiny.build(tmp_path / "far.duckdb")
    with Store(db) as store:  # E01000006 is in no PCN's footprint: a few patients moved there
        rows = store.read("pcn_lsoa")
        store.replace_table("pcn_lsoa", rows.assign(in_footprint_95=rows["patients"] >= 200))
    page = TestClient(create_app(db)).get("/").text
    geo = json.loads(re.search(r'id="geo-home">(.*?)</script>', page, re.S).group(1).replace("<\\/", "</"))
    drawn = {f["id"] for f in geo["features"]}
    assert "E01000006" not in drawn
    assert drawn == {"E01000001", "E01000002", "E01000003", "E01000004", "E01000005", "E01000007", "E01000008"}


def test_councils_listed_are_those_where_the_patients_live_not_every_far_one(tmp_path):
    db = tiny.build(tmp_path / "councils.duckdb")
    with Store(db) as store:  # 3 patients of U00001 live in a far council (a student, say)
        rows = store.read("pcn_la")
        far = rows[rows["pcn_code"] == "U00001"].assign(la_code="E08000001", la_name="Far Borough", patients=3.0,
                                                        pcn_share_pct=0.1, la_share_pct=0.001)
        store.replace_table("pcn_la", pd.concat([rows, far], ignore_index=True))
    client = TestClient(create_app(db))
    assert [row[1] for row in _table(client.get("/pcn/U00001").text, "councils-table")] == ["Demoshire"]
    rows = client.get("/api/pcn/U00001").json()["sections"]["councils"]["rows"]
    assert {r["la_name"] for r in rows} == {"Demoshire", "Far Borough"}  # all in the data


def test_home_lists_the_place_s_councils_largest_first(tmp_path):
    db = tiny.build(tmp_path / "home-councils.duckdb")
    with Store(db) as store:  # far councils where a few of the place's patients live
        rows = store.read("la_profile")
        far = [rows.assign(la_code=f"E0700022{i}", unit_code=f"E0700022{i}", unit_name=name, patients=n)
               for i, (name, n) in enumerate([("Adur", 3.0), ("Arun", 5.0), ("Ashford", 40.0)])]
        big = rows.assign(la_code="E06000002", unit_code="E06000002", unit_name="Bigtown", patients=9000.0)
        store.replace_table("la_profile", pd.concat([rows, *far, big], ignore_index=True))
    cells = _table(TestClient(create_app(db)).get("/").text, "council-table")
    assert [row[1] for row in cells] == ["Bigtown", "Demoshire"]


def test_lower_case_codes_reach_the_api_views_too(tiny_client):
    response = tiny_client.get("/api/pcn/u00001", follow_redirects=False)
    assert response.status_code == 308 and response.headers["location"] == "/api/pcn/U00001"
    assert tiny_client.get("/api/pcn/u00001").json()["code"] == "U00001"
    assert tiny_client.get("/group/East Side").status_code == 200  # names are left as they are


def test_every_level_with_a_profile_has_a_page_with_its_registry_sections(demo, demo_db):
    """Sub-ICB and ICB pages exist because the registry gives them profiles, and show need and
    inequality because the registry reports those analyses at them."""
    data = Data(demo_db)
    sub_icb = sorted(data.names("sub_icb"))[0]
    page = demo.get(f"/sub_icb/{sub_icb.lower()}")
    assert page.status_code == 200 and page.url.path == f"/sub_icb/{sub_icb}"
    assert "Inequality within the Sub-ICB location" in page.text
    conditions = [row[0] for row in _table(page.text, "need-table")]
    codes = set(data.rows("prevalence_gap", level="sub_icb", area_code=sub_icb)["group_code"])
    assert len(conditions) == len(codes) and not codes & set(conditions)
    assert demo.get("/nonsense/X1").status_code == 404


def test_home_lists_upper_tier_councils_when_built(tmp_path):
    db = tiny.build(tmp_path / "counties.duckdb")
    with Store(db) as store:
        county = store.read("la_profile").assign(level="utla", unit_code="E10000028", unit_name="Staffordshire")
        store.replace_table("utla_profile", county.drop(columns=["la_code"], errors="ignore"))
    client = TestClient(create_app(db))
    assert _table(client.get("/").text, "county-table")[0][:2] == ["E10000028", "Staffordshire"]
    assert "Staffordshire" in client.get("/utla/e10000028").text


def test_a_practice_page_lists_its_footprint_and_maps_it(demo, demo_db):
    data = Data(demo_db)
    practice = sorted(data.rows("practice_profile")["unit_code"])[0]
    page = demo.get(f"/practice/{practice}").text
    registered = data.rows("registrations_lsoa", practice_code=practice)
    registered = registered[registered["sex"] == "ALL"] if "sex" in registered else registered
    shown = {row[0] for row in _table(page, "catchment-table")}
    geo = json.loads(re.search(r'id="geo-unit">(.*?)</script>', page, re.S).group(1).replace("<\\/", "</"))
    inside = {f["id"] for f in geo["features"] if f["properties"]["footprint"]}
    assert shown == inside and len(shown) < len(registered)
    assert registered.set_index("lsoa_code")["patients"][list(shown)].sum() >= 0.95 * registered["patients"].sum()
