"""``planner profile``: shape features, clusters and complementary pairs of each function."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from planner.commands._common import captured_warnings, console, handle_errors


class TelemetryFormat(str, Enum):
    """Telemetry layouts the readers understand."""

    huawei = "huawei"
    azure = "azure"
    azure2019 = "azure2019"  # an alias of azure
    long = "long"


class Value(str, Enum):
    """Quantity whose shape is profiled (demand columns use the within-slot peak)."""

    invocations = "invocations"
    concurrency = "concurrency"
    cpu_cores = "cpu_cores"
    memory_gb = "memory_gb"


class Level(str, Enum):
    """Profile each function or each group (functions summed by ``group_id``)."""

    function = "function"
    group = "group"


@handle_errors
def profile(
    telemetry: Path = typer.Option(..., "--telemetry", help="Telemetry file (Azure: the folder of day files)."),
    fmt: TelemetryFormat = typer.Option(..., "--format", help="Layout of the telemetry (azure2019 is an alias of azure)."),
    out: Path = typer.Option(..., "--out", help="Output folder for profiles.csv, pairs.csv and the PNGs."),
    catalog: Path | None = typer.Option(None, "--catalog", help="FunctionCatalog file (required for --format long)."),
    slot: str = typer.Option("1h", "--slot", help="Profiling slot, e.g. 1h or 30min."),
    level: Level = typer.Option(Level.function, "--level", help="Profile functions or groups."),
    value: Value = typer.Option(Value.invocations, "--value", help="Profile invocations or a demand column."),
    pairs: int = typer.Option(20, "--pairs", min=1, help="Number of most complementary pairs to report (by the capacity they save together)."),
    clusters: int | None = typer.Option(None, "--clusters", min=1, help="Number of clusters (default: by silhouette)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the clustering."),
    force: bool = typer.Option(False, "--force", help="Replace an output folder that already holds files."),
) -> None:
    """Write profiles.csv (features and cluster per function), pairs.csv (the pairs that save the
    most capacity by sharing a worker, with correlation and multiplexing gain), centroids.png and correlation.png."""
    from rich.table import Table

    from planner.catalog import read_catalog
    from planner.demand import parse_slot
    from planner.errors import InputDataError
    from planner.ingest import canonical_format, read_telemetry
    from planner.io import refuse_existing
    from planner.profile import profile_functions, write_profile_outputs

    parse_slot(slot)  # bad options fail before a large trace is read
    refuse_existing(out, force)
    with captured_warnings():
        try:
            tel, cat = read_telemetry(telemetry, canonical_format(fmt), catalog=catalog)
        except ValueError as exc:
            if isinstance(exc, InputDataError):
                raise
            raise InputDataError(str(exc)) from None
        if catalog is not None and fmt is not TelemetryFormat.long:
            # The readers already merged the file's rows; keep its extra columns (e.g. deadline).
            given = read_catalog(catalog)
            extra = [c for c in given.columns if c not in cat.columns]
            if extra:
                cat = cat.merge(given[["unique_id", *extra]], on="unique_id", how="left")
        try:
            result = profile_functions(
                tel, cat, slot=slot, level=level.value, value=value.value, n_pairs=pairs, k=clusters, seed=seed
            )
        except ValueError as exc:  # the clustering's own range check: an option too large, not a bug
            if clusters is None or isinstance(exc, InputDataError) or not str(exc).startswith("k must be in"):
                raise
            raise InputDataError(f"--clusters {clusters}: more clusters than series with a shape to cluster ({exc}); "
                                 "give fewer, or leave --clusters out to choose by silhouette") from None
        paths = write_profile_outputs(result, out)

    summary = result.summary()
    console.print(
        f"profiled {summary['series']} {level.value}(s) on {slot} slots: {summary['clusters']} cluster(s), "
        f"{summary['idle']} idle; embedding variance {summary['embedding_variance']}"
    )
    for note in result.notes:
        console.print(f"  note: {note}", highlight=False)
    unit = value.value.replace("_", " ") + ("" if value is not Value.invocations else f" per {slot}")
    table = Table(title=f"most complementary pairs (peak saved by sharing a worker, in {unit})")
    for col in ("a", "b", "saving", "share", "correlation", "gain"):
        table.add_column(col, justify="left" if col in ("a", "b") else "right")
    for row in result.pairs.head(5).itertuples(index=False):
        table.add_row(str(row.a), str(row.b), f"{row.saving:.4g}", f"{row.saving_share:.1%}", f"{row.correlation:.3f}",
                      f"{row.multiplexing_gain:.3f}")
    console.print(table)
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``profile`` command to ``app``."""
    app.command("profile")(profile)
