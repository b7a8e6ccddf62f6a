"""Run a preset: its training (``train``) or its chapter through papermill (``run``).

Papermill injects parameters without checking them (an unknown name is only a warning, a wrong type
is injected as a string). :func:`resolve_parameters` therefore checks every name against the chapter's
``parameters`` cell and converts each value to the annotated type, refusing anything else with the
list of valid parameters.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from latentkit.experiments.registry import Preset, get, resolve_train

__all__ = [
    "ParameterError",
    "ParameterSpec",
    "book_dir",
    "chapter_parameters",
    "resolve_parameters",
    "run_preset",
    "train_preset",
]


class ParameterError(ValueError):
    """A parameter that the chapter does not declare, or a value of the wrong type."""


@dataclass(frozen=True)
class ParameterSpec:
    """One name of a chapter's ``parameters`` cell: ``name: type = default  # help``."""

    name: str
    type_name: str
    default: str
    help: str

    def describe(self) -> str:
        text = f"{self.name}: {self.type_name} = {self.default}"
        return f"{text}  # {self.help}" if self.help else text


def book_dir() -> Path:
    """The ``book/`` folder of the repository (``$LATENTKIT_BOOK`` overrides it)."""
    env = os.environ.get("LATENTKIT_BOOK")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "book"
    if not path.is_dir():
        raise FileNotFoundError(
            f"the chapters are not at {path}: run from a clone of the latentkit repository "
            "(pip install -e .) or set LATENTKIT_BOOK to its book/ folder"
        )
    return path


def chapter_path(preset: Preset) -> Path:
    path = book_dir() / preset.chapter
    if not path.is_file():
        raise FileNotFoundError(f"preset {preset.name!r} names chapter {preset.chapter!r}, not found at {path}")
    return path


def chapter_parameters(notebook: str | os.PathLike[str]) -> dict[str, ParameterSpec]:
    """The parameters declared by the notebook's cell tagged ``parameters``."""
    import papermill

    found = papermill.inspect_notebook(str(notebook))
    if not found:
        raise ParameterError(f"{notebook} has no cell tagged 'parameters'")
    return {
        name: ParameterSpec(name, str(p["inferred_type_name"]), str(p["default"]), str(p.get("help") or ""))
        for name, p in found.items()
    }


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _convert(spec: ParameterSpec, value: Any) -> Any:
    """``value`` (a CLI string or a Python value from a preset) as the declared type, or ParameterError."""
    kind = spec.type_name.replace(" ", "")
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
                return value.lower() in _TRUE
            raise ValueError
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str):
                return int(value.replace("_", ""))
            raise ValueError
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind == "str":
            if not isinstance(value, str):
                raise ValueError
            return value
        # Any other annotation (list[float], tuple[int, ...], ...): a Python literal.
        return ast.literal_eval(value) if isinstance(value, str) else value
    except (ValueError, TypeError, SyntaxError):
        raise ParameterError(
            f"parameter {spec.name!r} expects {spec.type_name}, got {value!r}; declared as: {spec.describe()}"
        ) from None


def resolve_parameters(
    specs: Mapping[str, ParameterSpec], values: Mapping[str, Any], where: str = "the chapter"
) -> dict[str, Any]:
    """Check ``values`` against ``specs``: unknown names and wrong types raise :class:`ParameterError`."""
    unknown = sorted(set(values) - set(specs))
    if unknown:
        listing = "\n  ".join(spec.describe() for spec in specs.values())
        raise ParameterError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for {where}; "
            f"valid parameters:\n  {listing}"
        )
    return {name: _convert(specs[name], value) for name, value in values.items()}


def _preset_values(preset: Preset, overrides: Mapping[str, Any],
                   specs: Mapping[str, ParameterSpec] | None = None) -> dict[str, Any]:
    specs = chapter_parameters(chapter_path(preset)) if specs is None else specs
    return resolve_parameters(specs, {**preset.parameters, **overrides}, where=f"{preset.chapter} (preset {preset.name})")


def train_preset(name: str, overrides: Mapping[str, Any] | None = None, out: str | os.PathLike[str] = "runs") -> Path:
    """Run the preset's training into ``OUT/NAME/train`` (resumable; safe under torchrun)."""
    preset = get(name)
    train = resolve_train(preset)
    params = _preset_values(preset, overrides or {})
    run_dir = Path(out).expanduser().resolve() / preset.name / "train"
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        train(params, run_dir)
    finally:
        from latentkit.engine import cleanup_distributed

        cleanup_distributed()  # under torchrun: leave the process group cleanly
    return run_dir


def run_preset(
    name: str,
    overrides: Mapping[str, Any] | None = None,
    out: str | os.PathLike[str] = "runs",
    progress: bool = True,
) -> Path:
    """Execute the preset's chapter with papermill into ``OUT/NAME/`` and return that folder.

    The folder receives the executed notebook, ``metrics.json``, ``figures/`` and the training run in
    ``train/`` (reused when complete).
    """
    import papermill

    preset = get(name)
    source = chapter_path(preset)
    run_dir = Path(out).expanduser().resolve() / preset.name
    run_dir.mkdir(parents=True, exist_ok=True)
    specs = chapter_parameters(source)
    params = _preset_values(preset, overrides or {}, specs)
    params["out_dir"] = str(run_dir)
    if "out_dir" not in specs:
        raise ParameterError(f"{preset.chapter} does not declare the 'out_dir' parameter every chapter needs")
    papermill.execute_notebook(
        str(source),
        str(run_dir / source.name),
        parameters=params,
        cwd=str(source.parent),
        progress_bar=progress,
        kernel_name="python3",
    )
    return run_dir
