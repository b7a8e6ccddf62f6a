"""The experiment runner: presets, the one parameter resolver, run folders, the CLI's errors, `run` and
`train` end to end. (Every preset trained and run at a toy size: tests/test_preset_matrix.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from latentkit.engine import from_params
from latentkit.experiments import Outputs, Preset, all_presets, get, register
from latentkit.experiments.__main__ import main
from latentkit.experiments.chapters import CHAPTERS, DEFAULT_SOURCE, chapter, parse_parameters
from latentkit.experiments.registry import Setting, UnknownPresetError, ours, paper, resolve_train
from latentkit.experiments.runner import (
    ConfigMismatchError,
    ParameterError,
    book_dir,
    chapter_parameters,
    prepare,
    resolve,
)

SOURCE_KINDS = ("paper:", "code:", "ours:")
CODE_REPOS = (
    "korabs-x/representation_score_based",
    "yang-song/score_sde_pytorch",
    "eriksandstroem/Latent-Space-Growing-of-GANs",
    "Information-Fusion-Lab-Umass/NoisyInjectiveFlows",
)


def cli(*args: str, cwd: Path | None = None, timeout: int = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "latentkit.experiments", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
    )


# -------------------------------------------------------------------------------- chapter parameters


@pytest.mark.parametrize("notebook", sorted(CHAPTERS))
def test_every_chapter_parameters_cell_equals_the_library(notebook):
    """The defaults live in the library; the notebook's cell must say the same, line for line."""
    in_notebook = chapter_parameters(book_dir() / notebook)
    in_library = chapter(notebook).parameters
    assert list(in_notebook) == list(in_library), "names or order differ"
    assert in_notebook == in_library
    assert {"device", "seed", "threads", "out_dir", "check"} <= set(in_library)
    assert in_library["check"].default is True and in_library["check"].type_name == "bool"


def test_every_chapter_is_declared_in_the_library():
    assert sorted(p.name for p in book_dir().glob("*.ipynb")) == sorted(CHAPTERS)


def test_parse_parameters_refuses_malformed_lines():
    assert parse_parameters("a: int = 3  # three\n\n# comment\nb: str = 'x'  # bee")["b"].default == "x"
    for bad in (
        "a = 3  # no type",
        "a: int = 3",
        "a: list = [1]  # other type",
        "a: int = 'x'  # wrong default",
        "a: int = 1  # one\na: int = 2  # twice",
    ):
        with pytest.raises(ValueError):
            parse_parameters(bad)


# ------------------------------------------------------------------------------------------ resolver


def test_resolve_layers_defaults_preset_and_overrides_with_their_sources():
    r = resolve("repr-mnist-codes", {"lr": "1e-3"})
    assert r.values["sigma_code"] == "probabilistic" and r.sources["sigma_code"].startswith("paper:")
    assert r.values["lr"] == 1e-3 and r.sources["lr"] == "command line"
    assert r.values["label_steps"] == chapter(r.preset.chapter).defaults["label_steps"]
    assert r.sources["label_steps"] == DEFAULT_SOURCE
    assert set(r.values) == set(chapter(r.preset.chapter).parameters), "every parameter is resolved"


@pytest.mark.parametrize(
    "name,value,match",
    [
        ("steps", "abc", "expects int"),
        ("steps", "2.5", "expects int"),
        ("lr", "fast", "expects a finite float"),
        ("lr", "nan", "expects a finite float"),
        ("check", "maybe", "expects bool"),
        ("steps", "-5", "must be >= 0"),
    ],
)
def test_wrong_values_are_refused_with_the_declaration(name, value, match):
    with pytest.raises(ParameterError, match=match) as err:
        resolve("getting-started", {name: value})
    assert chapter("00_getting_started.ipynb").parameters[name].help in str(err.value)


def test_unknown_names_are_refused_with_the_valid_list():
    with pytest.raises(ParameterError) as err:
        resolve("getting-started", {"stepz": "3"})
    message = str(err.value)
    assert "'stepz'" in message
    for spec in chapter("00_getting_started.ipynb").parameters.values():
        assert spec.describe() in message


@pytest.mark.parametrize("name", sorted(all_presets()))
def test_every_preset_resolves_builds_its_configs_and_names_a_source_for_every_setting(name):
    """Each preset names an existing chapter, only parameters that chapter declares, values of the
    declared types that its configs accept, a source for every setting, and an importable training function."""
    r = resolve(name)
    r.chapter.build_configs({**r.values, "progress": False})
    for key, source in r.sources.items():
        assert source.startswith(SOURCE_KINDS), f"{name}: setting {key!r} has no source: {source!r}"
        assert len(source.split(":", 1)[1].strip()) >= 8, f"{name}: source of {key!r} says too little: {source!r}"
        if source.startswith("code:"):
            assert any(repo in source for repo in CODE_REPOS), f"{name}: {key!r} names no public repository"
    assert r.preset.train is None or callable(resolve_train(r.preset))


def test_a_setting_needs_a_source():
    with pytest.raises(ValueError, match="without a source"):
        Preset(name="x", description="x", chapter="00_getting_started.ipynb", parameters={"steps": 3})
    with pytest.raises(ValueError, match="must start with"):
        Setting(3, "the paper")
    with pytest.raises(ValueError, match="say where or why"):
        ours(3, "")
    assert paper(3, "table 1, batch 3").source == "paper: table 1, batch 3"


def test_registry_lists_gets_and_refuses_unknown_and_conflicting_presets():
    presets = all_presets()
    assert "getting-started" in presets and list(presets) == sorted(presets)
    with pytest.raises(UnknownPresetError, match="getting-started"):
        get("no-such-preset")
    with pytest.raises(ValueError, match="already registered"):
        register(Preset(name="getting-started", description="other", chapter="00_getting_started.ipynb"))
    with pytest.raises(ValueError, match="module:function"):
        Preset(name="x", description="x", chapter="x.ipynb", train="no_colon")


def test_from_params_takes_known_fields_only():
    from latentkit.baselines import AutoencoderConfig

    config = from_params(AutoencoderConfig, {"steps": 7, "threads": 2, "out_dir": ""}, device="cpu")
    assert config.steps == 7 and config.device == "cpu"


# ---------------------------------------------------------------------------------------- run folders


def test_config_json_is_written_once_and_a_different_config_is_refused_with_the_keys(tmp_path):
    resolved, run_dir = prepare("getting-started", {"steps": "40"}, tmp_path)
    stored = json.loads((run_dir / "config.json").read_text())
    assert stored["parameters"] == resolved.values and stored["sources"]["steps"] == "command line"
    prepare("getting-started", {"steps": "40", "threads": "2", "check": "false"}, tmp_path)  # neutral keys
    with pytest.raises(ConfigMismatchError) as err:
        prepare("getting-started", {"steps": "41", "lr": "0.5"}, tmp_path)
    message = str(err.value)
    assert "steps: 40 -> 41" in message and "lr: 0.001 -> 0.5" in message and "--restart" in message
    (run_dir / "train").mkdir()
    (run_dir / "train" / "checkpoint.pt").write_text("x")
    prepare("getting-started", {"steps": "41"}, tmp_path, restart=True)
    assert not (run_dir / "train").exists(), "--restart deletes the old run"
    assert json.loads((run_dir / "config.json").read_text())["parameters"]["steps"] == 41


def test_a_folder_with_files_but_no_config_is_refused(tmp_path):
    (tmp_path / "getting-started" / "train").mkdir(parents=True)
    with pytest.raises(ConfigMismatchError, match="no config.json"):
        prepare("getting-started", {}, tmp_path)


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_list_show_and_errors(capsys):
    assert main(["list"]) == 0
    assert "getting-started" in capsys.readouterr().out
    assert main(["show", "growing-celeba"]) == 0
    shown = capsys.readouterr().out
    assert "cnn_crop = 128" in shown and "source: paper: sec. 7.2.3" in shown
    assert "03_latent_growing.ipynb" in shown


def _one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.slow
def test_every_user_error_is_one_line_on_stderr_and_exit_status_2(tmp_path):
    """In subprocesses, as a user meets them; none may train a step first."""
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    cases = [
        (["show", "nope"], ["unknown preset 'nope'"]),
        (["train", "nope"], ["unknown preset 'nope'"]),
        (["train", "getting-started", "-p", "stepz", "3"], ["unknown parameter 'stepz'", "steps: int"]),
        (["train", "getting-started", "-p", "steps", "-5"], ["'steps' must be >= 0"]),
        (["train", "getting-started", "-p", "steps", "many"], ["expects int"]),
        (["train", "getting-started", "-p", "dataset", "foo"], ["dataset", "'foo'"]),
        (["train", "getting-started", "-p", "device", "tpu"], ["device", "'tpu'"]),
        (["train", "getting-started", "-p", "device", "cuda:7"], ["device", "not available"]),
        (["train", "getting-started", "--out", str(a_file)], ["is a file"]),
        (["run", "getting-started", "--out", str(a_file)], ["is a file"]),
        (["train", "score-mnist", "-p", "device", "cpu", "--out", str(tmp_path / "r")], ["'mnist' not found"]),
        (["train", "getting-started", "--bogus"], ["unrecognized arguments"]),
    ]
    empty = tmp_path / "no-data"  # whatever this machine has downloaded, the data check must fail here
    empty.mkdir()
    for args, fragments in cases:
        _one_line_error(cli(*args, LATENTKIT_DATA=str(empty)), *fragments)
    assert not (tmp_path / "r" / "score-mnist" / "train").exists(), "nothing trains before the data check"


@pytest.mark.slow
def test_cli_refuses_a_changed_config_a_held_lock_and_a_corrupt_checkpoint(tmp_path):
    out = str(tmp_path)
    done = cli("train", "getting-started", "-p", "steps", "20", "--out", out)
    assert done.returncode == 0, done.stderr[-3000:]
    _one_line_error(
        cli("train", "getting-started", "-p", "lr", "0.5", "-p", "steps", "20", "--out", out),
        "lr: 0.001 -> 0.5",
        "--restart",
    )
    again = cli("train", "getting-started", "-p", "steps", "20", "-p", "threads", "2", "--out", out)
    assert again.returncode == 0, again.stderr[-3000:]

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from latentkit.engine import RunLock\n"
                f"with RunLock({str(tmp_path / 'getting-started')!r}):\n"
                "    print('held', flush=True); time.sleep(60)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        _one_line_error(cli("train", "getting-started", "-p", "steps", "20", "--out", out), str(holder.pid))
        _one_line_error(cli("run", "getting-started", "-p", "steps", "20", "--out", out), str(holder.pid))
    finally:
        holder.kill()
        holder.wait()

    (tmp_path / "getting-started" / "train" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    restarted = cli("train", "getting-started", "-p", "steps", "30", "--out", out, "--restart")
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert (tmp_path / "getting-started" / "train" / "checkpoint.pt").stat().st_size > 100
    (tmp_path / "getting-started" / "train" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    _one_line_error(
        cli("train", "getting-started", "-p", "steps", "30", "--out", out), "checkpoint", "remove that file"
    )


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


@pytest.mark.slow
def test_run_executes_the_chapter_and_reuses_a_finished_training(tmp_path):
    out = tmp_path / "runs"
    trained = cli("train", "getting-started", "-p", "steps", "40", "--out", str(out))
    assert trained.returncode == 0, trained.stderr[-3000:]
    train_dir = out / "getting-started" / "train"
    assert (train_dir / "checkpoint.pt").exists()
    logged = (train_dir / "metrics.jsonl").read_text()

    ran = cli("run", "getting-started", "-p", "steps", "40", "-p", "check", "false", "--out", str(out))
    assert ran.returncode == 0, ran.stderr[-3000:]
    run_dir = out / "getting-started"
    assert (run_dir / "00_getting_started.ipynb").exists()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["steps_trained_now"] == 0, "the finished training run was not reused"
    assert metrics["resumed_equals_uninterrupted"] is True
    assert (train_dir / "metrics.jsonl").read_text() == logged
    figures = sorted(p.name for p in (run_dir / "figures").glob("*.png"))
    assert len(figures) >= 4, figures


@pytest.mark.slow
def test_train_under_torchrun(tmp_path):
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "latentkit.experiments",
        "train",
        "getting-started",
        "-p",
        "steps",
        "20",
        "-p",
        "device",
        "cpu",
        "--out",
        str(tmp_path),
    ]
    result = subprocess.run(
        torchrun, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "getting-started" / "train" / "checkpoint.pt").exists()
    assert result.stdout.count("train getting-started: done") == 1, "only rank 0 reports"
    assert json.loads((tmp_path / "getting-started" / "config.json").read_text())["parameters"]["steps"] == 20


@pytest.mark.slow
def test_sigterm_during_train_writes_a_checkpoint_and_the_same_command_resumes(tmp_path):
    args = ["train", "getting-started", "-p", "steps", "3000", "--out", str(tmp_path)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "latentkit.experiments", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics = tmp_path / "getting-started" / "train" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and metrics.read_text().count("\n") >= 2):
        time.sleep(0.2)
    proc.terminate()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert err.strip().splitlines()[-1].startswith("stopped: ")
    from latentkit.engine import load_checkpoint

    step = load_checkpoint(tmp_path / "getting-started" / "train" / "checkpoint.pt")["step"]
    assert 0 < step < 3000


def test_chapter_kernels_never_wait_unbounded_for_a_message(monkeypatch):
    # nbclient waits for replies with get_msg(timeout=None); a missed wake-up then blocked a matrix run forever.
    # The channel papermill gets must wait in finite slices and still return the message that arrives.
    import asyncio
    from queue import Empty

    from jupyter_client.channels import AsyncZMQSocketChannel

    from latentkit.experiments import kernels

    timeouts = []

    async def base_get_msg(self, timeout=None):
        timeouts.append(timeout)
        if len(timeouts) < 3:
            raise Empty
        return {"msg_type": "execute_reply"}

    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", base_get_msg)
    client_class = kernels.repolling_kernel_manager()().client_factory
    channel_class = client_class.shell_channel_class.default_value
    assert client_class.iopub_channel_class.default_value is channel_class
    channel = channel_class.__new__(channel_class)  # no socket: only get_msg is exercised
    assert asyncio.run(channel.get_msg()) == {"msg_type": "execute_reply"}
    assert timeouts == [kernels.REPOLL_SECONDS] * 3
    timeouts.clear()
    with pytest.raises(Empty):  # a bounded wait keeps its own timeout
        asyncio.run(channel.get_msg(timeout=0.5))
    assert timeouts == [0.5]
