"""Glow-style normalising-flow layers (Kingma & Dhariwal 2018; Dinh et al. 2017), as used by the NIF paper.

Every layer maps data to latents with ``forward(x) -> (y, logdet)``, where ``logdet`` (shape ``(N,)``) is
``log |det dy/dx|``, and back with ``inverse(y) -> x``. Images are ``(N, C, H, W)``; the vector layers of
the deep NIF's low-dimensional flow (appendix B.4) take ``(N, D)``.

* :class:`ActNorm` -- per-channel affine with data-dependent initialisation (zero mean, unit variance on
  the first batch); an ``initialized`` buffer survives checkpoints and the statistics are averaged over
  the processes of a ``torch.distributed`` run so that every rank starts from the same values.
* :class:`InvConv1x1` -- invertible 1x1 convolution in Glow's LU parametrisation.
* :class:`AffineCoupling` -- affine coupling whose log-scale is soft-bounded, ``c tanh(h / c)``.
* :class:`Reverse`, :class:`Squeeze`, :class:`FlowSequence`, :func:`glow_step`.
* :class:`MultiscaleFlow` -- ``levels`` times (squeeze, ``steps`` Glow steps, split off half the channels);
  its output is every factored-out part and the last level, flattened and concatenated, ``(N, C H W)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn

from latentkit import _checks

__all__ = [
    "Flow",
    "ActNorm",
    "InvConv1x1",
    "AffineCoupling",
    "Reverse",
    "Squeeze",
    "FlowSequence",
    "glow_step",
    "MultiscaleFlow",
]


def _spatial(x: Tensor) -> int:
    """Number of positions sharing one channel's parameters (1 for vectors)."""
    return math.prod(x.shape[2:]) if x.dim() > 2 else 1


def _channel_view(p: Tensor, x: Tensor) -> Tensor:
    return p.view(1, -1, *([1] * (x.dim() - 2)))


class Flow(nn.Module):
    """A bijection with a tractable Jacobian: ``forward(x) -> (y, logdet)``, ``inverse(y) -> x``."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse(self, y: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class ActNorm(Flow):
    """``y = (x + loc) * exp(log_scale)`` per channel, initialised from the first batch it sees.

    Arguments:
        channels: number of channels (features for ``(N, D)`` inputs).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        _checks.integer("ActNorm", "channels", channels, low=1)
        self.loc = nn.Parameter(torch.zeros(channels))
        self.log_scale = nn.Parameter(torch.zeros(channels))
        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Data-dependent initialisation: the output of ``x`` gets zero mean and unit variance per channel.

        Under ``torch.distributed`` the first and second moments are averaged over all processes, so that
        every rank (each with its own batch) ends with the same parameters.
        """
        dims = [d for d in range(x.dim()) if d != 1]
        moments = torch.stack([x.mean(dims), x.square().mean(dims)]).double()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(moments)
            moments /= dist.get_world_size()
        mean, sq = moments
        std = (sq - mean.square()).clamp_min(0).sqrt()
        self.loc.copy_(-mean.to(self.loc.dtype))
        self.log_scale.copy_(-torch.log(std + 1e-6).to(self.log_scale.dtype))
        self.initialized.fill_(1)

    def _check(self, x: Tensor) -> None:
        if x.dim() < 2 or x.shape[1] != self.loc.numel():
            raise ValueError(f"ActNorm built for {self.loc.numel()} channels, got input of shape {tuple(x.shape)}")

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self._check(x)
        if not self.initialized:
            self.initialize(x)
        y = (x + _channel_view(self.loc, x)) * _channel_view(self.log_scale.exp(), x)
        logdet = (_spatial(x) * self.log_scale.sum()).expand(x.shape[0])
        return y, logdet

    def inverse(self, y: Tensor) -> Tensor:
        self._check(y)
        return y * _channel_view((-self.log_scale).exp(), y) - _channel_view(self.loc, y)


class InvConv1x1(Flow):
    """Invertible 1x1 convolution ``y = W x`` at every pixel, ``W = P L (U + diag(sign * exp(log_s)))``
    (Glow's LU form: ``log|det| = H W sum(log_s)``). On ``(N, D)`` vectors it is an invertible linear map.

    Arguments:
        channels: number of channels.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        _checks.integer("InvConv1x1", "channels", channels, low=1)
        w, _ = torch.linalg.qr(torch.randn(channels, channels))
        p, lower, upper = torch.linalg.lu(w)
        s = torch.diagonal(upper)
        self.register_buffer("perm", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(s.abs().log())

    def weight(self) -> Tensor:
        eye = torch.eye(self.log_s.numel(), dtype=self.log_s.dtype, device=self.log_s.device)
        lower = self.lower * self.lower_mask + eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * self.log_s.exp())
        return self.perm @ lower @ upper

    def _mix(self, x: Tensor, w: Tensor) -> Tensor:
        if x.dim() < 2 or x.shape[1] != w.shape[0]:
            raise ValueError(f"InvConv1x1 built for {w.shape[0]} channels, got input of shape {tuple(x.shape)}")
        return torch.einsum("ij,nj...->ni...", w, x)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        y = self._mix(x, self.weight())
        return y, (_spatial(x) * self.log_s.sum()).expand(x.shape[0])

    def inverse(self, y: Tensor) -> Tensor:
        return self._mix(y, torch.linalg.inv(self.weight()))


class AffineCoupling(Flow):
    """Affine coupling (Dinh et al. 2017): ``y_a = x_a``, ``y_b = x_b exp(log_s(x_a)) + t(x_a)``.

    The log-scale is soft-bounded, ``log_s = clamp tanh(h / clamp)``, so that one layer can scale by at most
    ``exp(+-clamp)``; the last layer of the network is zero-initialised (the coupling starts as the identity).

    Arguments:
        channels: channels (or features) of the input; the first ``channels // 2`` condition the rest.
        hidden: width of the network.
        clamp: bound of the log-scale.
        kind: ``"conv"`` (images: 3x3, 1x1, 3x3 convolutions, as in Glow) or ``"mlp"`` (vectors).
        layers: hidden layers of the ``"mlp"`` network.
    """

    def __init__(
        self, channels: int, hidden: int = 64, clamp: float = 2.0, kind: str = "conv", layers: int = 2
    ) -> None:
        super().__init__()
        _checks.integer("AffineCoupling", "channels", channels, low=2)
        _checks.integer("AffineCoupling", "hidden", hidden, low=1)
        _checks.real("AffineCoupling", "clamp", clamp, low=0.0, low_open=True)
        _checks.integer("AffineCoupling", "layers", layers, low=1)
        if kind not in ("conv", "mlp"):
            raise ValueError(f"kind must be 'conv' or 'mlp', got {kind!r}")
        self.channels, self.kind = channels, kind
        self.n_a = channels // 2
        n_b = channels - self.n_a
        self.clamp = clamp
        if kind == "conv":
            self.net = nn.Sequential(
                nn.Conv2d(self.n_a, hidden, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(hidden, hidden, 1),
                nn.ReLU(),
                nn.Conv2d(hidden, 2 * n_b, 3, padding=1),
            )
        else:
            mods: list[nn.Module] = [nn.Linear(self.n_a, hidden), nn.ReLU()]
            for _ in range(layers - 1):
                mods += [nn.Linear(hidden, hidden), nn.ReLU()]
            self.net = nn.Sequential(*mods, nn.Linear(hidden, 2 * n_b))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def _shift_log_scale(self, x_a: Tensor) -> tuple[Tensor, Tensor]:
        h = self.net(x_a)
        shift, raw = h[:, 0::2], h[:, 1::2]
        return shift, self.clamp * torch.tanh(raw / self.clamp)

    def _check(self, where: str, name: str, x: Tensor) -> None:
        want = (4, f"(N, {self.channels}, H, W)") if self.kind == "conv" else (2, f"(N, {self.channels})")
        if x.dim() != want[0] or x.shape[1] != self.channels:
            raise _checks.error(f"AffineCoupling.{where}", name, f"of shape {want[1]}", f"shape {tuple(x.shape)}")

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self._check("forward", "x", x)
        x_a, x_b = x[:, : self.n_a], x[:, self.n_a :]
        shift, log_s = self._shift_log_scale(x_a)
        y_b = x_b * log_s.exp() + shift
        return torch.cat([x_a, y_b], 1), log_s.flatten(1).sum(-1)

    def inverse(self, y: Tensor) -> Tensor:
        self._check("inverse", "y", y)
        y_a, y_b = y[:, : self.n_a], y[:, self.n_a :]
        shift, log_s = self._shift_log_scale(y_a)
        return torch.cat([y_a, (y_b - shift) * (-log_s).exp()], 1)


class Reverse(Flow):
    """Reverse the order of the channels (volume preserving); between couplings of the low-dim flow."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x.flip(1), x.new_zeros(x.shape[0])

    def inverse(self, y: Tensor) -> Tensor:
        return y.flip(1)


class Squeeze(Flow):
    """Space-to-depth: ``(N, C, H, W) -> (N, 4C, H/2, W/2)`` (volume preserving)."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.dim() != 4:
            raise _checks.error("Squeeze.forward", "x", "of shape (N, C, H, W)", f"shape {tuple(x.shape)}")
        n, c, h, w = x.shape
        if h % 2 or w % 2:
            raise ValueError(f"Squeeze needs an even height and width, got {h}x{w}")
        y = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(n, 4 * c, h // 2, w // 2)
        return y, x.new_zeros(n)

    def inverse(self, y: Tensor) -> Tensor:
        if y.dim() != 4 or y.shape[1] % 4:
            raise _checks.error("Squeeze.inverse", "y", "of shape (N, 4 C, H, W)", f"shape {tuple(y.shape)}")
        n, c4, h, w = y.shape
        c = c4 // 4
        return y.reshape(n, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c, 2 * h, 2 * w)


class FlowSequence(Flow):
    """Composition of flows; log-determinants add."""

    def __init__(self, layers: Sequence[Flow]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        logdet = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, y: Tensor) -> Tensor:
        for layer in reversed(self.layers):
            y = layer.inverse(y)
        return y


def glow_step(channels: int, hidden: int, clamp: float = 2.0) -> FlowSequence:
    """One step of Glow's flow: actnorm, invertible 1x1 convolution, affine coupling."""
    return FlowSequence([ActNorm(channels), InvConv1x1(channels), AffineCoupling(channels, hidden, clamp)])


class MultiscaleFlow(Flow):
    """Glow's multiscale architecture for images of shape ``in_shape = (C, H, W)``.

    Each of the ``levels`` levels squeezes, applies ``steps`` Glow steps and (except the last) splits off
    half of the channels, which leave the flow (Dinh et al. 2017). ``forward`` returns the factored-out
    parts and the last level's output flattened into one vector of dimension ``C H W``.

    Arguments:
        in_shape: ``(C, H, W)``; ``H`` and ``W`` must be divisible by ``2 ** levels``.
        levels: multiscale depth (the paper: 2 for Fashion-MNIST, 4 for CIFAR-10, 5 for CelebA 64x64).
        steps: Glow steps per level (the paper: 16).
        hidden: channels of the coupling networks (the paper: 256).
        clamp: bound of the couplings' log-scale.

    Example:
        >>> flow = MultiscaleFlow((1, 8, 8), levels=2, steps=1, hidden=8)
        >>> y, logdet = flow(torch.randn(3, 1, 8, 8))
        >>> y.shape, logdet.shape
        (torch.Size([3, 64]), torch.Size([3]))
    """

    def __init__(
        self, in_shape: tuple[int, int, int], levels: int = 2, steps: int = 4, hidden: int = 64, clamp: float = 2.0
    ) -> None:
        super().__init__()
        if len(in_shape) != 3 or not all(isinstance(v, numbers.Integral) and v >= 1 for v in in_shape):
            raise _checks.error("MultiscaleFlow", "in_shape", "(C, H, W) of ints >= 1", repr(in_shape))
        _checks.integer("MultiscaleFlow", "levels", levels, low=1)
        _checks.integer("MultiscaleFlow", "steps", steps, low=1)
        c, h, w = in_shape
        if h % 2**levels or w % 2**levels:
            raise ValueError(
                f"a {levels}-level multiscale flow needs H and W divisible by {2**levels}, "
                f"got {h}x{w} (resize the images, e.g. size=16 or 32)"
            )
        self.in_shape = tuple(in_shape)
        self.levels = nn.ModuleList()
        self.out_shapes: list[tuple[int, int, int]] = []
        for level in range(levels):
            c, h, w = 4 * c, h // 2, w // 2
            self.levels.append(FlowSequence([Squeeze()] + [glow_step(c, hidden, clamp) for _ in range(steps)]))
            if level < levels - 1:
                self.out_shapes.append((c - c // 2, h, w))
                c = c // 2
        self.out_shapes.append((c, h, w))

    @property
    def dim(self) -> int:
        return math.prod(self.in_shape)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"MultiscaleFlow built for images of shape {self.in_shape}, got {tuple(x.shape)}")
        logdet = x.new_zeros(x.shape[0])
        outs = []
        for i, level in enumerate(self.levels):
            x, ld = level(x)
            logdet = logdet + ld
            if i < len(self.levels) - 1:
                keep = x.shape[1] // 2
                outs.append(x[:, keep:].flatten(1))
                x = x[:, :keep]
        outs.append(x.flatten(1))
        return torch.cat(outs, 1), logdet

    def inverse(self, y: Tensor) -> Tensor:
        if y.dim() != 2 or y.shape[1] != self.dim:
            raise ValueError(f"MultiscaleFlow.inverse expects (N, {self.dim}), got {tuple(y.shape)}")
        sizes = [math.prod(s) for s in self.out_shapes]
        parts = [p.reshape(-1, *s) for p, s in zip(torch.split(y, sizes, 1), self.out_shapes)]
        x = parts[-1]
        for i in reversed(range(len(self.levels))):
            if i < len(self.levels) - 1:
                x = torch.cat([x, parts[i]], 1)
            x = self.levels[i].inverse(x)
        return x
