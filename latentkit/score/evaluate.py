"""Evaluating learned codes and conditional score models (Abstreiter et al., sections 2.2-3.2, appendix).

* :func:`dsm_against_constant` -- the central check of eq. 8: on the same draws ``(x_0, x_t)``, the DSM
  loss of a code-conditioned model and the constant ``C`` of eq. 6 for the training set, and their paired
  difference. An unconditional model cannot go below ``C``; a code carrying information about ``x_0`` can.
* the class information of codes is measured by :func:`latentkit.metrics.separability` (silhouette, the
  measure of Figure 4; kNN and linear-probe accuracies);
* :func:`latent_grid` and :func:`sample` -- samples from a grid of codes by the reverse SDE (Figures 2, 3);
* :func:`swap_codes` -- denoise ``x_t`` of one image with the code of another (Figure 10), and
  :func:`swap_effects` -- whether the code moves the result towards its own image;
* :func:`sample_diversity` -- how much samples for one fixed code vary (Figure 11);
* :func:`code_slope` -- how hard the DSM term pulls on the code, against the L1 penalty's weight (chapter 2b).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from latentkit import _checks
from latentkit.score.exact import Estimate, score_matching_terms
from latentkit.score.losses import dsm_loss
from latentkit.score.represent import ReprRun
from latentkit.score.sample import reverse_sde_sample

__all__ = [
    "ConstantComparison",
    "dsm_against_constant",
    "latent_grid",
    "sample",
    "swap_codes",
    "SwapEffects",
    "swap_effects",
    "sample_diversity",
    "code_slope",
]


class ConstantComparison(NamedTuple):
    """DSM loss and the constant of eq. 6 on shared draws at one ``t`` (lambda-weighted, per example)."""

    t: float
    dsm: Estimate  #: lambda(t) ||s_theta(x_t, t, cond) - grad log p_0t(x_t | x_0)||^2
    const: Estimate  #: lambda(t) ||grad log p_0t(x_t | x_0) - grad log p_t(x_t)||^2 for the empirical p_0
    gap: Estimate  #: dsm - const, paired (negative: the condition carries information about x_0)


@torch.no_grad()
def dsm_against_constant(
    run: ReprRun, t: float, *, n: int | None = None, repeats: int = 1, seed: int = 0, batch_size: int = 250
) -> ConstantComparison:
    """Eq. 8's loss against eq. 6's constant at time ``t`` on the run's training set.

    Each of ``n`` training examples (default: all of them), ``repeats`` times, is perturbed to ``x_t``;
    the model is conditioned as it was trained (its code, its label, or nothing) and both terms use the
    run's weighting ``lambda(t)``. The constant is exact for the empirical distribution of the training set
    (:meth:`ReprRun.empirical`), so the comparison needs no trained reference model.

    Checked: ``t`` in ``(0, T]``, ``n >= 1``, ``repeats >= 1`` with at least two pairs in all (standard
    errors), ``batch_size >= 1``.
    """
    where = "dsm_against_constant"
    _checks.time(where, "t", t, run.sde.T)
    if n is not None:
        _checks.integer(where, "n", n, low=1)
    _checks.integer(where, "repeats", repeats, low=1)
    _checks.integer(where, "batch_size", batch_size, low=1)
    pairs = (n if n is not None else run.train_data.x.shape[0]) * repeats
    if pairs < 2:
        raise _checks.error(where, "n * repeats", ">= 2 (a standard error needs two pairs)", repr(pairs))
    g = torch.Generator().manual_seed(seed)
    x_all, y_all = run.train_data.x, run.train_data.y
    idx = torch.arange(x_all.shape[0]) if n is None else torch.randperm(x_all.shape[0], generator=g)[:n]
    idx = idx.repeat(repeats)
    param = next(run.model.parameters())
    exact = run.empirical().to(param.device)
    dsm, const = [], []
    for i in range(0, idx.shape[0], batch_size):
        j = idx[i : i + batch_size]
        x0 = x_all[j].to(param.device, param.dtype)
        y = y_all[j].to(param.device) if y_all is not None else None
        cond = run.condition(x0, y)
        noise = torch.randn(x0.shape, generator=g).to(x0)
        terms = score_matching_terms(
            run.score_model, x0, run.sde, exact, cond=cond, t=float(t), noise=noise, weighting=run.config.weighting
        )
        dsm.append(terms.dsm.cpu())
        const.append(terms.const.cpu())
    d, c = torch.cat(dsm), torch.cat(const)

    def est(v: Tensor) -> Estimate:
        return Estimate(v.mean(), v.std() / math.sqrt(v.numel()))

    return ConstantComparison(float(t), est(d), est(c), est(d - c))


def latent_grid(n: int, low: float = -1.0, high: float = 1.0, dim: int = 2) -> Tensor:
    """An ``n x n`` grid of 2-d codes on ``[low, high]^2`` in row-major order: row ``i`` holds ``z_2`` from
    ``high`` (top) to ``low``, column ``j`` holds ``z_1`` from ``low`` to ``high`` (as the paper's figures);
    ``n >= 1``, ``low < high``."""
    _checks.integer("latent_grid", "n", n, low=1)
    _checks.real("latent_grid", "low", low)
    _checks.real("latent_grid", "high", high, low=low, low_open=True, expected=f"finite and > low = {low:g}")
    if dim != 2:
        raise ValueError(f"a latent grid is drawn for 2-d codes, got dim={dim}")
    a = torch.linspace(low, high, n)
    z2, z1 = torch.meshgrid(a.flip(0), a, indexing="ij")
    return torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)


@torch.no_grad()
def sample(
    run: ReprRun,
    cond: Tensor | None,
    n: int | None = None,
    *,
    steps: int = 200,
    seed: int = 0,
    corrector_steps: int = 0,
) -> Tensor:
    """Samples of the reverse SDE (eq. 2) conditioned on ``cond`` (codes or one-hot labels; one sample
    per row), or ``n`` unconditional samples."""
    param = next(run.model.parameters())
    shape = tuple(run.train_data.x.shape[1:])
    count = cond.shape[0] if cond is not None else n
    if count is None:
        raise ValueError("pass cond, or n for an unconditional model")
    g = torch.Generator().manual_seed(seed)
    return reverse_sde_sample(
        run.score_model,
        run.sde,
        (count, *shape),
        steps=steps,
        cond=cond,
        generator=g,
        corrector_steps=corrector_steps,
        device=param.device,
    ).cpu()


@torch.no_grad()
def swap_codes(run: ReprRun, x0: Tensor, t: float, *, steps: int = 100, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Figure 10: ``out[i, j]`` denoises ``x_t`` of image ``i`` (perturbed to time ``t``) with the code of
    image ``j`` by the reverse SDE from ``t``. The diagonal uses each image's own code. The images of a row
    share the reverse SDE's noise (common random numbers), so that they differ by the code only.

    Returns:
        ``x_t`` of shape ``(n, *event)`` and the denoised images ``out`` of shape ``(n, n, *event)``.
    """
    if run.encoder is None:
        raise ValueError(f"swapping codes needs an encoder run, got code={run.config.code!r}")
    _checks.time("swap_codes", "t", t, run.sde.T)
    _checks.batch("swap_codes", "x0", x0)
    n = x0.shape[0]
    param = next(run.model.parameters())
    g = torch.Generator().manual_seed(seed)
    x0 = x0.to(param.device, param.dtype)
    codes = run.encode(x0)
    std = run.sde.marginal_std(torch.tensor(float(t)))
    xt = x0 + std * torch.randn(x0.shape, generator=g).to(x0)
    rows_x = xt.repeat_interleave(n, dim=0)  # image i, n times
    rows_c = codes.repeat(n, 1)  # codes 0..n-1 for each i
    out = reverse_sde_sample(
        run.score_model,
        run.sde,
        tuple(rows_x.shape),
        steps=steps,
        cond=rows_c,
        x_T=rows_x,
        t_T=float(t),
        generator=g,
        device=param.device,
        noise_rows=torch.arange(n).repeat_interleave(n),
    )
    return xt.cpu(), out.reshape(n, n, *x0.shape[1:]).cpu()


class SwapEffects(NamedTuple):
    """What the code does in Figure 10, as paired differences of mean squared distances (per pixel) over the
    pairs ``i != j`` of :func:`swap_codes`; each a mean over the rows ``i`` with its standard error across rows
    (the rows have independent noise). Negative values are the effects the figure is meant to show."""

    own: Estimate  #: d(out[i, i], x_i) - d(out[i, j], x_i): the own code ends closer to x_i than another
    towards: Estimate  #: d(out[i, j], x_j) - d(out[i, i], x_j): j's code moves out[i, .] towards x_j
    specific: Estimate  #: d(out[i, j], x_j) - mean_k d(out[i, k], x_j), k not i or j: more than others' codes


def swap_effects(x0: Tensor, out: Tensor) -> SwapEffects:
    """The effects of swapped codes (:class:`SwapEffects`) from images ``x0`` ``(n >= 3, *event)`` and
    :func:`swap_codes`'s ``out`` ``(n, n, *event)``. A model that ignores its code, with the row-shared noise
    of :func:`swap_codes`, gives exactly zero for all three."""
    _checks.batch("swap_effects", "x0", x0)
    n = x0.shape[0]
    if n < 3:
        raise _checks.error("swap_effects", "x0", "at least 3 images (a pair and a third)", f"{n}")
    if tuple(out.shape) != (n, n, *x0.shape[1:]):
        raise _checks.error("swap_effects", "out", f"of shape {(n, n, *x0.shape[1:])}", f"{tuple(out.shape)}")
    x, o = x0.double().flatten(1), out.double().flatten(2)
    d = (o[:, :, None] - x[None, None]).pow(2).mean(-1)  # d[i, j, k] = d(out[i, j], x_k)
    i, j = torch.nonzero(~torch.eye(n, dtype=torch.bool), as_tuple=True)
    own = d[i, i, i] - d[i, j, i]
    towards = d[i, j, j] - d[i, i, j]
    others = (d[i, :, j].sum(1) - d[i, i, j] - d[i, j, j]) / (n - 2)  # codes k not i or j, at x_j
    specific = d[i, j, j] - others

    def est(v: Tensor) -> Estimate:
        rows = v.reshape(n, n - 1).mean(1)  # pairs are ordered by i
        return Estimate(rows.mean(), rows.std() / math.sqrt(n))

    return SwapEffects(est(own), est(towards), est(specific))


@torch.no_grad()
def sample_diversity(run: ReprRun, codes: Tensor, per_code: int = 8, *, steps: int = 200, seed: int = 0) -> float:
    """Figure 11's measure: for each code, draw ``per_code`` samples and take the per-pixel standard
    deviation across them; return its mean over pixels and codes (0: the code fixes the sample).
    ``codes`` is ``(K >= 1, d_z)``, ``per_code >= 2`` (a standard deviation)."""
    _checks.batch("sample_diversity", "codes", codes)
    _checks.integer("sample_diversity", "per_code", per_code, low=2)
    cond = codes.repeat_interleave(per_code, dim=0)
    x = sample(run, cond, steps=steps, seed=seed)
    x = x.reshape(codes.shape[0], per_code, -1)
    return float(x.std(dim=1).mean())


def code_slope(run: ReprRun, t: float, *, n: int = 256, seed: int = 0, batch_size: int = 256) -> Estimate:
    """How hard the DSM term of eq. 8 pulls on the code at time ``t``, on the scale of the L1 weight.

    For ``n`` training examples ``x_0^(i)`` with codes ``z_i = E_phi(x_0^(i))`` and one draw of ``x_t`` each,
    the slope of example ``i``'s weighted DSM term ``l_i = lambda(t) ||s_theta(x_t, t, z_i) - grad log
    p_0t(x_t | x_0)||^2`` (eq. 8, summed over pixels as :func:`~latentkit.score.losses.dsm_loss`) with
    respect to its own code: the mean of ``|d l_i / d z_i|`` over the examples and the code's coordinates,
    with its standard error over the examples.

    The L1 penalty of appendix A.1, ``w E ||z||_1``, pulls every coordinate of every code towards zero with
    the slope ``w`` whatever the code's size, and a coordinate at zero stays there while the DSM term's
    slope is below ``w`` (the subgradient condition of an L1 penalty); this is the number to hold against
    ``w``. One draw of the noise per example makes each slope noisy, and the mean of ``|.|`` of a noisy
    slope is at least the size of its mean (Jensen), so a value below ``w`` bounds the mean slope too.
    The score model's output layer starts at zero, so at initialisation the slope is exactly zero.

    Checked: the run has an encoder, ``t`` in ``(0, T]``, ``n >= 2`` (a standard error) and at most the
    training set's size, ``batch_size >= 1``.

    Example:
        >>> from latentkit.score.represent import ReprConfig, fit
        >>> cfg = ReprConfig(dataset="ring8", n_train=64, steps=0, progress=False, device="cpu")
        >>> float(code_slope(fit(cfg), 0.5, n=8).value)  # untrained: the output layer is zero
        0.0
    """
    where = "code_slope"
    if run.encoder is None:
        raise ValueError(f"{where}: the run has no encoder (code={run.config.code!r})")
    _checks.time(where, "t", t, run.sde.T)
    _checks.integer(where, "n", n, low=2, high=run.train_data.x.shape[0])
    _checks.integer(where, "batch_size", batch_size, low=1)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(run.train_data.x.shape[0], generator=g)[:n]
    param = next(run.model.parameters())
    slopes = []
    for i in range(0, n, batch_size):
        x0 = run.train_data.x[idx[i : i + batch_size]].to(param.device, param.dtype)
        noise = torch.randn(x0.shape, generator=g).to(x0)
        z = run.encode(x0).detach().requires_grad_(True)
        with torch.enable_grad():
            per_example = dsm_loss(
                run.score_model,
                x0,
                run.sde,
                cond=z,
                t=torch.full((x0.shape[0],), float(t), device=x0.device, dtype=x0.dtype),
                noise=noise,
                weighting=run.config.weighting,
                reduction="none",
            )
            (grad,) = torch.autograd.grad(per_example.sum(), z)
        slopes.append(grad.abs().mean(1).cpu())
    s = torch.cat(slopes).double()
    return Estimate(s.mean(), s.std() / math.sqrt(s.numel()))
