"""The Gaussian NIF layer (eqs. 11-13, 58) against the exact linear-Gaussian model and brute force, in float64."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from latentkit.nif.gaussian import LOG_2PI, GaussianNIF

torch.set_num_threads(1)
F64 = torch.float64


def random_nif(
    dim_x: int, dim_z: int, seed: int, sigma_scale: float = 1.0
) -> tuple[GaussianNIF, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(dim_x, dim_z, generator=g, dtype=F64)
    b = torch.randn(dim_x, generator=g, dtype=F64)
    sigma = sigma_scale * (0.1 + torch.rand(dim_x, generator=g, dtype=F64))
    return GaussianNIF.from_parameters(A, b, sigma), A, b, sigma


@pytest.mark.parametrize("dim_x,dim_z,seed", [(1, 1, 0), (3, 1, 1), (5, 2, 2), (8, 8, 3), (20, 6, 4), (64, 16, 5)])
def test_log_likelihood_is_the_exact_linear_gaussian_marginal(dim_x, dim_z, seed):
    nif, A, b, sigma = random_nif(dim_x, dim_z, seed)
    x = b + 2.0 * torch.randn(7, dim_x, generator=torch.Generator().manual_seed(seed + 100), dtype=F64)
    exact = MultivariateNormal(b, A @ A.T + torch.diag(sigma)).log_prob(x)
    torch.testing.assert_close(nif.log_likelihood(x), exact, rtol=1e-8, atol=0.0)


def test_log_likelihood_is_stable_for_a_tiny_sigma():
    nif, A, b, sigma = random_nif(10, 3, 7, sigma_scale=1e-7)
    x = b + torch.randn(4, 10, generator=torch.Generator().manual_seed(1), dtype=F64)
    exact = MultivariateNormal(b, A @ A.T + torch.diag(sigma)).log_prob(x)
    got = nif.log_likelihood(x)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, exact, rtol=1e-7, atol=0.0)


def test_eq13_as_printed_carries_an_extra_dim_z_half_log_2pi():
    """The paper's eq. 13 drops the prior's normaliser; log Z^_z - log Z_x exceeds the marginal by dim_z/2 log 2 pi."""
    nif, A, b, sigma = random_nif(6, 2, 8)
    x = torch.randn(3, 6, generator=torch.Generator().manual_seed(2), dtype=F64)
    mu = x - b
    lam = A.T @ torch.diag(1 / sigma) @ A
    u = mu @ torch.diag(1 / sigma) @ A
    eye = torch.eye(2, dtype=F64)
    log_zhat = 0.5 * ((u @ torch.linalg.inv(eye + lam) * u).sum(-1) - torch.logdet(eye + lam) + 2 * LOG_2PI)
    log_zx = 0.5 * ((mu**2 / sigma).sum(-1) + sigma.log().sum() + 6 * LOG_2PI)
    torch.testing.assert_close(log_zhat - log_zx - nif.log_likelihood(x), torch.full((3,), LOG_2PI, dtype=F64))


def test_manifold_term_matches_eq12_as_printed():
    nif, A, b, sigma = random_nif(7, 3, 9)
    x = torch.randn(5, 7, generator=torch.Generator().manual_seed(3), dtype=F64)
    mu = x - b
    lam = A.T @ torch.diag(1 / sigma) @ A
    u = mu @ torch.diag(1 / sigma) @ A
    log_zz = 0.5 * ((u @ torch.linalg.inv(lam) * u).sum(-1) - torch.logdet(lam) + 3 * LOG_2PI)
    log_zx = 0.5 * ((mu**2 / sigma).sum(-1) + sigma.log().sum() + 7 * LOG_2PI)
    torch.testing.assert_close(nif.manifold_term(x), log_zz - log_zx, rtol=1e-10, atol=1e-10)


def _log_lik_grid(A, b, sigma, x, grid):
    """log N(x | A z + b, Sigma) for every z of ``grid`` (G, dim_z)."""
    means = grid @ A.T + b
    return -0.5 * (((x - means) ** 2 / sigma).sum(-1) + sigma.log().sum() + len(b) * LOG_2PI)


def test_stochastic_inverse_is_the_normalised_likelihood_dim_z_1():
    nif, A, b, sigma = random_nif(3, 1, 10)
    x = torch.tensor([0.3, -1.2, 0.8], dtype=F64)
    mean = nif.stochastic_inverse(x[None])[0].detach()
    grid = torch.linspace(float(mean) - 12, float(mean) + 12, 20001, dtype=F64)[:, None]
    log_lik = _log_lik_grid(A, b, sigma, x, grid)
    log_integral = torch.logsumexp(log_lik, 0) + math.log(float(grid[1] - grid[0]))
    torch.testing.assert_close(nif.manifold_term(x[None])[0], log_integral, rtol=1e-9, atol=1e-9)
    log_q_brute = log_lik - log_integral
    log_q = nif.log_stochastic_inverse(grid, x.expand(len(grid), 3))
    torch.testing.assert_close(log_q, log_q_brute, rtol=1e-8, atol=1e-8)


def test_stochastic_inverse_is_the_normalised_likelihood_dim_z_2():
    nif, A, b, sigma = random_nif(4, 2, 11)
    x = torch.tensor([0.5, -0.4, 1.1, 0.0], dtype=F64)
    mean = nif.stochastic_inverse(x[None])[0].detach()
    axes = [torch.linspace(float(m) - 10, float(m) + 10, 801, dtype=F64) for m in mean[0]]
    zz = torch.cartesian_prod(*axes)
    log_lik = _log_lik_grid(A, b, sigma, x, zz)
    cell = float(axes[0][1] - axes[0][0]) * float(axes[1][1] - axes[1][0])
    log_integral = torch.logsumexp(log_lik, 0) + math.log(cell)
    torch.testing.assert_close(nif.manifold_term(x[None])[0], log_integral, rtol=1e-7, atol=1e-7)
    idx = torch.arange(0, len(zz), 997)
    log_q = nif.log_stochastic_inverse(zz[idx], x.expand(len(idx), 4))
    torch.testing.assert_close(log_q, log_lik[idx] - log_integral, rtol=1e-6, atol=1e-6)


def test_pseudo_inverse_solves_the_weighted_least_squares_problem():
    """Proposition 1: the mode of q(z|x) minimises ||x - A z - b||^2_{Sigma^-1}."""
    nif, A, b, sigma = random_nif(9, 4, 12)
    x = torch.randn(6, 9, generator=torch.Generator().manual_seed(4), dtype=F64)
    w = sigma.rsqrt()
    lstsq = torch.linalg.lstsq(w[:, None] * A, (w * (x - b)).T).solution.T
    z_plus = nif.pseudo_inverse(x)
    torch.testing.assert_close(z_plus, lstsq, rtol=1e-9, atol=1e-9)
    grad = ((x - b - z_plus @ A.T) / sigma) @ A  # gradient of the objective vanishes at the mode
    torch.testing.assert_close(grad, torch.zeros_like(grad), rtol=0, atol=1e-9)
    torch.testing.assert_close(nif.stochastic_inverse(x)[0], z_plus)


def test_posterior_differs_from_the_stochastic_inverse_and_is_bayes():
    nif, A, b, sigma = random_nif(5, 2, 13)
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(5), dtype=F64)
    cov_x = A @ A.T + torch.diag(sigma)
    post_mean = (x - b) @ torch.linalg.solve(cov_x, A)  # E[z|x] = A^T (A A^T + Sigma)^-1 (x - b)
    mean, chol = nif.posterior(x)
    torch.testing.assert_close(mean, post_mean)
    post_cov = torch.eye(2, dtype=F64) - A.T @ torch.linalg.solve(cov_x, A)
    torch.testing.assert_close(torch.cholesky_inverse(chol[0, 0]), post_cov)
    assert not torch.allclose(mean, nif.pseudo_inverse(x))


def test_samples_have_the_model_moments_at_every_s_and_t():
    nif, A, b, sigma = random_nif(3, 2, 14)
    g = torch.Generator().manual_seed(6)
    for s, t in [(1.0, 1.0), (0.25, 2.0), (0.0, 0.5)]:
        x = nif.sample(200_000, s=s, t=t, generator=g)
        torch.testing.assert_close(x.mean(0), b, atol=0.03, rtol=0)
        torch.testing.assert_close(torch.cov(x.T), t * A @ A.T + s * torch.diag(sigma), atol=0.06, rtol=0.03)
    z = nif.sample_prior(5, generator=g)
    torch.testing.assert_close(nif.decode(z, s=0.0), z @ A.T + b)


def test_stochastic_inverse_samples_have_mean_z_plus_and_covariance_lambda_inverse():
    nif, A, b, sigma = random_nif(4, 2, 15)
    x = torch.randn(1, 4, generator=torch.Generator().manual_seed(7), dtype=F64).expand(100_000, 4)
    z = nif.sample_stochastic_inverse(x, generator=torch.Generator().manual_seed(8))
    lam = A.T @ torch.diag(1 / sigma) @ A
    torch.testing.assert_close(z.mean(0), nif.pseudo_inverse(x[:1])[0], atol=0.02, rtol=0)
    torch.testing.assert_close(torch.cov(z.T), torch.linalg.inv(lam), atol=0.02, rtol=0.03)


def test_float32_layer_with_float64_compute_matches_float64():
    nif64, A, b, sigma = random_nif(30, 5, 16, sigma_scale=1e-3)
    nif32 = GaussianNIF.from_parameters(A.float(), b.float(), sigma.float(), compute_dtype=F64)
    x = b + torch.randn(4, 30, generator=torch.Generator().manual_seed(9), dtype=F64)
    got = nif32.log_likelihood(x.float())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), nif64.log_likelihood(x), rtol=1e-5, atol=1e-3)


def test_gradients_flow_and_are_finite():
    nif = GaussianNIF(12, 3)
    x = torch.randn(8, 12)
    loss = -(nif.log_likelihood(x).mean() + nif.manifold_term(x).mean())
    loss.backward()
    for p in nif.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_bad_dimensions_and_shapes_are_refused():
    with pytest.raises(ValueError, match="dim_z <= dim_x"):
        GaussianNIF(3, 4)
    nif = GaussianNIF(4, 2)
    with pytest.raises(ValueError, match=r"expects x of shape \(N, 4\)"):
        nif.log_likelihood(torch.randn(2, 5))
    with pytest.raises(ValueError, match="latents of shape"):
        nif.decode(torch.randn(2, 3))
    with pytest.raises(ValueError, match="s must be >= 0"):
        nif.decode(torch.randn(2, 2), s=-1.0)
    rank_deficient = GaussianNIF.from_parameters(
        torch.zeros(4, 2, dtype=F64), torch.zeros(4, dtype=F64), torch.ones(4, dtype=F64)
    )
    with pytest.raises(ValueError, match="full column rank"):
        rank_deficient.pseudo_inverse(torch.randn(1, 4, dtype=F64))
