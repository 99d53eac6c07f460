"""PDF printing: an HTML document printed by headless Chromium (A4, as the document's print
stylesheet lays it out), used by reports and by the web app's report download."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """The first Chromium on this machine, or None."""
    for name in CHROMIUM:
        path = shutil.which(name) if "/" not in name else (name if Path(name).exists() else None)
        if path:
            return path
    return None


def html_to_pdf(html: str, out: Path, timeout: float = 120) -> Path:
    """Print HTML to PDF with headless Chromium; a clear error when Chromium is absent.

    The paper size and margins come from the document's ``@page`` rule (A4), which Chromium
    honours when printing."""
    browser = find_chromium()
    if browser is None:
        raise RuntimeError("PDF reports need Chromium (Debian: apt-get install chromium); "
                           "write an .html report instead")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp}/profile",
                        "--no-pdf-header-footer", "--virtual-time-budget=8000",
                        f"--print-to-pdf={out.resolve()}", page.as_uri()],
                       check=True, capture_output=True, timeout=timeout)
    if not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"Chromium wrote no PDF at {out}")
    return out
