"""Evaluating IVE-GAN runs: samples, codes, reconstructions, interpolations and the chapter's metrics.

* :func:`generate` -- new samples ``G(z', z)``, ``z ~ U(-1, 1)``, ``z' ~ N(0, I)``.
* :func:`encode` / :func:`reconstruct` / :func:`interpolate` -- ``E(x)``, ``G(z', E(x))`` and
  ``G(z', (1 - a) E(x_0) + a E(x_1))`` (fig. 9).
* :func:`mode_coverage` -- the measures of the mode-collapse literature on a 2-D Gaussian mixture (Metz et al.
  2017; Srivastava et al. 2017; Lin et al. 2018): the share of high-quality samples, the modes that receive a
  fixed share of the samples they would receive under the data, and the KL divergence of the modes' histogram
  from the data's; :func:`spread_control` -- the control for them: points spread over the modes' circle.
* :func:`pca_codes` -- the baseline representation: raw pixels projected by PCA.

All run in evaluation mode (batch norm with its running statistics) without gradients, in batches,
with noise from an explicit ``torch.Generator`` so that the numbers are reproducible.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from latentkit import metrics
from latentkit.engine import module_device
from latentkit.ivegan.models import Encoder, Generator
from latentkit.metrics import pca_codes  # the baseline code, re-exported for the IVE-GAN chapter

__all__ = ["generate", "encode", "reconstruct", "interpolate", "mode_coverage", "spread_control", "pca_codes"]


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


def mode_coverage(samples: Tensor, mixture: Any, n_std: float = 3.0, min_share: float = 0.25) -> dict[str, Any]:
    r"""How a model's ``samples`` cover the modes of the Gaussian mixture ``mixture`` (``latentkit.data``'s).

    A sample is *high quality* when it lies within ``n_std`` standard deviations ``sigma`` (the mixture's
    largest) of its nearest mode (Metz et al. 2017; Srivastava et al. 2017); ``counts[k]`` are the high-quality
    samples whose nearest mode is ``k``. Under the data the ``N`` samples would give mode ``k``

    .. math::
        \mathbb E[\text{counts}_k] = N w_k \, P(\chi^2_d \le (n \sigma / \tau_k)^2)

    (``w_k``, ``tau_k``: the component's weight and std; in 2-D with ``tau_k = sigma``: ``N w_k (1 - e^{-n^2/2})``).
    A mode is *covered* when ``counts[k] >= min_share * expected[k]``: a mode hit by a handful of samples
    is not covered (with ``min_share -> 0`` this becomes the one-sample rule, kept as ``modes_hit``).
    ``mode_kl`` is :math:`\mathrm{KL}(q \,\|\, w) = \sum_k q_k \log(q_k / w_k)` of the high-quality
    samples' histogram ``q = counts / sum(counts)`` from the mixture's weights (uniform on a ring): the
    *reverse* KL (model first), finite when modes are missed, 0 for an even spread, ``log K`` when every
    high-quality sample is on one of ``K`` equal modes; NaN without any high-quality sample.

    Returns:
        ``{"modes_covered", "modes_hit", "n_modes", "high_quality_share", "mode_kl", "min_share", "counts",
        "expected_counts"}``.
    """
    if not 0 < min_share <= 1:
        raise ValueError(f"mode_coverage: min_share must be in (0, 1], got {min_share!r}")
    sigma = float(mixture.stds.max())
    cov = metrics.mode_coverage(samples, mixture.means, sigma, n_std)
    counts = torch.tensor(cov["counts"], dtype=torch.float64)
    means = mixture.means.detach().cpu().to(torch.float64)
    d = means.shape[1]
    tau = mixture.stds.detach().cpu().to(torch.float64)
    # P(|x - mu_k| <= n sigma) for x ~ N(mu_k, tau_k^2 I): the chi-square CDF, a regularised gamma function
    radius2 = (n_std * sigma / tau.clamp_min(1e-300)) ** 2
    inside = torch.special.gammainc(torch.full_like(tau, d / 2), radius2 / 2)
    w = mixture.weights.detach().cpu().to(torch.float64)
    expected = len(samples) * w * inside
    covered = counts >= min_share * expected
    total = float(counts.sum())
    if total > 0:
        q = counts / total
        kl = float(torch.where(q > 0, q * (q / w).log(), torch.zeros_like(q)).sum())
    else:
        kl = math.nan
    return {
        "modes_covered": int(covered.sum()),
        "modes_hit": int(cov["modes_covered"]),
        "n_modes": int(cov["n_modes"]),
        "high_quality_share": float(cov["high_quality_share"]),
        "mode_kl": kl,
        "min_share": float(min_share),
        "counts": [int(c) for c in cov["counts"]],
        "expected_counts": expected.tolist(),
    }


def spread_control(mixture: Any, n: int, seed: int | torch.Generator = 0) -> Tensor:
    """``n`` points spread uniformly over where the modes of the 2-D ``mixture`` lie, ignoring their Gaussians:
    on the circle through the means when they are equidistant from their centre (a ring), else in the box
    they span (a grid). A control for :func:`mode_coverage`: it hits every mode without modelling any."""
    g = _gen(seed)
    means = mixture.means.detach().cpu()
    if means.shape[1] != 2:
        raise ValueError(f"spread_control: needs a 2-D mixture, got points of dimension {means.shape[1]}")
    centre = means.mean(0)
    radii = (means - centre).norm(dim=1)
    if len(means) > 2 and float(radii.max() - radii.min()) <= 1e-4 * float(radii.max()):
        angle = 2 * math.pi * torch.rand(n, generator=g, dtype=means.dtype)
        return centre + radii.mean() * torch.stack([angle.cos(), angle.sin()], 1)
    low, high = means.min(0).values, means.max(0).values
    return low + (high - low) * torch.rand(n, 2, generator=g, dtype=means.dtype)
