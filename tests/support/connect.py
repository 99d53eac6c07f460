"""A Spark Connect server on this machine, for the spec tests' Connect engine.

PySpark's own server (``org.apache.spark.sql.connect.service.SparkConnectServer``, the jar ships
with PySpark 4) is started through PySpark's ``spark-submit`` on a free port, ``local[2]``, with
the settings of a local placehealth session (``store.spark_local_config``: warehouse and Derby
metastore in ``folder``). The client needs ``grpcio``, ``grpcio-status`` and
``googleapis-common-protos`` (``pip install 'placehealth[connect]'``).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from placehealth.store import spark_local_config

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
CLIENT_MODULES = ("grpc", "grpc_status", "google.rpc")


def missing_client() -> str | None:
    """Why this Python cannot talk to Spark Connect, or None when it can."""
    for name in CLIENT_MODULES:
        try:
            found = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            found = None
        if found is None:
            return f"{name} is not installed (pip install 'placehealth[connect]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("localhost", port)) == 0


@contextmanager
def local_server(folder: Path, timeout: float = 180) -> Iterator[str]:
    """Start a Connect server with its warehouse in ``folder``; yields its ``sc://`` URL and
    stops it (the JVM) on exit. Its log is ``folder/server.log``."""
    import pyspark

    home = Path(pyspark.__file__).parent
    port = _free_port()
    conf = {**spark_local_config(folder), "spark.connect.grpc.binding.port": str(port),
            "spark.driver.memory": "1g"}
    command = [str(home / "bin" / "spark-submit"), "--class", SERVER_CLASS,
               "--name", "placehealth-spec", "--master", "local[2]"]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    command.append("spark-internal")
    log = (folder / "server.log").open("wb")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder,
                              env={**os.environ, "SPARK_HOME": str(home)})
    try:
        deadline = time.monotonic() + timeout
        while not _listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Spark Connect server did not start (see {log.name})")
            time.sleep(0.5)
        yield f"sc://localhost:{port}"
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
