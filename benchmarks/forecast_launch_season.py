"""The same anticipated service launched before its category's seasonal peak and before its trough
(examples/whatif/launch-before-peak.yaml, launch-before-trough.yaml): the demand each adds to the
plan, from the run's own forecast stage (history, forecast, anticipated services), without packing.

For each scenario: the service's mean and q99 CPU cores over its first 4 and 8 weeks after launch
and its peak q99 over the horizon, and the category's month factors it was shaped by.
`planner whatif examples/halfyear.yaml examples/whatif/launch-before-*.yaml` plans both in full.

Run:  PYTHONPATH=. python benchmarks/forecast_launch_season.py
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner import columns as C  # noqa: E402
from planner.history import load_history  # noqa: E402
from planner.pipeline import _calendar_effects, adjust_forecast, forecast_stage, horizon_start  # noqa: E402
from planner.scenarios import load_scenario  # noqa: E402

ROOT = Path(__file__).resolve().parents[1] / "examples" / "whatif"


def main() -> int:
    warnings.simplefilter("ignore")
    scenarios = {name: load_scenario(ROOT / f"launch-before-{name}.yaml") for name in ("peak", "trough")}
    first = next(iter(scenarios.values()))
    t0 = time.time()
    history = load_history(first)  # both share the base's history and forecast
    forecast, _ = forecast_stage(first, history, horizon_start(first, history))
    print(f"history and forecast: {time.time() - t0:.0f} s")
    rows = []
    for name, sc in scenarios.items():
        svc = sc.anticipated[0]
        fc, _ = adjust_forecast(sc, history, forecast)
        one = fc[(fc[C.UNIQUE_ID] == svc.name) & (fc[C.RESOURCE] == C.CPU_CORES)].set_index(C.DS).sort_index()
        launch = pd.Timestamp(svc.launch)
        row = {"launch": str(launch.date())}
        for weeks in (4, 8):
            part = one[(one.index >= launch) & (one.index < launch + pd.Timedelta(weeks=weeks))]
            row[f"mean_{weeks}w"], row[f"q99_{weeks}w"] = part[C.MEAN].mean(), part["q99"].mean()
        row["peak_q99"] = one["q99"].max()
        rows.append(pd.Series(row, name=name))
    table = pd.DataFrame(rows)
    print(table.to_string(float_format=lambda v: f"{v:.2f}"))
    ratio = table.loc["peak", "mean_8w"] / table.loc["trough", "mean_8w"]
    print(f"first 8 weeks, mean cores before the peak / before the trough: {ratio:.2f}")
    from planner.anticipate import AnticipatedService

    svc = first.anticipated[0]
    effects, _ = _calendar_effects(history, [AnticipatedService(svc.name, svc.customer, tuple(svc.analogs),
                                                                launch_ds=pd.Timestamp(svc.launch),
                                                                category=next(iter(svc.category.items())))])
    col, value = next(iter(svc.category.items()))
    eff = effects[col]
    months = eff[(eff["effect"] == "month") & (eff["category"] == value)].set_index("level")["factor"]
    print(f"month factors of {col}={value}: " + ", ".join(f"{int(k)}: {v:.2f}" for k, v in months.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
