r"""Isotropic Gaussian mixtures: the exact density of the synthetic point sets, and of ``p_t`` in score matching.

:class:`GaussianMixture` is :math:`p(x) = \sum_k w_k \, \mathcal N(x; \mu_k, \tau_k^2 I)`. A component of std 0
is a point mass, so the empirical distribution of a finite set of points is a mixture too
(:meth:`GaussianMixture.empirical`). Under a Gaussian kernel of std ``s`` the noised marginal
``p_s = p * N(0, s^2 I)`` is again a mixture, :math:`\sum_k w_k \mathcal N(\mu_k, (\tau_k^2 + s^2) I)`, so
every density method takes that kernel std as ``std`` (0: ``p`` itself): ``log_prob``, ``score``,
``responsibilities`` and ``denoise`` (the posterior mean :math:`E[x_0 | x_s = x]`; Tweedie's formula gives
:math:`\nabla \log p_s(x) = (E[x_0 | x_s = x] - x) / s^2`). They compute in float64, because the posterior at
small ``s`` is a softmax of large numbers, and return ``log_prob`` and ``score`` in the dtype of ``x``.

Example:
    >>> mix = GaussianMixture(torch.tensor([[-1.0], [1.0]]), stds=0.5)
    >>> mix.score(torch.zeros(3, 1), std=1.0).abs().max().item()
    0.0
    >>> x, labels = mix.sample(4, torch.Generator().manual_seed(0))
    >>> tuple(x.shape), labels.dtype
    ((4, 1), torch.int64)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from latentkit import _checks
from latentkit._random import randn

__all__ = ["GaussianMixture"]

_WEIGHT_TOLERANCE = 1e-4  # |sum(weights) - 1| allowed (weights typed in by hand, float32 sums)


def _first_bad(t: Tensor, ok: Tensor) -> str:
    """The first value of ``t`` where ``ok`` is False, and its index (for an error message)."""
    bad = (~ok).nonzero()[0]
    return f"{t[tuple(bad)].item()!r} at index {tuple(bad.tolist())}" if t.dim() else repr(t.item())


@dataclass(frozen=True, eq=False, repr=False)
class GaussianMixture:
    r"""Mixture of isotropic Gaussians :math:`p(x) = \sum_k w_k \, \mathcal N(x; \mu_k, \tau_k^2 I)`.

    Arguments:
        means: ``(K, D)`` component means, or ``(K, *event)`` (images: kept flattened as ``(K, D)``, with
            ``event_shape`` remembering the shape of one point).
        stds: ``(K,)`` isotropic standard deviations ``tau_k >= 0`` (a scalar is broadcast; 0: a point mass).
        weights: ``(K,)`` non-negative mixture weights summing to one (``None``: uniform).
        event_shape: the shape of one point (default ``means.shape[1:]``).

    Its density, score, posterior mean and moments are exact (``log_prob``, ``score``, ``denoise``,
    ``mean``, ``covariance``); the density methods take the std ``s`` of a Gaussian kernel and then
    describe the noised marginal ``p * N(0, s^2 I)``. :meth:`sample` draws points and their components
    in the dtype of ``means``. Bad values raise ``ValueError`` naming the argument.
    """

    means: Tensor
    stds: Tensor | float
    weights: Tensor | None = None
    event_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        where = type(self).__name__
        means = torch.as_tensor(self.means)
        if not means.is_floating_point():
            means = means.to(torch.get_default_dtype())
        if means.ndim < 2 or min(means.shape) < 1:
            raise _checks.error(
                where, "means", "of shape (K, D) or (K, *event) with K >= 1 and D >= 1", f"shape {tuple(means.shape)}"
            )
        k = means.shape[0]
        event = tuple(means.shape[1:]) if self.event_shape is None else tuple(int(d) for d in self.event_shape)
        means = means.reshape(k, -1)
        if math.prod(event) != means.shape[1] or min(event, default=0) < 1:
            raise _checks.error(
                where, "event_shape", f"a shape of {means.shape[1]} values (one point of means)", repr(self.event_shape)
            )
        stds = torch.as_tensor(self.stds, dtype=means.dtype, device=means.device)
        stds = stds.expand(k).clone() if stds.ndim == 0 else stds
        weights = (
            torch.full((k,), 1.0 / k, dtype=means.dtype, device=means.device)
            if self.weights is None
            else torch.as_tensor(self.weights, dtype=means.dtype, device=means.device)
        )
        for name, v in (("stds", stds), ("weights", weights)):
            if v.shape != (k,):
                raise _checks.error(
                    where, name, f"of shape ({k},) (one per component of means)", f"shape {tuple(v.shape)}"
                )
        known = means.device.type != "meta"  # values are unknown on the meta device
        if known:
            _checks.finite(where, "means", means)
            ok = torch.isfinite(stds) & (stds >= 0)
            if not bool(ok.all()):
                raise _checks.error(
                    where, "stds", "finite and >= 0 (positive; 0 makes a component a point mass)", _first_bad(stds, ok)
                )
            ok = torch.isfinite(weights) & (weights >= 0)
            if not bool(ok.all()):
                raise _checks.error(where, "weights", "finite and >= 0, summing to 1", _first_bad(weights, ok))
            if abs(float(weights.sum()) - 1) > _WEIGHT_TOLERANCE:
                raise _checks.error(
                    where, "weights", f"{k} non-negative numbers summing to 1", f"a sum of {float(weights.sum())!r}"
                )
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "stds", stds)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "event_shape", event)
        object.__setattr__(self, "_point_masses", known and bool((stds == 0).any()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(K={self.num_components}, event_shape={self.event_shape})"

    # -- constructors -----------------------------------------------------------------------------
    @classmethod
    def empirical(cls, points: Tensor) -> GaussianMixture:
        """The empirical distribution of a finite set of ``points`` ``(N, *event)``: equally weighted
        point masses (its density exists only under a kernel: ``std > 0``)."""
        return cls(points, 0.0)

    @staticmethod
    def ring(k: int = 8, radius: float = 2.0, std: float = 0.02) -> GaussianMixture:
        """``k`` equally weighted Gaussians at angles ``2 pi i / k`` on a circle (IVE-GAN sec. 4.1)."""
        k = _checks.integer("GaussianMixture.ring", "k", k, low=1)
        _checks.real("GaussianMixture.ring", "radius", radius, low=0.0, low_open=True)
        _checks.real("GaussianMixture.ring", "std", std, low=0.0, low_open=True)
        angles = 2 * math.pi * torch.arange(k, dtype=torch.float64) / k
        means = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
        return GaussianMixture(means.float(), torch.full((k,), float(std)))

    @staticmethod
    def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture:
        """``side**2`` Gaussians on a centred square grid (PacGAN / VEEGAN: -4, -2, ..., 4)."""
        side = _checks.integer("GaussianMixture.grid", "side", side, low=1)
        _checks.real("GaussianMixture.grid", "spacing", spacing, low=0.0, low_open=True)
        _checks.real("GaussianMixture.grid", "std", std, low=0.0, low_open=True)
        coords = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
        means = torch.cartesian_prod(coords, coords).reshape(side * side, 2)
        return GaussianMixture(means.float(), torch.full((side * side,), float(std)))

    def subset(self, components: Sequence[int]) -> GaussianMixture:
        """The mixture restricted to ``components`` (in that order), weights renormalised."""
        idx = torch.as_tensor(list(components), dtype=torch.int64)
        if idx.ndim != 1 or not len(idx) or bool(((idx < 0) | (idx >= self.num_components)).any()):
            raise _checks.error(
                f"{type(self).__name__}.subset",
                "components",
                f"a non-empty sequence of component indices in 0..{self.num_components - 1}",
                repr(components),
            )
        idx = idx.to(self.means.device)
        w = self.weights[idx]
        return type(self)(self.means[idx], self.stds[idx], w / w.sum(), event_shape=self.event_shape)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> GaussianMixture:
        """A copy on ``device`` and / or in ``dtype``."""
        return type(self)(
            *(t.to(device=device, dtype=dtype) for t in (self.means, self.stds, self.weights)),
            event_shape=self.event_shape,
        )

    # -- moments and draws ------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """``D``, the number of values of one point."""
        return self.means.shape[1]

    @property
    def num_components(self) -> int:
        return self.means.shape[0]

    @property
    def mean(self) -> Tensor:
        """Exact mean :math:`\\sum_k w_k \\mu_k`, shape ``(D,)``."""
        return self.weights @ self.means

    @property
    def covariance(self) -> Tensor:
        """Exact covariance :math:`\\sum_k w_k (\\sigma_k^2 I + \\mu_k\\mu_k^T) - \\bar\\mu\\bar\\mu^T`, ``(D, D)``."""
        second = (self.weights * self.stds**2).sum() * torch.eye(
            self.dim, dtype=self.means.dtype, device=self.means.device
        )
        second = second + (self.weights[:, None] * self.means).T @ self.means
        return second - torch.outer(self.mean, self.mean)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Draw ``n >= 1`` points; returns ``x`` ``(n, *event_shape)`` in the dtype of ``means`` and the
        component labels ``(n,)`` int64, on the mixture's device (``generator`` may live elsewhere)."""
        return self._draw(n, generator)

    def _draw(self, n: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Components by ``multinomial`` of ``weights``, then standard normal noise, both from ``generator``
        on its own device, in the dtype of ``means``: ``mu_k + tau_k * eps``."""
        n = _checks.integer(f"{type(self).__name__}.sample", "n", n, low=1)
        dev = self.means.device
        labels = torch.multinomial(
            self.weights.to(generator.device if generator is not None else dev),
            n,
            replacement=True,
            generator=generator,
        ).to(dev)
        eps = randn((n, self.dim), generator=generator, device=dev, dtype=self.means.dtype)
        x = self.means[labels] + self.stds[labels, None] * eps
        return x.reshape(n, *self.event_shape), labels

    # -- the density under a Gaussian kernel of std `std` ----------------------------------------------
    def _batch(self, where: str, x: Tensor, std: Tensor | float) -> tuple[Tensor, Tensor]:
        """``x`` ``(..., *event)`` as float64 ``(B, D)``, and the kernel std as float64 ``(B,)``."""
        nb = x.dim() - len(self.event_shape)
        if nb < 0 or tuple(x.shape[nb:]) != self.event_shape:
            raise _checks.error(
                where,
                "x",
                f"of shape (..., {', '.join(map(str, self.event_shape))}) (points of "
                f"the mixture's dimension {self.dim})",
                f"shape {tuple(x.shape)}",
            )
        xf = x.reshape(-1, self.dim).to(torch.float64)
        s = torch.as_tensor(std, dtype=torch.float64, device=self.means.device)
        if s.dim() and tuple(s.shape) != tuple(x.shape[:nb]):
            raise _checks.error(
                where,
                "std",
                f"a scalar or of shape {tuple(x.shape[:nb])} (one per point of x)",
                f"shape {tuple(s.shape)}",
            )
        if s.device.type != "meta":  # one wait for the device per call
            ok = torch.isfinite(s) & ((s > 0) if self._point_masses else (s >= 0))
            if not bool(ok.all()):
                expected = (
                    "finite and > 0 (the mixture has point masses, which have no density at std 0)"
                    if self._point_masses
                    else "finite and >= 0"
                )
                raise _checks.error(where, "std", expected, _first_bad(s, ok))
        return xf, (s.expand(xf.shape[0]) if s.dim() == 0 else s.reshape(-1))

    def _logits(self, x: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """Log of ``w_k N(x; mu_k, (tau_k^2 + s^2) I)`` ``(B, K)`` and the variances ``(B, K)``, float64."""
        means = self.means.to(torch.float64)
        var = self.stds.to(torch.float64)[None, :] ** 2 + s[:, None] ** 2
        sq = (x.pow(2).sum(1, keepdim=True) - 2 * x @ means.T + means.pow(2).sum(1)[None, :]).clamp_min(0.0)
        logits = (
            self.weights.to(torch.float64).log()[None, :]
            - 0.5 * self.dim * torch.log(2 * math.pi * var)
            - 0.5 * sq / var
        )
        return logits, var

    def log_prob(self, x: Tensor, std: Tensor | float = 0.0) -> Tensor:
        """``log p_s(x)`` of points ``x`` ``(..., *event)`` for the kernel std ``std`` (a scalar or one per
        point; 0: the mixture itself), shape ``x.shape[:-len(event)]``, in ``x``'s dtype."""
        xf, s = self._batch(f"{type(self).__name__}.log_prob", x, std)
        logits, _ = self._logits(xf, s)
        return torch.logsumexp(logits, 1).reshape(x.shape[: x.dim() - len(self.event_shape)]).to(x.dtype)

    def responsibilities(self, x: Tensor, std: Tensor | float = 0.0) -> Tensor:
        """``r_k(x) = p(component k | x_s = x)``, shape ``(..., K)``, float64."""
        xf, s = self._batch(f"{type(self).__name__}.responsibilities", x, std)
        logits, _ = self._logits(xf, s)
        return torch.softmax(logits, 1).reshape(*x.shape[: x.dim() - len(self.event_shape)], -1)

    def denoise(self, x: Tensor, std: Tensor | float) -> Tensor:
        """The posterior mean ``E[x_0 | x_s = x]`` (the optimal denoiser), float64, shape of ``x``: the
        component means ``m_k = (s^2 mu_k + tau_k^2 x) / (tau_k^2 + s^2)`` weighted by ``r_k(x)``."""
        xf, s = self._batch(f"{type(self).__name__}.denoise", x, std)
        logits, var = self._logits(xf, s)
        r = torch.softmax(logits, 1)
        a = s[:, None] ** 2 / var  # weight of mu_k in m_k
        b = self.stds.to(torch.float64)[None, :] ** 2 / var  # weight of x_s in m_k
        mean = (r * a) @ self.means.to(torch.float64) + (r * b).sum(1, keepdim=True) * xf
        return mean.reshape(x.shape)

    def score(self, x: Tensor, std: Tensor | float = 0.0) -> Tensor:
        r"""Exact score :math:`\nabla_x \log p_s(x) = \sum_k r_k(x)(\mu_k - x)/(\tau_k^2 + s^2)`, shape and
        dtype of ``x``."""
        xf, s = self._batch(f"{type(self).__name__}.score", x, std)
        logits, var = self._logits(xf, s)
        r = torch.softmax(logits, 1) / var
        out = r @ self.means.to(torch.float64) - r.sum(1, keepdim=True) * xf
        return out.reshape(x.shape).to(x.dtype)

    def score_fn(self, sde: Any) -> Callable[[Tensor, Tensor], Tensor]:
        """The exact ``s(x, t) = grad log p_t(x)`` under the kernel of ``sde`` (anything with
        ``marginal_std(t)``, e.g. :class:`latentkit.score.VESDE`), for samplers."""
        return lambda x, t: self.score(x, sde.marginal_std(t))
