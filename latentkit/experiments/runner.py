"""Run a preset: its training (``train``) or its chapter through papermill (``run``).

Both resolve the run's parameters through one function, :func:`resolve`: the chapter's defaults (held in
the library, :mod:`latentkit.experiments.chapters`), then the preset's values, then the user's overrides,
each checked against the chapter's declared names and converted to the declared type. The run folder
``OUT/NAME`` then holds:

* ``config.json``: the resolved parameters and their sources, written on first use. A later ``train`` or
  ``run`` whose resolved parameters differ (other than those that do not change what is trained: device,
  threads, progress, checkpoint intervals, ``check``, ``out_dir``) is refused with the differing keys.
* ``.lock``: held while a process trains or runs there; a second process is refused at once.
* ``train/``: the training runs (checkpoints, ``metrics.jsonl``), reused by ``run`` when finished.
* from ``run``: the executed notebook, ``metrics.json`` and ``figures/``.

Before anything trains, :func:`prepare` checks the output folder, the device, the data and the values
(by building the chapter's configs), so a bad value fails in a second, not after an hour of training.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latentkit.experiments.chapters import Chapter, Parameter, chapter
from latentkit.experiments.registry import Preset, get, resolve_train

__all__ = [
    "ConfigMismatchError",
    "ParameterError",
    "Resolved",
    "RunFolderError",
    "book_dir",
    "is_main_rank",
    "chapter_parameters",
    "chapter_path",
    "prepare",
    "resolve",
    "run_preset",
    "train_preset",
]

CONFIG_NAME = "config.json"


class ParameterError(ValueError):
    """A parameter that the chapter does not declare, or a value of the wrong type or out of range."""


class ConfigMismatchError(ValueError):
    """The run folder was made with other parameters than the ones now resolved."""


class RunFolderError(ValueError):
    """The output folder cannot be used (a file, not writable, ...)."""


# ------------------------------------------------------------------------------------ the parameters


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _convert(spec: Parameter, value: Any) -> Any:
    """``value`` (a CLI string or a Python value from a preset) as the declared type, or ParameterError."""
    kind = spec.type_name
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
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
            return number
        if not isinstance(value, str):
            raise ValueError
        return value
    except (ValueError, TypeError):
        raise ParameterError(
            f"parameter {spec.name!r} expects {'a finite ' if kind == 'float' else ''}{kind}, "
            f"got {value!r} (declared as: {spec.describe()})"
        ) from None


def _check_range(spec: Parameter, value: Any) -> None:
    """Every numeric chapter parameter is a count, a size, a rate or a seed: none may be negative."""
    if spec.type_name in ("int", "float") and value < 0:
        raise ParameterError(f"parameter {spec.name!r} must be >= 0, got {value!r} (declared as: {spec.describe()})")


@dataclass(frozen=True)
class Resolved:
    """A preset's parameters, resolved: ``values`` (every parameter of the chapter, typed) and ``sources``
    (where each value comes from: the chapter's default, the preset, or the command line)."""

    preset: Preset
    chapter: Chapter
    values: dict[str, Any]
    sources: dict[str, str]

    def result_keys(self) -> dict[str, Any]:
        """The values that determine what is trained (those that may not change on reuse)."""
        return {k: v for k, v in self.values.items() if not self.chapter.neutral(k)}


def resolve(name: str, overrides: Mapping[str, Any] | None = None) -> Resolved:
    """The parameters of preset ``name`` with ``overrides``: chapter defaults < preset values < overrides.

    Raises:
        UnknownPresetError: no such preset.
        ParameterError: a name the chapter does not declare, a value of the wrong type, a negative number.

    Example:
        >>> r = resolve("getting-started", {"steps": "40"})
        >>> r.values["steps"], r.sources["steps"], r.values["hidden"]
        (40, 'command line', 128)
    """
    preset = get(name)
    ch = chapter(preset.chapter)
    specs = ch.parameters
    layers = (("preset", dict(preset.parameters)), ("command line", dict(overrides or {})))
    values, sources = dict(ch.defaults), {k: ch.source(k) for k in specs}
    for layer, given in layers:
        unknown = sorted(set(given) - set(specs))
        if unknown:
            listing = "\n  ".join(spec.describe() for spec in specs.values())
            raise ParameterError(
                f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for "
                f"{preset.chapter} (preset {preset.name}, from the {layer}); valid parameters:\n  {listing}"
            )
        for key, value in given.items():
            values[key] = _convert(specs[key], value)
            _check_range(specs[key], values[key])
            sources[key] = preset.sources[key] if layer == "preset" else layer
    return Resolved(preset, ch, values, sources)


# ------------------------------------------------------------------------------------- run folders


def _run_dir(preset: Preset, out: str | os.PathLike[str]) -> Path:
    root = Path(out).expanduser()
    if root.exists() and not root.is_dir():
        raise RunFolderError(f"--out {str(out)!r} is a file, not a folder; give a folder for the runs")
    run_dir = root.resolve() / preset.name
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderError(f"{run_dir} is a file, not a run folder; remove it or use another --out")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test.{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise RunFolderError(f"cannot write in {run_dir} ({err.strerror or err}); use another --out") from None
    return run_dir


def _differences(stored: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    keys = sorted(set(stored) | set(now))
    missing = object()
    return [
        f"{k}: {stored.get(k, '(absent)')!r} -> {now.get(k, '(absent)')!r}"
        for k in keys
        if stored.get(k, missing) != now.get(k, missing)
    ]


def _check_config(run_dir: Path, resolved: Resolved, restart: bool) -> None:
    """Write ``config.json`` on first use; refuse a different configuration (``restart``: start over)."""
    path = run_dir / CONFIG_NAME
    leftovers = [
        p for p in run_dir.iterdir() if p.name not in (".lock", CONFIG_NAME) and not p.name.startswith(".write-test")
    ]
    if restart:
        for p in leftovers + ([path] if path.exists() else []):
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        leftovers = []
    if path.exists() and not restart:
        try:
            stored = json.loads(path.read_text())
            stored_values = stored["parameters"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ConfigMismatchError(
                f"{path} is unreadable ({err}); use a fresh --out, or --restart to start this run over"
            ) from None
        result = {k: v for k, v in stored_values.items() if not resolved.chapter.neutral(k)}
        differ = _differences(result, resolved.result_keys())
        if differ:
            raise ConfigMismatchError(
                f"{run_dir} was made with other parameters ({'; '.join(differ)}); use a fresh --out to keep "
                f"both, or --restart to delete this run and start over"
            )
        return
    if leftovers and not restart:
        raise ConfigMismatchError(
            f"{run_dir} holds files ({', '.join(sorted(p.name for p in leftovers)[:4])}) but no {CONFIG_NAME}, "
            "so their parameters are unknown; use a fresh --out, or --restart to delete them and start over"
        )
    payload = {
        "preset": resolved.preset.name,
        "chapter": resolved.preset.chapter,
        "parameters": resolved.values,
        "sources": resolved.sources,
    }
    tmp = path.with_suffix(f".json.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def is_main_rank() -> bool:
    """Whether this process is rank 0 of ``torchrun`` (or alone): the one that writes and reports."""
    return os.environ.get("RANK", "0") == "0"


def prepare(
    name: str, overrides: Mapping[str, Any] | None, out: str | os.PathLike[str], restart: bool = False
) -> tuple[Resolved, Path]:
    """Resolve and check everything before anything trains: parameters, output folder, configuration on
    disk, device, data and the chapter's configs. Returns the resolution and the run folder ``OUT/NAME``.

    Raises ``UnknownPresetError``, :class:`ParameterError`, :class:`RunFolderError`,
    :class:`ConfigMismatchError`, ``latentkit.data.DatasetNotFoundError`` or ``RuntimeError`` (device).
    """
    resolved = resolve(name, overrides)
    values = resolved.values
    try:
        resolved.chapter.build_configs({**values, "progress": False})
    except (ValueError, TypeError) as err:
        raise ParameterError(f"preset {name}: {err}") from None
    from latentkit import data
    from latentkit.engine import select_device

    for need in resolved.chapter.datasets:
        root = values.get(need.root) if need.root else None
        try:
            data.check_available(values[need.parameter], "train", root=root or None)
        except ValueError as err:  # an unknown dataset name
            raise ParameterError(f"parameter {need.parameter!r}: {err}") from None
    if "device" in values:
        try:
            select_device(values["device"])
        except (ValueError, RuntimeError) as err:  # an unknown name, or CUDA / MPS not on this machine
            raise ParameterError(f"parameter 'device': {err}") from None
    run_dir = _run_dir(resolved.preset, out)
    if is_main_rank():  # under torchrun rank 0 alone checks and writes config.json (train_preset then syncs)
        _check_config(run_dir, resolved, restart)
    return resolved, run_dir


def _lock(run_dir: Path) -> Any:
    """An exclusive lock on the run folder (rank 0 only under torchrun)."""
    if not is_main_rank():
        return contextlib.nullcontext()
    from latentkit.engine import RunLock

    return RunLock(run_dir)


def train_preset(
    name: str, overrides: Mapping[str, Any] | None = None, out: str | os.PathLike[str] = "runs", restart: bool = False
) -> Path:
    """Run the preset's training into ``OUT/NAME/train`` (resumable; safe under torchrun)."""
    preset = get(name)
    train = resolve_train(preset)
    resolved, run_dir = prepare(name, overrides, out, restart)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # torchrun: nobody trains before rank 0 has checked the folder
        from latentkit.engine import barrier, init_distributed

        init_distributed(resolved.values.get("device", "auto"))
        barrier()
    with _lock(run_dir):
        train_dir = run_dir / "train"
        if is_main_rank():
            train_dir.mkdir(exist_ok=True)
        try:
            train(dict(resolved.values), train_dir)
        finally:
            from latentkit.engine import cleanup_distributed

            cleanup_distributed()  # under torchrun: leave the process group cleanly
    return train_dir


def run_preset(
    name: str,
    overrides: Mapping[str, Any] | None = None,
    out: str | os.PathLike[str] = "runs",
    progress: bool = True,
    restart: bool = False,
) -> Path:
    """Execute the preset's chapter with papermill into ``OUT/NAME/`` and return that folder.

    The folder receives the executed notebook, ``metrics.json``, ``figures/`` and the training run in
    ``train/`` (reused when complete).
    """
    import papermill

    from latentkit.experiments.kernels import repolling_kernel_manager

    preset = get(name)
    source = chapter_path(preset)
    resolved, run_dir = prepare(name, overrides, out, restart)
    params = dict(resolved.values)
    params["out_dir"] = str(run_dir)
    with _lock(run_dir):
        papermill.execute_notebook(
            str(source),
            str(run_dir / source.name),
            parameters=params,
            cwd=str(source.parent),
            progress_bar=progress,
            kernel_name="python3",
            kernel_manager_class=repolling_kernel_manager(),
        )
    return run_dir


# ----------------------------------------------------------------------------------------- notebooks


def book_dir() -> Path:
    """The ``book/`` folder of the repository (``$LATENTKIT_BOOK`` overrides it)."""
    env = os.environ.get("LATENTKIT_BOOK")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "book"
    if not path.is_dir():
        raise RunFolderError(
            f"'run' executes a chapter notebook and they are not at {path}: run it from a clone of the latentkit "
            "repository (pip install -e '.[book]') or set LATENTKIT_BOOK to its book/ folder ('train' works without them)"
        )
    return path


def chapter_path(preset: Preset) -> Path:
    path = book_dir() / preset.chapter
    if not path.is_file():
        raise RunFolderError(f"preset {preset.name!r} names chapter {preset.chapter!r}, not found at {path}")
    return path


def chapter_parameters(notebook: str | os.PathLike[str]) -> dict[str, Parameter]:
    """The parameters declared by a notebook's cell tagged ``parameters`` (read from the file)."""
    from latentkit.experiments.chapters import parse_parameters

    cells = json.loads(Path(notebook).read_text())["cells"]
    for cell in cells:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return parse_parameters("".join(cell["source"]))
    raise ParameterError(f"{notebook} has no cell tagged 'parameters'")
