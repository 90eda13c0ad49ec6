"""Speed target: one serving estimate stays under 1 ms, dense and wide-EP MoE alike.

Run: ``.venv/bin/python benchmarks/bench_infer_moe.py``. Times ``estimate`` (the full
breakdown: prefill, 4 decode samples, the continuous-batching TTFT) for a dense model on one
node and DeepSeek-V3 with attention-DP + EP over 18 H800 nodes (two-batch overlap evaluated at
every step), the disaggregated pool rates, and one step of each as the reference; prints the
ratio to the 1 ms target. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import sys
import time

from suanli.infer.disagg import decode_rate, prefill_rate
from suanli.infer.estimate import deployment, estimate, step_model

TARGET_S = 1e-3


def per_call(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm caches (catalog, parameters)
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def main() -> int:
    dense = deployment("llama3-70b", "dgx-h100", tp=4, precision="fp8")
    wide = deployment("deepseek-v3", "hgx-h800", precision="fp8-kv16", attn_dp=True, nodes=18)
    pre = deployment("deepseek-v3", "hgx-h800", precision="fp8-kv16", attn_dp=True, nodes=4)
    missed = 0
    for name, dep, b in (("llama3-70b 4xH100 tp4", dense, 64),
                         ("deepseek-v3 18 nodes attn-dp/ep144", wide, 8192)):
        sm = step_model(dep)
        step = per_call(lambda sm=sm, b=b: sm.time(b, b, b * 2000.0, b * 2000.0), 2000)
        est = per_call(lambda dep=dep, b=b: estimate(dep, prompt_len=2000, output_len=500,
                                                     batch=b), 200)
        ok = est < TARGET_S
        missed += not ok
        print(f"{name}: step {step * 1e6:.1f} us; estimate {est * 1e3:.3f} ms "
              f"({est / TARGET_S:.2f} of the 1 ms target) {'ok' if ok else 'MISSED'}")
    t = per_call(lambda: prefill_rate(pre, 2000, 0.56), 200)
    print(f"prefill pool rate: {t * 1e3:.3f} ms")
    t = per_call(lambda: decode_rate(wide, 2275, tokens_per_user=20), 20)
    print(f"decode pool rate at 20 tok/s per user (bisection over the batch): {t * 1e3:.2f} ms")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
