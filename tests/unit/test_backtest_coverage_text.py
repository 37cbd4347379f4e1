"""The backtest's refusal of short actuals reads as English for a one-week horizon ("(1 week)")."""

import pandas as pd
import pytest

from planner.backtest import check_coverage
from planner.errors import InputDataError


def test_one_week_horizon_is_one_week():
    ds = pd.date_range("2026-01-19", periods=96, freq="h")
    with pytest.raises(InputDataError, match=r"from 2026-01-19 00:00:00 \(1 week\): week 0 \(2026-01-19, "
                                             r"72 of 168 hours missing\)"):
        check_coverage(pd.DataFrame({"ds": ds}), pd.Timestamp("2026-01-19"), 1, "short.parquet")
