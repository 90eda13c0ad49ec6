"""Run every benchmark script in this folder (``make bench``)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

here = Path(__file__).parent
sys.path.insert(0, str(here))  # the scripts share helpers from this folder (service_harness)
only = sys.argv[1:]
for script in sorted(here.glob("bench_*.py")):
    if only and not any(o in script.name for o in only):
        continue
    print(f"== {script.name}", flush=True)
    sys.argv = [str(script)]  # each script at its defaults, not with our filter arguments
    runpy.run_path(str(script), run_name="__main__")
