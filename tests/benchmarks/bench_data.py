"""Benchmark (not a test): how many CelebA-like images per second latentkit.data feeds a training loop.

    python tests/benchmarks/bench_data.py [--images 400] [--batch 64] [--repeats 7] [--threads 2] [--device cpu]

There is no real CelebA here, so the script writes ``--images`` fake aligned faces (178x218 JPEGs with
smooth shapes and noise, about the size of the real files) into a temporary folder in torchvision's
layout (tests/fakedata.py) and, for each setting -- centre crop 178 resized to 64x64 (the default) and
the centre 128x128 crop (Sandstrom's thesis sec. 7.2.3) -- measures

* cached: the decoded uint8 cache (``load``'s default) through ``batch_sampler`` at ``--batch``
  (gather uint8, move to the device, convert to float32 in [-1, 1]);
* lazy: ``load(..., cache=False)`` through the same ``batch_sampler``: one JPEG decoded per image;
* build: writing the cache, i.e. opening the set with torchvision (list files, md5 sums), decoding the
  whole split in one process (as the lazy path decodes; a full CelebA build uses up to 8 DataLoader
  workers) and saving it.

Each rate is the median of ``--repeats`` rounds (wall clock); the rounds alternate between the paths.
The header prints the machine's load average: other processes on a shared machine slow every column.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the fake dataset writers
import latentkit.engine  # noqa: E402, F401  (imported by the first cache build: not timed)
from fakedata import patched_md5, write_fake_celeba  # noqa: E402
from latentkit import data  # noqa: E402


def _rate(sample, batches: int, batch: int, device: torch.device, seed: int) -> tuple[float, float]:
    """Images per second of wall-clock time and of this process's CPU time (all its threads)."""
    g = torch.Generator().manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(batches):
        x, _ = sample(g)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return batches * batch / (time.perf_counter() - t0), batches * batch / max(time.process_time() - c0, 1e-9)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=400, help="fake training images written (JPEG, 178x218)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=7, help="rounds per path; the median counts")
    p.add_argument("--cached-batches", type=int, default=100, help="batches per round from the cache")
    p.add_argument("--lazy-batches", type=int, default=4, help="batches per round decoding JPEGs")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    settings = [("crop 178 -> 64x64", {"crop": 178, "size": 64}), ("crop 128, 128x128", {"crop": 128, "size": 128})]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_fake_celeba(root, (args.images, 8, 8), textured=True)
        jpeg_kb = statistics.mean(f.stat().st_size for f in (root / "celeba" / "img_align_celeba").iterdir()) / 1024
        with patched_md5(root):
            for label, opts in settings:
                t0 = time.perf_counter()
                path = data.build_cache("celeba", root=root, workers=0, **opts)
                build = args.images / (time.perf_counter() - t0)
                kw = dict(root=root, value_range=(-1.0, 1.0), **opts)
                cached = data.batch_sampler(data.load("celeba", **kw), args.batch, device)
                lazy = data.batch_sampler(data.load("celeba", cache=False, **kw), args.batch, device)
                _rate(cached, 3, args.batch, device, 0), _rate(lazy, 1, args.batch, device, 0)  # warm-up
                rates: dict[str, list[tuple[float, float]]] = {"cached": [], "lazy": []}
                for r in range(args.repeats):
                    rates["cached"].append(_rate(cached, args.cached_batches, args.batch, device, r))
                    rates["lazy"].append(_rate(lazy, args.lazy_batches, args.batch, device, r))
                med = {(k, i): statistics.median(v[i] for v in vs) for k, vs in rates.items() for i in (0, 1)}
                rows.append(
                    (
                        label,
                        med["cached", 0],
                        med["cached", 1],
                        med["lazy", 0],
                        med["lazy", 1],
                        build,
                        path.stat().st_size / args.images,
                    )
                )
    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"CelebA-like loader throughput: {args.images} fake 178x218 JPEGs (mean {jpeg_kb:.1f} KB), batch "
        f"{args.batch}, device {device}, {args.threads} torch threads, median of {args.repeats} rounds "
        f"(load average {load_avg:.1f} on {os.cpu_count()} CPUs)"
    )
    print("  img/s: per second of wall-clock time; img/CPU-s: per second of this process's CPU time")
    print(
        f"  {'setting':<20} {'cached img/s':>13} {'img/CPU-s':>10} {'lazy img/s':>11} {'img/CPU-s':>10} "
        f"{'speed-up':>9} {'build img/s':>12} {'cache B/img':>12}"
    )
    for label, c, c_cpu, lz, lz_cpu, b, per in rows:
        print(
            f"  {label:<20} {c:13,.0f} {c_cpu:10,.0f} {lz:11,.0f} {lz_cpu:10,.0f} {c / lz:8.0f}x {b:12,.0f} "
            f"{per:12,.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
