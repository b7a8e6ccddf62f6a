"""latentkit.experiments.gpu_check: the GPU check refuses without CUDA and, on the CPU (--allow-cpu --tiny),
writes its report with every field for every method, and every resume check ends bit-identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from latentkit.experiments import gpu_check

RUN_KEYS = {
    "bf16",
    "compile",
    "steps",
    "wall_s",
    "setup_s",
    "steps_per_s",
    "steps_per_s_mean",
    "warmup_overhead_s",
    "images_per_s",
    "peak_memory_gb",
    "loss_finite",
    "error",
}
METHOD_KEYS = {
    "preset",
    "model",
    "batch_size",
    "full_steps",
    "config",
    "dataset_gb",
    "variants",
    "skipped",
    "resume",
    "fastest",
    "projected_hours",
}


def test_refuses_without_cuda(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "report.json"
    assert gpu_check.main(["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs a CUDA device" in err and "--allow-cpu" in err
    assert not out.exists()


def test_bad_steps_and_method_are_refused(tmp_path, capsys):
    assert gpu_check.main(["--allow-cpu", "--steps", "1", "--out", str(tmp_path / "r.json")]) == 2
    assert "--steps must be >= 2" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        gpu_check.main(["--allow-cpu", "--methods", "vae"])
    assert info.value.code == 2


def test_every_method_builds_its_paper_config():
    cases = {m: gpu_check.build_case(m) for m in gpu_check.METHODS}
    assert cases["score"].config.channels == (32, 64) and cases["score"].full_steps == 80_000
    assert cases["growing"].config.resolution == 128 and cases["growing"].config.strategy == "bGAN"
    assert cases["ivegan"].config.z_dim == 1024 and cases["ivegan"].config.size == 128
    assert cases["nif"].config.hidden == 256 and cases["nif"].config.size == 64
    for case in cases.values():  # the variants only change steps, device, bf16, compile and progress
        cfg = gpu_check.variant(case, 10, torch.device("cpu"), True, True)
        assert cfg.mixed_precision and cfg.compile and not cfg.progress


@pytest.mark.slow
def test_cpu_run_writes_the_report(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "latentkit.experiments.gpu_check",
            "--allow-cpu",
            "--tiny",
            "--steps",
            "3",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["schema"] == gpu_check.SCHEMA and report["tiny"] and not report["cuda"]
    assert "synthetic" in report["synthetic_data"] and report["wall_s"] > 0
    assert set(report["methods"]) == set(gpu_check.METHODS)
    for name, rec in report["methods"].items():
        assert METHOD_KEYS <= set(rec), name
        (run,) = rec["variants"]  # on the CPU: fp32 eager only, the other three recorded as skipped
        assert RUN_KEYS <= set(run) and run["error"] is None and run["loss_finite"] and run["steps"] == 3, (name, run)
        assert run["steps_per_s"] > 0 and run["images_per_s"] == pytest.approx(run["steps_per_s"] * rec["batch_size"])
        assert {(s["bf16"], s["compile"]) for s in rec["skipped"]} == {(True, False), (True, True), (False, True)}
        resume = rec["resume"]
        assert resume["error"] is None and resume["resumed_from_step"] == 1, (name, resume)
        assert resume["equal"] and resume["max_abs_diff"] == 0.0, (name, resume)
        assert rec["projected_hours"] == pytest.approx(rec["full_steps"] / run["steps_per_s"] / 3600)
    assert "resume 1 -> 3" in result.stdout
