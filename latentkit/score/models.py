"""Score models ``s_theta(x, t[, cond])``: an MLP for low-dimensional data and a DDPM++-style U-Net.

Both take ``(x, std, cond=None)`` where ``std`` is the standard deviation of the perturbation kernel at
``t`` (a one-to-one function of ``t``; :func:`latentkit.score.losses.model_score` maps ``t`` to it) and
``cond`` an optional vector (a one-hot label, an encoder's code ``E_phi(x_0)``) that is embedded by a
small MLP and added to the noise-level embedding, so it reaches every layer as a per-channel bias
exactly as the time does (paper appendix A.1).

The network ``F`` is wrapped in an output parameterisation; for VE models this matters, because the
score at large ``std`` is close to ``-x / std^2`` for inputs of size ``std``:

* ``"edm"`` (default; Karras et al. 2022): the denoiser ``D(x) = c_skip x + c_out F(c_in x)`` with
  ``c_in = 1 / sqrt(std^2 + sigma_data^2)``, ``c_skip = sigma_data^2 / (std^2 + sigma_data^2)``,
  ``c_out = std sigma_data / sqrt(std^2 + sigma_data^2)``, and the score ``(D(x) - x) / std^2``;
* ``"sigma"`` (Song et al. 2021's VE models): ``score = F(x) / std``;
* ``"none"``: ``score = F(x)`` -- the prototype that never learnt the near-identity map at large t.

The noise level enters through Gaussian Fourier features of ``log std`` (Song et al. 2021).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Literal, get_args

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from latentkit import _checks
from latentkit.score.sde import SDE, ScoreFn, broadcast

__all__ = ["PARAMETERIZATIONS", "GaussianFourierProjection", "ResBlock", "ScoreMLP", "ScoreUNet", "as_score_fn"]

Parameterization = Literal["edm", "sigma", "none"]  # output parameterisations by name
PARAMETERIZATIONS = get_args(Parameterization)


class GaussianFourierProjection(nn.Module):
    """Random Fourier features ``[sin(2 pi W c), cos(2 pi W c)]`` of a scalar ``c`` (Tancik et al. 2020),
    ``W ~ N(0, scale^2)`` fixed: the time embedding of Song et al. (2021). ``dim`` an even int ``>= 2``,
    ``scale > 0``; ``c`` of shape ``(B,)``."""

    def __init__(self, dim: int, scale: float = 16.0) -> None:
        super().__init__()
        if _checks.integer("GaussianFourierProjection", "dim", dim, low=2) % 2:
            raise _checks.error("GaussianFourierProjection", "dim", "an even int >= 2 (the embedding size)", repr(dim))
        _checks.real("GaussianFourierProjection", "scale", scale, low=0.0, low_open=True)
        self.register_buffer("W", torch.randn(dim // 2, generator=torch.Generator().manual_seed(0)) * scale)

    def forward(self, c: Tensor) -> Tensor:
        if c.dim() != 1:
            raise _checks.error("GaussianFourierProjection", "c", "of shape (B,)", f"shape {tuple(c.shape)}")
        proj = c[:, None] * self.W[None, :] * (2 * math.pi)
        return torch.cat([proj.sin(), proj.cos()], dim=-1)


class _Conditioned(nn.Module):
    """The shared part of both models: noise-level and condition embeddings, output parameterisation."""

    def __init__(
        self,
        emb_dim: int,
        cond_dim: int,
        cond_layers: int,
        parameterization: str,
        sigma_data: float,
        fourier_scale: float,
    ) -> None:
        super().__init__()
        if parameterization not in PARAMETERIZATIONS:
            raise ValueError(f"unknown parameterization {parameterization!r}; valid: {', '.join(PARAMETERIZATIONS)}")
        where = type(self).__name__
        if _checks.integer(where, "emb_dim", emb_dim, low=2) % 2:
            raise _checks.error(where, "emb_dim", "an even int >= 2", repr(emb_dim))
        _checks.integer(where, "cond_dim", cond_dim, low=0)
        _checks.integer(where, "cond_layers", cond_layers, low=1)
        _checks.real(where, "sigma_data", sigma_data, low=0.0, low_open=True)
        _checks.real(where, "fourier_scale", fourier_scale, low=0.0, low_open=True)
        self.parameterization = parameterization
        self.sigma_data = float(sigma_data)
        self.cond_dim = int(cond_dim)
        self.time_embed = nn.Sequential(
            GaussianFourierProjection(emb_dim, fourier_scale),
            nn.Linear(emb_dim, emb_dim),
            nn.SiLU(),
            nn.Linear(emb_dim, emb_dim),
        )
        if cond_dim:
            layers: list[nn.Module] = [nn.Linear(cond_dim, emb_dim)]
            for _ in range(cond_layers - 1):
                layers += [nn.SiLU(), nn.Linear(emb_dim, emb_dim)]
            self.cond_embed: nn.Module | None = nn.Sequential(*layers)
        else:
            self.cond_embed = None

    @staticmethod
    def check_std(std: Tensor, batch: int) -> Tensor:
        """``std`` as a ``(batch,)`` tensor (a scalar is broadcast)."""
        std = torch.as_tensor(std)
        if std.dim() == 0:
            std = std.expand(batch)
        if std.shape != (batch,):
            raise ValueError(f"std must be a scalar or of shape ({batch},), got {tuple(std.shape)}")
        return std

    def embed(self, std: Tensor, cond: Tensor | None, batch: int) -> Tensor:
        emb = self.time_embed(std.log())
        if cond is None:
            if self.cond_embed is not None:
                raise ValueError(
                    f"this model is conditional (cond_dim={self.cond_dim}); pass cond of shape ({batch}, {self.cond_dim})"
                )
            return emb
        if self.cond_embed is None:
            raise ValueError("this model is unconditional (cond_dim=0) but cond was given")
        cond = cond.reshape(cond.shape[0], -1).to(emb.dtype)
        if cond.shape != (batch, self.cond_dim):
            raise ValueError(f"cond must have shape ({batch}, {self.cond_dim}), got {tuple(cond.shape)}")
        return emb + self.cond_embed(cond)

    def c_in(self, std: Tensor) -> Tensor:
        if self.parameterization == "edm":
            return (std**2 + self.sigma_data**2).rsqrt()
        return torch.ones_like(std)

    def output(self, x: Tensor, std: Tensor, out: Tensor) -> Tensor:
        """The score from the network output ``F``, without cancellation at small ``std``."""
        if self.parameterization == "edm":
            v = std**2 + self.sigma_data**2
            # (c_skip - 1) x / std^2 + c_out F / std^2
            return -x / broadcast(v, x) + broadcast(self.sigma_data / (std * v.sqrt()), x) * out
        if self.parameterization == "sigma":
            return out / broadcast(std, x)
        return out


class ScoreMLP(_Conditioned):
    """An MLP score model for ``(B, dim)`` data.

    ``forward(x, std, cond=None)`` needs ``std > 0`` (its log is embedded); only shapes are checked there.

    Arguments:
        dim: data dimension (``>= 1``).
        hidden: width of the hidden layers (``>= 1``).
        depth: number of hidden layers (``>= 0``); each gets the embedding as a bias.
        emb_dim: size of the noise-level (and condition) embedding (even, ``>= 2``).
        cond_dim: size of the conditioning vector (0: unconditional).
        cond_layers: dense layers mapping ``cond`` to the embedding.
        parameterization: ``"edm"``, ``"sigma"`` or ``"none"`` (module docstring).
        sigma_data: the data's standard deviation (per coordinate), for ``"edm"``.
        fourier_scale: scale of the Fourier features of ``log std``.

    Example:
        >>> model = ScoreMLP(dim=2)
        >>> model(torch.zeros(5, 2), torch.full((5,), 0.1)).shape
        torch.Size([5, 2])
    """

    def __init__(
        self,
        dim: int,
        hidden: int = 128,
        depth: int = 3,
        emb_dim: int = 64,
        cond_dim: int = 0,
        cond_layers: int = 2,
        parameterization: str = "edm",
        sigma_data: float = 1.0,
        fourier_scale: float = 4.0,
    ) -> None:
        _checks.integer("ScoreMLP", "dim", dim, low=1)
        _checks.integer("ScoreMLP", "hidden", hidden, low=1)
        _checks.integer("ScoreMLP", "depth", depth, low=0)
        super().__init__(emb_dim, cond_dim, cond_layers, parameterization, sigma_data, fourier_scale)
        self.dim = dim
        self.inp = nn.Linear(dim, hidden)
        self.layers = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth))
        self.emb_proj = nn.Linear(emb_dim, hidden * (depth + 1))
        self.out = nn.Linear(hidden, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, std: Tensor, cond: Tensor | None = None) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"ScoreMLP(dim={self.dim}) expects x of shape (B, {self.dim}), got {tuple(x.shape)}")
        std = self.check_std(std, x.shape[0])
        emb = self.embed(std, cond, x.shape[0])
        biases = self.emb_proj(F.silu(emb)).chunk(len(self.layers) + 1, dim=1)
        h = F.silu(self.inp(x * self.c_in(std)[:, None]) + biases[0])
        for layer, bias in zip(self.layers, biases[1:]):
            h = F.silu(layer(h) + bias)
        return self.output(x, std, self.out(h))


def _groups(channels: int) -> int:
    return min(channels // 4, 32) or 1


class ResBlock(nn.Module):
    """GroupNorm, SiLU, 3x3 conv, plus the embedding as a per-channel bias, then again; a (1x1) skip,
    and the sum scaled by ``1 / sqrt(2)`` (DDPM++, Song et al. 2021). ``emb_dim=0``: no embedding
    (the encoder's downsampling path, which sees only ``x_0``)."""

    def __init__(self, cin: int, cout: int, emb_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        _checks.integer("ResBlock", "cin", cin, low=1)
        _checks.integer("ResBlock", "cout", cout, low=1)
        _checks.integer("ResBlock", "emb_dim", emb_dim, low=0)
        _checks.real("ResBlock", "dropout", dropout, low=0.0, high=1.0, high_open=True)
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout) if emb_dim else None
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.emb is not None:
            if emb is None:
                raise ValueError("this residual block takes an embedding; pass emb")
            h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (self.skip(x) + h) * (1 / math.sqrt(2))


class ScoreUNet(_Conditioned):
    """A small DDPM++-style U-Net score model for ``(B, C, H, W)`` images.

    One resolution per entry of ``channels`` (each level halves the size), ``num_res_blocks`` residual
    blocks per level on the way down and ``num_res_blocks + 1`` on the way up (with skip connections),
    two in the middle; GroupNorm, SiLU, and the noise-level (plus condition) embedding injected as a
    per-channel bias in every block. The paper's sizes (appendix A.1): MNIST ``channels=(32, 64)``,
    CIFAR-10 ``channels=(32, 32, 32)``, both with ``num_res_blocks=2``.

    Arguments:
        in_channels: image channels (``>= 1``).
        image_size: height = width; must be divisible by ``2 ** (len(channels) - 1)``.
        channels: channels per resolution (at least one, each ``>= 1``).
        num_res_blocks: residual blocks per resolution (``>= 0``).
        emb_dim: embedding size (default ``4 * channels[0]``; even).
        cond_dim, cond_layers, parameterization, sigma_data, fourier_scale: as for :class:`ScoreMLP`.
        dropout: dropout inside the residual blocks, in ``[0, 1)``.

    Example:
        >>> net = ScoreUNet(in_channels=1, image_size=8, channels=(16, 32), num_res_blocks=1)
        >>> net(torch.zeros(2, 1, 8, 8), torch.tensor([0.1, 1.0])).shape
        torch.Size([2, 1, 8, 8])
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        channels: Sequence[int] = (32, 64),
        num_res_blocks: int = 2,
        emb_dim: int | None = None,
        cond_dim: int = 0,
        cond_layers: int = 2,
        dropout: float = 0.0,
        parameterization: str = "edm",
        sigma_data: float = 0.5,
        fourier_scale: float = 16.0,
    ) -> None:
        _checks.integer("ScoreUNet", "in_channels", in_channels, low=1)
        _checks.integer("ScoreUNet", "image_size", image_size, low=1)
        _checks.integer("ScoreUNet", "num_res_blocks", num_res_blocks, low=0)
        _checks.real("ScoreUNet", "dropout", dropout, low=0.0, high=1.0, high_open=True)
        if len(channels) == 0 or not all(isinstance(c, numbers.Integral) and c >= 1 for c in channels):
            raise _checks.error("ScoreUNet", "channels", "a non-empty sequence of ints >= 1", repr(channels))
        channels = tuple(int(c) for c in channels)
        emb_dim = int(emb_dim or 4 * channels[0])
        super().__init__(emb_dim, cond_dim, cond_layers, parameterization, sigma_data, fourier_scale)
        factor = 2 ** (len(channels) - 1)
        if image_size % factor:
            raise ValueError(
                f"image_size {image_size} is not divisible by 2**(len(channels)-1) = {factor} for channels={channels}"
            )
        self.in_channels, self.image_size, self.channels = in_channels, image_size, channels
        self.conv_in = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        self.down = nn.ModuleList()
        skip_ch, ch = [channels[0]], channels[0]
        for i, c in enumerate(channels):
            for _ in range(num_res_blocks):
                self.down.append(ResBlock(ch, c, emb_dim, dropout))
                ch = c
                skip_ch.append(ch)
            if i < len(channels) - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skip_ch.append(ch)
        self.mid = nn.ModuleList([ResBlock(ch, ch, emb_dim, dropout), ResBlock(ch, ch, emb_dim, dropout)])
        self.up = nn.ModuleList()
        for i, c in reversed(list(enumerate(channels))):
            for _ in range(num_res_blocks + 1):
                self.up.append(ResBlock(ch + skip_ch.pop(), c, emb_dim, dropout))
                ch = c
            if i > 0:
                self.up.append(
                    nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, ch, 3, padding=1))
                )
        self.norm_out = nn.GroupNorm(_groups(ch), ch)
        self.conv_out = nn.Conv2d(ch, in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: Tensor, std: Tensor, cond: Tensor | None = None) -> Tensor:
        shape = (self.in_channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != shape:
            raise ValueError(
                f"ScoreUNet expects images of shape (B, {', '.join(map(str, shape))}), got {tuple(x.shape)}"
            )
        std = self.check_std(std, x.shape[0])
        emb = F.silu(self.embed(std, cond, x.shape[0]))
        h = self.conv_in(x * broadcast(self.c_in(std), x))
        hs = [h]
        for block in self.down:
            h = block(h, emb) if isinstance(block, ResBlock) else block(h)
            hs.append(h)
        for block in self.mid:
            h = block(h, emb)
        for block in self.up:
            h = block(torch.cat([h, hs.pop()], dim=1), emb) if isinstance(block, ResBlock) else block(h)
        return self.output(x, std, self.conv_out(F.silu(self.norm_out(h))))


def as_score_fn(model: nn.Module, sde: SDE, cond: Tensor | None = None) -> ScoreFn:
    """The score function ``s(x, t) = model(x, std(t)[, cond])`` of a score model, for samplers."""

    def score(x: Tensor, t: Tensor) -> Tensor:
        std = sde.marginal_std(t)
        return model(x, std) if cond is None else model(x, std, cond)

    return score
