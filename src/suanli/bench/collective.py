"""All-reduce bandwidth between worker processes with torch.distributed (Gloo on CPU, NCCL on
GPU), the collective the data-parallel gradient sync uses.

Algorithm bandwidth = bytes / seconds of one all-reduce of a ``bytes``-sized fp32 buffer; the
ring all-reduce moves ``2 (n - 1) / n`` of the buffer per worker (Patarasuk & Yuan 2009), so
bus bandwidth = algorithm bandwidth x 2 (n - 1) / n.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from suanli.ports import free_loopback_port

SIZES = tuple(4 * 2**k for k in (10, 14, 18, 22))  # 4 KiB .. 16 MiB


def _worker(rank: int, world: int, port: int, threads: int, out: Any) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(threads)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend, rank=rank, world_size=world)
    rows = []
    for nbytes in SIZES:
        buf = torch.ones(nbytes // 4)
        dist.all_reduce(buf)  # warm-up
        times = []
        for _ in range(5):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(buf)
            times.append(time.perf_counter() - t0)
        rows.append((float(nbytes), statistics.median(times)))
    if rank == 0:
        out.put({"backend": backend, "world": world, "allreduce": rows})
    dist.destroy_process_group()


def allreduce_profile(world: int = 2, threads: int = 1) -> dict[str, Any]:
    """Time all-reduces between ``world`` local worker processes; {(bytes, seconds)}."""
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.SimpleQueue()
    port = free_loopback_port()
    procs = [ctx.Process(target=_worker, args=(r, world, port, threads, q)) for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    if any(p.exitcode != 0 for p in procs):
        from suanli.errors import InputError

        raise InputError("the all-reduce benchmark failed in a worker process; run `suanli "
                         "bench` without --collective to skip it")
    result: dict[str, Any] = q.get()
    return result
