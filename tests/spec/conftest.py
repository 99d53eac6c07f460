"""The engines a spec runs on, as ehrQL's spec tests do: a test (or a module, through
``pytestmark``) marked ``engines`` runs once on each engine in :data:`ENGINES`, its ``store``
a fresh store on that engine; every other spec runs on DuckDB.

Spark is one local[2] session for the whole run (its JVM starts once, ~10 s), each test's store a
database of its own in it (``spark://local[2]/NAME``). Where Spark cannot start (no Java, no
PySpark) its cases are skipped with the reason, unless ``PLACEHEALTH_REQUIRE_SPARK=1`` (set by CI),
which makes that a failure: CI never skips Spark quietly.

Spark Connect is a third engine, only when ``PLACEHEALTH_SPARK_CONNECT`` names a server
(``sc://HOST:PORT``), or is ``local`` to start one on this machine for the run (tests/support/
connect.py; needs ``placehealth[connect]``): each test's store a database of its own there
(``sc://HOST:PORT/;database=NAME``). CI does not set it (docs/ENGINES.md says how to run it).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from placehealth.store import ENV_SPARK_WAREHOUSE, Store

from support.connect import local_server, missing_client

#: A Spark Connect server to run the engine specs on as well: sc://HOST:PORT, or ``local``.
ENV_CONNECT = "PLACEHEALTH_SPARK_CONNECT"
ENGINES = ("duckdb", "spark", *(("connect",) if os.environ.get(ENV_CONNECT) else ()))
SPARK_MASTER = "spark://local[2]"


def pytest_configure(config):
    config.addinivalue_line("markers", "engines: run this spec on every engine (DuckDB and Spark)")


def pytest_generate_tests(metafunc):
    if "engine" in metafunc.fixturenames and metafunc.definition.get_closest_marker("engines"):
        metafunc.parametrize("engine", ENGINES, indirect=True)


@pytest.fixture(scope="session")
def spark_master(tmp_path_factory) -> str:
    """The local Spark master, its warehouse and metastore in a temporary folder (once a run)."""
    why = None
    if shutil.which("java") is None:
        why = "Java is not installed (Debian: openjdk-17-jre-headless)"
    else:
        try:
            import pyspark  # noqa: F401
        except ImportError:
            why = "PySpark is not installed (pip install 'placehealth[spark]')"
    if why:
        if os.environ.get("PLACEHEALTH_REQUIRE_SPARK") == "1":
            pytest.fail(f"PLACEHEALTH_REQUIRE_SPARK=1 but Spark cannot start: {why}")
        pytest.skip(f"Spark cannot start: {why}")
    os.environ[ENV_SPARK_WAREHOUSE] = str(tmp_path_factory.mktemp("spark-warehouse"))
    Store(SPARK_MASTER).close()  # start the session once
    return SPARK_MASTER


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory):
    """The run's Spark Connect server: $PLACEHEALTH_SPARK_CONNECT, or one started here when it
    is ``local`` (stopped when the run ends)."""
    url = os.environ.get(ENV_CONNECT, "")
    why = missing_client() or ("" if url else f"{ENV_CONNECT} is not set")
    if why:  # asked for (the engine is only listed when it is set): never skipped quietly
        pytest.fail(f"Spark Connect cannot be reached: {why}")
    if url != "local":
        yield url.rstrip("/")
        return
    with local_server(tmp_path_factory.mktemp("spark-connect")) as started:
        yield started


@pytest.fixture(scope="session")
def engine(request) -> str:
    """The engine this case runs on: each of ENGINES for specs marked ``engines``, else DuckDB
    (session-scoped, so module fixtures can build their place once per engine)."""
    name = getattr(request, "param", "duckdb")
    if name == "spark":
        request.getfixturevalue("spark_master")
    elif name == "connect":
        request.getfixturevalue("connect_server")
    return name


def engine_location(engine: str, folder: Path | None, request: pytest.FixtureRequest,
                    name: str | None = None) -> str:
    """A new, empty store on ``engine``: a DuckDB file in ``folder``, or a database (``name``,
    else a new one) of the run's local Spark session or Spark Connect server."""
    name = name or f"spec_{uuid.uuid4().hex[:12]}"
    if engine == "spark":
        return f"{request.getfixturevalue('spark_master')}/{name}"
    if engine == "connect":
        server = request.getfixturevalue("connect_server")
        return f"{server}{';' if '/;' in server else '/;'}database={name}"
    return str(folder / "test.duckdb")


@pytest.fixture(scope="session")
def locate(request):
    """``locate(engine, name)``: the location of the store ``name`` on ``engine``."""
    return lambda engine, name: engine_location(engine, None, request, name)


@pytest.fixture
def store(engine, tmp_path, request):
    with Store(engine_location(engine, tmp_path, request)) as s:
        yield s


@pytest.fixture(scope="session")
def new_store(engine, request):
    """Makes a new, empty store on this case's engine in a folder (for module-scoped places)."""
    return lambda folder: Store(engine_location(engine, folder, request))
