"""Ingest a synthetic Azure-2019-layout trace (default 10,000 functions x 14 days) and print the
wall time and peak memory of ``planner ingest`` (goal: < 60 s and < 2 GiB on 2 cores).

    python benchmarks/ingest_azure.py [--functions 10000] [--days 14] [--data DIR] [--repeat 3]

The trace is generated once (not timed) into DIR (a temporary folder by default); each repeat runs
the ingest in a fresh process so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import resource, sys, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
from planner.ingest.job import ingest, write_ingested
r = ingest(sys.argv[1], "azure")
t1 = time.perf_counter()
write_ingested(r, sys.argv[2], telemetry={telemetry})
t2 = time.perf_counter()
print(t1 - t0, t2 - t1, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, r.summary["functions"])
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--functions", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=None, help="reuse or create the trace here")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-telemetry", action="store_true", help="skip writing telemetry.parquet")
    args = ap.parse_args()

    from planner.synth import SynthSpec, make_fleet
    from planner.synth_write import write_azure

    data = args.data or Path(tempfile.mkdtemp(prefix="azure-bench-"))
    if not any(data.glob("invocations_per_function_md.anon.d*.csv")):
        t0 = time.perf_counter()
        write_azure(make_fleet(SynthSpec(n_functions=args.functions, days=args.days, seed=args.seed)), data)
        print(f"generated {args.functions} functions x {args.days} days in {time.perf_counter() - t0:.1f} s -> {data}")
    size = sum(p.stat().st_size for p in data.iterdir()) / 2**20
    read_s, write_s, rss = [], [], []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as out:
            code = CHILD.format(telemetry=not args.no_telemetry)
            res = subprocess.run([sys.executable, "-c", code, str(data), out], capture_output=True, text=True, check=True)
            r, w, m, n = res.stdout.split()
            read_s.append(float(r)); write_s.append(float(w)); rss.append(float(m))
            print(f"run {i + 1}: read+demand {float(r):.1f} s, write {float(w):.1f} s, peak RSS {float(m):.0f} MiB ({n} functions)")
    total = [r + w for r, w in zip(read_s, write_s)]
    print(f"\ntrace: {args.functions} functions x {args.days} days, {size:.0f} MiB of CSV")
    print(f"median total {statistics.median(total):.1f} s (goal 60 s: ratio {statistics.median(total) / 60:.2f}); "
          f"median peak RSS {statistics.median(rss):.0f} MiB (goal 2048 MiB: ratio {statistics.median(rss) / 2048:.2f})")


if __name__ == "__main__":
    main()
