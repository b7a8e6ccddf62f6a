"""Numbers in a chapter's prose come from its run.

Every markdown cell of every chapter is scanned for numbers that look like results of a run: decimals (``0.37``),
percentages (``67 %``), ratios of counts (``8/8``, ``3 / 8``) and ranges of them (``0.64-0.70``). Such a number must
be glued from the executed cell (``{glue:text}`name:.2f```) rather than typed. Not scanned: mathematics
(``$...$``, ``$$...$$``), inline code and code blocks (settings and commands), MyST roles (``{glue:text}``,
``{cite}``, ...), link targets, and references such as "eq. 3.1", "section 4.2", "figure 5", "table 2".

What remains allowed is listed in :data:`ALLOWED`, per chapter, each with its reason: a constant of the method, a
setting, or a number of a paper quoted as the paper's. The list is short on purpose; a test below checks that each
entry is still needed, so it cannot grow stale.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))

# (chapter file name, the exact token as the scan reports it) -> why it may be typed.
ALLOWED: dict[tuple[str, str], str] = {
    ("00_getting_started.ipynb", "0.02"): "the cost of the paper-scale preset, measured once on 2 CPU cores",
}

_STRIP = [
    re.compile(r"```.*?```", re.S),  # code blocks
    re.compile(r"\$\$.*?\$\$", re.S),  # display mathematics
    re.compile(r"\$[^$\n]+\$"),  # inline mathematics
    re.compile(r"\{[\w:-]+\}`[^`]*`"),  # MyST roles: {glue:text}`...`, {cite}`...`, {numref}`...`
    re.compile(r"`[^`]*`"),  # inline code: settings, commands, names
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"^:[\w-]+:.*$", re.M),  # directive options (:class: tip)
    # references to the papers' and the book's numbered parts
    re.compile(
        r"\b(?:eqs?\.|equations?|sections?|figures?|figs?\.|tables?|appendix|appendices|chapters?|algorithm)"
        r"\s*[A-Z]?\d+(?:\.\d+)*(?:\s*(?:,|and|-|–|to)\s*[A-Z]?\d+(?:\.\d+)*)*",
        re.I,
    ),
]
_NUMBER = r"\d[\d,]*(?:\.\d+)?"
_RESULT = re.compile(
    rf"(?<![\w.]){_NUMBER}(?:\s*[-–]\s*{_NUMBER})?\s*%"  # percentages and their ranges
    rf"|(?<![\w.]){_NUMBER}\s*/\s*{_NUMBER}(?!\w|\.\d)"  # ratios of counts: 8/8, 3 / 8
    rf"|(?<![\w.])\d*\.\d+(?:\s*[-–]\s*\d*\.\d+)?(?!\w|\.\d)"  # decimals and their ranges
)


def prose_numbers(markdown: str) -> list[str]:
    """The result-like numbers of one markdown cell, after removing what may hold numbers."""
    text = markdown
    for pattern in _STRIP:
        text = pattern.sub(" ", text)
    return [m.group(0).strip() for m in _RESULT.finditer(text)]


def test_scan_finds_typed_results_and_ignores_maths_code_roles_and_references():
    found = prose_numbers(
        "kNN 0.37. After 1,500 steps; 67-92 % of coordinates; 3/8 modes and 5 / 8 modes; 0.64–0.70 at t = 0.6"
    )
    assert found == ["0.37", "67-92 %", "3/8", "5 / 8", "0.64–0.70", "0.6"]
    assert not prose_numbers(
        "As eq. 3.2 and section 4.2 say (figures 5 and 6, table 2), $\\sigma = 0.01$ and"
        " $$C = 0.5$$ with `lr=0.001`, {glue:text}`ch04_knn:.2f` and {cite}`song2021sde`,"
        " [chapter 2b](02b_code_granularity.ipynb), 3,000 steps of batch 128."
    )


@pytest.mark.parametrize("nb_path", CHAPTERS, ids=lambda p: p.name)
def test_prose_states_no_hand_typed_result(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    typed = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for token in prose_numbers(cell.source):
            if (nb_path.name, token) not in ALLOWED:
                typed.append(f"cell {i}: {token!r}")
    assert not typed, (
        f"{nb_path.name}: numbers typed into the prose; glue them from the run ({{glue:text}}) or, for a constant,"
        f" a setting or a paper's figure, add them to ALLOWED with the reason: {typed}"
    )


def test_every_allowed_number_is_still_in_its_chapter():
    present = set()
    for nb_path in CHAPTERS:
        nb = nbformat.read(nb_path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                present.update((nb_path.name, token) for token in prose_numbers(cell.source))
    stale = sorted(set(ALLOWED) - present)
    assert not stale, f"ALLOWED lists numbers no chapter states any more: {stale}"
