"""`planner verify` prints each week's worst worker: when the Monte Carlo estimate (the run's
residual scenarios) exceeds a worker's target, the line says so, not only "0 above target"."""

import pandas as pd

from planner.commands.verify import _print_overflow
from planner.verification import PeriodCheck


def _check(p_mc):
    overflow = pd.DataFrame({"worker_id": ["w0", "w1"], "epsilon": [0.01, 0.01], "p_gaussian": [0.0048, 0.002],
                             "p_monte_carlo": p_mc})
    return PeriodCheck(0, None, 10, 168, (), [], overflow)


def test_monte_carlo_above_target_is_counted(capsys):
    _print_overflow([_check([0.0156, 0.004])])
    text = " ".join(capsys.readouterr().out.split())
    assert "worst worker w0 0.0048 Gaussian / 0.0156 Monte Carlo against its target 0.01" in text
    assert "0 of 2 worker(s) above target (Gaussian), 1 by Monte Carlo" in text


def test_no_monte_carlo_note_when_both_within(capsys):
    _print_overflow([_check([0.006, 0.004])])
    text = " ".join(capsys.readouterr().out.split())
    assert text.endswith("0 of 2 worker(s) above target (Gaussian)")
