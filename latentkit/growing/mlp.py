"""Growable MLP GANs (Sandström, section 6.1) and their training on 2-D data (section 7.1).

Growing the latent input of an MLP generator from ``n`` to ``m`` dimensions adds ``m - n`` zero-initialised
columns to the first weight matrix (figure 2): every trained weight is kept, biases and later layers are
unchanged, the discriminator is untouched, and the grown generator computes exactly the function of the
old one (the new inputs are multiplied by zeros).

Example:
    >>> g = MLPGenerator(latent=1)
    >>> z = torch.rand(5, 2) * 2 - 1
    >>> torch.equal(g(z[:, :1]), grow_latent(g, 2)(z))
    True
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from latentkit._random import rand
from latentkit.growing.layers import LRELU_SLOPE

__all__ = ["MLPGenerator", "MLPDiscriminator", "grow_latent", "uniform_latent"]


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(LRELU_SLOPE))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """``depth`` hidden layers of ``hidden`` LReLU(0.2) units and a linear output (sec. 7.1: 4 x 32).

    ``forward(z)`` uses the first ``latent`` entries of ``z``.
    """

    def __init__(self, latent: int, out_dim: int = 2, hidden: int = 32, depth: int = 4) -> None:
        super().__init__()
        if latent < 1 or depth < 1:
            raise ValueError(f"latent and depth must be positive, got {latent}, {depth}")
        self.latent, self.out_dim, self.hidden, self.depth = latent, out_dim, hidden, depth
        self.net = _mlp([latent] + [hidden] * depth + [out_dim])

    def forward(self, z: Tensor) -> Tensor:
        if z.dim() != 2 or z.shape[1] < self.latent:
            raise ValueError(f"the generator needs latents (B, >= {self.latent}), got {tuple(z.shape)}")
        return self.net(z[:, : self.latent])


class MLPDiscriminator(nn.Module):
    """The same MLP shape mapping a point to one logit / critic score ``(B,)``."""

    def __init__(self, in_dim: int = 2, hidden: int = 32, depth: int = 4) -> None:
        super().__init__()
        self.net = _mlp([in_dim] + [hidden] * depth + [1])

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1)).flatten()


@torch.no_grad()
def grow_latent(generator: MLPGenerator, latent: int) -> MLPGenerator:
    """A copy of ``generator`` with ``latent`` inputs: zero columns appended to the first weight matrix."""
    if latent < generator.latent:
        raise ValueError(f"cannot shrink the latent from {generator.latent} to {latent}")
    new = copy.deepcopy(generator)
    first: nn.Linear = generator.net[0]
    grown = nn.Linear(latent, first.out_features).to(first.weight)
    grown.weight.zero_()
    grown.weight[:, : generator.latent] = first.weight
    grown.bias.copy_(first.bias)
    new.net[0] = grown
    new.latent = latent
    return new


def uniform_latent(
    n: int, size: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
) -> Tensor:
    """``z ~ U(-1, 1)^size`` (sec. 7.1), drawn with ``generator`` (on its device; without one, torch's global
    CPU generator, so that a seed gives the same latents on every device) and returned on ``device``."""
    return rand((n, size), generator=generator or torch.default_generator, device=device) * 2 - 1
