"""Tests of latentkit.engine: devices, seeding, AMP, EMA, checkpoints, resume, metrics, locks, signals, DDP."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from latentkit.engine import (
    EMA,
    CheckpointError,
    MetricsLogger,
    NonFiniteGradientError,
    NonFiniteLossError,
    RunLock,
    RunLockedError,
    TrainConfig,
    Trainer,
    TrainingInterrupted,
    autocast,
    fit_loss,
    init_distributed,
    load_checkpoint,
    progress,
    read_metrics,
    save_checkpoint,
    seed_everything,
    select_device,
)

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent / "engine_scripts"
HAS_ACCELERATOR = torch.cuda.is_available() or torch.backends.mps.is_available()


def _script_env() -> dict[str, str]:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=path)
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"engine_script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _linear_trainer(out_dir, config: TrainConfig, **kwargs) -> Trainer:
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    return Trainer(out_dir, {"model": model}, {"model": torch.optim.SGD(model.parameters(), lr=0.1)}, config, **kwargs)


def _linear_sample(generator: torch.Generator) -> torch.Tensor:
    return torch.randn(8, 2, generator=generator)


def _linear_step(trainer: Trainer, x: torch.Tensor) -> dict:
    loss = (trainer.module("model")(x) - x.sum(1, keepdim=True)).pow(2).mean()
    return {"loss": loss, "grad_norm": trainer.backward_step(loss, "model")}


# ------------------------------------------------------------------------------------- devices, seeds


def test_select_device_cpu_and_auto():
    assert select_device("cpu") == torch.device("cpu")
    if not HAS_ACCELERATOR:
        assert select_device("auto") == torch.device("cpu")
        assert select_device() == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "CPU", "cuda:x", "", "tpu"])
def test_select_device_unknown_name_lists_choices(name):
    with pytest.raises(ValueError) as info:
        select_device(name)
    message = str(info.value)
    assert repr(name) in message and "cpu" in message and "cuda" in message and "mps" in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_select_device_cuda_unavailable(name):
    with pytest.raises(RuntimeError, match="not available"):
        select_device(name)


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is available here")
def test_select_device_mps_unavailable():
    with pytest.raises(RuntimeError, match="MPS is not available"):
        select_device("mps")


def test_init_distributed_single_process():
    info = init_distributed("cpu")
    assert (info.rank, info.world_size, info.local_rank, info.device) == (0, 1, 0, torch.device("cpu"))
    assert info.is_main


def test_seed_everything_reproduces_all_rngs():
    def draws():
        g = seed_everything(42)
        return (
            random.random(),
            np.random.rand(3).tolist(),
            torch.rand(3).tolist(),
            torch.rand(3, generator=g).tolist(),
        )

    first, second = draws(), draws()
    assert first == second
    seed_everything(43)
    assert random.random() != first[0]
    with pytest.raises(ValueError, match="non-negative"):
        seed_everything(-1)


def test_autocast_is_noop_on_cpu():
    ctx = autocast(torch.device("cpu"), enabled=True)
    with ctx:
        assert not torch.is_autocast_enabled("cpu")
        assert (torch.ones(3, 3) @ torch.ones(3, 3)).dtype == torch.float32
    assert type(autocast(torch.device("cuda"), enabled=False)).__name__ == "nullcontext"
    tr = _linear_trainer(None, TrainConfig(steps=1, device="cpu", mixed_precision=True, progress=False))
    with tr.autocast():
        assert tr.raw("model")(torch.ones(1, 2)).dtype == torch.float32


# ------------------------------------------------------------------------------------------------- EMA


def test_ema_matches_hand_formula_and_copies_buffers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    decay = 0.8
    ema = EMA(model, decay)
    assert not ema.module.training and not any(p.requires_grad for p in ema.module.parameters())
    expected = {k: v.clone() for k, v in model.named_parameters()}
    for _ in range(3):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        model.train()(torch.randn(5, 3))  # changes the BatchNorm running statistics
        ema.update(model)
        for k, p in model.named_parameters():
            expected[k] = decay * expected[k] + (1 - decay) * p.detach()
    for k, p in ema.module.named_parameters():
        torch.testing.assert_close(p, expected[k], rtol=0, atol=1e-6)
        assert not torch.allclose(p, dict(model.named_parameters())[k])
    for k, b in model.named_buffers():
        assert torch.equal(dict(ema.module.named_buffers())[k], b)
    copy = EMA(model, decay)
    copy.load_state_dict(ema.state_dict())
    assert copy.num_updates == 3
    for a, b in zip(copy.module.state_dict().values(), ema.module.state_dict().values()):
        assert torch.equal(a, b)


def test_ema_of_a_frozen_parameter_is_exactly_its_value():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    ema = EMA(model, 0.9)
    model[0].requires_grad_(False)  # e.g. a frozen encoder (latentkit.score.represent, second phase)
    for _ in range(5):
        with torch.no_grad():
            model[1].weight.add_(1.0)
        ema.update(model)
    assert torch.equal(ema.module[0].weight, model[0].weight)
    assert not torch.equal(ema.module[1].weight, model[1].weight)


def test_ema_follows_a_grown_model():
    model = nn.Sequential(nn.Linear(2, 2))
    ema = EMA(model, 0.5)
    kept = ema.module[0].weight.clone()
    model.append(nn.Linear(2, 3))
    ema.update(model)
    assert len(ema.module) == 2
    torch.testing.assert_close(ema.module[0].weight, 0.5 * kept + 0.5 * model[0].weight.detach())
    torch.testing.assert_close(ema.module[1].weight, model[1].weight.detach())


# ----------------------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_adds_format_tag(tmp_path):
    path = tmp_path / "sub" / "ck.pt"
    save_checkpoint(path, {"step": 3, "w": torch.arange(4.0), "rng": [1, 2.5, None, "x", (1, 2)]})
    loaded = load_checkpoint(path)
    assert loaded["step"] == 3 and torch.equal(loaded["w"], torch.arange(4.0))
    assert loaded["rng"] == [1, 2.5, None, "x", (1, 2)]
    assert loaded["format"] == "latentkit.checkpoint" and loaded["version"] == 1
    save_checkpoint(path, loaded)  # a loaded checkpoint saves again
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(path, {"format": "mine"})
    assert [p.name for p in path.parent.iterdir()] == ["ck.pt"]


def test_atomic_save_keeps_previous_checkpoint_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"step": 1, "w": torch.ones(3)})
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")  # partial bytes, then the disk fills up
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(path, {"step": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temporary file left behind
    assert path.read_bytes() == before
    assert load_checkpoint(path)["step"] == 1


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"step": 1, "w": torch.randn(64, 64)})
    data = good.read_bytes()
    files = {
        "missing": (tmp_path / "nope.pt", "does not exist"),
        "empty": (tmp_path / "empty.pt", "empty"),
        "truncated": (tmp_path / "truncated.pt", "truncated or corrupt"),
        "random": (tmp_path / "random.pt", "truncated or corrupt"),
        "tensor": (tmp_path / "tensor.pt", "not a latentkit checkpoint"),
        "untagged": (tmp_path / "untagged.pt", "not a latentkit checkpoint"),
        "newer": (tmp_path / "newer.pt", "version 99"),
        "unsafe": (tmp_path / "unsafe.pt", "weights_only"),
    }
    files["empty"][0].write_bytes(b"")
    files["truncated"][0].write_bytes(data[: len(data) // 2])
    files["random"][0].write_bytes(np.random.default_rng(0).bytes(4096))
    torch.save(torch.ones(3), files["tensor"][0])
    torch.save({"step": 1, "model": {"w": torch.ones(2)}}, files["untagged"][0])
    torch.save({"format": "latentkit.checkpoint", "version": 99}, files["newer"][0])
    torch.save({"format": "latentkit.checkpoint", "version": 1, "obj": Path("x")}, files["unsafe"][0])
    return files


def test_load_checkpoint_refuses_bad_files(tmp_path):
    for kind, (path, reason) in _bad_files(tmp_path).items():
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
        assert str(path) in str(info.value), kind
        assert reason in str(info.value), (kind, str(info.value))


def test_checkpoint_of_another_model_does_not_fit(tmp_path):
    tr = _linear_trainer(tmp_path, TrainConfig(steps=2, device="cpu", progress=False)).fit(_linear_step, _linear_sample)
    assert tr.step == 2
    big = nn.Linear(3, 1)
    other = Trainer(
        tmp_path,
        {"model": big},
        {"model": torch.optim.SGD(big.parameters(), lr=0.1)},
        TrainConfig(steps=4, device="cpu", progress=False),
    )
    with pytest.raises(CheckpointError, match="does not fit"):
        other.fit(_linear_step, _linear_sample)


# ------------------------------------------------------------------------------------ metrics, progress


def test_metrics_logger_and_read_metrics(tmp_path):
    path = tmp_path / "m" / "metrics.jsonl"
    MetricsLogger(path).log(1, loss=torch.tensor(0.5), acc=np.float32(0.25), n=3)
    MetricsLogger(path).log(2, loss=float("nan"))  # append mode: a second logger adds lines
    MetricsLogger(path, enabled=False).log(3, loss=1.0)
    lines = path.read_text().splitlines()
    assert json.loads(lines[0]) == {"step": 1, "loss": 0.5, "acc": 0.25, "n": 3}
    records = read_metrics(path)
    assert [r["step"] for r in records] == [1, 2] and np.isnan(records[1]["loss"])
    with open(path, "a") as f:
        f.write('{"step": 3, "lo')  # a writer killed mid-line
    assert len(read_metrics(path)) == 2
    with pytest.raises(TypeError, match="scalar"):
        MetricsLogger(path).log(4, loss=torch.ones(2))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_metrics(tmp_path / "none.jsonl")


def test_fit_writes_metrics_and_history(tmp_path):
    config = TrainConfig(steps=23, device="cpu", log_every=5, checkpoint_every=10, progress=False)
    tr = _linear_trainer(tmp_path, config).fit(_linear_step, _linear_sample)
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == [5, 10, 15, 20, 23]
    assert records == tr.history
    assert set(records[0]) == {"step", "loss", "grad_norm"}
    assert all(isinstance(r["loss"], float) for r in records)
    assert records[-1]["loss"] < records[0]["loss"]
    assert load_checkpoint(tr.checkpoint_path)["step"] == 23


def test_progress_bar():
    bar = progress(10, desc="x", initial=3, disable=True)
    assert (bar.total, bar.n, bar.disable) == (10, 3, True)
    bar.close()


# -------------------------------------------------------------------------------------- trainer pieces


def test_train_config_validation():
    for bad in (
        {"steps": -1},
        {"steps": 1, "log_every": 0},
        {"steps": 1, "ema_decay": 1.5},
        {"steps": 1, "grad_clip": 0.0},
        {"steps": 1, "finite": "loss"},
    ):
        with pytest.raises(ValueError, match="TrainConfig"):
            TrainConfig(**bad)


def test_backward_step_clips_and_returns_the_norm():
    x, y = torch.randn(16, 3), 100 * torch.randn(16, 1)
    reference = nn.Linear(3, 1)
    ((reference(x) - y) ** 2).mean().backward()
    norm = torch.cat([p.grad.flatten() for p in reference.parameters()]).norm().item()
    assert norm > 1.0
    for clip in (None, 0.5):
        model = nn.Linear(3, 1)
        model.load_state_dict(reference.state_dict())
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        tr = Trainer(
            None,
            {"model": model},
            {"model": opt},
            TrainConfig(steps=1, device="cpu", grad_clip=clip, progress=False),
            {"model": sched},
        )
        returned = tr.backward_step(((tr.module("model")(x) - y) ** 2).mean(), "model")
        assert returned == pytest.approx(norm, rel=1e-5)
        after = torch.cat([p.grad.flatten() for p in model.parameters()]).norm().item()
        assert after == pytest.approx(norm if clip is None else clip, rel=1e-4)
        grads = {k: p.grad for k, p in model.named_parameters()}
        for k, p in reference.named_parameters():
            torch.testing.assert_close(dict(model.named_parameters())[k], p - 0.1 * grads[k])
        assert opt.param_groups[0]["lr"] == pytest.approx(0.05)  # the scheduler stepped
    with pytest.raises(KeyError, match="unknown optimizer 'gen'"):
        tr.backward_step(torch.zeros((), requires_grad=True), "gen")


def test_fit_loss_finds_least_squares():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 3, generator=g)
    y = x @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.3 + 0.1 * torch.randn(256, 1, generator=g)
    design = torch.cat([x, torch.ones(256, 1)], 1).double()
    solution = torch.linalg.lstsq(design, y.double()).solution.squeeze(1)

    def sample(generator):
        i = torch.randint(0, 256, (64,), generator=generator)
        return x[i], y[i]

    model = nn.Linear(3, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.StepLR(opt, 100, 0.3)
    tr = fit_loss(
        lambda m, b: ((m(b[0]) - b[1]) ** 2).mean(),
        model,
        opt,
        sample,
        TrainConfig(steps=300, device="cpu", progress=False),
        schedulers=sched,
    )
    estimate = torch.cat([model.weight.squeeze(0), model.bias]).double().detach()
    torch.testing.assert_close(estimate, solution, rtol=0, atol=5e-3)
    assert tr.raw("model") is model and tr.step == 300 and tr.is_complete


def test_trainer_names_and_ema_module():
    tr = _linear_trainer(None, TrainConfig(steps=5, device="cpu", ema_decay=0.5, progress=False))
    tr.fit(_linear_step, _linear_sample)
    assert tr.module("model") is tr.raw("model")
    assert tr.ema_module("model") is tr.emas["model"].module
    assert not torch.equal(tr.ema_module("model").weight, tr.raw("model").weight)
    with pytest.raises(KeyError, match="unknown module 'gen'.*model"):
        tr.raw("gen")
    plain = _linear_trainer(None, TrainConfig(steps=1, device="cpu", progress=False))
    assert plain.ema_module("model") is plain.raw("model")


# -------------------------------------------------------------------------------- non-finite, resume


def test_non_finite_loss_raises_and_keeps_last_checkpoint(tmp_path):
    def step_fn(trainer, x):
        metrics = _linear_step(trainer, x)
        if trainer.step == 24:  # inside step 25
            metrics["loss"] = torch.tensor(float("nan"))
        return metrics

    config = TrainConfig(steps=40, device="cpu", checkpoint_every=10, log_every=1, progress=False)
    tr = _linear_trainer(tmp_path, config)
    with pytest.raises(NonFiniteLossError) as info:
        tr.fit(step_fn, _linear_sample)
    message = str(info.value)
    assert "step 25" in message and "'loss'" in message and "nan" in message
    assert str(tr.checkpoint_path) in message and "(step 20)" in message
    assert (info.value.step, info.value.metric, info.value.checkpoint) == (25, "loss", tr.checkpoint_path)
    assert load_checkpoint(tr.checkpoint_path)["step"] == 20
    assert read_metrics(tr.metrics_path)[-1]["step"] == 24
    resumed = _linear_trainer(tmp_path, config)
    assert resumed.resume() and resumed.step == 20
    assert read_metrics(tr.metrics_path)[-1]["step"] == 20  # records after the checkpoint are dropped


def test_finite_names_must_be_returned():
    tr = _linear_trainer(None, TrainConfig(steps=3, device="cpu", finite=("d_loss",), progress=False))
    with pytest.raises(ValueError, match="d_loss"):
        tr.fit(_linear_step, _linear_sample)


def test_resume_continues_when_steps_grow(tmp_path):
    script = _load_script("resume_mlp")
    script.train(str(tmp_path / "run"), 20)
    continued = script.train(str(tmp_path / "run"), 35)
    straight = script.train(None, 35)
    assert continued.step == straight.step == 35
    for a, b in zip(continued.raw("model").state_dict().values(), straight.raw("model").state_dict().values()):
        assert torch.equal(a, b)
    assert continued.history == straight.history


def test_kill_and_resume_is_bit_identical(tmp_path):
    script = _load_script("resume_mlp")
    reference = script.train(str(tmp_path / "ref"), 60)  # uninterrupted, in this process
    out = tmp_path / "run"
    command = [sys.executable, str(SCRIPTS / "resume_mlp.py"), str(out), "60"]
    killed = subprocess.run([*command, "37"], env=_script_env(), capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert json.loads((out / ".lock").read_text())["pid"] != os.getpid()  # names the dead process, blocks nothing
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 30
    assert read_metrics(out / "metrics.jsonl")[-1]["step"] == 35  # logged after the last checkpoint

    resumed = subprocess.run(command, env=_script_env(), capture_output=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr.decode()
    final = load_checkpoint(out / "checkpoint.pt")
    assert final["step"] == 60
    for name, value in reference.raw("model").state_dict().items():
        assert torch.equal(final["modules"]["model"][name], value), name
    for name, value in reference.ema_module("model").state_dict().items():
        assert torch.equal(final["ema"]["model"]["module"][name], value), name
    assert read_metrics(out / "metrics.jsonl") == read_metrics(tmp_path / "ref" / "metrics.jsonl")

    metrics_bytes, checkpoint_bytes = (out / "metrics.jsonl").read_bytes(), (out / "checkpoint.pt").read_bytes()
    again = script.train(str(out), 60)  # a complete run: loads and returns without training
    assert again.step == 60 and again.is_complete
    assert (out / "metrics.jsonl").read_bytes() == metrics_bytes
    assert (out / "checkpoint.pt").read_bytes() == checkpoint_bytes
    for name, value in reference.raw("model").state_dict().items():
        assert torch.equal(again.raw("model").state_dict()[name], value), name
    assert again.history == reference.history


def test_resume_deletes_only_temporaries_of_dead_writers(tmp_path):
    config = TrainConfig(steps=3, device="cpu", progress=False)
    _linear_trainer(tmp_path, config).fit(_linear_step, _linear_sample)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    files = {
        "dead": tmp_path / f".checkpoint.pt.{dead.pid}.deadbeef.tmp",  # a writer killed mid-save
        "dead metrics": tmp_path / f".metrics.jsonl.{dead.pid}.00c0ffee.tmp",
        "own": tmp_path / f".checkpoint.pt.{os.getpid()}.0badcafe.tmp",
        "live": tmp_path / ".checkpoint.pt.1.feedf00d.tmp",  # PID 1 (init) is alive: it may be writing now
        "foreign": tmp_path / ".checkpoint.pt.notours.tmp",  # not a name latentkit makes
    }
    for path in files.values():
        path.write_bytes(b"half")
    assert _linear_trainer(tmp_path, config).resume()
    assert {name for name, path in files.items() if path.exists()} == {"live", "foreign"}


# ---------------------------------------------------------------------------------------- run-folder lock


def test_run_lock_is_exclusive_names_its_holder_and_is_released(tmp_path):
    folder = tmp_path / "out" / "name"
    with RunLock(folder) as lock:  # creates the folder
        assert lock.held and json.loads((folder / ".lock").read_text())["pid"] == os.getpid()
        start = time.monotonic()
        with pytest.raises(RunLockedError) as info:
            RunLock(folder).acquire()  # a second lock, even in the same process
        assert time.monotonic() - start < 0.5  # refused at once, never waits
        message = str(info.value)
        assert message.startswith(f"run folder {folder} is in use by process {os.getpid()} (this process, started ")
        assert message.endswith("wait for it to finish or train into another folder (--out / out_dir)")
        assert "\n" not in message and (info.value.folder, info.value.pid) == (folder, os.getpid())
        with pytest.raises(RuntimeError, match="not re-entrant"):
            lock.acquire()
        with RunLock(folder / "train" / "phase0") as inner:  # a subfolder has a lock of its own
            assert inner.held
    assert not lock.held and (folder / ".lock").read_text() == ""
    with lock:  # taken again after its release
        assert lock.held
    (folder / ".lock").write_text(json.dumps({"pid": 1, "host": "h", "started": "then"}))  # left by a dead holder
    with RunLock(folder):  # only a held flock blocks, never the file
        pass


def test_a_locked_folder_is_refused_before_any_file_is_touched(tmp_path):
    config = TrainConfig(steps=4, device="cpu", log_every=1, progress=False)
    _linear_trainer(tmp_path, config).fit(_linear_step, _linear_sample)
    (tmp_path / f".checkpoint.pt.{os.getpid()}.0badcafe.tmp").write_bytes(b"half")  # resume would delete it
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 5, "lo')  # resume would drop this partial line
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != ".lock"}
    more = TrainConfig(steps=8, device="cpu", log_every=1, progress=False)
    with RunLock(tmp_path):
        for call in (lambda t: t.fit(_linear_step, _linear_sample), Trainer.resume, Trainer.save):
            trainer = _linear_trainer(tmp_path, more)
            with pytest.raises(RunLockedError, match=f"is in use by process {os.getpid()}"):
                call(trainer)
            assert trainer.step == 0
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != ".lock"} == before
        # a caller holding the lock of a parent folder can train in a subfolder
        assert _linear_trainer(tmp_path / "train", config).fit(_linear_step, _linear_sample).step == 4
    assert _linear_trainer(tmp_path, more).fit(_linear_step, _linear_sample).step == 8  # released: it continues
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == list(range(1, 9))


def test_a_second_process_cannot_train_into_a_running_folder(tmp_path):
    out = tmp_path / "run"
    seen = {}

    def step_fn(trainer, x):
        if trainer.step == 2:  # while this run trains, another process tries the same folder
            seen["second"] = subprocess.run(
                [sys.executable, str(SCRIPTS / "resume_mlp.py"), str(out), "5"],
                env=_script_env(),
                capture_output=True,
                timeout=120,
            )
        return _linear_step(trainer, x)

    config = TrainConfig(steps=6, device="cpu", log_every=1, checkpoint_every=2, progress=False)
    _linear_trainer(out, config).fit(step_fn, _linear_sample)
    second, stderr = seen["second"], seen["second"].stderr.decode()
    assert second.returncode == 1, stderr
    assert f"RunLockedError: run folder {out} is in use by process {os.getpid()} (started " in stderr, stderr
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl")] == [1, 2, 3, 4, 5, 6]
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 6


# -------------------------------------------------------------------------------- non-finite gradients


@pytest.mark.parametrize("grad_clip", [None, 1.0])
def test_non_finite_gradient_stops_before_the_optimizer_step(tmp_path, grad_clip):
    def step_fn(trainer, x):
        weight = trainer.raw("model").weight
        hook = weight.register_hook(lambda g: g * float("nan")) if trainer.step == 4 else None  # in step 5
        try:
            return _linear_step(trainer, x)  # the loss itself stays finite
        finally:
            if hook is not None:
                hook.remove()

    config = TrainConfig(
        steps=10, device="cpu", checkpoint_every=1, log_every=1, grad_clip=grad_clip, ema_decay=0.9, progress=False
    )
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    tr = Trainer(tmp_path, {"model": model}, {"model": optimizer}, config)
    with pytest.raises(NonFiniteGradientError) as info:
        tr.fit(step_fn, _linear_sample)
    error = info.value
    assert isinstance(error, NonFiniteLossError)
    assert str(error) == (
        f"non-finite gradient norm nan of optimizer 'model' at step 5 of 10 (the optimizer did "
        f"not step); the last good checkpoint is {tr.checkpoint_path} (step 4), left intact"
    )
    assert (error.step, error.optimizer, error.checkpoint) == (5, "model", tr.checkpoint_path)
    assert np.isnan(error.value)
    ckpt = load_checkpoint(tr.checkpoint_path)
    assert ckpt["step"] == 4 and read_metrics(tr.metrics_path)[-1]["step"] == 4
    saved = [*ckpt["modules"]["model"].values(), *ckpt["ema"]["model"]["module"].values()]
    assert all(bool(torch.isfinite(v).all()) for v in saved)
    for name, value in model.state_dict().items():  # the weights in memory are those of step 4
        assert torch.equal(value, ckpt["modules"]["model"][name]), name
    assert int(optimizer.state[model.weight]["step"]) == 4


def test_save_refuses_non_finite_weights(tmp_path):
    def poison(target):
        def step_fn(trainer, x):
            metrics = _linear_step(trainer, x)
            if trainer.step == 2:  # in step 3, after the optimizer step: the loss stays finite
                with torch.no_grad():
                    target(trainer).view(-1)[0] = float("inf")
            return metrics

        return step_fn

    config = TrainConfig(steps=5, device="cpu", checkpoint_every=1, ema_decay=0.5, progress=False)
    for i, (what, target) in enumerate(
        [
            ("module 'model' parameter 'bias'", lambda t: t.raw("model").bias),
            ("the EMA of module 'model' parameter 'weight'", lambda t: t.emas["model"].module.weight),
        ]
    ):
        tr = _linear_trainer(tmp_path / str(i), config)
        with pytest.raises(NonFiniteLossError) as info:
            tr.fit(poison(target), _linear_sample)
        assert str(info.value) == (
            f"{what} holds a non-finite value (inf) after step 3 of 5; no checkpoint was "
            f"written; the last good checkpoint is {tr.checkpoint_path} (step 2), left intact"
        )
        assert load_checkpoint(tr.checkpoint_path)["step"] == 2


def test_a_checkpoint_with_non_finite_weights_is_never_called_good(tmp_path):
    tr = _linear_trainer(tmp_path, TrainConfig(steps=2, device="cpu", progress=False))
    tr.fit(_linear_step, _linear_sample)
    ckpt = load_checkpoint(tr.checkpoint_path)
    ckpt["modules"]["model"]["weight"][0, 0] = float("nan")
    save_checkpoint(tr.checkpoint_path, ckpt)  # as a version without the check could have written it
    resumed = _linear_trainer(tmp_path, TrainConfig(steps=4, device="cpu", progress=False))
    with pytest.warns(UserWarning, match="non-finite weights"), pytest.raises(NonFiniteLossError) as info:
        resumed.fit(_linear_step, _linear_sample)
    message = str(info.value)
    assert "last good" not in message and info.value.checkpoint is None
    assert (
        f"the checkpoint {tr.checkpoint_path} (step 2) this run resumed from already holds non-finite "
        "weights (module 'model' parameter 'weight' = nan)"
    ) in message


# ------------------------------------------------------------------------------------------------ SIGTERM


def test_sigterm_finishes_the_step_checkpoints_it_and_restores_the_handler(tmp_path):
    received = []
    original = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    previous = signal.getsignal(signal.SIGTERM)

    def step_fn(trainer, x):
        metrics = _linear_step(trainer, x)
        if trainer.step + 1 == 7:  # in step 7
            os.kill(os.getpid(), signal.SIGTERM)
        return metrics

    try:
        config = TrainConfig(steps=20, device="cpu", checkpoint_every=5, log_every=1, progress=False)
        tr = _linear_trainer(tmp_path / "a", config)
        with pytest.raises(TrainingInterrupted) as info:
            tr.fit(step_fn, _linear_sample)
        assert str(info.value) == (
            f"stopped by SIGTERM at step 7 of 20; checkpoint {tr.checkpoint_path} (step 7) "
            "written; run the same command again to resume"
        )
        assert (info.value.step, info.value.checkpoint, info.value.signal) == (7, tr.checkpoint_path, signal.SIGTERM)
        assert load_checkpoint(tr.checkpoint_path)["step"] == 7 and read_metrics(tr.metrics_path)[-1]["step"] == 7
        assert signal.getsignal(signal.SIGTERM) is previous and received == []

        short = TrainConfig(steps=7, device="cpu", progress=False)
        with pytest.raises(TrainingInterrupted, match="at step 7 of 7; checkpoint .* written; the run is complete$"):
            _linear_trainer(tmp_path / "b", short).fit(step_fn, _linear_sample)
        with pytest.raises(TrainingInterrupted, match=r"nothing was saved \(an in-memory run, out_dir=None\)$"):
            _linear_trainer(None, short).fit(step_fn, _linear_sample)

        late = _linear_trainer(tmp_path / "c", TrainConfig(steps=3, device="cpu", progress=False))
        save = late.save

        def save_then_signal():  # after the last step's check: the signal goes to the previous handler
            save()
            os.kill(os.getpid(), signal.SIGTERM)

        late.save = save_then_signal
        assert late.fit(_linear_step, _linear_sample).step == 3
        assert received == [signal.SIGTERM] and signal.getsignal(signal.SIGTERM) is previous
    finally:
        signal.signal(signal.SIGTERM, original)


def test_sigterm_checkpoints_and_the_run_resumes_bit_identically(tmp_path):
    script = _load_script("resume_mlp")
    reference = script.train(str(tmp_path / "ref"), 60)  # uninterrupted, in this process
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "resume_mlp.py"), str(out), "60", "--delay", "0.04"],
        env=_script_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    metrics, deadline = out / "metrics.jsonl", time.monotonic() + 60
    try:
        while not (metrics.is_file() and any(r["step"] >= 10 for r in read_metrics(metrics))):
            assert process.poll() is None and time.monotonic() < deadline, "the training script did not get to step 10"
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    stderr = stderr.decode()
    assert process.returncode == 1, stderr  # an exception, not death by the signal
    step = load_checkpoint(out / "checkpoint.pt")["step"]
    assert 10 <= step < 60
    assert (
        f"TrainingInterrupted: stopped by SIGTERM at step {step} of 60; checkpoint {out / 'checkpoint.pt'} "
        f"(step {step}) written; run the same command again to resume"
    ) in stderr
    assert read_metrics(metrics)[-1]["step"] == step - step % 5  # logged on the usual schedule only

    resumed = script.train(str(out), 60)
    assert resumed.start_step == step and resumed.step == 60
    final = load_checkpoint(out / "checkpoint.pt")
    for name, value in reference.raw("model").state_dict().items():
        assert torch.equal(final["modules"]["model"][name], value), name
    for name, value in reference.ema_module("model").state_dict().items():
        assert torch.equal(final["ema"]["model"]["module"][name], value), name
    assert resumed.history == reference.history
    assert read_metrics(metrics) == read_metrics(tmp_path / "ref" / "metrics.jsonl")


# ------------------------------------------------------------------------------------------------ compile


def test_compile_is_ignored_off_cuda_and_may_change_when_a_run_continues(tmp_path):
    with pytest.raises(ValueError, match="TrainConfig.compile"):
        TrainConfig(steps=1, compile="yes")
    base = {"steps": 6, "device": "cpu", "log_every": 1, "checkpoint_every": 3, "progress": False}
    plain = _linear_trainer(None, TrainConfig(**base)).fit(_linear_step, _linear_sample)
    compiled = _linear_trainer(tmp_path, TrainConfig(**base, compile=True))
    assert compiled.module("model") is compiled.raw("model")
    compiled.fit(_linear_step, _linear_sample)
    assert compiled.history == plain.history
    for name, value in plain.raw("model").state_dict().items():
        assert torch.equal(compiled.raw("model").state_dict()[name], value), name
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # switching compile is not a reproducibility warning
        assert (
            _linear_trainer(tmp_path, TrainConfig(**{**base, "steps": 8})).fit(_linear_step, _linear_sample).step == 8
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="torch.compile is used on CUDA only")
def test_compile_on_cuda_keeps_plain_modules_and_checkpoints(tmp_path):
    def step_fn(trainer, x):
        return _linear_step(trainer, x.to(trainer.device))

    tr = _linear_trainer(tmp_path, TrainConfig(steps=4, device="cuda", compile=True, progress=False))
    assert tr.module("model") is not tr.raw("model") and type(tr.raw("model")) is nn.Linear
    tr.fit(step_fn, _linear_sample)
    assert set(load_checkpoint(tr.checkpoint_path)["modules"]["model"]) == {"weight", "bias"}
    assert (
        _linear_trainer(tmp_path, TrainConfig(steps=6, device="cuda", progress=False)).fit(step_fn, _linear_sample).step
        == 6
    )


# ----------------------------------------------------------------------------------------------- DDP


@pytest.mark.slow
def test_ddp_two_processes_agree_and_resume(tmp_path):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(SCRIPTS / "ddp_train.py"),
        str(tmp_path),
    ]
    result = subprocess.run(command, env=_script_env(), capture_output=True, timeout=240, cwd=ROOT)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["rank"] for r in ranks] == [0, 1] and ranks[0]["world_size"] == 2
    for name, value in ranks[0]["c"].items():
        assert torch.equal(value, ranks[1]["c"][name]), name  # DDP keeps the ranks in step
        for r in ranks:
            assert torch.equal(r["b"][name], r["c"][name]), name  # resumed (a -> b) == uninterrupted (c)
    assert not torch.equal(ranks[0]["batches"], ranks[1]["batches"])  # each rank draws its own batches
    assert ranks[0]["b_history"] == ranks[0]["c_history"] == ranks[1]["c_history"]  # metrics averaged
    records = read_metrics(tmp_path / "c" / "metrics.jsonl")  # rank 0 alone writes
    assert [r["step"] for r in records] == [5, 10, 15, 20, 25, 30]
    assert len(load_checkpoint(tmp_path / "c" / "checkpoint.pt")["rng"]) == 2  # one RNG state per rank
    for r in ranks:  # SIGTERM on rank 1 alone in step 7: every rank stops after step 7, which is saved
        assert r["d_step"] == 7 and r["d_message"].startswith("stopped by SIGTERM at step 7 of 30; checkpoint ")
        assert r["e_refused"].startswith(f"run folder {tmp_path / 'e'} is in use by process ")  # rank 0 locked it
    assert load_checkpoint(tmp_path / "d" / "checkpoint.pt")["step"] == 7


def test_a_checkpoint_without_the_training_state_is_refused_with_what_it_lacks(tmp_path):
    net = nn.Linear(1, 1)
    save_checkpoint(
        tmp_path / "checkpoint.pt", {"step": 3, "modules": {"net": net.state_dict()}, "optimizers": {"net": {}}}
    )
    trainer = Trainer(
        tmp_path,
        {"net": net},
        {"net": torch.optim.SGD(net.parameters(), lr=0.1)},
        TrainConfig(steps=5, device="cpu", progress=False),
    )
    with pytest.raises(CheckpointError, match="lacks 'rng'"):
        trainer.resume()


def test_huge_finite_gradients_whose_float32_norm_overflows_are_stepped_not_refused():
    """A diverging GAN (the thesis's learning rate 5) has finite gradients whose float32 norm is inf."""
    net = nn.Linear(4, 1)
    trainer = Trainer(
        None,
        {"net": net},
        {"net": torch.optim.SGD(net.parameters(), lr=1e-20)},
        TrainConfig(steps=1, device="cpu", progress=False),
    )
    loss = net(torch.full((2, 4), 1e19)).sum()  # weight gradients 2e19: their squares overflow float32
    before = net.weight.detach().clone()
    norm = trainer.backward_step(loss, "net")
    assert math.isfinite(norm) and norm > 1e19, norm
    assert not torch.equal(net.weight, before), "the optimizer stepped"
