"""Install the front-end libraries the pages serve, at build time; never a CDN.

``python -m placehealth.outputs.web.assets`` runs ``npm ci`` on the committed package.json and
package-lock.json (in ``web/npm/``) inside a build folder, then copies the few files the pages
need into ``web/static/vendor/`` (git-ignored). It does nothing when the vendor folder already
holds the files of the same lock file, so ``make test`` and ``make demo`` may call it every time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NPM_DIR = HERE / "npm"
VENDOR = HERE / "static" / "vendor"
STAMP = VENDOR / ".lock-sha256"

#: node_modules path -> vendor path
FILES = {
    "vega/build/vega.min.js": "vega.min.js",
    "vega-lite/build/vega-lite.min.js": "vega-lite.min.js",
    "vega-embed/build/vega-embed.min.js": "vega-embed.min.js",
    "leaflet/dist/leaflet.js": "leaflet.js",
    "leaflet/dist/leaflet.css": "leaflet.css",
    "axe-core/axe.min.js": "axe.min.js",
}


def lock_digest() -> str:
    return hashlib.sha256((NPM_DIR / "package-lock.json").read_bytes()).hexdigest()


def installed() -> bool:
    """The vendor folder holds every file, from the current lock file."""
    return (STAMP.exists() and STAMP.read_text().strip() == lock_digest()
            and all((VENDOR / target).exists() for target in FILES.values()))


def build_dir() -> Path:
    base = os.environ.get("PLACEHEALTH_NPM_BUILD") or Path.home() / ".cache" / "placehealth" / "npm"
    return Path(base) / lock_digest()[:16]


def install(quiet: bool = False) -> Path:
    """npm ci into the build folder (if not there already), then copy into static/vendor/."""
    if installed():
        if not quiet:
            print(f"front-end assets up to date in {VENDOR}")
        return VENDOR
    npm = shutil.which("npm")
    build = build_dir()
    modules = build / "node_modules"
    if not all((modules / source).exists() for source in FILES):
        if npm is None:
            raise SystemExit("npm is needed once to install the chart and map libraries "
                             "(Debian: apt-get install npm)")
        build.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(NPM_DIR / name, build / name)
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                       cwd=build, check=True)
    VENDOR.mkdir(parents=True, exist_ok=True)
    for source, target in FILES.items():
        shutil.copy2(modules / source, VENDOR / target)
    shutil.copytree(modules / "leaflet" / "dist" / "images", VENDOR / "images", dirs_exist_ok=True)
    STAMP.write_text(lock_digest() + "\n")
    if not quiet:
        print(f"installed {len(FILES)} front-end files into {VENDOR}")
    return VENDOR


def main() -> None:
    try:
        install()
    except subprocess.CalledProcessError as exc:
        print(f"npm failed ({exc}); the pages will draw no charts or maps", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
