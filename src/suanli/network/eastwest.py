"""East data, west compute (东数西算): train where the data is, or ship it west?

Training. The same job (model, tokens, hardware, device count) runs in the eastern hub holding
the data, or in each western hub after moving the data there. The run time comes from the perf
model and is the same everywhere (same hardware); what differs is::

    device-hour price = capex_h + (TDP + host) / 1000 x PUE x electricity + ops   (pricing.py)
    transfer          = data bytes over the hub link (links.py; <= 20 ms, 100 Gb/s ASSUMED)
    energy (kWh)      = devices x hours x power / 1000 x PUE;  CO2 = kWh x grid g/kWh / 1000

The owned-cost parameters (capex, life, utilization, ops) of the data hub's inventory line are
used at every hub, so the comparison isolates electricity, PUE, carbon and transfer.

Inference. A latency-bound service for users near the eastern hub: from each hub, the network
round trip is taken out of the TTFT SLO and the serving model sizes the deployment; a western
hub is only an option if the SLO still holds (it usually cannot for tight SLOs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from suanli.errors import InputError
from suanli.network import durations
from suanli.network.carbon import co2_kg
from suanli.network.descriptor import InventoryItem, SiteDescriptor
from suanli.network.links import link
from suanli.network.pricing import owned_price
from suanli.network.sites import Network


@dataclass(frozen=True)
class TrainRow:
    site: str
    role: str  # "east (data here)" or "west"
    electricity_usd_per_kwh: float
    pue: float
    carbon_g_per_kwh: float | None
    usd_per_device_hour: float
    capex_usd: float
    energy_usd: float
    ops_usd: float
    transfer_s: float
    transfer_usd: float
    run_s: float
    total_s: float
    total_usd: float
    energy_mwh: float
    co2_t: float | None


@dataclass(frozen=True)
class ServeRow:
    site: str
    ttft_slo_ms: float
    rtt_ms: float
    ttft_budget_ms: float | None
    devices: int | None
    usd_per_hour: float | None
    feasible: bool
    note: str


@dataclass(frozen=True)
class EastWestReport:
    model: str
    hardware: str
    devices: int
    tokens: float
    data_bytes: float
    data_site: str
    train: list[TrainRow]
    serve: list[ServeRow] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)


def _line(site: SiteDescriptor, hardware: str) -> InventoryItem:
    for item in site.inventory:
        if item.hardware == hardware:
            return item
    have = ", ".join(i.hardware for i in site.inventory)
    raise InputError(f"{site.id} has no {hardware}; pick one of: {have}")


def train_rows(net: Network, *, model: str, tokens: float, hardware: str, devices: int,
               data_bytes: float, data_site: str, west: list[str], run_s: float,
               power_w: float) -> list[TrainRow]:
    """One row for the data hub, one per western hub (formulas in the module docstring)."""
    east = net.site(data_site)
    template = _line(east, hardware)
    if template.owned is None:
        raise InputError(f"{data_site}/{hardware} is rented, not owned; the east-west report "
                         "compares owned hub capacity")
    rows = []
    for sid in [data_site, *west]:
        site = net.site(sid)
        item = template.model_copy(update={"hardware": hardware})
        price = owned_price(item, site)
        lk = link(net, data_site, sid)
        hours = run_s / 3600.0
        energy_kwh = devices * hours * power_w / 1000.0 * site.pue
        co2 = co2_kg(energy_kwh, site)
        dev_h = devices * hours
        tr_s, tr_usd = lk.transfer_s(data_bytes), lk.transfer_usd(data_bytes)
        rows.append(TrainRow(
            site=sid, role="east (data here)" if sid == data_site else "west",
            electricity_usd_per_kwh=float(site.electricity_usd_per_kwh or 0.0), pue=site.pue,
            carbon_g_per_kwh=site.carbon_g_per_kwh, usd_per_device_hour=price.usd_per_device_hour,
            capex_usd=price.capex * dev_h, energy_usd=price.energy * dev_h,
            ops_usd=price.ops * dev_h, transfer_s=tr_s, transfer_usd=tr_usd, run_s=run_s,
            total_s=tr_s + run_s, total_usd=price.usd_per_device_hour * dev_h + tr_usd,
            energy_mwh=energy_kwh / 1000.0, co2_t=None if co2 is None else co2 / 1000.0))
    return rows


def serve_rows(net: Network, *, model: str, hardware: str, sites: list[str], users: list[str],
               traffic: float, ttft_slos_s: tuple[float, ...], tpot_slo_s: float | None,
               prompt_len: int = 1024, output_len: int = 256) -> list[ServeRow]:
    """For each TTFT SLO and hub: does the service fit, and what does it cost per hour?"""
    rows = []
    for slo in ttft_slos_s:
        rows += _serve_at(net, model, hardware, sites, users, traffic, slo, tpot_slo_s,
                          prompt_len, output_len)
    return rows


def _serve_at(net: Network, model: str, hardware: str, sites: list[str], users: list[str],
              traffic: float, ttft_slo_s: float, tpot_slo_s: float | None, prompt_len: int,
              output_len: int) -> list[ServeRow]:
    rows = []
    for sid in sites:
        site = net.site(sid)
        rtt = max(link(net, sid, u).rtt_s for u in users)
        budget = ttft_slo_s - rtt
        sr = durations.serve_rate(model, hardware, prompt_len, output_len,
                                  durations.ttft_bucket(budget), tpot_slo_s, traffic)
        if isinstance(sr, durations.Infeasible):
            rows.append(ServeRow(sid, ttft_slo_s * 1e3, rtt * 1e3, budget * 1e3, None, None,
                                 False,
                                 sr.reason.split(" Reasons")[0][:120]))
            continue
        price = owned_price(_line(site, hardware), site).usd_per_device_hour
        rows.append(ServeRow(sid, ttft_slo_s * 1e3, rtt * 1e3, budget * 1e3, sr.devices_total,
                             sr.devices_total * price, True,
                             f"{sr.replicas} replicas x tp={sr.tp}, model TTFT "
                             f"{sr.ttft_s * 1e3:.0f} ms"))
    return rows


def report(net: Network, *, model: str = "llama3-70b", tokens: float = 1e12,
           hardware: str = "atlas-800t-a2", devices: int = 1024, data_bytes: float = 100e12,
           data_site: str = "cn-yrd-demo-zone", users: tuple[str, ...] = ("shanghai",),
           traffic: float = 5000.0, ttft_slos_s: tuple[float, ...] = (0.05, 0.1, 0.2),
           tpot_slo_s: float | None = 0.05, serve_model: str = "llama3-8b",
           serve_hardware: str = "hgx-h20") -> EastWestReport:
    """The full report: training rows (perf model) and the serving comparison."""
    from suanli.catalog import load_catalog

    hardware = load_catalog().system(hardware).id
    serve_hardware = load_catalog().system(serve_hardware).id
    rate = durations.train_rate(model, hardware, devices)
    if isinstance(rate, durations.Infeasible):
        raise InputError(f"{model} cannot train on {devices} x {hardware}: {rate.reason}")
    west = sorted(s.id for s in net.sites.values() if s.role == "west")
    rows = train_rows(net, model=model, tokens=tokens, hardware=hardware, devices=devices,
                      data_bytes=data_bytes, data_site=data_site, west=west,
                      run_s=rate.run_s(tokens), power_w=rate.power_w_per_device)
    serve = serve_rows(net, model=serve_model, hardware=serve_hardware,
                       sites=[data_site, *west], users=list(users), traffic=traffic,
                       ttft_slos_s=ttft_slos_s, tpot_slo_s=tpot_slo_s)
    lk = link(net, data_site, west[0]) if west else None
    notes = [
        f"run time from the perf model: {devices} x {hardware}, MFU {rate.mfu:.0%}, "
        f"{rate.power_w_per_device:.0f} W per device before PUE",
        "owned price = capex/(life x 8760 h x utilization) + power x PUE x electricity + ops; "
        "capex, life, utilization and ops are EXAMPLE values (data/inventory.csv)",
        "electricity: west 0.36-0.40 CNY/kWh (reported), east ~0.55 CNY/kWh DERIVED (west / "
        "0.7), 7.2 CNY/USD assumed (shared/data/reference/sites.md)",
        "PUE: targets (east <= 1.25, west < 1.2), not measured values",
        "carbon: MEE 2022 provincial or regional grid factors (some are regional proxies)",
    ]
    if lk is not None:
        notes.append(f"data link east -> west: {lk.latency_ms:.0f} ms, {lk.bandwidth_gbps:.0f} "
                     f"Gb/s, ${lk.egress_usd_per_gb}/GB ({lk.basis[:60]}...)")
    notes.append(f"serving: {serve_model} on {serve_hardware}, {traffic:.0f} output tokens/s, "
                 f"TTFT SLOs {', '.join(f'{x * 1e3:.0f}' for x in ttft_slos_s)} ms end to end "
                 f"incl. network RTT (users: {', '.join(users)}); TPOT SLO "
                 f"{'none' if tpot_slo_s is None else f'{tpot_slo_s * 1e3:.0f} ms'}")
    return EastWestReport(model, hardware, devices, tokens, data_bytes, data_site, rows, serve,
                          notes)
