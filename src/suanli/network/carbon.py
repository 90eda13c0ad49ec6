"""Energy and carbon of a job at a site (location-based accounting).

    facility energy (kWh) = IT energy (kWh) x PUE                  (The Green Grid, PUE, 2007)
    CO2 (kg)              = facility energy (kWh) x grid intensity (g/kWh) / 1000

IT energy = devices x hours x power per device (accelerator TDP + host share) / 1000, the same
power the perf model reports (``TrainQuote.power_w_per_device``). Grid intensity is the site's
``carbon_g_per_kwh``: Google's region-carbon-info (location-based) or the Chinese MEE factors.
A site with unknown intensity gives ``None`` (never a made-up number).
"""

from __future__ import annotations

from suanli.network.descriptor import SiteDescriptor


def it_energy_kwh(devices: float, hours: float, power_w_per_device: float) -> float:
    return devices * hours * power_w_per_device / 1000.0  # kWh


def facility_energy_kwh(it_kwh: float, site: SiteDescriptor) -> float:
    return it_kwh * site.pue  # kWh


def co2_kg(facility_kwh: float, site: SiteDescriptor) -> float | None:
    if site.carbon_g_per_kwh is None:
        return None
    return facility_kwh * site.carbon_g_per_kwh / 1000.0  # kg CO2e
