"""Conditional score matching (eq. 7) and score-based representation learning (eq. 8): encoders,
penalties, the conditioning path, the two-phase schedule, resume, and the evaluation helpers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from latentkit.score import (
    VESDE,
    CodeConditionedScore,
    ImageEncoder,
    MLPEncoder,
    ScoreMLP,
    ScoreUNet,
    code_penalty,
    kl_penalty,
    l1_penalty,
    representation_loss,
)
from latentkit.score.evaluate import (
    dsm_against_constant,
    latent_grid,
    sample,
    sample_diversity,
    swap_codes,
    swap_effects,
)
from latentkit.score.exact import MixtureMarginals
from latentkit.score.represent import ReprConfig, ReprRun, fit

TINY = dict(
    channels=(4, 8),
    num_res_blocks=1,
    enc_hidden=16,
    image_size=8,
    dataset="digits",
    n_train=64,
    batch_size=8,
    progress=False,
    device="cpu",
    log_every=1,
    ema_decay=0.9,
)


def tiny_model(kind: str = "deterministic", dz: int = 3) -> CodeConditionedScore:
    torch.manual_seed(0)
    enc = ImageEncoder(1, 8, channels=(4, 8), num_res_blocks=1, latent_dim=dz, hidden=16, kind=kind)
    score = ScoreUNet(1, 8, channels=(4, 8), num_res_blocks=1, cond_dim=dz, cond_layers=4)
    with torch.no_grad():  # zero-initialised layers (block outputs, the last conv) get weights: the code matters
        for name, p in score.named_parameters():
            if name.endswith("weight") and not p.abs().any():
                p.normal_(0, 0.3)
    return CodeConditionedScore(score, enc)


# ------------------------------------------------------------------------------------------- encoders
@pytest.mark.parametrize("kind", ["deterministic", "probabilistic"])
def test_image_encoder_shapes(kind):
    enc = ImageEncoder(1, 8, channels=(4, 8), num_res_blocks=1, latent_dim=3, hidden=16, kind=kind)
    out = enc(torch.rand(5, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    assert out.z.shape == out.mean.shape == (5, 3)
    if kind == "deterministic":
        assert out.logvar is None and torch.equal(out.z, out.mean)
    else:
        assert out.logvar.shape == (5, 3)
        assert not torch.allclose(out.z, out.mean)  # a draw in training mode
        enc.eval()
        x = torch.rand(5, 1, 8, 8)
        assert torch.equal(enc(x).z, enc(x).mean)  # the mean in eval mode
    assert enc.encode(torch.rand(2, 1, 8, 8)).shape == (2, 3)


def test_mlp_encoder_shapes_and_errors():
    enc = MLPEncoder(2, latent_dim=1, hidden=8, kind="probabilistic")
    assert enc(torch.randn(4, 2)).z.shape == (4, 1)
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        enc(torch.randn(4, 3))
    with pytest.raises(ValueError, match="unknown encoder kind"):
        MLPEncoder(2, kind="vq")
    with pytest.raises(ValueError, match="1, 8, 8"):
        ImageEncoder(1, 8, channels=(4, 8), num_res_blocks=1)(torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match="cond_dim"):
        CodeConditionedScore(ScoreMLP(2, cond_dim=3), MLPEncoder(2, latent_dim=2))
    with pytest.raises(ValueError, match="logvar_offset"):
        MLPEncoder(2, kind="probabilistic", logvar_offset=float("nan"))


def test_logvar_offset_is_a_shift_of_the_log_variance_biases():
    """The authors' ``logvar - 5`` (LOGVAR_OFFSET): codes start with a standard deviation near exp(-2.5), and
    the offset is the same encoder as one without it whose log-variance biases start 5 lower."""
    from latentkit.score import LOGVAR_OFFSET

    assert LOGVAR_OFFSET == -5.0
    torch.manual_seed(0)
    shifted = ImageEncoder(1, 8, channels=(4, 8), num_res_blocks=1, latent_dim=3, hidden=16, kind="probabilistic")
    plain = ImageEncoder(
        1, 8, channels=(4, 8), num_res_blocks=1, latent_dim=3, hidden=16, kind="probabilistic", logvar_offset=0.0
    )
    plain.load_state_dict(shifted.state_dict())
    x = torch.rand(6, 1, 8, 8)
    a, b = shifted(x, sample=False), plain(x, sample=False)
    torch.testing.assert_close(a.logvar, b.logvar - 5.0)
    assert (a.logvar - LOGVAR_OFFSET).abs().max() < 1.0  # the head's own output starts near 0
    with torch.no_grad():
        plain.head[-1].bias[3:] -= 5.0  # the log-variance half of the last layer
    torch.testing.assert_close(plain(x, sample=False).logvar, a.logvar)
    g = torch.Generator().manual_seed(1)
    spread = (shifted(x, sample=True, generator=g).z - a.mean).std()
    assert 0.03 < spread < 0.2  # exp(-2.5) = 0.082, not 1


def test_penalties_match_hand_computation():
    z = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    assert l1_penalty(z).item() == pytest.approx((3.5 + 4.0) / 2)
    mean = torch.tensor([[0.5, -1.0], [2.0, 0.0]], dtype=torch.float64)
    logvar = torch.tensor([[0.0, math.log(4.0)], [math.log(0.25), 1.0]], dtype=torch.float64)
    hand = 0.0
    for m, lv in zip(mean.flatten().tolist(), logvar.flatten().tolist()):
        hand += 0.5 * (m * m + math.exp(lv) - 1 - lv)
    assert kl_penalty(mean, logvar).item() == pytest.approx(hand / 2, rel=1e-12)
    # ... and against torch.distributions' closed form
    q = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    ref = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1).mean()
    assert kl_penalty(mean, logvar).item() == pytest.approx(ref.item(), rel=1e-12)
    # the encoder's own penalty picks KL for a probabilistic output, L1 of the code otherwise
    from latentkit.score import EncoderOutput

    assert code_penalty(EncoderOutput(mean, mean, logvar)).item() == pytest.approx(hand / 2, rel=1e-12)
    assert code_penalty(EncoderOutput(z, z, None)).item() == pytest.approx(3.75)


def test_loss_equals_hand_computation():
    model, sde = tiny_model("deterministic"), VESDE()
    x0 = torch.rand(4, 1, 8, 8)
    t = torch.tensor([0.2, 0.4, 0.6, 0.8])
    noise = torch.randn(4, 1, 8, 8)
    out = representation_loss(model, x0, sde, reg_weight=0.1, t=t, noise=noise)
    std = sde.marginal_std(t)
    xt = x0 + std[:, None, None, None] * noise
    code = model.encoder(x0).z
    s = model.score(xt, std, code)
    lam = sde.sigma(t) ** 2 - sde.sigma_min**2  # the default kernel-variance weighting
    dsm = (lam * (s + noise / std[:, None, None, None]).pow(2).flatten(1).sum(1)).mean()
    assert out.dsm.item() == pytest.approx(dsm.item(), rel=1e-5)
    assert out.penalty.item() == pytest.approx(code.abs().sum(1).mean().item(), rel=1e-6)
    assert out.loss.item() == pytest.approx(dsm.item() + 0.1 * out.penalty.item(), rel=1e-5)


def test_code_changes_score_and_gradients_reach_encoder():
    model, sde = tiny_model("probabilistic"), VESDE()
    xt, std = torch.randn(3, 1, 8, 8), torch.full((3,), 0.5)
    a, _ = model(xt, std, code=torch.zeros(3, 3))
    b, _ = model(xt, std, code=torch.ones(3, 3))
    assert (a - b).abs().max() > 1e-4
    out = representation_loss(
        model, torch.rand(6, 1, 8, 8), sde, reg_weight=1e-3, generator=torch.Generator().manual_seed(1)
    )
    out.loss.backward()
    grads = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    with pytest.raises(ValueError, match="exactly one"):
        model(xt, std)


# ------------------------------------------------------------------------------------------- training
def test_config_errors():
    with pytest.raises(ValueError, match="code must be one of"):
        ReprConfig(code="vae")
    with pytest.raises(ValueError, match="frozen_steps needs an encoder"):
        ReprConfig(code="labels", frozen_steps=5)
    with pytest.raises(ValueError, match="t_sampling"):
        ReprConfig(t_sampling="log")
    assert ReprConfig(code="probabilistic").penalty_weight == 1e-7
    assert ReprConfig(code="deterministic").penalty_weight == 1e-5


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_frozen_phase_leaves_encoder_unchanged():
    run = fit(ReprConfig(code="deterministic", steps=3, frozen_steps=3, t_sampling="uniform_sigma", **TINY))
    assert len(run.trainers) == 2 and [tr.step for tr in run.trainers] == [3, 3]
    after_phase1 = run.trainers[0].ema_module("model")
    for k, v in after_phase1.encoder.state_dict().items():
        assert torch.equal(v, run.model.encoder.state_dict()[k]), k
    moved = [not torch.equal(v, run.model.score.state_dict()[k]) for k, v in after_phase1.score.state_dict().items()]
    assert any(moved)
    raw = run.trainers[1].raw("model")
    assert not any(p.requires_grad for p in raw.encoder.parameters())
    assert all(p.requires_grad for p in raw.score.parameters())
    assert not raw.encoder.training  # frozen encoders give their mean codes


@pytest.mark.parametrize("phase", [0, 1])
def test_resume_mid_phase_equals_uninterrupted(tmp_path, phase):
    base = dict(code="probabilistic", t_sampling="fixed", fixed_t=0.6, checkpoint_every=1, **TINY)
    full = fit(ReprConfig(steps=4, frozen_steps=4, **base), tmp_path / "full")
    if phase == 0:  # stopped after 2 of phase 1's 4 steps
        fit(ReprConfig(steps=2, **base), tmp_path / "cut")
    else:  # stopped after 2 of phase 2's 4 steps
        fit(ReprConfig(steps=4, frozen_steps=2, **base), tmp_path / "cut")
    resumed = fit(ReprConfig(steps=4, frozen_steps=4, **base), tmp_path / "cut")
    assert resumed.trainers[-1].start_step == (0 if phase == 0 else 2)
    a, b = _state(full.model), _state(resumed.model)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    again = fit(ReprConfig(steps=4, frozen_steps=4, **base), tmp_path / "cut")  # finished: reloads at once
    assert all(tr.start_step == tr.config.steps for tr in again.trainers)


def test_label_conditional_sampling_on_a_labelled_mixture():
    """Eq. 7 on the 8-Gaussian ring: samples for label k land in mode k."""
    cfg = ReprConfig(
        dataset="ring8",
        n_train=4000,
        code="labels",
        steps=800,
        batch_size=256,
        lr=3e-3,
        progress=False,
        device="cpu",
        hidden=64,
    )
    run = fit(cfg)
    labels = torch.arange(8).repeat_interleave(25)
    x = sample(run, run.condition(y=labels), steps=200, seed=0)
    means = run.train_data.mixture.means
    nearest = torch.cdist(x, means.to(x)).argmin(1)
    assert (nearest == labels).float().mean() > 0.9


def test_label_conditional_sampling_on_digit_images():
    """Eq. 7 on scikit-learn's 8x8 digits: samples asked for class k look like real digits of class k
    (1-nearest-neighbour classifier on the real training digits; chance is 0.1)."""
    from latentkit import metrics

    cfg = ReprConfig(
        dataset="digits",
        image_size=8,
        code="labels",
        channels=(16, 32),
        num_res_blocks=1,
        steps=1200,
        batch_size=64,
        lr=2e-3,
        progress=False,
        device="cpu",
    )
    run = fit(cfg)
    asked = torch.arange(10).repeat_interleave(10)
    x = sample(run, run.condition(y=asked), steps=200, seed=0)
    acc = metrics.knn_accuracy(run.train_data.x.flatten(1), run.train_data.y, x.flatten(1), asked, k=1)
    assert acc >= 0.7


# ------------------------------------------------------------------------------------------- evaluation
class _ExactScore(nn.Module):
    """The exact score of the empirical distribution as a 'model' (for the constant's machinery)."""

    def __init__(self, exact: MixtureMarginals) -> None:
        super().__init__()
        self.exact = exact
        self.dummy = nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, x, std):
        return self.exact.score(x.double(), std.double())


def test_dsm_against_constant_is_zero_for_the_exact_score_and_positive_without_a_code():
    run = fit(ReprConfig(code="none", steps=2, **TINY))
    cmp = dsm_against_constant(run, 0.5, repeats=4)
    assert cmp.gap.value > 0  # an untrained model is above the constant
    oracle = ReprRun(run.config, _ExactScore(run.empirical()), run.sde, run.train_data, run.num_classes)
    for t in (0.2, 0.5, 0.8):
        cmp = dsm_against_constant(oracle, t, repeats=2)
        assert abs(float(cmp.gap.value)) < 1e-6 * max(1.0, float(cmp.const.value))
        assert cmp.const.value > 0


def test_grid_swap_and_diversity_shapes():
    g = latent_grid(3, -2, 2)
    assert g.shape == (9, 2)
    assert g[0].tolist() == [-2.0, 2.0] and g[2].tolist() == [2.0, 2.0] and g[-1].tolist() == [2.0, -2.0]
    run = fit(ReprConfig(code="deterministic", steps=2, latent_dim=2, **TINY))
    x = sample(run, g, steps=5)
    assert x.shape == (9, 1, 8, 8) and torch.isfinite(x).all()
    xt, out = swap_codes(run, run.train_data.x[:3], 0.5, steps=5)
    assert xt.shape == (3, 1, 8, 8) and out.shape == (3, 3, 1, 8, 8)
    d = sample_diversity(run, g[:2], per_code=3, steps=5)
    assert d > 0 and math.isfinite(d)


def test_swap_effects_by_hand_and_zero_for_a_model_that_ignores_its_code():
    torch.manual_seed(3)
    x = torch.rand(4, 1, 3, 3, dtype=torch.float64)
    n = 4

    def d(a, b):
        return (a - b).pow(2).mean().item()

    # a perfect swap: out[i, j] = x_j
    perfect = x[None].expand(n, n, 1, 3, 3)
    eff = swap_effects(x, perfect)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    own = [-d(x[j], x[i]) for i, j in pairs]
    towards = [-d(x[i], x[j]) for i, j in pairs]
    specific = [-sum(d(x[k], x[j]) for k in range(n) if k not in (i, j)) / (n - 2) for i, j in pairs]
    for est, hand in zip(eff, (own, towards, specific)):
        rows = torch.tensor(hand, dtype=torch.float64).reshape(n, n - 1).mean(1)
        assert est.value.item() == pytest.approx(rows.mean().item(), rel=1e-12) and est.value < 0
        assert est.stderr.item() == pytest.approx(rows.std().item() / 2, rel=1e-12)
    # the code ignored: every image of a row is the same, whatever it is
    blind = (x + 0.3 * torch.randn_like(x))[:, None].expand(n, n, 1, 3, 3)
    assert all(abs(e.value) < 1e-12 and e.stderr < 1e-12 for e in swap_effects(x, blind))
    with pytest.raises(ValueError, match="at least 3"):
        swap_effects(x[:2], perfect[:2, :2])
    with pytest.raises(ValueError, match="out"):
        swap_effects(x, perfect[:3])


def test_swap_codes_rows_share_their_noise():
    """A row of Figure 10 differs by the code only: a score model that ignores its code gives one image per
    row (and different images in different rows)."""
    run = fit(ReprConfig(code="deterministic", steps=0, latent_dim=1, **TINY))
    images = run.train_data.x[:3]

    class Blind(nn.Module):
        def __init__(self):
            super().__init__()
            self.exact, self.cond_dim = MixtureMarginals(images), 1
            self.dummy = nn.Parameter(torch.zeros(()))

        def forward(self, x, std, cond):
            return self.exact.score(x, std).to(x.dtype)

    fake = ReprRun(run.config, CodeConditionedScore(Blind(), run.encoder), run.sde, run.train_data, run.num_classes)
    xt, out = swap_codes(fake, images, 0.4, steps=10)
    assert torch.equal(out[0, 0], out[0, 1]) and torch.equal(out[2, 0], out[2, 2])
    assert not torch.equal(out[0, 0], out[1, 0])
    assert all(abs(e.value) < 1e-12 for e in swap_effects(images, out))


# ------------------------------------------------------------------------------------------- presets
def test_chapter_parameters_become_configs():
    from latentkit.score.represent import codes_configs, config_from_parameters, sweep_configs

    cfg = config_from_parameters({"channels": "8, 16", "classes": "", "image_size": 0, "lr": 0.01, "unknown": 1})
    assert cfg.channels == (8, 16) and cfg.classes is None and cfg.image_size is None and cfg.lr == 0.01
    assert config_from_parameters({"classes": "0,1,2"}).classes == (0, 1, 2)
    runs = codes_configs({"uniform_steps": 7, "sigma_steps": 5, "frozen_steps": 3, "sigma_code": "probabilistic"})
    assert (runs["uniform_t"].steps, runs["uniform_t"].frozen_steps, runs["uniform_t"].t_sampling) == (
        7,
        0,
        "uniform_t",
    )
    assert (runs["uniform_sigma"].code, runs["uniform_sigma"].steps, runs["uniform_sigma"].frozen_steps) == (
        "probabilistic",
        5,
        3,
    )
    assert runs["labels"].code == "labels" and runs["labels"].dataset == "ring8"
    assert "uniform_t_kl" not in runs  # kl_steps = 0: no KL run
    more = codes_configs({"uniform_steps": 7, "kl_steps": 4, "diversity_dims": "1, 2,16", "latent_dim": 2})
    kl = more["uniform_t_kl"]
    assert (kl.code, kl.steps, kl.t_sampling, kl.frozen_steps) == ("probabilistic", 4, "uniform_t", 0)
    assert sorted(k for k in more if k.startswith("code_size")) == ["code_size_1", "code_size_16"]
    big = more["code_size_16"]
    assert (big.latent_dim, big.steps, big.code, big.t_sampling) == (16, 7, "deterministic", "uniform_t")
    for bad in ("2,x", "0", "2,2", "1.5"):
        with pytest.raises(ValueError, match="code sizes"):
            codes_configs({"diversity_dims": bad})
    with pytest.raises(ValueError, match="kl_steps"):
        codes_configs({"kl_steps": -1})
    sweep = sweep_configs({"sweep_t": "0.2,0.9", "seeds": 2, "seed": 3, "sweep_steps": 4, "compare_t": 0.5})
    assert sorted(sweep) == ["none", "t0.20_seed3", "t0.20_seed4", "t0.90_seed3", "t0.90_seed4"]
    assert sweep["none"].code == "none" and sweep["none"].fixed_t == 0.5
    assert {c.steps for c in sweep.values()} == {4} and sweep["t0.90_seed4"].fixed_t == 0.9


def test_train_sweep_preset_trains_every_run_and_reuses_them(tmp_path):
    from latentkit.score.represent import train_sweep_preset

    params = {
        "dataset": "digits",
        "image_size": 8,
        "channels": "4,8",
        "n_train": 64,
        "batch_size": 8,
        "sweep_t": "0.3",
        "seeds": 1,
        "sweep_steps": 2,
        "device": "cpu",
        "progress": False,
    }
    runs = train_sweep_preset(params, tmp_path)
    assert sorted(runs) == ["none", "t0.30_seed0"]
    assert (tmp_path / "t0.30_seed0" / "phase_0" / "checkpoint.pt").exists()
    again = train_sweep_preset(params, tmp_path)
    assert all(tr.start_step == 2 for r in again.values() for tr in r.trainers)


def test_paper_presets_build_the_papers_configs():
    from latentkit.experiments import registry
    from latentkit.score.represent import codes_configs, sweep_configs

    mnist = codes_configs(registry.get("repr-mnist-codes").parameters)
    assert mnist["uniform_t"].channels == (32, 64) and mnist["uniform_t"].num_res_blocks == 2
    assert mnist["uniform_t"].steps == 80_000 and mnist["uniform_t"].image_size == 28
    assert (mnist["uniform_sigma"].code, mnist["uniform_sigma"].frozen_steps) == ("probabilistic", 80_000)
    assert mnist["uniform_sigma"].penalty_weight == 1e-7 and mnist["uniform_t"].penalty_weight == 1e-5
    assert (mnist["uniform_t_kl"].code, mnist["uniform_t_kl"].steps) == ("probabilistic", 80_000)  # Figure 5
    assert {k for k in mnist if k.startswith("code_size")} == {"code_size_3", "code_size_10", "code_size_128"}
    assert mnist["code_size_128"].steps == 80_000 and mnist["code_size_128"].latent_dim == 128
    assert codes_configs(registry.get("repr-cifar10-codes").parameters)["uniform_t_kl"].steps == 90_000  # Figure 6
    assert codes_configs(registry.get("repr-cifar10-deep").parameters)["uniform_t_kl"].steps == 300_000  # Figure 8
    cifar = codes_configs(registry.get("repr-cifar10-codes").parameters)["uniform_t"]
    assert cifar.classes == (0, 1, 2) and cifar.channels == (32, 32, 32) and cifar.steps == 90_000
    deep = codes_configs(registry.get("repr-cifar10-deep").parameters)["uniform_t"]
    assert deep.classes is None and deep.channels == (32, 64, 64, 64) and deep.num_res_blocks == 8
    sweep = sweep_configs(registry.get("repr-mnist-single-t").parameters)
    assert len(sweep) == 1 + 10 * 3 and {c.steps for c in sweep.values()} == {80_000}


class _PinnedOrFree(nn.Module):
    """Exact conditional scores: code > 0 pins p_0 to one image, code < 0 leaves two equally likely."""

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.one, self.two = MixtureMarginals(images[:1]), MixtureMarginals(images[:2])
        self.cond_dim = 1
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x, std, cond):
        pinned = (cond[:, 0] > 0).view(-1, *[1] * (x.dim() - 1))
        return torch.where(pinned, self.one.score(x, std), self.two.score(x, std)).to(x.dtype)


def test_sample_diversity_is_zero_when_the_code_pins_the_sample():
    run = fit(ReprConfig(code="deterministic", steps=0, latent_dim=1, **TINY))
    images = run.train_data.x[:2]
    fake = ReprRun(
        run.config, CodeConditionedScore(_PinnedOrFree(images), run.encoder), run.sde, run.train_data, run.num_classes
    )
    pinned = sample_diversity(fake, torch.ones(2, 1), per_code=6, steps=300)
    free = sample_diversity(fake, -torch.ones(2, 1), per_code=6, steps=300)
    spread = (images[0] - images[1]).abs().mean().item() / 2
    assert pinned < 0.02 * spread
    assert free > 0.3 * spread
