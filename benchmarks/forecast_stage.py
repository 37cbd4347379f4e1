"""The default run's forecast stage on its own: load the embedded default's history, then time
``planner.pipeline.forecast_stage_run`` (CPU and wall) and count the models chosen.

Run:  PYTHONPATH=. python benchmarks/forecast_stage.py [--n-jobs 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.history import load_history  # noqa: E402
from planner.pipeline import forecast_stage_run, horizon_start  # noqa: E402
from planner.scenarios import default_scenario  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-jobs", type=int, default=1, help="forecast workers (1: the CPU time is the stage's own)")
    args = ap.parse_args(argv)
    scenario = default_scenario()
    c0, w0 = time.process_time(), time.time()
    history = load_history(scenario)
    print(f"history: CPU {time.process_time() - c0:.1f} s, wall {time.time() - w0:.1f} s")
    scenario = scenario.model_copy(update={"forecast": scenario.forecast.model_copy(update={"n_jobs": args.n_jobs})})
    c0, w0 = time.process_time(), time.time()
    run = forecast_stage_run(scenario, history, horizon_start(scenario, history))
    print(f"forecast stage (n_jobs={args.n_jobs}): CPU {time.process_time() - c0:.1f} s, wall {time.time() - w0:.1f} s, "
          f"{len(run.report)} series, load average {os.getloadavg()[0]:.1f}")
    print("models chosen:", run.report["model"].value_counts().to_dict())
    print("fallbacks:", int(run.report["fallback"].sum()))
    ramp = run.report["notes"].str.contains("launch ramp")
    taken = int((run.report["model"] == "launch_ramp").sum())
    print(f"launch ramp: offered to {int(ramp.sum())} series, taken by {taken}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
