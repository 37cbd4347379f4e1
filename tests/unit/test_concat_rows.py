import warnings

import pandas as pd

from planner.pipeline import concat_rows


def test_frames_without_rows_add_none_and_set_no_dtype():
    empty = pd.DataFrame({"week": pd.Series(dtype=object), "cost": pd.Series(dtype=object)})
    bought = pd.DataFrame({"week": [3], "cost": [1846.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # pandas warns when an empty frame would set dtypes
        out = concat_rows([empty, bought, empty])
    assert out.to_dict("list") == {"week": [3], "cost": [1846.0]}
    assert out["week"].dtype == "int64" and out["cost"].dtype == "float64"


def test_no_rows_at_all_keeps_the_columns():
    out = concat_rows([pd.DataFrame(columns=["week", "cost"]), pd.DataFrame(columns=["week", "cost"])])
    assert list(out.columns) == ["week", "cost"] and out.empty
