"""Energy and carbon (issue 17 item 2): the hand-computed two-worker example, carbon files and their
bad-input errors, the embedded profiles, and the scenario fields."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from planner.carbon import builtin_profile, intensity_at, read_intensity, write_builtin_profiles
from planner.energy import PowerSpec, ZoneIntensity, estimated_power, plan_energy, power_specs, worker_energy
from planner.errors import InputDataError
from planner.plan import WorkerLoads
from planner.scenarios import Scenario, load_scenario
from planner.errors import ScenarioError


def _two_workers():
    # w0 on a 10-core "a" server, w1 on a 20-core "b" server; two 84-hour slots make a week.
    mean = np.array([[[5.0, 1.0], [10.0, 1.0]], [[0.0, 1.0], [5.0, 1.0]]])  # [W, T, R]
    cap = np.array([[[10.0, 100.0]], [[20.0, 100.0]]])
    return WorkerLoads(["w0", "w1"], np.array(["a", "b"]), cap, mean, mean, np.zeros_like(mean))


def _servers():
    return pd.DataFrame({"type": ["a", "b"], "cpu_cores": [10.0, 20.0], "memory_gb": [100.0, 100.0],
                         "pool": ["default", "default"], "idle_watts": [100.0, 200.0], "max_watts": [300.0, 400.0],
                         "embodied_kg_per_month": [30.0, 60.0]})


def test_energy_and_carbon_equal_the_hand_computed_two_worker_example():
    loads = _two_workers()
    specs = power_specs(_servers())
    # w0: u = 0.5, 1.0 -> 200 W, 300 W; w1: u = 0, 0.25 -> 200 W, 250 W; PUE 1.5, 84 h per slot.
    kwh = worker_energy(loads, specs, pue=1.5, slot_hours=84.0)
    np.testing.assert_allclose(kwh, [[200 * 1.5 * 84 / 1000, 300 * 1.5 * 84 / 1000],
                                     [200 * 1.5 * 84 / 1000, 250 * 1.5 * 84 / 1000]])
    start = pd.Timestamp("2027-01-04")
    ci = np.r_[np.full(84, 100.0), np.full(84, 300.0)]  # gCO2e/kWh: first half of the week 100, then 300
    intensity = ZoneIntensity(start, {"z1": ci, "z2": ci * 2}, {"z1": "test", "z2": "test"})
    scenario = SimpleNamespace(energy=SimpleNamespace(pue=1.5),
                               servers=[SimpleNamespace(type="a", zones=["z1"]), SimpleNamespace(type="b", zones=["z2"])])
    week = SimpleNamespace(week=0, start=start, instance=SimpleNamespace(resources=("cpu_cores", "memory_gb")))
    # Three "b" servers installed: one carries w1, two stand idle all week (168 h at 200 W).
    installed = pd.DataFrame({"week": [0, 0], "pool": ["default"] * 2, "server_type": ["a", "b"], "installed": [1, 3]})
    out = plan_energy([week], {0: loads}, installed, _servers(), scenario, intensity).set_index("server_type")
    a_kwh = (200 + 300) * 1.5 * 84 / 1000
    a_op = (200 * 100 + 300 * 300) * 1.5 * 84 / 1000 / 1000
    assert out.loc["a", "energy_kwh"] == pytest.approx(a_kwh)
    assert out.loc["a", "carbon_operational_kg"] == pytest.approx(a_op)
    assert out.loc["a", "carbon_embodied_kg"] == pytest.approx(30.0 * 7 / (365.25 / 12))
    spare_kwh = 2 * 200 * 1.5 * 168 / 1000
    b_kwh = (200 + 250) * 1.5 * 84 / 1000 + spare_kwh
    b_op = (200 * 200 + 250 * 600) * 1.5 * 84 / 1e6 + spare_kwh * 400 / 1000  # zone z2: twice z1, mean 400
    assert out.loc["b", "energy_kwh"] == pytest.approx(b_kwh)
    assert out.loc["b", "carbon_operational_kg"] == pytest.approx(b_op)
    assert out.loc["b", "carbon_kg"] == pytest.approx(b_op + 3 * 60.0 * 7 / (365.25 / 12))


def test_unserved_workers_draw_nothing():
    kwh = worker_energy(_two_workers(), power_specs(_servers()), 1.0, 1.0, served=np.array([1.0, 0.0]))
    assert kwh[1].sum() == 0 and kwh[0].sum() > 0


def test_missing_power_figures_are_estimated_and_flagged():
    servers = _servers().drop(columns=["max_watts"])
    specs = power_specs(servers)
    assert specs["a"].estimated and specs["a"].idle_watts == 100.0
    assert specs["a"].max_watts == estimated_power(10, 100).max_watts
    assert not power_specs(_servers())["a"].estimated
    assert PowerSpec(100, 300, 0).watts(np.array([-1.0, 2.0])).tolist() == [100.0, 300.0]  # clipped


def _write(tmp_path, hours, values, name="ci.csv"):
    path = tmp_path / name
    pd.DataFrame({"timestamp": hours.strftime("%Y-%m-%d %H:%M"), "gco2_per_kwh": values}).to_csv(path, index=False)
    return path


def test_carbon_file_with_missing_hours_names_the_gap(tmp_path):
    hours = pd.date_range("2027-01-04", periods=48, freq="h").delete([10, 11, 12])
    path = _write(tmp_path, hours, np.full(len(hours), 200.0))
    with pytest.raises(InputDataError, match=r"ci.csv, row 11, column 'timestamp': missing hours: 3 hour\(s\) "
                                             r"from 2027-01-04 10:00:00 to 2027-01-04 12:00:00"):
        read_intensity(path)


@pytest.mark.parametrize("value,match", [("-5", "intensity '-5'; expected a number >= 0"),
                                         ("abc", "intensity 'abc'; expected a number >= 0")])
def test_carbon_file_bad_values(tmp_path, value, match):
    hours = pd.date_range("2027-01-04", periods=5, freq="h")
    values = ["100"] * 5
    values[3] = value
    path = _write(tmp_path, hours, values)
    with pytest.raises(InputDataError, match=f"row 5, column 'gco2_per_kwh'.*{match}"):
        read_intensity(path)


def test_carbon_file_duplicate_and_columns(tmp_path):
    hours = pd.DatetimeIndex(["2027-01-04 00:00", "2027-01-04 01:00", "2027-01-04 01:00"])
    with pytest.raises(InputDataError, match="row 4.*appears twice"):
        read_intensity(_write(tmp_path, hours, [1, 2, 3]))
    bad = tmp_path / "cols.csv"
    bad.write_text("when,value\n2027-01-04 00:00,1\n")
    with pytest.raises(InputDataError, match="expected columns timestamp"):
        read_intensity(bad)


def test_intensity_covers_the_horizon_or_serves_as_a_typical_year(tmp_path):
    year = pd.date_range("2022-01-01", periods=8760, freq="h")
    series = read_intensity(_write(tmp_path, year, np.arange(8760, dtype=float)))
    horizon = pd.date_range("2027-03-01 05:00", periods=3, freq="h")
    # Typical year: 1 March 05:00 of 2022 is hour (31 + 28) * 24 + 5.
    assert intensity_at(series, horizon).tolist() == [(59 * 24 + 5) + i for i in range(3)]
    leap = pd.DatetimeIndex(["2028-02-29 10:00"])
    assert intensity_at(series, leap).tolist() == [(31 + 27) * 24 + 10]  # 28 February's hour
    short = series.iloc[:100]
    with pytest.raises(InputDataError, match="not the horizon's hours"):
        intensity_at(short, horizon)
    own = series.iloc[:48]
    assert intensity_at(own, year[:3]).tolist() == [0.0, 1.0, 2.0]  # covered: its own hours


def test_builtin_profiles_shapes_and_files(tmp_path):
    mixed, solar, hydro = (builtin_profile(n) for n in ("mixed", "solar", "hydro"))
    assert len(mixed) == 8760 and (mixed > 0).all()
    assert hydro.mean() < solar.mean() < mixed.mean()
    by_hour = solar.groupby(solar.index.hour).mean()
    assert 10 <= by_hour.idxmin() <= 14  # the solar grid is cleanest around noon
    paths = write_builtin_profiles(tmp_path)
    assert [p.name for p in paths] == ["hydro.csv", "mixed.csv", "solar.csv"]
    np.testing.assert_allclose(read_intensity(paths[1]).to_numpy(), mixed.to_numpy())


def test_shipped_profile_files_are_the_generators_output():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "data" / "carbon"
    for name in ("mixed", "solar", "hydro"):
        shipped = read_intensity(folder / f"{name}.csv")
        np.testing.assert_allclose(shipped.to_numpy(), builtin_profile(name).to_numpy(), err_msg=name)


def test_builtin_profiles_fall_within_the_real_regions(grid_carbon_dir):
    """The derived profiles against the six EIA-930-derived regions of 2022 (../shared/data)."""
    folder = grid_carbon_dir
    # The real tables have empty hours, which the planner's reader refuses with the row named.
    with pytest.raises(InputDataError, match=r"CISO_2022.csv, row \d+, column 'avg_CI': intensity empty"):
        read_intensity(folder / "CISO_2022.csv")
    real = {p.stem: pd.read_csv(p, parse_dates=["timestamp"]).dropna(subset=["avg_CI"])
            for p in sorted(folder.glob("*_2022.csv"))}
    means = {k: f["avg_CI"].mean() for k, f in real.items()}
    lo, hi = min(means.values()), max(means.values())
    for name in ("mixed", "solar", "hydro"):
        assert lo <= builtin_profile(name).mean() <= hi, (name, means)
    ciso = real["CISO_2022"].set_index("timestamp")["avg_CI"]
    ciso.index = ciso.index.tz_localize(None)
    local = ciso.groupby((ciso.index - pd.Timedelta(hours=8)).hour).mean()  # UTC to Pacific standard time
    ours = builtin_profile("solar").groupby(builtin_profile("solar").index.hour).mean()
    assert abs(int(local.idxmin()) - int(ours.idxmin())) <= 3  # midday dip at about the same hour


def test_scenario_energy_fields_and_bad_input(tmp_path):
    sc = Scenario()
    assert sc.energy.pue == 1.2 and sc.servers[0].idle_watts == 123
    path = tmp_path / "s.yaml"
    path.write_text("servers:\n  - {type: x, cpu_cores: 8, memory_gb: 32, cost_per_month: 100, idle_watts: -5}\n")
    with pytest.raises(ScenarioError, match=r"servers.0.idle_watts: Input should be greater than or equal to 0"):
        load_scenario(path)
    path.write_text("servers:\n  - {type: x, cpu_cores: 8, memory_gb: 32, cost_per_month: 100, idle_watts: 50, "
                    "max_watts: 40}\n")
    with pytest.raises(ScenarioError, match="max_watts 40 is below idle_watts 50"):
        load_scenario(path)
    path.write_text("energy: {carbon_intensity: {eu-west: builtin:solar}}\n")
    with pytest.raises(ScenarioError, match=r"key\(s\) \['eu-west'\] name no zone"):
        load_scenario(path)
    path.write_text("energy: {pue: 0.9}\n")
    with pytest.raises(ScenarioError, match="energy.pue"):
        load_scenario(path)


def test_run_fails_fast_on_a_carbon_file_with_missing_hours(tmp_path):
    from typer.testing import CliRunner

    from planner.cli import app

    hours = pd.date_range("2026-02-23", periods=400, freq="h").delete(50)
    _write(tmp_path, hours, np.full(len(hours), 250.0), name="grid.csv")
    path = tmp_path / "s.yaml"
    path.write_text("data: {synthetic: {functions: 20, days: 56, seed: 1}}\nhorizon: {weeks: 2}\n"
                    "energy: {carbon_intensity: {default: grid.csv}}\n")
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "--no-history"])
    assert result.exit_code == 2, result.output
    assert "grid.csv, row 51, column 'timestamp': missing hours" in result.output.replace("\n", "")
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_carbon_slot_cost_for_the_deferral_follows_the_hourly_intensity():
    from planner.energy import carbon_slot_cost
    from planner.scenarios import Scenario

    servers = _servers().assign(cost_per_month=[1000.0, 2600.0])
    start = pd.Timestamp("2027-01-04")
    ci = np.tile(np.r_[np.full(12, 400.0), np.full(12, 100.0)], 7)  # dirty mornings, clean afternoons
    intensity = ZoneIntensity(start, {"default": ci}, {"default": "test"})
    assert carbon_slot_cost(Scenario(), intensity, servers) is None  # no price: no shifting
    sc = Scenario.model_validate({"energy": {"carbon_price": 500, "pue": 1.5}})
    cost = carbon_slot_cost(sc, intensity, servers)
    slots = pd.date_range(start, periods=168, freq="h").strftime("%Y-%m-%dT%H:%M")
    inst = SimpleNamespace(slots=tuple(slots))
    c = cost(inst)
    # The dearest type (b: 200 W idle, 400 W full, 20 cores): 10 W a core x 1.5 = 0.015 kWh per core-hour.
    per_core_hour = 500 * 400.0 / 1e6 * 0.015
    assert c[0] == pytest.approx(per_core_hour / (2600 * 12 / 52))
    assert c[12] == pytest.approx(c[0] / 4)  # a quarter of the intensity, a quarter of the cost
