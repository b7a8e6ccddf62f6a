"""JSON-lines metrics and the notebook-aware progress bar.

Part of :mod:`latentkit.engine`; see its docstring for the contract.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from latentkit.engine.checkpoint import _temp_name
from latentkit.engine.runtime import _rank

# ---------------------------------------------------------------------------------- metrics, progress


class MetricsLogger:
    """Append one JSON object ``{"step": step, **metrics}`` per :meth:`log` call to a JSON-lines file.

    Only rank 0 writes (the logger is disabled on other ranks of a process group). Each line is written
    and flushed on its own, so a killed run leaves at most one partial last line (:func:`read_metrics`
    skips it).

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "metrics.jsonl"
        >>> MetricsLogger(p).log(10, loss=0.5)
        >>> read_metrics(p)
        [{'step': 10, 'loss': 0.5}]
    """

    def __init__(self, path: str | Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled and _rank() == 0

    def log(self, step: int, **metrics: float) -> None:
        if not self.enabled:
            return
        record = {"step": int(step), **{k: _to_number(k, v) for k, v in metrics.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def read_metrics(path: str | Path) -> list[dict]:
    """The records of a JSON-lines metrics file, in order; a partial last line (killed writer) is skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metrics file {path} does not exist")
    lines = path.read_text(encoding="utf-8").split("\n")
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            if i == len(lines) - 1:  # no trailing newline: the writer was killed mid-line
                break
            raise ValueError(f"metrics file {path}, line {i + 1} is not JSON: {line[:80]!r}") from err
    return records


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop records after ``step`` (logged after the checkpoint a run resumes from) and a partial line."""
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    records = read_metrics(path)
    kept = [r for r in records if r.get("step", 0) <= step]
    if len(kept) == len(records) and (not text or text.endswith("\n")):
        return
    tmp = _temp_name(path)
    with open(tmp, "x", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in kept)
    os.replace(tmp, path)


def progress(total: int, desc: str = "", initial: int = 0, disable: bool = False):
    """A text ``tqdm`` progress bar on stderr, redrawn at most once a second, in terminals and notebooks alike.

    Not ``tqdm.auto``: in a notebook that is an ipywidgets view, which a built book page shows as a blank
    area (a static page has no widget state to draw); the book drops stderr (``stderr_output: remove``), and
    Jupyter shows the text bar in place. Every redraw is a kernel message; nbval reads them only when a cell
    has finished, and a cell that trains for minutes with tqdm's ten redraws a second overflows the message
    queue (the kernel's "idle" message is lost and nbval fails with "Timeout ... waiting for output").
    """
    import sys

    from tqdm.std import tqdm

    return tqdm(
        total=total,
        desc=desc,
        initial=initial,
        disable=disable,
        dynamic_ncols=True,
        mininterval=1.0,
        file=sys.stderr,
    )


def _to_number(name: str, value: Any) -> float | int:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise TypeError(f"metric {name!r} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        return float(value.detach().float().item())
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    raise TypeError(f"metric {name!r} must be a number or a scalar tensor, got {type(value).__name__}")
