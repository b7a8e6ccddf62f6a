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
* :func:`parameter_schedule` -- parameter counts over training (figure 27);
* :func:`seed_summary` -- a measure over seeds: mean, standard error and the two-sided p-value of Student's
  one-sample t-test (:func:`student_t_p`), to say which orderings are more than seed noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
    "SeedSummary",
    "seed_summary",
    "student_t_p",
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


def student_t_p(t: float, df: int) -> float:
    """Two-sided p-value ``P(|T| >= |t|)`` of Student's t with ``df`` (a positive integer) degrees of freedom.

    The closed forms of Abramowitz and Stegun 26.7.3-26.7.4 for ``A(t | df) = P(|T| < t)``, with
    ``theta = atan(t / sqrt(df))``: ``df = 1``: ``2 theta / pi``; odd ``df``: ``2/pi (theta + sin cos (1 +
    2/3 cos^2 + ... + (2 4 ... (df-3)) / (1 3 ... (df-2)) cos^(df-3)))``; even ``df``: ``sin (1 + 1/2 cos^2 +
    ... + (1 3 ... (df-3)) / (2 4 ... (df-2)) cos^(df-2))``.

    Example:
        >>> round(student_t_p(4.302653, 2), 6)  # the 5 % critical value of 2 degrees of freedom
        0.05
    """
    if df < 1 or int(df) != df:
        raise ValueError(f"df must be a positive integer, got {df}")
    df = int(df)
    theta = math.atan(abs(t) / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    if df % 2:
        term, total = 1.0, 1.0 if df > 1 else 0.0
        for k in range(3, df - 1, 2):  # (2 4 ... (k-1)) / (1 3 ... k) cos^(k-1): k = 3, 5, ..., df - 2
            term *= (k - 1) / k * c2
            total += term
        inside = 2 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)
    else:
        term, total = 1.0, 1.0
        for k in range(2, df - 1, 2):  # (1 3 ... (k-1)) / (2 4 ... k) cos^k: k = 2, 4, ..., df - 2
            term *= (k - 1) / k * c2
            total += term
        inside = math.sin(theta) * total
    return min(1.0, max(0.0, 1.0 - inside))


@dataclass(frozen=True)
class SeedSummary:
    """A measure over ``n`` seeds: its mean, standard error and the two-sided p-value of the t-test of
    ``mean == reference`` (``nan`` for ``n < 2``)."""

    mean: float
    se: float
    n: int
    reference: float
    p: float

    def significant(self, level: float = 0.05) -> bool:
        """Whether the mean differs from the reference at ``level`` (never for fewer than two seeds)."""
        return self.n >= 2 and self.p < level


def seed_summary(values: Sequence[float], reference: float = 0.0) -> SeedSummary:
    """Mean and standard error ``s / sqrt(n)`` of ``values`` (one per seed) and the p-value of Student's
    one-sample two-sided t-test of ``mean == reference``, ``t = (mean - reference) / se`` with ``n - 1``
    degrees of freedom (:func:`student_t_p`).

    Example:
        >>> s = seed_summary([1.2, 1.4, 1.3], reference=1.0)
        >>> round(s.mean, 3), round(s.se, 3), round(s.p, 3), s.significant()
        (1.3, 0.058, 0.035, True)
    """
    x = [float(v) for v in values]
    n = len(x)
    if n == 0:
        raise ValueError("seed_summary needs at least one value")
    mean = sum(x) / n
    if n < 2:
        return SeedSummary(mean, math.nan, n, reference, math.nan)
    se = math.sqrt(sum((v - mean) ** 2 for v in x) / (n - 1) / n)
    if se == 0:
        p = 1.0 if mean == reference else 0.0
    else:
        p = student_t_p((mean - reference) / se, n - 1)
    return SeedSummary(mean, se, n, reference, p)
