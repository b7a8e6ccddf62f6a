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
