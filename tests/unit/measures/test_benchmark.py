"""compare_to_benchmark(): the Fingertips comparison of a confidence interval with a benchmark."""

from __future__ import annotations

import pandas as pd
import pytest

from placehealth.measures import compare_to_benchmark, proportion


def test_words_with_and_without_polarity():
    frame = pd.DataFrame({"lowercl": [0.6, 0.2, 0.4, None], "uppercl": [0.7, 0.3, 0.6, 0.5]})
    assert list(compare_to_benchmark(frame, 0.5)["comparison"]) == [
        "higher", "lower", "similar", "not compared"]
    assert list(compare_to_benchmark(frame, 0.5, polarity="high_is_good")["comparison"][:3]) == [
        "better", "worse", "similar"]
    assert list(compare_to_benchmark(frame, 0.5, polarity="low_is_good")["comparison"][:3]) == [
        "worse", "better", "similar"]


def test_touching_the_benchmark_is_similar_and_column_benchmarks():
    frame = pd.DataFrame({"lowercl": [0.5, 0.1], "uppercl": [0.9, 0.5], "england": [0.5, 0.5]})
    assert list(compare_to_benchmark(frame, "england")["comparison"]) == ["similar", "similar"]


def test_with_proportion_output_and_other_levels():
    out = proportion(pd.DataFrame({"x": [90, 40, 55], "n": [100, 100, 100]}), "x", "n",
                     confidence=[0.95, 0.998])
    rated = compare_to_benchmark(out, 0.55, lower_cl="lower99_8cl", upper_cl="upper99_8cl",
                                 polarity="high_is_good", output="vs_england_99_8")
    assert list(rated["vs_england_99_8"]) == ["better", "similar", "similar"]
    rated = compare_to_benchmark(out, 0.55, lower_cl="lower95_0cl", upper_cl="upper95_0cl")
    assert list(rated["comparison"]) == ["higher", "lower", "similar"]


def test_bad_arguments():
    frame = pd.DataFrame({"lowercl": [1], "uppercl": [2]})
    with pytest.raises(ValueError, match="polarity"):
        compare_to_benchmark(frame, 1, polarity="up")
    with pytest.raises(ValueError, match=r"\['eng'\] not found"):
        compare_to_benchmark(frame, "eng")
