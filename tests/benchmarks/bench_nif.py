"""Benchmark (not a test): log-likelihood time of the nearest-neighbour upsampling NIF against the dense
Gaussian NIF built from the same explicit matrix, for latents 3 x h x h -> data 3 x 2h x 2h.

    python tests/benchmarks/bench_nif.py [--sides 4 8 12 16 24 32 48 64] [--batch 32] [--rounds 5]
                                         [--threads 2] [--dtype float32] [--dense-max 3072] [--json FILE] [--plot FILE]

dim_z = 3 h^2 goes from 48 (h = 4) to 3,072 (h = 32) for both layers, and on to 12,288 (h = 64) for the
upsampling NIF alone: the dense layer is skipped above ``--dense-max`` (its matrix has 4 dim_z^2 entries). Each
size checks first that both layers give the same log-likelihood, then times ``log_likelihood`` of a batch
(forward only, no gradients) in alternating rounds -- each round repeats the call for at least 50 ms -- and
keeps the fastest round of each (a shared machine's load hits both alike). The summary gives the log-log slope of each curve: the
upsampling NIF must grow linearly (slope ~1; its Lambda is block-diagonal), the dense one as O(dim_z^3)
(forming A^T Sigma^-1 A and its Cholesky factor), and the speed-up at the largest size the dense layer reached.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

from latentkit.nif import GaussianNIF, UpsampleNIF


def _layers(side: int, dtype: torch.dtype, dense: bool) -> tuple[UpsampleNIF, GaussianNIF | None]:
    torch.manual_seed(side)
    up = UpsampleNIF((3, side, side), factor=2).to(dtype)
    with torch.no_grad():
        up.weight.add_(0.3 * torch.randn_like(up.weight))
        up.log_sigma.uniform_(-1.0, 1.0)
        up.b.normal_()
    if not dense:
        return up, None
    with torch.no_grad():
        matrix = up.dense_matrix()
    return up, GaussianNIF.from_parameters(matrix, up.b.detach().flatten(), up.sigma.detach().flatten())


def _time(fn, min_seconds: float = 0.05) -> float:
    """Seconds per call of ``fn``, from enough back-to-back calls to last ``min_seconds``."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls


def _slope(xs: list[float], ys: list[float]) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[4, 8, 12, 16, 24, 32, 48, 64])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--dense-max", type=int, default=3072, help="largest dim_z for the dense layer")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--plot", help="save the log-log curve to this PNG")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    rows = []
    print(f"{'dim_z':>6} {'dim_x':>7} {'upsample s':>11} {'dense s':>10} {'speed-up':>9} {'max rel diff':>13}")
    for side in args.sides:
        dim_z = 3 * side * side
        up, dense = _layers(side, dtype, dim_z <= args.dense_max)
        x = torch.randn(args.batch, *up.x_shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
        flat = x.flatten(1)
        with torch.no_grad():
            ll_up = up.log_likelihood(x)
            diff = float(((dense.log_likelihood(flat) - ll_up).abs() / ll_up.abs()).max()) if dense else float("nan")
            t_up, t_dense = [], []
            for _ in range(args.rounds):  # alternate the two layers
                t_up.append(_time(lambda: up.log_likelihood(x)))
                if dense is not None:
                    t_dense.append(_time(lambda: dense.log_likelihood(flat)))
        row = {
            "side": side,
            "dim_z": dim_z,
            "dim_x": 4 * dim_z,
            "upsample_s": min(t_up),
            "dense_s": min(t_dense) if t_dense else None,
            "max_rel_diff": diff,
        }
        rows.append(row)
        speed = f"{row['dense_s'] / row['upsample_s']:9.1f}" if row["dense_s"] else f"{'-':>9}"
        dense_s = f"{row['dense_s']:10.4f}" if row["dense_s"] else f"{'skipped':>10}"
        print(f"{dim_z:>6} {4 * dim_z:>7} {row['upsample_s']:11.5f} {dense_s} {speed} {diff:13.1e}", flush=True)
        dense = None  # free the dense matrix before the next size
    ups = [(r["dim_z"], r["upsample_s"]) for r in rows]
    dens = [(r["dim_z"], r["dense_s"]) for r in rows if r["dense_s"]]
    summary = {
        "upsample_slope": _slope(*zip(*ups)),
        "dense_slope": _slope(*zip(*dens)) if len(dens) > 1 else None,
        "batch": args.batch,
        "threads": args.threads,
        "dtype": args.dtype,
    }
    if dens:
        last = max((r for r in rows if r["dense_s"]), key=lambda r: r["dim_z"])
        summary.update(largest_dense_dim_z=last["dim_z"], speed_up_at_largest=last["dense_s"] / last["upsample_s"])
    print(
        f"log-log slope of time vs dim_z: upsampling NIF {summary['upsample_slope']:.2f} (linear = 1), dense NIF "
        f"{summary['dense_slope']:.2f}"
        if summary["dense_slope"] is not None
        else ""
    )
    if dens:
        print(f"speed-up at dim_z = {summary['largest_dense_dim_z']}: {summary['speed_up_at_largest']:.0f}x")
    # linear growth, measured on the larger sizes where fixed per-call overheads no longer dominate
    big = [(d, t) for d, t in ups if d >= 768] or ups
    if len(big) > 1:
        summary["upsample_slope_large"] = _slope(*zip(*big))
        print(
            f"upsampling NIF slope for dim_z >= 768: {summary['upsample_slope_large']:.2f}; microseconds per latent "
            f"dimension: " + ", ".join(f"{1e6 * t / d:.2f}" for d, t in ups)
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "summary": summary}, f, indent=2)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        ax.loglog(*zip(*dens), "o-", label="dense Gaussian NIF")
        ax.loglog(*zip(*ups), "s-", label="nearest-neighbour upsampling NIF")
        ax.set(title=f"log-likelihood time, batch {args.batch}, {args.dtype}", xlabel="dim_z", ylabel="seconds")
        ax.legend()
        fig.savefig(args.plot, dpi=120, bbox_inches="tight")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
