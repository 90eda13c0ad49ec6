from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.sched.cluster import Cluster, Site, homogeneous
from suanli.sched.job import Workload
from suanli.sched.placement import make_placer
from suanli.sched.policies import make_policy
from suanli.sched.preemption import CheckpointCost
from suanli.sched.simulate import Simulator


def jobs(submit: list[float], dur: list[float], gpus: list[int]) -> Workload:
    n = len(submit)
    return Workload(submit=np.array(submit, float), duration=np.array(dur, float),
                    num_gpu=np.array(gpus, dtype=np.int32), gpu_milli=np.full(n, 1000),
                    cpu_milli=np.zeros(n, np.int64), mem_mib=np.zeros(n, np.int64),
                    gpu_spec=np.zeros(n, np.int32))


def run(w: Workload, policy: str, nodes: int = 1, gpus: int = 1, **kw):  # type: ignore[no-untyped-def]
    c = Cluster.from_nodes(homogeneous(nodes, gpus))
    return Simulator(c, w, make_policy(policy), make_placer("bestfit"), **kw).run()


def test_fifo_and_sjf_by_hand() -> None:
    # one GPU; at t=0 a 10 s job, at t=1 a 5 s and a 1 s job
    w = jobs([0, 1, 1], [10, 5, 1], [1, 1, 1])
    fifo = run(w, "fifo")
    assert fifo.jct.tolist() == [10, 14, 15]  # 0-10, 10-15, 15-16
    sjf = run(w, "sjf")
    assert sjf.jct.tolist() == [10, 15, 10]  # 0-10, then 1 s job 10-11, then 11-16
    assert sjf.summary["jct_s"]["avg"] < fifo.summary["jct_s"]["avg"]
    assert fifo.queue_delay.tolist() == [0, 9, 14]


def test_backfill_lets_small_jobs_pass() -> None:
    # 2 GPUs; a 1-GPU job runs 0-10; a 2-GPU job waits; a later 1-GPU job fits now
    w = jobs([0, 1, 2], [10, 5, 3], [1, 2, 1])
    assert run(w, "fifo", gpus=2).jct.tolist() == [10, 14, 3]
    strict = run(w, "fifo", gpus=2, backfill=False).jct.tolist()
    assert strict == [10, 14, 16]  # the 1-GPU job waits behind the 2-GPU job (10-15)


def test_las_preempts_long_jobs_for_new_ones() -> None:
    # 1 GPU; a 3 h job runs; at t=2 h (past the 1 GPU-h threshold) a 10 s job arrives
    w = jobs([0, 7200], [3 * 3600, 10], [1, 1])
    r = run(w, "las")
    assert r.jct[1] == 10  # starts at once by preempting
    # the preempted job pays save + restore (14 B x 1e8 params at 1 GB/s each) + 60 s restart
    overhead = 2 * 14 * 1e8 / 1e9 + 60
    assert abs(r.jct[0] - (3 * 3600 + 10 + overhead)) < 1e-6 and r.summary["preemptions"] == 1
    assert abs(r.summary["preemption_overhead_gpu_h"] - overhead / 3600) < 1e-9
    free = run(w, "las", ckpt=CheckpointCost.for_jobs(2, restart_s=0, gbps=1e12))
    assert abs(free.jct[0] - (3 * 3600 + 10)) < 1e-6  # free preemption: the old answer
    assert run(w, "fifo").jct[1] == 3600 + 10


def test_checkpoint_cost_grows_with_model_size() -> None:
    w = jobs([0, 7200], [3 * 3600, 10], [1, 1])
    w.params = np.array([7e9, 1e8])  # a 7B model: 98 GB checkpoint
    r = run(w, "las")
    overhead = 2 * 14 * 7e9 / 1e9 + 60
    assert abs(r.jct[0] - (3 * 3600 + 10 + overhead)) < 1e-6


def test_rejects_jobs_larger_than_the_cluster_and_is_deterministic() -> None:
    w = jobs([0, 0, 1], [5, 5, 5], [1, 64, 2])
    a, b = run(w, "fifo", nodes=2, gpus=4, seed=7), run(w, "fifo", nodes=2, gpus=4, seed=7)
    assert a.summary["rejected"] == 1 and a.summary["finished"] == 2
    assert np.array_equal(a.jct, b.jct, equal_nan=True)


def test_spot_preemption_loses_work_since_the_checkpoint() -> None:
    # spot site with one node: capacity disappears at tick 1 (t=100 s) and comes back at 300 s
    c = Cluster.from_nodes(homogeneous(1, 1, site="east-spot"), [Site("east-spot", spot=True)])
    w = jobs([0], [200], [1])
    sim = Simulator(c, w, make_policy("fifo"), make_placer("bestfit"), checkpoint_s=60,
                    spot={0: (100.0, np.array([1, 0, 0, 1]))})
    r = sim.run()
    # ran 0-100 (checkpoint at 60: 40 s lost), waits 100-300, needs 200-60 = 140 s more,
    # after restoring its checkpoint (1.4 GB at 1 GB/s) and restarting (60 s); no save
    assert r.summary["preemptions"] == 1 and abs(r.jct[0] - (300 + 140 + 1.4 + 60)) < 1e-6


def test_accounting_cost_and_energy() -> None:
    c = Cluster.from_nodes(homogeneous(1, 8, gpu_type="H100-80GB"), [Site("site0", pue=1.5)])
    w = jobs([0], [3600], [8])
    r = Simulator(c, w, make_policy("fifo"), make_placer("bestfit")).run()
    s = r.summary
    assert abs(s["gpu_hours"] - 8) < 1e-9
    assert abs(s["energy_kwh"] - 8 * 0.7 * 1.5) < 1e-9  # 700 W TDP (catalog) x PUE
    assert s["cost_usd"] > 0 and abs(s["utilization_mean"] - 1.0) < 1e-9


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 500), st.floats(1, 300), st.sampled_from([1, 2, 4, 8])),
                min_size=1, max_size=30),
       st.sampled_from(["fifo", "sjf", "sjf-est", "las", "las-sjf"]))
def test_work_is_conserved_and_no_job_beats_its_duration(spec, policy) -> None:  # type: ignore

    """Laws: every job finishes, JCT >= duration, and GPU-hours used = GPU-hours asked
    (preemption is free here; no spot loss)."""
    w = jobs([s for s, _, _ in spec], [d for _, d, _ in spec], [g for _, _, g in spec])
    r = run(w, policy, nodes=2, gpus=4)
    assert r.summary["finished"] == len(spec)
    assert (r.jct >= w.duration - 1e-6).all()
    asked = float((w.duration * w.num_gpu).sum()) / 3600
    assert abs(r.summary["gpu_hours"] - asked) < 1e-6 * max(1.0, asked)
