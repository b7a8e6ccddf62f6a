"""Stochastic coupling (section 4.2): the manifold term replaces the log-det; q is the stochastic inverse."""

from __future__ import annotations

import io
import math

import pytest
import torch

from latentkit.nif.coupling import StochasticCoupling
from latentkit.nif.gaussian import LOG_2PI, GaussianNIF

torch.set_num_threads(1)
F64 = torch.float64


def make(dim: int = 6, dim_z2: int = 2, seed: int = 0) -> StochasticCoupling:
    torch.manual_seed(seed)
    layer = StochasticCoupling(dim, dim_z2, hidden=16).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return layer


def test_manifold_term_and_inverse_equal_the_conditional_gaussian_nif():
    layer = make()
    x = torch.randn(4, 6, dtype=F64)
    z, manifold = layer(x, sample=False)
    a, b, log_sigma = layer.conditional(x[:, :3])
    for i in range(4):  # per example: N(x2 | diag(e^a) A z2 + b, diag(e^log_sigma))
        nif = GaussianNIF.from_parameters(a[i].exp()[:, None] * layer.A, b[i], log_sigma[i].exp())
        torch.testing.assert_close(manifold[i], nif.manifold_term(x[i : i + 1, 3:])[0])
        torch.testing.assert_close(z[i, 3:], nif.pseudo_inverse(x[i : i + 1, 3:])[0])
    torch.testing.assert_close(z[:, :3], x[:, :3])


def test_manifold_term_is_the_integral_of_the_likelihood_dim_z2_1():
    layer = make(dim=4, dim_z2=1, seed=1)
    x = torch.randn(1, 4, dtype=F64)
    _, manifold = layer(x, sample=False)
    a, b, log_sigma = (v.detach()[0] for v in layer.conditional(x[:, :2]))
    grid = torch.linspace(-30, 30, 60001, dtype=F64)[:, None]
    means = a.exp() * (grid @ layer.A.detach().T) + b
    log_lik = -0.5 * (((x[0, 2:] - means) ** 2 / log_sigma.exp()).sum(-1) + log_sigma.sum() + 2 * LOG_2PI)
    brute = torch.logsumexp(log_lik, 0) + math.log(float(grid[1] - grid[0]))
    torch.testing.assert_close(manifold[0].detach(), brute, rtol=1e-8, atol=1e-8)


def test_generation_at_s0_is_a_right_inverse_of_the_mode():
    layer = make()
    z = torch.randn(5, layer.out_dim, dtype=F64)
    x = layer.inverse(z, s=0.0)
    z_back, _ = layer(x, sample=False)
    torch.testing.assert_close(z_back, z, rtol=1e-9, atol=1e-9)


def test_samples_of_q_and_its_log_density():
    layer = make(seed=2)
    x = torch.randn(1, 6, dtype=F64).expand(50_000, 6)
    z, _ = layer(x, generator=torch.Generator().manual_seed(0))
    mode, _ = layer(x[:1], sample=False)
    torch.testing.assert_close(z.mean(0), mode[0], atol=0.03, rtol=0)
    log_q = layer.log_stochastic_inverse(z[:3], x[:3])
    a, b, log_sigma = layer.conditional(x[:1, :3])
    nif = GaussianNIF.from_parameters(a[0].exp()[:, None] * layer.A, b[0], log_sigma[0].exp())
    torch.testing.assert_close(log_q, nif.log_stochastic_inverse(z[:3, 3:], x[:3, 3:]))


def test_gradients_save_load_and_refusals():
    layer = make()
    x = torch.randn(3, 6, dtype=F64)
    z, manifold = layer(x, generator=torch.Generator().manual_seed(0))
    (z.square().sum() - manifold.sum()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())
    buffer = io.BytesIO()
    torch.save(layer.state_dict(), buffer)
    buffer.seek(0)
    fresh = StochasticCoupling(6, 2, hidden=16).double()
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    torch.testing.assert_close(fresh(x, sample=False)[1], layer(x, sample=False)[1])
    with pytest.raises(ValueError, match="dim_z2 <= 3"):
        StochasticCoupling(6, 4)
    with pytest.raises(ValueError, match=r"expects \(N, 5\)"):
        layer.inverse(torch.randn(2, 4, dtype=F64))


def test_log_likelihood_is_the_exact_marginal_and_the_bound_is_below_it_by_the_kl():
    layer = make(seed=3)
    x = torch.randn(5, 6, dtype=F64)
    a, b, log_sigma = (v.detach() for v in layer.conditional(x[:, :3]))
    A = layer.A.detach()
    exact, kl = [], []
    for i in range(5):  # x_1 ~ N(0, I); x_2 | x_1 ~ N(b, D A A^T D + Sigma) with D = diag(e^a)
        da = a[i].exp()[:, None] * A
        cov = da @ da.T + torch.diag(log_sigma[i].exp())
        p1 = torch.distributions.MultivariateNormal(torch.zeros(3, dtype=F64), torch.eye(3, dtype=F64))
        p2 = torch.distributions.MultivariateNormal(b[i], cov)
        exact.append(p1.log_prob(x[i, :3]) + p2.log_prob(x[i, 3:]))
        nif = GaussianNIF.from_parameters(da, b[i], log_sigma[i].exp())
        (mq, lq), (mp, lp) = (f(x[i : i + 1, 3:]) for f in (nif.stochastic_inverse, nif.posterior))
        q = torch.distributions.MultivariateNormal(mq[0], precision_matrix=lq[0, 0] @ lq[0, 0].T)
        post = torch.distributions.MultivariateNormal(mp[0], precision_matrix=lp[0, 0] @ lp[0, 0].T)
        kl.append(torch.distributions.kl_divergence(q, post))
    exact, kl = torch.stack(exact), torch.stack(kl)
    with torch.no_grad():
        torch.testing.assert_close(layer.log_likelihood(x), exact, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(layer.log_likelihood(x) - layer.bound(x), kl, rtol=1e-8, atol=1e-10)
    assert bool((kl > 0).all())


def test_bound_is_the_monte_carlo_mean_of_the_single_sample_bound():
    layer = make(seed=4)
    x = torch.randn(1, 6, dtype=F64).expand(200_000, 6)
    with torch.no_grad():
        z, manifold = layer(x, generator=torch.Generator().manual_seed(1))
        single = -0.5 * (z.square().sum(-1) + layer.out_dim * LOG_2PI) + manifold
        analytic = layer.bound(x[:1])[0]
    assert abs(float(single.mean() - analytic)) < 4 * float(single.std()) / math.sqrt(len(single))


def test_initialize_sets_a_to_the_top_principal_directions_of_x2():
    layer = make(dim=7, dim_z2=2, seed=5)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 7, generator=g, dtype=F64) * torch.tensor([1, 1, 1, 3, 0.2, 2, 0.1], dtype=F64)
    layer.initialize(x)
    A = layer.A.detach()
    torch.testing.assert_close(A.T @ A, torch.eye(2, dtype=F64), rtol=0, atol=1e-12)
    evals, evecs = torch.linalg.eigh(torch.cov(x[:, 3:].T))  # ascending
    top = evecs[:, -2:]
    torch.testing.assert_close(A @ A.T, top @ top.T, rtol=0, atol=1e-10)  # the same subspace
    with pytest.raises(ValueError, match=r"N >= 2, 7"):
        layer.initialize(x[:1])
