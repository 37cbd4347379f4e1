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


def test_monte_carlo_share_comes_with_its_sampling_interval(capsys):
    from models.packing.verify import wilson_interval

    lo, hi = wilson_interval([17 / 1344, 60 / 1344, 0.0], 1344)
    assert lo[0] < 0.01 < hi[0]  # 1.26 % over 1,344 scenarios: a 1 % target inside the interval
    assert lo[1] > 0.01  # 4.5 %: beyond the sampling error
    assert lo[2] == 0.0 and 0 < hi[2] < 0.003  # nothing seen still leaves a small upper end
    overflow = pd.DataFrame({"worker_id": ["w0", "w1"], "epsilon": [0.01, 0.01], "p_gaussian": [0.0048, 0.002],
                             "p_monte_carlo": [17 / 1344, 60 / 1344], "mc_scenarios": 1344,
                             "p_monte_carlo_low": lo[:2], "p_monte_carlo_high": hi[:2]})
    _print_overflow([PeriodCheck(0, None, 10, 168, (), [], overflow)])
    text = " ".join(capsys.readouterr().out.split())
    assert "w0 0.0048 Gaussian / 0.0126 Monte Carlo (95 % 0.0079–0.02 over 1,344 scenarios)" in text
    assert "2 by Monte Carlo (1 beyond its sampling error)" in text
