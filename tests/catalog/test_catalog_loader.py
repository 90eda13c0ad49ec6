"""The catalog loader: every built-in row loads, names resolve, user files extend and override,
and every bad file or row fails with a CatalogError that says file, row and field."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
import yaml

from suanli.catalog import load_catalog
from suanli.catalog.loader import DATA_DIR, ENV_VAR
from suanli.errors import CatalogError, NotFoundError

ACC_HEADER = ("id,name,vendor,family,memory_gb,memory_bw_gbs,bf16_tflops,scale_up_gbs,"
              "scale_up_domain,source")


@pytest.fixture(autouse=True)
def _no_user_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def _csv_ids(name: str) -> list[str]:
    lines = [ln for ln in (DATA_DIR / name).read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.startswith("#")]
    return [row["id"] for row in csv.DictReader(lines)]


def test_every_builtin_row_loads_once() -> None:
    cat = load_catalog()
    for name, loaded in (("accelerators.csv", cat.accelerators), ("systems.csv", cat.systems)):
        ids = _csv_ids(name)
        assert len(ids) == len(set(ids)), f"duplicate ids in {name}"
        assert set(ids) == set(loaded)
    raw = yaml.safe_load((DATA_DIR / "models.yaml").read_text(encoding="utf-8"))
    ids = [m["id"] for m in raw]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(cat.models)
    assert len(cat.models) >= 40 and len(cat.accelerators) >= 20 and len(cat.systems) >= 20


def test_every_row_has_a_source_and_systems_point_at_known_accelerators() -> None:
    cat = load_catalog()
    for item in [*cat.accelerators.values(), *cat.systems.values(), *cat.models.values()]:
        assert item.source.strip(), item.id
    for s in cat.systems.values():
        acc = cat.accelerators[s.accelerator]
        assert s.scale_up_domain <= max(acc.scale_up_domain, s.devices_per_node), s.id


def test_dense_peaks_are_ordered_as_the_hardware_is() -> None:
    """Dense tensor peaks: fp8 >= bf16 >= tf32 >= fp32 wherever both are given (a sparse
    headline copied by mistake would break fp32 < tf32 < bf16 ratios)."""
    for a in load_catalog().accelerators.values():
        chain = [v for v in (a.fp32_tflops, a.tf32_tflops, a.bf16_tflops, a.fp8_tflops) if v]
        assert chain == sorted(chain), a.id
        if a.bf16_tflops and a.tf32_tflops:
            # L40S: 362 / 183 = 1.98 in the datasheet itself
            assert a.bf16_tflops / a.tf32_tflops == pytest.approx(2.0, rel=0.03), a.id


# loader._norm drops '.', so "gpt3-13b" and "gpt3-1.3b" both normalise to "gpt313b" and the
# 13B model resolves to the 1.3B one. Reported to the integrator (keep '.' in _norm).
def test_names_and_aliases_resolve_to_their_row() -> None:
    cat = load_catalog()
    for kind, items, get in (("model", cat.models, cat.model),
                             ("accelerator", cat.accelerators, cat.accelerator),
                             ("system", cat.systems, cat.system)):
        for key, item in items.items():
            names = [key, item.name, *filter(None, item.aliases.split("|"))]
            for name in set(names):
                assert get(name).id == key, f"{kind} {name!r} resolves to {get(name).id}"


def test_gpt3_13b_is_not_gpt3_1_3b() -> None:
    cat = load_catalog()
    assert cat.model("gpt3-13b").id == "gpt3-13b"
    assert cat.model("GPT-3 13B").id == "gpt3-13b"


def test_lookup_ignores_case_and_punctuation_and_suggests() -> None:
    cat = load_catalog()
    assert cat.model("LLAMA3_8B").id == "llama3-8b"
    assert cat.accelerator("h100 sxm").id == "H100-80GB"
    assert cat.system("H100").accelerator == "H100-80GB"  # an accelerator gives its system
    with pytest.raises(NotFoundError, match="Did you mean: llama3-8b") as err:
        cat.model("lama3-8b")
    assert "llama3-8b" in err.value.suggestions


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_user_csv_bad_row_names_file_row_and_field(tmp_path: Path) -> None:
    f = _write(tmp_path / "accelerators_mine.csv",
               "# my parts\n" + ACC_HEADER + "\n"
               "X1,Mine X1,Acme,x,64,1000,500,100,8,my datasheet\n"
               "X2,Mine X2,Acme,x,-64,1000,500,100,8,my datasheet\n")
    with pytest.raises(CatalogError) as err:
        load_catalog([tmp_path])
    msg = str(err.value)
    assert str(f) in msg and "row 4" in msg and "field 'memory_gb'" in msg
    assert (err.value.file, err.value.row, err.value.field) == (str(f), 4, "memory_gb")


def test_user_csv_unknown_column_and_extra_cells(tmp_path: Path) -> None:
    _write(tmp_path / "accelerators_a.csv",
           ACC_HEADER + ",colour\nX1,Mine,Acme,x,64,1000,500,100,8,src,red\n")
    with pytest.raises(CatalogError, match="field 'colour'"):
        load_catalog([tmp_path])
    (tmp_path / "accelerators_a.csv").unlink()
    _write(tmp_path / "accelerators_b.csv", ACC_HEADER + "\nX1,Mine,Acme,x,64,1000,500,100,8,a,b\n")
    with pytest.raises(CatalogError, match=r"row 2.*quote cells"):
        load_catalog([tmp_path])


def test_user_yaml_bad_row_names_file_row_and_field(tmp_path: Path) -> None:
    f = _write(tmp_path / "models_mine.yaml",
               "- {id: ok, name: OK, family: toy, params_b: 0.001, layers: 2, hidden: 64, heads: 4,"
               " ffn_hidden: 256, vocab: 100, source: test}\n"
               "- {id: broken, name: Broken, family: toy, params_b: 1, layers: 2, hidden: 64,"
               " ffn_hidden: 256, vocab: 100, source: test}\n")
    with pytest.raises(CatalogError) as err:
        load_catalog([tmp_path])
    assert err.value.file == str(f) and err.value.field == "heads"
    assert "2 (broken)" in str(err.value.row)


def test_user_yaml_shape_error_is_reported(tmp_path: Path) -> None:
    _write(tmp_path / "models_x.yaml",
           "- {id: odd, name: Odd, family: toy, params_b: 1, layers: 2, hidden: 64, heads: 6,"
           " ffn_hidden: 256, vocab: 100, source: test}\n")
    with pytest.raises(CatalogError, match="not divisible by heads"):
        load_catalog([tmp_path])


def test_user_rows_with_a_builtin_id_override_it(tmp_path: Path) -> None:
    builtin = load_catalog()
    old = builtin.system("dgx-h100")
    header = "id,name,accelerator,devices_per_node,scale_up_domain,scale_up_gbs," \
             "scale_up_latency_us,scale_out_gbs,scale_out_latency_us,source"
    _write(tmp_path / "systems_site.csv",
           header + "\ndgx-h100,Our DGX H100,H100-80GB,8,8,450,4,25,8,our cluster (4x NDR)\n")
    _write(tmp_path / "models_site.yaml",
           "- {id: llama3-8b, name: Our Llama, family: llama3, params_b: 8.03, layers: 32,"
           " hidden: 4096, heads: 32, kv_heads: 8, ffn_hidden: 14336, vocab: 128256,"
           " mlp: swiglu, source: ours}\n")
    cat = load_catalog([tmp_path])
    assert cat.system("dgx-h100").scale_out_gbs == 25 != old.scale_out_gbs
    assert cat.system("dgx-h100").name == "Our DGX H100"
    assert cat.model("llama3-8b").name == "Our Llama"
    assert len(cat.systems) == len(builtin.systems)  # replaced, not added
    assert load_catalog().system("dgx-h100") == old  # the built-in catalog is untouched


def test_env_var_dirs_are_read_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    row = ("- {{id: toy, name: {n}, family: toy, params_b: 0.001, layers: 2, hidden: 64, heads: 4,"
           " ffn_hidden: 256, vocab: 100, source: test}}\n")
    _write(a / "models.yaml", row.format(n="from a"))
    _write(b / "models.yaml", row.format(n="from b"))
    monkeypatch.setenv(ENV_VAR, os.pathsep.join([str(a), str(b)]))
    assert load_catalog().model("toy").name == "from b"  # later directories win


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    f = _write(tmp_path / "models.yaml", "- {id: x, name: [unclosed\n")
    with pytest.raises(CatalogError, match="not valid YAML") as err:
        load_catalog([tmp_path])
    assert err.value.file == str(f)
    _write(f, "id: not-a-list\n")
    with pytest.raises(CatalogError, match="expected a list"):
        load_catalog([tmp_path])
    _write(f, "- just a string\n")
    with pytest.raises(CatalogError, match=r"row 1.*mapping"):
        load_catalog([tmp_path])


def test_missing_directories_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog([tmp_path / "nope"])
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nope"))
    with pytest.raises(CatalogError, match=f"{ENV_VAR}.*not a directory"):
        load_catalog()


def test_system_with_unknown_accelerator_is_refused(tmp_path: Path) -> None:
    header = "id,name,accelerator,devices_per_node,scale_up_domain,scale_up_gbs," \
             "scale_up_latency_us,scale_out_gbs,scale_out_latency_us,source"
    _write(tmp_path / "systems.csv", header + "\nodd,Odd,Z9000,8,8,450,4,25,8,test\n")
    with pytest.raises(NotFoundError, match="Z9000"):
        load_catalog([tmp_path])


def test_hf_config_path_imports_through_the_catalog() -> None:
    path = Path(__file__).parent / "hf_configs" / "meta-llama-3-8b.json"
    m = load_catalog().model(str(path))
    assert m.id == "meta-llama-3-8b" and m.kv_heads == 8
