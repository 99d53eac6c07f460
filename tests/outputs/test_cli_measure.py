"""`placehealth measure KIND --input FILE.csv ...` end to end: CSV in, CSV out."""

from __future__ import annotations

import io
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import typer
from statsmodels.stats.proportion import proportion_confint
from typer.testing import CliRunner

from placehealth.measures import esp2013
from placehealth.outputs.cli import measure


def _run_process(*args: str) -> subprocess.CompletedProcess:
    """The installed entry point in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "placehealth", "measure", *args],
                          capture_output=True, text=True, timeout=120)


def _run(*args: str) -> SimpleNamespace:
    """The same command in-process (fast)."""
    app = typer.Typer()
    app.callback()(lambda: None)
    measure.register(app)
    result = CliRunner().invoke(app, ["measure", *args])
    return SimpleNamespace(returncode=result.exit_code, stdout=result.stdout, stderr=result.stderr)


@pytest.mark.slow
def test_proportion_two_levels_to_file(tmp_path):
    source = tmp_path / "screening.csv"
    pd.DataFrame({"pcn_code": ["U1", "U1", "U2"], "screened": [30, 12, 5],
                  "eligible": [50, 40, 5]}).to_csv(source, index=False)
    target = tmp_path / "out.csv"
    done = _run_process("proportion", "--input", str(source), "--x", "screened", "--n", "eligible",
                "--group-by", "pcn_code", "--confidence", "0.95", "--confidence", "99.8",
                "--multiplier", "100", "--output", str(target))
    assert done.returncode == 0, done.stderr
    out = pd.read_csv(target)
    assert list(out["pcn_code"]) == ["U1", "U2"]
    lo, hi = proportion_confint([42, 5], [90, 5], alpha=0.002, method="wilson")
    np.testing.assert_allclose(out["lower99_8cl"], np.asarray(lo) * 100, rtol=1e-9)
    np.testing.assert_allclose(out["upper99_8cl"], np.asarray(hi) * 100, rtol=1e-9)
    assert out["upper95_0cl"].iloc[1] == 100


def test_dsr_and_sii_to_stdout(tmp_path):
    source = tmp_path / "deaths.csv"
    bands = list(esp2013().index)
    pd.DataFrame({"area": np.repeat(["A", "B"], 19), "band": bands * 2,
                  "deaths": [4] * 19 + [0] * 19, "pop": 1000}).to_csv(source, index=False)
    done = _run("dsr", "--input", str(source), "--x", "deaths", "--n", "pop", "--ageband", "band",
                "--group-by", "area")
    assert done.returncode == 0, done.stderr
    out = pd.read_csv(io.StringIO(done.stdout))
    assert out["value"].iloc[0] == 400 and np.isnan(out["value"].iloc[1])  # B suppressed (<10)
    quantiles = tmp_path / "le.csv"
    pd.DataFrame({"q": range(1, 6), "pop": 1000, "le": [76, 77, 78, 79, 80], "se": 0.5}).to_csv(
        quantiles, index=False)
    done = _run("sii", "--input", str(quantiles), "--quantile", "q", "--population", "pop",
                "--value", "le", "--se", "se", "--repetitions", "2000", "--rii", "--seed", "1")
    assert done.returncode == 0, done.stderr
    out = pd.read_csv(io.StringIO(done.stdout))
    assert out["sii"].iloc[0] == pytest.approx(5.0)  # equal populations: 1 a quintile step x 5
    assert out["sii_lowercl"].iloc[0] < 5 < out["sii_uppercl"].iloc[0]
    assert "rii" in out.columns


def test_bad_column_is_reported_with_exit_code_2(tmp_path):
    source = tmp_path / "bad.csv"
    pd.DataFrame({"x": [1], "n": [2]}).to_csv(source, index=False)
    done = _run("rate", "--input", str(source), "--x", "x", "--n", "denominator")
    assert done.returncode == 2
    assert "denominator" in done.stderr and "bad.csv" in done.stderr
    done = _run("nonsense", "--input", str(source))
    assert done.returncode == 2 and "unknown kind" in done.stderr


def _quantile_rows() -> pd.DataFrame:
    return pd.DataFrame({"area": np.repeat(["A", "B"], 5), "q": list(range(1, 6)) * 2,
                         "pop": 1000.0, "v": [30.0, 28, 25, 22, 20, 31, 27, 26, 21, 19],
                         "lo": [25.0, 23, 20, 18, 16, 26, 22, 21, 17, 15],
                         "hi": [35.0, 33, 30, 27, 24, 36, 32, 31, 25, 23]})


@pytest.mark.parametrize("kind, frame, options", [
    ("rate", pd.DataFrame({"a": ["x", "y"], "d": [3, 40], "p": [900, 1000]}),
     ["--x", "d", "--n", "p", "--group-by", "a", "--multiplier", "1000"]),
    ("mean", pd.DataFrame({"a": ["x", "x", "y", "y"], "v": [1.0, 2, 3, 5]}), ["--x", "v", "--group-by", "a"]),
    ("smr", pd.DataFrame({"a": ["x", "x"], "o": [3, 4], "p": [100, 200], "r": [0.01, 0.02]}),
     ["--x", "o", "--n", "p", "--ref-rate", "r", "--group-by", "a"]),
    ("isr", pd.DataFrame({"a": ["x", "x"], "o": [3, 4], "p": [100, 200], "rx": [10, 40], "rn": [1000, 2000]}),
     ["--x", "o", "--n", "p", "--x-ref", "rx", "--n-ref", "rn", "--group-by", "a"]),
    ("concentration-index", _quantile_rows(), ["--quantile", "q", "--population", "pop", "--value", "v",
                                               "--group-by", "area"]),
    ("quantile-gap", _quantile_rows(), ["--quantile", "q", "--value", "v", "--lower-cl", "lo",
                                        "--upper-cl", "hi", "--group-by", "area"]),
    ("sii", _quantile_rows(), ["--quantile", "q", "--population", "pop", "--value", "v", "--lower-cl", "lo",
                               "--upper-cl", "hi", "--group-by", "area", "--value-type", "1",
                               "--transform", "--repetitions", "1000", "--seed", "3"]),
    ("funnel-limits", pd.DataFrame({"x": [5, 9, 30], "n": [50, 60, 200]}),
     ["--x", "x", "--n", "n", "--points", "5", "--overdispersion", "multiplicative"]),
    ("funnel-significance", pd.DataFrame({"o": [5, 9, 30], "e": [4.0, 6, 20]}),
     ["--x", "o", "--n", "e", "--statistic", "ratio"]),
    ("compare-to-benchmark", pd.DataFrame({"lowercl": [1, 3], "uppercl": [2, 4]}),
     ["--benchmark", "2.5", "--polarity", "low_is_good"]),
])
def test_every_kind_runs(tmp_path, kind, frame, options):
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    done = _run(kind, "--input", str(source), *options)
    assert done.returncode == 0, done.stderr
    out = pd.read_csv(io.StringIO(done.stdout))
    assert len(out) > 0
    if kind == "compare-to-benchmark":
        assert list(out["comparison"]) == ["better", "worse"]
