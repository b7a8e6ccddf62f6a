"""Evaluating the structure of a grown latent space (Sandström, sections 7.1, 7.2.1-7.2.2, 8 and 9).

* :func:`latent_groups` -- the dimension groups 1-8, 9-16, 17-32, ... scaled to the model's latent size;
* :func:`random_walk` -- the protocol of 7.2.1: a reference latent, one group resampled four times,
  linear interpolation between the five vectors;
* :func:`axis_walk` -- 7.2.2: one coordinate swept over ``[-0.125, 0.125]``;
* :func:`axis_indices` -- the thesis's 1-based coordinate numbers (7.2.2 walks 1, 2, 5, 90, 195 and 250 of
  256, :data:`THESIS_AXIS_COORDINATES`) as 0-based indices of a latent;
* :func:`group_variability` -- the measure proposed in section 9: for each group, the standard deviation
  across a batch of images generated while only that group varies, averaged like the minibatch standard
  deviation (over pixels) -- one number per group;
* :func:`axis_shares` -- for a 2-D-latent MLP generator, the share of the generated data's variance
  explained by moving each latent coordinate alone (first-order Sobol indices on a grid), the number
  behind "the grown model puts the roll's main direction on z1" (figures 7-9);
* :func:`parameter_schedule` -- parameter counts over training (figure 27).

Which orderings are more than seed noise: :func:`latentkit.metrics.seed_summary`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from latentkit.growing.cnn import Discriminator, Generator, count_parameters, gaussian_latent, growth_stages

__all__ = [
    "latent_groups",
    "resample_group",
    "random_walk",
    "axis_walk",
    "THESIS_AXIS_COORDINATES",
    "axis_indices",
    "group_variability",
    "axis_shares",
    "parameter_schedule",
]


def latent_groups(latent_size: int, first: int = 8) -> list[tuple[int, int]]:
    """Half-open index ranges ``[(0, 8), (8, 16), (16, 32), ...]`` doubling up to ``latent_size``.

    Example:
        >>> latent_groups(256)
        [(0, 8), (8, 16), (16, 32), (32, 64), (64, 128), (128, 256)]
    """
    if first < 1 or latent_size < 1:
        raise ValueError(f"first and latent_size must be positive, got {first}, {latent_size}")
    groups, lo, hi = [], 0, min(first, latent_size)
    while lo < latent_size:
        groups.append((lo, hi))
        lo, hi = hi, min(2 * hi, latent_size)
    return groups


def resample_group(z_ref: Tensor, group: tuple[int, int], n: int, generator: torch.Generator) -> Tensor:
    """``n`` copies of ``z_ref`` (shape ``(size,)``) whose entries in ``group`` are redrawn from the
    latent distribution (entries of fresh :func:`~latentkit.growing.cnn.gaussian_latent` vectors)."""
    lo, hi = group
    z = z_ref.expand(n, -1).clone()
    z[:, lo:hi] = gaussian_latent(n, z_ref.shape[-1], generator, z_ref.device)[:, lo:hi]
    return z


@torch.no_grad()
def random_walk(
    generator_net: Callable[[Tensor], Tensor],
    z_ref: Tensor,
    group: tuple[int, int],
    generator: torch.Generator,
    points: int = 5,
    between: int = 3,
) -> Tensor:
    """Sec. 7.2.1: resample ``group`` of ``z_ref`` ``points - 1`` times and walk linearly through the
    ``points`` vectors with ``between`` steps between neighbours. Returns the images ``(L, C, H, W)``."""
    keys = torch.cat([z_ref[None], resample_group(z_ref, group, points - 1, generator)])
    w = torch.linspace(0, 1, between + 1, device=z_ref.device)[:-1, None]
    path = torch.cat([(1 - w) * keys[i] + w * keys[i + 1] for i in range(points - 1)] + [keys[-1:]])
    return generator_net(path)


@torch.no_grad()
def axis_walk(
    generator_net: Callable[[Tensor], Tensor], z_ref: Tensor, dim: int, steps: int = 4, radius: float = 0.125
) -> Tensor:
    """Sec. 7.2.2: coordinate ``dim`` (0-based) of ``z_ref`` swept over ``[-radius, radius]``."""
    z = z_ref.expand(steps, -1).clone()
    z[:, dim] = torch.linspace(-radius, radius, steps, device=z_ref.device)
    return generator_net(z)


# Sec. 7.2.2, figures 21-26: "coordinate axes 1, 2, 5, 90, 195, 250 are varied" of the 256-dimensional latent.
# The thesis counts coordinates from 1 (its groups are 1-8, 9-16, ...): these are indices 0, 1, 4, 89, 194, 249.
THESIS_AXIS_COORDINATES: tuple[int, ...] = (1, 2, 5, 90, 195, 250)


def axis_indices(coordinates: str, latent_size: int) -> list[int]:
    """0-based indices of comma-separated coordinates numbered from 1, as the thesis numbers them (sec. 7.2.2).

    Coordinates beyond ``latent_size`` are left out (a model with a smaller latent has no such axis); a
    coordinate below 1 or a non-integer raises ``ValueError``. An empty string gives ``[]``.

    Example:
        >>> axis_indices("1, 2, 5, 90, 195, 250", 256)
        [0, 1, 4, 89, 194, 249]
        >>> axis_indices("1,2,5,90,195,250", 32)
        [0, 1, 4]
    """
    numbers = []
    for item in coordinates.split(","):
        if not item.strip():
            continue
        try:
            numbers.append(int(item))
        except ValueError:
            raise ValueError(f"axis coordinates are integers counted from 1, got {item.strip()!r}") from None
    if any(c < 1 for c in numbers):
        raise ValueError(f"axis coordinates are counted from 1 (the thesis's numbering), got {coordinates!r}")
    return [c - 1 for c in numbers if c <= latent_size]


@torch.no_grad()
def group_variability(
    generator_net: Callable[[Tensor], Tensor],
    latent_size: int,
    groups: list[tuple[int, int]],
    generator: torch.Generator,
    n: int = 64,
    references: int = 8,
    device: Any = "cpu",
) -> list[float]:
    """Sec. 9: for each group, the pixel-averaged standard deviation over ``n`` images whose latents
    differ only in that group, averaged over ``references`` reference latents. One number per group."""
    refs = gaussian_latent(references, latent_size, generator, device)
    out = []
    for group in groups:
        stds = []
        for z_ref in refs:
            x = generator_net(resample_group(z_ref, group, n, generator))
            stds.append(x.std(dim=0, unbiased=False).mean())
        out.append(float(torch.stack(stds).mean()))
    return out


@torch.no_grad()
def axis_shares(
    generator_net: Callable[[Tensor], Tensor], grid: int = 64, low: float = -1.0, high: float = 1.0, device: Any = "cpu"
) -> tuple[float, float]:
    """First-order variance shares of a 2-D latent on a ``grid x grid`` lattice over ``[low, high]^2``.

    ``S_i = sum_d Var_{z_i}( E[x_d | z_i] ) / sum_d Var(x_d)``: the fraction of the generated data's
    variance explained by moving ``z_i`` alone (1 for a coordinate that carries everything; the two
    shares add up to less than 1 when the coordinates interact).
    """
    u = torch.linspace(low, high, grid, device=device)
    z1, z2 = torch.meshgrid(u, u, indexing="ij")
    x = generator_net(torch.stack([z1.flatten(), z2.flatten()], 1)).reshape(grid, grid, -1).double()
    total = x.reshape(-1, x.shape[-1]).var(dim=0, unbiased=False).sum()
    s1 = x.mean(dim=1).var(dim=0, unbiased=False).sum() / total
    s2 = x.mean(dim=0).var(dim=0, unbiased=False).sum() / total
    return float(s1), float(s2)


def parameter_schedule(strategy: str, arch: Any, phase_images: list[int], channels: int = 3) -> list[dict]:
    """Parameters of G and D over training (figure 27): one record per phase with the images shown
    when it starts and ends (the networks of a phase include the layers that fade out)."""
    stages = growth_stages(strategy, arch)
    rows, shown = [], 0
    with torch.device("meta"):
        for k, stage in enumerate(stages):
            prev = stages[k - 1] if k else None
            g, d = Generator(stage, prev, channels), Discriminator(stage, prev, channels)
            rows.append(
                {
                    "phase": k,
                    "start": shown,
                    "end": shown + phase_images[k],
                    "latent": stage.latent,
                    "resolution": stage.resolution,
                    "generator": count_parameters(g),
                    "discriminator": count_parameters(d),
                }
            )
            shown += phase_images[k]
    return rows
