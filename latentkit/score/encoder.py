"""Encoders ``E_phi(x_0)`` for score-based representation learning (Abstreiter et al., section 2.2, eq. 8).

Eq. 8 trains an encoder jointly with a conditional score model:

    J(theta, phi) = E_{t, x_0, x_t} [ lambda(t) || s_theta(x_t, t, E_phi(x_0)) - grad log p_0t(x_t | x_0) ||^2 ].

Without a code the loss cannot fall below the constant ``C`` of eq. 6 (chapter 1); a code that carries
information about ``x_0`` lets it fall below. The architecture is the one of appendix A.1: the encoder is
the score U-Net's downsampling path followed by three dense layers to ``d_z``; four dense layers map the
code back up inside the score model (``cond_layers=4`` of :class:`~latentkit.score.models.ScoreUNet`),
where it is added to the time embedding and so reaches every residual block as a per-channel bias.

Two encoder kinds, each with the paper's regulariser (appendix A.1, "Regularization of the latent space"):

* deterministic, ``z = E_phi(x_0)``, with an L1 penalty ``w * E ||z||_1`` (``w = 1e-5``);
* probabilistic, ``q_phi(z | x_0) = N(mu, diag(exp(logvar)))`` sampled by reparameterisation, with a KL
  penalty ``w * E KL(q_phi(z | x_0) || N(0, I))`` (``w = 1e-7``). As in the authors' code, the log-variance
  is the head's output shifted by ``logvar_offset = -5`` (:data:`LOGVAR_OFFSET`), so that an encoder at
  initialisation draws codes with a standard deviation of about ``exp(-2.5) = 0.08`` rather than 1. (The
  means of an untrained encoder spread less than that across images, so its codes still start mostly noise;
  chapter 2 measures both.)

:class:`CodeConditionedScore` holds the score model and the encoder as one module, so that one
optimizer, one EMA and one ``DistributedDataParallel`` wrapper serve both; :func:`representation_loss`
is eq. 8 plus the penalty, and with ``cond`` labels instead of an encoder the same loss is eq. 7.

Example:
    >>> from latentkit.score import VESDE, ScoreUNet
    >>> enc = ImageEncoder(1, 8, channels=(8, 16), num_res_blocks=1, latent_dim=2)
    >>> model = CodeConditionedScore(ScoreUNet(1, 8, channels=(8, 16), num_res_blocks=1, cond_dim=2, cond_layers=4), enc)
    >>> out = representation_loss(model, torch.rand(4, 1, 8, 8), VESDE(), reg_weight=1e-5,
    ...                           generator=torch.Generator().manual_seed(0))
    >>> out.code.shape, out.loss.shape
    (torch.Size([4, 2]), torch.Size([]))
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Literal, NamedTuple, get_args

import torch
from torch import Tensor, nn

from latentkit import _checks
from latentkit._random import randn
from latentkit.score.losses import TSampler, Weighting, check_batch, perturb
from latentkit.score.models import ResBlock
from latentkit.score.sde import SDE

__all__ = [
    "ENCODER_KINDS",
    "LOGVAR_OFFSET",
    "PAPER_REG_WEIGHTS",
    "EncoderOutput",
    "ImageEncoder",
    "MLPEncoder",
    "l1_penalty",
    "kl_penalty",
    "code_penalty",
    "CodeConditionedScore",
    "RepresentationLoss",
    "representation_loss",
]

EncoderKind = Literal["deterministic", "probabilistic"]  # L1-penalised code, or KL-penalised Gaussian code
ENCODER_KINDS = get_args(EncoderKind)
#: Regularisation weights of appendix A.1, by encoder kind.
PAPER_REG_WEIGHTS = {"deterministic": 1e-5, "probabilistic": 1e-7}
#: Shift of the probabilistic encoder's log-variance (authors' code, score_sde/models/mnistsmall.py:
#: ``z_logvar = z0x0[:, latent_dim:] - 5.``). A constant shift of the output is the same as starting the last
#: layer's log-variance biases 5 lower: it changes the encoder at initialisation, not what it can learn.
LOGVAR_OFFSET = -5.0


class EncoderOutput(NamedTuple):
    """What an encoder returns for a batch ``x_0``."""

    z: Tensor  #: the code given to the score model: a reparameterised draw in training, else the mean
    mean: Tensor  #: the deterministic code, or the mean of q_phi(z | x_0)
    logvar: Tensor | None  #: log-variance of q_phi(z | x_0) (None for a deterministic encoder)


class _Encoder(nn.Module):
    """The shared head: three dense layers from features to ``d_z`` (or ``2 d_z`` for mean and log-variance)."""

    def __init__(
        self, features: int, latent_dim: int, hidden: int, kind: str, logvar_offset: float = LOGVAR_OFFSET
    ) -> None:
        super().__init__()
        if kind not in ENCODER_KINDS:
            raise ValueError(f"unknown encoder kind {kind!r}; valid: {', '.join(ENCODER_KINDS)}")
        where = type(self).__name__
        _checks.integer(where, "latent_dim", latent_dim, low=1)
        _checks.integer(where, "hidden", hidden, low=1)
        _checks.real(where, "logvar_offset", logvar_offset)
        self.latent_dim, self.kind, self.logvar_offset = int(latent_dim), kind, float(logvar_offset)
        out = 2 * latent_dim if kind == "probabilistic" else latent_dim
        self.head = nn.Sequential(
            nn.Linear(features, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, out)
        )

    @property
    def probabilistic(self) -> bool:
        return self.kind == "probabilistic"

    def features(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(
        self, x: Tensor, *, sample: bool | None = None, generator: torch.Generator | None = None
    ) -> EncoderOutput:
        """The code of ``x``; a probabilistic encoder draws ``z ~ q_phi(z | x)`` when ``sample`` (default:
        in training mode) and returns the mean otherwise."""
        h = self.head(self.features(x))
        if not self.probabilistic:
            return EncoderOutput(h, h, None)
        mean, logvar = h.chunk(2, dim=1)
        logvar = logvar + self.logvar_offset
        if sample if sample is not None else self.training:
            eps = randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            return EncoderOutput(mean + (0.5 * logvar).exp() * eps, mean, logvar)
        return EncoderOutput(mean, mean, logvar)

    def encode(self, x: Tensor) -> Tensor:
        """The deterministic code (the mean of ``q_phi`` for a probabilistic encoder)."""
        return self.forward(x, sample=False).mean


class ImageEncoder(_Encoder):
    """``E_phi`` for ``(B, C, H, W)`` images: the U-Net's downsampling path, flattened, then three dense layers
    (appendix A.1). With the score model's ``channels`` and ``num_res_blocks`` it mirrors its encoder half.

    Arguments:
        in_channels, image_size: the images.
        channels: channels per resolution (each level after the first halves the size).
        num_res_blocks: residual blocks per resolution.
        latent_dim: ``d_z``.
        hidden: width of the dense layers.
        kind: ``"deterministic"`` or ``"probabilistic"``.
        logvar_offset: shift of a probabilistic encoder's log-variance (:data:`LOGVAR_OFFSET`).
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        channels: Sequence[int] = (32, 64),
        num_res_blocks: int = 2,
        latent_dim: int = 2,
        hidden: int = 256,
        kind: str = "deterministic",
        logvar_offset: float = LOGVAR_OFFSET,
    ) -> None:
        _checks.integer("ImageEncoder", "in_channels", in_channels, low=1)
        _checks.integer("ImageEncoder", "image_size", image_size, low=1)
        _checks.integer("ImageEncoder", "num_res_blocks", num_res_blocks, low=0)
        if len(channels) == 0 or not all(isinstance(c, numbers.Integral) and c >= 1 for c in channels):
            raise _checks.error("ImageEncoder", "channels", "a non-empty sequence of ints >= 1", repr(channels))
        channels = tuple(int(c) for c in channels)
        factor = 2 ** (len(channels) - 1)
        if image_size % factor:
            raise ValueError(f"image_size {image_size} is not divisible by 2**(len(channels)-1) = {factor}")
        side = image_size // factor
        super().__init__(channels[-1] * side * side, latent_dim, hidden, kind, logvar_offset)
        self.in_channels, self.image_size = in_channels, image_size
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels[0], 3, padding=1)]
        ch = channels[0]
        for i, c in enumerate(channels):
            for _ in range(num_res_blocks):
                layers.append(ResBlock(ch, c, emb_dim=0))
                ch = c
            if i < len(channels) - 1:
                layers.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
        layers += [nn.GroupNorm(min(ch // 4, 32) or 1, ch), nn.SiLU()]
        self.down = nn.Sequential(*layers)

    def features(self, x: Tensor) -> Tensor:
        shape = (self.in_channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != shape:
            raise ValueError(
                f"ImageEncoder expects images of shape (B, {', '.join(map(str, shape))}), got {tuple(x.shape)}"
            )
        return self.down(x).flatten(1)


class MLPEncoder(_Encoder):
    """``E_phi`` for ``(B, D)`` points: ``depth`` SiLU layers, then the three dense layers of the head."""

    def __init__(
        self,
        dim: int,
        latent_dim: int = 1,
        hidden: int = 128,
        depth: int = 2,
        kind: str = "deterministic",
        logvar_offset: float = LOGVAR_OFFSET,
    ) -> None:
        _checks.integer("MLPEncoder", "dim", dim, low=1)
        _checks.integer("MLPEncoder", "depth", depth, low=0)
        super().__init__(hidden, latent_dim, hidden, kind, logvar_offset)
        self.dim = dim
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(dim if i == 0 else hidden, hidden), nn.SiLU()]
        self.body = nn.Sequential(*layers) if layers else nn.Linear(dim, hidden)

    def features(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"MLPEncoder(dim={self.dim}) expects x of shape (B, {self.dim}), got {tuple(x.shape)}")
        return self.body(x)


# ------------------------------------------------------------------------------------- regularisers
def l1_penalty(z: Tensor) -> Tensor:
    """``E ||z||_1``: the L1 penalty of the deterministic encoder (batch mean of the per-code sum); ``z`` is a
    batch of codes ``(B >= 1, d_z)``."""
    _checks.batch("l1_penalty", "z", z)
    return z.abs().flatten(1).sum(1).mean()


def kl_penalty(mean: Tensor, logvar: Tensor) -> Tensor:
    """``E KL(N(mean, exp(logvar)) || N(0, I)) = E 1/2 sum(mean^2 + exp(logvar) - 1 - logvar)``; ``mean`` a
    batch ``(B >= 1, d_z)``, ``logvar`` of the same shape."""
    _checks.batch("kl_penalty", "mean", mean)
    _checks.same_shape("kl_penalty", "logvar", logvar, "mean", mean)
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(1).mean()


def code_penalty(out: EncoderOutput) -> Tensor:
    """The encoder's own regulariser: KL for a probabilistic encoder, L1 of the code otherwise."""
    return l1_penalty(out.z) if out.logvar is None else kl_penalty(out.mean, out.logvar)


# ------------------------------------------------------------------------------------- eq. 8
class CodeConditionedScore(nn.Module):
    """``s_theta(x_t, t, E_phi(x_0))``: a conditional score model (``cond_dim = d_z``) and its encoder.

    ``model(x_t, std, x0=x0)`` encodes ``x0`` and returns ``(score, EncoderOutput)``; ``model(x_t, std,
    code=z)`` uses a given code (grid samples, swapped codes) and returns ``(score, None)``.
    """

    def __init__(self, score: nn.Module, encoder: _Encoder) -> None:
        super().__init__()
        cond_dim = getattr(score, "cond_dim", None)
        if cond_dim != encoder.latent_dim:
            raise ValueError(
                f"the score model's cond_dim ({cond_dim}) must equal the encoder's latent_dim ({encoder.latent_dim})"
            )
        self.score, self.encoder = score, encoder

    @property
    def latent_dim(self) -> int:
        return self.encoder.latent_dim

    def forward(
        self,
        xt: Tensor,
        std: Tensor,
        x0: Tensor | None = None,
        code: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, EncoderOutput | None]:
        if (x0 is None) == (code is None):
            raise ValueError("pass exactly one of x0 (to encode) and code")
        enc = None
        if x0 is not None:
            enc = self.encoder(x0, generator=generator)
            code = enc.z
        return self.score(xt, std, code), enc

    def freeze_encoder(self) -> None:
        """Stop training the encoder (section 3.2.1: the second phase trains only the score model)."""
        self.encoder.requires_grad_(False)
        self.encoder.eval()

    def train(self, mode: bool = True) -> CodeConditionedScore:
        super().train(mode)
        if not any(p.requires_grad for p in self.encoder.parameters()):
            self.encoder.eval()  # a frozen encoder stays deterministic
        return self


class RepresentationLoss(NamedTuple):
    """Eq. 8 (or eq. 7) on one batch, with the code penalty."""

    loss: Tensor  #: dsm + reg_weight * penalty (what is minimised)
    dsm: Tensor  #: the weighted DSM term, batch mean (per sample with reduction="none")
    penalty: Tensor  #: the code penalty before weighting (0 without an encoder)
    code: Tensor  #: the codes the score model saw, (B, d_z)
    t: Tensor  #: the times drawn


def representation_loss(
    model: CodeConditionedScore,
    x0: Tensor,
    sde: SDE,
    *,
    reg_weight: float = 0.0,
    t_sampler: TSampler | str = "uniform_t",
    weighting: Weighting | str = "kernel_variance",
    generator: torch.Generator | None = None,
    t: Tensor | float | None = None,
    noise: Tensor | None = None,
    reduction: str = "mean",
) -> RepresentationLoss:
    """Eq. 8: ``lambda(t) ||s_theta(x_t, t, E_phi(x_0)) - grad log p_0t(x_t | x_0)||^2`` plus
    ``reg_weight`` times the encoder's penalty (:func:`code_penalty`). The randomness (``t``, the kernel's
    noise, then the encoder's reparameterisation noise) comes from ``generator`` in that order.

    Checked: ``reg_weight >= 0``, ``reduction`` in ``"mean"``, ``"none"``, the shapes of ``x0``, ``t`` and
    ``noise`` (:func:`~latentkit.score.losses.check_batch`) and the score's shape (that of ``x0``).
    """
    _checks.one_of("representation_loss", "reduction", reduction, ("mean", "none"))
    _checks.real("representation_loss", "reg_weight", reg_weight, low=0.0)
    check_batch("representation_loss", x0, sde, t=t, noise=noise)
    p = perturb(x0, sde, t_sampler=t_sampler, weighting=weighting, generator=generator, t=t, noise=noise)
    score, enc = model(p.xt, sde.marginal_std(p.t), x0=x0, generator=generator)
    assert enc is not None
    _checks.same_shape("representation_loss", "model's score", score, "x0", x0)
    per_sample = p.weight * (score - p.target).pow(2).flatten(1).sum(1)
    penalty = code_penalty(enc)
    if reduction == "none":
        dsm = per_sample
        loss = per_sample + reg_weight * penalty
    elif reduction == "mean":
        dsm = per_sample.mean()
        loss = dsm + reg_weight * penalty
    else:
        raise ValueError(f"unknown reduction {reduction!r}; valid: 'mean', 'none'")
    return RepresentationLoss(loss, dsm, penalty, enc.z, p.t)
