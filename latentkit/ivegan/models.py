"""IVE-GAN networks (appendix B): encoder E, generator G(z', z), pair discriminator D and D'.

* :class:`Encoder` ``E(x) -> z`` (tanh codes in ``(-1, 1)``, the support of the prior ``z ~ U(-1, 1)``).
* :class:`Generator` ``G(z', z)``: the noise ``z'`` and the code ``z`` concatenated (``z = E(x)`` for a
  reconstruction, ``z ~ P_Z`` for a new sample).
* :class:`Discriminator`: a shared feature extractor ``D_enc``; the *pair* head ``D(c, x)`` reads
  ``[D_enc(x), D_enc(c)]`` -- the original first, the candidate ``c`` (``T(x)`` or ``G(z', E(x))``)
  second -- and the classical head ``D'(c)`` reads ``D_enc(c)`` (eq. 3). Heads return logits.

Two families, sized by arguments:

* :func:`mlp_ivegan` -- table 1 (2-D data): one hidden layer of 128 tanh units per network, ``D_enc`` the
  identity, ``z``: 3, ``z'``: 4.
* :func:`conv_ivegan` -- tables 2 (MNIST) and 3 (CelebA 128x128): strided convolutions with batch norm
  and leaky ReLU (slope 0.2), transposed convolutions in G; ``width`` scales every channel count (1.0 is
  the paper). Images of any size: encoders halve with padding ``k // 2`` (28 -> 14 -> 7 -> 4 -> 2 -> 1);
  the generator doubles from ``ceil(size / 2^k)`` and centre-crops (MNIST: 32 -> 28).

Initialisation as appendix B: He (Kaiming, leaky ReLU 0.2) for layers followed by a leaky ReLU, Xavier
otherwise, zero biases.

Example:
    >>> e, g, d = mlp_ivegan(data_dim=2, z_dim=3, noise_dim=4)
    >>> x = torch.randn(5, 2)
    >>> tuple(g(torch.randn(5, 4), e(x)).shape), tuple(d.pair(x, x).shape), tuple(d.marginal(x).shape)
    ((5, 2), (5,), (5,))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "Encoder",
    "Generator",
    "Discriminator",
    "mlp_ivegan",
    "conv_ivegan",
    "code_head",
    "code_norm_name",
    "BatchWhiten",
    "CODE_NORMS",
    "CONV_LAYOUTS",
    "init_weights",
]

SLOPE = 0.2  # leaky ReLU slope (appendix B)

# (channels, kernel, stride, batch norm) per layer, at width 1.0 (tables 2 and 3)
CONV_LAYOUTS: dict[str, dict[str, list[tuple[int, int, int, bool]]]] = {
    "mnist": {
        "encoder": [(64, 5, 2, True), (128, 3, 2, True), (256, 3, 2, True), (256, 3, 2, True), (256, 2, 1, True)],
        "generator": [(256, 3, 2, True), (128, 3, 2, True), (64, 5, 2, False)],  # from 4x4x256; last: 5x5 s1 to C
        "generator_base": [(256, 4)],  # channels and spatial size of the dense layer's output (at size 32)
    },
    "celeba": {
        "encoder": [
            (128, 5, 2, True),
            (128, 5, 2, True),
            (256, 5, 2, True),
            (256, 3, 2, True),
            (512, 3, 2, True),
            (512, 3, 2, True),
            (1024, 2, 1, True),
        ],
        "generator": [
            (512, 3, 2, True),
            (512, 3, 1, True),
            (256, 3, 2, True),
            (256, 3, 1, True),
            (256, 3, 2, True),
            (256, 3, 1, True),
            (128, 5, 2, True),
            (128, 5, 1, True),
            (128, 5, 2, True),
            (128, 5, 1, False),
            (64, 5, 2, False),
        ],
        "generator_base": [(1024, 2)],  # at size 128
    },
}


def _act(name: str) -> nn.Module:
    acts = {
        "tanh": nn.Tanh,
        "relu": nn.ReLU,
        "lrelu": lambda: nn.LeakyReLU(SLOPE),
        "sigmoid": nn.Sigmoid,
        "linear": nn.Identity,
    }
    if name not in acts:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(acts)}")
    return acts[name]()


def init_weights(module: nn.Module) -> nn.Module:
    """Appendix B: He init for layers followed by a (leaky) ReLU, Xavier for the others, zero biases."""
    layers = [
        m
        for m in module.modules()
        if isinstance(
            m,
            (
                nn.Linear,
                nn.Conv2d,
                nn.ConvTranspose2d,
                nn.BatchNorm2d,
                nn.BatchNorm1d,
                nn.LeakyReLU,
                nn.ReLU,
                nn.Tanh,
                nn.Sigmoid,
                nn.Identity,
            ),
        )
    ]
    for i, m in enumerate(layers):
        if not isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            continue
        nxt = next((n for n in layers[i + 1 :] if not isinstance(n, (nn.BatchNorm1d, nn.BatchNorm2d))), None)
        if isinstance(nxt, (nn.LeakyReLU, nn.ReLU)):
            slope = nxt.negative_slope if isinstance(nxt, nn.LeakyReLU) else 0.0
            nn.init.kaiming_normal_(m.weight, a=slope, nonlinearity="leaky_relu")
        else:
            nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    return module


class BatchWhiten(nn.Module):
    """Whitens a batch of codes: ``L^-1 (x - mean)`` with ``L L^T`` the batch covariance (+ ``eps I``), so
    that the output has zero mean and *identity* covariance -- uncorrelated coordinates, unlike a per-coordinate
    batch norm, which leaves them free to line up along one direction. Running mean and covariance
    (``momentum`` as batch norm's) replace the batch statistics in evaluation mode (decorrelated batch
    normalisation, Huang et al. 2018, with a Cholesky factor in place of ZCA)."""

    def __init__(self, dim: int, momentum: float = 0.1, eps: float = 1e-3):
        super().__init__()
        self.dim, self.momentum, self.eps = dim, momentum, eps
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_cov", torch.eye(dim))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"BatchWhiten({self.dim}) expects (N, {self.dim}), got {tuple(x.shape)}")
        with torch.autocast(x.device.type, enabled=False):  # covariance and Cholesky factor in float32
            x32 = x.float()
            if self.training and x.shape[0] > 1:
                mean = x32.mean(0)
                xc = x32 - mean
                cov = xc.T @ xc / (x.shape[0] - 1)
                with torch.no_grad():
                    self.running_mean.lerp_(mean.detach(), self.momentum)
                    self.running_cov.lerp_(cov.detach(), self.momentum)
            else:
                xc, cov = x32 - self.running_mean, self.running_cov
            chol = torch.linalg.cholesky(cov + self.eps * torch.eye(self.dim, device=x.device, dtype=x32.dtype))
            return torch.linalg.solve_triangular(chol, xc.T, upper=False).T.to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.dim}, momentum={self.momentum}, eps={self.eps}"


CODE_NORMS = ("none", "batch", "whiten")


def code_norm_name(code_norm: bool | str) -> str:
    """The normalisation ``code_norm`` names (one of :data:`CODE_NORMS`): ``False`` is ``"none"``, ``True``
    ``"batch"``; anything else raises ``ValueError``."""
    name = {False: "none", True: "batch"}.get(code_norm, code_norm) if isinstance(code_norm, bool) else code_norm
    if name not in CODE_NORMS:
        raise ValueError(f"code_norm must be a bool or one of {CODE_NORMS}, got {code_norm!r}")
    return name


def code_head(n_in: int, z_dim: int, code_norm: bool | str = False) -> nn.Sequential:
    """The encoder's last layer: dense to ``z_dim``, then tanh. ``code_norm`` (not in the paper) puts a
    normalisation before the tanh: ``"batch"`` (or ``True``) a batch norm without learned scale or shift,
    so every code coordinate enters the tanh with mean 0 and variance 1 over the batch -- codes cannot pile
    up in the saturated corners of ``(-1, 1)^d`` (``tanh(N(0, 1))`` has std 0.63 against the prior's 0.58);
    ``"whiten"`` a :class:`BatchWhiten`, which also decorrelates the coordinates, as they are under the
    prior ``U(-1, 1)^d`` (per-coordinate normalisation lets all coordinates encode the same direction);
    ``"none"`` (or ``False``) nothing."""
    name = code_norm_name(code_norm)
    layers: list[nn.Module] = [nn.Linear(n_in, z_dim)]
    layers += {"none": [], "batch": [nn.BatchNorm1d(z_dim, affine=False)], "whiten": [BatchWhiten(z_dim)]}[name]
    return nn.Sequential(*layers, nn.Tanh())


def _mlp(sizes: Sequence[int], activation: str, out_activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        layers.append(_act(activation if i < len(sizes) - 2 else out_activation))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """``E(x) -> z``: a body (MLP or convolutions) ending in a tanh code of size ``z_dim``."""

    def __init__(self, body: nn.Module, z_dim: int, data_shape: tuple[int, ...]):
        super().__init__()
        self.body, self.z_dim, self.data_shape = body, z_dim, tuple(data_shape)

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(
                f"the encoder expects inputs of shape (N, {', '.join(map(str, self.data_shape))}), got {tuple(x.shape)}"
            )
        return self.body(x)


class Generator(nn.Module):
    """``G(z', z)``: noise ``z'`` (``noise_dim``) and code ``z`` (``z_dim``) concatenated, then the body."""

    def __init__(self, body: nn.Module, noise_dim: int, z_dim: int, data_shape: tuple[int, ...]):
        super().__init__()
        self.body, self.noise_dim, self.z_dim, self.data_shape = body, noise_dim, z_dim, tuple(data_shape)

    def forward(self, noise: Tensor, z: Tensor) -> Tensor:
        if noise.shape[-1] != self.noise_dim or z.shape[-1] != self.z_dim or noise.shape[0] != z.shape[0]:
            raise ValueError(
                f"the generator expects noise (N, {self.noise_dim}) and codes (N, {self.z_dim}), "
                f"got {tuple(noise.shape)} and {tuple(z.shape)}"
            )
        return self.body(torch.cat([noise, z], dim=1))


class Discriminator(nn.Module):
    """``D_enc`` shared by the pair head ``D(c, x)`` and the classical head ``D'(c)`` (eq. 3).

    Arguments:
        features: ``D_enc``, mapping a batch of data to ``(N, feature_dim)`` (``nn.Identity`` on 2-D data).
        feature_dim: size of ``D_enc``'s output.
        pair_hidden, marginal_hidden: hidden sizes of the two heads.
        activation: of the hidden layers.
        pair: build the pair head (``False`` for the plain GAN baseline, which only has ``D'``).

    ``forward(candidates, originals, samples)`` runs ``D_enc`` once on everything (one call, as
    ``DistributedDataParallel`` wants) and returns ``(D(candidates, originals), D'(samples))`` logits;
    either input pair may be ``None`` (then that output is ``None``).
    """

    def __init__(
        self,
        features: nn.Module,
        feature_dim: int,
        pair_hidden: Sequence[int],
        marginal_hidden: Sequence[int],
        activation: str = "lrelu",
        pair: bool = True,
    ):
        super().__init__()
        self.features = features
        self.pair_head = _mlp([2 * feature_dim, *pair_hidden, 1], activation, "linear") if pair else None
        self.marginal_head = _mlp([feature_dim, *marginal_hidden, 1], activation, "linear")

    def forward(
        self, candidates: Tensor | None, originals: Tensor | None, samples: Tensor | None = None
    ) -> tuple[Tensor | None, Tensor | None]:
        if (candidates is None) != (originals is None):
            raise ValueError("candidates and originals come together (both or neither)")
        if candidates is not None and self.pair_head is None:
            raise ValueError("this discriminator has no pair head (built with pair=False: the plain GAN)")
        if candidates is not None and candidates.shape != originals.shape:
            raise ValueError(
                f"candidates {tuple(candidates.shape)} and originals {tuple(originals.shape)} must have the same shape"
            )
        parts = [t for t in (originals, candidates, samples) if t is not None]
        if not parts:
            raise ValueError("nothing to discriminate")
        h = self.features(torch.cat(parts, 0))
        pair_logits = marginal_logits = None
        if candidates is not None:
            n = candidates.shape[0]
            h_orig, h_cand, h = h[:n], h[n : 2 * n], h[2 * n :]
            pair_logits = self.pair_head(torch.cat([h_orig, h_cand], 1)).squeeze(1)
        if samples is not None:
            marginal_logits = self.marginal_head(h).squeeze(1)
        return pair_logits, marginal_logits

    def pair(self, candidates: Tensor, originals: Tensor) -> Tensor:
        """Logits of ``D(candidates, originals)``: is ``candidates`` a transformation of ``originals``?"""
        return self(candidates, originals)[0]

    def marginal(self, samples: Tensor) -> Tensor:
        """Logits of ``D'(samples)``: is ``samples`` real data?"""
        return self(None, None, samples)[1]


def mlp_ivegan(
    data_dim: int | tuple[int, ...],
    z_dim: int = 3,
    noise_dim: int = 4,
    hidden: int = 128,
    depth: int = 1,
    activation: str = "tanh",
    output: str = "linear",
    pair: bool = True,
    with_encoder: bool = True,
    feature_dim: int | None = None,
    code_norm: bool | str = False,
) -> tuple[Encoder | None, Generator, Discriminator]:
    """Table 1: ``E``, ``G``, ``D`` (with ``D'``) made of dense layers.

    Arguments:
        data_dim: size of a data vector, or the shape of an image (flattened in, unflattened out).
        hidden, depth, activation: ``depth`` hidden layers of ``hidden`` units in every network
            (paper: 1 x 128, tanh).
        output: G's output activation (the paper's tanh needs data inside (-1, 1); ``"linear"`` for the
            radius-2 ring, ``"tanh"`` for images in [-1, 1]).
        feature_dim: ``None``: ``D_enc`` is the identity (table 1); else one dense layer of that size
            with ``activation`` (a CPU-sized stand-in for table 2's convolutional ``D_enc``).
        code_norm: normalise the code before its tanh: ``"batch"``/``True``, ``"whiten"`` or ``"none"``/``False``
            (see :func:`code_head`; not in the paper).
    """
    shape = (data_dim,) if isinstance(data_dim, int) else tuple(data_dim)
    dim = math.prod(shape)
    hid = [hidden] * depth
    flat: list[nn.Module] = [nn.Flatten()] if len(shape) > 1 else []
    unflat: list[nn.Module] = [nn.Unflatten(1, shape)] if len(shape) > 1 else []
    e = None
    if with_encoder:
        body = [
            *flat,
            *(_mlp([dim, *hid], activation, activation) if hid else []),
            code_head(hid[-1] if hid else dim, z_dim, code_norm),
        ]
        e = init_weights(Encoder(nn.Sequential(*body), z_dim, shape))
    g = init_weights(
        Generator(
            nn.Sequential(*_mlp([noise_dim + z_dim, *hid, dim], activation, output), *unflat), noise_dim, z_dim, shape
        )
    )
    if feature_dim is None:
        features: nn.Module = nn.Sequential(*flat) if flat else nn.Identity()
        feature_dim = dim
    else:
        features = nn.Sequential(*flat, *_mlp([dim, feature_dim], activation, activation))
    d = init_weights(Discriminator(features, feature_dim, hid, hid, activation, pair=pair))
    return e, g, d


def _padding(size: int, k: int, s: int) -> int:
    """``k // 2`` for a halving (stride 2) layer; for a stride-1 layer none, unless the input is smaller
    than the kernel (a small image: pad so that one output pixel remains)."""
    return k // 2 if s == 2 else max(0, math.ceil((k - size) / 2))


def _conv_stack(
    channels: int, size: int, layout: list[tuple[int, int, int, bool]], width: float
) -> tuple[nn.Sequential, int]:
    """The encoder / D_enc convolutions; returns them and the flattened output size."""
    layers: list[nn.Module] = []
    c = channels
    for ch, k, s, bn in layout:
        out = max(1, round(ch * width))
        p = _padding(size, k, s)
        layers += [nn.Conv2d(c, out, k, s, padding=p, bias=not bn)]
        layers += [nn.BatchNorm2d(out)] if bn else []
        layers += [nn.LeakyReLU(SLOPE)]
        c, size = out, (size + 2 * p - k) // s + 1
    return nn.Sequential(*layers), c * size * size


class _CenterCrop(nn.Module):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x: Tensor) -> Tensor:
        top = (x.shape[-2] - self.size) // 2
        left = (x.shape[-1] - self.size) // 2
        return x[..., top : top + self.size, left : left + self.size]


def _up(c_in: int, c_out: int, k: int, s: int, bias: bool) -> nn.Module:
    """A transposed convolution of G: stride 2 doubles the size exactly; stride 1 keeps it and is written
    as the equivalent ``Conv2d`` (same family of maps, several times faster on CPUs)."""
    if s == 1:
        return nn.Conv2d(c_in, c_out, k, 1, padding=k // 2, bias=bias)
    return nn.ConvTranspose2d(c_in, c_out, k, s, padding=k // 2, output_padding=s - 1, bias=bias)


def conv_ivegan(
    channels: int,
    size: int,
    z_dim: int = 3,
    noise_dim: int = 4,
    layout: str = "mnist",
    width: float = 1.0,
    feature_dim: int = 3,
    head_width: float = 1.0,
    output: str = "tanh",
    pair: bool = True,
    with_encoder: bool = True,
    code_norm: bool | str = False,
) -> tuple[Encoder | None, Generator, Discriminator]:
    """Tables 2 and 3: convolutional ``E``, ``G``, ``D`` for ``(channels, size, size)`` images.

    Arguments:
        layout: ``"mnist"`` (table 2) or ``"celeba"`` (table 3).
        width: multiplies every channel count (1.0: the paper; e.g. 0.125 for a CPU run).
        feature_dim: size of ``D_enc``'s last dense layer (table 2: 3; table 3: 1024).
        head_width: multiplies the hidden sizes of the two discriminator heads (MNIST: 128-64-16 and 64;
            CelebA: 1024-512-128 and 128).
        output: G's output activation (``"tanh"`` for data in [-1, 1], ``"sigmoid"`` as the paper for [0, 1]).
        code_norm: normalise the code before its tanh: ``"batch"``/``True``, ``"whiten"`` or ``"none"``/``False``
            (see :func:`code_head`; not in the paper).
    """
    if layout not in CONV_LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; valid: {', '.join(CONV_LAYOUTS)}")
    spec = CONV_LAYOUTS[layout]
    shape = (channels, size, size)

    def body() -> tuple[nn.Sequential, int]:
        convs, n = _conv_stack(channels, size, spec["encoder"], width)
        return nn.Sequential(convs, nn.Flatten()), n

    enc = None
    if with_encoder:
        convs, n = body()
        enc = init_weights(Encoder(nn.Sequential(convs, code_head(n, z_dim, code_norm)), z_dim, shape))

    ups = spec["generator"]
    factor = 2 ** sum(1 for _, _, s, _ in ups if s == 2)
    base = math.ceil(size / factor)
    c0 = max(1, round(spec["generator_base"][0][0] * width))
    g_layers: list[nn.Module] = [
        nn.Linear(noise_dim + z_dim, c0 * base * base, bias=False),
        nn.BatchNorm1d(c0 * base * base),
        nn.LeakyReLU(SLOPE),
        nn.Unflatten(1, (c0, base, base)),
    ]
    c = c0
    for ch, k, s, bn in ups:
        out = max(1, round(ch * width))
        g_layers += [_up(c, out, k, s, bias=not bn)]
        g_layers += [nn.BatchNorm2d(out)] if bn else []
        g_layers += [nn.LeakyReLU(SLOPE)]
        c = out
    g_layers += [_up(c, channels, 5, 1, bias=True), _act(output)]
    if base * factor != size:
        g_layers.append(_CenterCrop(size))
    gen = init_weights(Generator(nn.Sequential(*g_layers), noise_dim, z_dim, shape))

    convs, n = body()
    features = nn.Sequential(convs, nn.Linear(n, feature_dim), nn.LeakyReLU(SLOPE))
    pair_hidden = [128, 64, 16] if layout == "mnist" else [1024, 512, 128]
    marg_hidden = [64] if layout == "mnist" else [128]
    pair_hidden = [max(1, round(h * head_width)) for h in pair_hidden]
    marg_hidden = [max(1, round(h * head_width)) for h in marg_hidden]
    disc = init_weights(Discriminator(features, feature_dim, pair_hidden, marg_hidden, "lrelu", pair=pair))
    return enc, gen, disc
