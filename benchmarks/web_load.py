"""Load test: 20 concurrent clients on loopback hitting PCN pages and their API calls.

Starts ``placehealth serve`` on the given store (default: a demo place generated into a temporary
folder with the standard demo sizes), waits for it to warm up, then for a bounded time each client
repeatedly fetches a random PCN's page, its JSON view and its neighbourhood table from the API.
Prints latency percentiles per kind of request and overall (target: p95 < 150 ms).

    .venv/bin/python benchmarks/web_load.py [--db demo.duckdb] [--clients 20] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_store(folder: Path) -> Path:
    db = folder / "demo.duckdb"
    started = time.perf_counter()
    subprocess.run([str(BIN / "placehealth"), "demo", "--out", str(folder / "data"), "--db", str(db)],
                   check=True, capture_output=True)
    print(f"demo store built in {time.perf_counter() - started:.0f} s: {db}")
    return db


def wait_ready(url: str, pcns: int, timeout: float = 600) -> None:
    """Until the server answers and every PCN page has been built once (the warm-up)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/api/disclosure", timeout=5)
            break
        except OSError:
            time.sleep(0.5)
    codes = pcn_codes(url)
    for code in codes[:pcns]:
        urllib.request.urlopen(f"{url}/pcn/{code}", timeout=600).read()
        urllib.request.urlopen(f"{url}/api/pcn/{code}", timeout=600).read()


def pcn_codes(url: str) -> list[str]:
    with urllib.request.urlopen(url + "/api/tables/pcn_profile?limit=0", timeout=600) as response:
        rows = json.loads(response.read())["rows"]
    return sorted({r["unit_code"] for r in rows})


async def client(url: str, codes: list[str], until: float, seen: dict[str, list[float]],
                 errors: list[str]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        while time.perf_counter() < until:
            code = random.choice(codes)
            for kind, path in (("page", f"/pcn/{code}"), ("api view", f"/api/pcn/{code}"),
                               ("api table", f"/api/tables/pcn_lsoa?pcn_code={code}&limit=500")):
                started = time.perf_counter()
                response = await http.get(path)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    errors.append(f"{path}: {response.status_code}")
                seen.setdefault(kind, []).append(elapsed)


async def run(url: str, clients: int, seconds: float) -> dict[str, list[float]]:
    codes = pcn_codes(url)
    seen: dict[str, list[float]] = {}
    errors: list[str] = []
    until = time.perf_counter() + seconds
    await asyncio.gather(*(client(url, codes, until, seen, errors) for _ in range(clients)))
    if errors:
        print(f"{len(errors)} errors, e.g. {errors[:3]}")
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="store to serve (default: build the demo place)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or demo_store(Path(tmp))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([str(BIN / "placehealth"), "serve", "--port", str(port), "--db", str(db)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            started = time.perf_counter()
            wait_ready(url, pcns=10_000)
            print(f"server warm in {time.perf_counter() - started:.1f} s; "
                  f"{len(pcn_codes(url))} PCNs; {args.clients} clients for {args.seconds:.0f} s")
            seen = asyncio.run(run(url, args.clients, args.seconds))
        finally:
            server.terminate()
            server.wait(timeout=10)
    total = sum(len(v) for v in seen.values())
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{total:,} requests in {args.seconds:.0f} s = {total / args.seconds:,.0f} per second")
    print("| request | n | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for kind, times in [*seen.items(), ("all", [t for v in seen.values() for t in v])]:
        ms = np.array(times) * 1000
        print(f"| {kind} | {len(ms):,} | {np.percentile(ms, 50):.1f} | {np.percentile(ms, 95):.1f} | "
              f"{np.percentile(ms, 99):.1f} |")


if __name__ == "__main__":
    main()
