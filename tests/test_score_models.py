"""Contract of every score model: shapes, output parameterisations, conditioning, gradients, errors,
save / load; and training through the engine (resume, idempotence, presets)."""

from __future__ import annotations

import io
import math

import pytest
import torch

from latentkit.score import PARAMETERIZATIONS, VESDE, ScoreMLP, ScoreUNet, as_score_fn, dsm_loss
from latentkit.score.train import PRESETS, ScoreConfig, build_model, config_for, fit, train_preset

F64 = torch.float64

MODELS = {
    "mlp": (lambda **kw: ScoreMLP(3, hidden=32, depth=2, **kw), (3,)),
    "unet-8": (lambda **kw: ScoreUNet(1, 8, channels=(8, 16), num_res_blocks=1, **kw), (1, 8, 8)),
    "unet-rgb": (lambda **kw: ScoreUNet(3, 8, channels=(8, 8, 8), num_res_blocks=1, **kw), (3, 8, 8)),
}


def _inputs(shape, n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g, dtype=F64), torch.logspace(-3, 1.5, n, dtype=F64)


def _randomise_output(model):
    last = model.out if isinstance(model, ScoreMLP) else model.conv_out
    torch.nn.init.normal_(last.weight, std=0.1)
    torch.nn.init.normal_(last.bias, std=0.1)
    if isinstance(model, ScoreUNet):
        for block in model.modules():
            if hasattr(block, "conv2"):
                torch.nn.init.normal_(block.conv2.weight, std=0.05)


@pytest.mark.parametrize("name", MODELS)
def test_shapes_gradients_and_save_load(name):
    make, shape = MODELS[name]
    model = make().double()
    _randomise_output(model)
    x, std = _inputs(shape)
    out = model(x, std)
    assert out.shape == x.shape and torch.isfinite(out).all()
    out.pow(2).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, f"parameters without gradient: {missing}"
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    clone = make().double()
    clone.load_state_dict(torch.load(buf, weights_only=True))
    torch.testing.assert_close(clone(x, std), out.detach())
    # a scalar std is broadcast
    torch.testing.assert_close(model(x, std[1]), model(x, std[1].expand(len(x))))


@pytest.mark.parametrize("name", MODELS)
def test_output_parameterisations(name):
    """score = ((c_skip - 1) x + c_out F) / std^2 (edm), F / std (sigma), F (none), with F the raw network."""
    make, shape = MODELS[name]
    x, std = _inputs(shape)
    for kind in PARAMETERIZATIONS:
        torch.manual_seed(0)
        model = make(parameterization=kind, sigma_data=0.7).double()
        _randomise_output(model)
        captured = {}
        last = model.out if isinstance(model, ScoreMLP) else model.conv_out
        last.register_forward_hook(lambda m, i, o: captured.update(F=o))
        score = model(x, std)
        F = captured["F"]
        s = std.reshape(-1, *[1] * len(shape))
        if kind == "edm":
            v = s**2 + 0.49
            d = (0.49 / v) * x + (s * 0.7 / v.sqrt()) * F
            torch.testing.assert_close(score, (d - x) / s**2, rtol=1e-6, atol=1e-6)
        elif kind == "sigma":
            torch.testing.assert_close(score, F / s)
        else:
            torch.testing.assert_close(score, F)
    # zero-initialised output: the edm model starts as the score of N(0, (sigma_data^2 + std^2) I)
    fresh = make(sigma_data=0.7).double()
    torch.testing.assert_close(fresh(x, std), -x / (std.reshape(-1, *[1] * len(shape)) ** 2 + 0.49))
    with pytest.raises(ValueError, match="unknown parameterization 'karras'"):
        make(parameterization="karras")


@pytest.mark.parametrize("name", MODELS)
def test_conditioning_input(name):
    make, shape = MODELS[name]
    model = make(cond_dim=5).double()
    _randomise_output(model)
    x, std = _inputs(shape)
    c1, c2 = torch.zeros(4, 5, dtype=F64), torch.ones(4, 5, dtype=F64)
    assert not torch.allclose(model(x, std, c1), model(x, std, c2))
    with pytest.raises(ValueError, match="conditional .*pass cond"):
        model(x, std)
    with pytest.raises(ValueError, match=r"cond must have shape \(4, 5\)"):
        model(x, std, torch.zeros(4, 3, dtype=F64))
    with pytest.raises(ValueError, match="unconditional"):
        make().double()(x, std, c1)
    # the DSM loss passes cond through, and the sampler's score function too
    sde = VESDE()
    loss = dsm_loss(model, x, sde, cond=c2, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(loss)
    assert as_score_fn(model, sde, c2)(x, torch.full((4,), 0.5, dtype=F64)).shape == x.shape


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"ScoreMLP\(dim=3\) expects x of shape \(B, 3\)"):
        ScoreMLP(3)(torch.zeros(2, 2), torch.ones(2))
    net = ScoreUNet(1, 28, channels=(8, 16))
    with pytest.raises(ValueError, match=r"expects images of shape \(B, 1, 28, 28\), got \(2, 1, 32, 32\)"):
        net(torch.zeros(2, 1, 32, 32), torch.ones(2))
    with pytest.raises(ValueError, match="not divisible"):
        ScoreUNet(1, 28, channels=(8, 16, 32, 64))
    with pytest.raises(ValueError, match="std must be a scalar or of shape"):
        net(torch.zeros(2, 1, 28, 28), torch.ones(3))


def test_paper_sizes_build():
    """Appendix A.1: MNIST 28x28x32 + 14x14x64, CIFAR-10 32/16/8 x 32, two residual blocks each."""
    mnist = build_model(config_for("mnist"), (1, 28, 28), 0.3)
    cifar = build_model(config_for("cifar10"), (3, 32, 32), 0.25)
    assert mnist.channels == (32, 64) and cifar.channels == (32, 32, 32)
    n_mnist = sum(p.numel() for p in mnist.parameters())
    n_cifar = sum(p.numel() for p in cifar.parameters())
    assert 0.3e6 < n_mnist < 2e6 and 0.2e6 < n_cifar < 2e6
    with torch.no_grad():
        assert mnist(torch.zeros(2, 1, 28, 28), torch.ones(2)).shape == (2, 1, 28, 28)
        assert cifar(torch.zeros(2, 3, 32, 32), torch.ones(2)).shape == (2, 3, 32, 32)
    assert PRESETS["mnist"].steps == 80_000 and PRESETS["cifar10"].steps == 90_000
    with pytest.raises(ValueError, match="no score-model preset for dataset 'celeba'"):
        config_for("celeba")


# ------------------------------------------------------------------------------------------ training
def _small(**kw) -> ScoreConfig:
    base = dict(
        steps=40,
        batch_size=32,
        hidden=32,
        depth=2,
        log_every=10,
        checkpoint_every=20,
        progress=False,
        device="cpu",
        ema_decay=0.9,
    )
    base.update(kw)
    return config_for("ring8", **base)


def test_fit_logs_the_identity_and_resumes_bit_identically(tmp_path):
    full = fit(_small(), tmp_path / "full")
    h = full.history
    assert [r["step"] for r in h] == [10, 20, 30, 40]
    for r in h:  # dsm = esm + const on the same draws, up to the zero-mean cross term
        assert math.isfinite(r["esm"]) and r["const"] > 0
        assert r["dsm"] == pytest.approx(r["loss"], rel=1e-4)
    part = fit(_small(steps=20), tmp_path / "part")
    resumed = fit(_small(steps=40), tmp_path / "part")
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert part.trainer.step == 20 and resumed.trainer.step == 40
    again = fit(_small(), tmp_path / "full")  # complete: returns at once with the same weights
    assert again.trainer.step == 40
    torch.testing.assert_close(next(iter(again.model.parameters())), next(iter(full.model.parameters())))


def test_fit_unet_on_a_finite_image_set_tracks_the_empirical_distribution(tmp_path):
    cfg = config_for(
        "digits", steps=4, batch_size=8, channels=(8, 16), log_every=2, progress=False, device="cpu", n_train=64
    )
    run = fit(cfg)
    assert isinstance(run.model, ScoreUNet) and run.exact is not None and run.exact.means.shape == (64, 64)
    assert all(math.isfinite(r["esm"]) for r in run.history)
    # the preset entry point: the chapter's parameter names, n_train=0 meaning the whole set
    out = train_preset(
        {"dataset": "ring8", "steps": 3, "device": "cpu", "seed": 1, "n_train": 0, "threads": 1, "out_dir": ""},
        tmp_path / "preset",
    )
    assert out.trainer.step == 3 and (tmp_path / "preset" / "checkpoint.pt").exists()
