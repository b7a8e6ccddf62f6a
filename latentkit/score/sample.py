"""Reverse-time sampling (paper eq. 2): Euler-Maruyama predictor and Langevin corrector.

The reverse SDE ``dx = [f(x, t) - g(t)^2 grad log p_t(x)] dt + g(t) dw_bar`` is integrated from the
prior at ``t = T`` down to ``t = eps`` on a uniform grid (Song et al. 2021, "predictor-corrector"
samplers). Each predictor step is Euler-Maruyama; optionally each is followed by ``corrector_steps``
steps of annealed Langevin dynamics at the new time with signal-to-noise ratio ``snr``. The last step
returns the mean of the update (no noise), which removes the final noise of scale ``g(eps) sqrt(dt)``.

Everything runs on the device of the model (or the given ``device`` for a plain score function).

Example:
    >>> import torch
    >>> from latentkit.score import VESDE, MixtureMarginals
    >>> sde = VESDE(sigma_max=5.0)
    >>> mix = MixtureMarginals(torch.tensor([[0.0]]), stds=1.0)
    >>> x = reverse_sde_sample(mix.score_fn(sde), sde, (2000, 1), steps=200,
    ...                        generator=torch.Generator().manual_seed(0))
    >>> round(float(x.std()), 1)
    1.0
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import torch
from torch import Tensor, nn

from latentkit import _checks
from latentkit._random import randn
from latentkit.score.models import as_score_fn
from latentkit.score.sde import SDE, ScoreFn, broadcast

__all__ = ["reverse_sde_sample", "euler_maruyama_step", "langevin_step"]


def euler_maruyama_step(
    x: Tensor, t: Tensor, dt: float, score_fn: ScoreFn, sde: SDE, noise: Tensor
) -> tuple[Tensor, Tensor]:
    """One step of eq. 2 from ``t`` to ``t - dt`` (``dt > 0``); returns ``(x_new, x_mean)``.

    ``x`` is a batch ``(B, *event)``, ``t`` of shape ``(B,)``, ``noise`` and the score of ``x``'s shape.
    """
    _check_step("euler_maruyama_step", x, t, noise)
    _checks.real("euler_maruyama_step", "dt", dt, low=0.0, low_open=True)
    _, g = sde.sde(x, t)
    score = score_fn(x, t)
    _checks.same_shape("euler_maruyama_step", "score_fn's output", score, "x", x)
    x_mean = x - sde.reverse_drift(x, t, score) * dt
    return x_mean + broadcast(g, x) * (dt**0.5) * noise, x_mean


def langevin_step(x: Tensor, t: Tensor, score_fn: ScoreFn, snr: float, noise: Tensor) -> tuple[Tensor, Tensor]:
    """One Langevin corrector step at time ``t`` with step size set by the signal-to-noise ratio ``snr``
    (Song et al. 2021, algorithm 4); returns ``(x_new, x_mean)``. ``snr > 0``; shapes as for
    :func:`euler_maruyama_step`."""
    _check_step("langevin_step", x, t, noise)
    _checks.real("langevin_step", "snr", snr, low=0.0, low_open=True)
    grad = score_fn(x, t)
    _checks.same_shape("langevin_step", "score_fn's output", grad, "x", x)
    grad_norm = grad.flatten(1).norm(dim=1).mean()
    noise_norm = noise.flatten(1).norm(dim=1).mean()
    step = 2 * (snr * noise_norm / grad_norm) ** 2
    x_mean = x + step * grad
    return x_mean + (2 * step) ** 0.5 * noise, x_mean


def _check_step(where: str, x: Tensor, t: Tensor, noise: Tensor) -> None:
    _checks.batch(where, "x", x)
    if tuple(t.shape) != (x.shape[0],):
        raise _checks.error(where, "t", f"of shape ({x.shape[0]},)", f"shape {tuple(t.shape)}")
    _checks.same_shape(where, "noise", noise, "x", x)


@torch.no_grad()
def reverse_sde_sample(
    score: ScoreFn | nn.Module,
    sde: SDE,
    shape: tuple[int, ...],
    *,
    steps: int = 500,
    corrector_steps: int = 0,
    snr: float = 0.16,
    cond: Tensor | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    x_T: Tensor | None = None,
    t_T: float | None = None,
    eps: float | None = None,
    denoise: bool = True,
    callback: Callable[[int, Tensor, Tensor], None] | None = None,
    noise_rows: Tensor | None = None,
) -> Tensor:
    """Samples of ``p_eps`` by integrating the reverse-time SDE (eq. 2) from the prior.

    Arguments:
        score: a score model (called as ``model(x, std[, cond])``, put in eval mode) or a function ``s(x, t)``.
        sde: the forward SDE.
        shape: ``(n, *event)``.
        steps: predictor (Euler-Maruyama) steps.
        corrector_steps: Langevin steps after each predictor step (0: predictor only).
        snr: the corrector's signal-to-noise ratio.
        cond: conditioning input for a conditional model, ``(n, ...)``.
        generator: source of all randomness; may live on another device than the samples.
        device, dtype: where to sample (default: the model's parameters; CPU float32 for a function).
        x_T, t_T: start from ``x_T`` at time ``t_T`` instead of the prior at ``T``.
        eps: the final time (default ``sde.eps``).
        denoise: return the mean of the last update (no noise on the last step).
        callback: called as ``callback(i, t, x)`` after each step.
        noise_rows: common random numbers: row ``b`` takes row ``noise_rows[b]`` of each noise draw (of
            ``noise_rows.max() + 1`` rows), so rows with the same index share the prior draw and every step's
            noise, and differ only by their ``x_T`` and ``cond``. A 1-d integer tensor of length ``n``.

    Checked: ``shape`` of ``>= 2`` positive sizes (``x_T``, ``cond`` and ``noise_rows`` must agree with it),
    ``steps >= 1``, ``corrector_steps >= 0``, ``snr > 0``, ``0 <= eps < t_T <= T`` and ``noise_rows >= 0``.
    """
    where = "reverse_sde_sample"
    shape = tuple(shape)
    if len(shape) < 2 or not all(isinstance(n, numbers.Integral) and n >= 1 for n in shape):
        raise _checks.error(where, "shape", "(n, *event) with n and every event size an int >= 1", repr(shape))
    _checks.integer(where, "steps", steps, low=1)
    _checks.integer(where, "corrector_steps", corrector_steps, low=0)
    _checks.real(where, "snr", snr, low=0.0, low_open=True)
    t_top = _checks.time(where, "t_T", sde.T if t_T is None else t_T, sde.T)
    _checks.real(
        where,
        "eps",
        sde.eps if eps is None else eps,
        low=0.0,
        high=t_top,
        high_open=True,
        expected=f"in [0, t_T) = [0, {t_top:g})",
    )
    if x_T is not None and tuple(x_T.shape) != shape:
        raise _checks.error(where, "x_T", f"of shape {shape} (the shape argument)", f"shape {tuple(x_T.shape)}")
    if cond is not None and (cond.dim() == 0 or cond.shape[0] != shape[0]):
        raise _checks.error(where, "cond", f"of batch size {shape[0]} (shape[0])", f"shape {tuple(cond.shape)}")
    if noise_rows is not None:
        if noise_rows.dtype.is_floating_point or noise_rows.dtype == torch.bool or tuple(noise_rows.shape) != shape[:1]:
            raise _checks.error(
                where,
                "noise_rows",
                f"an integer tensor of shape ({shape[0]},)",
                f"{noise_rows.dtype} {tuple(noise_rows.shape)}",
            )
        if int(noise_rows.min()) < 0:
            raise _checks.error(where, "noise_rows", "indices >= 0", f"min {int(noise_rows.min())}")
    if isinstance(score, nn.Module):
        param = next(iter(score.parameters()), None)
        device = device if device is not None else (param.device if param is not None else None)
        dtype = dtype if dtype is not None else (param.dtype if param is not None else None)
        was_training = score.training
        score.eval()
        score_fn = as_score_fn(score, sde, None if cond is None else cond.to(device))
    else:
        was_training = None
        score_fn = score
    dtype = dtype or torch.get_default_dtype()
    eps = sde.eps if eps is None else float(eps)
    t_start = sde.T if t_T is None else float(t_T)
    rows = None if noise_rows is None else noise_rows.long().cpu()
    draw_shape = shape if rows is None else (int(rows.max()) + 1, *shape[1:])

    def noise(device: torch.device) -> Tensor:
        z = randn(draw_shape, generator=generator, device=device, dtype=dtype)
        return z if rows is None else z[rows.to(device)]

    if x_T is None:
        x = sde.prior_sampling(draw_shape, generator=generator, device=device, dtype=dtype)
        x = x if rows is None else x[rows.to(x.device)]
    else:
        x = x_T.to(device=device, dtype=dtype).clone()
    times = torch.linspace(t_start, eps, steps + 1, dtype=torch.float64)
    x_mean = x
    try:
        for i in range(steps):
            t = torch.full((x.shape[0],), float(times[i]), device=x.device, dtype=dtype)
            dt = float(times[i] - times[i + 1])
            x, x_mean = euler_maruyama_step(x, t, dt, score_fn, sde, noise(x.device))
            t_next = torch.full_like(t, float(times[i + 1]))
            for _ in range(corrector_steps):
                x, x_mean = langevin_step(x, t_next, score_fn, snr, noise(x.device))
            if callback is not None:
                callback(i, t_next, x)
    finally:
        if was_training:
            score.train()  # type: ignore[union-attr]
    return x_mean if denoise else x
