"""The only module that calls every stage in order."""

from __future__ import annotations

from pathlib import Path

from planner.synth import SynthSpec

# The embedded default: a year of history so that weekly shape, season and trend are all present.
DEFAULT_FLEET = SynthSpec(n_functions=300, days=364, seed=2026, start="2025-12-29", interval="5min")


def run_default(out: Path, spec: SynthSpec = DEFAULT_FLEET):
    """Generate the default fleet and run the stages that exist so far; write their outputs."""
    from planner.ingest.job import from_telemetry, write_ingested
    from planner.synth import make_fleet

    fleet = make_fleet(spec)
    result = from_telemetry(fleet.telemetry(), fleet.catalog, slot="1h", source=f"synthetic fleet seed {spec.seed}")
    write_ingested(result, out, telemetry=False)
    return result
