"""One contract for every flow layer: shapes, invertibility, log-det against autograd's Jacobian, save/load."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
import torch
from torch import nn

from latentkit.nif.flows import (
    ActNorm,
    AffineCoupling,
    FlowSequence,
    InvConv1x1,
    MultiscaleFlow,
    Reverse,
    Squeeze,
    glow_step,
)
from latentkit.nif.models import DeepNIFPrior

torch.set_num_threads(1)
F64 = torch.float64


def _randomise(module: nn.Module, seed: int) -> None:
    """Perturb every parameter (couplings start as the identity, actnorm at zero) so the checks bite."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g, dtype=p.dtype))


# name -> (factory, input shape of one example)
LAYERS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "actnorm-image": (lambda: ActNorm(3), (3, 4, 4)),
    "actnorm-vector": (lambda: ActNorm(5), (5,)),
    "invconv1x1-image": (lambda: InvConv1x1(4), (4, 3, 3)),
    "invconv1x1-vector": (lambda: InvConv1x1(5), (5,)),
    "affine-coupling-conv": (lambda: AffineCoupling(4, hidden=8), (4, 4, 4)),
    "affine-coupling-conv-odd": (lambda: AffineCoupling(3, hidden=8), (3, 4, 4)),
    "affine-coupling-mlp": (lambda: AffineCoupling(5, hidden=16, kind="mlp", layers=2), (5,)),
    "reverse": (lambda: Reverse(), (5,)),
    "squeeze": (lambda: Squeeze(), (2, 4, 6)),
    "glow-step": (lambda: glow_step(4, hidden=8), (4, 4, 4)),
    "sequence": (lambda: FlowSequence([ActNorm(5), AffineCoupling(5, 8, kind="mlp"), Reverse(), InvConv1x1(5)]), (5,)),
    "multiscale-1ch": (lambda: MultiscaleFlow((1, 8, 8), levels=2, steps=2, hidden=8), (1, 8, 8)),
    "multiscale-3ch": (lambda: MultiscaleFlow((3, 4, 4), levels=2, steps=1, hidden=8), (3, 4, 4)),
    "deep-nif-low-flow": (lambda: DeepNIFPrior(12, 4, couplings=2, hidden=8).flow, (4,)),
}


def _make(name: str, seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    factory, shape = LAYERS[name]
    torch.manual_seed(seed)
    layer = factory().double()
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(seed + 1), dtype=F64)
    layer(x)  # data-dependent initialisation (actnorm) happens on the first batch
    _randomise(layer, seed + 2)
    return layer, x


@pytest.fixture(params=sorted(LAYERS))
def layer_and_x(request):
    return _make(request.param)


@pytest.fixture(params=sorted(LAYERS))
def named_layer(request):
    return (request.param, *_make(request.param))


def test_shapes_and_invertibility(layer_and_x):
    layer, x = layer_and_x
    y, logdet = layer(x)
    assert logdet.shape == (len(x),) and y.shape[0] == len(x)
    assert y.numel() == x.numel(), "a bijection keeps the dimension"
    torch.testing.assert_close(layer.inverse(y), x, rtol=1e-10, atol=1e-10)


def test_log_det_matches_autograd_jacobian(layer_and_x):
    layer, x = layer_and_x
    _, logdet = layer(x)
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(lambda v: layer(v)[0], x[i : i + 1])
        jac = jac.reshape(x[i].numel(), x[i].numel())
        torch.testing.assert_close(logdet[i], torch.linalg.slogdet(jac)[1], rtol=1e-9, atol=1e-9)


def test_save_and_load_reproduces_the_layer(named_layer):
    name, layer, x = named_layer
    buffer = io.BytesIO()
    torch.save(layer.state_dict(), buffer)
    buffer.seek(0)
    torch.manual_seed(123)
    fresh = LAYERS[name][0]().double()
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    y, logdet = layer(x)
    y2, logdet2 = fresh(x)  # no re-initialisation: actnorm's `initialized` buffer was loaded
    torch.testing.assert_close(y2, y)
    torch.testing.assert_close(logdet2, logdet)


def test_gradients_are_finite(layer_and_x):
    layer, x = layer_and_x
    y, logdet = layer(x.clone().requires_grad_(True))
    (y.square().sum() - logdet.sum()).backward()
    for p in layer.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_actnorm_data_dependent_init_normalises_and_happens_once():
    layer = ActNorm(3).double()
    x = 5.0 + 3.0 * torch.randn(64, 3, 4, 4, dtype=F64)
    y, _ = layer(x)
    torch.testing.assert_close(y.mean((0, 2, 3)), torch.zeros(3, dtype=F64), atol=1e-6, rtol=0)
    torch.testing.assert_close(y.std((0, 2, 3), unbiased=False), torch.ones(3, dtype=F64), atol=1e-4, rtol=0)
    assert int(layer.initialized) == 1 and "initialized" in layer.state_dict()
    loc = layer.loc.clone()
    layer(x + 100.0)
    torch.testing.assert_close(layer.loc, loc)


def test_affine_coupling_log_scale_is_bounded():
    layer = AffineCoupling(4, hidden=8, clamp=1.5)
    with torch.no_grad():
        layer.net[-1].bias.fill_(1e3)
    _, logdet = layer(torch.randn(2, 4, 3, 3))
    assert (logdet <= 1.5 * 2 * 9 + 1e-4).all()


def test_refusals():
    with pytest.raises(ValueError, match="divisible by 4"):
        MultiscaleFlow((1, 6, 6), levels=2)
    with pytest.raises(ValueError, match="even height"):
        Squeeze()(torch.randn(1, 1, 3, 4))
    with pytest.raises(ValueError, match="built for images of shape"):
        MultiscaleFlow((1, 8, 8), levels=1, steps=1, hidden=4)(torch.randn(1, 1, 4, 4))
    with pytest.raises(ValueError, match="ActNorm built for 3 channels"):
        ActNorm(3)(torch.randn(2, 4))
