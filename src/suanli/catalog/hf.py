"""Import a Hugging Face ``config.json`` as a :class:`~suanli.catalog.schema.ModelSpec`.

Each supported ``model_type`` has a reader that maps its config keys onto the catalog fields
(layers, hidden, heads, KV heads, head size, FFN size, vocabulary, context, MLP kind, norm,
position encoding, tied embeddings, MoE and MLA layout). Key names and defaults follow the
``transformers`` configuration classes of each architecture (``LlamaConfig``, ``FalconConfig``,
``MptConfig``, ``DeepseekV3Config``...): where a key is absent, the reader uses the default that
``transformers`` itself would use, and says so in the model's ``source``.

``params_b`` is not read from anywhere: it is computed from the imported shapes with
:func:`suanli.perf.ops.param_count` (biases, norms of size ``hidden`` and rotary buffers are
the only things left out, < 0.1 % for models above 100M parameters).

A missing or malformed key raises :class:`~suanli.errors.CatalogError` naming the file, the
key, and what to add.

>>> from suanli.catalog.hf import model_from_hf_dict
>>> m = model_from_hf_dict({"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12,
...                         "vocab_size": 50257, "n_positions": 1024}, name="gpt2")
>>> round(m.params_b, 4), m.mlp, m.position, m.tied_embeddings
(0.1244, 'gelu', 'learned', True)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from suanli.catalog.hf_readers import ARCH_PREFIX, READERS, SUPPORTED_MODEL_TYPES, HFConfig, generic
from suanli.catalog.schema import ModelSpec
from suanli.errors import CatalogError

__all__ = ["SUPPORTED_MODEL_TYPES", "model_from_hf_config", "model_from_hf_dict"]


def _model_type(raw: dict[str, Any]) -> str:
    mt = raw.get("model_type")
    if isinstance(mt, str) and mt:
        return mt
    for arch in raw.get("architectures") or []:
        for prefix, name in ARCH_PREFIX.items():
            if isinstance(arch, str) and arch.startswith(prefix):
                return name
    return ""


def model_from_hf_dict(raw: dict[str, Any], *, name: str, file: str = "config.json",
                       source: str = "") -> ModelSpec:
    """A :class:`ModelSpec` from the parsed contents of a Hugging Face ``config.json``.

    ``name`` (``org/model`` or ``model``) becomes the name; its last part, lower-cased, the
    id. Multimodal configs that keep the language model under ``text_config`` are read from
    there.
    """
    from pydantic import ValidationError

    from suanli.perf.ops import param_count

    if not isinstance(raw, dict):
        raise CatalogError("expected a JSON object at the top level of config.json", file=file)
    if "hidden_size" not in raw and isinstance(raw.get("text_config"), dict):
        raw = {"model_type": raw.get("model_type", ""), **raw["text_config"]}
    model_type = _model_type(raw)
    cfg = HFConfig(raw, file)
    reader = READERS.get(model_type, generic)
    if reader is generic:
        cfg.notes.append(f"model_type '{model_type or '?'}' read with the generic mapping")
    fields = reader(cfg)
    family = {"RefinedWeb": "falcon", "RefinedWebModel": "falcon"}.get(model_type, model_type)
    notes = "; ".join(cfg.notes)
    base = {
        "id": name.rsplit("/", 1)[-1].lower(), "name": name, "family": family or "unknown",
        "source": (source or f"Hugging Face config.json ({file})")
                  + (f"; model_type {model_type}" if model_type else "")
                  + (f"; {notes}" if notes else ""),
        **{k: v for k, v in fields.items() if v is not None},
    }
    try:
        spec = ModelSpec(params_b=1.0, **base)  # provisional size, replaced just below
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or None
        raise CatalogError(f"the imported shapes are inconsistent: {err['msg']}; check the "
                           "head counts and sizes in config.json", file=file, field=where) from None
    return spec.model_copy(update={"params_b": param_count(spec) / 1e9})


def _name_for(path: Path, raw: dict[str, Any]) -> str:
    """``org/name`` from ``_name_or_path`` or a Hugging Face cache folder, else a folder or
    file name."""
    given = raw.get("_name_or_path")
    if isinstance(given, str) and given.strip():
        parts = Path(given.strip()).parts
        return "/".join(parts[-2:]) if len(parts) == 2 and not given.startswith("/") \
            else parts[-1]
    for parent in path.resolve().parents:
        if parent.name.startswith("models--"):  # ~/.cache/huggingface/hub/models--org--name
            return parent.name.removeprefix("models--").replace("--", "/")
    if path.name == "config.json" and path.resolve().parent.name:
        return path.resolve().parent.name
    return path.stem


def model_from_hf_config(path: Path) -> ModelSpec:
    """Read a Hugging Face ``config.json`` file into a :class:`ModelSpec` (see module doc)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError("file not found; give the path to a model's config.json",
                           file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read the file ({exc})", file=str(path)) from None
    except json.JSONDecodeError as exc:
        raise CatalogError(f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}; "
                           "download config.json again or fix it", file=str(path)) from None
    if not isinstance(raw, dict):
        raise CatalogError("expected a JSON object at the top level of config.json",
                           file=str(path))
    return model_from_hf_dict(raw, name=_name_for(path, raw), file=str(path),
                              source=f"Hugging Face config.json ({path.name})")
