"""NF / NIF / deep NIF models, dequantisation, training on the engine (resume, DDP) and the presets."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest
import torch

from latentkit.metrics import bits_per_dim
from latentkit.nif.evaluate import decode_images, embed_images, evaluate_bits_per_dim, sample_images
from latentkit.nif.gaussian import LOG_2PI
from latentkit.nif.models import bin_centres, build_model, dequantize, quantize
from latentkit.nif.train import PAPER, NIFConfig, fit, load_splits, train_preset

torch.set_num_threads(1)
TINY = dict(
    dataset="digits",
    size=8,
    levels=2,
    flow_steps=1,
    hidden=8,
    dim_z=4,
    steps=6,
    batch_size=16,
    n_valid=100,
    warmup=2,
    device="cpu",
    progress=False,
    checkpoint_every=3,
    log_every=1,
)


def test_dequantisation_levels_and_range():
    x = torch.tensor([0.0, 0.124, 0.125, 0.5, 0.999, 1.0])
    assert quantize(x, 3).tolist() == [0, 0, 1, 4, 7, 7]
    y = dequantize(x.expand(1000, 6), 3, torch.Generator().manual_seed(0))
    assert y.min() >= -0.5 and y.max() < 0.5
    torch.testing.assert_close(torch.floor((y + 0.5) * 8), quantize(x, 3).expand(1000, 6))
    assert bin_centres(x, 1).tolist() == [0.25, 0.25, 0.25, 0.75, 0.75, 0.75]
    with pytest.raises(ValueError, match="n_bits"):
        quantize(x, 9)


@pytest.mark.parametrize("kind", ["nf", "nif", "deep_nif"])
def test_models_log_prob_sample_embed(kind):
    torch.manual_seed(0)
    model = build_model(
        kind, (1, 8, 8), levels=2, steps=1, hidden=8, dim_z=4, n_bits=3, deep_couplings=1, deep_hidden=8
    ).double()
    x = dequantize(torch.rand(5, 1, 8, 8, dtype=torch.float64), 3, torch.Generator().manual_seed(1))
    model.initialize(x)
    y, logdet = model.flow(x)
    if kind == "nf":
        expected = -0.5 * (y.square().sum(-1) + 64 * LOG_2PI) + logdet
    elif kind == "nif":
        expected = model.prior.log_likelihood(y) + logdet
    else:  # the eq. 9 bound with one z ~ q(z|y): reproduce it with the same random stream
        torch.manual_seed(5)
        z = model.prior.nif.sample_stochastic_inverse(y)
        expected = model.prior.log_prob_z(z) + model.prior.nif.manifold_term(y) + logdet
        torch.manual_seed(5)
    torch.testing.assert_close(model.log_prob(x), expected)
    images = sample_images(model, 6, s=0.5, t=0.7, seed=0)
    assert images.shape == (6, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    assert torch.equal(images, sample_images(model, 6, s=0.5, t=0.7, seed=0))
    codes = embed_images(model, torch.rand(3, 1, 8, 8, dtype=torch.float64))
    assert codes.shape == ((3, 64) if kind == "nf" else (3, 4))
    bpd = evaluate_bits_per_dim(model, torch.rand(4, 1, 8, 8, dtype=torch.float64))
    assert math.isfinite(bpd) and bpd > 0


def test_choose_s_and_feature_space_refusals():
    from latentkit.nif.evaluate import choose_s, feature_extractor

    assert choose_s([0.0, 0.5, 1.0], [3.0, 1.0, 1.0]) == 0.5
    with pytest.raises(ValueError, match="unknown feature space"):
        feature_extractor("vgg", torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="labelled"):
        feature_extractor("classifier", torch.zeros(2, 1, 4, 4), None, 3)


def test_nif_at_s0_decodes_onto_its_manifold_and_nf_ignores_s():
    torch.manual_seed(0)
    nif = build_model("nif", (1, 4, 4), levels=1, steps=1, hidden=4, dim_z=3, n_bits=8).double()
    z = nif.sample_latent(4, generator=torch.Generator().manual_seed(0))
    a = decode_images(nif, z, s=0.0, seed=1)
    assert torch.equal(a, decode_images(nif, z, s=0.0, seed=2)), "s = 0 is deterministic given z"
    assert not torch.equal(a, decode_images(nif, z, s=1.0, seed=1))
    nf = build_model("nf", (1, 4, 4), levels=1, steps=1, hidden=4, n_bits=8).double()
    z = nf.sample_latent(3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(decode_images(nf, z, s=0.0), decode_images(nf, z, s=1.0))
    with pytest.raises(ValueError, match="unknown model kind"):
        build_model("vae", (1, 4, 4))


def test_bits_per_dim_of_the_model_is_the_metric_of_its_log_prob():
    torch.manual_seed(0)
    model = build_model("nf", (1, 4, 4), levels=1, steps=1, hidden=4, n_bits=5).double()
    images = torch.rand(3, 1, 4, 4, dtype=torch.float64)
    got = model.bits_per_dim(images, torch.Generator().manual_seed(0))
    x = dequantize(images, 5, torch.Generator().manual_seed(0))
    torch.testing.assert_close(got, bits_per_dim(model.log_prob(x), 16, 5))


def test_fit_trains_resumes_and_keeps_actnorm_initialisation(tmp_path):
    config = NIFConfig(**TINY)
    splits = load_splits(config, n_test=50)
    assert len(splits["valid"]) == 100 and len(splits["train"]) == len(data_train_minus_valid(config))
    model, trainer = fit(config, "nif", tmp_path / "nif", splits["train"])
    assert trainer.step == 6 and all(math.isfinite(h["loss"]) for h in trainer.history)
    flags = [int(m.initialized) for m in model.modules() if hasattr(m, "initialized")]
    assert flags and all(flags)
    again, trainer2 = fit(config, "nif", tmp_path / "nif", splits["train"])  # complete: returns at once
    assert trainer2.step == 6 and len(trainer2.history) == len(trainer.history)
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)
    # a run cut at step 3 and resumed ends like the uninterrupted one
    cut, _ = fit(NIFConfig(**{**TINY, "steps": 3}), "nif", tmp_path / "cut", splits["train"])
    resumed, _ = fit(config, "nif", tmp_path / "cut", splits["train"])
    for (k, a), (_, b) in zip(model.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)


def data_train_minus_valid(config):
    from latentkit import data

    return range(len(data.load(config.dataset, "train")) - config.n_valid)


def test_train_preset_trains_nf_and_nif_with_the_same_initial_flow(tmp_path):
    train_preset({**TINY, "steps": 2, "threads": 1, "out_dir": ""}, tmp_path)
    assert (tmp_path / "nf" / "checkpoint.pt").exists() and (tmp_path / "nif" / "checkpoint.pt").exists()
    assert not (tmp_path / "deep_nif").exists()
    config = NIFConfig(**{**TINY, "size": 0, "grad_clip": 0.0})
    assert config.size is None and config.grad_clip is None


def test_presets_are_registered_with_chapter_parameters(repo_root):
    from latentkit.experiments.registry import all_presets, resolve_train

    presets = {n: p for n, p in all_presets().items() if p.chapter == "05_nif_stochastic_inverse.ipynb"}
    expected = {"nif-mnist5k"} | {
        f"{kind}-{d}" for kind in ("glow", "nif") for d in ("fashion-mnist", "cifar10", "celeba")
    }
    assert set(presets) == expected
    from latentkit.experiments.chapters import chapter
    from latentkit.experiments.runner import resolve

    # the chapter's defaults are NIFConfig's defaults (device aside)
    defaults = {
        name: value
        for name, value in chapter("05_nif_stochastic_inverse.ipynb").defaults.items()
        if name in NIFConfig.__dataclass_fields__ and name != "device"
    }
    assert NIFConfig(**defaults) == NIFConfig()
    for preset in presets.values():
        assert callable(resolve_train(preset))
        if preset.name != "nif-mnist5k":  # the paper's configurations, as in latentkit.nif.train.PAPER
            values = resolve(preset.name).values
            config = NIFConfig(**{k: v for k, v in values.items() if k in NIFConfig.__dataclass_fields__})
            expected_config = replace(PAPER[values["dataset"]], dim_z=values["dim_z"], device=config.device)
            assert config == expected_config, preset.name


DDP_SCRIPT = textwrap.dedent("""
    import json, sys, torch, torch.distributed as dist
    from latentkit.nif.flows import ActNorm
    from latentkit.nif.train import NIFConfig, fit, load_splits
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    layer = ActNorm(3)
    layer(torch.randn(16, 3, 4, 4, generator=torch.Generator().manual_seed(rank)) * (1 + rank) + rank)
    locs = [None, None]
    dist.all_gather_object(locs, layer.loc.tolist())
    config = NIFConfig(**json.loads(sys.argv[2]))
    model, trainer = fit(config, "nif", sys.argv[1], load_splits(config, n_test=10)["train"])
    weights = [None, None]
    dist.all_gather_object(weights, model.prior.A.detach().sum().item())
    if rank == 0:
        print(json.dumps({"locs_equal": locs[0] == locs[1], "weights_equal": weights[0] == weights[1],
                          "step": trainer.step}))
    dist.destroy_process_group()
""")


@pytest.mark.slow
def test_actnorm_init_and_training_are_synchronised_under_torchrun(tmp_path):
    script = tmp_path / "ddp_nif.py"
    script.write_text(DDP_SCRIPT)
    cfg = {**TINY, "steps": 2}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(script),
            str(tmp_path / "run"),
            json.dumps(cfg),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env={"OMP_NUM_THREADS": "1", **_env()},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"locs_equal": True, "weights_equal": True, "step": 2}


def _env():
    import os

    return dict(os.environ)
