"""GAN objectives of the thesis as pure functions of tensors (Sandström, sections 4.2 and 4.6).

* non-saturating GAN: the discriminator loss (eq. 6) and the generator loss (eq. 8), written with
  logits (``D = sigmoid(logit)``) so that they stay finite when the discriminator saturates;
* WGAN-GP: the critic loss (eq. 13) with the gradient penalty of Gulrajani et al. and the generator
  loss (eq. 14).

The gradient penalty interpolates ``x_hat = t * x_real + (1 - t) * x_fake`` with one ``t ~ U(0, 1)`` per
example, broadcast over the example's *own* shape (``(B, 1)`` for points, ``(B, 1, 1, 1)`` for images):
the thesis code drew ``t`` of shape ``(B, 1, 1, 1)`` also for 2-D points, which broadcasts a ``(B, 2)``
batch into a ``(B, 1, B, 2)`` tensor of mismatched pairs.

Example:
    >>> critic = torch.nn.Linear(2, 1)
    >>> real, fake = torch.randn(8, 2), torch.randn(8, 2)
    >>> gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from latentkit._random import rand

__all__ = [
    "Loss",
    "LOSSES",
    "ns_discriminator_loss",
    "ns_generator_loss",
    "wgan_critic_loss",
    "wgan_generator_loss",
    "gradient_penalty",
    "interpolate",
]

Loss = Literal["ns", "wgan-gp"]  # the GAN objectives (a config field of this type is checked)
LOSSES: tuple[str, ...] = get_args(Loss)


def ns_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Eq. (6): ``-E[log(1 - D(G(z)))] - E[log D(x)]`` with ``D = sigmoid(logits)``."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def ns_generator_loss(fake_logits: Tensor) -> Tensor:
    """Eq. (8), the non-saturating generator loss ``-E[log D(G(z))]``."""
    return F.softplus(-fake_logits).mean()


def wgan_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """The Wasserstein part of eq. (13): ``E[D(G(z))] - E[D(x)]`` (add :func:`gradient_penalty`)."""
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: Tensor) -> Tensor:
    """Eq. (14): ``-E[D(G(z))]``."""
    return -fake_scores.mean()


def interpolate(real: Tensor, fake: Tensor, t: Tensor) -> Tensor:
    """``t * real + (1 - t) * fake`` with ``t`` of shape ``(B,)`` broadcast over each example's shape."""
    if real.shape != fake.shape:
        raise ValueError(f"real and fake batches differ in shape: {tuple(real.shape)} vs {tuple(fake.shape)}")
    if t.shape != real.shape[:1]:
        raise ValueError(f"t must have shape ({real.shape[0]},), got {tuple(t.shape)}")
    t = t.reshape(-1, *([1] * (real.dim() - 1)))
    return t * real + (1 - t) * fake


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    generator: torch.Generator | None = None,
    t: Tensor | None = None,
    create_graph: bool = True,
) -> Tensor:
    """The penalty of eq. (12)-(13) without ``lambda``: ``E[(||grad_x_hat D(x_hat)||_2 - 1)^2]``.

    Arguments:
        critic: maps a batch to scores ``(B,)`` or ``(B, 1)``.
        real, fake: batches of the same shape ``(B, ...)``; ``fake`` is detached here.
        generator: draws ``t ~ U(0, 1)`` (one per example) when ``t`` is not given; without one, torch's
            global CPU generator (so that a seed gives the same ``t`` on every device).
        t: the interpolation weights ``(B,)`` (for tests).
        create_graph: keep the graph so that the penalty can be backpropagated (training).
    """
    real, fake = real.detach(), fake.detach()
    if t is None:
        t = rand((real.shape[0],), generator=generator or torch.default_generator)
    t = t.to(device=real.device, dtype=real.dtype)
    x_hat = interpolate(real, fake, t).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=create_graph)
    norm = grad.flatten(1).norm(dim=1)
    return ((norm - 1.0) ** 2).mean()
