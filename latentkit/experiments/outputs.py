"""Where a chapter keeps what it produces: training runs, figures and its metrics.

``Outputs(out_dir)`` is what every chapter creates from its ``out_dir`` parameter. With an empty
``out_dir`` (the book build, nbval) training goes to a temporary directory that is removed when the
kernel exits and figures are only shown. With ``out_dir`` set (``python -m latentkit.experiments run``)
training goes to ``out_dir/train`` -- where ``train NAME --out DIR`` writes too, so a finished training
run is reused -- figures to ``out_dir/figures/NAME.png`` and metrics to ``out_dir/metrics.json``.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["Outputs"]


def _jsonable(value: Any) -> Any:
    """Plain JSON types for numbers from numpy / torch; non-finite floats become ``None``."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if value is None or isinstance(value, (bool, int, str)):
        return value
    raise TypeError(f"cannot record {type(value).__name__} as a metric")


class Outputs:
    """A chapter's output directory (or a temporary one).

    Arguments:
        out_dir: the chapter's ``out_dir`` parameter; ``""`` keeps nothing.

    Example:
        >>> out = Outputs("")
        >>> out.keep
        False
        >>> out.train_dir.is_dir()
        True
    """

    def __init__(self, out_dir: str | os.PathLike[str] = "") -> None:
        self.keep = bool(str(out_dir))
        if self.keep:
            self.root = Path(out_dir).expanduser().resolve()
            self.root.mkdir(parents=True, exist_ok=True)
        else:
            self.root = Path(tempfile.mkdtemp(prefix="latentkit-"))
            atexit.register(shutil.rmtree, self.root, ignore_errors=True)
        self.train_dir = self.root / "train"
        self.train_dir.mkdir(exist_ok=True)

    def path(self, name: str) -> Path:
        """A path inside the output directory (its parent directories created)."""
        p = self.root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def savefig(self, fig: Any, name: str, dpi: int = 120) -> Path | None:
        """Save a matplotlib figure as ``figures/NAME.png`` when outputs are kept; return its path."""
        if not self.keep:
            return None
        path = self.path(f"figures/{name}.png")
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        return path

    @property
    def metrics_path(self) -> Path:
        return self.root / "metrics.json"

    def metrics(self) -> dict[str, Any]:
        """The metrics recorded so far."""
        if not self.metrics_path.exists():
            return {}
        return json.loads(self.metrics_path.read_text())

    def record(self, **metrics: Any) -> None:
        """Merge ``metrics`` into ``metrics.json`` (always written, also for a temporary directory).

        Returns nothing, so that a chapter cell ending in ``out.record(...)`` prints nothing on the page;
        :meth:`metrics` reads the merged record back.
        """
        merged = self.metrics()
        merged.update({k: _jsonable(v) for k, v in metrics.items()})
        tmp = self.metrics_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.metrics_path)

    def __repr__(self) -> str:
        return f"Outputs({str(self.root) if self.keep else ''!r})"
