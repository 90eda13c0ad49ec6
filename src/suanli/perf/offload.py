"""CPU offload of training state (ZeRO-Offload, Ren et al. 2021; ZeRO-Infinity, Rajbhandari
et al. 2021): what moves to the host, what it costs in PCIe traffic and CPU time.

* ``optimizer``: fp32 master weights / Adam moments and an fp32 copy of the gradients live in
  host RAM; the CPU runs Adam (memory-bandwidth bound: ``CPU_ADAM_TRAFFIC`` bytes of host RAM
  per parameter); each step sends the 16-bit gradients down and the updated 16-bit weights up
  the PCIe link: ``(2 + 2) P_local`` bytes.
* ``params``: the weights live on the host too and stream to the device for every pass over
  them (forward, backward, recompute) of every micro-batch, prefetched under the compute:
  only the part of the transfer longer than the compute is exposed.
* ``nvme`` (ZeRO-Infinity): as ``params``, with the optimizer state and fp32 gradients on the
  node's NVMe drives: every step reads and writes them (``NVME_STEP_BYTES`` per parameter,
  the drives shared by the node's devices) before CPU Adam can finish.

Time per step (seconds):

    T_offload = P_local x 28 B / (host RAM bandwidth share)      # CPU Adam
              + P_local x 4 B / (PCIe x eff)                       # grads down, weights up
              + exposed(passes x m x W_local / (PCIe x eff), m x T_micro)  # params, nvme
              + P_local x 28 B / (NVMe bandwidth share)                      # nvme only
                (``perf.training.exposed``: the calibrated overlap law of FSDP gathers)
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.catalog.schema import System
from suanli.errors import InputError

OFFLOADS = ("none", "optimizer", "params", "nvme")
CPU_ADAM_TRAFFIC = 4.0 + 3 * 8.0  # host RAM bytes per parameter per CPU Adam step: read the
# fp32 gradient, read + write the fp32 master, m and v (DeepSpeed CPU-Adam is bandwidth bound)
STEP_PCIE_BYTES = 2.0 + 2.0  # 16-bit gradient down, 16-bit updated weight up, per parameter
HOST_GRAD_BYTES = 4.0  # fp32 gradient copy on the host
NVME_STEP_BYTES = 4.0 + 12.0 + 12.0  # read the fp32 gradient and master/m/v, write master/m/v
PCIE_EFF = 0.8  # achieved share of PCIe bandwidth in large pinned copies (assumption)


@dataclass(frozen=True)
class StateSplit:
    """Bytes of trainable state (whole model, before sharding) on the device, in host RAM and
    on NVMe."""

    device: float
    host: float
    nvme: float = 0.0


def split_state(params: float, weight: float, grad: float, optim: float,
                offload: str) -> StateSplit:
    """Where ``params`` trainable parameters' weights, gradients and optimizer state live
    (``weight``, ``grad``, ``optim``: bytes per parameter of each)."""
    if offload == "none":
        return StateSplit(device=params * (weight + grad + optim), host=0.0)
    if offload == "optimizer":  # 16-bit weights stay; gradients stream out in buckets
        return StateSplit(device=params * weight, host=params * (optim + HOST_GRAD_BYTES))
    if offload == "params":
        return StateSplit(device=0.0, host=params * (weight + optim + HOST_GRAD_BYTES))
    if offload == "nvme":
        return StateSplit(device=0.0, host=params * weight, nvme=params * (optim + HOST_GRAD_BYTES))
    raise InputError(f"--offload must be one of {', '.join(OFFLOADS)}, got '{offload}'")


def require_host_data(system: System) -> None:
    if not (system.pcie_gbs and system.host_memory_bw_gbs):
        raise InputError(f"{system.id} has no PCIe / host-memory data in the catalog, so "
                         "offload cannot be costed; add pcie_gbs and host_memory_bw_gbs to its "
                         "systems.csv row (a user catalog file works), or drop --offload")


def pcie_bytes_per_s(system: System) -> float:
    require_host_data(system)
    return float(system.pcie_gbs or 0.0) * 1e9 * PCIE_EFF


def cpu_adam_s(params_local: float, system: System, mem_eff: float) -> float:
    """CPU Adam over one device's share of the parameters; the node's RAM bandwidth is shared
    by its devices."""
    require_host_data(system)
    share = float(system.host_memory_bw_gbs or 0.0) * 1e9 * mem_eff / system.devices_per_node
    return params_local * CPU_ADAM_TRAFFIC / share


def step_transfer_s(params_local: float, system: System) -> float:
    """Gradients to the host and updated weights back, once per optimizer step."""
    return params_local * STEP_PCIE_BYTES / pcie_bytes_per_s(system)


def stream_exposed_s(weight_bytes_local: float, passes: float, n_micro: float,
                     t_micro: float, system: System, overlap: float, slowdown: float) -> float:
    """Parameter offload: weights cross PCIe on every pass of every micro-batch, prefetched
    under the compute as FSDP gathers are (``overlap`` of the compute can hide it, and the
    hidden part still costs ``slowdown`` of itself: the calibrated ``fsdp_overlap`` and
    ``overlap_slowdown`` of ``perf.training.exposed``)."""
    import numpy as np

    from suanli.perf.training import exposed

    transfer = weight_bytes_local * passes * n_micro / pcie_bytes_per_s(system)
    return float(exposed(np.asarray(transfer), np.asarray(overlap * n_micro * t_micro),
                         slowdown))


def nvme_step_s(params_local: float, system: System) -> float:
    """Optimizer state through the node's NVMe drives once per step (shared by its devices)."""
    if not system.nvme_gbs:
        raise InputError(f"{system.id} has no NVMe bandwidth in the catalog; add nvme_gbs to its "
                         "systems.csv row, or use --offload optimizer|params")
    return params_local * NVME_STEP_BYTES / (system.nvme_gbs * 1e9 / system.devices_per_node)


def host_memory_gb(host_bytes_per_device: float, system: System, devices: int) -> float:
    """Host RAM (or NVMe) one node needs for the offloaded state of the devices it holds."""
    return host_bytes_per_device * min(devices, system.devices_per_node) / 1e9
