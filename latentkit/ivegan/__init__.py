"""IVE-GAN: invariant encoding generative adversarial networks (chapter 4).

An encoder ``E`` and a generator ``G(z', E(x))`` are trained against a *pair* discriminator that sees
``(T(x), x)`` as real and ``(G(z', E(x)), x)`` as fake, for transformations ``T`` it must ignore, plus a
classical discriminator ``D'`` on samples from random codes (eq. 3).

* :mod:`latentkit.ivegan.models` -- the networks of appendix B (``mlp_ivegan``, ``conv_ivegan``).
* :mod:`latentkit.ivegan.transforms` -- the invariance transformations T (eq. 4, sec. 4.2, 4.3).
* :mod:`latentkit.ivegan.losses` -- eq. 3 as functions of logits.
* :mod:`latentkit.ivegan.train` -- :class:`IVEGANConfig`, :func:`fit`, the plain GAN baseline.
* :mod:`latentkit.ivegan.evaluate` -- samples, codes, reconstructions, mode coverage and its control.
"""

from latentkit.ivegan.evaluate import (
    encode,
    generate,
    interpolate,
    mode_coverage,
    pca_codes,
    reconstruct,
    spread_control,
)
from latentkit.ivegan.losses import discriminator_loss, generator_loss, loss_terms
from latentkit.ivegan.models import Discriminator, Encoder, Generator, conv_ivegan, mlp_ivegan
from latentkit.ivegan.train import IVEGAN, IVEGANConfig, build, chapter_runs, fit, make_step, make_transform
from latentkit.ivegan.transforms import (
    ColorJitter,
    Compose,
    GaussianShift,
    RandomAffine,
    RandomHorizontalFlip,
    celeba_transform,
    mixture_shift,
    mnist_transform,
)

__all__ = [
    "IVEGAN",
    "IVEGANConfig",
    "build",
    "chapter_runs",
    "fit",
    "make_step",
    "make_transform",
    "Discriminator",
    "Encoder",
    "Generator",
    "conv_ivegan",
    "mlp_ivegan",
    "discriminator_loss",
    "generator_loss",
    "loss_terms",
    "ColorJitter",
    "Compose",
    "GaussianShift",
    "RandomAffine",
    "RandomHorizontalFlip",
    "celeba_transform",
    "mixture_shift",
    "mnist_transform",
    "encode",
    "generate",
    "interpolate",
    "mode_coverage",
    "pca_codes",
    "reconstruct",
    "spread_control",
]
