"""IVE-GAN: transforms, networks, eq. 3 and one training step (latentkit.ivegan)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from latentkit.data import ArrayDataset, GaussianMixture
from latentkit.engine import TrainConfig, Trainer
from latentkit.ivegan import (
    ColorJitter,
    Compose,
    GaussianShift,
    IVEGANConfig,
    RandomAffine,
    RandomHorizontalFlip,
    build,
    celeba_transform,
    conv_ivegan,
    discriminator_loss,
    generator_loss,
    loss_terms,
    make_step,
    mixture_shift,
    mlp_ivegan,
    mnist_transform,
    mode_coverage,
)
from latentkit.ivegan.train import chapter_runs

torch.set_num_threads(1)

RANGE = (-1.0, 1.0)


# -- transforms --------------------------------------------------------------------------------------------
def _transforms(strength: float) -> dict[str, tuple[object, tuple[int, ...]]]:
    """name -> (T at this strength, input shape)."""
    return {
        "gaussian_shift": (mixture_shift(0.05, strength), (64, 2)),
        "mnist": (mnist_transform(strength, RANGE), (8, 1, 28, 28)),
        "affine_big": (RandomAffine(10 * strength, 180 * strength, fill=-1.0), (8, 1, 16, 16)),
        "flip": (RandomHorizontalFlip(0.5 * strength), (8, 3, 12, 12)),
        "jitter": (ColorJitter(0.3 * strength, 0.3 * strength, 0.1 * strength, RANGE), (8, 3, 12, 12)),
        "celeba": (celeba_transform(strength, RANGE), (8, 3, 32, 32)),
    }


@pytest.mark.parametrize("name", list(_transforms(1.0)))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_transform_keeps_shape_dtype_device_and_range(name, dtype):
    t, shape = _transforms(1.0)[name]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=g, dtype=dtype) * 2 - 1
    y = t(x, torch.Generator().manual_seed(1))
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
    assert torch.isfinite(y).all()
    assert not torch.equal(y, x), "at strength 1 the transform changes the batch"
    if name != "gaussian_shift":  # images stay in their value range
        assert float(y.min()) >= RANGE[0] - 1e-6 and float(y.max()) <= RANGE[1] + 1e-6
    again = t(x, torch.Generator().manual_seed(1))
    assert torch.equal(y, again), "the same generator gives the same transformation"


@pytest.mark.parametrize("name", list(_transforms(0.0)))
def test_transform_is_the_identity_at_strength_zero(name):
    t, shape = _transforms(0.0)[name]
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert torch.equal(t(x, torch.Generator().manual_seed(1)), x)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("name", list(_transforms(1.0)))
def test_transform_stays_on_the_gpu(name):
    t, shape = _transforms(1.0)[name]
    x = torch.rand(shape, device="cuda") * 2 - 1
    y = t(x)
    assert y.device == x.device and y.shape == x.shape


def test_each_sample_gets_its_own_draw():
    x = torch.zeros(16, 1, 12, 12) - 1
    x[:, :, 4:8, 5:7] = 1.0  # a bar, identical in every image
    y = mnist_transform(1.0, RANGE)(x, torch.Generator().manual_seed(0))
    assert len({tuple(v.flatten().tolist()) for v in y}) == 16


def test_affine_shift_moves_the_centre_of_mass_by_at_most_max_shift_and_rotation_keeps_it():
    x = torch.zeros(32, 1, 32, 32)
    x[:, :, 12:20, 14:18] = 1.0  # centred bar, background 0
    rows, cols = torch.arange(32.0)[:, None], torch.arange(32.0)[None, :]

    def com(img):
        m = img[:, 0]
        return torch.stack([(m * rows).sum((1, 2)), (m * cols).sum((1, 2))], 1) / m.sum((1, 2))[:, None]

    c0 = com(x)
    shifted = RandomAffine(max_shift=3.0, max_degrees=0.0, fill=0.0)(x, torch.Generator().manual_seed(0))
    d = (com(shifted) - c0).abs()
    assert float(d.max()) <= 3.0 + 1e-4 and float(d.max()) > 1.0
    assert torch.allclose(shifted.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=1e-4)  # mass kept away from borders
    rotated = RandomAffine(max_shift=0.0, max_degrees=90.0, fill=0.0)(x, torch.Generator().manual_seed(0))
    assert torch.allclose(com(rotated), c0, atol=0.05)  # rotation about the image centre (15.5, 15.5)


def test_flip_and_gaussian_shift_statistics():
    x = torch.arange(6.0).reshape(1, 1, 1, 6).expand(400, 1, 1, 6).contiguous()
    y = RandomHorizontalFlip(0.5)(x, torch.Generator().manual_seed(0))
    flipped = (y[:, 0, 0, 0] == 5).float().mean()
    assert 0.4 < float(flipped) < 0.6
    assert torch.equal(RandomHorizontalFlip(1.0)(x), x.flip(-1))
    pts = torch.zeros(20000, 2)
    t = mixture_shift(0.1)(pts, torch.Generator().manual_seed(0))  # eq. 4: t ~ N(0, Sigma/2), Sigma = 0.01 I
    assert abs(float(t.var(0).mean()) - 0.01 / 2) < 2e-4
    with pytest.raises(ValueError, match="std"):
        GaussianShift(-1.0)
    with pytest.raises(ValueError, match="images"):
        RandomAffine()(torch.zeros(3, 2))


# -- networks -----------------------------------------------------------------------------------------------
def test_pair_discriminator_order_matters_and_heads_have_the_right_shapes():
    torch.manual_seed(0)
    _, _, d = mlp_ivegan(2, 3, 4)
    a, b = torch.randn(5, 2), torch.randn(5, 2)
    assert not torch.allclose(d.pair(a, b), d.pair(b, a)), "swapping candidate and original changes D"
    pair, marg = d(a, b, torch.cat([a, b]))
    assert pair.shape == (5,) and marg.shape == (10,)
    assert torch.allclose(pair, d.pair(a, b)) and torch.allclose(marg[:5], d.marginal(a))
    # the pair head reads [D_enc(original), D_enc(candidate)]: the original first
    lin = d.pair_head[0]
    h = torch.tanh(F.linear(torch.cat([b, a], 1), lin.weight, lin.bias))
    assert torch.allclose(d.pair_head[2](h).squeeze(1), d.pair(a, b), atol=1e-6)
    torch.manual_seed(0)
    _, _, dc = conv_ivegan(1, 16, width=1 / 16, feature_dim=4)
    dc.eval()
    u, v = torch.rand(3, 1, 16, 16), torch.rand(3, 1, 16, 16)
    assert not torch.allclose(dc.pair(u, v), dc.pair(v, u))


@pytest.mark.parametrize("layout,channels,size", [("mnist", 1, 28), ("mnist", 1, 32), ("celeba", 3, 64)])
def test_conv_networks_map_images_to_codes_and_back(layout, channels, size):
    torch.manual_seed(0)
    e, g, d = conv_ivegan(
        channels, size, z_dim=5, noise_dim=2, layout=layout, width=1 / 32, feature_dim=6, head_width=1 / 16
    )
    x = torch.rand(2, channels, size, size) * 2 - 1
    with torch.no_grad():
        z = e(x)
        out = g(torch.randn(2, 2), z)
    assert z.shape == (2, 5) and float(z.abs().max()) < 1
    assert out.shape == x.shape and float(out.abs().max()) <= 1
    assert d.pair(out, x).shape == (2,) and d.marginal(out).shape == (2,)
    with pytest.raises(ValueError, match="encoder expects"):
        e(torch.rand(2, channels, size + 2, size + 2))
    with pytest.raises(ValueError, match="generator expects"):
        g(torch.randn(2, 3), z)


def test_baseline_discriminator_has_no_pair_head():
    _, _, d = mlp_ivegan(2, pair=False, with_encoder=False)
    with pytest.raises(ValueError, match="no pair head"):
        d.pair(torch.zeros(1, 2), torch.zeros(1, 2))


def test_config_refuses_bad_values():
    with pytest.raises(ValueError, match="method"):
        IVEGANConfig(method="wgan")
    with pytest.raises(ValueError, match="z_dim"):
        IVEGANConfig(z_dim=0)
    with pytest.raises(ValueError, match="square images"):
        build(IVEGANConfig(arch="conv"), (1, 8, 6))


# -- eq. 3 ---------------------------------------------------------------------------------------------------
def test_loss_terms_equal_a_hand_computation():
    pr, pf = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64), torch.tensor([-0.5, 0.7, 0.0], dtype=torch.float64)
    mr, mf = torch.tensor([1.5, -0.1, 0.4], dtype=torch.float64), torch.tensor([0.2, -2.0, 1.1], dtype=torch.float64)
    sig = lambda t: 1 / (1 + torch.exp(-t))  # noqa: E731
    v = (
        torch.log(sig(pr)).mean()
        + torch.log(1 - sig(pf)).mean()
        + torch.log(sig(mr)).mean()
        + torch.log(1 - sig(mf)).mean()
    )
    assert torch.allclose(discriminator_loss(pr, pf, mr, mf), -v)
    terms = loss_terms(pr, pf, mr, mf)
    assert torch.allclose(terms["pair_fake"], -torch.log(1 - sig(pf)).mean())
    assert torch.allclose(generator_loss(pf, mf), -(torch.log(sig(pf)).mean() + torch.log(sig(mf)).mean()))
    assert torch.allclose(
        generator_loss(pf, mf, saturating=True), torch.log(1 - sig(pf)).mean() + torch.log(1 - sig(mf)).mean()
    )
    assert torch.allclose(
        discriminator_loss(None, None, mr, mf), -(torch.log(sig(mr)).mean() + torch.log(1 - sig(mf)).mean())
    )
    with pytest.raises(ValueError, match="together"):
        loss_terms(pr, None, mr, mf)
    # eq. 3's last term as printed: D' also judges G(z', E(x)) (logits mc)
    mc = torch.tensor([-0.3, 0.9, 1.7], dtype=torch.float64)
    assert torch.allclose(discriminator_loss(pr, pf, mr, mf, mc), -v - torch.log(1 - sig(mc)).mean())
    assert torch.allclose(loss_terms(pr, pf, mr, mf, mc)["marginal_recon"], -torch.log(1 - sig(mc)).mean())
    assert torch.allclose(
        generator_loss(pf, mf, marginal_recon=mc),
        -(torch.log(sig(pf)).mean() + torch.log(sig(mf)).mean() + torch.log(sig(mc)).mean()),
    )


def _tiny_run(method: str, dtype=torch.float64, **options):
    torch.set_default_dtype(dtype)
    try:
        cfg = IVEGANConfig(
            dataset="ring8",
            method=method,
            z_dim=3,
            noise_dim=4,
            hidden=8,
            steps=1,
            batch_size=6,
            lr_g=0.05,
            lr_d=0.05,
            device="cpu",
            progress=False,
            **options,
        )
        torch.manual_seed(0)
        e, g, d = build(cfg, (2,))
    finally:
        torch.set_default_dtype(torch.float32)
    modules = {"G": g, "D": d} if e is None else {"E": e, "G": g, "D": d}
    gen_params = list(g.parameters()) + ([] if e is None else list(e.parameters()))
    opts = {"gen": torch.optim.Adam(gen_params, lr=0.05), "disc": torch.optim.Adam(d.parameters(), lr=0.05)}
    tr = Trainer(None, modules, opts, TrainConfig(steps=1, device="cpu", progress=False, finite=("d_loss",)))
    return cfg, tr


@pytest.mark.parametrize("marginal_recon", [False, True])
def test_one_step_equals_eq3_by_hand_and_moves_every_network(marginal_recon):
    cfg, tr = _tiny_run("ivegan", marginal_recon=marginal_recon)
    e0, g0, d0 = (copy.deepcopy(tr.raw(k)) for k in ("E", "G", "D"))
    x = GaussianMixture.ring().sample(6, torch.Generator().manual_seed(3))[0].double()
    t = mixture_shift(0.02)
    torch.manual_seed(7)
    out = make_step(cfg, t)(tr, (x, None))

    # by hand, replaying the step's random draws in order: z, z' (D step), t, then z, z' (G step)
    torch.manual_seed(7)
    n, sig = 6, torch.sigmoid
    z_d = 2 * torch.rand(n, 3, dtype=torch.float64) - 1
    noise_d = torch.randn(2 * n, 4, dtype=torch.float64)
    tx = x + 0.02 / math.sqrt(2) * torch.randn(x.shape, dtype=torch.float64)
    z_g = 2 * torch.rand(n, 3, dtype=torch.float64) - 1
    noise_g = torch.randn(2 * n, 4, dtype=torch.float64)

    def pair(d, c, o):
        return sig(d.pair_head(torch.cat([o, c], 1)).squeeze(1))

    with torch.no_grad():
        rec = g0(noise_d[:n], e0(x))
        gen = g0(noise_d[n:], z_d)
        v = (
            torch.log(pair(d0, tx, x)).mean()
            + torch.log(sig(d0.marginal_head(x).squeeze(1))).mean()
            + torch.log(1 - pair(d0, rec, x)).mean()
            + torch.log(1 - sig(d0.marginal_head(gen).squeeze(1))).mean()
        )
        if marginal_recon:  # eq. 3's last term as printed: D'(G(z', E(x))) is fake too
            v = v + torch.log(1 - sig(d0.marginal_head(rec).squeeze(1))).mean()
    assert abs(float(out["d_loss"]) + float(v)) < 1e-10
    assert ("marginal_recon" in out) == marginal_recon

    d1 = tr.raw("D")  # D after its update (the G step does not change it)
    with torch.no_grad():
        rec = g0(noise_g[:n], e0(x))
        gen = g0(noise_g[n:], z_g)
        g_loss = -(torch.log(pair(d1, rec, x)).mean() + torch.log(sig(d1.marginal_head(gen).squeeze(1))).mean())
        if marginal_recon:
            g_loss = g_loss - torch.log(sig(d1.marginal_head(rec).squeeze(1))).mean()
    assert abs(float(out["g_loss"]) - float(g_loss)) < 1e-10

    for name, before in (("E", e0), ("G", g0), ("D", d0)):
        after = tr.raw(name)
        for (pname, p0), p1 in zip(before.named_parameters(), after.parameters()):
            assert not torch.equal(p0, p1), f"{name}.{pname} did not move"
    assert any(p.requires_grad for p in tr.raw("D").marginal_head.parameters())  # D' is part of D


def test_baseline_step_trains_g_and_d_prime_only():
    cfg, tr = _tiny_run("gan")
    assert "E" not in tr._raw and tr.raw("D").pair_head is None
    g0, d0 = copy.deepcopy(tr.raw("G")), copy.deepcopy(tr.raw("D"))
    x = torch.randn(6, 2, dtype=torch.float64)
    out = make_step(cfg, mixture_shift(0.02))(tr, (x, None))
    assert set(out) == {"d_loss", "g_loss", "marginal_real", "marginal_fake"}
    for before, name in ((g0, "G"), (d0, "D")):
        assert all(not torch.equal(a, b) for a, b in zip(before.parameters(), tr.raw(name).parameters()))


def test_conv_training_step_moves_d_enc_and_both_heads(tmp_path):
    from latentkit.ivegan import fit

    x = torch.rand(16, 1, 16, 16) * 2 - 1
    ds = ArrayDataset(x, torch.zeros(16, dtype=torch.int64))
    cfg = IVEGANConfig(
        dataset="mnist5k",
        arch="conv",
        width=1 / 16,
        feature_dim=4,
        head_width=1 / 8,
        z_dim=2,
        steps=2,
        batch_size=8,
        device="cpu",
        progress=False,
    )
    torch.manual_seed(cfg.seed)
    e0, g0, d0 = build(cfg, (1, 16, 16))
    run = fit(cfg, tmp_path / "run", dataset=ds)
    for before, after in (
        (e0, run.encoder),
        (g0, run.generator),
        (d0.features, run.discriminator.features),
        (d0.pair_head, run.discriminator.pair_head),
        (d0.marginal_head, run.discriminator.marginal_head),
    ):
        assert any(not torch.equal(a, b) for a, b in zip(before.parameters(), after.parameters()))
    again = fit(cfg, tmp_path / "run", dataset=ds)  # a finished run is reloaded, not retrained
    assert again.trainer.step == 2
    assert all(torch.equal(a, b) for a, b in zip(run.generator.parameters(), again.generator.parameters()))


# -- metrics and the chapter's plan --------------------------------------------------------------------------
def test_mode_coverage_of_the_true_mixture_and_of_a_collapsed_one():
    ring = GaussianMixture.ring()
    x, _ = ring.sample(2000, torch.Generator().manual_seed(0))
    cov = mode_coverage(x, ring)
    # in 2-D, P(|x - mu| <= 3 sigma) = 1 - exp(-9/2) = 0.9889
    inside = 1 - math.exp(-4.5)
    assert cov["modes_covered"] == cov["modes_hit"] == 8 and abs(cov["high_quality_share"] - inside) < 0.01
    assert cov["expected_counts"] == pytest.approx([2000 / 8 * inside] * 8)
    assert 0 <= cov["mode_kl"] < 0.01  # an even spread
    one = x[(x[:, 0] > 1.5)]  # the samples of the mode at (2, 0)
    cov = mode_coverage(one, ring)
    assert cov["modes_covered"] == cov["modes_hit"] == 1
    assert cov["mode_kl"] == pytest.approx(math.log(8))  # every high-quality sample on one of 8 modes


def test_mode_coverage_counts_a_mode_only_with_its_share_and_computes_the_reverse_kl_by_hand():
    ring = GaussianMixture.ring()
    means = ring.means
    # 30 samples on mode 0, 10 on mode 1, 1 on mode 2, 9 far from every mode: N = 50
    x = torch.cat([means[0].expand(30, 2), means[1].expand(10, 2), means[2:3], torch.full((9, 2), 10.0)])
    cov = mode_coverage(x, ring, min_share=0.25)
    expected = 50 / 8 * (1 - math.exp(-4.5))  # 6.18 per mode; a quarter: 1.55
    assert cov["counts"][:3] == [30, 10, 1] and cov["expected_counts"][0] == pytest.approx(expected)
    assert cov["modes_hit"] == 3 and cov["modes_covered"] == 2  # one sample is not a quarter of 6.18
    assert cov["high_quality_share"] == pytest.approx(41 / 50)
    q = torch.tensor([30, 10, 1], dtype=torch.float64) / 41
    assert cov["mode_kl"] == pytest.approx(float((q * (8 * q).log()).sum()))  # KL(q || uniform)
    assert mode_coverage(x, ring, min_share=1.0)["modes_covered"] == 2
    assert math.isnan(mode_coverage(torch.full((3, 2), 10.0), ring)["mode_kl"])  # no high-quality sample
    with pytest.raises(ValueError, match="min_share"):
        mode_coverage(x, ring, min_share=0.0)


def test_mode_coverage_expected_counts_follow_the_chi_square_law_for_unequal_components():
    scipy_stats = pytest.importorskip("scipy.stats")
    means = torch.tensor([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]])
    mix = GaussianMixture(means, torch.tensor([0.1, 0.2]), torch.tensor([0.25, 0.75]))
    x, _ = mix.sample(40_000, torch.Generator().manual_seed(0))
    cov = mode_coverage(x, mix, n_std=2.0)  # radius 2 * 0.2: 4 std of the first, 2 of the second
    chi2 = scipy_stats.chi2(3)
    want = [40_000 * 0.25 * chi2.cdf(16.0), 40_000 * 0.75 * chi2.cdf(4.0)]
    assert cov["expected_counts"] == pytest.approx(want)
    assert cov["counts"] == pytest.approx(want, rel=0.02)  # what the data give
    assert cov["modes_covered"] == 2


def test_spread_control_hits_every_ring_mode_but_covers_none():
    from latentkit.ivegan import spread_control

    ring = GaussianMixture.ring()
    x = spread_control(ring, 20_000, seed=0)
    assert torch.allclose(x.norm(dim=1), torch.full((20_000,), 2.0), atol=1e-5)  # on the circle
    cov = mode_coverage(x, ring)
    # a point at angle phi from a mode is 2 r sin(phi / 2) away: within 3 sigma for |phi| <= 2 asin(3 sigma / 2r)
    share = 8 * 2 * math.asin(3 * 0.02 / (2 * 2.0)) / math.pi
    assert abs(cov["high_quality_share"] - share) < 0.005
    assert cov["modes_hit"] == 8 and cov["modes_covered"] == 0 and cov["mode_kl"] < 0.01
    grid = GaussianMixture.grid()
    y = spread_control(grid, 1000, seed=1)
    assert float(y.min()) >= -4.0 and float(y.max()) <= 4.0 and float(y.std(0).min()) > 2.0  # the box
    assert torch.equal(spread_control(ring, 5, seed=3), spread_control(ring, 5, seed=3))


# Chapter 4's parameters at a toy size (chapter_runs only builds configs from them).
_CHAPTER_PARAMS = dict(
    device="cpu",
    seed=0,
    ring_dataset="grid25",
    ring_steps=10,
    ring_batch_size=8,
    ring_hidden=8,
    ring_depth=1,
    ring_activation="tanh",
    ring_lr_g=1e-3,
    ring_lr_d=1e-3,
    ring_beta1=0.5,
    ring_seeds=2,
    image_dataset="mnist5k",
    image_size=0,
    image_layout="mnist",
    image_noise_dim=4,
    image_width=0.25,
    image_feature_dim=16,
    image_head_width=0.5,
    image_steps=10,
    image_batch_size=8,
    image_lr_g=1e-3,
    image_lr_d=1e-3,
    image_beta1=0.5,
    large_code_dim=16,
    code_dim=3,
    tchoice_degrees=180.0,
)


def test_chapter_runs_names_every_model():
    params = dict(_CHAPTER_PARAMS)
    runs = chapter_runs(params)
    assert list(runs) == [
        "ring_ivegan_seed0",
        "ring_gan_seed0",
        "ring_ivegan_seed1",
        "ring_gan_seed1",
        "image_z16",
        "image_z3",
        "image_z3_rot180",
    ]
    assert runs["image_z3_rot180"].max_degrees == 180.0 and runs["image_z3"].max_degrees is None
    assert runs["ring_gan_seed1"].method == "gan" and runs["ring_gan_seed1"].seed == 1


def test_make_transform_follows_the_paper_and_scales_shifts_with_the_image():
    from latentkit.data import load
    from latentkit.ivegan import make_transform

    ring = load("ring8", n=16)
    t = make_transform(IVEGANConfig(dataset="ring8"), ring)
    assert isinstance(t, GaussianShift) and abs(t.std - 0.02 / math.sqrt(2)) < 1e-9  # eq. 4
    t = make_transform(IVEGANConfig(dataset="mnist5k", arch="conv"))
    assert (t.max_shift, t.max_degrees, t.fill) == (4.0, 20.0, -1.0)  # sec. 4.2 at 28 px
    t = make_transform(IVEGANConfig(dataset="mnist5k", arch="conv", size=14, max_degrees=180.0), strength=0.5)
    assert (t.max_shift, t.max_degrees) == (1.0, 90.0)
    t = make_transform(IVEGANConfig(dataset="mnist5k", size=16))  # the chapter's digits: 4 px of 28 -> 2.29 of 16
    assert t.max_shift == pytest.approx(4 * 16 / 28) and t.max_degrees == 20.0
    t = make_transform(IVEGANConfig(dataset="celeba", arch="conv", size=128, layout="celeba"))
    assert isinstance(t, Compose) and t.transforms[0].max_shift == 20.0 and t.transforms[1].p == 0.5
    assert (
        make_transform(IVEGANConfig(dataset="mnist5k", arch="conv"), strength=0.0)(torch.zeros(1, 1, 28, 28)).sum() == 0
    )


# -- keeping codes out of saturation (code_norm) ------------------------------------------------------------
@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_code_norm_keeps_codes_out_of_the_saturated_corners(arch):
    """Training grows the code layer's weights until the plain tanh code saturates (|z| > 0.95 almost
    everywhere); batch norm before the tanh gives each coordinate mean 0 and variance 1 over the batch,
    so the codes spread like ``tanh(N(0, 1))`` -- close to the prior U(-1, 1) -- whatever that scale."""
    shares = {}
    for norm in (False, True):
        torch.manual_seed(0)
        if arch == "mlp":
            e, _, _ = mlp_ivegan(2, 3, 4, code_norm=norm)
            x = torch.randn(512, 2)
        else:
            e, _, _ = conv_ivegan(1, 16, z_dim=3, width=1 / 16, feature_dim=4, code_norm=norm)
            x = torch.rand(256, 1, 16, 16) * 2 - 1
        head = e.body[-1]
        with torch.no_grad():
            head[0].weight.mul_(50.0)  # what a saturating run does to the code layer
            head[0].bias.add_(torch.tensor([5.0, -5.0, 0.0]))
        e.train()
        with torch.no_grad():
            z = e(x)
            pre = head[:-1](e.body[:-1](x))  # the tanh's input
        assert z.shape == (len(x), 3) and float(z.abs().max()) <= 1
        shares[norm] = float((z.abs() > 0.95).float().mean())
        if norm:
            assert torch.allclose(pre.mean(0), torch.zeros(3), atol=1e-4)
            assert torch.allclose(pre.var(0, unbiased=False), torch.ones(3), atol=1e-3)
            assert abs(float(z.std(0).mean()) - 0.63) < 0.1  # std of tanh(N(0, 1)) is 0.63 (U(-1, 1): 0.58)
    assert shares[False] > 0.5 and shares[True] < 0.15, shares


def test_code_norm_is_plumbed_from_the_config_and_the_chapter_parameters():
    for arch, shape in (("mlp", (2,)), ("conv", (1, 16, 16))):
        for norm in (False, True):
            cfg = IVEGANConfig(
                dataset="ring8" if arch == "mlp" else "mnist5k", arch=arch, code_norm=norm, width=1 / 16, feature_dim=4
            )
            e, _, _ = build(cfg, shape)
            assert any(isinstance(m, torch.nn.BatchNorm1d) for m in e.body[-1]) == norm
    params = dict(
        _CHAPTER_PARAMS,
        ring_dataset="ring8",
        ring_seeds=1,
        ring_code_norm=True,
        image_size=16,
        image_arch="mlp",
        image_hidden=32,
        image_depth=2,
        image_activation="lrelu",
        image_code_norm=True,
    )
    runs = chapter_runs(params)
    assert runs["ring_ivegan_seed0"].code_norm and runs["image_z3"].code_norm and runs["image_z3_rot180"].code_norm
    assert not runs["ring_ivegan_seed0"].marginal_recon
    assert chapter_runs({**params, "ring_marginal_recon": True})["ring_ivegan_seed0"].marginal_recon
    assert (runs["image_z3"].arch, runs["image_z3"].hidden, runs["image_z3"].depth) == ("mlp", 32, 2)
    del params["ring_code_norm"], params["image_code_norm"], params["image_arch"]
    runs = chapter_runs(params)  # the paper's choices when not given
    assert not runs["ring_ivegan_seed0"].code_norm and runs["image_z3"].arch == "conv"


def test_a_code_norm_training_step_moves_the_encoder_and_eval_uses_running_statistics():
    torch.manual_seed(0)
    cfg = IVEGANConfig(dataset="ring8", n=64, steps=2, batch_size=16, device="cpu", progress=False, code_norm=True)
    from latentkit.ivegan import fit

    run = fit(cfg)
    bn = run.encoder.body[-1][1]
    assert isinstance(bn, torch.nn.BatchNorm1d) and int(bn.num_batches_tracked) > 0
    assert not run.encoder.training
    one = torch.zeros(1, 2)
    with torch.no_grad():
        z = run.encoder(one)  # a single example: eval mode with running statistics works
    assert z.shape == (1, 3) and torch.isfinite(z).all()


def test_whitening_code_norm_decorrelates_the_codes_and_uses_running_statistics_in_eval():
    """``code_norm="whiten"``: the tanh's input has zero mean and identity covariance over the batch (a
    per-coordinate batch norm leaves perfectly correlated coordinates correlated); eval uses running stats."""
    from latentkit.ivegan.models import BatchWhiten

    torch.manual_seed(0)
    x = torch.randn(512, 1) @ torch.tensor([[1.0, -2.0, 0.5]]) + 0.1 * torch.randn(512, 3) + 3.0  # one direction
    bn, wh = torch.nn.BatchNorm1d(3, affine=False), BatchWhiten(3, eps=1e-6)
    for m in (bn, wh):
        m.train()
    cov_bn, cov_wh = torch.cov(bn(x).T), torch.cov(wh(x).detach().T)
    assert cov_bn[0, 1].abs() > 0.9  # batch norm: still one direction
    assert torch.allclose(cov_wh, torch.eye(3), atol=1e-3) and torch.allclose(wh(x).mean(0), torch.zeros(3), atol=1e-4)
    wh.momentum = 1.0
    wh(x)
    wh.eval()
    assert torch.allclose(torch.cov(wh(x).T), torch.eye(3), atol=1e-3) and wh(x[:1]).shape == (1, 3)
    for arch, shape in (("mlp", (2,)), ("conv", (1, 16, 16))):
        cfg = IVEGANConfig(
            dataset="ring8" if arch == "mlp" else "mnist5k", arch=arch, code_norm="whiten", width=1 / 16, feature_dim=4
        )
        e, _, _ = build(cfg, shape)
        assert isinstance(e.body[-1][1], BatchWhiten)
        e.train()
        z = e(torch.randn(32, *shape))
        z.sum().backward()  # differentiable through the Cholesky factor
        assert z.shape == (32, 3) and float(z.detach().abs().max()) <= 1 and e.body[-1][0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="code_norm"):
        IVEGANConfig(code_norm="zca")


def test_chapter_runs_take_the_code_norm_name_and_separate_step_counts():
    params = dict(
        _CHAPTER_PARAMS,
        ring_dataset="ring8",
        ring_seeds=1,
        ring_code_norm="whiten",
        image_size=16,
        image_arch="mlp",
        image_code_norm="whiten",
        image_marginal_recon=True,
        large_code_steps=4,
        tchoice_steps=6,
    )
    runs = chapter_runs(params)
    assert runs["ring_ivegan_seed0"].code_norm == "whiten" and runs["image_z3"].code_norm == "whiten"
    assert runs["image_z3"].marginal_recon and not runs["ring_ivegan_seed0"].marginal_recon
    assert [runs[k].steps for k in ("image_z16", "image_z3", "image_z3_rot180")] == [4, 10, 6]
    runs = chapter_runs({**params, "large_code_steps": 0, "tchoice_steps": 0})  # 0: image_steps (the presets)
    assert [runs[k].steps for k in ("image_z16", "image_z3", "image_z3_rot180")] == [10, 10, 10]
