"""The preset registry: named, paper-scale (or tutorial-scale) configurations of a chapter.

A :class:`Preset` names the chapter notebook it runs, the papermill parameters it sets and, optionally,
the training function that ``python -m latentkit.experiments train NAME`` calls (also under
``torchrun``). Presets are registered by the modules of :mod:`latentkit.experiments.presets`, one per
method; every module in that package is imported on first use of the registry.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "Preset",
    "Setting",
    "UnknownPresetError",
    "all_presets",
    "code",
    "get",
    "names",
    "ours",
    "paper",
    "register",
    "resolve_train",
]

_SOURCE_KINDS = ("paper:", "code:", "ours:")


@dataclass(frozen=True)
class Setting:
    """A preset value with where it comes from: ``paper: <section, table, figure>``, ``code: <owner/repo
    path>`` (the authors' public code) or ``ours: <why>`` (this project's choice)."""

    value: Any
    source: str

    def __post_init__(self) -> None:
        kind = next((k for k in _SOURCE_KINDS if self.source.startswith(k)), None)
        if kind is None or len(self.source[len(kind) :].strip()) < 8:
            raise ValueError(
                f"a setting's source must start with one of {', '.join(_SOURCE_KINDS)} and say "
                f"where or why, got {self.source!r}"
            )


def paper(value: Any, where: str) -> Setting:
    """A value the paper states: ``where`` names the section, table, figure or equation."""
    return Setting(value, f"paper: {where}")


def code(value: Any, where: str) -> Setting:
    """A value from the authors' public code: ``where`` names the repository and file."""
    return Setting(value, f"code: {where}")


def ours(value: Any, why: str) -> Setting:
    """A value this project chose: ``why`` says why in one line."""
    return Setting(value, f"ours: {why}")


class UnknownPresetError(KeyError):
    """No preset has that name (the message lists the valid ones)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Preset:
    """A named configuration of one chapter (and of its training run).

    Arguments:
        name: unique name, e.g. ``"score-mnist"``.
        description: one line for ``list``.
        chapter: the notebook under ``book/`` that ``run`` executes, e.g. ``"01_dsm_constant.ipynb"``.
        parameters: papermill parameters; each name must exist in the chapter's parameters cell. Each value
            is a :class:`Setting` (made with :func:`paper`, :func:`code` or :func:`ours`) carrying its source.
        train: ``"module:function"`` called as ``function(params, out_dir)`` by ``train``; ``None`` when
            the chapter itself is the whole experiment.
        paper: what in the paper the preset reproduces (section, figure, table).
    """

    name: str
    description: str
    chapter: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    train: str | None = None
    paper: str = ""
    sources: Mapping[str, str] = field(default_factory=dict, init=False)  # derived from the Settings

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"preset name must be a non-empty word, got {self.name!r}")
        if not self.chapter.endswith(".ipynb"):
            raise ValueError(f"preset {self.name!r}: chapter must be a notebook, got {self.chapter!r}")
        if self.train is not None and self.train.count(":") != 1:
            raise ValueError(f"preset {self.name!r}: train must be 'module:function', got {self.train!r}")
        values, sources = {}, {}
        for key, value in self.parameters.items():
            if isinstance(value, Setting):
                values[key], sources[key] = value.value, value.source
            else:
                values[key] = value
        missing = sorted(set(values) - set(sources))
        if missing:
            raise ValueError(
                f"preset {self.name!r}: settings without a source (use paper(), code() or ours()): {', '.join(missing)}"
            )
        object.__setattr__(self, "parameters", MappingProxyType(values))
        object.__setattr__(self, "sources", MappingProxyType(sources))


_REGISTRY: dict[str, Preset] = {}
_loaded = False


def register(preset: Preset) -> Preset:
    """Add ``preset`` to the registry; a second preset with the same name is an error."""
    if preset.name in _REGISTRY and _REGISTRY[preset.name] != preset:
        raise ValueError(f"a different preset named {preset.name!r} is already registered")
    _REGISTRY[preset.name] = preset
    return preset


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    from latentkit.experiments import presets as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        importlib.import_module(f"{package.__name__}.{info.name}")
    _loaded = True


def all_presets() -> dict[str, Preset]:
    """Every registered preset, by name (sorted)."""
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def names() -> list[str]:
    """The names of every registered preset, sorted."""
    return list(all_presets())


def get(name: str) -> Preset:
    """The preset called ``name``; an unknown name raises ``KeyError`` listing the valid ones."""
    presets = all_presets()
    if name not in presets:
        raise UnknownPresetError(f"unknown preset {name!r}; valid presets: {', '.join(presets) or '(none)'}")
    return presets[name]


def resolve_train(preset: Preset) -> Callable[[dict, Any], Any]:
    """Import and return the training function named by ``preset.train``."""
    if preset.train is None:
        raise ValueError(f"preset {preset.name!r} has no training function; use 'run {preset.name}'")
    module_name, function_name = preset.train.split(":")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise ValueError(f"preset {preset.name!r}: {module_name} has no function {function_name!r}") from None
