"""Every preset, end to end, as a user runs it: ``train NAME`` at a toy size, then ``run NAME``, which must
reuse the finished training (no step trained again) and write the executed notebook, ``metrics.json`` and the
figures. Datasets that need a download are served from small fake files in torchvision's on-disk formats.

The toy size keeps each preset's data, architecture family and code path, and shrinks widths, step counts and
evaluation sizes through ordinary ``-p`` overrides (the same for ``train`` and ``run``, so the run folder's
``config.json`` matches). Chapters run with ``check=False``: their claims hold at the default scale only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from latentkit.experiments import all_presets
from latentkit.experiments.__main__ import main
from latentkit.experiments.runner import resolve

pytestmark = pytest.mark.slow

# The chapter's kernel points torchvision's md5 tables at the fake files too (torchvision checks them when it
# opens a set): a sitecustomize module on PYTHONPATH applies tests/fakedata.py's patches at start-up.
_SITECUSTOMIZE = """
import os

if os.environ.get("LATENTKIT_TEST_FAKE_DATA"):
    import importlib.util

    spec = importlib.util.spec_from_file_location("fakedata", {fakedata!r})
    fakedata = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fakedata)
    for obj, attr, value in fakedata.md5_patches(os.environ["LATENTKIT_TEST_FAKE_DATA"]):
        setattr(obj, attr, value)
"""

# Overrides that make every preset of a chapter tiny (widths, steps, evaluation sizes); per-preset extras below.
TOY: dict[str, dict[str, str]] = {
    "00_getting_started.ipynb": {"steps": "3", "hidden": "8", "batch_size": "16"},
    "01_dsm_constant.ipynb": {
        "steps": "2",
        "hp_steps": "2",
        "batch_size": "8",
        "n_mc": "16",
        "n_images": "16",
        "sample_steps": "3",
    },
    "02_conditional_score_matching.ipynb": {
        "uniform_steps": "2",
        "kl_steps": "2",
        "sigma_steps": "2",
        "frozen_steps": "1",
        "label_steps": "2",
        "batch_size": "8",
        "sample_steps": "3",
        "channels": "4,8",
        "num_res_blocks": "1",
        "warmup": "0",
    },
    "02b_code_granularity.ipynb": {
        "sweep_t": "0.1,0.5",
        "seeds": "1",
        "sweep_steps": "2",
        "batch_size": "8",
        "n_eval": "16",
        "channels": "4,8",
        "num_res_blocks": "1",
        "warmup": "0",
    },
    "03_latent_growing.ipynb": {
        "roll_images": "512",
        "roll_d_updates": "1",
        "roll_g_updates": "1",
        "cnn_initial_images": "16",
        "cnn_fade_images": "16",
        "cnn_stable_images": "16",
        "cnn_batch_size": "8",
        "eval_references": "2",
    },
    "04_ivegan_invariances.ipynb": {
        "ring_seeds": "1",
        "ring_steps": "2",
        "ring_snapshots": "1",
        "ring_batch_size": "16",
        "image_steps": "2",
        "large_code_steps": "1",
        "tchoice_steps": "1",
        "image_batch_size": "8",
        "image_width": "0.0625",
        "image_hidden": "16",
        "image_head_width": "0.0625",
    },
    "05_nif_stochastic_inverse.ipynb": {
        "steps": "2",
        "flow_steps": "1",
        "hidden": "4",
        "batch_size": "4",
        "n_valid": "8",
        "n_eval": "31",
        "classifier_steps": "2",
        "warmup": "0",
    },
}
EXTRA: dict[str, dict[str, str]] = {  # presets whose own values need a smaller toy size
    "repr-cifar10-codes": {"channels": "4,4,4"},
    "repr-cifar10-single-t": {"channels": "4,4,4"},
    "repr-cifar10-deep": {"channels": "4,4,4,4"},
    "growing-celeba": {"cnn_widths": "8,8,4,4,4,4", "cnn_latent_sizes": "1,2,4,8,16,32", "models": "bGAN,clgGAN"},
    "growing-celeba-clg": {"cnn_widths": "8,8,4,4,4,4", "cnn_latent_sizes": "1,2,4,8,16,32"},
    "ivegan-celeba": {"image_feature_dim": "8", "large_code_dim": "8", "image_noise_dim": "2"},
    "ivegan-mnist": {"large_code_dim": "4"},
}


def toy(name: str) -> dict[str, str]:
    preset = all_presets()[name]
    values = {**TOY[preset.chapter], **EXTRA.get(name, {}), "check": "false", "device": "cpu", "threads": "1"}
    return {k: v for k, v in values.items() if k in resolve(name).values}


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    from fakedata import md5_patches, write_fake_torchvision

    root = tmp_path_factory.mktemp("data")
    write_fake_torchvision(root)
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(
        _SITECUSTOMIZE.format(fakedata=str(Path(__file__).resolve().parent / "fakedata.py"))
    )
    with pytest.MonkeyPatch.context() as patch:  # this process: train runs here
        for obj, attr, value in md5_patches(root):
            patch.setattr(obj, attr, value)
        yield root, site


def _fingerprint(folder: Path) -> dict[str, str]:
    """Hashes of every checkpoint and metrics log under ``folder``: a retrained step changes them."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name in ("checkpoint.pt", "metrics.jsonl")
    }


def _retrained(trained: dict[str, str], after: dict[str, str]) -> list[str]:
    """The files that train wrote and run changed (runs that train did not make may appear)."""
    return sorted(k for k, v in trained.items() if after.get(k) != v)


@pytest.mark.parametrize("name", sorted(all_presets()))
def test_train_then_run_reuses_the_training(name, fake_data, tmp_path, monkeypatch, capsys):
    root, site = fake_data
    monkeypatch.setenv("LATENTKIT_DATA", str(root))
    monkeypatch.setenv("LATENTKIT_TEST_FAKE_DATA", str(root))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])]))
    args = [a for k, v in toy(name).items() for a in ("-p", k, v)] + ["--out", str(tmp_path)]
    assert main(["train", name, *args]) == 0, capsys.readouterr().err[-3000:]
    run_dir = tmp_path / name
    trained = _fingerprint(run_dir / "train")
    assert trained, f"{name}: train wrote no checkpoint"

    assert main(["run", name, *args]) == 0, capsys.readouterr().err[-3000:]
    changed = _retrained(trained, _fingerprint(run_dir / "train"))
    assert not changed, f"{name}: run trained again what train had finished: {changed}"
    preset = all_presets()[name]
    assert (run_dir / preset.chapter).is_file(), "the executed notebook"
    executed = json.loads((run_dir / preset.chapter).read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert json.loads((run_dir / "metrics.json").read_text()), "metrics.json is empty"
    assert list((run_dir / "figures").glob("*.png")), "no figure saved"
    stored = json.loads((run_dir / "config.json").read_text())
    assert stored["preset"] == name and stored["parameters"]["check"] is False


def test_the_toy_overrides_name_real_parameters():
    for name in all_presets():
        preset = all_presets()[name]
        unknown = set(EXTRA.get(name, {})) - set(resolve(name).values)
        assert not unknown, (name, unknown)
        assert set(TOY[preset.chapter]) <= set(resolve(name).values), name


def test_the_reuse_check_catches_a_run_that_trains_again(fake_data, tmp_path, monkeypatch, capsys):
    """The control of the matrix: when the finished training is gone, run trains it again, and the fingerprint
    comparison above must see it."""
    root, _ = fake_data
    monkeypatch.setenv("LATENTKIT_DATA", str(root))
    args = [a for k, v in toy("getting-started").items() for a in ("-p", k, v)] + ["--out", str(tmp_path)]
    assert main(["train", "getting-started", *args]) == 0, capsys.readouterr().err[-3000:]
    trained = _fingerprint(tmp_path / "getting-started" / "train")
    (tmp_path / "getting-started" / "train" / "checkpoint.pt").unlink()
    assert main(["run", "getting-started", *args]) == 0, capsys.readouterr().err[-3000:]
    assert _retrained(trained, _fingerprint(tmp_path / "getting-started" / "train")) == [
        "checkpoint.pt",
        "metrics.jsonl",
    ]
