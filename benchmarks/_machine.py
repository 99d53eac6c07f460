"""What the benchmark scripts share: the machine they run on, and the dashboard served on it.

The scripts run as ``python benchmarks/NAME.py``, so this folder is on their path and they
import it as ``_machine``.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

PLACEHEALTH = str(Path(sys.executable).parent / "placehealth")


def machine() -> str:
    """The CPU, cores, Python, numpy and pandas, and the load average when the run started."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy "
            f"{np.__version__}, pandas {pd.__version__}; load average {load:.1f} at start")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(db: Path, env: dict[str, str] | None = None, wait: float = 120) -> tuple[subprocess.Popen, int]:
    """``placehealth serve`` of ``db`` on a free loopback port, returned once it listens (or
    after ``wait`` seconds); the caller terminates it."""
    port = free_port()
    server = subprocess.Popen([PLACEHEALTH, "serve", "--port", str(port), "--db", str(db)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.time() + wait
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    return server, port
