"""Packaging: what the library declares, what constraints.txt pins, and that the setup commands use the pins.

The contract (issue 15): runtime dependencies are what ``latentkit`` imports, with lower bounds only; the book's
and the tests' tools are extras (``book``, ``test``); the exact versions the book and CI run with are pinned in
``constraints.txt``, which ``make install`` and ``environment.yml`` install with.

``constraints.txt`` is this module's output on the environment ``make install`` made (Linux, CPython 3.11):
``.venv/bin/python tests/test_packaging.py > constraints.txt`` after changing a dependency or an installed version.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest itself depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
BOOK_AND_TEST_TOOLS = {
    "jupyter-book",
    "sphinx",
    "ipywidgets",
    "ipykernel",
    "papermill",
    "nbval",
    "nbclient",
    "nbformat",
    "pytest",
    "pytest-timeout",
    "ruff",
    "setuptools",
    "pyyaml",
}
# Imported by one code path only, inside a function, and declared in an extra: module -> extra.
EXTRA_ONLY_MODULES = {
    "papermill": "book",
    "ipywidgets": "book",
    "jupyter_client": "book",
    "traitlets": "book",
    "pytorch_fid": "fid",
}
# Import names of declared packages that need not be installed here (the bench / fid extras).
NOT_INSTALLED = {"pytorch_fid": "pytorch-fid", "diffusers": "diffusers"}
INSTALLED_EXTRAS = ("book", "test")  # what `make install` installs, hence what constraints.txt covers


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _by_name(requirements: list[str]) -> dict[str, Requirement]:
    parsed = [Requirement(r) for r in requirements]
    return {canonicalize_name(r.name): r for r in parsed}


def _constraints() -> dict[str, str]:
    """constraints.txt as ``{name: version}``; every line must be ``name==version`` (or a comment)."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)", line)
        assert match, f"constraints.txt: {line!r} is not name==version"
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def _closure(requirements: list[str]) -> dict[str, str]:
    """The installed distributions ``requirements`` need, transitively (markers evaluated here): name -> version.
    A missing one is an error naming it (`make install` installs them all)."""
    found: dict[str, str] = {}
    done: set[tuple[str, str]] = set()
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        req, extra = todo.pop()  # `extra`: the extra of the requiring distribution that ``req`` belongs to
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise AssertionError(f"{name} (needed as {req}) is not installed: run `make install`") from None
        found[name] = dist.version
        for wanted in ("", *sorted(req.extras)):
            if (name, wanted) in done:
                continue
            done.add((name, wanted))
            for sub in map(Requirement, dist.requires or []):
                in_base = sub.marker is None or sub.marker.evaluate({"extra": ""})
                if (in_base and not wanted) or (wanted and not in_base):
                    todo.append((sub, wanted))
    return found


def _pinned_closure() -> dict[str, str]:
    """What latentkit's dependencies and the installed extras need here, without latentkit itself."""
    project = _project()
    extras = project["optional-dependencies"]
    found = _closure(project["dependencies"] + [r for e in INSTALLED_EXTRAS for r in extras[e]])
    found.pop("latentkit", None)
    return found


def render_constraints() -> str:
    """constraints.txt for the environment this interpreter runs in: every distribution that latentkit's
    runtime dependencies and the book and test extras need, pinned to its installed version."""
    pins = _pinned_closure()
    head = (
        f"# Exact versions the book and CI are tested with: latentkit's dependencies and its "
        f"{' and '.join(INSTALLED_EXTRAS)} extras,\n"
        f"# transitively, as installed by `make install` on Linux x86-64 with CPython "
        f"{sys.version_info.major}.{sys.version_info.minor}.\n"
        "# Used by `make install` (pip -c) and environment.yml. Regenerate after changing a dependency:\n"
        "#   .venv/bin/python tests/test_packaging.py > constraints.txt\n"
    )
    return head + "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


# ----------------------------------------------------------------------------------------- declarations


def test_runtime_dependencies_have_lower_bounds_only_and_no_book_or_test_tools():
    project = _project()
    runtime = _by_name(project["dependencies"])
    for name, req in runtime.items():
        operators = {spec.operator for spec in req.specifier}
        assert operators == {">="}, f"{req}: a runtime dependency takes a lower bound only (pins: constraints.txt)"
        assert req.marker is None and not req.url, req
    assert not BOOK_AND_TEST_TOOLS & set(runtime), f"book/test tools in the runtime dependencies: {runtime}"
    extras = project["optional-dependencies"]
    assert {"book", "test", "bench", "fid"} <= set(extras)
    assert {"jupyter-book", "ipywidgets", "ipykernel", "papermill"} <= set(_by_name(extras["book"]))
    assert {"pytest", "pytest-timeout", "nbval", "ruff"} <= set(_by_name(extras["test"]))


def test_python_versions_and_license_are_declared(repo_root):
    text = (repo_root / "pyproject.toml").read_text()
    build = tomllib.loads(text)["build-system"]
    project = _project()
    assert project["requires-python"] == ">=3.10"
    declared = {c.rsplit(" :: ", 1)[-1] for c in project["classifiers"] if c.startswith("Programming Language")}
    assert {"3.10", "3.11", "3.12", "3.13"} <= declared
    # An SPDX string needs setuptools >= 77 (PEP 639), and then no License classifier.
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert not any(c.startswith("License ::") for c in project["classifiers"])
    setuptools = next(Requirement(r) for r in build["requires"] if Requirement(r).name == "setuptools")
    assert not setuptools.specifier.contains("76.9") and setuptools.specifier.contains("77.0")


def _imports(path: Path) -> list[tuple[str, bool]]:
    """``(top-level module, imported inside a function)`` for every absolute import in a file."""
    found = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name.split(".")[0], lazy) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module.split(".")[0], lazy))
            visit(child, lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(ast.parse(path.read_text(), str(path)), False)
    return found


def test_every_third_party_module_the_library_imports_is_declared(repo_root):
    project = _project()
    runtime = set(_by_name(project["dependencies"]))
    extras = {e: set(_by_name(reqs)) for e, reqs in project["optional-dependencies"].items()}
    distributions = metadata.packages_distributions()
    seen = set()
    for path in sorted((repo_root / "latentkit").rglob("*.py")):
        for module, lazy in _imports(path):
            if module in sys.stdlib_module_names or module in ("latentkit", "__future__"):
                continue
            names = distributions.get(module) or [NOT_INSTALLED.get(module, "")]
            assert names[0], f"{path.name} imports {module}, which no installed or known package provides"
            dist = canonicalize_name(names[0])
            seen.add(dist)
            where = f"{path.relative_to(repo_root)} imports {module} (package {dist})"
            if module in EXTRA_ONLY_MODULES:
                assert lazy, f"{where} at module level: only the extra {EXTRA_ONLY_MODULES[module]!r} declares it"
                assert dist in extras[EXTRA_ONLY_MODULES[module]] or dist in runtime, where
            else:
                assert dist in runtime, f"{where}: declare it in [project] dependencies"
    # Every runtime dependency is imported (none left over from an earlier version).
    assert runtime <= seen, f"declared but never imported: {runtime - seen}"


# ----------------------------------------------------------------------------------------- constraints


def test_constraints_pin_the_pytorch_pair_and_jupyter_book_1():
    pins = _constraints()
    assert pins["torch"] == "2.14.1"
    assert pins["torchvision"] == "0.29.1"
    book = _by_name(_project()["optional-dependencies"]["book"])["jupyter-book"]
    assert book.specifier.contains(pins["jupyter-book"]) and not book.specifier.contains("2.0.0")
    assert pins["jupyter-book"].startswith("1.")
    assert "latentkit" not in pins


def test_constraints_pin_every_declared_requirement_within_its_bounds():
    project = _project()
    pins = _constraints()
    extras = project["optional-dependencies"]
    for requirement in project["dependencies"] + [r for e in INSTALLED_EXTRAS for r in extras[e]]:
        req = Requirement(requirement)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is not pinned in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), f"constraints.txt: {name}=={pins[name]} vs {req}"


def test_installed_environment_is_the_pinned_one():
    """What `make install` made matches constraints.txt: every installed distribution that latentkit and its
    book and test extras need is pinned, at the installed version."""
    pins = _constraints()
    differ = {
        name: (version, pins.get(name)) for name, version in _pinned_closure().items() if pins.get(name) != version
    }
    assert not differ, f"installed vs constraints.txt (run `make install`, or regenerate the file): {differ}"


def test_environment_yml_installs_with_the_constraints(repo_root):
    env = yaml.safe_load((repo_root / "environment.yml").read_text())
    tested = re.search(r"CPython (3\.\d+)", (repo_root / "constraints.txt").read_text())[1]
    assert f"python={tested}" in env["dependencies"], "environment.yml: the Python the constraints were made with"
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "-c constraints.txt" in pip_section, "environment.yml must install with the pinned versions"
    assert "-e .[book,test]" in pip_section, "environment.yml must install latentkit itself, with book and test"


def test_makefile_installs_with_the_constraints_and_lints(repo_root):
    makefile = (repo_root / "Makefile").read_text()
    assert re.search(r"^\$\(STAMP\): .*pyproject\.toml", makefile, re.M)
    assert re.search(r"^\$\(STAMP\): .*constraints\.txt", makefile, re.M)
    assert '-e ".[book,test]" -c constraints.txt' in makefile
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    lint, fmt, pytest = (
        test_recipe.find(s) for s in ("ruff check latentkit tests", "ruff format --check latentkit tests", "-m pytest")
    )
    assert -1 < lint < pytest and -1 < fmt < pytest, "make test runs ruff (lint and format check) before pytest"


def test_readme_gives_the_two_setup_commands_and_ci_calls_the_test_one(repo_root):
    readme = (repo_root / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    assert 'pip install "latentkit[book]"' in readme or "pip install ." in readme
    ci = (repo_root / ".ci" / "run").read_text()
    assert "make test" in ci
    makefile = (repo_root / "Makefile").read_text()
    for target in ("book:", "test:", "install:"):
        assert target in makefile
    assert "--nbval-lax" in makefile and "jupyter-book build --all -W --keep-going" in makefile


if __name__ == "__main__":
    sys.stdout.write(render_constraints())
