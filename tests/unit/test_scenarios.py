"""Scenario files: validation names the field and the file, bases merge, paths resolve."""

import pytest

from planner.errors import ScenarioError
from planner.scenarios import default_scenario, load_scenario


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_default_scenario_is_a_quarter_on_the_synthetic_fleet():
    s = default_scenario()
    assert s.horizon.weeks == 13 and s.data.format == "synthetic"
    assert set(s.tiers) >= {"premium", "standard", "economy"}


def test_misspelt_field_is_named(tmp_path):
    p = write(tmp_path, "s.yaml", "solvr: {backend: milp}\n")
    with pytest.raises(ScenarioError, match=r"s\.yaml: invalid scenario\n  solvr: unknown field \(did you mean 'solver'\?\)"):
        load_scenario(p)
    p = write(tmp_path, "t.yaml", "zzz: 1\n")  # nothing near it
    with pytest.raises(ScenarioError, match=r"zzz: unknown field \(misspelt\?\)"):
        load_scenario(p)


@pytest.mark.parametrize("text, lines", [
    ("servers: [{type: a, cpu_cores: 4, memory_gb: 8, cost_per_month: 1, lead_time_week: 2}]\n",
     ["servers.0.lead_time_week: unknown field (did you mean 'lead_time_weeks'?)"]),
    ("tiers: {premium: {headrom: 0.1}}\n", ["tiers.premium.headrom: unknown field (did you mean 'headroom'?)"]),
    ("retired: [{group: a, form: 2027-01-01}]\n",
     ["retired.0.from: Field required", "retired.0.form: unknown field (did you mean 'from'?)"]),
    # a union (a list of items or {from_history_weeks: N}): the member the input is, its path as in the file
    ("inventory: [{server_type: c-32, cont: 4}]\n",
     ["inventory.0.count: Field required", "inventory.0.cont: unknown field (did you mean 'count'?)"]),
    ("inventory: {from_history_week: 1}\n",
     ["inventory.from_history_weeks: Field required",
      "inventory.from_history_week: unknown field (did you mean 'from_history_weeks'?)"]),
])
def test_misspelt_nested_field_names_the_nearest_and_only_the_member_given(tmp_path, text, lines):
    p = write(tmp_path, "s.yaml", text)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(p)
    assert str(exc.value).splitlines()[1:] == ["  " + x for x in lines]


def test_bad_value_names_its_path(tmp_path):
    p = write(tmp_path, "s.yaml", "tiers: {premium: {headroom: 1.5}}\n")
    with pytest.raises(ScenarioError, match=r"tiers\.premium\.headroom: Input should be less than 1"):
        load_scenario(p)


def test_invalid_yaml_names_line(tmp_path):
    p = write(tmp_path, "s.yaml", "name: x\nsolver: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"s\.yaml: line \d+, column \d+ invalid YAML"):
        load_scenario(p)


def test_contradictory_rules(tmp_path):
    p = write(tmp_path, "s.yaml", "customers: {default_tier: gold}\n")
    with pytest.raises(ScenarioError, match="default_tier 'gold' is not a defined tier"):
        load_scenario(p)
    p = write(tmp_path, "t.yaml", "servers: [{type: a, cpu_cores: 4, memory_gb: 8, cost_per_month: 1, max_count: 1, initial: 3}]\n")
    with pytest.raises(ScenarioError, match="initial 3 exceeds max_count 1"):
        load_scenario(p)


def test_whole_scenario_check_reads_as_its_own_message(tmp_path):
    """A check across fields (an inventory naming an unknown type) is not prefixed with pydantic's
    "(top level): Value error, "; its message names the field itself."""
    p = write(tmp_path, "s.yaml", "inventory: [{server_type: c-23, count: 4}]\n")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(p)
    assert str(exc.value).splitlines()[1] == ("  inventory[0]: server type 'c-23' is not in the server catalog "
                                             "(c-32, m-64, r-64)")


def test_base_inheritance_overrides_only_what_it_names(tmp_path):
    write(tmp_path, "base.yaml", "name: base\nsolver: {backend: milp, time_limit_s: 7}\nhorizon: {weeks: 4}\n")
    v = write(tmp_path, "v.yaml", "base: base.yaml\nname: v\nsolver: {time_limit_s: 3}\ntiers: {premium: {headroom: 0.3}}\n")
    s = load_scenario(v)
    assert (s.name, s.solver.backend, s.solver.time_limit_s, s.horizon.weeks) == ("v", "milp", 3, 4)
    assert s.tiers["premium"].headroom == 0.3 and s.tiers["premium"].overflow_risk == 0.001
    assert "standard" in s.tiers  # named tiers refine the defaults; the others stay


def test_base_cycle_and_missing_base(tmp_path):
    write(tmp_path, "a.yaml", "base: b.yaml\n")
    write(tmp_path, "b.yaml", "base: a.yaml\n")
    with pytest.raises(ScenarioError, match="form a cycle"):
        load_scenario(tmp_path / "a.yaml")
    write(tmp_path, "c.yaml", "base: nope.yaml\n")
    with pytest.raises(ScenarioError, match="nope.yaml: scenario file not found"):
        load_scenario(tmp_path / "c.yaml")


def test_data_paths_are_relative_to_the_file_that_names_them(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path, "sub/base.yaml", "data: {format: huawei, path: trace.csv}\n")
    v = write(tmp_path, "v.yaml", "base: sub/base.yaml\n")
    assert load_scenario(v).data.path == (tmp_path / "sub" / "trace.csv").resolve()


def test_examples_load():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "examples"
    files = sorted(root.rglob("*.yaml"))
    assert len(files) >= 6
    for f in files:
        load_scenario(f)


def test_the_2000_function_backtest_is_the_300_one_on_a_larger_fleet():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "examples"
    small, big = (load_scenario(root / f) for f in ("backtest-synthetic.yaml", "backtest-synthetic-2k.yaml"))
    assert (small.data.synthetic.functions, big.data.synthetic.functions) == (300, 2000)
    # the same generator days, seed, origins, servers and (empty) inventory, launches and retirements
    same = {"data": {"synthetic": {"functions"}}, "name": True, "description": True, "source_path": True}
    assert big.model_dump(exclude=same) == small.model_dump(exclude=same)


def test_the_annual_example_is_the_embedded_default_planned_a_year_ahead():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    year, default = load_scenario(root / "examples" / "annual.yaml"), default_scenario()
    assert (year.horizon.weeks, default.horizon.weeks) == (52, 13)
    same = {"horizon": True, "name": True, "description": True, "source_path": True}
    assert year.model_dump(exclude=same) == default.model_dump(exclude=same)
