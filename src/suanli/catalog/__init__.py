"""The catalog: accelerators, systems and models as validated data files.

>>> from suanli.catalog import load_catalog
>>> cat = load_catalog()
>>> cat.model("gpt3-175b").layers
96
"""

from suanli.catalog.loader import Catalog, load_catalog
from suanli.catalog.schema import MLA, Accelerator, ModelSpec, MoE, System

__all__ = ["MLA", "Accelerator", "Catalog", "MoE", "ModelSpec", "System", "load_catalog"]
