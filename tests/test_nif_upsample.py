"""The nearest-neighbour upsampling NIF (section 4.1) equals the dense NIF of its explicit matrix."""

from __future__ import annotations

import pytest
import torch

from latentkit.nif.gaussian import GaussianNIF
from latentkit.nif.upsample import UpsampleNIF, upsampling_matrix

torch.set_num_threads(1)
F64 = torch.float64


def test_upsampling_matrix_is_nearest_neighbour_upsampling():
    z = torch.randn(2, 3, 4, 5)
    up = z.repeat_interleave(2, 2).repeat_interleave(2, 3)
    M = upsampling_matrix(3, 4, 5, 2)
    torch.testing.assert_close(z.flatten(1) @ M.T, up.flatten(1))
    layer = UpsampleNIF((3, 4, 5), factor=2, learn_A=False)
    torch.testing.assert_close(layer.dense_matrix(), M)
    torch.testing.assert_close(layer.manifold_point(z), up)


def perturbed(z_shape, factor, x_channels, seed):
    torch.manual_seed(seed)
    layer = UpsampleNIF(z_shape, factor, x_channels).double()
    with torch.no_grad():
        layer.weight.add_(0.3 * torch.randn_like(layer.weight))
        layer.b.normal_()
        layer.log_sigma.uniform_(-2.0, 1.0)
    dense = GaussianNIF.from_parameters(
        layer.dense_matrix().detach(), layer.b.detach().flatten(), layer.sigma.detach().flatten()
    )
    return layer, dense


@pytest.mark.parametrize(
    "z_shape,factor,x_channels", [((3, 2, 2), 2, None), ((2, 3, 2), 3, None), ((4, 2, 3), 2, 1), ((1, 2, 2), 2, 3)]
)
def test_upsampling_nif_equals_the_dense_nif_of_its_matrix(z_shape, factor, x_channels):
    layer, dense = perturbed(z_shape, factor, x_channels, seed=sum(z_shape) + factor)
    x = torch.randn(5, *layer.x_shape, dtype=F64)
    flat = x.flatten(1)
    torch.testing.assert_close(layer.log_likelihood(x), dense.log_likelihood(flat), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(layer.manifold_term(x), dense.manifold_term(flat), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(layer.pseudo_inverse(x).flatten(1), dense.pseudo_inverse(flat))
    torch.testing.assert_close(layer.posterior(x)[0].flatten(1), dense.posterior(flat)[0])
    z = torch.randn(5, *layer.z_shape, dtype=F64)
    torch.testing.assert_close(layer.log_stochastic_inverse(z, x), dense.log_stochastic_inverse(z.flatten(1), flat))
    torch.testing.assert_close(layer.manifold_point(z).flatten(1), dense.manifold_point(z.flatten(1)))


def test_lambda_is_block_diagonal_with_one_block_per_latent_pixel():
    layer, dense = perturbed((3, 2, 2), 2, None, seed=0)
    A = dense.A.detach()
    lam = A.T @ torch.diag(1 / dense.sigma.detach()) @ A  # dense Lambda, z flattened as (c, i, j)
    blocks = layer.operator().gram(layer.sigma.detach().reciprocal())[0]  # (h w, C_z, C_z)
    perm = torch.arange(12).reshape(3, 2, 2).permute(1, 2, 0).reshape(4, 3)  # pixel -> its channel indices
    for p in range(4):
        torch.testing.assert_close(lam[perm[p]][:, perm[p]], blocks[p])
        others = torch.ones(12, dtype=torch.bool)
        others[perm[p]] = False
        assert lam[perm[p]][:, others].abs().max() == 0


def test_sampling_and_refusals():
    layer = UpsampleNIF((2, 3, 3), factor=2)
    g = torch.Generator().manual_seed(0)
    assert layer.sample(4, s=0.5, t=2.0, generator=g).shape == (4, 2, 6, 6)
    with pytest.raises(ValueError, match="C_z <= C_x k"):
        UpsampleNIF((5, 2, 2), factor=1, x_channels=4)
    with pytest.raises(ValueError, match="expects x of shape"):
        layer.log_likelihood(torch.randn(1, 2, 5, 5))
