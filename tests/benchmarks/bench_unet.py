"""Benchmark (not a test): training steps per second of latentkit's ScoreUNet against diffusers'
UNet2DModel at MNIST size, per parameter, in the same run.

    python tests/benchmarks/bench_unet.py [--batch 32] [--rounds 7] [--steps 10] [--threads 1] [--device cpu]

Both models get the same training step (forward, mean squared error against a random target,
backward, Adam). diffusers is configured like ours -- two resolutions with 32 and 64 channels, two
residual blocks per resolution, GroupNorm, no attention -- so that the parameter counts are close.
Measurements alternate between the models in rounds (a shared machine's load hits both alike) and
the median round counts. "Per parameter" is steps/s x parameters: the ratio ours / diffusers must be
>= 1. diffusers is an optional extra (``pip install diffusers``, or ``.[bench]``); without it the script
says so and exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from latentkit.score import ScoreUNet


def _diffusers_model(size: int, channels: tuple[int, ...]):
    from diffusers import UNet2DModel

    n = len(channels)
    return UNet2DModel(
        sample_size=size,
        in_channels=1,
        out_channels=1,
        layers_per_block=2,
        block_out_channels=channels,
        down_block_types=("DownBlock2D",) * n,
        up_block_types=("UpBlock2D",) * n,
        norm_num_groups=8,
        add_attention=False,
    )


def _step_fn(model, forward, batch: int, size: int, device: torch.device):
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, size, size, generator=g).to(device)
    target = torch.randn(batch, 1, size, size, generator=g).to(device)
    std = torch.rand(batch, generator=g).to(device) * 10 + 0.01

    def step() -> None:
        loss = (forward(model, x, std) - target).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _time(step, n: int, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=10, help="training steps per round and model")
    p.add_argument(
        "--threads", type=int, default=1, help="CPU threads (1: two threads are far slower on a busy 2-core machine)"
    )
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    try:
        import diffusers
    except ImportError:
        print("diffusers is not installed (pip install diffusers): benchmark skipped")
        return 0
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    channels = (32, 64)
    torch.manual_seed(0)
    ours = ScoreUNet(1, args.size, channels=channels, num_res_blocks=2).to(device)
    theirs = _diffusers_model(args.size, channels).to(device)
    steps = {
        "latentkit ScoreUNet": _step_fn(ours, lambda m, x, s: m(x, s), args.batch, args.size, device),
        f"diffusers {diffusers.__version__} UNet2DModel": _step_fn(
            theirs, lambda m, x, s: m(x, s.log() * 250 + 1000).sample, args.batch, args.size, device
        ),
    }
    params = {
        "latentkit ScoreUNet": sum(q.numel() for q in ours.parameters()),
        f"diffusers {diffusers.__version__} UNet2DModel": sum(q.numel() for q in theirs.parameters()),
    }
    for step in steps.values():  # warm-up
        _time(step, 2, device)
    rates: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            rates[name].append(_time(step, args.steps, device))
    print(
        f"U-Net training steps at {args.size}x{args.size}x1, batch {args.batch}, device {device}, "
        f"{args.threads} threads, median of {args.rounds} rounds x {args.steps} steps"
    )
    per_param = {}
    for name in steps:
        rate = statistics.median(rates[name])
        per_param[name] = rate * params[name]
        print(
            f"  {name:<36} {params[name]:>9,d} params  {rate:7.2f} steps/s  "
            f"{rate * params[name] / 1e6:7.2f} M param-steps/s"
        )
    a, b = per_param.values()
    r = [x / y for x, y in zip(*rates.values())]
    print(
        f"ratio latentkit / diffusers: {a / b:.2f} per parameter (steps/s alone: "
        f"{statistics.median(rates[next(iter(rates))]) / statistics.median(list(rates.values())[1]):.2f}; "
        f"per-round steps/s ratios {min(r):.2f}..{max(r):.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
