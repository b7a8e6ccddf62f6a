"""Exact scores where ``p_t`` is known, explicit score matching (eq. 3) and the DSM constant (eq. 6).

If ``p_0 = sum_k w_k N(mu_k, tau_k^2 I)`` is an isotropic Gaussian mixture -- or the empirical
distribution of a finite training set, the case ``tau_k = 0`` -- then under a Gaussian kernel of std
``s`` the marginal ``p_t = sum_k w_k N(mu_k, (tau_k^2 + s^2) I)`` is again a mixture and its score is
exact. The posterior ``p(x_0 | x_t)`` is a mixture too, with responsibilities ``r_k(x_t)`` and
component means ``m_k = (s^2 mu_k + tau_k^2 x_t) / (tau_k^2 + s^2)``; Tweedie's formula gives
``grad log p_t(x_t) = (E[x_0 | x_t] - x_t) / s^2``.

The constant of eq. 6 is then

    C(t) = E || grad log p_0t(x_t | x_0) - grad log p_t(x_t) ||^2 = E || x_0 - E[x_0 | x_t] ||^2 / s^4,

the posterior variance of ``x_0`` in units of ``s^4``; weighted by ``lambda(t) = s^2`` it tends to the
data dimension ``d`` as ``s -> 0`` for a continuous density, and to 0 for a finite training set (the
posterior pins the training point down: memorisation). ``J_DSM(theta) = J_ESM(theta) + C`` for every
model ``theta``, which :func:`score_matching_terms` shows on the same draws.

Computations run in float64 (results are returned in the input's dtype): the posterior at small
``s`` is a softmax of large numbers.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
from torch import Tensor

from latentkit._random import randn
from latentkit.score.losses import (
    TSampler,
    Weighting,
    get_t_sampler,
    get_weighting,
    model_score,
    perturb,
)
from latentkit.score.sde import SDE

__all__ = [
    "MixtureMarginals",
    "Estimate",
    "esm_loss",
    "dsm_constant",
    "weighted_dsm_constant",
    "ScoreMatchingTerms",
    "score_matching_terms",
]


class MixtureMarginals:
    """``p_0`` an isotropic Gaussian mixture (or a finite point set) and its exact marginals ``p_t``.

    Arguments:
        means: component means ``(K, *event)`` (the training points for an empirical distribution).
        stds: per-component std ``tau_k`` ``(K,)`` or a float (0: point masses).
        weights: mixture weights ``(K,)`` (default: uniform); normalised here.

    Example:
        >>> mix = MixtureMarginals(torch.tensor([[-1.0], [1.0]]), stds=0.5)
        >>> mix.score(torch.zeros(3, 1), std=torch.tensor(1.0)).abs().max().item()
        0.0
    """

    def __init__(self, means: Tensor, stds: Tensor | float = 0.0, weights: Tensor | None = None) -> None:
        means = torch.as_tensor(means)
        if means.dim() < 2:
            raise ValueError(f"means must have shape (K, *event), got {tuple(means.shape)}")
        k = means.shape[0]
        self.event_shape = tuple(means.shape[1:])
        self.dim = int(math.prod(self.event_shape))
        self.means = means.reshape(k, -1).to(torch.float64)
        self.stds = torch.as_tensor(stds, dtype=torch.float64, device=means.device).expand(k).clone()
        if (self.stds < 0).any():
            raise ValueError("component stds must be non-negative")
        w = torch.ones(k, dtype=torch.float64, device=means.device) if weights is None else \
            torch.as_tensor(weights, dtype=torch.float64, device=means.device)
        if w.shape != (k,) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"weights must be non-negative of shape ({k},)")
        self.weights = w / w.sum()
        self._sq = self.means.pow(2).sum(1)

    @classmethod
    def empirical(cls, points: Tensor) -> "MixtureMarginals":
        """The empirical distribution of a finite set of points ``(N, *event)``."""
        return cls(points, stds=0.0)

    @classmethod
    def from_mixture(cls, mixture) -> "MixtureMarginals":
        """From a :class:`latentkit.data.GaussianMixture` (anything with ``means``, ``stds``, ``weights``)."""
        return cls(torch.as_tensor(mixture.means), torch.as_tensor(mixture.stds), torch.as_tensor(mixture.weights))

    def to(self, device: torch.device | str) -> "MixtureMarginals":
        """A copy on ``device``."""
        return MixtureMarginals(self.means.reshape(-1, *self.event_shape).to(device), self.stds.to(device),
                                self.weights.to(device))

    def __repr__(self) -> str:
        return f"MixtureMarginals(K={self.means.shape[0]}, event_shape={self.event_shape})"

    # -- sampling and densities -------------------------------------------------------------
    def sample(self, n: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """``n`` draws of ``p_0``, shape ``(n, *event)``, on the mixture's device."""
        dev = self.means.device
        idx = torch.multinomial(self.weights.to(generator.device if generator else dev), n, replacement=True,
                                generator=generator).to(dev)
        z = randn((n, self.dim), generator=generator, device=dev, dtype=torch.float64)
        x = self.means[idx] + self.stds[idx, None] * z
        return x.reshape(n, *self.event_shape).to(dtype)

    def _std(self, std: Tensor | float, b: int) -> Tensor:
        s = torch.as_tensor(std, dtype=torch.float64, device=self.means.device)
        return s.expand(b) if s.dim() == 0 else s

    def _logits(self, x: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """Log of ``w_k N(x; mu_k, (tau_k^2 + s^2) I)`` (B, K) and the variances (B, K)."""
        var = self.stds[None, :] ** 2 + s[:, None] ** 2
        sq = (x.pow(2).sum(1, keepdim=True) - 2 * x @ self.means.T + self._sq[None, :]).clamp_min(0.0)
        logits = self.weights.log()[None, :] - 0.5 * self.dim * torch.log(2 * math.pi * var) - 0.5 * sq / var
        return logits, var

    def _flat(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.event_shape:
            raise ValueError(f"expected x of shape (B, {', '.join(map(str, self.event_shape))}), got {tuple(x.shape)}")
        return x.reshape(x.shape[0], -1).to(torch.float64)

    def log_prob(self, x: Tensor, std: Tensor | float = 0.0) -> Tensor:
        """``log p_t(x)`` for the kernel std ``std`` (scalar or ``(B,)``); ``std = 0`` is ``p_0``."""
        xf = self._flat(x)
        logits, _ = self._logits(xf, self._std(std, xf.shape[0]))
        return torch.logsumexp(logits, 1).to(x.dtype)

    def responsibilities(self, x: Tensor, std: Tensor | float) -> Tensor:
        """``r_k(x) = p(component k | x_t = x)``, shape ``(B, K)``, float64."""
        xf = self._flat(x)
        logits, _ = self._logits(xf, self._std(std, xf.shape[0]))
        return torch.softmax(logits, 1)

    def denoise(self, x: Tensor, std: Tensor | float) -> Tensor:
        """The posterior mean ``E[x_0 | x_t = x]`` (the optimal denoiser), float64, shape of ``x``."""
        xf = self._flat(x)
        s = self._std(std, xf.shape[0])
        logits, var = self._logits(xf, s)
        r = torch.softmax(logits, 1)
        a = s[:, None] ** 2 / var                # weight of mu_k in m_k
        b = self.stds[None, :] ** 2 / var        # weight of x_t in m_k
        mean = (r * a) @ self.means + (r * b).sum(1, keepdim=True) * xf
        return mean.reshape(x.shape)

    def score(self, x: Tensor, std: Tensor | float) -> Tensor:
        """``grad_x log p_t(x) = sum_k r_k(x) (mu_k - x) / (tau_k^2 + s^2)``, in ``x``'s dtype."""
        xf = self._flat(x)
        s = self._std(std, xf.shape[0])
        logits, var = self._logits(xf, s)
        r = torch.softmax(logits, 1) / var
        out = r @ self.means - r.sum(1, keepdim=True) * xf
        return out.reshape(x.shape).to(x.dtype)

    def score_fn(self, sde: SDE) -> Callable[[Tensor, Tensor], Tensor]:
        """The exact ``s(x, t) = grad log p_t(x)`` under ``sde``'s kernel, for samplers."""
        return lambda x, t: self.score(x, sde.marginal_std(t))


class Estimate(NamedTuple):
    """A Monte Carlo estimate and its standard error."""

    value: Tensor
    stderr: Tensor


def _mc(values: Tensor) -> Estimate:
    n = values.shape[0]
    return Estimate(values.mean(0), values.std(0) / math.sqrt(n) if n > 1 else torch.zeros_like(values[0]))


class ScoreMatchingTerms(NamedTuple):
    """Per-sample, lambda-weighted terms on the same draws ``(t, x_0, x_t)``; their means are
    ``J_DSM`` (eqs. 4-5), ``J_ESM`` (eq. 3) and the constant ``C`` (eq. 6)."""

    dsm: Tensor    #: lambda ||s_theta - grad log p_0t(x_t | x_0)||^2
    esm: Tensor    #: lambda ||s_theta - grad log p_t(x_t)||^2
    const: Tensor  #: lambda ||grad log p_0t(x_t | x_0) - grad log p_t(x_t)||^2
    t: Tensor      #: the times


def score_matching_terms(model: Callable[..., Tensor] | None, x0: Tensor, sde: SDE, exact: MixtureMarginals, *,
                         cond: Tensor | None = None, t_sampler: TSampler | str = "uniform_t",
                         weighting: Weighting | str = "kernel_variance", generator: torch.Generator | None = None,
                         t: Tensor | float | None = None, noise: Tensor | None = None) -> ScoreMatchingTerms:
    """DSM, ESM and constant terms for a batch ``x0`` drawn from ``exact``'s ``p_0``, on shared draws
    (``t`` and ``noise`` are drawn unless given).

    ``model=None`` gives only the constant (the other two are ``nan``). Nothing is differentiated.
    """
    lam = get_weighting(weighting, sde)
    p = perturb(x0, sde, t_sampler=get_t_sampler(t_sampler, sde), weighting=lam, generator=generator, t=t,
                noise=noise)
    with torch.no_grad():
        # The target and the exact score at the same (rounded) x_t, in float64.
        xt, t64 = p.xt.double(), p.t.double()
        target = sde.kernel_score(xt, x0.double(), t64)
        true = exact.score(xt, sde.marginal_std(t64))
        w = lam(t64)
        const = w * (target - true).pow(2).flatten(1).sum(1)
        if model is None:
            nan = torch.full_like(const, float("nan"))
            return ScoreMatchingTerms(nan, nan, const, p.t)
        dtype = next(iter(model.parameters())).dtype if isinstance(model, torch.nn.Module) else p.xt.dtype
        s = model_score(model, sde, p.xt.to(dtype), p.t.to(dtype), cond).double()
        dsm = w * (s - target).pow(2).flatten(1).sum(1)
        esm = w * (s - true).pow(2).flatten(1).sum(1)
    return ScoreMatchingTerms(dsm, esm, const, p.t)


def esm_loss(model: Callable[..., Tensor], x0: Tensor, sde: SDE, exact: MixtureMarginals, *,
             cond: Tensor | None = None, t_sampler: TSampler | str = "uniform_t",
             weighting: Weighting | str = "kernel_variance", generator: torch.Generator | None = None,
             t: Tensor | float | None = None, reduction: str = "mean") -> Tensor:
    """The (lambda-weighted) explicit score-matching loss, eq. 3: ``lambda(t) ||s_theta(x_t, t) - grad log p_t(x_t)||^2``
    with ``x_t`` drawn through the kernel from ``x0 ~ p_0``. Differentiable in the model's parameters."""
    p = perturb(x0, sde, t_sampler=get_t_sampler(t_sampler, sde), weighting=get_weighting(weighting, sde),
                generator=generator, t=t)
    true = exact.score(p.xt, p.std).detach()
    s = model_score(model, sde, p.xt, p.t, cond)
    per = p.weight * (s - true).pow(2).flatten(1).sum(1)
    return per if reduction == "none" else per.mean()


def dsm_constant(exact: MixtureMarginals, sde: SDE, t: Tensor | float, *, n: int = 4096,
                 generator: torch.Generator | None = None, weighting: Weighting | str | None = None,
                 batch_size: int = 4096) -> Estimate:
    """The DSM constant of eq. 6 at each time in ``t`` (scalar or ``(T,)``), by Monte Carlo over ``n`` draws.

    ``C(t) = E_{x_0, x_t} || grad log p_0t(x_t | x_0) - grad log p_t(x_t) ||^2``, multiplied by
    ``lambda(t)`` when ``weighting`` is given (e.g. ``"kernel_variance"``, for which it tends to the
    data dimension as ``t -> 0`` when ``p_0`` has a density). Returns values and standard errors of
    shape ``t.shape`` in float64.
    """
    ts = torch.as_tensor(t, dtype=torch.float64, device=exact.means.device)
    flat = ts.reshape(-1)
    values, errors = [], []
    for ti in flat:
        chunks = []
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            x0 = exact.sample(m, generator=generator, dtype=torch.float64)
            terms = score_matching_terms(None, x0, sde, exact, t=ti.expand(m),
                                         weighting=weighting if weighting is not None else "unit",
                                         generator=generator)
            chunks.append(terms.const)
        est = _mc(torch.cat(chunks))
        values.append(est.value)
        errors.append(est.stderr)
    return Estimate(torch.stack(values).reshape(ts.shape), torch.stack(errors).reshape(ts.shape))


def weighted_dsm_constant(exact: MixtureMarginals, sde: SDE, *, n: int = 16384,
                          t_sampler: TSampler | str = "uniform_t", weighting: Weighting | str = "kernel_variance",
                          generator: torch.Generator | None = None, batch_size: int = 4096) -> Estimate:
    """The constant of the full objective (eq. 5 with eq. 6): ``E_{t ~ q}[lambda(t) C(t)]``, by Monte Carlo
    with one ``t`` per draw -- the value below which the DSM loss of any model cannot go."""
    chunks = []
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        x0 = exact.sample(m, generator=generator, dtype=torch.float64)
        chunks.append(score_matching_terms(None, x0, sde, exact, t_sampler=t_sampler, weighting=weighting,
                                           generator=generator).const)
    return _mc(torch.cat(chunks))
