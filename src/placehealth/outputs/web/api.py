"""The JSON API under /api/: every table (filters, paging, sorting) and the page views."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from placehealth.outputs import views
from placehealth.outputs.disclosure import explanation
from placehealth.outputs.export import FORMATS, render
from placehealth.outputs.queries import BadRequest, Data, NotFound
from placehealth.outputs.web.auth import Forbidden, register_scope

router = APIRouter(prefix="/api", tags=["api"])
downloads = APIRouter(tags=["downloads"])

#: Query parameters that are not column filters.
RESERVED = {"limit", "offset", "sort", "format"}


def _data(request: Request) -> Data:
    return request.app.state.data


def _filters(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if k not in RESERVED}


@router.get("/tables", summary="Every table in the store, with its columns and rows")
def tables(request: Request) -> list[dict[str, Any]]:
    data = _data(request)
    out = []
    for name in data.tables():
        try:
            scope = register_scope(request, name)
        except Forbidden:
            continue  # a register the visitor may not read
        frame = data.protected(name)
        for column, value in scope.items():
            frame = frame[frame[column] == value]
        out.append({"table": name, "rows": len(frame), "columns": list(frame.columns),
                    "url": f"/api/tables/{name}"})
    return out


@router.get("/tables/{name}", summary="Rows of a table",
            description="Filter with column=value query parameters (a|b = either), page with "
            "limit/offset, sort with sort=column or sort=-column. Suppressed cells are null and "
            "named in each row's suppressed_cells.")
def table(request: Request, name: str, limit: int = Query(100, ge=0, le=100_000),
          offset: int = Query(0, ge=0), sort: str | None = Query(None, max_length=200)) -> dict[str, Any]:
    data = _data(request)
    page = data.query(name, {**_filters(request), **register_scope(request, name)}, limit=limit, offset=offset, sort=sort)
    head = json.dumps({"table": name, "total": page.total, "limit": limit, "offset": offset,
                       "disclosure": explanation(data.policy)})
    rows = page.frame.to_json(orient="records", double_precision=15, date_format="iso")
    return Response(f'{head[:-1]}, "rows": {rows}}}', media_type="application/json")


@router.get("/pcn/{code}", summary="Everything on a PCN page")
async def pcn(request: Request, code: str, indicator: str | None = Query(None, max_length=200)) -> dict[str, Any]:
    data = _data(request)
    indicator = views.known_indicator(data, indicator)
    key = f"json:pcn:{code}:{indicator}"
    body = data.peek(key)
    if body is None:
        body = await run_in_threadpool(data.memo, key, lambda: json.dumps(
            views.view_json(views.pcn_view(data, code, indicator)), default=str, allow_nan=False))
    return Response(body, media_type="application/json")


@router.get("/target/{level}/{code}", summary="Targeting: reach of need, partners, fair shares",
            description="level is pcn or la; the sections of the targeting page")
def target(request: Request, level: str, code: str) -> dict[str, Any]:
    return views.view_json(views.target_view(_data(request), level, code))


@router.get("/group/{name}", summary="A user-defined group")
def group(request: Request, name: str) -> dict[str, Any]:
    return views.view_json(views.group_view(_data(request), name))


@router.get("/intervention/{name}", summary="Did a registered intervention work? The answer, "
            "its checks, and every method's result (observed and counterfactual per period)")
def intervention(request: Request, name: str) -> dict[str, Any]:
    from placehealth.outputs import impact

    data = _data(request)
    try:
        return impact.cached(data, name)
    except impact.InterventionError as exc:
        raise NotFound(str(exc)) from None


@router.get("/compare", summary="PCNs side by side on one indicator")
def compare(request: Request, pcn: list[str] = Query(default_factory=list),
            indicator: str | None = Query(None, max_length=200)) -> dict[str, Any]:
    return views.view_json(views.compare_view(_data(request), pcn, indicator))


@router.get("/boundaries", summary="Stored boundaries as GeoJSON")
def boundaries(request: Request, codes: str | None = Query(None, description="comma-separated codes"),
               level: str | None = Query(None, max_length=50)) -> dict[str, Any]:
    wanted = [c for c in codes.split(",") if c] if codes else None
    return _data(request).boundaries(wanted, level)


@router.get("/disclosure", summary="The disclosure rule every output applies")
def disclosure(request: Request) -> dict[str, Any]:
    policy = _data(request).policy
    return {"policy": policy.name, "suppress_from": policy.suppress_min, "suppress_to": policy.suppress_max,
            "rounding": policy.rounding, "source": policy.source, "explanation": explanation(policy)}


@downloads.get("/download/{name}", summary="Download a table (CSV, Excel or Parquet)",
               description="format=csv|xlsx|parquet; other query parameters filter as in /api/tables.")
@router.get("/tables/{name}/download", summary="Download a table (CSV, Excel or Parquet)")
def download(request: Request, name: str, format: str = Query("csv", pattern="^(csv|xlsx|parquet)$")
             ) -> Response:
    data = _data(request)
    if format not in FORMATS:
        raise BadRequest(f"unknown format {format!r}")
    frame = data.query(name, {**_filters(request), **register_scope(request, name)}, limit=0).frame
    payload = render(frame, format, table=name, note=explanation(data.policy))
    return Response(payload, media_type=FORMATS[format],
                    headers={"Content-Disposition": f'attachment; filename="{name}.{format}"'})


@router.get("/{level}/{code}", summary="A unit of any level with a profile: its profile and sections",
            description=f"level is one of {', '.join(views.UNIT_LEVELS)} (the level registry's "
            "levels with a profile; PCNs and groups have views of their own above)")
def unit(request: Request, level: str, code: str) -> dict[str, Any]:
    """Declared last, so that every view above is matched first."""
    if level not in views.UNIT_LEVELS:
        raise NotFound(f"no view for {level!r}: views are for {', '.join(views.UNIT_LEVELS)}, PCNs and groups")
    return views.view_json(views.unit_view(_data(request), level, code))
