"""Complementary suppression, checked as a property on random two-way tables: in every group of
rows along each dimension, the hidden cells are none, or two or more summing to more than 7, or
every cell of the group (then nothing can be worked out from the total either)."""

import numpy as np
import pandas as pd
import pytest

from placehealth.outputs.disclosure import TableRule, get_policy, suppression_mask


def _table(seed: int, n_rows: int = 40, n_cols: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cells = [(f"P{c}", f"L{r}") for r in range(n_rows) for c in range(n_cols) if rng.random() < 0.6]
    counts = rng.choice([0, 1, 3, 6, 9, 15, 40, 200], size=len(cells), p=[.1, .15, .15, .15, .15, .1, .1, .1])
    return pd.DataFrame({"period": "2025", "pcn_code": [c[0] for c in cells],
                         "lsoa_code": [c[1] for c in cells], "patients": counts.astype(float)})


@pytest.mark.parametrize("seed", range(8))
def test_every_group_hides_none_or_enough(seed):
    frame = _table(seed)
    rule = TableRule(counts=("patients",), dimensions=("pcn_code", "lsoa_code"), fixed=("period",))
    hidden = suppression_mask(frame, rule, get_policy("opensafely"))["patients"].to_numpy()
    values = frame["patients"].to_numpy()
    assert hidden[values <= 7].all(), "every small count is hidden"
    for along, by in (("lsoa_code", "pcn_code"), ("pcn_code", "lsoa_code")):
        for _, index in frame.groupby(by).groups.items():
            rows = frame.index.get_indexer(index)
            h = hidden[rows]
            if h.any() and not h.all():
                assert h.sum() >= 2 and values[rows][h].sum() > 7, (along, by, rows)
