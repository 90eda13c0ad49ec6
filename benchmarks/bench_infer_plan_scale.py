"""`infer plan` at ChatGPT scale: 10T tokens/day answered in under 10 s within ~1 GB.

Run: ``.venv/bin/python benchmarks/bench_infer_plan_scale.py``. Runs the CLI as a user would
(a subprocess, default hardware and precisions, the default ``--verify 4``) at 10B and 10T
tokens/day and prints wall time and peak memory of each, and their ratio: the bounded-sample
verification (``suanli.infer.sampling``) makes the time independent of the traffic. Before it,
the same 10T command replayed every request (~27M) and ran > 10 min at 10.8 GB (issue 11).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time

TARGET_S = 10.0
TARGET_GB = 1.0


def run(tokens_per_day: str) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", "from suanli.cli.main import run; run()",
                        "infer", "plan", "-m", "llama3-70b", "--tokens-per-day", tokens_per_day],
                       capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    ci = next((line for line in r.stdout.splitlines() if "95% CI" in line), "")
    return wall, max(peak_kb, before) / 1e6, ci


def main() -> None:
    small, _, _ = run("10B")
    big, gb, ci = run("10T")
    print(f"infer plan llama3-70b: 10B tokens/day {small:.2f} s; 10T tokens/day {big:.2f} s "
          f"(x{big / small:.2f}), peak RSS {gb:.2f} GB")
    print(f"  {ci.strip()}")
    ok = big < TARGET_S and gb < TARGET_GB
    print(f"target: < {TARGET_S:.0f} s and < {TARGET_GB:.0f} GB: {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
