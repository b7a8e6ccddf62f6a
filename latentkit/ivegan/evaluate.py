"""Evaluating IVE-GAN runs: samples, codes, reconstructions, interpolations and the chapter's metrics.

* :func:`generate` -- new samples ``G(z', z)``, ``z ~ U(-1, 1)``, ``z' ~ N(0, I)``.
* :func:`encode` / :func:`reconstruct` / :func:`interpolate` -- ``E(x)``, ``G(z', E(x))`` and
  ``G(z', (1 - a) E(x_0) + a E(x_1))`` (fig. 9).
* :func:`mode_coverage` -- modes covered and share of high-quality samples on a 2-D Gaussian mixture
  (Metz et al. 2017; Srivastava et al. 2017), from :mod:`latentkit.metrics`.
* :func:`pca_codes` -- the baseline representation: raw pixels projected by PCA.

All run in evaluation mode (batch norm with its running statistics) without gradients, in batches,
with noise from an explicit ``torch.Generator`` so that the numbers are reproducible.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from latentkit import metrics
from latentkit.engine import module_device
from latentkit.ivegan.models import Encoder, Generator
from latentkit.metrics import pca_codes  # the baseline code, re-exported for the IVE-GAN chapter

__all__ = ["generate", "encode", "reconstruct", "interpolate", "mode_coverage", "pca_codes"]


def _gen(seed: int | torch.Generator) -> torch.Generator:
    return seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))


@torch.no_grad()
def generate(generator: Generator, n: int, seed: int | torch.Generator = 0, batch_size: int = 4096) -> Tensor:
    """``n`` samples ``G(z', z)`` with ``z ~ U(-1, 1)``, ``z' ~ N(0, I)`` drawn on the CPU from ``seed``."""
    g, dev = _gen(seed), module_device(generator)
    z = 2 * torch.rand(n, generator.z_dim, generator=g) - 1
    noise = torch.randn(n, generator.noise_dim, generator=g)
    generator.eval()
    return torch.cat(
        [
            generator(noise[i : i + batch_size].to(dev), z[i : i + batch_size].to(dev)).cpu()
            for i in range(0, n, batch_size)
        ]
    )


@torch.no_grad()
def encode(encoder: Encoder, x: Tensor, batch_size: int = 1024) -> Tensor:
    """Codes ``E(x)`` (on the CPU)."""
    dev = module_device(encoder)
    encoder.eval()
    return torch.cat([encoder(x[i : i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)])


@torch.no_grad()
def reconstruct(
    encoder: Encoder, generator: Generator, x: Tensor, seed: int | torch.Generator = 0, batch_size: int = 1024
) -> Tensor:
    """Reconstructions ``G(z', E(x))`` with fresh noise ``z'`` drawn from ``seed``."""
    z = encode(encoder, x, batch_size)
    noise = torch.randn(len(x), generator.noise_dim, generator=_gen(seed))
    dev = module_device(generator)
    generator.eval()
    return torch.cat(
        [
            generator(noise[i : i + batch_size].to(dev), z[i : i + batch_size].to(dev)).cpu()
            for i in range(0, len(x), batch_size)
        ]
    )


@torch.no_grad()
def interpolate(
    encoder: Encoder, generator: Generator, x0: Tensor, x1: Tensor, steps: int = 8, seed: int | torch.Generator = 0
) -> Tensor:
    """Fig. 9: ``G(z', (1 - a) E(x0) + a E(x1))`` for ``a`` in ``linspace(0, 1, steps)`` with one fixed
    noise ``z'``; ``x0``, ``x1`` single examples (no batch axis). Returns ``(steps, *x0.shape)``."""
    z = encode(encoder, torch.stack([x0, x1]))
    a = torch.linspace(0, 1, steps)[:, None]
    codes = (1 - a) * z[0] + a * z[1]
    noise = torch.randn(1, generator.noise_dim, generator=_gen(seed)).expand(steps, -1)
    dev = module_device(generator)
    generator.eval()
    return generator(noise.to(dev), codes.to(dev)).cpu()


def mode_coverage(samples: Tensor, mixture: Any, n_std: float = 3.0, min_count: int = 1) -> dict[str, Any]:
    """Modes covered and share of high-quality samples (within ``n_std`` standard deviations of the nearest
    mode) of ``samples`` from a model of the Gaussian mixture ``mixture`` (``latentkit.data``'s)."""
    return metrics.mode_coverage(samples, mixture.means, float(mixture.stds.max()), n_std, min_count)
