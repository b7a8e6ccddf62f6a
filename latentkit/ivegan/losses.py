r"""The IVE-GAN objective (eq. 3) and the plain GAN's (eq. 1), as pure functions of discriminator logits.

Eq. 3, with ``D = sigmoid(pair logits)`` and ``D' = sigmoid(marginal logits)``, with the last term as sec. 3's
text describes it (D' judges samples ``G(z', z)`` of codes ``z ~ P_Z``):

.. math::
    V = \mathbb E_x\big[\log D(T(x), x) + \log D'(x) + \mathbb E_{z'} \log(1 - D(G(z', E(x)), x))\big]
        + \mathbb E_{z, z'} \log(1 - D'(G(z', z)))

The paper prints ``G(z', E(x))`` inside that last term (under an expectation over ``z`` and ``z'``); that
reading is available as an extra term, ``marginal_recon``, added beside ``D'(G(z', z))``.

The discriminators ascend ``V``: :func:`discriminator_loss` is ``-V`` (four binary cross-entropies, five with
``marginal_recon``, each a batch mean). G and E descend ``V``; by default with the usual non-saturating generator loss
(Goodfellow et al. 2014), ``-log D(G(z', E(x)), x) - log D'(G(z', z))``; ``saturating=True`` gives the
literal min-max term ``log(1 - D(...)) + log(1 - D'(...))``. The plain GAN baseline is the same with the
pair terms left out (``None``).

Example:
    >>> zero = torch.zeros(4)
    >>> round(float(discriminator_loss(zero, zero, zero, zero)), 4)  # 4 log 2
    2.7726
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["discriminator_loss", "generator_loss", "loss_terms"]


def _real(logits: Tensor) -> Tensor:
    """``-mean log sigmoid(logits)`` (the label "real")."""
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


def _fake(logits: Tensor) -> Tensor:
    """``-mean log(1 - sigmoid(logits))`` (the label "fake")."""
    return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))


def loss_terms(
    pair_real: Tensor | None,
    pair_fake: Tensor | None,
    marginal_real: Tensor,
    marginal_fake: Tensor,
    marginal_recon: Tensor | None = None,
) -> dict[str, Tensor]:
    """The terms of ``-V`` (eq. 3) by name: ``pair_real = -E log D(T(x), x)``,
    ``pair_fake = -E log(1 - D(G(z', E(x)), x))``, ``marginal_real = -E log D'(x)``,
    ``marginal_fake = -E log(1 - D'(G(z', z)))``; the pair terms are absent for the plain GAN.
    Eq. 3 as printed feeds D' with ``G(z', E(x))`` in its last term (whose expectation runs over ``z``); given
    the logits ``marginal_recon`` of ``D'(G(z', E(x)))``, that reading is added as a fifth term,
    ``marginal_recon = -E log(1 - D'(G(z', E(x))))``, beside ``marginal_fake`` (not instead of it)."""
    terms = {"marginal_real": _real(marginal_real), "marginal_fake": _fake(marginal_fake)}
    if marginal_recon is not None:
        terms["marginal_recon"] = _fake(marginal_recon)
    if (pair_real is None) != (pair_fake is None):
        raise ValueError("pair_real and pair_fake come together (IVE-GAN) or not at all (plain GAN)")
    if pair_real is not None:
        terms = {"pair_real": _real(pair_real), "pair_fake": _fake(pair_fake), **terms}
    return terms


def discriminator_loss(
    pair_real: Tensor | None,
    pair_fake: Tensor | None,
    marginal_real: Tensor,
    marginal_fake: Tensor,
    marginal_recon: Tensor | None = None,
) -> Tensor:
    """``-V`` of eq. 3 (or of eq. 1 without the pair terms): what D and D' minimise.

    Arguments:
        pair_real: logits of ``D(T(x), x)``; pair_fake: logits of ``D(G(z', E(x)), x)``;
        marginal_real: logits of ``D'(x)``; marginal_fake: logits of ``D'(G(z', z))``.
    """
    return sum(loss_terms(pair_real, pair_fake, marginal_real, marginal_fake, marginal_recon).values())


def generator_loss(
    pair_fake: Tensor | None, marginal_fake: Tensor, saturating: bool = False, marginal_recon: Tensor | None = None
) -> Tensor:
    """What G and E minimise, from the logits of ``D(G(z', E(x)), x)`` (``None`` for the plain GAN) and of
    ``D'(G(z', z))``: ``-log D(..) - log D'(..)`` (non-saturating), or, with ``saturating=True``, eq. 3's
    ``log(1 - D(..)) + log(1 - D'(..))``; plus the same term for ``D'(G(z', E(x)))`` when its logits
    ``marginal_recon`` are given (eq. 3's last term as printed)."""
    parts = [t for t in (pair_fake, marginal_fake, marginal_recon) if t is not None]
    if saturating:
        return sum(-_fake(t) for t in parts)
    return sum(_real(t) for t in parts)
