"""Price of one device-hour at a site: the rented price, or the cost of owning the device.

Owned hardware (total cost of ownership per device-hour; Barroso, Hoelzle & Ranganathan,
"The Datacenter as a Computer", 3rd ed., 2018, ch. 6, split into capital and operating cost)::

    capex_h  = capex / (lifetime_years x 8760 h x utilization)          # USD per device-hour
    energy_h = (TDP + host power per device) / 1000 x PUE x electricity  # kWh x USD/kWh
    price    = capex_h + energy_h + ops                                  # USD per device-hour

Utilization spreads the capital over the hours the device is actually sold or used; power is the
accelerator's TDP plus its share of the host (catalog ``System.host_power_w_per_device``), an upper
bound on draw (real draw under training is ~70-90% of TDP).
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.errors import CatalogError, InputError
from suanli.network.descriptor import InventoryItem, SiteDescriptor

HOURS_PER_YEAR = 8760.0


@dataclass(frozen=True)
class PriceBreakdown:
    """USD per device-hour and where it comes from."""

    usd_per_device_hour: float
    capex: float = 0.0
    energy: float = 0.0
    ops: float = 0.0
    basis: str = "rented (list price)"


def device_power_w(hardware: str) -> float | None:
    """Accelerator TDP + host share per device, watts (catalog data); None if TDP unknown."""
    from suanli.catalog import load_catalog

    cat = load_catalog()
    system = cat.system(hardware)
    acc = cat.accelerator(system.accelerator)
    if acc.tdp_w is None:
        return None
    return float(acc.tdp_w) + float(system.host_power_w_per_device)  # watts


def owned_price(item: InventoryItem, site: SiteDescriptor) -> PriceBreakdown:
    """Total cost of owning one device for one hour (formula in the module docstring)."""
    assert item.owned is not None
    if site.electricity_usd_per_kwh is None:
        raise InputError(f"site {site.id} owns {item.hardware} but has no electricity price; add "
                         "electricity_usd_per_kwh to its descriptor")
    o = item.owned
    power = device_power_w(item.hardware)
    if power is None:
        raise CatalogError(f"{item.hardware} has no tdp_w in the catalog, so its energy (and an "
                           "owned price) cannot be computed; add tdp_w to the accelerator row",
                           file=f"site {site.id}", field="tdp_w")
    capex = o.capex_usd_per_device / (o.lifetime_years * HOURS_PER_YEAR * o.utilization)
    energy = power / 1000.0 * site.pue * site.electricity_usd_per_kwh
    return PriceBreakdown(capex + energy + o.ops_usd_per_device_hour, capex, energy,
                          o.ops_usd_per_device_hour,
                          basis=f"owned: capex ${o.capex_usd_per_device:,.0f} over "
                                f"{o.lifetime_years:g} y at {o.utilization:.0%} use + energy + ops")


def device_hour_price(item: InventoryItem, site: SiteDescriptor, *,
                      spot: bool = False) -> PriceBreakdown:
    """The price a job pays per device-hour (spot when asked and offered)."""
    if spot:
        if item.spot_usd_per_device_hour is None:
            raise InputError(f"{item.hardware} at {site.id} has no spot price")
        return PriceBreakdown(item.spot_usd_per_device_hour, basis="rented (spot list price)")
    if item.on_demand_usd_per_device_hour is not None:
        return PriceBreakdown(item.on_demand_usd_per_device_hour)
    return owned_price(item, site)
