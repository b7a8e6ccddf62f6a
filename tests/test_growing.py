"""latentkit.growing: growth preserves the function, minibatch std (eq. 15), WGAN-GP, table arithmetic,
resumable phase training and the evaluation measures."""

from __future__ import annotations

import math

import pytest
import torch

from latentkit.growing import (
    STRATEGIES,
    THESIS_AXIS_COORDINATES,
    CNNArch,
    CNNGANConfig,
    Discriminator,
    Generator,
    MLPGANConfig,
    MLPGenerator,
    Stage,
    axis_indices,
    axis_shares,
    chapter_configs,
    cnn_seed_configs,
    count_parameters,
    fit_cnn_gan,
    fit_mlp_gan,
    gradient_penalty,
    group_variability,
    grow_discriminator,
    grow_generator,
    grow_latent,
    growth_stages,
    interpolate,
    latent_groups,
    minibatch_stddev,
    parameter_schedule,
    phase_images,
    real_images,
    resize_to,
    set_fade,
)
from latentkit.metrics import seed_summary, student_t_p

torch.set_num_threads(1)
SMALL = CNNArch(resolution=16, widths=(16, 8, 4), latent_sizes=(4, 8, 16))
PAPER = CNNArch()


def _randomise_biases(module: torch.nn.Module, g: torch.Generator) -> None:
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))


@pytest.mark.parametrize("strategy", [s for s in STRATEGIES if s != "bGAN"])
def test_growth_step_preserves_the_function(strategy):
    """At alpha = beta = tau = 0 the grown G (upsampled) and D equal the networks before growth."""
    g = torch.Generator().manual_seed(0)
    stages = growth_stages(strategy, SMALL)
    assert len(stages) == 3
    with torch.random.fork_rng():
        torch.manual_seed(0)
        gen = Generator(stages[0], channels=3).double()
        disc = Discriminator(stages[0], channels=3).double()
    _randomise_biases(gen, g)
    _randomise_biases(disc, g)
    z = torch.randn(7, 16, generator=g, dtype=torch.float64)
    for old, new in zip(stages[:-1], stages[1:]):
        set_fade(gen, 1.0)
        set_fade(disc, 1.0)
        x = torch.randn(7, 3, new.resolution, new.resolution, generator=g, dtype=torch.float64)
        with torch.no_grad():
            g_before, d_before = gen(z), disc(resize_to(x, old.resolution))
            gen, disc = grow_generator(gen, new), grow_discriminator(disc, new)
            assert gen.alpha == 0.0 and disc.tau == 0.0
            torch.testing.assert_close(gen(z), resize_to(g_before, new.resolution), rtol=0, atol=1e-12)
            torch.testing.assert_close(disc(x), d_before, rtol=0, atol=1e-12)
            set_fade(gen, 0.5)
            assert not torch.allclose(gen(z), resize_to(g_before, new.resolution)), "new weights never act"
        _randomise_biases(gen, g)  # train a little: the next growth must keep these values too
        _randomise_biases(disc, g)


def test_mlp_latent_growth_adds_zero_columns_and_keeps_the_function():
    gen = MLPGenerator(latent=1, hidden=8, depth=2)
    z = torch.rand(9, 2, generator=torch.Generator().manual_seed(1)) * 2 - 1
    grown = grow_latent(gen, 2)
    assert torch.equal(grown.net[0].weight[:, :1], gen.net[0].weight)
    assert torch.equal(grown.net[0].weight[:, 1], torch.zeros(8))
    assert torch.equal(grown(z), gen(z))
    assert sum(p.numel() for p in grown.parameters()) == sum(p.numel() for p in gen.parameters()) + 8


def test_minibatch_stddev_matches_a_hand_computation_with_the_tau_blend():
    # figure 3: two examples, 2x1 pixels, two channels; the second channel is the new one
    x = torch.tensor(
        [[[[1.0], [2.0]], [[5.0], [-1.0]]], [[[3.0], [6.0]], [[1.0], [3.0]]]], dtype=torch.float64
    )  # (B=2, C=2, H=2, W=1)
    std_old = [abs(1 - 3) / 2, abs(2 - 6) / 2]  # population std of two numbers = |a - b| / 2
    std_new = [abs(5 - 1) / 2, abs(-1 - 3) / 2]
    tau = 0.3
    expected = (1 - tau) * sum(std_old) / 2 + tau * sum(std_new) / 2
    out = minibatch_stddev(x, old_channels=1, tau=tau, eps=0.0)
    assert out.shape == (2, 3, 2, 1)
    assert torch.equal(out[:, :2], x)
    torch.testing.assert_close(out[:, 2], torch.full((2, 2, 1), expected, dtype=torch.float64))
    plain = minibatch_stddev(x, eps=0.0)[0, 2, 0, 0]
    torch.testing.assert_close(plain, torch.tensor((sum(std_old) + sum(std_new)) / 4, dtype=torch.float64))
    # tau = 1/2 with as many new channels as old ones is the plain average (continuity across growth)
    torch.testing.assert_close(minibatch_stddev(x, old_channels=1, tau=0.5, eps=0.0)[0, 2, 0, 0], plain)


@pytest.mark.parametrize("shape", [(5, 2), (4, 1, 3, 3)], ids=["points", "images"])
def test_gradient_penalty_equals_a_finite_difference_estimate(shape):
    g = torch.Generator().manual_seed(2)
    critic = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(int(torch.tensor(shape[1:]).prod()), 6),
        torch.nn.Tanh(),
        torch.nn.Linear(6, 1),
    ).double()
    real = torch.randn(shape, generator=g, dtype=torch.float64)
    fake = torch.randn(shape, generator=g, dtype=torch.float64)
    t = torch.rand(shape[0], generator=g, dtype=torch.float64)
    x_hat = interpolate(real, fake, t)
    assert x_hat.shape == real.shape  # the per-example t broadcasts over the example's own shape
    torch.testing.assert_close(x_hat[1], t[1] * real[1] + (1 - t[1]) * fake[1])
    h = 1e-6
    norms = []
    for i in range(shape[0]):
        grad = torch.zeros(shape[1:], dtype=torch.float64)
        for j in range(grad.numel()):
            e = torch.zeros(grad.numel(), dtype=torch.float64)
            e[j] = h
            e = e.reshape(shape[1:])
            with torch.no_grad():
                up, down = critic((x_hat[i] + e)[None]), critic((x_hat[i] - e)[None])
            grad.view(-1)[j] = float(up - down) / (2 * h)
        norms.append(grad.norm())
    expected = ((torch.stack(norms) - 1) ** 2).mean()
    penalty = gradient_penalty(critic, real, fake, t=t)
    torch.testing.assert_close(penalty, expected, rtol=1e-6, atol=1e-8)
    penalty.backward()  # create_graph: the penalty trains the critic
    assert critic[1].weight.grad is not None and critic[1].weight.grad.abs().sum() > 0


def _conv(k: int, cin: int, cout: int) -> int:
    return k * k * cin * cout + cout


def _table_generator(latent: int, outs: list[int], channels: int = 3) -> int:
    """Tables 2, 4, 6, 8, 10, 12, 14: g1 is 4x4 on the latent, the other rows 3x3, then 1x1 toRGB."""
    total, cin = _conv(4, latent, outs[0]), outs[0]
    for c in outs[1:]:
        total, cin = total + _conv(3, cin, c), c
    return total + _conv(1, cin, channels)


def _table_discriminator(outs: list[int], channels: int = 3) -> int:
    """Tables 3, 5, 7, 9, ...: fromRGB 1x1, 3x3 rows, minibatch std (+1 channel), 3x3, 4x4, FC."""
    total, cin = _conv(1, channels, outs[0]), outs[0]
    for c in outs[1:]:
        total, cin = total + _conv(3, cin, c), c
    return total + _conv(3, cin + 1, cin) + _conv(4, cin, cin) + cin + 1


def test_parameter_counts_of_the_128_configurations_match_the_tables():
    # tables 2-3: bGAN (and every fully grown model)
    g_rows = [256, 256, 128, 128, 64, 64, 32, 32, 16, 16, 8, 8]
    d_rows = [8, 8, 16, 16, 32, 32, 64, 64, 128, 128, 256]  # d14 .. d4
    for strategy in STRATEGIES:
        final = growth_stages(strategy, PAPER)[-1]
        assert count_parameters(Generator(final)) == _table_generator(256, g_rows)
        assert count_parameters(Discriminator(final)) == _table_discriminator(d_rows)
    # tables 4-5: cgGAN, every column
    for c, stage in enumerate(growth_stages("cgGAN", PAPER)):
        m = 8 * 2**c
        g_cols = [min(m, w) for w in g_rows]
        d_cols = [8, 8] + [min(m, w) for w in d_rows[2:]]
        assert count_parameters(Generator(stage)) == _table_generator(m, g_cols), c
        assert count_parameters(Discriminator(stage)) == _table_discriminator(d_cols), c
    # tables 6-9: lgGAN at 4x4 and 8x8; tables 10-15: clgGAN at 4x4, 8x8 and 16x16
    lg = growth_stages("lgGAN", PAPER)
    assert count_parameters(Generator(lg[0])) == _table_generator(256, [256, 256])
    assert count_parameters(Discriminator(lg[0])) == _table_discriminator([256])
    assert count_parameters(Generator(lg[1])) == _table_generator(256, [256, 256, 128, 128])
    assert count_parameters(Discriminator(lg[1])) == _table_discriminator([128, 128, 256])
    clg = growth_stages("clgGAN", PAPER)
    assert count_parameters(Generator(clg[0])) == _table_generator(8, [8, 8])
    assert count_parameters(Discriminator(clg[0])) == _table_discriminator([8])
    assert count_parameters(Generator(clg[1])) == _table_generator(16, [16, 16, 8, 8])
    assert count_parameters(Discriminator(clg[1])) == _table_discriminator([8, 8, 16])
    assert count_parameters(Generator(clg[2])) == _table_generator(32, [32, 32, 16, 16, 8, 8])
    assert count_parameters(Discriminator(clg[2])) == _table_discriminator([8, 8, 16, 16, 32])
    # figure 27: clgGAN starts with ~1000x fewer parameters than lgGAN's final size
    rows = parameter_schedule("clgGAN", PAPER, [1] * 6)
    assert rows[-1]["generator"] > 500 * rows[0]["generator"]


def test_real_images_are_reduced_to_the_detail_of_the_latent_size():
    x = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    stages = growth_stages("cgGAN", SMALL)
    coarse = real_images(x, stages[0])  # detail 4: constant 4x4 blocks at 16x16
    assert coarse.shape == x.shape and torch.equal(coarse, resize_to(resize_to(x, 4), 16))
    halfway = real_images(x, stages[1], stages[0], alpha=0.25)
    torch.testing.assert_close(halfway, 0.75 * coarse + 0.25 * resize_to(resize_to(x, 8), 16))
    lg = growth_stages("lgGAN", SMALL)
    assert real_images(x, lg[1], lg[0], alpha=1.0).shape == (2, 1, 8, 8)
    assert torch.equal(real_images(x, growth_stages("bGAN", SMALL)[0]), x)


def test_bad_configurations_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="valid: bGAN"):
        growth_stages("pgGAN", SMALL)
    with pytest.raises(ValueError, match="resolution"):
        CNNArch(resolution=32, widths=(8, 8))
    with pytest.raises(ValueError, match="loss"):
        MLPGANConfig(loss="hinge")
    with pytest.raises(ValueError, match="expects images"):
        Discriminator(Stage(4, 1, (4,), 4), channels=1)(torch.zeros(2, 3, 4, 4))


def _tiny_cnn(**kw) -> CNNGANConfig:
    base = dict(
        strategy="clgGAN",
        dataset="digits",
        channels=1,
        resolution=8,
        widths=(8, 4),
        latent_sizes=(2, 4),
        batch_size=8,
        lr=1e-3,
        initial_images=48,
        fade_images=32,
        stable_images=32,
        device="cpu",
        progress=False,
        checkpoint_every=3,
        log_every=2,
        seed=0,
        n=64,
    )
    base.update(kw)
    return CNNGANConfig(**base)


def test_phase_training_resumes_and_reuses_finished_phases(tmp_path):
    cfg = _tiny_cnn()
    assert phase_images(cfg) == [48, 64] and phase_images(_tiny_cnn(strategy="bGAN")) == [112]
    full = fit_cnn_gan(cfg, tmp_path / "full")
    assert full.phase_steps == [6, 8] and full.steps_trained_now == 14
    assert (tmp_path / "full" / "phase_0" / "checkpoint.pt").exists()
    again = fit_cnn_gan(cfg, tmp_path / "full")
    assert again.steps_trained_now == 0
    z = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = full.generator(z)
        assert torch.equal(again.generator(z), reference)
    # interrupted inside phase 1 (a shorter phase 1 stands for a killed run), then resumed
    short = fit_cnn_gan(_tiny_cnn(stable_images=8), tmp_path / "cut")
    assert short.phase_steps == [6, 5]
    resumed = fit_cnn_gan(cfg, tmp_path / "cut")
    assert resumed.steps_trained_now == 3
    with torch.no_grad():
        torch.testing.assert_close(resumed.generator(z), reference)


def test_mlp_gan_trains_and_grows_its_latent(tmp_path):
    cfg = MLPGANConfig(
        latent_sizes=(1, 2), images=16 * 128, d_updates=2, g_updates=2, device="cpu", progress=False, n=512, log_every=4
    )
    run = fit_mlp_gan(cfg, tmp_path)
    assert run.phase_steps == [8, 8] and run.generator.latent == 2
    assert run.histories[-1][-1]["step"] == 8
    assert fit_mlp_gan(cfg, tmp_path).steps_trained_now == 0


def test_variability_and_axis_measures_on_known_maps():
    assert latent_groups(32) == [(0, 8), (8, 16), (16, 32)]
    assert latent_groups(256)[-1] == (128, 256)

    def only_first_group(z):
        return z[:, :8].sum(1)[:, None, None, None].expand(-1, 1, 2, 2)

    v = group_variability(only_first_group, 32, latent_groups(32), torch.Generator().manual_seed(0), n=16, references=2)
    assert v[0] > 0.05 and v[1] == 0.0 and v[2] == 0.0
    s1, s2 = axis_shares(lambda z: torch.stack([z[:, 0] ** 3, torch.zeros_like(z[:, 0])], 1), grid=16)
    assert abs(s1 - 1.0) < 1e-9 and abs(s2) < 1e-9
    s1, s2 = axis_shares(lambda z: z, grid=16)
    assert abs(s1 - 0.5) < 1e-9 and abs(s2 - 0.5) < 1e-9


def test_axis_indices_convert_the_thesis_numbering_from_one():
    # sec. 7.2.2 walks "coordinate axes 1, 2, 5, 90, 195, 250" and groups dimensions "1-8, 9-16, ...": from 1
    assert axis_indices(",".join(map(str, THESIS_AXIS_COORDINATES)), 256) == [0, 1, 4, 89, 194, 249]
    assert latent_groups(256)[0] == (0, 8)  # the thesis's dimensions 1-8 are indices 0..7
    assert axis_indices("250, 1", 256) == [249, 0] and axis_indices("256", 256) == [255]
    assert axis_indices("1,2,5,90,195,250", 32) == [0, 1, 4] and axis_indices("", 32) == []
    for bad in ("0", "1,-2", "1.5", "x"):
        with pytest.raises(ValueError, match="from 1|integers"):
            axis_indices(bad, 256)


def test_student_t_p_and_seed_summary_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in range(1, 16):
        for t in (0.0, 0.2, 1.0, 2.0, 4.302653, -3.0, 12.0):
            assert student_t_p(t, df) == pytest.approx(2 * stats.t.sf(abs(t), df), abs=1e-12)
    values = [1.61, 1.25, 1.47, 1.9]
    s = seed_summary(values, reference=1.0)
    test = stats.ttest_1samp(values, 1.0)
    assert s.mean == pytest.approx(sum(values) / 4) and s.se == pytest.approx(stats.sem(values))
    assert s.p == pytest.approx(test.pvalue) and s.significant()
    one = seed_summary([2.0], reference=1.0)
    assert one.n == 1 and not one.significant() and math.isnan(one.se)  # one seed: no standard error
    assert not seed_summary([0.9, 1.1, 1.0], reference=1.0).significant()
    with pytest.raises(ValueError):
        student_t_p(1.0, 0)


def test_cnn_runs_repeat_over_seeds_and_the_axis_coordinates_are_checked():
    params = {
        "roll_lr": 0.001,
        "roll_lr_high": 5.0,
        "models": "bGAN,clgGAN",
        "cnn_resolution": 16,
        "cnn_widths": "32,16,8",
        "cnn_latent_sizes": "8,16,32",
        "seed": 5,
        "cnn_seeds": 3,
    }
    runs = cnn_seed_configs(params)
    assert list(runs) == ["bGAN", "clgGAN", "bGAN_seed1", "clgGAN_seed1", "bGAN_seed2", "clgGAN_seed2"]
    assert [cfg.seed for cfg in runs.values()] == [5, 5, 6, 6, 7, 7]
    assert runs["clgGAN_seed2"].strategy == "clgGAN"
    assert list(cnn_seed_configs({**params, "cnn_seeds": 1})) == ["bGAN", "clgGAN"]
    assert set(runs) < set(chapter_configs({**params, "axis_coordinates": "1,2,5,90,195,250"}))
    with pytest.raises(ValueError, match="cnn_seeds"):
        cnn_seed_configs({**params, "cnn_seeds": 0})
    with pytest.raises(ValueError, match="from 1"):
        chapter_configs({**params, "axis_coordinates": "0,1"})


@pytest.mark.parametrize("module", ["losses", "layers", "mlp", "cnn", "configs", "evaluate"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    failures, tried = doctest.testmod(importlib.import_module(f"latentkit.growing.{module}"))
    assert failures == 0 and tried > 0
