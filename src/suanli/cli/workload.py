"""``suanli workload train|serve``: run a real GPT workload here and compare it with the
prediction from a ``suanli bench`` profile."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Run a real GPT workload (PyTorch) and compare measured with predicted.",
                  no_args_is_help=True)

Preset = Annotated[str, typer.Option("--preset", "-p", help="tiny, small or medium")]
Profile = Annotated[Path | None, typer.Option("--profile", help="a `suanli bench -o` file: "
                                              "also print the prediction and its error")]


def _model(preset_name: str, layers: int | None, hidden: int | None, heads: int | None,
           ffn: int | None, vocab: int | None) -> Any:
    from suanli.workloads.shapes import WorkloadModel, preset

    base = preset(preset_name)
    changes = {k: v for k, v in dict(layers=layers, hidden=hidden, heads=heads, ffn_hidden=ffn,
                                     vocab=vocab).items() if v is not None}
    return _shape(WorkloadModel, **{**base.model_dump(), **changes}) if changes else base


def _shape(cls: Any, **fields: Any) -> Any:
    from pydantic import ValidationError

    from suanli.errors import InputError

    try:
        return cls(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{where or 'workload'}: {err['msg']}") from None


def _load(profile: Path, threads: int | None) -> tuple[Any, int]:
    """The profile and the thread count to run with: the profile's, unless given (a prediction
    from a profile measured with other threads is refused: CPU rates scale with threads)."""
    from suanli.bench.profile import load_profile
    from suanli.errors import InputError

    prof = load_profile(profile)
    measured = int(prof.hardware.get("threads", 0) or 0)
    if threads is not None and measured and threads != measured:
        raise InputError(f"{profile} was measured with {measured} threads, not {threads}: run "
                         f"with --threads {measured}, or re-run `suanli bench --threads "
                         f"{threads}`")
    return prof, threads or measured or 1


def _report(rec: Any, pred: dict[str, float], json_out: bool) -> None:
    from suanli.cli.common import console, print_json
    from suanli.workloads.record import FASTEST

    rec = rec.model_copy(update={"predicted": pred})
    if json_out:
        print_json(rec)
        return
    con = console()
    measured = rec.model_dump()
    figure = {key: name for name, key in FASTEST.items()}
    for key, value in pred.items():
        meas = rec.on_own_core(figure[key])  # the bench's clock (one thread: CPU seconds)
        err = f"  error {value / meas - 1:+.1%}" if meas else ""
        con.print(f"{key:15} measured {meas:.5g} s (on its own core)   predicted "
                  f"{value:.5g} s{err}")
    for key in ("step_time_s", "step_time_min_s", "tokens_per_s", "ttft_s", "tpot_s",
                "tpot_min_s", "output_tokens_per_s"):
        if measured.get(key) is not None and key not in pred:
            con.print(f"{key:15} {measured[key]:.5g}")
    con.print(f"peak memory     {rec.peak_memory_bytes / 2**20:,.0f} MiB (process RSS)")


def _run(kind: str, model: Any, threads: int | None, profile: Path | None, json_out: bool,
         **fields: Any) -> None:
    """Build the shape (the profile's thread count unless given), predict from the profile
    when there is one, run the workload here and report both."""
    from suanli.workloads.run import run_serve, run_train
    from suanli.workloads.shapes import ServeShape, TrainShape

    prof = None
    if profile is not None:
        prof, threads = _load(profile, threads)
    shape = _shape(TrainShape if kind == "train" else ServeShape, model=model, threads=threads,
                   **fields)
    pred: dict[str, float] = {}
    if prof is not None:
        from suanli.perf.oplevel import decode_step, prefill, train_step

        pred = {"step_time_min_s": train_step(prof, shape).total} if kind == "train" else {
            "ttft_s": prefill(prof, shape).total, "tpot_min_s": decode_step(prof, shape).total}
    _report(run_train(shape) if kind == "train" else run_serve(shape), pred, json_out)


@app.command("train")
def train(preset: Preset = "small", batch: int = 8, seq_len: int = 128, steps: int = 8,
          threads: int | None = None, layers: int | None = None, hidden: int | None = None,
          heads: int | None = None, ffn: int | None = None, vocab: int | None = None,
          profile: Profile = None,
          json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Train a GPT for a few steps on random tokens; report step time, tokens/s, memory."""
    _run("train", _model(preset, layers, hidden, heads, ffn, vocab), threads, profile, json_out,
         batch=batch, seq_len=seq_len, steps=steps)


@app.command("serve")
def serve(preset: Preset = "small", batch: int = 8, prompt_len: int = 128, gen_len: int = 32,
          threads: int | None = None, layers: int | None = None, hidden: int | None = None,
          heads: int | None = None, ffn: int | None = None, vocab: int | None = None,
          profile: Profile = None,
          json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Serve a batch: prefill the prompts, decode with a KV cache; report TTFT and TPOT."""
    _run("serve", _model(preset, layers, hidden, heads, ffn, vocab), threads, profile, json_out,
         batch=batch, prompt_len=prompt_len, gen_len=gen_len)
