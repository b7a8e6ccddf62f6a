"""The book: chapters stored clean with a typed parameters cell, a table of contents that matches,
pages for readers (no scaffolding, code that fits the column, a working "Run it yourself" box), and a
build that fails on a failing cell (and shows figures when it succeeds)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

BOOK_CONFIG_KEYS = ("execute", "sphinx", "bibtex_bibfiles")
ANNOTATED = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*:\s*(?P<type>[^=]+?)\s*=\s*(?P<value>.+?)\s*#\s*(?P<help>\S.*)$")


def chapters(root: Path) -> list[Path]:
    return sorted((root / "book").glob("*.ipynb"))


def toc_files(root: Path) -> list[str]:
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]
    for entry in toc.get("chapters", []):
        files.append(entry["file"])
    return files


def test_every_chapter_is_in_the_toc_and_every_toc_entry_exists(repo_root):
    listed = toc_files(repo_root)
    for nb in chapters(repo_root):
        assert f"book/{nb.stem}" in listed, f"{nb.name} is not in _toc.yml"
    for entry in listed:
        assert any((repo_root / f"{entry}{ext}").exists() for ext in (".md", ".ipynb")), entry


@pytest.mark.parametrize("nb_path", chapters(Path(__file__).resolve().parents[1]), ids=lambda p: p.name)
def test_chapter_is_stored_clean_with_typed_parameters(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "store chapters with the python3 kernelspec"
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        assert not cell.get("outputs"), f"{nb_path.name}: a cell is stored with outputs"
        assert cell.get("execution_count") is None, f"{nb_path.name}: a cell is stored with an execution count"
    first = code[0]
    assert "parameters" in first.metadata.get("tags", []), "the first code cell must be tagged 'parameters'"
    names = set()
    for line in first.source.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        assert line.count("=") == 1, f"{nb_path.name}: papermill cannot parse a second '=' (e.g. in the help): {line!r}"
        match = ANNOTATED.match(line.strip())
        assert match, f"{nb_path.name}: parameter line without 'name: type = value  # help': {line!r}"
        names.add(match["name"])
    assert {"device", "seed", "out_dir"} <= names, f"{nb_path.name}: common parameters missing: {names}"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.lstrip().startswith("# "), (
        "chapters open with a title"
    )


CODE_COLUMNS = 90  # the book's code column shows about 90 characters without scrolling
LIVE_WIDGET = re.compile(r"\bipywidgets\b|\bwidgets\.\w+\(|interactive_or_static")


def _tags(cell) -> list[str]:
    return list(cell.metadata.get("tags", []))


@pytest.mark.parametrize("nb_path", chapters(Path(__file__).resolve().parents[1]), ids=lambda p: p.name)
def test_chapter_page_has_no_scaffolding_and_fits_the_column(nb_path):
    """What the book shows of a chapter: no check cells, no dead widgets, no line wider than the column."""
    nb = nbformat.read(nb_path, as_version=4)
    for i, cell in enumerate(nb.cells):
        where = f"{nb_path.name}, cell {i}"
        assert "NBVAL_CHECK_OUTPUT" not in cell.source, (
            f"{where}: NBVAL_CHECK_OUTPUT can never fail on a notebook stored without outputs; assert instead"
        )
        if cell.cell_type != "code":
            continue
        tags = _tags(cell)
        if "parameters" not in tags:  # the parameters cell keeps one line per parameter; the CSS wraps it
            wide = [line for line in cell.source.splitlines() if len(line) > CODE_COLUMNS]
            assert not wide, f"{where}: {len(wide)} line(s) wider than {CODE_COLUMNS} columns, e.g. {wide[0]!r}"
        if re.search(r"^\s*assert\b", cell.source, re.M):
            assert "remove-cell" in tags, f"{where}: a check cell (assert) must be tagged remove-cell"
        if LIVE_WIDGET.search(cell.source):
            assert "remove-cell" in tags, (
                f"{where}: a live ipywidgets view is dead on a static page: tag it remove-cell and show "
                "a viz.frame_slider beside it"
            )


_BOX = re.compile(r":::\{admonition\} Run it yourself\n:class: tip\n(?P<body>.*?)\n:::", re.S)
_COMMAND = re.compile(r"`(\.venv/bin/(?:papermill|latentkit|jupyter)[^`]*)`")


def _run_it_yourself_commands(nb_path: Path) -> list[list[str]]:
    nb = nbformat.read(nb_path, as_version=4)
    last = nb.cells[-1]
    assert last.cell_type == "markdown", f"{nb_path.name}: the last cell must be the Run it yourself box"
    box = _BOX.search(last.source)
    assert box, f"{nb_path.name}: the last cell has no ':::{{admonition}} Run it yourself' box with :class: tip"
    commands = [shlex.split(c) for c in _COMMAND.findall(box["body"])]
    kinds = {c[0].rsplit("/", 1)[-1] for c in commands}
    assert {"papermill", "latentkit", "jupyter"} <= kinds, f"{nb_path.name}: the box lacks a command: {kinds}"
    return commands


@pytest.mark.parametrize("nb_path", chapters(Path(__file__).resolve().parents[1]), ids=lambda p: p.name)
def test_run_it_yourself_box_commands_are_valid(nb_path):
    """Every command of the box names this notebook, its parameters with values of their type, and presets
    whose chapter is this notebook (the commands themselves were run once when the box was written)."""
    from latentkit.experiments import chapters as chapter_table
    from latentkit.experiments import registry

    chapter = chapter_table.chapter(nb_path.name)
    relative = f"book/{nb_path.name}"
    bin_dir = Path(sys.executable).parent  # .venv/bin, which `make book` and `make test` install
    for command in _run_it_yourself_commands(nb_path):
        tool, args = command[0].rsplit("/", 1)[-1], command[1:]
        executable = f"jupyter-{args[0]}" if tool == "jupyter" else tool
        assert (bin_dir / executable).is_file(), f"{command}: {executable} is not installed in {bin_dir}"
        if tool == "jupyter":
            assert args[:2] == ["lab", relative], command
        elif tool == "papermill":
            assert args[0] == relative and args[1].endswith(".ipynb"), command
            rest = args[2:]
            assert rest and len(rest) % 3 == 0, f"papermill options must be '-p NAME VALUE': {command}"
            for flag, name, value in zip(rest[::3], rest[1::3], rest[2::3]):
                assert flag == "-p", command
                assert name in chapter.parameters, f"{nb_path.name}: {name!r} is not a parameter of the chapter"
                kind = chapter.parameters[name].type_name
                parsed = yaml.safe_load(value)  # papermill reads -p values as YAML scalars
                ok = isinstance(parsed, {"int": int, "float": (int, float), "bool": bool, "str": str}[kind])
                assert ok and not (kind != "bool" and isinstance(parsed, bool)), f"-p {name} {value}: not a {kind}"
        else:
            assert args[0] in ("train", "run", "show"), command
            preset = registry.get(args[1])
            assert Path(preset.chapter).name == nb_path.name, f"preset {args[1]} runs {preset.chapter}"
            if args[0] != "show":
                assert "--out" in args, f"{command}: give --out so the reader knows where the run goes"


def test_config_fails_on_errors_and_executes_every_chapter(repo_root):
    config = yaml.safe_load((repo_root / "_config.yml").read_text())
    for key in BOOK_CONFIG_KEYS:
        assert key in config
    assert config["execute"]["execute_notebooks"] in ("force", "cache")
    assert config["sphinx"]["config"]["nb_execution_raise_on_error"] is True


def _mini_book(tmp_path: Path, repo_root: Path, notebook: nbformat.NotebookNode) -> Path:
    """A copy of the book's configuration with one chapter: ``notebook``."""
    book = tmp_path / "book"
    (book / "book").mkdir(parents=True)
    shutil.copy(repo_root / "_config.yml", book / "_config.yml")
    shutil.copy(repo_root / "book" / "references.bib", book / "book" / "references.bib")
    for folder in ("_ext", "_static"):  # the book's Sphinx extension and stylesheet, which _config.yml names
        shutil.copytree(repo_root / "book" / folder, book / "book" / folder)
    (book / "book" / "intro.md").write_text("# Test book\n\nA copy of one chapter.\n")
    (book / "book" / "bibliography.md").write_text("# Bibliography\n\n```{bibliography}\n:all:\n```\n")
    (book / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/chapter\n  - file: book/bibliography\n"
    )
    nbformat.write(notebook, book / "book" / "chapter.ipynb")
    return book


def _build(book: Path) -> subprocess.CompletedProcess:
    jb = Path(sys.executable).parent / "jupyter-book"
    return subprocess.run(
        [str(jb), "build", "--all", "-W", "--keep-going", str(book)], capture_output=True, text=True, timeout=600
    )


def _getting_started(repo_root: Path, steps: int) -> nbformat.NotebookNode:
    nb = nbformat.read(repo_root / "book" / "00_getting_started.ipynb", as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = re.sub(r"^steps: int = \d+", f"steps: int = {steps}", params.source, flags=re.M)
    # the chapter's claims hold at its default scale only (e.g. the code beats PCA after 600 steps, not 40)
    params.source = re.sub(r"^check: bool = True", "check: bool = False", params.source, flags=re.M)
    assert f"steps: int = {steps}" in params.source and "check: bool = False" in params.source
    return nb


@pytest.mark.slow
def test_a_failing_cell_fails_the_book_build(tmp_path, repo_root):
    nb = _getting_started(repo_root, steps=20)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell('raise RuntimeError("deliberate failure for the test")'))
    result = _build(_mini_book(tmp_path, repo_root, nb))
    assert result.returncode != 0, "the build passed although a cell raised"
    assert "deliberate failure for the test" in result.stdout + result.stderr


@pytest.mark.slow
def test_the_built_chapter_is_executed_and_shows_its_figures(tmp_path, repo_root):
    result = _build(_mini_book(tmp_path, repo_root, _getting_started(repo_root, steps=40)))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html_dir = tmp_path / "book" / "_build" / "html"
    assert (html_dir / "index.html").exists()
    page = (html_dir / "book" / "chapter.html").read_text()
    images = re.findall(r"<img[^>]+src=\"([^\"]+\.png)\"", page)
    assert len(images) >= 4, f"expected the chapter's figures in the HTML, found {images}"
    for src in images:
        assert (html_dir / "book" / src).resolve().exists(), src
    assert "torch.equal" in page or "identical" in page
