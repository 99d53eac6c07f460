"""The engines a spec runs on, as ehrQL's spec tests do: a test (or a module, through
``pytestmark``) marked ``engines`` runs once on each engine in :data:`ENGINES`, its ``store``
a fresh store on that engine; every other spec runs on DuckDB.

Spark is one local[2] session for the whole run (its JVM starts once, ~10 s), each test's store a
database of its own in it (``spark://local[2]/NAME``). Where Spark cannot start (no Java, no
PySpark) its cases are skipped with the reason, unless ``PLACEHEALTH_REQUIRE_SPARK=1`` (set by CI),
which makes that a failure: CI never skips Spark quietly.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from placehealth.store import ENV_SPARK_WAREHOUSE, Store

ENGINES = ("duckdb", "spark")
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
def engine(request) -> str:
    """The engine this case runs on: each of ENGINES for specs marked ``engines``, else DuckDB
    (session-scoped, so module fixtures can build their place once per engine)."""
    name = getattr(request, "param", "duckdb")
    if name == "spark":
        request.getfixturevalue("spark_master")
    return name


def engine_location(engine: str, folder: Path) -> str:
    """A new, empty store on ``engine``: a DuckDB file in ``folder``, or a Spark database."""
    if engine == "spark":
        return f"{SPARK_MASTER}/spec_{uuid.uuid4().hex[:12]}"
    return str(folder / "test.duckdb")


@pytest.fixture
def store(engine, tmp_path):
    with Store(engine_location(engine, tmp_path)) as s:
        yield s


@pytest.fixture(scope="session")
def new_store(engine):
    """Makes a new, empty store on this case's engine in a folder (for module-scoped places)."""
    return lambda folder: Store(engine_location(engine, folder))
