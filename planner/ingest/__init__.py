"""Telemetry readers. Each returns ``(Telemetry, FunctionCatalog)``, validated.

- :func:`read_azure2019` — Azure Functions 2019 trace day files.
- :func:`read_huawei` — Huawei Cloud per-function requests (``FUNC---APP---poolNN-CPU-MEM`` columns).
- :func:`read_long` — generic long table ``unique_id, ds, y`` plus a catalog file.
"""

from planner.errors import InputDataError
from planner.ingest.azure2019 import read_azure2019
from planner.ingest.huawei import read_huawei
from planner.ingest.long import read_long

FORMATS = ("azure", "huawei", "long")
#: Other names accepted for a format (the CLI options and scenarios take them too).
FORMAT_ALIASES = {"azure2019": "azure"}


def canonical_format(fmt) -> str:
    """The format's one name: ``azure2019`` is ``azure``."""
    fmt = getattr(fmt, "value", fmt)
    return FORMAT_ALIASES.get(fmt, fmt)


def read_telemetry(path, fmt: str, *, catalog=None, **options):
    """Dispatch to the reader of ``fmt`` (one of :data:`FORMATS` or an alias)."""
    fmt = canonical_format(fmt)
    if fmt == "azure":
        telemetry, cat = read_azure2019(path, **options)
        if catalog is not None:  # e.g. real CPU sizes, which the trace does not record
            from planner.catalog import override_catalog, validate_catalog
            from planner.ingest.checks import matched_catalog

            cat = validate_catalog(override_catalog(cat, matched_catalog(cat, catalog, trace=path)))
        return telemetry, cat
    if fmt == "huawei":
        return read_huawei(path, catalog=catalog, **options)
    if fmt == "long":
        if catalog is None:
            raise InputDataError("the long format needs a catalog file: give --catalog FILE (unique_id, app, "
                                 "customer, cpu_millicores, memory_mb, duration_s per function)", path=path)
        return read_long(path, catalog, **options)
    raise InputDataError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}", path=path)


__all__ = ["read_azure2019", "read_huawei", "read_long", "read_telemetry", "canonical_format", "FORMATS",
           "FORMAT_ALIASES"]
