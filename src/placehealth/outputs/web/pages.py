"""HTML pages (Jinja2), rendered from the same views the API and reports use."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from placehealth.outputs import views
from placehealth.outputs.disclosure import SUPPRESSED, explanation
from placehealth.outputs.queries import Data

TEMPLATES = Path(__file__).resolve().parent / "templates"
ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
#: An optional map tile URL template (e.g. a local tile server); no tiles by default.
TILES_ENV = "PLACEHEALTH_TILES"
#: Rows shown in a page table before "first N of M" (downloads hold them all).
PAGE_ROWS = 300

router = APIRouter(include_in_schema=False)

#: Which column links to which page.
LINKS = {"lsoa_code": "/lsoa/{}", "pcn_code": "/pcn/{}", "peer_code": "/pcn/{}",
         "largest_pcn_code": "/pcn/{}", "la_code": "/la/{}", "practice_code": "/practice/{}"}


def script_json(value: Any) -> str:
    """JSON safe to place inside <script type="application/json">."""
    return json.dumps(value, default=str, allow_nan=False).replace("</", "<\\/")


def table_model(frame: pd.DataFrame | None, columns: dict[str, str] | None = None,
                unit_link: str | None = None, limit: int = PAGE_ROWS) -> dict[str, Any] | None:
    """Headers and formatted cells of a protected frame; suppressed cells flagged for [c]."""
    if frame is None:
        return None
    shown = [c for c in (columns or {c: c for c in frame.columns}) if c in frame and c != SUPPRESSED]
    labels = columns or {}
    numeric = {c: pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in shown}
    rows = []
    hidden_lists = frame[SUPPRESSED].tolist() if SUPPRESSED in frame else [""] * len(frame)
    for values, hidden in zip(frame[shown].head(limit).itertuples(index=False), hidden_lists, strict=False):
        hidden_set = set(hidden.split(",")) if hidden else set()
        cells = []
        for column, value in zip(shown, values, strict=True):
            cell: dict[str, Any] = {"num": numeric[column], "suppressed": column in hidden_set}
            cell["text"] = _format(value)
            link = LINKS.get(column) or (unit_link if column == "unit_code" else None)
            if link and not cell["suppressed"] and isinstance(value, str):
                cell["href"] = link.format(value)
            cells.append(cell)
        rows.append(cells)
    return {"headers": [{"label": labels.get(c, c.replace("_", " ")), "num": numeric[c]} for c in shown],
            "rows": rows, "total": len(frame), "truncated": len(frame) > limit}


def _format(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 100):
        return f"{int(value):,}"
    if isinstance(value, float):
        # Three significant figures below 10 (so a slope of 0.0043 is not shown as 0.00), one
        # decimal to 1,000 (percentages, estimated patients), whole numbers above.
        if value == 0:
            return "0"
        if abs(value) < 10:
            text = f"{value:.3g}"
            return text if "e" not in text else f"{value:.2e}"
        return f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def render(name: str, **context: Any) -> str:
    return ENV.get_template(name).render(**context)


def _data(request: Request) -> Data:
    return request.app.state.data


def _sections(view_sections: dict[str, views.Section], downloads: dict[str, str] | None = None,
              unit_link: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    out, chart_json = {}, {}
    for key, section in view_sections.items():
        out[key] = {"title": section.title, "missing": section.missing, "note": section.note,
                    "chart": section.chart is not None, "key": key,
                    "table": table_model(section.frame, section.columns or None, unit_link),
                    "download": (downloads or {}).get(key)}
        if section.chart is not None:
            chart_json[key] = script_json(section.chart)
    return out, chart_json


def _download(table: str, **filters: str) -> str:
    return f"/download/{table}?{urlencode(filters)}" if filters else f"/download/{table}?"


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    data = _data(request)
    return HTMLResponse(data.memo("html:home", lambda: _home(data)))


def _home(data: Data) -> str:
    view = views.home_view(data)
    pcns = table_model(view["pcns"], {"unit_code": "Code", "unit_name": "PCN", "patients": "Patients",
                                      "practices": "Practices", "imd_score": "IMD score",
                                      "core20_pct": "% in Core20"}, unit_link="/pcn/{}")
    chart = script_json(view["core20_chart"]) if view.get("core20_chart") else None
    return render("home.html", title="PCNs", icbs=view["icbs"], pcns=pcns, core20_chart=chart,
                  geo=script_json(view["map"]), missing=view["missing"],
                  tables=view["tables"], tiles=os.environ.get(TILES_ENV),
                  disclosure=explanation(data.policy))


def pcn_context(data: Data, code: str, indicator: str | None) -> dict[str, Any]:
    """Template context of the PCN page (shared with the report), kept until the store changes."""
    indicator = views.known_indicator(data, indicator)
    return data.memo(f"page:pcn:{code}:{indicator}", lambda: _pcn_context(data, code, indicator))


def _pcn_context(data: Data, code: str, indicator: str | None) -> dict[str, Any]:
    view = views.pcn_view(data, code, indicator)
    downloads = {"practices": _download("practice_profile", pcn_code=code),
                 "neighbourhoods": _download("pcn_lsoa", pcn_code=code),
                 "need": _download("prevalence_gap", level="pcn", area_code=code),
                 "uptake": _download("uptake_gap", area_level="pcn", area_code=code),
                 "comparison": _download("comparison", level="pcn", unit_code=code),
                 "peers": _download("peers", level="pcn", unit_code=code)}
    sections, chart_json = _sections(view["sections"], downloads, unit_link="/practice/{}")
    from placehealth.outputs.reports import find_chromium

    return {"title": view["name"], "view": view, "sections": sections, "charts": chart_json,
            "geo": script_json(view["map"]), "tiles": os.environ.get(TILES_ENV),
            "disclosure": view["disclosure"], "pdf": find_chromium() is not None}


@router.get("/pcn/{code}", response_class=HTMLResponse)
async def pcn(request: Request, code: str, indicator: str | None = Query(None, max_length=200)) -> HTMLResponse:
    data = _data(request)
    indicator = views.known_indicator(data, indicator)
    key = f"html:pcn:{code}:{indicator}"
    html = data.peek(key)  # built pages answer on the event loop; building goes to a thread
    if html is None:
        html = await run_in_threadpool(
            data.memo, key, lambda: render("pcn.html", **pcn_context(data, code, indicator)))
    return HTMLResponse(html)


@router.get("/pcn/{code}/report", response_class=HTMLResponse)
def pcn_report(request: Request, code: str, indicator: str | None = Query(None, max_length=200)) -> Response:
    from placehealth.outputs.reports import pcn_report_html

    html = pcn_report_html(_data(request), code, indicator)
    return Response(html, media_type="text/html; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="placehealth-{code}.html"'})


@router.get("/pcn/{code}/report.pdf")
def pcn_report_pdf(request: Request, code: str, indicator: str | None = Query(None, max_length=200)) -> Response:
    import tempfile

    from placehealth.outputs.reports import html_to_pdf, pcn_report_html

    html = pcn_report_html(_data(request), code, indicator)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            payload = html_to_pdf(html, Path(tmp) / "report.pdf").read_bytes()
        except RuntimeError as exc:
            return error_page(503, "PDF reports are not available", str(exc))
    return Response(payload, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="placehealth-{code}.pdf"'})


#: Downloads of each section of the practice, neighbourhood and local-authority pages.
UNIT_DOWNLOADS = {
    "practice": {"need": ("prevalence_gap", {"level": "practice", "area_code": "{code}"})},
    "lsoa": {"pcns": ("pcn_lsoa", {"lsoa_code": "{code}"}),
             "need": ("prevalence_gap_lsoa", {"lsoa_code": "{code}"})},
    "la": {"pcns": ("pcn_la", {"la_code": "{code}"})},
}


def _unit(request: Request, level: str, code: str, kind: str) -> HTMLResponse:
    view = views.unit_view(_data(request), level, code)
    downloads = {key: _download(table, **{k: v.format(code=code) for k, v in filters.items()})
                 for key, (table, filters) in UNIT_DOWNLOADS.get(level, {}).items()}
    sections, chart_json = _sections(view["sections"], downloads)
    geo = script_json(view["map"]) if view.get("map") and view["map"]["features"] else None
    return HTMLResponse(render("unit.html", title=view["name"], kind=kind, view=view, sections=sections,
                               charts=chart_json, geo=geo, disclosure=view["disclosure"],
                               tiles=os.environ.get(TILES_ENV)))


@router.get("/practice/{code}", response_class=HTMLResponse)
def practice(request: Request, code: str) -> HTMLResponse:
    return _unit(request, "practice", code, "Practice")


@router.get("/lsoa/{code}", response_class=HTMLResponse)
def lsoa(request: Request, code: str) -> HTMLResponse:
    return _unit(request, "lsoa", code, "Neighbourhood")


@router.get("/la/{code}", response_class=HTMLResponse)
def la(request: Request, code: str) -> HTMLResponse:
    return _unit(request, "la", code, "Local authority")


@router.get("/group/{name}", response_class=HTMLResponse)
def group(request: Request, name: str) -> HTMLResponse:
    view = views.group_view(_data(request), name)
    sections, chart_json = _sections(view["sections"])
    geo = script_json(view["map"]) if view.get("map") and view["map"]["features"] else None
    return HTMLResponse(render("unit.html", title=name, kind="Group", view=view, sections=sections,
                               charts=chart_json, geo=geo, disclosure=view["disclosure"]))


@router.get("/compare", response_class=HTMLResponse)
def compare(request: Request, pcn: list[str] = Query(default_factory=list),
            indicator: str | None = Query(None, max_length=200)) -> HTMLResponse:
    view = views.compare_view(_data(request), pcn, indicator)
    section = views.Section("compare", f"PCNs on {view['indicator']}", frame=view["frame"],
                            chart=view["chart"],
                            columns={"unit_code": "PCN", "unit_name": "Name", "period": "Period",
                                     "value": "Value", "lowercl": "Lower 95%", "uppercl": "Upper 95%",
                                     "vs_england": "vs England", "vs_peers": "vs peers",
                                     "national_decile": "National decile"})
    sections, chart_json = _sections({"compare": section}, {"compare": _download(
        "comparison", level="pcn", indicator=view["indicator"] or "")}, unit_link="/pcn/{}")
    return HTMLResponse(render("compare.html", title="Compare PCNs", view=view, sections=sections,
                               charts=chart_json, disclosure=view["disclosure"]))


@router.get("/api-docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """The API described for people (from the OpenAPI document; no CDN-hosted viewer)."""
    endpoints = []
    for path, methods in request.app.openapi()["paths"].items():
        operation = methods.get("get")
        if operation:
            endpoints.append({"path": path, "summary": operation.get("summary", ""),
                              "description": operation.get("description", ""),
                              "params": [p["name"] for p in operation.get("parameters", [])]})
    return HTMLResponse(render("api_docs.html", title="API", endpoints=endpoints,
                               disclosure=explanation(_data(request).policy)))


def error_page(status: int, heading: str, message: str, disclosure: str = "") -> HTMLResponse:
    return HTMLResponse(render("error.html", title=heading, heading=heading, message=message,
                               disclosure=disclosure), status_code=status)
