"""`placehealth evaluate spc|its|did|synth` on a panel CSV: the contract's options and JSON fields,
CSV output, files, and clear errors for bad input."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from placehealth.outputs.cli import evaluate


def _run(*args: str) -> SimpleNamespace:
    app = typer.Typer()
    app.callback()(lambda: None)
    evaluate.register(app)
    result = CliRunner().invoke(app, ["evaluate", *args])
    return SimpleNamespace(code=result.exit_code, stdout=result.stdout, stderr=result.stderr)


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    """30 PCNs x 36 months with seasonality; 6 start a programme in 2023-01 that adds 3."""
    rng = np.random.default_rng(0)
    months = pd.period_range("2021-01", periods=36, freq="M")
    rows = []
    for i in range(30):
        level, noise = rng.normal(0, 2), 0.0
        for t, month in enumerate(months):
            noise = 0.3 * noise + rng.normal(0, 0.5)
            treated = i < 6
            effect = 3.0 if treated and t >= 24 else 0.0
            population = 10000 + 100 * i
            value = 40 + level + 0.05 * t + 2 * np.sin(2 * np.pi * month.month / 12) + noise + effect
            rows.append({"pcn": f"U{i:05d}", "month": str(month), "rate": round(value, 4),
                         "started": "2023-01" if treated else "", "pilot": "yes" if treated else "no",
                         "population": population,
                         "visits": int(rng.poisson(value / 1000 * population))})
    path = tmp_path_factory.mktemp("evaluate") / "panel.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _json(*args: str) -> dict:
    done = _run(*args, "--format", "json")
    assert done.code == 0, done.stderr
    return json.loads(done.stdout)


def test_did_json_carries_the_estimate_group_time_effects_and_aggregations(panel):
    result = _json("did", "--input", str(panel), "--time", "month", "--outcome", "rate",
                   "--unit", "pcn", "--first-treated", "started", "--draws", "199")
    assert result["method"] == "did"
    assert result["lower"] < 3.0 < result["upper"] and result["p_value"] < 0.01
    assert {"simple", "group", "dynamic"} <= set(result["aggregations"])
    assert {"group", "time", "estimate", "lower", "upper", "p_value"} <= set(result["group_time"][0])
    assert result["group_time"][0]["group"] == "2023-01"  # periods as written in the file
    assert 0 <= result["pretrend"]["p_value"] <= 1
    assert len(result["treated"]) == 6 and len(result["comparators"]) == 24


def test_synth_json_carries_weights_rmspe_and_permutation_p_value(panel):
    result = _json("synth", "--input", str(panel), "--time", "month", "--outcome", "rate",
                   "--unit", "pcn", "--treated", "pilot", "--start", "2023-01")
    unit = result["units"][0]
    assert {"estimate", "lower", "upper", "p_value", "pre_rmspe", "weights", "placebo_in_time"} <= set(unit)
    assert sum(w["weight"] for w in unit["weights"]) == pytest.approx(1, abs=1e-3)
    assert result["permutation_p_value"] < 0.05
    assert result["estimate"] == pytest.approx(3.0, abs=1.0)


def test_its_poisson_reports_rate_ratios_and_the_counterfactual(panel):
    result = _json("its", "--input", str(panel), "--time", "month", "--outcome", "visits",
                   "--offset", "population", "--family", "poisson", "--unit", "pcn",
                   "--treated", "pilot", "--start", "2023-01")
    assert len(result["series"]) == 6
    first = result["series"][0]
    assert first["scale"] == "rate ratio" and first["level_change"]["estimate"] > 1
    assert {"counterfactual", "counterfactual_lower", "counterfactual_upper"} <= set(first["points"][0])
    assert result["seasonality"] is True


def test_spc_json_has_centre_limits_and_flagged_points_and_csv_works(panel, tmp_path):
    result = _json("spc", "--input", str(panel), "--time", "month", "--outcome", "rate",
                   "--unit", "pcn", "--first-treated", "started")
    series = {s["unit"]: s for s in result["series"]}
    treated = series["U00000"]
    assert {"centre", "lower", "upper", "flagged", "points", "variation", "warning"} <= set(treated)
    assert treated["points"][-1]["phase"] == 1  # limits recalculated from the start
    out = tmp_path / "spc.csv"
    done = _run("spc", "--input", str(panel), "--time", "month", "--outcome", "rate", "--unit",
                "pcn", "--format", "csv", "--out", str(out))
    assert done.code == 0, done.stderr
    table = pd.read_csv(out)
    assert len(table) == 30 * 36 and {"centre", "lower", "upper", "flagged"} <= set(table.columns)


def test_table_output_names_the_answer(panel):
    done = _run("did", "--input", str(panel), "--time", "month", "--outcome", "rate", "--unit",
                "pcn", "--first-treated", "started", "--draws", "199")
    assert done.code == 0, done.stderr
    assert "did: effect" in done.stdout and "pre-trend" in done.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--outcome", "nope"], "'nope'"),
    (["--outcome", "rate", "--treated", "pilot"], "--treated needs --start"),
    (["--outcome", "rate", "--first-treated", "started", "--start", "2023-01"], "not both"),
    (["--outcome", "rate", "--format", "xml"], "xml"),
    (["--outcome", "rate", "--family", "poisson", "--first-treated", "started"], "gaussian"),
])
def test_bad_options_are_refused_clearly(panel, args, message):
    done = _run("did", "--input", str(panel), "--time", "month", "--unit", "pcn", *args)
    assert done.code != 0
    assert message in done.stderr + done.stdout


def test_a_bad_cell_is_named_by_file_row_and_field(panel, tmp_path):
    frame = pd.read_csv(panel, dtype=str, keep_default_na=False)
    frame.loc[4, "rate"] = "n/a?"
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    done = _run("spc", "--input", str(bad), "--time", "month", "--outcome", "rate", "--unit", "pcn")
    assert done.code == 2
    assert str(bad) in done.stderr and "line 6" in done.stderr and "'rate'" in done.stderr
    missing = _run("spc", "--input", str(tmp_path / "none.csv"), "--time", "month", "--outcome", "rate")
    assert missing.code == 2 and "no such file" in missing.stderr


def test_counts_echoed_per_period_pass_disclosure_control(tmp_path):
    """With a count outcome, small counts are hidden and others rounded to 5 before any
    per-period value (count or rate) leaves; estimates are unchanged model summaries."""
    rng = np.random.default_rng(1)
    rows = [{"pcn": f"U{i}", "quarter": f"{2020 + t // 4}Q{t % 4 + 1}", "events": int(rng.poisson(6 + 3 * i)),
             "population": 1000.0, "start": "2023Q1" if i == 0 else ""}
            for i in range(12) for t in range(16)]
    path = tmp_path / "counts.csv"
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False)
    spc = _json("spc", "--input", str(path), "--time", "quarter", "--outcome", "events",
                "--offset", "population", "--unit", "pcn")
    assert "suppressed" in spc["disclosure"]
    truth = frame.set_index(["pcn", "quarter"])["events"]
    hidden = shown = 0
    for series in spc["series"]:
        for point in series["points"]:
            count = truth[(series["unit"], point["period"])]
            if count <= 7:
                assert point["value"] is None
                hidden += 1
            else:
                assert point["value"] * 1000 == pytest.approx(5 * np.floor(count / 5 + 0.5))
                shown += 1
    assert hidden and shown
    its = _json("its", "--input", str(path), "--time", "quarter", "--outcome", "events",
                "--offset", "population", "--family", "poisson", "--unit", "pcn",
                "--first-treated", "start")
    observed = [p["observed"] for p in its["series"][0]["points"]]
    assert all(v is None or v % 5 == 0 for v in observed) and None in observed


def test_did_with_matched_comparators(panel):
    result = _json("did", "--input", str(panel), "--time", "month", "--outcome", "rate",
                   "--unit", "pcn", "--first-treated", "started", "--match", "2", "--draws", "199")
    assert result["comparators_matched"] is True
    assert 2 <= len(result["comparators"]) <= 12  # at most 2 per treated PCN, shared ones once
    assert result["lower"] < 3.0 < result["upper"]
