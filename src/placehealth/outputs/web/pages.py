"""HTML pages: the routes that answer with views rendered by :mod:`placehealth.outputs.html`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from placehealth import levels
from placehealth.outputs import html, reports, views
from placehealth.outputs.disclosure import explanation
from placehealth.outputs.html import TILES_ENV, render, script_json, section_models, table_model
from placehealth.outputs.pdf import html_to_pdf
from placehealth.outputs.queries import Data, NotFound

router = APIRouter(include_in_schema=False)


def _data(request: Request) -> Data:
    return request.app.state.data


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> HTMLResponse:
    data = _data(request)
    page = data.peek("html:home")  # built: answered at once, even while another page builds
    return HTMLResponse(page if page is not None else await run_in_threadpool(home_page, data))


def home_page(data: Data) -> str:
    """The home page, kept until the store changes (built ahead of the first visitor)."""
    return data.memo("html:home", lambda: _home(data))


def _home(data: Data) -> str:
    view = views.home_view(data)
    pcns = table_model(view["pcns"], {"unit_code": "Code", "unit_name": "PCN", "patients": "Patients",
                                      "practices": "Practices", "imd_score": "IMD score",
                                      "core20_pct": "% in Core20"}, unit_link="/pcn/{}")
    columns = {"unit_code": "Code", "unit_name": "Council", "patients": "Patients", "imd_score": "IMD score",
               "core20_pct": "% in Core20"}
    councils = table_model(view["councils"], columns, unit_link="/la/{}")
    counties = table_model(view["counties"], columns, unit_link="/utla/{}")
    chart = script_json(view["core20_chart"]) if view.get("core20_chart") else None
    return render("home.html", title="PCNs", icbs=view["icbs"], pcns=pcns, councils=councils, counties=counties,
                  core20_chart=chart,
                  geo=script_json(view["map"]), missing=view["missing"],
                  tables=view["tables"], tiles=os.environ.get(TILES_ENV),
                  disclosure=explanation(data.policy))


@router.get("/pcn/{code}", response_class=HTMLResponse)
async def pcn(request: Request, code: str, indicator: str | None = Query(None, max_length=200)) -> Response:
    data = _data(request)
    indicator = views.known_indicator(data, indicator)
    key = f"html:pcn:{code}:{indicator}"
    page = data.peek(key)  # built pages answer on the event loop; building goes to a thread
    if page is None:
        page = await run_in_threadpool(data.memo, key, lambda: html.pcn_page(data, code, indicator))
    return HTMLResponse(page)


@router.get("/pcn/{code}/report", response_class=HTMLResponse)
def pcn_report(request: Request, code: str, indicator: str | None = Query(None, max_length=200)) -> Response:
    document = reports.pcn_report_html(_data(request), code, indicator)
    return Response(document, media_type="text/html; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="placehealth-{code}.html"'})


@router.get("/pcn/{code}/report.pdf")
def pcn_report_pdf(request: Request, code: str, indicator: str | None = Query(None, max_length=200)) -> Response:
    document = reports.pcn_report_html(_data(request), code, indicator)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            payload = html_to_pdf(document, Path(tmp) / "report.pdf").read_bytes()
        except RuntimeError as exc:
            return error_page(503, "PDF reports are not available", str(exc))
    return Response(payload, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="placehealth-{code}.pdf"'})


def _unit_page(view: dict, kind: str) -> HTMLResponse:
    sections, chart_json = section_models(view["sections"])
    geo = script_json(view["map"]) if view.get("map") and view["map"]["features"] else None
    return HTMLResponse(render("unit.html", title=view["name"], kind=kind, view=view, sections=sections,
                               charts=chart_json, geo=geo, disclosure=view["disclosure"],
                               tiles=os.environ.get(TILES_ENV)))


def _target(request: Request, level: str, code: str, kind: str) -> Response:
    """A targeting page, kept until the store changes (its map and charts take seconds)."""
    data = _data(request)
    return HTMLResponse(data.memo(f"html:target:{level}:{code}",
                                  lambda: _unit_page(views.target_view(data, level, code), kind).body))


@router.get("/target/pcn/{code}", response_class=HTMLResponse)
def target_pcn(request: Request, code: str) -> Response:
    return _target(request, "pcn", code, "PCN")


@router.get("/target/la/{code}", response_class=HTMLResponse)
def target_la(request: Request, code: str) -> Response:
    return _target(request, "la", code, "Local authority")


@router.get("/group/{name}", response_class=HTMLResponse)
def group(request: Request, name: str) -> HTMLResponse:
    return _unit_page(views.group_view(_data(request), name), "Group")


@router.get("/intervention/{name}", response_class=HTMLResponse)
def intervention(request: Request, name: str) -> Response:
    """Did a registered intervention work? (kept until the store changes: it takes seconds)"""
    data = _data(request)
    return HTMLResponse(data.memo(f"html:intervention:{name}", lambda: _unit_page(
        views.intervention_view(data, name), "Intervention").body))


@router.get("/compare", response_class=HTMLResponse)
def compare(request: Request, pcn: list[str] = Query(default_factory=list),
            indicator: str | None = Query(None, max_length=200),
            icb: str | None = Query(None, max_length=20)) -> HTMLResponse:
    view = views.compare_view(_data(request), [p.upper() for p in pcn], indicator, icb or None)
    section = views.Section("compare", f"PCNs on {view.get('label') or view['indicator']}", frame=view["frame"],
                            chart=view["chart"], note=f"Showing {view['scope']}." if view.get("scope") else None,
                            columns={"unit_code": "PCN", "unit_name": "Name", "period": "Period",
                                     "value": "Value", "lowercl": "Lower 95%", "uppercl": "Upper 95%",
                                     "vs_england": "vs England", "vs_peers": "vs peers",
                                     "national_decile": "Decile among PCNs compared (1 = lowest)"},
                            download=("comparison", {"level": "pcn", "indicator": view["indicator"] or ""}))
    sections, chart_json = section_models({"compare": section}, unit_link="/pcn/{}")
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


#: Levels whose units have a page at /{level}/{code} (the PCN and user groups have pages of
#: their own above).
UNIT_PAGES = views.UNIT_LEVELS


@router.get("/{level}/{code}", response_class=HTMLResponse)
def unit(request: Request, level: str, code: str) -> Response:
    """A practice, neighbourhood, ward, council, Sub-ICB, ICB or region page (declared last, so
    that every page above is matched first)."""
    if level not in UNIT_PAGES:
        raise NotFound(f"no page for {level!r}: pages are for {', '.join(UNIT_PAGES)}, PCNs and groups")
    return _unit_page(views.unit_view(_data(request), level, code), levels.get(level).title)
