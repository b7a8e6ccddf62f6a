"""The experiment runner: presets, parameter checking, `run` and `train` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from latentkit.experiments import Outputs, Preset, all_presets, get, register
from latentkit.experiments.__main__ import main
from latentkit.experiments.registry import config_from, resolve_train
from latentkit.experiments.runner import (
    ParameterError,
    ParameterSpec,
    book_dir,
    chapter_parameters,
    resolve_parameters,
)

SPECS = {
    "steps": ParameterSpec("steps", "int", "300", "training steps"),
    "lr": ParameterSpec("lr", "float", "0.001", "learning rate"),
    "device": ParameterSpec("device", "str", "'cpu'", "device"),
    "ema": ParameterSpec("ema", "bool", "False", "use EMA"),
    "sizes": ParameterSpec("sizes", "list[int]", "[1, 2]", "sizes"),
}


def cli(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "latentkit.experiments", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_values_are_converted_to_the_declared_types():
    values = resolve_parameters(SPECS, {"steps": "1_000", "lr": "3e-4", "device": "cuda", "ema": "true",
                                        "sizes": "[4, 8]"})
    assert values == {"steps": 1000, "lr": 3e-4, "device": "cuda", "ema": True, "sizes": [4, 8]}
    assert resolve_parameters(SPECS, {"steps": 5.0, "lr": 1})["steps"] == 5


@pytest.mark.parametrize("name,value", [("steps", "abc"), ("steps", "2.5"), ("lr", "fast"), ("ema", "maybe"),
                                        ("device", 3), ("steps", True)])
def test_wrong_types_are_refused_with_the_declaration(name, value):
    with pytest.raises(ParameterError, match=f"{name}.*expects"):
        resolve_parameters(SPECS, {name: value})


def test_unknown_names_are_refused_with_the_valid_list():
    with pytest.raises(ParameterError) as err:
        resolve_parameters(SPECS, {"stepz": "3"})
    message = str(err.value)
    assert "'stepz'" in message
    for spec in SPECS.values():
        assert spec.describe() in message


def test_registry_lists_gets_and_refuses_unknown_and_conflicting_presets():
    presets = all_presets()
    assert "getting-started" in presets and list(presets) == sorted(presets)
    with pytest.raises(KeyError, match="getting-started"):
        get("no-such-preset")
    with pytest.raises(ValueError, match="already registered"):
        register(Preset(name="getting-started", description="other", chapter="00_getting_started.ipynb"))
    with pytest.raises(ValueError, match="module:function"):
        Preset(name="x", description="x", chapter="x.ipynb", train="no_colon")


@pytest.mark.parametrize("name", sorted(all_presets()))
def test_every_preset_fits_its_chapter(name):
    """Each preset names an existing chapter, only parameters that chapter declares, values of the
    declared types, and (if any) an importable training function."""
    preset = get(name)
    specs = chapter_parameters(book_dir() / preset.chapter)
    assert "out_dir" in specs
    resolve_parameters(specs, dict(preset.parameters), where=name)
    if preset.train:
        assert callable(resolve_train(preset))


def test_config_from_takes_known_fields_only():
    from latentkit.baselines import AutoencoderConfig

    config = config_from(AutoencoderConfig, {"steps": 7, "threads": 2, "out_dir": ""}, device="cpu")
    assert config.steps == 7 and config.device == "cpu"


def test_outputs_records_metrics_and_keeps_figures_only_when_asked(tmp_path):
    import matplotlib.pyplot as plt

    out = Outputs(tmp_path / "run")
    out.record(a=1.5, b=[1, 2])
    out.record(a=2.0)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == {"a": 2.0, "b": [1, 2]}
    fig = plt.figure()
    assert out.savefig(fig, "curve").exists()
    temporary = Outputs("")
    assert temporary.savefig(fig, "curve") is None and temporary.train_dir.is_dir()
    plt.close(fig)


def test_cli_list_show_and_errors(capsys):
    assert main(["list"]) == 0
    assert "getting-started" in capsys.readouterr().out
    assert main(["show", "getting-started"]) == 0
    shown = capsys.readouterr().out
    assert "steps: int" in shown and "00_getting_started.ipynb" in shown
    assert main(["show", "nope"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err
    assert main(["run", "getting-started", "-p", "stepz", "3"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter 'stepz'" in err and "steps: int" in err
    assert main(["train", "getting-started", "-p", "steps", "many"]) == 2
    assert "expects int" in capsys.readouterr().err


@pytest.mark.slow
def test_run_executes_the_chapter_and_reuses_a_finished_training(tmp_path):
    out = tmp_path / "runs"
    trained = cli("train", "getting-started", "-p", "steps", "40", "--out", str(out))
    assert trained.returncode == 0, trained.stderr[-3000:]
    train_dir = out / "getting-started" / "train"
    assert (train_dir / "checkpoint.pt").exists()
    logged = (train_dir / "metrics.jsonl").read_text()

    ran = cli("run", "getting-started", "-p", "steps", "40", "--out", str(out))
    assert ran.returncode == 0, ran.stderr[-3000:]
    run_dir = out / "getting-started"
    assert (run_dir / "00_getting_started.ipynb").exists()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["steps_trained_now"] == 0, "the finished training run was not reused"
    assert metrics["resumed_equals_uninterrupted"] is True
    assert (train_dir / "metrics.jsonl").read_text() == logged
    figures = sorted(p.name for p in (run_dir / "figures").glob("*.png"))
    assert len(figures) >= 4, figures

    more = cli("run", "getting-started", "-p", "steps", "60", "--out", str(out))
    assert more.returncode == 0, more.stderr[-3000:]
    assert json.loads((run_dir / "metrics.json").read_text())["steps_trained_now"] == 20


@pytest.mark.slow
def test_train_under_torchrun(tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                "-m", "latentkit.experiments", "train", "getting-started", "-p", "steps", "20",
                "-p", "device", "cpu", "--out", str(tmp_path)]
    result = subprocess.run(torchrun, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "getting-started" / "train" / "checkpoint.pt").exists()
    assert result.stdout.count("train getting-started: done") == 1, "only rank 0 reports"
