"""A week packed off the peak week's fleet says what that means: its cost against the peak week's
(the note read "week 12 does not fit the peak week's fleet; packed with the whole catalog" alone)."""

import re

import planner.pipeline as pipeline
from planner.scenarios import load_scenario

TINY = """
name: tiny
data:
  synthetic: {functions: 50, days: 28, seed: 2}
horizon: {weeks: 2}
solver: {backend: heuristic, time_limit_s: 5}
forecast: {n_windows: 1, n_jobs: 1}
"""


def test_note_of_a_week_off_the_peak_fleet_gives_its_cost(tmp_path, monkeypatch):
    real = pipeline._week_task

    def fleet_never_fits(task):  # every week but the peak one fails on the peak week's fleet
        return "no room on the peak week's fleet" if task[0] == "fleet" else real(task)

    monkeypatch.setattr(pipeline, "_week_task", fleet_never_fits)
    (tmp_path / "tiny.yaml").write_text(TINY)
    run = pipeline.run_plan(load_scenario(tmp_path / "tiny.yaml"))
    notes = run.summary["packing_notes"]
    assert len(notes) == 1, notes
    m = re.fullmatch(r"week (\d) does not fit the peak week's fleet \(week (\d)\); packed with the whole catalog: "
                     r"([\d,]+) a month against the peak week's ([\d,]+), with its own mix of server types", notes[0])
    assert m and m.group(1) != m.group(2), notes[0]
    costs = {wp["week"]: wp["cost_per_month"] for wp in run.summary["packing"]}
    assert float(m.group(3).replace(",", "")) == round(costs[int(m.group(1))])
    assert float(m.group(4).replace(",", "")) == round(costs[int(m.group(2))])
