"""Chapter 2b's diagnostic of the code: :func:`latentkit.score.evaluate.code_slope`, the slope of the weighted
DSM term of eq. 8 with respect to each example's code (to be held against the L1 weight of appendix A.1)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from latentkit.score.evaluate import code_slope
from latentkit.score.losses import dsm_loss
from latentkit.score.represent import ReprConfig, fit

RING = ReprConfig(dataset="ring8", n_train=64, batch_size=32, steps=0, progress=False, device="cpu")


def _trained_run():
    run = fit(dataclasses.replace(RING, steps=20, ema_decay=None))
    run.model.double()
    return run


def test_code_slope_is_zero_at_initialisation():
    est = code_slope(fit(RING), 0.5, n=16)
    assert float(est.value) == 0.0 and float(est.stderr) == 0.0


@pytest.mark.parametrize("t", [0.3, 1.0])
def test_code_slope_matches_finite_differences(t):
    run, n, seed, h = _trained_run(), 12, 3, 1e-6
    est = code_slope(run, t, n=n, seed=seed)
    # the same examples and noise, drawn in the same order as code_slope
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(run.train_data.x.shape[0], generator=g)[:n]
    x0 = run.train_data.x[idx].double()
    noise = torch.randn(x0.shape, generator=g).double()
    z = run.encode(x0)

    def loss(codes):
        tt = torch.full((n,), float(t), dtype=torch.float64)
        return dsm_loss(
            run.score_model, x0, run.sde, cond=codes, t=tt, noise=noise, weighting="kernel_variance", reduction="none"
        )

    slopes = torch.zeros_like(z)
    with torch.no_grad():
        for k in range(z.shape[1]):
            e = torch.zeros_like(z)
            e[:, k] = h
            slopes[:, k] = (loss(z + e) - loss(z - e)) / (2 * h)  # example i's loss depends on z_i only
    per_example = slopes.abs().mean(1)
    assert float(per_example.abs().max()) > 0
    assert float(est.value) == pytest.approx(float(per_example.mean()), rel=1e-6)
    assert float(est.stderr) == pytest.approx(float(per_example.std() / n**0.5), rel=1e-5)


def test_code_slope_repeats_with_its_seed():
    run = _trained_run()
    a, b, c = (code_slope(run, 0.7, n=10, seed=s) for s in (1, 1, 2))
    assert float(a.value) == float(b.value) and float(a.value) != float(c.value)


def test_code_slope_checks_its_inputs():
    run = fit(RING)
    with pytest.raises(ValueError, match="no encoder"):
        code_slope(fit(dataclasses.replace(RING, code="none")), 0.5)
    with pytest.raises(ValueError, match="n"):
        code_slope(run, 0.5, n=1)
    with pytest.raises(ValueError, match="n"):
        code_slope(run, 0.5, n=65)
    with pytest.raises(ValueError, match="t"):
        code_slope(run, 0.0)
    with pytest.raises(ValueError, match="batch_size"):
        code_slope(run, 0.5, n=4, batch_size=0)
