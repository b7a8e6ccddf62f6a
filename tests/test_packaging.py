"""Packaging: pins agree between pyproject.toml and environment.yml; the setup commands exist."""

from __future__ import annotations

import tomllib

import yaml
from packaging.requirements import Requirement


def _pins(requirements: list[str]) -> dict[str, str]:
    parsed = [Requirement(r) for r in requirements]
    return {r.name.lower().replace("_", "-"): str(r.specifier) for r in parsed}


def test_environment_yml_pins_the_same_versions_as_pyproject(repo_root):
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    declared = _pins(project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((repo_root / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda = _pins([line for line in pip_section if not line.startswith("-e")])
    assert conda == declared
    assert "-e ." in pip_section, "environment.yml must install latentkit itself"


def test_pytorch_pair_and_jupyter_book_1_are_pinned(repo_root):
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    pins = _pins(project["dependencies"])
    assert pins["torch"] == "==2.14.1"
    assert pins["torchvision"] == "==0.29.1"
    assert Requirement("jupyter-book" + pins["jupyter-book"]).specifier.contains("1.0.4.post1")
    assert not Requirement("jupyter-book" + pins["jupyter-book"]).specifier.contains("2.0.0")
    for name in ("ipywidgets", "matplotlib", "scikit-learn", "nbval", "papermill", "tqdm", "mlxtend", "pytest"):
        assert name in pins, f"{name} missing from the dependencies"


def test_installed_versions_satisfy_the_pins(repo_root):
    from importlib.metadata import version

    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    for requirement in map(Requirement, project["dependencies"]):
        assert requirement.specifier.contains(version(requirement.name), prereleases=True), requirement


def test_readme_gives_the_two_setup_commands_and_ci_calls_the_test_one(repo_root):
    readme = (repo_root / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    ci = (repo_root / ".ci" / "run").read_text()
    assert "make test" in ci
    makefile = (repo_root / "Makefile").read_text()
    for target in ("book:", "test:", "install:"):
        assert target in makefile
    assert "--nbval-lax" in makefile and "jupyter-book build --all -W --keep-going" in makefile
