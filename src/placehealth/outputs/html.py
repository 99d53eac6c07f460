"""HTML rendering: views turned into Jinja2 pages, used by the web app and by reports alike.

Tables become header and cell models (suppressed cells flagged so templates print ``[c]``, each
column in its declared format); charts and maps become JSON for the page's script; a report is
a page with its CSS and JavaScript inlined.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from placehealth.outputs import format as fmt
from placehealth.outputs import views
from placehealth.outputs.disclosure import SUPPRESSED
from placehealth.outputs.pdf import find_chromium
from placehealth.outputs.queries import Data
from placehealth.outputs.sections import Section, missing_text

WEB = Path(__file__).resolve().parent / "web"
TEMPLATES = WEB / "templates"
STATIC = WEB / "static"
ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
ENV.globals["cell"] = fmt.cell  # headline figures, formatted as every table cell is
#: An optional map tile URL template (e.g. a local tile server); no tiles by default.
TILES_ENV = "PLACEHEALTH_TILES"
#: Rows shown in a page table before "first N of M" (downloads hold them all).
PAGE_ROWS = 300

#: Which column links to which page.
LINKS = {"lsoa_code": "/lsoa/{}", "pcn_code": "/pcn/{}", "peer_code": "/pcn/{}",
         "largest_pcn_code": "/pcn/{}", "la_code": "/la/{}", "practice_code": "/practice/{}"}


def script_json(value: Any) -> str:
    """JSON safe to place inside <script type="application/json">."""
    return json.dumps(value, default=str, allow_nan=False).replace("</", "<\\/")


def render(name: str, **context: Any) -> str:
    return ENV.get_template(name).render(**context)


def _missing_patients(value: Any) -> str:
    return missing_text(value)


#: Column formats a section may declare beyond :mod:`format`'s kinds (``Spec.formats``).
WORDED = {"missing": _missing_patients}


def cell_text(value: Any, column: str, kind: str | None = None) -> str:
    """A cell as text: the section's wording for the column, else the one number formatter."""
    if kind in WORDED:
        return WORDED[kind](value)
    return fmt.cell(value, column, kind=kind)


def table_model(frame: pd.DataFrame | None, columns: dict[str, str] | None = None,
                unit_link: str | None = None, limit: int = PAGE_ROWS,
                formats: dict[str, str] | None = None) -> dict[str, Any] | None:
    """Headers and formatted cells of a protected frame; suppressed cells flagged for [c]."""
    if frame is None:
        return None
    shown = [c for c in (columns or {c: c for c in frame.columns}) if c in frame and c != SUPPRESSED]
    labels, formats = columns or {}, formats or {}
    numeric = {c: pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in shown}
    kinds = {c: fmt.column_kind(frame[c], formats.get(c)) if numeric[c] and formats.get(c) not in WORDED
             else formats.get(c) for c in shown}
    rows = []
    hidden_lists = frame[SUPPRESSED].tolist() if SUPPRESSED in frame else [""] * len(frame)
    for values, hidden in zip(frame[shown].head(limit).itertuples(index=False), hidden_lists, strict=False):
        hidden_set = set(hidden.split(",")) if hidden else set()
        cells = []
        for column, value in zip(shown, values, strict=True):
            cell: dict[str, Any] = {"num": numeric[column], "suppressed": column in hidden_set}
            cell["text"] = cell_text(value, column, kinds[column])
            link = LINKS.get(column) or (unit_link if column == "unit_code" else None)
            if link and not cell["suppressed"] and isinstance(value, str):
                cell["href"] = link.format(value)
            cells.append(cell)
        rows.append(cells)
    return {"headers": [{"label": labels.get(c, c.replace("_", " ")), "num": numeric[c]} for c in shown],
            "rows": rows, "total": len(frame), "truncated": len(frame) > limit}


def download_url(table: str, filters: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return f"/download/{table}?{urlencode(filters)}"


def section_models(sections: dict[str, Section], unit_link: str | None = None
                   ) -> tuple[dict[str, Any], dict[str, str]]:
    """Template models of built sections, and their charts as JSON."""
    out, chart_json = {}, {}
    for key, section in sections.items():
        out[key] = {"title": section.title, "missing": section.missing, "empty": section.empty,
                    "note": section.note, "chart": section.chart is not None, "key": key, "half": section.half,
                    "table": table_model(section.frame, section.columns or None, unit_link,
                                         limit=section.shown or PAGE_ROWS, formats=section.formats),
                    "download": download_url(*section.download) if section.download else None}
        if section.chart is not None:
            chart_json[key] = script_json(section.chart)
    return out, chart_json


def pcn_context(data: Data, code: str, indicator: str | None) -> dict[str, Any]:
    """Template context of the PCN page and report, kept until the store changes."""
    indicator = views.known_indicator(data, indicator)
    return data.memo(f"page:pcn:{code}:{indicator}", lambda: _pcn_context(data, code, indicator))


def _pcn_context(data: Data, code: str, indicator: str | None) -> dict[str, Any]:
    view = views.pcn_view(data, code, indicator)
    sections, chart_json = section_models(view["sections"], unit_link="/practice/{}")
    return {"title": view["name"], "view": view, "sections": sections, "charts": chart_json,
            "geo": script_json(view["map"]), "tiles": os.environ.get(TILES_ENV),
            "disclosure": view["disclosure"], "pdf": find_chromium() is not None}


def pcn_page(data: Data, code: str, indicator: str | None = None, **extra: Any) -> str:
    """The PCN page (``extra``: ``inline`` assets and an ``appendix`` make it a report)."""
    return render("pcn.html", **pcn_context(data, code, indicator), **extra)
