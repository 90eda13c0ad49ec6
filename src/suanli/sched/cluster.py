"""The cluster model: sites grouping nodes; nodes with CPU, memory and GPUs of one type.

State is kept by column in numpy arrays so that placers score every node at once:

- ``cpu_free[n]`` milli-cores, ``mem_free[n]`` MiB,
- ``gpu_free[n, g]`` milli-GPU left on GPU ``g`` of node ``n`` (0 for GPUs the node lacks),
- ``gpu_type[n]`` index into ``types`` (-1 = CPU-only node), ``site[n]`` index into ``sites``.

GPUs are shareable in milli-GPU (a sharing job takes ``gpu_milli`` of one GPU) or taken whole.
``version[n]`` counts changes of node ``n`` so placers can cache per-node scores.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from suanli.errors import InputError
from suanli.sched.job import MILLI, Demand


@dataclass(frozen=True)
class Site:
    """A group of nodes with one price, power and carbon context.

    ``price_factor`` scales each accelerator's catalog price (1.0 = catalog list price);
    ``pue`` is the power usage effectiveness; ``carbon_kg_per_kwh`` the grid intensity.
    """

    name: str = "site0"
    price_factor: float = 1.0
    pue: float = 1.2  # facility W / IT W (typical hyperscale value, Uptime Institute survey)
    carbon_kg_per_kwh: float = 0.4  # kg CO2e per kWh (world-average grid, IEA 2023 order)
    electricity_usd_per_kwh: float = 0.1  # $ per kWh
    spot: bool = False  # nodes here can be preempted (see sched.traces.spot)


@dataclass(frozen=True)
class Placement:
    """Where one job runs: a list of (node, GPU indices on that node)."""

    parts: tuple[tuple[int, tuple[int, ...]], ...]

    @property
    def nodes(self) -> list[int]:
        return [n for n, _ in self.parts]


@dataclass
class Cluster:
    """Mutable cluster state; build it with :meth:`from_nodes`."""

    names: list[str]
    types: list[str]
    sites: list[Site]
    cpu_cap: np.ndarray  # milli-cores, int64
    mem_cap: np.ndarray  # MiB, int64
    gpu_count: np.ndarray  # int32
    gpu_type: np.ndarray  # int32, -1 = no GPU
    site: np.ndarray  # int32
    cpu_free: np.ndarray = field(init=False)
    mem_free: np.ndarray = field(init=False)
    gpu_free: np.ndarray = field(init=False)  # [N, Gmax] milli-GPU, int32
    gpu_exists: np.ndarray = field(init=False)  # [N, Gmax] bool
    available: np.ndarray = field(init=False)  # bool; False while a spot node is preempted
    version: np.ndarray = field(init=False)  # int64, bumped on every change
    used_milli: int = field(init=False)  # allocated milli-GPU, kept by allocate/release
    node_free: np.ndarray = field(init=False)  # free milli-GPU per node (sum over its GPUs)
    node_whole: np.ndarray = field(init=False)  # fully free GPUs per node
    tags: list[Counter[tuple[int, int]]] = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.names)
        gmax = max(1, int(self.gpu_count.max()) if n else 1)
        self.gpu_exists = np.arange(gmax)[None, :] < self.gpu_count[:, None]
        self._total_gpus = int(self.gpu_count.sum())
        self.reset()
        if n and (self.cpu_cap < 0).any():
            raise InputError("node CPU capacity must be >= 0; check the node list")
        assert len(self.cpu_cap) == len(self.mem_cap) == len(self.gpu_count) == n

    def reset(self) -> None:
        """All nodes empty and available."""
        self.cpu_free = self.cpu_cap.astype(np.int64).copy()
        self.mem_free = self.mem_cap.astype(np.int64).copy()
        self.gpu_free = np.where(self.gpu_exists, MILLI, 0).astype(np.int32)
        self.available = np.ones(len(self.names), dtype=bool)
        self.version = np.zeros(len(self.names), dtype=np.int64)
        self.tags = [Counter() for _ in self.names]
        self.used_milli = 0
        self.node_free = self.gpu_free.sum(axis=1).astype(np.int64)
        self.node_whole = self.gpu_count.astype(np.int64).copy()

    @classmethod
    def from_nodes(cls, nodes: list[tuple[str, int, int, int, str, str]],
                   sites: list[Site] | None = None) -> Cluster:
        """Build from rows ``(name, cpu_milli, mem_mib, num_gpu, gpu_type, site_name)``.

        ``gpu_type`` is ignored for nodes without GPUs. Sites named in rows but not in
        ``sites`` get default :class:`Site` parameters.
        """
        site_list = list(sites or [])
        site_idx = {s.name: i for i, s in enumerate(site_list)}
        types: list[str] = []
        type_idx: dict[str, int] = {}
        gt, st = [], []
        for name, _, _, ngpu, gtype, sname in nodes:
            if ngpu < 0:
                raise InputError(f"node {name} has {ngpu} GPUs; GPU count must be >= 0")
            if ngpu > 0:
                if gtype not in type_idx:
                    type_idx[gtype] = len(types)
                    types.append(gtype)
                gt.append(type_idx[gtype])
            else:
                gt.append(-1)
            if sname not in site_idx:
                site_idx[sname] = len(site_list)
                site_list.append(Site(name=sname))
            st.append(site_idx[sname])
        return cls(names=[r[0] for r in nodes], types=types, sites=site_list,
                   cpu_cap=np.array([r[1] for r in nodes], dtype=np.int64),
                   mem_cap=np.array([r[2] for r in nodes], dtype=np.int64),
                   gpu_count=np.array([r[3] for r in nodes], dtype=np.int32),
                   gpu_type=np.array(gt, dtype=np.int32), site=np.array(st, dtype=np.int32))

    # ---- queries -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.names)

    @property
    def total_gpus(self) -> int:
        return self._total_gpus

    @property
    def gpu_milli_used(self) -> int:
        """Allocated milli-GPU over the whole cluster."""
        return self.used_milli

    def free_milli(self) -> int:
        """Free milli-GPU on available nodes."""
        if self.available.all():
            return self.total_gpus * MILLI - self.used_milli
        return int(self.gpu_free[self.available].sum())

    def type_ok(self, demand: Demand) -> np.ndarray:
        """Per node: does its GPU type satisfy the demand's type constraint?"""
        if not demand.gpu_types:
            return np.ones(len(self), dtype=bool)
        allowed = np.array([t in demand.gpu_types for t in self.types] + [False])
        return allowed[self.gpu_type]  # index -1 (CPU node) hits the trailing False

    def feasible(self, demand: Demand) -> np.ndarray:
        """Per node: can the demand run on this single node right now?"""
        ok = self.available.copy()
        if demand.cpu_milli:
            ok &= self.cpu_free >= demand.cpu_milli
        if demand.mem_mib:
            ok &= self.mem_free >= demand.mem_mib
        if demand.num_gpu == 0:
            return ok
        if demand.gpu_types:
            ok &= self.type_ok(demand)
        if demand.gpu_milli == MILLI:
            return ok & (self.node_whole >= demand.num_gpu)
        return ok & (self.gpu_free >= demand.gpu_milli).any(axis=1)

    def whole_free(self) -> np.ndarray:
        """Fully free GPUs per node."""
        return self.node_whole

    # ---- changes -------------------------------------------------------------------------
    def allocate(self, place: Placement, demand: Demand) -> None:
        """Take the demand's resources at ``place`` (CPU/memory split evenly over parts)."""
        self._apply(place, demand, -1)

    def release(self, place: Placement, demand: Demand) -> None:
        """Give back what :meth:`allocate` took."""
        self._apply(place, demand, +1)

    def _apply(self, place: Placement, demand: Demand, sign: int) -> None:
        """Add ``sign`` x the demand at ``place``; per-node totals are updated incrementally
        (no row sums) and every touched value is checked to stay within 0..capacity."""
        k = len(place.parts)
        milli, tag = demand.gpu_milli, demand.tag
        free = self.gpu_free
        for n, gpus in place.parts:
            cpu = self.cpu_free.item(n) + sign * (demand.cpu_milli // k)
            mem = self.mem_free.item(n) + sign * (demand.mem_mib // k)
            self.cpu_free[n], self.mem_free[n] = cpu, mem
            whole = 0
            for g in gpus:
                before = free.item(n, g)
                after = before + sign * milli
                if after < 0 or after > MILLI:
                    raise AssertionError(f"GPU {g} of node {self.names[n]} would hold {after} "
                                         f"milli-GPU after {'releasing' if sign > 0 else ''}"
                                         f"{demand}")
                free[n, g] = after
                whole += (after == MILLI) - (before == MILLI)
            taken = len(gpus) * milli
            self.used_milli -= sign * taken
            self.node_free[n] += sign * taken
            self.node_whole[n] += whole
            self.version[n] += 1
            counts = self.tags[n]
            counts[tag] -= sign
            if counts[tag] <= 0:
                del counts[tag]
            if cpu < 0 or mem < 0:
                raise AssertionError(f"over-allocated node {self.names[n]} by {demand}")


def homogeneous(nodes: int, gpus_per_node: int, gpu_type: str = "V100-32GB",
                cpu_milli: int = 64_000, mem_mib: int = 512 * 1024,
                site: str = "site0") -> list[tuple[str, int, int, int, str, str]]:
    """Rows for ``nodes`` identical nodes (for synthetic and Philly-sized clusters)."""
    return [(f"{site}-n{i:05d}", cpu_milli, mem_mib, gpus_per_node, gpu_type, site)
            for i in range(nodes)]
