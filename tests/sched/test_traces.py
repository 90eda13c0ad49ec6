from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from suanli.errors import InputError
from suanli.sched.traces.dlrm import load_dlrm
from suanli.sched.traces.openb import load_openb_nodes, load_openb_pods
from suanli.sched.traces.philly import load_philly, philly_cluster
from suanli.sched.traces.skypilot import load_spot_trace
from suanli.sched.traces.spot_nodes import load_spot_nodes
from suanli.sched.traces.synthetic import MEDIAN_S, synthetic


def test_openb_counts_match_the_readme(traces: Path) -> None:
    c = load_openb_nodes()
    assert (len(c), c.total_gpus) == (1213, 6212)
    assert load_openb_nodes("openb_node_list_all_node.csv").total_gpus == 6212
    w = load_openb_pods("default")
    assert len(w) == 8152 and not w.bad_rows
    assert int((w.num_gpu == 0).sum()) == 1088
    assert int((w.gpu_milli[w.num_gpu == 1] < 1000).sum()) == 3078
    m = load_openb_pods("multigpu50")  # five-column variant
    assert len(m) > 0 and np.isnan(m.duration).all()


def test_bad_rows_are_reported_with_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "pods.csv"
    f.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli\n"
                 "p0,1000,10,1,500\n"
                 "p1,1000,10,2,500\n"  # multi-GPU sharing: invalid
                 "p2,abc,10,1,1000\n"  # not a number
                 "p3,1000,10,0,0\n")
    w = load_openb_pods(str(f))
    assert len(w) == 2
    assert len(w.bad_rows) == 2
    assert w.bad_rows[0].startswith(f"{f}:3:") and w.bad_rows[1].startswith(f"{f}:4:")


def test_missing_column_fails_with_a_hint(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="missing column"):
        load_openb_pods(str(f))


def test_philly_has_all_jobs(traces: Path) -> None:
    w = load_philly()
    assert len(w) == 82247 and not w.bad_rows
    assert int((w.num_gpu == 1).sum()) == 76627
    assert abs(np.median(w.duration) - 1144) < 1 and w.submit.min() == 0
    assert philly_cluster().total_gpus == 2490


def test_spot_inventory_and_dlrm(traces: Path) -> None:
    c = load_spot_nodes()
    assert (len(c), c.total_gpus) == (4278, 10412)
    assert set(c.types) >= {"A10", "H800", "A100-SXM4-80GB"}
    w = load_dlrm()
    assert len(w) == 23871 and int((w.num_gpu == 1).sum()) == 7386
    assert np.isfinite(w.duration).all() and (w.duration >= 0).all()


def test_spot_trace(traces: Path) -> None:
    gap, data = load_spot_trace("preemption/1-node/aws-04-22-2023/us-east-1c_v100_1.json")
    assert gap > 0 and len(data) > 1000 and set(np.unique(data)) <= {0.0, 1.0}


def test_synthetic_follows_its_documented_distributions() -> None:
    w = synthetic(200_000, 10_000, load=0.5, seed=3)
    assert abs(np.median(w.duration) / MEDIAN_S - 1) < 0.03
    assert abs((w.num_gpu == 1).mean() - 0.70) < 0.01
    offered = (w.gpus * w.duration).sum() / (w.submit[-1] - w.submit[0])
    assert 0.4 * 10_000 < offered < 0.6 * 10_000  # heavy tail: loose bounds
    assert (np.diff(w.submit) >= 0).all()


def test_philly_bad_rows(tmp_path: Path) -> None:
    f = tmp_path / "philly.csv"
    f.write_text("timestamp,duration,num_gpus,gpu_time,cluster\n"
                 "2017-10-09 07:01:55,66.0,1,66.0,a\n"
                 "2017-10-09 07:02:00,-5,1,0,a\n"  # negative duration
                 "not-a-time,10,1,10,b\n"
                 "2017-10-09 08:00:00,100,4,400,b\n")
    w = load_philly(str(f))
    assert len(w) == 2 and w.submit.tolist() == [0.0, 3485.0]
    assert [b.split(": ")[0] for b in w.bad_rows] == [f"{f}:3", f"{f}:4"]
