"""Shared test settings: one CPU thread (fast for small tensors, reproducible) and the repo root."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
# Scripts run as subprocesses by the tests, and benchmarks (run by hand), are not test modules.
collect_ignore = ["engine_scripts", "benchmarks"]
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def python() -> str:
    """The interpreter running the tests (the project's .venv under `make test`)."""
    return sys.executable


@pytest.fixture(scope="session")
def fake_torchvision(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """``(root, truth)``: small fake MNIST / Fashion-MNIST / CIFAR-10 / CelebA files under one root for the
    session (tests/fakedata.py). Open them in-process within ``fakedata.patched_md5(root)``; for a
    subprocess, pre-build the caches it needs with ``fakedata.build_caches`` and set ``LATENTKIT_DATA``."""
    from fakedata import write_fake_torchvision

    root = tmp_path_factory.mktemp("fake_torchvision")
    return root, write_fake_torchvision(root)
