"""The CNN GAN family of table 1, one code base with the growth strategy as a parameter (section 6.2).

=========  =====================================================  ============================
strategy   what grows                                             thesis
=========  =====================================================  ============================
bGAN       nothing (the final architecture from the start)        6.2.1, tables 2-3
bgGAN      the latent; only layer g1 gains input channels         6.2.2
cgGAN      the latent and every layer's channels                  6.2.3, tables 4-5
lgGAN      layers and resolution (4x4 -> final); latent fixed     6.2.4, tables 6-9 (ProGAN)
clgGAN     channels, latent and layers together                   6.2.5, tables 10-15
=========  =====================================================  ============================

A training run is a sequence of :class:`Stage` s (:func:`growth_stages`), one per growth cycle. The
architecture of a stage is a pure function of the stage and of the stage before it (which says which
channels are new and whether layers were added), so a network of any stage can be rebuilt from scratch
-- that is how a resumed run reloads a checkpoint -- or made by growing the previous stage's trained
network (:func:`grow_generator`, :func:`grow_discriminator`). All grown models end with the same
architecture (tables 2-3 at 128x128).

Growth keeps every trained weight. New channels' weights are He-initialised and multiplied at run time
by ``beta`` (0 -> 1); new layers are faded in with ``alpha`` (0 -> 1) beside the previous stage's
toRGB / fromRGB layers (figure 6); the minibatch standard deviation blends old and new channels with
``tau`` (eq. 15). **At ``alpha = beta = tau = 0`` the grown network computes exactly the function of the
network before growth** (the generator's output nearest-upsampled when the resolution doubled).

Example:
    >>> arch = CNNArch(resolution=16, widths=(32, 16, 8), latent_sizes=(8, 16, 32))
    >>> [s.widths for s in growth_stages("clgGAN", arch)]
    [(8,), (16, 8), (32, 16, 8)]
    >>> g = Generator(growth_stages("bGAN", arch)[0], channels=1)
    >>> g(torch.randn(2, 32)).shape
    torch.Size([2, 1, 16, 16])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentkit._random import randn
from latentkit.growing.layers import LRELU_SLOPE, GrowConv2d, downsample, fade, minibatch_stddev, resize_to, upsample

__all__ = [
    "Strategy",
    "STRATEGIES",
    "CNNArch",
    "Stage",
    "growth_stages",
    "Generator",
    "Discriminator",
    "grow_generator",
    "grow_discriminator",
    "real_images",
    "set_fade",
    "count_parameters",
    "gaussian_latent",
]

Strategy = Literal["bGAN", "bgGAN", "cgGAN", "lgGAN", "clgGAN"]  # the models of table 1
STRATEGIES: tuple[str, ...] = get_args(Strategy)


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, LRELU_SLOPE)


@dataclass(frozen=True)
class CNNArch:
    """The final architecture (tables 2-3) and the latent sizes the growing models pass through."""

    resolution: int = 128  # final image size (4 * 2**k)
    widths: tuple[int, ...] = (256, 128, 64, 32, 16, 8)  # channels of the blocks at 4x4, 8x8, ..., resolution
    latent_sizes: tuple[int, ...] = (8, 16, 32, 64, 128, 256)  # latent size of each growth cycle; last = max

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "latent_sizes", tuple(int(z) for z in self.latent_sizes))
        if self.resolution != 4 * 2 ** (len(self.widths) - 1):
            raise ValueError(
                f"resolution {self.resolution} needs {len(self.widths)} widths for 4x4 .. "
                f"{self.resolution}x{self.resolution}, i.e. resolution = 4 * 2**(len(widths) - 1)"
            )
        if list(self.latent_sizes) != sorted(set(self.latent_sizes)) or self.latent_sizes[0] < 1:
            raise ValueError(f"latent_sizes must increase strictly, got {self.latent_sizes}")

    @property
    def blocks(self) -> int:
        return len(self.widths)

    @property
    def max_latent(self) -> int:
        return self.latent_sizes[-1]


@dataclass(frozen=True)
class Stage:
    """One growth cycle: latent size, number of resolution blocks, their widths, real-image detail."""

    latent: int  # latent entries the generator uses (the first ones of the max-size vector)
    blocks: int  # resolution blocks: output size 4 * 2**(blocks - 1)
    widths: tuple[int, ...]  # channels per block
    detail: int  # resolution the real images are reduced to (then brought to the output size)

    @property
    def resolution(self) -> int:
        return 4 * 2 ** (self.blocks - 1)


def growth_stages(strategy: Strategy, arch: CNNArch) -> list[Stage]:
    """The stages a model of ``strategy`` passes through (one for bGAN).

    cgGAN widths are ``min(W_s, W_0 * z / z_max)`` (table 4-5: ``min(W_s, z)``), clgGAN widths
    ``W_s * z / z_max`` (tables 10-15); bgGAN / cgGAN real images keep detail ``R * z / z_max`` (figure 4).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    w, zmax, big = arch.widths, arch.max_latent, arch.resolution

    def detail(z: int) -> int:
        d = max(4, big * z // zmax)
        if big % d or d & (d - 1):
            raise ValueError(f"latent {z} of {zmax} gives real-image detail {d}, which does not divide {big}")
        return d

    def scaled(width: int, z: int) -> int:
        return max(1, width * z // zmax)

    if strategy == "bGAN":
        return [Stage(zmax, arch.blocks, w, big)]
    if strategy == "bgGAN":
        return [Stage(z, arch.blocks, w, detail(z)) for z in arch.latent_sizes]
    if strategy == "cgGAN":
        return [
            Stage(z, arch.blocks, tuple(min(ws, scaled(w[0], z)) for ws in w), detail(z)) for z in arch.latent_sizes
        ]
    if strategy == "lgGAN":
        return [Stage(zmax, k + 1, w[: k + 1], 4 * 2**k) for k in range(arch.blocks)]
    if len(arch.latent_sizes) != arch.blocks:
        raise ValueError(
            f"clgGAN grows latent and layers together: {len(arch.latent_sizes)} latent sizes "
            f"for {arch.blocks} resolution blocks"
        )
    return [
        Stage(z, k + 1, tuple(scaled(ws, z) for ws in w[: k + 1]), 4 * 2**k) for k, z in enumerate(arch.latent_sizes)
    ]


def _old(prev: Stage | None, s: int) -> int | None:
    """The width block ``s`` had in ``prev`` (``None``: the block is new or there is no growth)."""
    return prev.widths[s] if prev is not None and s < prev.blocks else None


class _FadeMixin:
    alpha: float

    def _grow_layers(self) -> bool:
        return self.prev is not None and self.prev.blocks < self.stage.blocks


class Generator(nn.Module, _FadeMixin):
    """The generator of a stage (tables 2, 4, 6, 8, 10, 12, 14).

    Block 0: the 4x4 "full padding" convolution of the latent (g1) and a 3x3 convolution (g2); every
    later block: nearest upsampling and two 3x3 convolutions; toRGB: 1x1 convolution and tanh. While new
    layers fade in (``prev`` had fewer blocks) the previous toRGB on the upsampled previous features is
    blended with weight ``1 - alpha`` (figure 6a).

    ``forward(z)`` uses the first ``stage.latent`` entries of ``z`` (``(B, >= latent)``).
    """

    def __init__(self, stage: Stage, prev: Stage | None = None, channels: int = 3) -> None:
        super().__init__()
        self.stage, self.prev, self.channels, self.alpha = stage, prev, channels, 1.0
        blocks = []
        for s in range(stage.blocks):
            w, old = stage.widths[s], _old(prev, s)
            if s == 0:
                first = GrowConv2d(stage.latent, w, 4, padding=3, old_in=prev.latent if prev else None, old_out=old)
            else:
                first = GrowConv2d(
                    stage.widths[s - 1],
                    w,
                    3,
                    padding=1,
                    old_in=_old(prev, s - 1) if old is not None else None,
                    old_out=old,
                )
            blocks.append(nn.ModuleList([first, GrowConv2d(w, w, 3, padding=1, old_in=old, old_out=old)]))
        self.blocks = nn.ModuleList(blocks)
        last = stage.widths[-1]
        if self._grow_layers():
            self.to_rgb = GrowConv2d(last, channels, 1)
            self.to_rgb_prev = GrowConv2d(
                stage.widths[prev.blocks - 1], channels, 1, old_in=prev.widths[-1], old_out=channels
            )
        else:
            self.to_rgb = GrowConv2d(last, channels, 1, old_in=prev.widths[-1] if prev else None)
            self.to_rgb_prev = None

    def forward(self, z: Tensor) -> Tensor:
        if z.dim() != 2 or z.shape[1] < self.stage.latent:
            raise ValueError(f"the generator needs latents (B, >= {self.stage.latent}), got {tuple(z.shape)}")
        h = z[:, : self.stage.latent, None, None]
        before = h
        for s, (conv_a, conv_b) in enumerate(self.blocks):
            if s > 0:
                before = h
                h = upsample(h)
            h = _lrelu(conv_b(_lrelu(conv_a(h))))
        out = torch.tanh(self.to_rgb(h))
        if self.to_rgb_prev is not None and self.alpha < 1.0:
            out = fade(upsample(torch.tanh(self.to_rgb_prev(before))), out, self.alpha)
        return out


class Discriminator(nn.Module, _FadeMixin):
    """The discriminator (critic) of a stage (tables 3, 5, 7, 9, 11, 13, 15).

    fromRGB: 1x1 convolution; every block above 4x4: two 3x3 convolutions and average pooling; the 4x4
    block: minibatch standard deviation (eq. 15), a 3x3 convolution, a 4x4 valid convolution and a
    fully connected output. While new layers fade in, the previous fromRGB on the downsampled image is
    blended with weight ``1 - alpha`` (figure 6b). Returns scores of shape ``(B,)``.
    """

    def __init__(self, stage: Stage, prev: Stage | None = None, channels: int = 3) -> None:
        super().__init__()
        self.stage, self.prev, self.channels, self.alpha, self.tau = stage, prev, channels, 1.0, 0.0
        w, n = stage.widths, stage.blocks
        if self._grow_layers():
            self.from_rgb = GrowConv2d(channels, w[-1], 1)
            self.from_rgb_prev = GrowConv2d(channels, w[prev.blocks - 1], 1, old_out=prev.widths[-1])
        else:
            self.from_rgb = GrowConv2d(channels, w[-1], 1, old_out=prev.widths[-1] if prev else None)
            self.from_rgb_prev = None
        blocks = {}
        for s in range(n - 1, 0, -1):
            old = _old(prev, s)
            blocks[str(s)] = nn.ModuleList(
                [
                    GrowConv2d(w[s], w[s], 3, padding=1, old_in=old, old_out=old),
                    GrowConv2d(
                        w[s], w[s - 1], 3, padding=1, old_in=old, old_out=_old(prev, s - 1) if old is not None else None
                    ),
                ]
            )
        self.blocks = nn.ModuleDict(blocks)
        old0 = _old(prev, 0)
        self.mbstd_old = old0 if old0 is not None else w[0]  # channels eq. (15) counts as old
        self.final = nn.ModuleList(
            [
                GrowConv2d(
                    w[0] + 1, w[0], 3, padding=1, old_in=old0 + 1 if old0 else None, old_out=old0, keep_last_in=True
                ),
                GrowConv2d(w[0], w[0], 4, padding=0, old_in=old0, old_out=old0),
                GrowConv2d(w[0], 1, 1, old_in=old0),
            ]
        )

    @property
    def tau_end(self) -> float:
        """The ``tau`` at which eq. (15) is the plain average over all channels (1/2 when they double)."""
        return 1.0 - self.mbstd_old / self.stage.widths[0]

    def forward(self, x: Tensor) -> Tensor:
        r = self.stage.resolution
        if x.dim() != 4 or x.shape[1:] != (self.channels, r, r):
            raise ValueError(f"the discriminator expects images (B, {self.channels}, {r}, {r}), got {tuple(x.shape)}")
        h = _lrelu(self.from_rgb(x))
        for s in range(self.stage.blocks - 1, 0, -1):
            conv_a, conv_b = self.blocks[str(s)]
            h = downsample(_lrelu(conv_b(_lrelu(conv_a(h)))))
            if s == self.stage.blocks - 1 and self.from_rgb_prev is not None and self.alpha < 1.0:
                h = fade(_lrelu(self.from_rgb_prev(downsample(x))), h, self.alpha)
        h = minibatch_stddev(h, self.mbstd_old, self.tau)
        conv_a, conv_b, fc = self.final
        return fc(_lrelu(conv_b(_lrelu(conv_a(h))))).flatten()


def set_fade(module: nn.Module, alpha: float, beta: float | None = None, tau: float | None = None) -> None:
    """Set the fade-in of new layers (``alpha``), new channels (``beta``, default ``alpha``) and the
    minibatch-std blend (``tau``, default ``alpha * tau_end``) on a generator or discriminator."""
    beta = alpha if beta is None else beta
    module.alpha = float(alpha)
    for m in module.modules():
        if isinstance(m, GrowConv2d):
            m.beta = float(beta)
    if isinstance(module, Discriminator):
        module.tau = float(alpha * module.tau_end if tau is None else tau)


@torch.no_grad()
def grow_generator(old: Generator, stage: Stage) -> Generator:
    """The generator of ``stage`` holding every trained weight of ``old`` (new weights He-initialised)."""
    new = Generator(stage, old.stage, old.channels).to(next(old.parameters()))
    if stage.blocks < old.stage.blocks:
        raise ValueError(f"cannot shrink a generator from {old.stage.blocks} to {stage.blocks} blocks")
    for (a_old, b_old), (a_new, b_new) in zip(old.blocks, new.blocks):
        a_new.copy_from(a_old)
        b_new.copy_from(b_old)
    (new.to_rgb_prev if new.to_rgb_prev is not None else new.to_rgb).copy_from(old.to_rgb)
    set_fade(new, 0.0)
    return new


@torch.no_grad()
def grow_discriminator(old: Discriminator, stage: Stage) -> Discriminator:
    """The discriminator of ``stage`` holding every trained weight of ``old``."""
    new = Discriminator(stage, old.stage, old.channels).to(next(old.parameters()))
    (new.from_rgb_prev if new.from_rgb_prev is not None else new.from_rgb).copy_from(old.from_rgb)
    for key, (a_old, b_old) in old.blocks.items():
        a_new, b_new = new.blocks[key]
        a_new.copy_from(a_old)
        b_new.copy_from(b_old)
    for l_old, l_new in zip(old.final, new.final):
        l_new.copy_from(l_old)
    set_fade(new, 0.0)
    return new


def real_images(x: Tensor, stage: Stage, prev: Stage | None = None, alpha: float = 1.0) -> Tensor:
    """The real images shown to the discriminator of ``stage`` (sec. 6.2.7, figures 4-5).

    Images are average-pooled to ``stage.detail`` and nearest-upsampled to the output resolution
    (bgGAN / cgGAN: down then up; lgGAN / clgGAN: only down). When the detail grew, the previous
    detail is blended in with weight ``1 - alpha``.
    """
    r = stage.resolution
    new = resize_to(resize_to(x, stage.detail), r)
    if prev is None or prev.detail == stage.detail or alpha >= 1.0:
        return new
    return fade(resize_to(resize_to(x, prev.detail), r), new, alpha)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def gaussian_latent(
    n: int, size: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
) -> Tensor:
    """``size``-d standard Gaussians normalised to unit length (sec. 7.2.3); models use the first entries.

    Drawn with ``generator`` (on its device; without one, torch's global CPU generator, so that a seed gives the
    same latents on every device) and returned on ``device``.
    """
    z = randn((n, size), generator=generator or torch.default_generator, device=device)
    return z / z.norm(dim=1, keepdim=True)
