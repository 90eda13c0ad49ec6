"""Load and validate catalog files: built-in data plus user directories.

Built-in files live in ``suanli/catalog/data``. Users add their own files of the same names
(``accelerators*.csv``, ``systems*.csv``, ``hosts*.csv``, ``models*.yaml``, ``prices*.csv``,
``fx*.csv``) in a directory given by
``--catalog DIR`` or the ``SUANLI_CATALOG`` environment variable (``:``-separated for several);
a user row with the same id replaces the built-in one. Every bad row raises
:class:`~suanli.errors.CatalogError` naming the file, row and field.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from suanli.catalog.schema import (
    Accelerator,
    ExchangeRate,
    HostSide,
    ModelSpec,
    PriceRow,
    System,
)
from suanli.errors import CatalogError, NotFoundError

DATA_DIR = Path(__file__).parent / "data"
ENV_VAR = "SUANLI_CATALOG"

T = TypeVar("T", bound=BaseModel)


def user_dirs() -> tuple[Path, ...]:
    """Extra catalog directories from ``SUANLI_CATALOG`` (checked to exist)."""
    raw = os.environ.get(ENV_VAR, "")
    dirs = []
    for part in filter(None, raw.split(os.pathsep)):
        p = Path(part).expanduser()
        if not p.is_dir():
            raise CatalogError(f"{ENV_VAR} names '{part}', which is not a directory; "
                               "point it at a folder holding your catalog files")
        dirs.append(p)
    return tuple(dirs)


def _files(pattern: str, dirs: Iterable[Path]) -> list[Path]:
    out = sorted(DATA_DIR.glob(pattern))
    for d in dirs:
        out += sorted(d.glob(pattern))
    return out


def _validate(cls: type[T], raw: dict[str, Any], file: Path, row: int | str) -> T:
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise CatalogError(err["msg"], file=str(file), row=row, field=field) from None


def read_csv_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """Rows of a CSV as dicts, blank cells dropped (so defaults apply); line numbers kept."""
    with path.open(newline="", encoding="utf-8") as fh:
        # comment lines become blank lines, which the reader skips but still counts
        lines = ["\n" if line.startswith("#") else line for line in fh]
    reader = csv.reader(lines)
    header: list[str] | None = None
    rows = []
    for cells in reader:
        if not cells:
            continue
        if header is None:
            header = [c.strip() for c in cells]
            continue
        i = reader.line_num
        if len(cells) > len(header):
            raise CatalogError(f"row has {len(cells)} cells but the header has {len(header)} "
                               "(quote cells that contain commas)", file=str(path), row=i)
        rows.append((i, {k: v.strip() for k, v in zip(header, cells, strict=False)
                         if v.strip() != ""}))
    return rows


def _load_csv(cls: type[T], pattern: str, dirs: tuple[Path, ...]) -> dict[str, T]:
    out: dict[str, T] = {}
    for path in _files(pattern, dirs):
        for line, raw in read_csv_rows(path):
            item = _validate(cls, raw, path, line)
            out[item.id] = item  # type: ignore[attr-defined]
    return out


def _load_models(dirs: tuple[Path, ...]) -> dict[str, ModelSpec]:
    import yaml

    out: dict[str, ModelSpec] = {}
    for path in _files("models*.yaml", dirs):
        try:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # C loader: ~10x faster
            docs = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or []
        except yaml.YAMLError as exc:
            raise CatalogError(f"not valid YAML: {exc}", file=str(path)) from None
        if not isinstance(docs, list):
            raise CatalogError("expected a list of models at the top level", file=str(path))
        for i, raw in enumerate(docs):
            if not isinstance(raw, dict):
                raise CatalogError("each entry must be a mapping", file=str(path), row=i + 1)
            model = _validate(ModelSpec, raw, path, f"{i + 1} ({raw.get('id', '?')})")
            out[model.id] = model
    return out


class Catalog:
    """All catalog records, looked up by id or alias (case-insensitive)."""

    def __init__(self, accelerators: dict[str, Accelerator], systems: dict[str, System],
                 models: dict[str, ModelSpec]) -> None:
        self.accelerators = accelerators
        self.systems = systems
        self.models = models
        self._indices = {id(d): self._index(d) for d in (accelerators, systems, models)}
        for sys_ in systems.values():
            if sys_.accelerator not in accelerators:
                raise NotFoundError("accelerator", sys_.accelerator, list(accelerators))

    @staticmethod
    def _index(items: dict[str, Any]) -> dict[str, str]:
        idx: dict[str, str] = {}
        for key, item in items.items():
            for name in [key, getattr(item, "name", ""), *getattr(item, "aliases", "").split("|")]:
                if name:
                    idx.setdefault(_norm(name), key)
        return idx

    def _get(self, kind: str, items: dict[str, T], name: str) -> T:
        idx = self._indices.get(id(items)) or self._index(items)
        key = idx.get(_norm(name))
        if key is None:
            raise NotFoundError(kind, name, list(items))
        return items[key]

    def model(self, name: str) -> ModelSpec:
        if name.endswith(".json") and Path(name).is_file():
            from suanli.catalog.hf import model_from_hf_config

            return model_from_hf_config(Path(name))
        return self._get("model", self.models, name)

    def accelerator(self, name: str) -> Accelerator:
        return self._get("accelerator", self.accelerators, name)

    def system(self, name: str) -> System:
        """A system by id or alias; an accelerator name gives its default system."""
        try:
            return self._get("hardware", self.systems, name)
        except NotFoundError as exc:
            try:
                acc = self.accelerator(name)
            except NotFoundError:
                raise NotFoundError("hardware", name,
                                    list(self.systems) + list(self.accelerators)) from exc
            for sys_ in self.systems.values():
                if sys_.accelerator == acc.id:
                    return sys_
            raise NotFoundError("hardware", name, list(self.systems)) from exc


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum() or ch == ".")


def _join_hosts(systems: dict[str, System], dirs: tuple[Path, ...]) -> dict[str, System]:
    """Fill each system's host-side fields from ``hosts*.csv`` (a cell left blank there keeps
    whatever the systems file says)."""
    out = dict(systems)
    for path in _files("hosts*.csv", dirs):
        for line, raw in read_csv_rows(path):
            host = _validate(HostSide, raw, path, line)
            if host.system not in out:
                raise CatalogError(f"unknown system '{host.system}' (not in systems*.csv)",
                                   file=str(path), row=line, field="system")
            fields = host.model_dump(exclude={"system", "source"}, exclude_none=True)
            out[host.system] = out[host.system].model_copy(update=fields)
    return out


@cache
def _load(dirs: tuple[Path, ...]) -> Catalog:
    return Catalog(
        accelerators=_load_csv(Accelerator, "accelerators*.csv", dirs),
        systems=_join_hosts(_load_csv(System, "systems*.csv", dirs), dirs),
        models=_load_models(dirs),
    )


def load_catalog(extra_dirs: Iterable[str | Path] = ()) -> Catalog:
    """The catalog: built-in files, then ``SUANLI_CATALOG`` dirs, then ``extra_dirs``."""
    dirs = list(user_dirs())
    for d in extra_dirs:
        p = Path(d).expanduser()
        if not p.is_dir():
            raise CatalogError(f"catalog directory '{d}' does not exist")
        dirs.append(p)
    return _load(tuple(dirs))


def _load_rows(cls: type[T], pattern: str, dirs: tuple[Path, ...]) -> list[T]:
    return [_validate(cls, raw, path, line) for path in _files(pattern, dirs)
            for line, raw in read_csv_rows(path)]


@cache
def _prices(dirs: tuple[Path, ...]) -> tuple[PriceRow, ...]:
    return tuple(_load_rows(PriceRow, "prices*.csv", dirs))


@cache
def _rates(dirs: tuple[Path, ...]) -> dict[str, ExchangeRate]:
    return {r.currency: r for r in _load_rows(ExchangeRate, "fx*.csv", dirs)}  # later rows win


def load_prices() -> tuple[PriceRow, ...]:
    """Public rental prices (``prices*.csv``: built in, then ``SUANLI_CATALOG`` dirs)."""
    return _prices(user_dirs())


def load_rates() -> dict[str, ExchangeRate]:
    """Exchange rates by ISO code (``fx*.csv``: built in, then ``SUANLI_CATALOG`` dirs)."""
    return _rates(user_dirs())
