"""What-if models: a dense model from its size by the documented shape rules, or its shape."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.catalog.whatif import ASPECT, model_from_params, model_from_shape
from suanli.errors import InputError
from suanli.perf.ops import active_param_count, param_count


@settings(max_examples=25, deadline=None)
@given(n=st.floats(1e9, 2e12))
def test_size_is_met_within_2_percent_with_a_valid_shape(n: float) -> None:
    m = model_from_params(n)
    assert abs(param_count(m) / n - 1) <= 0.02
    assert m.hidden % m.heads == 0 and m.heads % m.n_kv_heads == 0
    assert m.params_b * 1e9 == pytest.approx(param_count(m))


@pytest.mark.parametrize("n", [70e9, 175e9, 500e9, 1e12])
def test_large_models_sit_near_the_published_aspect_ratio(n: float) -> None:
    m = model_from_params(n)
    assert abs(math.log(m.hidden / m.layers / ASPECT)) < math.log(1.5)
    assert m.n_kv_heads == 8 and m.d_head == 128  # GQA as Llama 2 70B / Llama 3


def test_shape_defaults_and_moe() -> None:
    m = model_from_shape(layers=32, hidden=4096, ffn=14336, vocab=32000, experts=8, top_k=2)
    assert m.heads == 32 and m.n_kv_heads == 8
    assert param_count(m) == pytest.approx(46.7e9, rel=0.01)  # Mixtral 8x7B's shape
    assert active_param_count(m) == pytest.approx(12.9e9, rel=0.02)
    assert "8x top-2" in m.name


@pytest.mark.parametrize(("kw", "message"), [
    ({"layers": 32, "hidden": 4096, "heads": 30}, "not divisible by --heads"),
    ({"layers": 32, "hidden": 4096, "experts": 8}, "both --experts and --top-k"),
    ({"layers": 32, "hidden": 4096, "experts": 2, "top_k": 4}, "exceeds --experts"),
    ({"layers": 0, "hidden": 4096}, "--layers must be a positive"),
])
def test_shape_errors(kw: dict[str, int], message: str) -> None:
    with pytest.raises(InputError, match=message):
        model_from_shape(**kw)


def test_size_out_of_range() -> None:
    with pytest.raises(InputError, match="between 10M and 100T"):
        model_from_params(1e3)
