"""The maths of latentkit.score, checked in float64: the VE SDE, exact mixture scores, the DSM identity
(eq. 6), t-samplers (goodness of fit) and reverse-SDE sampling."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from latentkit.data import GaussianMixture
from latentkit.score import (
    VESDE,
    DensityT,
    FixedT,
    MixtureMarginals,
    ScoreMLP,
    UniformSigma,
    UniformT,
    dsm_constant,
    dsm_loss,
    esm_loss,
    get_t_sampler,
    get_weighting,
    perturb,
    reverse_sde_sample,
    score_matching_terms,
    weighted_dsm_constant,
)

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------------------------- the SDE
def test_vesde_schedule_and_g_is_derivative_of_sigma_squared():
    sde = VESDE()
    t = torch.linspace(0, 1, 11, dtype=F64, requires_grad=True)
    sigma = sde.sigma(t)
    assert sigma[0].item() == pytest.approx(0.01) and sigma[-1].item() == pytest.approx(50.0)
    (dsig2,) = torch.autograd.grad(sigma.pow(2).sum(), t)
    torch.testing.assert_close(sde.g(t.detach()) ** 2, dsig2, rtol=1e-12, atol=0)
    # marginal variance sigma^2(t) - sigma^2(0); its inverse
    std = sde.marginal_std(t.detach())
    torch.testing.assert_close(std**2, sigma.detach() ** 2 - 0.01**2, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(sde.std_inverse(std[1:]), t.detach()[1:], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(sde.sigma_inverse(sigma.detach()), t.detach(), rtol=0, atol=1e-12)
    drift, g = sde.sde(torch.ones(11, 3, dtype=F64), t.detach())
    assert drift.abs().max() == 0 and g.shape == (11,)
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        VESDE(sigma_min=1.0, sigma_max=0.5)


def test_marginal_std_of_the_kernel_matches_samples():
    """200,000 perturbed draws per t: the sample std is within 1% (about 4.5 standard errors) of std(t)."""
    sde = VESDE()
    n = 200_000
    x0 = torch.full((n, 1), 0.7, dtype=F64)
    for t in (0.05, 0.3, 0.7, 1.0):
        tt = torch.full((n,), t, dtype=F64)
        xt = perturb(x0, sde, t=tt, generator=gen(1)).xt
        expected = sde.marginal_std(torch.tensor(t, dtype=F64)).item()
        assert xt.mean().item() == pytest.approx(0.7, abs=4 * expected / math.sqrt(n))
        assert xt.std().item() == pytest.approx(expected, rel=0.01)


def test_kernel_score_and_prior_match_autograd_and_torch_distributions():
    sde = VESDE()
    x0 = torch.randn(6, 3, dtype=F64, generator=gen())
    xt = torch.randn(6, 3, dtype=F64, generator=gen(1)).requires_grad_()
    t = torch.linspace(0.1, 0.9, 6, dtype=F64)
    std = sde.marginal_std(t)
    logp = torch.distributions.Normal(x0, std[:, None]).log_prob(xt).sum()
    (grad,) = torch.autograd.grad(logp, xt)
    torch.testing.assert_close(sde.kernel_score(xt.detach(), x0, t), grad)
    z = sde.prior_sampling((5, 2, 2), generator=gen(), dtype=F64)
    expected = torch.distributions.Normal(0.0, sde.prior_std()).log_prob(z).flatten(1).sum(1)
    torch.testing.assert_close(sde.prior_logp(z), expected)


# ------------------------------------------------------------------------------------- exact mixtures
def _mixture() -> MixtureMarginals:
    means = torch.tensor([[-1.0, 0.5, 0.0], [2.0, -1.0, 1.0], [0.0, 0.0, -2.0]], dtype=F64)
    return MixtureMarginals(
        means, stds=torch.tensor([0.3, 0.05, 1.0], dtype=F64), weights=torch.tensor([0.2, 0.5, 0.3], dtype=F64)
    )


@pytest.mark.parametrize("std", [0.0, 1e-3, 0.1, 1.0, 40.0])
@pytest.mark.parametrize("kind", ["mixture", "empirical", "images"])
def test_exact_score_equals_autograd_of_the_log_density(kind, std):
    if kind == "mixture":
        mix = _mixture()
        x = torch.randn(40, 3, dtype=F64, generator=gen(2)) * 1.5
    elif kind == "empirical":
        if std == 0.0:
            pytest.skip("the empirical distribution has no density at std 0")
        mix = MixtureMarginals.empirical(torch.randn(30, 4, dtype=F64, generator=gen(3)))
        x = mix.sample(40, generator=gen(4), dtype=F64) + std * torch.randn(40, 4, dtype=F64, generator=gen(5))
    else:
        mix = MixtureMarginals(torch.rand(12, 1, 3, 3, dtype=F64, generator=gen(6)), stds=0.05)
        x = torch.rand(40, 1, 3, 3, dtype=F64, generator=gen(7))
    xr = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(mix.log_prob(xr, std).sum(), xr)
    torch.testing.assert_close(mix.score(x, std), grad, rtol=1e-9, atol=1e-9 * max(1.0, grad.abs().max().item()))
    if std > 0:  # Tweedie: score = (E[x0 | xt] - xt) / std^2
        torch.testing.assert_close(mix.score(x, std), (mix.denoise(x, std) - x) / std**2, rtol=1e-8, atol=1e-6)


def test_marginal_of_a_mixture_is_the_convolved_mixture():
    mix = _mixture()
    x = torch.randn(25, 3, dtype=F64, generator=gen(8))
    s = 0.7
    comps = torch.stack(
        [
            torch.distributions.Normal(mu, math.sqrt(tau**2 + s**2)).log_prob(x).sum(1)
            for mu, tau in zip(mix.means, mix.stds)
        ],
        1,
    )
    expected = torch.logsumexp(comps + mix.weights.log(), 1)
    torch.testing.assert_close(mix.log_prob(x, s), expected)
    gm = GaussianMixture.ring().to(dtype=F64)
    ring = MixtureMarginals.from_mixture(gm)
    xr = gm.sample(50, gen(9))[0]
    torch.testing.assert_close(ring.log_prob(xr, 0.0), gm.log_prob(xr))


# ------------------------------------------------------------------------------- the identity (eq. 6)
def _train(model, mix, sde, steps):
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = gen(10)
    for _ in range(steps):
        loss = dsm_loss(model, mix.sample(128, generator=g, dtype=F64), sde, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


@pytest.fixture(scope="module")
def ring_models():
    """Three models theta of different quality from the same random initialisation (output layer
    included): untrained, half-trained (60 steps), trained (500 steps)."""
    sde, mix = VESDE(), MixtureMarginals.from_mixture(GaussianMixture.ring(std=0.1))
    models = {}
    for name, steps in (("untrained", 0), ("half-trained", 60), ("trained", 500)):
        torch.manual_seed(0)
        model = ScoreMLP(2, hidden=64, depth=2, sigma_data=1.4).double()
        torch.nn.init.normal_(model.out.weight, std=1.0)
        models[name] = _train(model, mix, sde, steps)
    return sde, mix, models


def test_dsm_minus_esm_equals_the_constant_for_three_models(ring_models):
    """J_DSM(theta) - J_ESM(theta) = C (eq. 6) for every theta.

    J_DSM - J_ESM is estimated on 20,000 draws (t ~ U[eps, 1], lambda = kernel variance) and C
    independently on another 20,000 draws (weighted_dsm_constant); they must agree within 4 combined
    standard errors. On shared draws the residual -2 (s_theta - s)(k - s) has mean zero: 4 standard errors.
    """
    sde, mix, models = ring_models
    n = 20_000
    const = weighted_dsm_constant(mix, sde, n=n, generator=gen(11))
    esm_values = []
    for name, model in models.items():
        x0 = mix.sample(n, generator=gen(12), dtype=F64)
        terms = score_matching_terms(model, x0, sde, mix, generator=gen(13))
        diff = terms.dsm - terms.esm
        se = math.sqrt((diff.std() / math.sqrt(n)) ** 2 + const.stderr**2)
        assert abs(diff.mean().item() - const.value.item()) < 4 * se, name
        resid = terms.dsm - terms.esm - terms.const
        assert abs(resid.mean().item()) < 4 * resid.std().item() / math.sqrt(n), name
        esm_values.append(terms.esm.mean().item())
    print("J_ESM of the three models:", esm_values, "C:", const)
    # the three models really differ, and the trained one is the closest to the true score
    assert esm_values[0] > esm_values[1] > esm_values[2]
    assert esm_values[0] > 2 * esm_values[2]


def test_esm_loss_is_differentiable_and_matches_terms(ring_models):
    sde, mix, models = ring_models
    model = models["half-trained"]
    x0 = mix.sample(256, generator=gen(14), dtype=F64)
    loss = esm_loss(model, x0, sde, mix, generator=gen(15))
    terms = score_matching_terms(model, x0, sde, mix, generator=gen(15))
    torch.testing.assert_close(loss.detach(), terms.esm.mean(), rtol=1e-9, atol=0)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()


def test_constant_limits_continuous_versus_empirical():
    """lambda C(t) -> d as std -> 0 for a density; -> 0 for a finite set (memorisation); -> 0 as std -> inf."""
    sde = VESDE()
    t_small, t_large = torch.tensor([0.05]), torch.tensor([1.0])  # std 1.2e-2 and 50
    mix = MixtureMarginals(torch.zeros(1, 3, dtype=F64), stds=1.0)  # N(0, I): lambda C = d / (1 + std^2)
    for t in (0.05, 0.5, 0.8):
        s2 = sde.marginal_std(torch.tensor(t, dtype=F64)).item() ** 2
        est = dsm_constant(mix, sde, t, n=8000, generator=gen(16), weighting="kernel_variance")
        assert est.value.item() == pytest.approx(3 / (1 + s2), abs=4 * est.stderr.item())
    points = MixtureMarginals.empirical(torch.randn(20, 3, dtype=F64, generator=gen(17)))
    assert dsm_constant(points, sde, t_small, n=2000, generator=gen(18), weighting="kernel_variance").value < 1e-6
    assert dsm_constant(points, sde, t_large, n=2000, generator=gen(18), weighting="kernel_variance").value < 0.01
    # unweighted C = lambda C / std^2
    w = dsm_constant(mix, sde, 0.5, n=2000, generator=gen(19), weighting="kernel_variance").value
    u = dsm_constant(mix, sde, 0.5, n=2000, generator=gen(19)).value
    torch.testing.assert_close(u, w / sde.marginal_std(torch.tensor(0.5, dtype=F64)) ** 2)


# --------------------------------------------------------------------------------------- t-sampling
N_GOF = 20_000


def _ks(samples: torch.Tensor, cdf) -> float:
    return stats.kstest(samples.double().numpy(), lambda v: cdf(torch.as_tensor(v, dtype=F64)).numpy()).pvalue


def test_uniform_t_draws_uniform_times():
    sde = VESDE()
    t = UniformT(sde)(N_GOF, generator=gen(20))
    assert t.min() >= sde.eps and t.max() <= 1.0
    assert _ks(t, lambda v: (v - sde.eps) / (1 - sde.eps)) > 1e-3


def test_uniform_sigma_draws_uniform_sigmas():
    """sigma(t) of the draws is uniform on [sigma(eps), sigma_max] (paper section 3.2.1)."""
    sde = VESDE()
    t = UniformSigma(sde)(N_GOF, generator=gen(21), dtype=F64)
    sig = sde.sigma(t)
    lo, hi = sde.sigma(torch.tensor(sde.eps, dtype=F64)).item(), 50.0
    assert _ks(sig, lambda v: ((v - lo) / (hi - lo)).clamp(0, 1)) > 1e-3
    # and the density in t it claims, sigma(t) log(r) / (hi - lo), integrates to its cdf
    assert _ks(t, lambda v: (sde.sigma(v) - lo) / (hi - lo)) > 1e-3


def test_fixed_t_and_named_samplers():
    sde = VESDE()
    t = FixedT(0.3)(100, generator=gen(22))
    assert torch.all(t == torch.tensor(0.3))
    assert isinstance(get_t_sampler("uniform_sigma", sde), UniformSigma)
    assert isinstance(get_t_sampler("fixed", sde, t=0.2), FixedT)
    with pytest.raises(ValueError, match="unknown t-sampler 'beta'.*uniform_t"):
        get_t_sampler("beta", sde)


@pytest.mark.parametrize("name", ["polynomial", "with a gap"])
def test_user_density_is_sampled_from_that_density(name):
    if name == "polynomial":  # p(t) ~ t^2 (1 - t) + 0.1 on [0, 1]
        pdf = lambda t: t**2 * (1 - t) + 0.1  # noqa: E731
        prim = lambda t: t**3 / 3 - t**4 / 4 + 0.1 * t  # noqa: E731
    else:  # mass only on [0, 0.2] and [0.6, 1], flat
        pdf = lambda t: ((t < 0.2) | (t > 0.6)).to(t.dtype)  # noqa: E731
        prim = lambda t: t.clamp(max=0.2) + (t - 0.6).clamp(min=0)  # noqa: E731
    sampler = DensityT(pdf, t_min=0.0, t_max=1.0, grid=20001)
    t = sampler(N_GOF, generator=gen(23), dtype=F64)
    one = torch.tensor(1.0, dtype=F64)
    assert _ks(t, lambda v: prim(v) / prim(one)) > 1e-3
    if name == "with a gap":
        assert ((t > 0.2 + 1e-4) & (t < 0.6 - 1e-4)).sum() == 0
    with pytest.raises(ValueError, match="non-negative"):
        DensityT(lambda t: t - 0.5, t_min=0.0, t_max=1.0)


# ------------------------------------------------------------------------------------- the DSM loss
def test_dsm_loss_by_hand_weightings_and_conditioning():
    sde = VESDE()
    model = ScoreMLP(2, hidden=16, depth=1, cond_dim=3).double()
    torch.nn.init.normal_(model.out.weight, std=0.1)
    x0 = torch.randn(8, 2, dtype=F64, generator=gen(24))
    cond = torch.randn(8, 3, dtype=F64, generator=gen(25), requires_grad=True)
    t = torch.linspace(0.1, 0.9, 8, dtype=F64)
    noise = torch.randn(8, 2, dtype=F64, generator=gen(26))
    std = sde.marginal_std(t)
    s = model(x0 + std[:, None] * noise, std, cond)
    by_hand = (std[:, None] ** 2 * (s + noise / std[:, None]) ** 2).sum(1)
    per = dsm_loss(model, x0, sde, cond=cond, t=t, noise=noise, reduction="none")
    torch.testing.assert_close(per, by_hand)
    # gradients reach the conditioning input (the encoder of eq. 8)
    (g,) = torch.autograd.grad(per.mean(), cond)
    assert g.abs().sum() > 0
    for name, expected in (
        ("unit", torch.ones_like(t)),
        ("sigma_squared", sde.sigma(t) ** 2),
        ("likelihood", sde.g(t) ** 2),
        ("kernel_variance", std**2),
    ):
        torch.testing.assert_close(get_weighting(name, sde)(t), expected)
    with pytest.raises(ValueError, match="unknown weighting"):
        get_weighting("sigma", sde)
    with pytest.raises(ValueError, match="batch size"):
        dsm_loss(model, x0, sde, cond=cond[:4])


# -------------------------------------------------------------------------------- reverse-SDE sampling
@pytest.mark.parametrize("corrector_steps", [0, 1])
def test_reverse_sde_from_the_exact_score_recovers_a_1d_mixture(corrector_steps):
    """4,000 samples, 500 predictor steps of the paper's VE SDE (sigma_max = 50) from the exact score of
    0.3 N(-1, 0.3^2) + 0.7 N(2, 0.5^2) (mean 1.1, variance 2.092): mean within 0.1 (about 4 standard
    errors), variance within 10%, the weight of the right mode within 0.03."""
    sde = VESDE()
    mix = MixtureMarginals(
        torch.tensor([[-1.0], [2.0]]), stds=torch.tensor([0.3, 0.5]), weights=torch.tensor([0.3, 0.7])
    )
    x = reverse_sde_sample(
        mix.score_fn(sde), sde, (4000, 1), steps=500, corrector_steps=corrector_steps, generator=gen(27), dtype=F64
    )
    mean = 0.3 * -1 + 0.7 * 2
    var = 0.3 * (0.09 + 1) + 0.7 * (0.25 + 4) - mean**2
    assert x.mean().item() == pytest.approx(mean, abs=0.1)
    assert x.var().item() == pytest.approx(var, rel=0.1)
    assert (x > 0.5).double().mean().item() == pytest.approx(0.7, abs=0.03)


def test_reverse_sde_on_a_model_uses_its_device_and_dtype_and_restores_train_mode():
    sde = VESDE()
    model = ScoreMLP(2, hidden=16, depth=1).double().train()
    x = reverse_sde_sample(model, sde, (10, 2), steps=5, generator=gen(28))
    assert x.dtype == F64 and x.shape == (10, 2) and torch.isfinite(x).all() and model.training


@pytest.mark.parametrize("corrector_steps", [0, 1])
def test_reverse_sde_noise_rows_share_every_draw(corrector_steps):
    """Common random numbers: rows with the same noise index and start end in the same sample, rows with
    different indices do not, and the identity index reproduces the default draws exactly."""
    sde = VESDE(sigma_max=5.0)
    mix = MixtureMarginals(torch.tensor([[-1.0, 0.0], [2.0, 1.0]]), stds=0.3)
    kw = dict(steps=20, corrector_steps=corrector_steps, dtype=F64)
    rows = torch.tensor([0, 0, 0, 1, 1, 1])
    x = reverse_sde_sample(mix.score_fn(sde), sde, (6, 2), generator=gen(3), noise_rows=rows, **kw)
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2]) and torch.equal(x[3], x[5])
    assert not torch.allclose(x[0], x[3])
    # from a given x_T (Figure 10's case): rows 0 and 1 share noise but start apart
    start = torch.tensor([[0.5, 0.5], [1.5, 0.5], [0.5, 0.5]], dtype=F64)
    y = reverse_sde_sample(
        mix.score_fn(sde), sde, (3, 2), x_T=start, t_T=0.3, generator=gen(4), noise_rows=torch.tensor([0, 0, 1]), **kw
    )
    assert not torch.allclose(y[0], y[1]) and not torch.allclose(y[0], y[2])
    plain = reverse_sde_sample(mix.score_fn(sde), sde, (6, 2), generator=gen(5), **kw)
    same = reverse_sde_sample(mix.score_fn(sde), sde, (6, 2), generator=gen(5), noise_rows=torch.arange(6), **kw)
    assert torch.equal(plain, same)
    for bad in (torch.zeros(5, dtype=torch.long), torch.zeros(6), torch.tensor([0, 1, 2, 3, 4, -1])):
        with pytest.raises(ValueError, match="noise_rows"):
            reverse_sde_sample(mix.score_fn(sde), sde, (6, 2), generator=gen(5), noise_rows=bad, **kw)
