"""Reports: a PCN's page as one self-contained HTML file (inline CSS, JavaScript and data) that
opens offline, with a methods and sources appendix; PDF by printing it on A4 (:mod:`pdf`)."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from placehealth.outputs import html
from placehealth.outputs.pdf import find_chromium, html_to_pdf
from placehealth.outputs.queries import Data
from placehealth.outputs.web.assets import VENDOR, installed

SCRIPTS = ["vega.min.js", "vega-lite.min.js", "vega-embed.min.js", "leaflet.js"]
__all__ = ["appendix", "find_chromium", "html_to_pdf", "inline_assets", "pcn_report_html", "write_pcn_report"]

METHODS = [
    "Registered patients and where they live: NHS England, Patients Registered at a GP Practice "
    "(practice by LSOA of residence). A PCN's neighbourhoods are the LSOAs its patients live in; "
    "its profile averages each neighbourhood's characteristics weighted by its patients there.",
    "Deprivation: English Indices of Deprivation (MHCLG); deciles are national (1 = most deprived "
    "10% of neighbourhoods in England). Core20 = the most deprived fifth (deciles 1 and 2).",
    "Need: recorded QOF disease prevalence compared with the prevalence expected from the "
    "registered population's age, sex, deprivation, ethnicity and rurality, each used only where "
    "known for most practices (the need table says which; indirect standardisation); 'missing patients' "
    "= expected minus recorded register size. 'Significantly low' means the 95% interval of "
    "recorded ÷ expected lies wholly below 1 after allowing for the usual variation between "
    "practices (or PCNs) that no model explains: the Poisson limits are widened by the "
    "between-unit variance, estimated for each condition with outliers damped so that they do not "
    "set their own threshold (Spiegelhalter's random-effects funnel method, 2005). A flagged gap is "
    "therefore larger than chance and ordinary local variation; 'flagged from' says how large a "
    "gap must be before it can be seen at that list size, so an unflagged condition may still be "
    "under-recorded by less than that.",
    "Comparison: values with 95% confidence intervals (Wilson for proportions); peers are the most "
    "similar PCNs on population characteristics; funnel plots show 95% and 99.8% control limits; "
    "deciles rank the PCNs compared (1 = lowest tenth), not a national table. Neighbourhood IMD "
    "deciles are the published national ones. Maps and neighbourhood tables show the fewest "
    "neighbourhoods holding 95% of the PCN's patients (its footprint).",
    "Disclosure control: small counts are suppressed ([c]) and other counts rounded, with "
    "secondary suppression so that suppressed values cannot be worked out from totals; rates and "
    "shares based on suppressed counts are suppressed too.",
]


def _version() -> str:
    try:
        return version("placehealth")
    except PackageNotFoundError:  # pragma: no cover
        return "dev"


def appendix(data: Data) -> dict[str, Any]:
    """Methods, and every publication and period in the loads ledger."""
    loads = data.loads()
    sources = []
    if not loads.empty:
        for row in loads.sort_values(["publication", "period"]).itertuples():
            sources.append({"publication": row.publication, "period": row.period,
                            "file_name": row.file_name, "loaded_at": row.loaded_at})
    return {"methods": [*METHODS, f"Disclosure rule: {data.policy.describe()}."], "sources": sources,
            "produced": datetime.now(UTC).strftime("%d %B %Y %H:%M UTC"), "version": _version()}


def inline_assets() -> dict[str, Any]:
    """The CSS and JavaScript inlined in a report (the chart and map libraries included)."""
    if not installed():
        raise RuntimeError("the chart and map libraries are not installed; run "
                           "`python -m placehealth.outputs.web.assets` first")
    css = (html.STATIC / "placehealth.css").read_text() + "\n" + (VENDOR / "leaflet.css").read_text()
    scripts = [(VENDOR / name).read_text() for name in SCRIPTS]
    scripts.append((html.STATIC / "placehealth.js").read_text())
    return {"css": css, "js": [s.replace("</script", "<\\/script") for s in scripts]}


def pcn_report_html(data: Data, code: str, indicator: str | None = None) -> str:
    """The PCN page as a self-contained offline document."""
    return html.pcn_page(data, code, indicator, inline=inline_assets(), appendix=appendix(data))


def write_pcn_report(data: Data, code: str, out: Path, indicator: str | None = None) -> Path:
    """Write the PCN report as .html or .pdf (by the file's extension)."""
    suffix = out.suffix.lower()
    if suffix not in {".html", ".htm", ".pdf"}:
        raise ValueError(f"report file {out.name}: use .html or .pdf")
    document = pcn_report_html(data, code, indicator)
    if suffix == ".pdf":
        return html_to_pdf(document, out)
    out.write_text(document, encoding="utf-8")
    return out
