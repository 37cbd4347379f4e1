"""Column names shared by every table of the pipeline (units are in the names)."""

# Telemetry (long format): one row per function and interval.
UNIQUE_ID = "unique_id"
DS = "ds"
Y = "y"  # invocations in the interval, >= 0

# FunctionCatalog: one row per function.
APP = "app"
CUSTOMER = "customer"
CPU_MILLICORES = "cpu_millicores"
MEMORY_MB = "memory_mb"
DURATION_S = "duration_s"
TRIGGER = "trigger"
GROUP_ID = "group_id"
CATALOG_REQUIRED = (UNIQUE_ID, APP, CUSTOMER, CPU_MILLICORES, MEMORY_MB, DURATION_S)
CATALOG_COLUMNS = CATALOG_REQUIRED + (TRIGGER, GROUP_ID)

# ResourceDemand: one row per group (or function) and planning slot.
INVOCATIONS = "invocations"  # total invocations in the slot
CONCURRENCY = "concurrency"  # peak concurrent executions in the slot (Little's law)
CPU_CORES = "cpu_cores"  # within-slot peak
MEMORY_GB = "memory_gb"  # within-slot peak
CPU_CORES_MEAN = "cpu_cores_mean"
MEMORY_GB_MEAN = "memory_gb_mean"
RESOURCES = (CPU_CORES, MEMORY_GB)

# Forecast: one row per series, slot and resource.
RESOURCE = "resource"
MEAN = "mean"
QUANTILES = ("q50", "q90", "q95", "q99")
