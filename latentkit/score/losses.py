"""Denoising score matching (paper eqs. 4-5): the loss, its weighting ``lambda(t)`` and t-sampling.

The continuous-time DSM objective of Song et al. (2021) is

    J(theta) = E_t [ lambda(t) E_{x_0} E_{x_t | x_0} || s_theta(x_t, t) - grad log p_0t(x_t | x_0) ||^2 ]

(eq. 5 with eq. 4 inside). ``t`` is drawn by a :class:`TSampler` -- uniform in ``t`` (Song et al.),
uniform in ``sigma`` (paper section 3.2.1), a single fixed ``t`` (section 3.2.2) or any density --
and ``lambda`` is a named or user weighting (:func:`get_weighting`). The same loss takes an optional
conditioning input: ``s_theta(x_t, t, y)`` of eq. 7 and ``s_theta(x_t, t, E_phi(x_0))`` of eq. 8.

Score models are called as ``model(x_t, std, cond)`` with ``std`` the kernel's standard deviation at
``t`` (see :mod:`latentkit.score.models`); :func:`model_score` does the ``t -> std`` step.

Example:
    >>> import torch
    >>> from latentkit.score import VESDE, ScoreMLP
    >>> sde, model = VESDE(), ScoreMLP(dim=2)
    >>> g = torch.Generator().manual_seed(0)
    >>> loss = dsm_loss(model, torch.randn(8, 2), sde, generator=g)
    >>> loss.shape
    torch.Size([])
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor

from latentkit import _checks
from latentkit._random import rand, randn
from latentkit.score.sde import SDE, VESDE, broadcast

__all__ = [
    "TSampler",
    "UniformT",
    "UniformSigma",
    "FixedT",
    "DensityT",
    "get_t_sampler",
    "get_weighting",
    "WEIGHTINGS",
    "Perturbation",
    "perturb",
    "model_score",
    "dsm_loss",
]

Weighting = Callable[[Tensor], Tensor]


# ----------------------------------------------------------------------------- t-sampling
class TSampler(abc.ABC):
    """A distribution of ``t`` on ``[t_min, t_max]``: draw with ``sampler(n, generator=...)``.

    Sampling ``t`` from a density ``q(t)`` is how the paper changes the weighting over noise levels
    (section 3.2): ``E_{t ~ q}[lambda(t) J_t]``. Each sampler also exposes its ``cdf`` so that tests
    can check it draws from the density it claims.
    """

    t_min: float
    t_max: float

    @abc.abstractmethod
    def icdf(self, u: Tensor) -> Tensor:
        """The quantile function: ``t`` with ``cdf(t) = u`` for ``u in [0, 1]``."""

    @abc.abstractmethod
    def cdf(self, t: Tensor) -> Tensor:
        """``P(T <= t)``."""

    def __call__(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """``n`` draws of ``t`` (shape ``(n,)``) on ``device``."""
        _checks.integer(type(self).__name__, "n", n, low=0)
        u = rand((n,), generator=generator, device=device, dtype=torch.float64)
        t = self.icdf(u)
        return t.to(dtype or torch.get_default_dtype())


class UniformT(TSampler):
    """``t ~ U[t_min, t_max]`` (Song et al. 2021; the paper's default, eq. 5).

    Arguments:
        sde: gives the default range ``[sde.eps, sde.T]``.
        t_min, t_max: override the range.
    """

    def __init__(self, sde: SDE | None = None, *, t_min: float | None = None, t_max: float | None = None) -> None:
        t_min = t_min if t_min is not None else (sde.eps if sde else 1e-5)
        t_max = t_max if t_max is not None else (sde.T if sde else 1.0)
        _check_t_range("UniformT", t_min, t_max, sde)
        self.t_min = float(t_min)
        self.t_max = float(t_max)

    def icdf(self, u: Tensor) -> Tensor:
        return self.t_min + (self.t_max - self.t_min) * u

    def cdf(self, t: Tensor) -> Tensor:
        return ((t - self.t_min) / (self.t_max - self.t_min)).clamp(0.0, 1.0)

    def __repr__(self) -> str:
        return f"UniformT(t_min={self.t_min:g}, t_max={self.t_max:g})"


class UniformSigma(TSampler):
    """``sigma ~ U[sigma(t_min), sigma(t_max)]`` mapped back to ``t = sigma^{-1}(sigma)`` (section 3.2.1).

    With ``sigma(t) = sigma_min r^t`` the density in ``t`` is ``sigma(t) log r / (sigma(t_max) - sigma(t_min))``:
    it puts most of the mass on high noise levels.
    """

    def __init__(self, sde: VESDE, *, t_min: float | None = None, t_max: float | None = None) -> None:
        if not hasattr(sde, "sigma_inverse"):
            raise TypeError(f"UniformSigma needs an SDE with sigma(t) and sigma_inverse, got {sde!r}")
        self.sde = sde
        _check_t_range(
            "UniformSigma", t_min if t_min is not None else sde.eps, t_max if t_max is not None else sde.T, sde
        )
        self.t_min = float(t_min if t_min is not None else sde.eps)
        self.t_max = float(t_max if t_max is not None else sde.T)
        self._lo = float(sde.sigma(torch.tensor(self.t_min, dtype=torch.float64)))
        self._hi = float(sde.sigma(torch.tensor(self.t_max, dtype=torch.float64)))

    def icdf(self, u: Tensor) -> Tensor:
        return self.sde.sigma_inverse(self._lo + (self._hi - self._lo) * u).clamp(self.t_min, self.t_max)

    def cdf(self, t: Tensor) -> Tensor:
        return ((self.sde.sigma(t) - self._lo) / (self._hi - self._lo)).clamp(0.0, 1.0)

    def __repr__(self) -> str:
        return f"UniformSigma(sigma in [{self._lo:g}, {self._hi:g}])"


class FixedT(TSampler):
    """A single fixed ``t``: the support of ``lambda`` limited to one value (section 3.2.2).

    ``t`` must be finite and ``> 0`` (the kernel degenerates at ``t = 0``); :func:`get_t_sampler` also
    checks ``t <= sde.T``.
    """

    def __init__(self, t: float) -> None:
        _checks.real("FixedT", "t", t, low=0.0, low_open=True)
        self.t_min = self.t_max = float(t)

    def icdf(self, u: Tensor) -> Tensor:
        return torch.full_like(u, self.t_min)

    def cdf(self, t: Tensor) -> Tensor:
        return (t >= self.t_min).to(t.dtype)

    def __repr__(self) -> str:
        return f"FixedT({self.t_min:g})"


class DensityT(TSampler):
    """Any density on ``[t_min, t_max]``, given as a function ``pdf(t)`` (need not be normalised).

    Sampled by inverting the cumulative integral of ``pdf`` tabulated on a fine grid (trapezoid rule,
    linear interpolation in between), which is exact for piecewise-linear densities.

    Arguments:
        pdf: a function of a float64 tensor of times returning non-negative values.
        sde: gives the default range ``[sde.eps, sde.T]``.
        t_min, t_max: override the range (``0 <= t_min < t_max``, and ``t_max <= sde.T`` with an ``sde``).
        grid: number of grid points (``>= 2``).
    """

    def __init__(
        self,
        pdf: Callable[[Tensor], Tensor],
        sde: SDE | None = None,
        *,
        t_min: float | None = None,
        t_max: float | None = None,
        grid: int = 4097,
    ) -> None:
        t_min = t_min if t_min is not None else (sde.eps if sde else 1e-5)
        t_max = t_max if t_max is not None else (sde.T if sde else 1.0)
        _check_t_range("DensityT", t_min, t_max, sde)
        _checks.integer("DensityT", "grid", grid, low=2)
        self.t_min = float(t_min)
        self.t_max = float(t_max)
        self.pdf = pdf
        self._t = torch.linspace(self.t_min, self.t_max, grid, dtype=torch.float64)
        p = torch.as_tensor(pdf(self._t), dtype=torch.float64)
        if p.shape != self._t.shape or not torch.isfinite(p).all() or (p < 0).any() or p.sum() <= 0:
            raise ValueError("DensityT: pdf must return finite, non-negative values (not all zero) of the shape of t")
        cum = torch.cat([p.new_zeros(1), torch.cumsum(0.5 * (p[1:] + p[:-1]) * self._t.diff(), 0)])
        self.norm = float(cum[-1])
        self._p, self._cdf = p / self.norm, cum / self.norm

    def cdf(self, t: Tensor) -> Tensor:
        return torch.as_tensor(_interp(t.double().cpu(), self._t, self._cdf), dtype=t.dtype).to(t.device)

    def icdf(self, u: Tensor) -> Tensor:
        # Within a cell the density is linear: p(t) = p0 + k (t - t0); solve the quadratic for t.
        uc = u.double().cpu()
        i = torch.searchsorted(self._cdf, uc, right=True).clamp(1, len(self._t) - 1) - 1
        t0, p0, c0 = self._t[i], self._p[i], self._cdf[i]
        h = self._t[i + 1] - t0
        k = (self._p[i + 1] - p0) / h
        du = (uc - c0).clamp_min(0.0)
        # p0 s + k s^2 / 2 = du  =>  s = 2 du / (p0 + sqrt(p0^2 + 2 k du)) (also right for k = 0)
        step = 2 * du / (p0 + (p0 * p0 + 2 * k * du).clamp_min(0.0).sqrt()).clamp_min(1e-300)
        return (t0 + step.minimum(h)).to(u.device)

    def __repr__(self) -> str:
        return f"DensityT({getattr(self.pdf, '__name__', 'pdf')}, [{self.t_min:g}, {self.t_max:g}])"


def _check_t_range(where: str, t_min: float, t_max: float, sde: SDE | None) -> None:
    """``0 <= t_min < t_max``, and ``t_max <= T`` (up to round-off) when the SDE is known (it is defined on
    ``[0, T]``)."""
    T = sde.T if sde is not None else None
    _checks.real(where, "t_min", t_min, low=0.0, high=T, high_open=True)
    _checks.real(
        where,
        "t_max",
        t_max,
        low=float(t_min),
        low_open=True,
        high=T * (1 + _checks.T_ROUNDOFF) if T is not None else None,
        expected=f"finite, > t_min = {float(t_min):g}" + (f" and <= T = {T:g}" if T is not None else ""),
    )


def _interp(x: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    i = torch.searchsorted(xp, x.clamp(xp[0], xp[-1]), right=True).clamp(1, len(xp) - 1)
    x0, x1, f0, f1 = xp[i - 1], xp[i], fp[i - 1], fp[i]
    return f0 + (f1 - f0) * (x.clamp(xp[0], xp[-1]) - x0) / (x1 - x0)


TSampling = Literal["uniform_t", "uniform_sigma", "fixed"]  # the t-samplers by name
T_SAMPLERS = get_args(TSampling)


def get_t_sampler(name: str | TSampler | Callable[[Tensor], Tensor], sde: SDE, *, t: float = 0.5) -> TSampler:
    """A t-sampler by name: ``"uniform_t"``, ``"uniform_sigma"``, ``"fixed"`` (at ``t``), a
    :class:`TSampler` (returned as is) or a density function (wrapped in :class:`DensityT`)."""
    if isinstance(name, TSampler):
        return name
    if callable(name):
        return DensityT(name, sde)
    if name == "uniform_t":
        return UniformT(sde)
    if name == "uniform_sigma":
        return UniformSigma(sde)  # type: ignore[arg-type]
    if name == "fixed":
        _checks.time("get_t_sampler", "t", t, sde.T)
        return FixedT(t)
    raise ValueError(f"unknown t-sampler {name!r}; valid: {', '.join(T_SAMPLERS)}, a TSampler or a density function")


# ----------------------------------------------------------------------------- weighting
Weighting = Literal["kernel_variance", "sigma_squared", "likelihood", "unit"]  # the lambda(t) by name
WEIGHTINGS = get_args(Weighting)


def get_weighting(name: str | Weighting, sde: SDE) -> Weighting:
    """The weighting ``lambda(t)`` of eq. 5, by name or as a function of ``t``.

    * ``"kernel_variance"`` (default): ``std(t)^2 = sigma^2(t) - sigma^2(0)``, the variance of the
      kernel. This is the paper's ``lambda(t) = sigma^2(t)`` (section 3) in Song et al.'s sense, where
      ``sigma`` is the kernel's std: it makes ``lambda(t) ||grad log p_0t||^2`` a chi-square with ``d``
      degrees of freedom at every ``t``.
    * ``"sigma_squared"``: ``sigma(t)^2`` literally (VE only); it exceeds the kernel variance by
      ``sigma_min^2`` and so blows up the loss as ``t -> 0``.
    * ``"likelihood"``: ``g(t)^2`` (Song et al. 2021b; Durkan & Song 2021), which bounds the KL divergence.
    * ``"unit"``: ``lambda = 1``.
    """
    if callable(name):
        return name
    if name == "kernel_variance":
        return lambda t: sde.marginal_std(t) ** 2
    if name == "sigma_squared":
        if not hasattr(sde, "sigma"):
            raise TypeError(f"'sigma_squared' weighting needs an SDE with sigma(t), got {sde!r}")
        return lambda t: sde.sigma(t) ** 2  # type: ignore[attr-defined]
    if name == "likelihood":
        return lambda t: sde.sde(t.new_zeros(t.shape[0], 1), t)[1] ** 2
    if name == "unit":
        return torch.ones_like
    raise ValueError(f"unknown weighting {name!r}; valid: {', '.join(WEIGHTINGS)} or a function of t")


# ----------------------------------------------------------------------------- the loss
@dataclass(frozen=True)
class Perturbation:
    """One draw of ``(t, x_t)`` for a batch ``x_0``: ``x_t = mean(x_0, t) + std(t) * noise``."""

    t: Tensor  #: times, shape (B,)
    std: Tensor  #: kernel standard deviations at t, shape (B,)
    noise: Tensor  #: standard normal noise, shape of x_0
    xt: Tensor  #: perturbed data, shape of x_0
    target: Tensor  #: grad_{x_t} log p_0t(x_t | x_0), the DSM target (eq. 4)
    weight: Tensor  #: lambda(t), shape (B,)


def perturb(
    x0: Tensor,
    sde: SDE,
    *,
    t_sampler: TSampler | str = "uniform_t",
    weighting: Weighting | str = "kernel_variance",
    generator: torch.Generator | None = None,
    t: Tensor | float | None = None,
    noise: Tensor | None = None,
) -> Perturbation:
    """Draw ``t`` (unless given) and ``x_t ~ p_0t(. | x_0)`` (unless ``noise`` is given).

    ``x0`` is a batch ``(B >= 1, *event)``, ``t`` a scalar (a number in ``(0, T]``) or ``(B,)``, ``noise`` of
    the shape of ``x0``; shapes are checked, tensor values are not (that would wait for the device).
    """
    check_batch("perturb", x0, sde, t=t, noise=noise)
    b = x0.shape[0]
    if t is None:
        t = get_t_sampler(t_sampler, sde)(b, generator=generator, device=x0.device, dtype=x0.dtype)
    t = torch.as_tensor(t, device=x0.device, dtype=x0.dtype)
    if t.dim() == 0:
        t = t.expand(b)
    if noise is None:
        noise = randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    mean, std = sde.marginal_prob(x0, t)
    xt = mean + broadcast(std, x0) * noise
    target = -noise / broadcast(std, x0)
    w = get_weighting(weighting, sde)(t)
    return Perturbation(t=t, std=std, noise=noise, xt=xt, target=target, weight=w)


def check_batch(
    where: str,
    x0: Tensor,
    sde: SDE,
    *,
    t: Tensor | float | None = None,
    noise: Tensor | None = None,
    cond: Tensor | None = None,
) -> None:
    """The shapes of a loss's inputs (free) and a number ``t`` in ``(0, T]``: ``x0`` a batch ``(B >= 1, *event)``,
    ``t`` a scalar or ``(B,)``, ``noise`` of ``x0``'s shape, ``cond`` of batch size ``B``. Tensor values are
    not checked: that would wait for the device on every step."""
    _checks.batch(where, "x0", x0)
    b = x0.shape[0]
    if t is not None:
        tt = t if isinstance(t, Tensor) else torch.as_tensor(t)
        if tt.dim() == 0 and not isinstance(t, Tensor):
            _checks.time(where, "t", t, sde.T)
        elif tt.dim() != 0 and tuple(tt.shape) != (b,):
            raise _checks.error(where, "t", f"a scalar or of shape ({b},)", f"shape {tuple(tt.shape)}")
    if noise is not None:
        _checks.same_shape(where, "noise", noise, "x0", x0)
    if cond is not None and (cond.dim() == 0 or cond.shape[0] != b):
        raise _checks.error(
            where,
            "cond",
            f"of batch size {b} (that of x0)",
            f"batch size {cond.shape[0] if cond.dim() else 'none (a scalar)'}",
        )


def call_model(model: Callable[..., Tensor], sde: SDE, x: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
    """``model(x, std(t)[, cond])``, unchecked (the losses check the output under their own name)."""
    std = sde.marginal_std(t)
    return model(x, std) if cond is None else model(x, std, cond)


def model_score(model: Callable[..., Tensor], sde: SDE, x: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
    """``s_theta(x, t[, cond])`` for a score model that takes the kernel's std as its noise input; the model's
    output must have the shape of ``x`` (``ValueError`` otherwise: it would broadcast in a loss)."""
    s = call_model(model, sde, x, t, cond)
    _checks.same_shape("model_score", "model's output", s, "x", x)
    return s


def dsm_loss(
    model: Callable[..., Tensor],
    x0: Tensor,
    sde: SDE,
    *,
    cond: Tensor | None = None,
    t_sampler: TSampler | str = "uniform_t",
    weighting: Weighting | str = "kernel_variance",
    generator: torch.Generator | None = None,
    t: Tensor | None = None,
    noise: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """The weighted DSM objective (eqs. 4-5), optionally conditional (eqs. 7-8).

    ``lambda(t) || s_theta(x_t, t[, cond]) - grad log p_0t(x_t | x_0) ||^2`` summed over data
    dimensions, averaged over the batch (``reduction="mean"``) or per sample (``"none"``).

    Arguments:
        model: called as ``model(x_t, std)`` or ``model(x_t, std, cond)``.
        x0: a data batch, ``(B, *event)``.
        sde: the forward SDE.
        cond: optional conditioning input, ``(B, ...)`` (labels, an encoder's code ``E_phi(x_0)``).
        t_sampler: how to draw ``t`` (a :class:`TSampler` or a name for :func:`get_t_sampler`).
        weighting: ``lambda(t)`` (a function or a name for :func:`get_weighting`).
        generator: source of the randomness (``t`` and the noise).
        t, noise: fix ``t`` (scalar or ``(B,)``) and/or the noise instead of drawing them.
        reduction: ``"mean"`` or ``"none"``.

    Shapes are checked (a model output of another shape than ``x0`` would broadcast); tensor values are
    not, so that the loss never waits for the device.
    """
    _checks.one_of("dsm_loss", "reduction", reduction, ("mean", "none"))
    check_batch("dsm_loss", x0, sde, t=t, noise=noise, cond=cond)
    p = perturb(x0, sde, t_sampler=t_sampler, weighting=weighting, generator=generator, t=t, noise=noise)
    score = call_model(model, sde, p.xt, p.t, cond)
    _checks.same_shape("dsm_loss", "model's output", score, "x0", x0)
    per_sample = p.weight * (score - p.target).pow(2).flatten(1).sum(1)
    return per_sample if reduction == "none" else per_sample.mean()
