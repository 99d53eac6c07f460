"""The pieces the comparison's recomputation is built from: each recomputed row's columns put back
on the protected row with the same keys, and each indicator's method read from the registry or
from its rows."""

import numpy as np
import pandas as pd

from placehealth.outputs.disclosure import SUPPRESSED
from placehealth.outputs.recomputed import _indicators, _overwrite

STRING = pd.StringDtype("pyarrow", na_value=float("nan"))


def test_recomputed_columns_go_back_on_the_rows_with_their_keys():
    protected = pd.DataFrame({
        "unit_code": pd.array(["A", "B", "C", "D"], dtype=STRING),
        "unit_name": pd.array(["old a", "old b", None, "old d"], dtype=STRING),
        "note": pd.Series(["x", "y", "z", "w"], dtype=object),
        "value": [1.0, 2.0, 3.0, 4.0],
        SUPPRESSED: ["", "value", "", ""],
    })
    recomputed = pd.DataFrame({  # no row for B; C twice (the first counts); E is not published
        "unit_code": pd.array(["D", "C", "C", "A", "E"], dtype=STRING),
        "unit_name": pd.array(["new d", "new c", "other c", None, "new e"], dtype=STRING),
        "note": pd.Series(["dd", "cc", "c2", "aa", "ee"], dtype=object),
        "value": [40.0, 30.0, 31.0, 10.0, 50.0],
        SUPPRESSED: ["z", "z", "z", "z", "z"],
    })
    out = _overwrite(protected, recomputed, ["unit_code"])
    assert out["unit_name"].dtype == STRING
    assert out["unit_name"].tolist()[2:] == ["new c", "new d"]
    assert out["unit_name"].isna().tolist() == [True, True, False, False]
    assert out["note"].tolist()[0] == "aa" and pd.isna(out["note"][1]) and out["note"].tolist()[2:] == ["cc", "dd"]
    assert out["value"].tolist()[0] == 10.0 and np.isnan(out["value"][1]) and out["value"].tolist()[2:] == [30.0, 40.0]
    assert out[SUPPRESSED].tolist() == ["", "value", "", ""]  # the protected row's own list
    assert protected["unit_name"].tolist()[0] == "old a"  # the input is not changed


def test_a_column_of_another_type_is_converted_to_the_protected_one():
    protected = pd.DataFrame({"unit_code": ["A", "B"], "unit_name": pd.array(["a", "b"], dtype=STRING)})
    recomputed = pd.DataFrame({"unit_code": ["B"], "unit_name": pd.Series(["new b"], dtype=object)})
    out = _overwrite(protected, recomputed, ["unit_code"])
    assert out["unit_name"].dtype == STRING
    assert pd.isna(out["unit_name"][0]) and out["unit_name"][1] == "new b"


def test_indicators_come_from_the_registry_else_from_their_rows():
    frame = pd.DataFrame({
        "indicator": ["reg", "wilson", "rate", "wilson", None],
        "method": ["Byar", "Wilson", "Byar", "Wilson", "Wilson"],
        "numerator": [5.0, 20.0, 30.0, 10.0, 1.0],
        "denominator": [100.0, 200.0, 3000.0, 50.0, 2.0],
        "value": [5.0, 10.0, 1000.0, 20.0, 50.0],  # per 100 for the proportion, per 100,000 for the rate
        "polarity": ["low_is_good", "high_is_good", "odd", "high_is_good", "high_is_good"],
    })
    registry = pd.DataFrame({"name": ["reg", "rate"], "method": ["rate", "not a method"],
                             "multiplier": [1000.0, 1.0], "polarity": ["low_is_good", "high_is_good"]})
    known = _indicators(frame, lambda name: registry if name == "indicators" else None)
    assert list(known) == ["reg", "wilson", "rate"]  # first seen first; a missing name left out
    assert (known["reg"].method, known["reg"].multiplier, known["reg"].polarity) == ("rate", 1000.0, "low_is_good")
    assert (known["wilson"].method, known["wilson"].multiplier, known["wilson"].polarity) == ("proportion", 100.0, "high_is_good")
    # registered with an unknown method: read from its rows (its polarity not a known one)
    assert (known["rate"].method, known["rate"].multiplier, known["rate"].polarity) == ("rate", 100_000.0, "none")
    assert list(_indicators(frame, lambda name: None)) == ["reg", "wilson", "rate"]
