"""Forward and reverse diffusion processes (paper section 1.1, eqs. 1-2).

An :class:`SDE` is the forward process ``dx = f(x, t) dt + g(t) dw`` (eq. 1) on ``t in [0, T]``
together with what score-based modelling needs of it: the perturbation kernel ``p_0t(x_t | x_0)``
and its score, the prior ``p_T`` and the drift of the reverse-time SDE (eq. 2). Subclasses implement
the paper's quantities; everything else (perturbing data, the reverse drift) is shared.

:class:`VESDE` is the variance-exploding SDE of Song et al. (2021) that the paper uses throughout
(section 3): ``sigma(t) = sigma_min (sigma_max / sigma_min) ** t`` with ``sigma_min = 0.01`` and
``sigma_max = 50``, ``f = 0`` and ``g(t) = sqrt(d sigma^2(t) / dt)``, whose kernel is
``N(x_0, [sigma^2(t) - sigma^2(0)] I)``.

Example:
    >>> import torch
    >>> sde = VESDE()
    >>> round(float(sde.sigma(torch.tensor(1.0))), 3)
    50.0
    >>> x0 = torch.zeros(3, 2)
    >>> mean, std = sde.marginal_prob(x0, torch.full((3,), 0.5))
    >>> std.shape
    torch.Size([3])
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable

import torch
from torch import Tensor

from latentkit import _checks
from latentkit._random import randn

__all__ = ["SDE", "VESDE", "ScoreFn"]

ScoreFn = Callable[[Tensor, Tensor], Tensor]
"""A score function ``s(x, t)``: ``x`` of shape ``(B, *event)``, ``t`` of shape ``(B,)``."""


def broadcast(v: Tensor, x: Tensor) -> Tensor:
    """A per-sample ``(B,)`` tensor reshaped to broadcast against ``x`` of shape ``(B, *event)``."""
    return v.reshape(v.shape + (1,) * (x.dim() - v.dim()))


class SDE(abc.ABC):
    """A forward diffusion ``dx = f(x, t) dt + g(t) dw`` (paper eq. 1) on ``[0, T]``.

    Subclasses define :meth:`sde`, :meth:`marginal_prob` and :meth:`prior_std`. The kernel is assumed
    Gaussian and isotropic, ``p_0t(x_t | x_0) = N(x_t; mean(x_0, t), std(t)^2 I)``, and the prior a centred
    isotropic Gaussian ``N(0, prior_std^2 I)``, which covers the VE and VP SDEs.

    Arguments:
        T: the final time.
        eps: the smallest time used for training and sampling (the kernel degenerates at ``t = 0``).
    """

    def __init__(self, T: float = 1.0, eps: float = 1e-5) -> None:
        where = type(self).__name__
        _checks.real(where, "T", T, low=0.0, low_open=True)
        _checks.real(where, "eps", eps, low=0.0, high=T, high_open=True)
        self.T = float(T)
        self.eps = float(eps)

    @abc.abstractmethod
    def sde(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Drift ``f(x, t)`` (shape of ``x``) and diffusion ``g(t)`` (shape ``(B,)``) of eq. 1."""

    @abc.abstractmethod
    def marginal_prob(self, x0: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean (shape of ``x0``) and std (shape ``(B,)``) of the kernel ``p_0t(x_t | x_0)``."""

    @abc.abstractmethod
    def prior_std(self) -> float:
        """Standard deviation of the prior ``p_T = N(0, prior_std^2 I)``, which approximates
        ``p_0T(x_T | x_0)`` for every ``x_0``."""

    def prior_sampling(
        self,
        shape: tuple[int, ...],
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """Samples of the prior ``p_T`` of ``shape``, drawn from ``generator`` and returned on ``device``."""
        return randn(shape, generator=generator, device=device, dtype=dtype) * self.prior_std()

    def prior_logp(self, z: Tensor) -> Tensor:
        """Log-density of the prior at ``z``, one value per sample."""
        d = z[0].numel()
        s2 = self.prior_std() ** 2
        return -0.5 * d * math.log(2 * math.pi * s2) - z.flatten(1).pow(2).sum(1) / (2 * s2)

    def marginal_std(self, t: Tensor) -> Tensor:
        """The kernel's standard deviation ``std(t)``, same shape as ``t``."""
        return self.marginal_prob(torch.zeros_like(t), t)[1]

    def perturb(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """``x_t = mean(x_0, t) + std(t) * noise``: a draw of ``p_0t(x_t | x_0)`` for standard normal noise."""
        mean, std = self.marginal_prob(x0, t)
        return mean + broadcast(std, x0) * noise

    def kernel_score(self, xt: Tensor, x0: Tensor, t: Tensor) -> Tensor:
        """``grad_{x_t} log p_0t(x_t | x_0) = -(x_t - mean) / std^2``: the target of DSM (eq. 4)."""
        mean, std = self.marginal_prob(x0, t)
        return -(xt - mean) / broadcast(std, xt) ** 2

    def reverse_drift(self, x: Tensor, t: Tensor, score: Tensor) -> Tensor:
        """Drift ``f(x, t) - g(t)^2 * score`` of the reverse-time SDE (eq. 2), for ``dt < 0``."""
        drift, g = self.sde(x, t)
        return drift - broadcast(g, x) ** 2 * score


class VESDE(SDE):
    """The variance-exploding SDE (Song et al. 2021) as the paper uses it (eq. 1, section 3).

    ``sigma(t) = sigma_min (sigma_max / sigma_min) ** t``, ``f(x, t) = 0``,
    ``g(t) = sqrt(d sigma^2 / dt) = sigma(t) sqrt(2 log(sigma_max / sigma_min))``, and the kernel
    ``p_0t(x_t | x_0) = N(x_t; x_0, [sigma^2(t) - sigma^2(0)] I)``; the prior is the kernel at ``T``
    around the origin, ``N(0, [sigma_max^2 - sigma_min^2] I)``.

    Arguments:
        sigma_min: ``sigma(0)`` (paper: 0.01).
        sigma_max: ``sigma(1)`` (paper: 50).
        eps: the smallest time used for training and sampling.

    Note:
        Song et al.'s code uses ``std(t) = sigma(t)``; the paper writes the exact kernel
        ``sigma^2(t) - sigma^2(0)``, which we follow. The two differ only for ``t`` near 0.
    """

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0, eps: float = 1e-5) -> None:
        super().__init__(T=1.0, eps=eps)
        _checks.real("VESDE", "sigma_min", sigma_min, low=0.0, low_open=True)
        _checks.real(
            "VESDE",
            "sigma_max",
            sigma_max,
            low=sigma_min,
            low_open=True,
            expected=f"finite with 0 < sigma_min < sigma_max (sigma_min = {sigma_min:g})",
        )
        self.sigma_min = float(sigma_min)
        self.sigma_max = float(sigma_max)
        self.log_ratio = math.log(self.sigma_max / self.sigma_min)

    def __repr__(self) -> str:
        return f"VESDE(sigma_min={self.sigma_min}, sigma_max={self.sigma_max}, eps={self.eps})"

    def sigma(self, t: Tensor) -> Tensor:
        """``sigma(t) = sigma_min (sigma_max / sigma_min) ** t`` (section 3)."""
        return self.sigma_min * torch.exp(t * self.log_ratio)

    def sigma_inverse(self, sigma: Tensor) -> Tensor:
        """The time ``t`` with ``sigma(t) = sigma``; ``[sigma_min, sigma_max]`` maps onto ``[0, T]``.

        Defined for ``sigma > 0`` (``NaN`` below, ``-inf`` at 0); not checked, since
        :class:`~latentkit.score.losses.UniformSigma` calls it on every batch (a value check would wait for
        the device).
        """
        return torch.log(sigma / self.sigma_min) / self.log_ratio

    def g(self, t: Tensor) -> Tensor:
        """``g(t) = sqrt(d sigma^2(t) / dt) = sigma(t) sqrt(2 log(sigma_max / sigma_min))`` (eq. 1)."""
        return self.sigma(t) * math.sqrt(2.0 * self.log_ratio)

    def sde(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        return torch.zeros_like(x), self.g(t)

    def marginal_prob(self, x0: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        # sigma^2(t) - sigma^2(0) = sigma_min^2 (exp(2 t log r) - 1), computed without cancellation.
        std = self.sigma_min * torch.sqrt(torch.expm1(2.0 * t * self.log_ratio))
        return x0, std

    def std_inverse(self, std: Tensor) -> Tensor:
        """The time ``t`` at which the kernel's standard deviation equals ``std``.

        ``std`` must be finite and ``>= 0`` (``ValueError`` otherwise): ``std(t)`` is non-negative, and the
        formula would map ``-s`` to the time of ``s``. ``[0, prior_std()]`` maps onto ``[0, T]``; a larger
        ``std`` gives ``t > T`` (the schedule continued). Checks values: not for hot paths.
        """
        _checks.values("VESDE.std_inverse", "std", std, low=0.0)
        return torch.log1p((std / self.sigma_min) ** 2) / (2.0 * self.log_ratio)

    def prior_std(self) -> float:
        """Standard deviation of the prior, ``sqrt(sigma_max^2 - sigma_min^2)``."""
        return math.sqrt(self.sigma_max**2 - self.sigma_min**2)
