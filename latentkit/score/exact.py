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
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from latentkit import _checks
from latentkit.data import GaussianMixture
from latentkit.score.losses import (
    TSampler,
    Weighting,
    call_model,
    check_batch,
    get_t_sampler,
    get_weighting,
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


class MixtureMarginals(GaussianMixture):
    """``p_0`` an isotropic Gaussian mixture (or a finite point set) and its exact marginals ``p_t``.

    A :class:`latentkit.data.GaussianMixture` -- the one implementation of the mixture's density, score,
    posterior mean and draws, whose methods take the kernel std ``std`` of ``p_t`` -- that differs only in
    what score matching needs: it is held in float64 with its weights normalised, ``stds`` defaults to 0,
    and :meth:`sample` returns the points alone, ``(n, *event)`` in ``dtype`` (drawn in float64).

    Arguments:
        means: component means ``(K, *event)`` (the training points for an empirical distribution).
        stds: per-component std ``tau_k`` ``(K,)`` or a float (0: point masses).
        weights: mixture weights ``(K,)`` (default: uniform); normalised here.
        event_shape: the shape of one point (default ``means.shape[1:]``).

    Example:
        >>> mix = MixtureMarginals(torch.tensor([[-1.0], [1.0]]), stds=0.5)
        >>> mix.score(torch.zeros(3, 1), std=torch.tensor(1.0)).abs().max().item()
        0.0
    """

    def __init__(
        self,
        means: Tensor,
        stds: Tensor | float = 0.0,
        weights: Tensor | None = None,
        event_shape: tuple[int, ...] | None = None,
    ) -> None:
        means = torch.as_tensor(means)
        dev = means.device
        k = means.shape[0] if means.dim() else 0
        w = (
            torch.ones(k, dtype=torch.float64, device=dev)
            if weights is None
            else torch.as_tensor(weights, dtype=torch.float64, device=dev)
        )
        if w.shape == (k,) and bool(torch.isfinite(w).all()) and bool((w >= 0).all()) and float(w.sum()) > 0:
            w = w / w.sum()  # (anything else is refused by GaussianMixture, naming weights)
        super().__init__(
            means.to(torch.float64), torch.as_tensor(stds, dtype=torch.float64, device=dev), w, event_shape
        )

    @classmethod
    def from_mixture(cls, mixture: GaussianMixture) -> MixtureMarginals:
        """From a :class:`latentkit.data.GaussianMixture` (anything with ``means``, ``stds``, ``weights``)."""
        return cls(
            torch.as_tensor(mixture.means),
            torch.as_tensor(mixture.stds),
            torch.as_tensor(mixture.weights),
            getattr(mixture, "event_shape", None),
        )

    def sample(self, n: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """``n`` draws of ``p_0``, shape ``(n, *event)``, on the mixture's device (without their components:
        ``GaussianMixture.sample(mix, n, generator)`` gives both)."""
        return self._draw(n, generator)[0].to(dtype)


class Estimate(NamedTuple):
    """A Monte Carlo estimate and its standard error."""

    value: Tensor
    stderr: Tensor


def _mc(values: Tensor) -> Estimate:
    n = values.shape[0]
    return Estimate(values.mean(0), values.std(0) / math.sqrt(n) if n > 1 else torch.zeros_like(values[0]))


def _check_exact_batch(where: str, x0: Tensor, sde: SDE, exact: MixtureMarginals, **kwargs) -> None:
    """:func:`check_batch`, and ``x0`` of ``exact``'s event shape."""
    check_batch(where, x0, sde, **kwargs)
    event = getattr(exact, "event_shape", None)
    if event is not None and tuple(x0.shape[1:]) != tuple(event):
        raise _checks.error(
            where, "x0", f"of shape (B, {', '.join(map(str, event))}) (exact's event shape)", f"shape {tuple(x0.shape)}"
        )


class ScoreMatchingTerms(NamedTuple):
    """Per-sample, lambda-weighted terms on the same draws ``(t, x_0, x_t)``; their means are
    ``J_DSM`` (eqs. 4-5), ``J_ESM`` (eq. 3) and the constant ``C`` (eq. 6)."""

    dsm: Tensor  #: lambda ||s_theta - grad log p_0t(x_t | x_0)||^2
    esm: Tensor  #: lambda ||s_theta - grad log p_t(x_t)||^2
    const: Tensor  #: lambda ||grad log p_0t(x_t | x_0) - grad log p_t(x_t)||^2
    t: Tensor  #: the times


def score_matching_terms(
    model: Callable[..., Tensor] | None,
    x0: Tensor,
    sde: SDE,
    exact: MixtureMarginals,
    *,
    cond: Tensor | None = None,
    t_sampler: TSampler | str = "uniform_t",
    weighting: Weighting | str = "kernel_variance",
    generator: torch.Generator | None = None,
    t: Tensor | float | None = None,
    noise: Tensor | None = None,
) -> ScoreMatchingTerms:
    """DSM, ESM and constant terms for a batch ``x0`` drawn from ``exact``'s ``p_0``, on shared draws
    (``t`` and ``noise`` are drawn unless given).

    ``model=None`` gives only the constant (the other two are ``nan``). Nothing is differentiated.
    ``x0`` must have ``exact``'s event shape, the model's output that of ``x0`` (see :func:`check_batch`
    for ``t``, ``noise`` and ``cond``).
    """
    _check_exact_batch("score_matching_terms", x0, sde, exact, t=t, noise=noise, cond=cond)
    lam = get_weighting(weighting, sde)
    p = perturb(x0, sde, t_sampler=get_t_sampler(t_sampler, sde), weighting=lam, generator=generator, t=t, noise=noise)
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
        s = call_model(model, sde, p.xt.to(dtype), p.t.to(dtype), cond)
        _checks.same_shape("score_matching_terms", "model's output", s, "x0", x0)
        s = s.double()
        dsm = w * (s - target).pow(2).flatten(1).sum(1)
        esm = w * (s - true).pow(2).flatten(1).sum(1)
    return ScoreMatchingTerms(dsm, esm, const, p.t)


def esm_loss(
    model: Callable[..., Tensor],
    x0: Tensor,
    sde: SDE,
    exact: MixtureMarginals,
    *,
    cond: Tensor | None = None,
    t_sampler: TSampler | str = "uniform_t",
    weighting: Weighting | str = "kernel_variance",
    generator: torch.Generator | None = None,
    t: Tensor | float | None = None,
    reduction: str = "mean",
) -> Tensor:
    """The (lambda-weighted) explicit score-matching loss, eq. 3: ``lambda(t) ||s_theta(x_t, t) - grad log p_t(x_t)||^2``
    with ``x_t`` drawn through the kernel from ``x0 ~ p_0``. Differentiable in the model's parameters.
    ``reduction`` is ``"mean"`` or ``"none"``; shapes are checked as for :func:`score_matching_terms`."""
    _checks.one_of("esm_loss", "reduction", reduction, ("mean", "none"))
    _check_exact_batch("esm_loss", x0, sde, exact, t=t, cond=cond)
    p = perturb(
        x0,
        sde,
        t_sampler=get_t_sampler(t_sampler, sde),
        weighting=get_weighting(weighting, sde),
        generator=generator,
        t=t,
    )
    true = exact.score(p.xt, p.std).detach()
    s = call_model(model, sde, p.xt, p.t, cond)
    _checks.same_shape("esm_loss", "model's output", s, "x0", x0)
    per = p.weight * (s - true).pow(2).flatten(1).sum(1)
    return per if reduction == "none" else per.mean()


def dsm_constant(
    exact: MixtureMarginals,
    sde: SDE,
    t: Tensor | float,
    *,
    n: int = 4096,
    generator: torch.Generator | None = None,
    weighting: Weighting | str | None = None,
    batch_size: int = 4096,
) -> Estimate:
    """The DSM constant of eq. 6 at each time in ``t`` (scalar or ``(T,)``), by Monte Carlo over ``n`` draws.

    ``C(t) = E_{x_0, x_t} || grad log p_0t(x_t | x_0) - grad log p_t(x_t) ||^2``, multiplied by
    ``lambda(t)`` when ``weighting`` is given (e.g. ``"kernel_variance"``, for which it tends to the
    data dimension as ``t -> 0`` when ``p_0`` has a density). Returns values and standard errors of
    shape ``t.shape`` in float64.

    Every ``t`` must lie in ``(0, T]``: the constant is an expectation under the kernel ``p_0t``, whose std
    is 0 at ``t = 0`` (``0 / 0``) and which is not defined beyond ``T`` (round-off past ``T`` is accepted:
    ``sde.std_inverse(sigma_max)`` is ``T + 2e-9``). ``n >= 2`` (a standard error needs two draws),
    ``batch_size >= 1``.
    """
    _checks.integer("dsm_constant", "n", n, low=2)
    _checks.integer("dsm_constant", "batch_size", batch_size, low=1)
    ts = torch.as_tensor(t, dtype=torch.float64, device=exact.means.device)
    if ts.numel() == 0:
        raise _checks.error("dsm_constant", "t", "a time or a non-empty tensor of times", "an empty tensor")
    _checks.times("dsm_constant", "t", ts, sde.T)
    flat = ts.reshape(-1)
    values, errors = [], []
    for ti in flat:
        chunks = []
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            x0 = exact.sample(m, generator=generator, dtype=torch.float64)
            terms = score_matching_terms(
                None,
                x0,
                sde,
                exact,
                t=ti.expand(m),
                weighting=weighting if weighting is not None else "unit",
                generator=generator,
            )
            chunks.append(terms.const)
        est = _mc(torch.cat(chunks))
        values.append(est.value)
        errors.append(est.stderr)
    return Estimate(torch.stack(values).reshape(ts.shape), torch.stack(errors).reshape(ts.shape))


def weighted_dsm_constant(
    exact: MixtureMarginals,
    sde: SDE,
    *,
    n: int = 16384,
    t_sampler: TSampler | str = "uniform_t",
    weighting: Weighting | str = "kernel_variance",
    generator: torch.Generator | None = None,
    batch_size: int = 4096,
) -> Estimate:
    """The constant of the full objective (eq. 5 with eq. 6): ``E_{t ~ q}[lambda(t) C(t)]``, by Monte Carlo
    with one ``t`` per draw -- the value below which the DSM loss of any model cannot go. ``n >= 2`` (for the
    standard error), ``batch_size >= 1``."""
    _checks.integer("weighted_dsm_constant", "n", n, low=2)
    _checks.integer("weighted_dsm_constant", "batch_size", batch_size, low=1)
    chunks = []
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        x0 = exact.sample(m, generator=generator, dtype=torch.float64)
        chunks.append(
            score_matching_terms(
                None, x0, sde, exact, t_sampler=t_sampler, weighting=weighting, generator=generator
            ).const
        )
    return _mc(torch.cat(chunks))
