"""Flow models of the NIF paper: the NF baseline, the NIF (section 4.3) and the deep NIF (appendix B.4).

All three are a :class:`~latentkit.nif.flows.MultiscaleFlow` ``g`` from images to a flat ``y = g(x)``
of dimension ``D = C H W`` followed by a *prior* on ``y``; only the prior differs:

* NF: ``p(y) = N(y | 0, I)`` (:class:`UnitGaussianPrior`);
* NIF: ``p(y) = int N(z | 0, I) N(y | A z + b, Sigma) dz`` in closed form (eq. 13), with
  ``dim_z << D`` (:class:`~latentkit.nif.gaussian.GaussianNIF`) -- the configuration of the paper's tables;
* deep NIF: ``z`` has its own low-dimensional flow prior (affine couplings with MLPs, actnorm and
  reversals), so ``log p(y)`` is bounded by eq. 9 with the stochastic inverse,
  ``E_q[log p_flow(z)] + log int p(y | z) dz`` (:class:`DeepNIFPrior`).

Pixels: images in ``[0, 1]`` are quantised to ``n_bits`` bits and uniformly dequantised into
``[-1/2, 1/2)`` (:func:`dequantize`), where each of the ``2^n_bits`` bins has width ``2^-n_bits``;
bits/dim then add ``n_bits`` (:func:`latentkit.metrics.bits_per_dim`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from latentkit import _checks
from latentkit.metrics import bits_per_dim
from latentkit.nif.flows import ActNorm, AffineCoupling, FlowSequence, MultiscaleFlow, Reverse
from latentkit.nif.gaussian import LOG_2PI, GaussianNIF

__all__ = [
    "dequantize",
    "quantize",
    "bin_centres",
    "to_image",
    "UnitGaussianPrior",
    "NIFPrior",
    "DeepNIFPrior",
    "FlowModel",
    "build_model",
    "MODEL_KINDS",
]

MODEL_KINDS = ("nf", "nif", "deep_nif")


def quantize(x: Tensor, n_bits: int) -> Tensor:
    """Integer levels ``0 .. 2^n_bits - 1`` of images in ``[0, 1]`` (as a float tensor); ``n_bits`` an int in
    ``[1, 8]``."""
    _checks.integer("quantize", "n_bits", n_bits, low=1, high=8)
    bins = 2**n_bits
    return torch.floor(x.clamp(0.0, 1.0) * bins).clamp_(max=bins - 1)


def dequantize(x: Tensor, n_bits: int, generator: torch.Generator | None = None) -> Tensor:
    """Uniform dequantisation: ``(quantize(x) + U[0, 1)) / 2^n_bits - 1/2`` in ``[-1/2, 1/2)``."""
    _checks.integer("dequantize", "n_bits", n_bits, low=1, high=8)
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (quantize(x, n_bits) + noise) / 2**n_bits - 0.5


def bin_centres(x: Tensor, n_bits: int) -> Tensor:
    """Images in ``[0, 1]`` quantised to ``n_bits`` and shown at the centres of their bins (what the model
    sees of real data, e.g. the reference set of a Fréchet distance)."""
    _checks.integer("bin_centres", "n_bits", n_bits, low=1, high=8)
    return (quantize(x, n_bits) + 0.5) / 2**n_bits


def to_image(y: Tensor, n_bits: int | None = None) -> Tensor:
    """Model space ``[-1/2, 1/2)`` back to images in ``[0, 1]`` (clipped; bin centres when ``n_bits``)."""
    if n_bits is not None:
        _checks.integer("to_image", "n_bits", n_bits, low=1, high=8)
    x = (y + 0.5).clamp(0.0, 1.0)
    return x if n_bits is None else bin_centres(x, n_bits)


class UnitGaussianPrior(nn.Module):
    """``N(0, I)`` on ``y``: the normalising flow's prior. ``s`` has no effect (an NF has no manifold)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        _checks.integer("UnitGaussianPrior", "dim", dim, low=1)
        self.dim = dim
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # device and dtype

    def log_prob(self, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if y.dim() != 2 or y.shape[1] != self.dim:
            raise _checks.error(
                "UnitGaussianPrior.log_prob", "y", f"of shape (N, {self.dim})", f"shape {tuple(y.shape)}"
            )
        return -0.5 * (y.square().sum(-1) + self.dim * LOG_2PI)

    def sample(self, n: int, s: float = 1.0, t: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        _checks.integer("UnitGaussianPrior.sample", "n", n, low=0)
        _checks.real("UnitGaussianPrior.sample", "s", s, low=0.0, expected=">= 0 (finite)")
        _checks.real("UnitGaussianPrior.sample", "t", t, low=0.0, expected=">= 0 (finite; a temperature)")
        return math.sqrt(t) * torch.randn(
            n, self.dim, generator=generator, device=self._anchor.device, dtype=self._anchor.dtype
        )

    def sample_latent(self, n: int, t: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        return self.sample(n, 1.0, t, generator)

    def decode(self, z: Tensor, s: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        return z

    def embed(self, y: Tensor) -> Tensor:
        return y


class NIFPrior(GaussianNIF):
    """The closed-form Gaussian NIF as the flow's prior (section 4.3): ``log_prob`` is eq. 13 (exact)."""

    def log_prob(self, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.log_likelihood(y)

    def sample_latent(self, n: int, t: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        return self.sample_prior(n, t, generator)

    def embed(self, y: Tensor) -> Tensor:
        """The stochastic inverse's mean ``z+`` (eq. 58)."""
        return self.pseudo_inverse(y)


class DeepNIFPrior(nn.Module):
    """Appendix B.4: a low-dimensional flow prior on ``z`` and a Gaussian NIF from ``z`` to ``y``.

    ``log_prob`` is the single-sample estimate of the bound of eq. 9 with ``z ~ q(z | y)``
    (reparameterised), ``log p_flow(z) + log int p(y | z) dz``; it is exact in expectation only up to
    ``KL(q || p(z | y))``.

    Arguments:
        dim: dimension of ``y``.
        dim_z: dimension of ``z``.
        couplings: affine couplings of the low-dimensional flow (the paper: 10).
        hidden: units of their MLPs (the paper: 1024).
        layers: hidden layers of the MLPs (the paper: 4).
    """

    def __init__(
        self,
        dim: int,
        dim_z: int,
        couplings: int = 4,
        hidden: int = 128,
        layers: int = 2,
        compute_dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        _checks.integer("DeepNIFPrior", "dim_z", dim_z, low=2)  # its coupling flow splits z in two
        _checks.integer("DeepNIFPrior", "couplings", couplings, low=0)
        self.nif = GaussianNIF(dim, dim_z, compute_dtype=compute_dtype)
        mods: list[nn.Module] = []
        for _ in range(couplings):
            mods += [ActNorm(dim_z), AffineCoupling(dim_z, hidden, kind="mlp", layers=layers), Reverse()]
        self.flow = FlowSequence(mods)
        self.dim_z = dim_z

    def log_prob_z(self, z: Tensor) -> Tensor:
        """``log p_flow(z)`` of the low-dimensional flow with a unit Gaussian base."""
        u, logdet = self.flow(z)
        return -0.5 * (u.square().sum(-1) + self.dim_z * LOG_2PI) + logdet

    def log_prob(self, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        z = self.nif.sample_stochastic_inverse(y, generator)
        return self.log_prob_z(z) + self.nif.manifold_term(y)

    def sample_latent(self, n: int, t: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        u = self.nif.sample_prior(n, t, generator)
        return self.flow.inverse(u)

    def decode(self, z: Tensor, s: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        return self.nif.decode(z, s, generator)

    def sample(self, n: int, s: float = 1.0, t: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        return self.decode(self.sample_latent(n, t, generator), s, generator)

    def embed(self, y: Tensor) -> Tensor:
        return self.nif.pseudo_inverse(y)


class FlowModel(nn.Module):
    """A multiscale flow ``y = g(x)`` with a prior on ``y`` (NF, NIF or deep NIF).

    Arguments:
        flow: the image flow (:class:`~latentkit.nif.flows.MultiscaleFlow`).
        prior: :class:`UnitGaussianPrior`, :class:`NIFPrior` or :class:`DeepNIFPrior`.
        n_bits: bits per pixel of the modelled data (the reference code: 3), an int in ``[1, 8]``.
    """

    def __init__(self, flow: MultiscaleFlow, prior: nn.Module, n_bits: int = 8) -> None:
        super().__init__()
        _checks.integer("FlowModel", "n_bits", n_bits, low=1, high=8)
        self.flow, self.prior, self.n_bits = flow, prior, n_bits

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.flow.in_shape

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Data-dependent initialisation of every :class:`~latentkit.nif.flows.ActNorm` from dequantised
        images ``x`` (a no-op for layers already initialised, e.g. loaded from a checkpoint)."""
        y, _ = self.flow(x)
        if isinstance(self.prior, DeepNIFPrior):
            self.prior.flow(self.prior.nif.pseudo_inverse(y))

    def log_prob(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``log p(x)`` of dequantised images ``x`` in ``[-1/2, 1/2)``, ``(N,)`` (deep NIF: eq. 9 estimate)."""
        y, logdet = self.flow(x)
        return self.prior.log_prob(y, generator) + logdet

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.log_prob(x, generator)

    def bits_per_dim(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Bits/dim of images in ``[0, 1]`` after dequantisation with ``generator``, ``(N,)``."""
        x = dequantize(images, self.n_bits, generator)
        return bits_per_dim(self.log_prob(x, generator), math.prod(self.image_shape), self.n_bits)

    def embed(self, images: Tensor) -> Tensor:
        """Codes of images in ``[0, 1]`` (bin centres, no noise): ``z+`` for NIFs, ``g(x)`` for the NF."""
        x = bin_centres(images, self.n_bits) - 0.5
        return self.prior.embed(self.flow(x)[0])

    def sample_latent(self, n: int, t: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """``z`` from the prior at temperature ``t`` (its variance scaled by ``t``)."""
        return self.prior.sample_latent(n, t, generator)

    def decode(self, z: Tensor, s: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """Images in ``[0, 1]`` from latents: ``y ~ N(A z + b, s Sigma)``, ``x = g^-1(y)``, quantised to the
        model's ``n_bits`` (bin centres)."""
        return to_image(self.flow.inverse(self.prior.decode(z, s, generator)), self.n_bits)

    def sample(self, n: int, s: float = 1.0, t: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """``n`` images in ``[0, 1]`` at noise scale ``s`` and temperature ``t``."""
        return self.decode(self.sample_latent(n, t, generator), s, generator)


def build_model(
    kind: str,
    image_shape: tuple[int, int, int],
    *,
    levels: int = 2,
    steps: int = 4,
    hidden: int = 64,
    clamp: float = 2.0,
    dim_z: int = 32,
    n_bits: int = 8,
    deep_couplings: int = 4,
    deep_hidden: int = 128,
    deep_layers: int = 2,
    compute_dtype: torch.dtype | None = None,
) -> FlowModel:
    """An NF (``kind="nf"``), NIF (``"nif"``) or deep NIF (``"deep_nif"``) on images of ``image_shape``."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; valid kinds: {', '.join(MODEL_KINDS)}")
    flow = MultiscaleFlow(tuple(image_shape), levels, steps, hidden, clamp)
    dim = flow.dim
    if kind == "nf":
        prior: nn.Module = UnitGaussianPrior(dim)
    elif kind == "nif":
        prior = NIFPrior(dim, dim_z, compute_dtype=compute_dtype)
    else:
        prior = DeepNIFPrior(dim, dim_z, deep_couplings, deep_hidden, deep_layers, compute_dtype=compute_dtype)
    return FlowModel(flow, prior, n_bits)
