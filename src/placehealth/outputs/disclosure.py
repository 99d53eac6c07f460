"""Small-number disclosure control: the single boundary every number leaves through.

(Placeholder while the policy is built: passes frames through unchanged.)
"""

from __future__ import annotations

import pandas as pd


def protect_frame(frame: pd.DataFrame, table: str | None = None) -> pd.DataFrame:
    return frame
