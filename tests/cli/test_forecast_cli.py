"""``planner forecast`` through the CLI: outputs, side report, daily data, bad input exit codes."""

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from planner.cli import app

runner = CliRunner()


def _demand(weeks=4, seed=0):
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2026-01-05", periods=weeks * 168, freq="h")
    t = np.arange(len(ds))
    frames = []
    for g in range(2):
        cpu = np.maximum(0, 3 + g + np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.2, len(t)))
        frames.append(pd.DataFrame({"group_id": f"g{g}", "ds": ds, "cpu_cores": cpu, "memory_gb": 2 * cpu,
                                    "cpu_cores_mean": cpu, "memory_gb_mean": cpu, "invocations": cpu, "concurrency": cpu}))
    return pd.concat(frames, ignore_index=True)


def test_forecast_demand_parquet(tmp_path):
    src = tmp_path / "demand.parquet"
    _demand().to_parquet(src)
    out = tmp_path / "fc.parquet"
    result = runner.invoke(app, ["forecast", "--demand", str(src), "--horizon", "48", "--out", str(out)])
    assert result.exit_code == 0, result.output
    fc = pd.read_parquet(out)
    assert list(fc.columns) == ["unique_id", "ds", "resource", "mean", "q50", "q90", "q95", "q99"]
    assert len(fc) == 2 * 2 * 48 and (fc[["q50", "q90", "q95", "q99"]].to_numpy() >= 0).all()
    report = pd.read_csv(tmp_path / "fc.models.csv")
    assert len(report) == 4 and {"model", "mase", "fallback", "notes"} <= set(report.columns)
    assert "median backtest MASE" in result.output


def test_forecast_daily_long_telemetry_csv(tmp_path):
    rng = np.random.default_rng(1)
    ds = pd.date_range("2024-01-01", periods=300, freq="D")
    tel = pd.DataFrame({"unique_id": "f1", "ds": ds, "y": 100 + 20 * (ds.day_of_week >= 5) + rng.normal(0, 2, 300)})
    tel.loc[10, "y"] = np.nan  # a missing day
    src = tmp_path / "tel.csv"
    tel.to_csv(src, index=False)
    result = runner.invoke(app, ["forecast", "--telemetry", str(src), "--freq", "1D", "--horizon", "91",
                                 "--models", "seasonal_naive,holt_winters", "--out", str(tmp_path / "fc.csv"),
                                 "--report", str(tmp_path / "rep.csv")])
    assert result.exit_code == 0, result.output
    fc = pd.read_csv(tmp_path / "fc.csv")
    assert list(fc.columns) == ["unique_id", "ds", "mean", "q50", "q90", "q95", "q99"] and len(fc) == 91
    assert pd.read_csv(tmp_path / "rep.csv")["n_filled"].iloc[0] == 1


def test_forecast_huawei_telemetry(tmp_path, huawei_path):
    out = tmp_path / "hw.csv"
    result = runner.invoke(app, ["forecast", "--telemetry", str(huawei_path), "--format", "huawei",
                                 "--horizon", "24", "--n-windows", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out)["unique_id"].nunique() == 8


def test_bad_input_exit_codes(tmp_path):
    src = tmp_path / "demand.csv"
    _demand(weeks=1).to_csv(src, index=False)
    result = runner.invoke(app, ["forecast", "--demand", str(src), "--horizon", "0", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "horizon" in result.output
    result = runner.invoke(app, ["forecast", "--demand", str(src), "--freq", "weird", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "unknown frequency" in result.output
    result = runner.invoke(app, ["forecast", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "exactly one" in result.output
    result = runner.invoke(app, ["forecast", "--demand", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "not found" in result.output
    assert not (tmp_path / "x.csv").exists()


def test_forecast_with_a_holiday_file_writes_the_calibration_side_file(tmp_path):
    rng = np.random.default_rng(2)
    ds = pd.date_range("2023-01-02", periods=2 * 364, freq="D")
    holidays = pd.to_datetime(["2023-02-20", "2023-05-29", "2024-02-19", "2024-05-27", "2025-02-17"])
    y = 100 * np.where(ds.day_of_week >= 5, 0.8, 1.0) * np.where(ds.isin(holidays), 0.4, 1.0) + rng.normal(0, 1, len(ds))
    src = tmp_path / "tel.csv"
    pd.DataFrame({"unique_id": "f1", "ds": ds, "y": y}).to_csv(src, index=False)
    hol = tmp_path / "holidays.csv"
    hol.write_text("date\n" + "\n".join(str(d.date()) for d in holidays) + "\n")
    out = tmp_path / "fc.csv"
    result = runner.invoke(app, ["forecast", "--telemetry", str(src), "--freq", "1D", "--horizon", "91",
                                 "--holidays", str(hol), "--out", str(out)])
    assert result.exit_code == 0, result.output
    fc = pd.read_csv(out, parse_dates=["ds"]).set_index("ds")
    assert fc.loc["2025-02-17", "mean"] < 0.6 * fc.loc["2025-02-18", "mean"]  # a Monday holiday, against Tuesday
    cal = pd.read_csv(tmp_path / "fc.calibration.csv")
    assert set(cal["bucket"]) == {"w1-2", "w3-6", "w7-13"} and set(cal["level"]) == {0.5, 0.9, 0.95, 0.99}
    assert "held-out coverage by lead time" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("date\n2024-07-04\nnot-a-date\n")
    result = runner.invoke(app, ["forecast", "--telemetry", str(src), "--freq", "1D", "--horizon", "91",
                                 "--holidays", str(bad), "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "not-a-date" in result.output and "row 3" in result.output


def test_forecast_prints_combination_names_whole(tmp_path, monkeypatch):
    """A combination's name keeps its members on the terminal ("combo[a + b] ×1", not "combo ×1"):
    the README fleet chose three different combinations, printed as three bare "combo"."""
    import planner.forecast as pf

    real = pf.run_demand_forecast

    def with_combos(*args, **kwargs):
        run = real(*args, **kwargs)
        run.report.loc[0, "model"] = "combo[autoreg_fourier + window_average]"
        run.report.loc[1, "model"] = "combo[window_average + seasonal_naive]"
        return run

    monkeypatch.setattr(pf, "run_demand_forecast", with_combos)
    src = tmp_path / "demand.parquet"
    _demand().to_parquet(src)
    result = runner.invoke(app, ["forecast", "--demand", str(src), "--horizon", "24", "--n-windows", "2",
                                 "--out", str(tmp_path / "fc.parquet")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # the console wraps long lines
    assert "combo[autoreg_fourier + window_average] ×1" in text
    assert "combo[window_average + seasonal_naive] ×1" in text


def test_forecast_names_its_fallbacks_and_why(tmp_path):
    """A fallback is news: the terminal gives the count and the reason, not only a number."""
    src = tmp_path / "demand.parquet"
    _demand(weeks=3).to_parquet(src)
    out = tmp_path / "fc.csv"
    # a horizon of 13 weeks on 3 weeks of history: no full-horizon backtest is possible
    result = runner.invoke(app, ["forecast", "--demand", str(src), "--horizon", str(13 * 168), "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = pd.read_csv(tmp_path / "fc.models.csv")
    n = int(report["fallback"].sum())
    assert n > 0
    text = " ".join(result.output.split())
    assert f"fallbacks: {n} of {len(report)} series" in text
    assert "history too short for a full-horizon backtest" in text
