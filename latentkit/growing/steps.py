"""One training step of a growing GAN on the engine: the optimizers, the two objectives, the update schedule.

A step takes one minibatch of real examples and interleaves ``d_updates`` discriminator (critic) updates with
``g_updates`` generator updates (sec. 7.1: ten of each for the Swiss roll; sec. 7.2.3: one of each). The
discriminator minimises eq. (6) (``loss="ns"``) or eq. (13) with the gradient penalty weighted by
``gp_weight`` (``loss="wgan-gp"``); the generator minimises eq. (8) or eq. (14). Fresh latents are drawn for
every update. The MLP and the CNN configs share these fields, so one step serves both loops of
:mod:`latentkit.growing.train`.

Example:
    >>> import torch
    >>> cfg = MLPGANConfig(loss="wgan-gp", optimizer="adam")
    >>> d = torch.nn.Linear(2, 1)
    >>> real, fake = torch.randn(8, 2), torch.randn(8, 2)
    >>> loss, gp = discriminator_loss(cfg, lambda x: d(x).flatten(), real, fake)
    >>> loss.shape, gp.requires_grad, type(make_optimizer(cfg, d.parameters())).__name__
    (torch.Size([]), False, 'Adam')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from latentkit import engine
from latentkit.growing.configs import CNNGANConfig, MLPGANConfig
from latentkit.growing.losses import (
    gradient_penalty,
    ns_discriminator_loss,
    ns_generator_loss,
    wgan_critic_loss,
    wgan_generator_loss,
)

__all__ = ["make_optimizer", "discriminator_loss", "generator_loss", "gan_step"]

GANConfig = MLPGANConfig | CNNGANConfig


def make_optimizer(cfg: GANConfig, params: Any) -> torch.optim.Optimizer:
    """The optimizer ``cfg.optimizer`` names: Adam (``lr``, ``betas``, ``eps``) or RMSprop (``lr``)."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=getattr(cfg, "eps", 1e-8))
    return torch.optim.RMSprop(params, lr=cfg.lr)


def discriminator_loss(
    cfg: GANConfig, d: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor
) -> tuple[Tensor, Tensor]:
    """The discriminator's objective, eq. (6) or eq. (13), and the gradient penalty (detached; 0 for ``ns``)."""
    real_out, fake_out = d(real), d(fake)
    if cfg.loss == "ns":
        return ns_discriminator_loss(real_out, fake_out), torch.zeros((), device=real.device)
    gp = gradient_penalty(d, real, fake)
    return wgan_critic_loss(real_out, fake_out) + cfg.gp_weight * gp, gp.detach()


def generator_loss(cfg: GANConfig, fake_out: Tensor) -> Tensor:
    """The generator's objective on the discriminator's outputs for fakes, eq. (8) or eq. (14)."""
    return ns_generator_loss(fake_out) if cfg.loss == "ns" else wgan_generator_loss(fake_out)


def gan_step(cfg: GANConfig, tr: engine.Trainer, real: Tensor, latent: Callable[[int], Tensor]) -> dict[str, Tensor]:
    """``d_updates`` critic and ``g_updates`` generator updates on one minibatch (interleaved) of trainer ``tr``
    (modules ``"G"`` and ``"D"``); ``latent(b)`` draws ``b`` latents. Returns the last losses and penalty."""
    g, d = tr.module("G"), tr.module("D")
    b = real.shape[0]
    loss_d = loss_g = gp = torch.zeros(())
    for i in range(max(cfg.d_updates, cfg.g_updates)):
        if i < cfg.d_updates:
            with torch.no_grad():
                fake = g(latent(b))
            with tr.autocast():
                loss_d, gp = discriminator_loss(cfg, d, real, fake)
            tr.backward_step(loss_d, "D")
        if i < cfg.g_updates:
            with tr.autocast():
                loss_g = generator_loss(cfg, d(g(latent(b))))
            tr.backward_step(loss_g, "G")
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "gp": gp}
