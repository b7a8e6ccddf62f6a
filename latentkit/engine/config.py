"""Config dataclasses: the engine's :class:`TrainConfig`; any config built from resolved parameters, its fields
checked from their type hints.

Every method's config is a frozen dataclass whose fields are typed. Two helpers serve all of them:

* :func:`check_fields` (call it from ``__post_init__``) refuses a value outside a ``Literal[...]`` field's
  choices, naming the class, the field and the choices, and turns a list given for a ``tuple`` field into
  a tuple (so configs stay hashable and compare equal however they were built).
* :func:`from_params` builds a config from a chapter's resolved parameters (``name: value``, scalars only:
  see :mod:`latentkit.experiments.chapters`). Names the config lacks are skipped (``threads``, ``out_dir``,
  figure options); with ``prefix`` only the names ``prefix + field`` are read. Values are converted by the
  field's type: a ``tuple[int, ...]`` (or ``float``/``str``) field takes ``"32, 16, 8"``; a chapter parameter
  cannot be ``None``, so a field typed ``X | None`` takes ``""`` for ``None``, and one typed ``int | None`` (a
  size or a count, where ``None`` means "native" or "all") also takes ``0``. A float field keeps ``0.0``
  (``reg_weight=0`` means no penalty, not the default weight). ``fixed`` wins.

Example:
    >>> from dataclasses import dataclass
    >>> from typing import Literal
    >>> @dataclass(frozen=True)
    ... class Cfg:
    ...     kind: Literal["mlp", "unet"] = "mlp"
    ...     channels: tuple[int, ...] = (8,)
    ...     size: int | None = None
    ...     decay: float | None = None
    ...     def __post_init__(self):
    ...         check_fields(self)
    >>> from_params(Cfg, {"kind": "unet", "channels": "32,64", "size": 0, "decay": 0.0, "threads": 2})
    Cfg(kind='unet', channels=(32, 64), size=None, decay=0.0)
    >>> Cfg(kind="cnn")
    Traceback (most recent call last):
    ...
    ValueError: Cfg.kind must be one of 'mlp', 'unet', got 'cnn'
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union

__all__ = ["TrainConfig", "check_fields", "from_params"]


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _options(hint: Any) -> tuple[Any, ...]:
    """The members of a union (``X | None`` gives ``(X, NoneType)``), or ``(hint,)``."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _literal_choices(hint: Any) -> tuple[Any, ...] | None:
    choices = [c for h in _options(hint) if typing.get_origin(h) is Literal for c in typing.get_args(h)]
    return tuple(choices) if choices else None


def _is_tuple(hint: Any) -> bool:
    return any(h is tuple or typing.get_origin(h) is tuple for h in _options(hint))


def check_fields(config: Any) -> None:
    """Check a dataclass instance against its ``Literal`` fields; turn lists in ``tuple`` fields into tuples.

    Raises:
        ValueError: ``Class.field must be one of 'a', 'b', got 'c'`` for a value outside a ``Literal``.
    """
    cls = type(config)
    hints = _hints(cls)
    for f in dataclasses.fields(config):
        hint, value = hints[f.name], getattr(config, f.name)
        choices = _literal_choices(hint)
        if choices is not None:
            allowed = value is None and type(None) in _options(hint)
            if not allowed and value not in choices:
                listed = ", ".join(repr(c) for c in choices)
                raise ValueError(f"{cls.__name__}.{f.name} must be one of {listed}, got {value!r}")
        if isinstance(value, list) and _is_tuple(hint):
            object.__setattr__(config, f.name, tuple(value))


def _element_type(hint: Any) -> type:
    for h in _options(hint):
        args = typing.get_args(h) if typing.get_origin(h) is tuple else ()
        if args:
            return args[0]
    return str


def _convert(hint: Any, value: Any) -> Any:
    options = _options(hint)
    if type(None) in options and (value == "" or (int in options and value == 0 and not isinstance(value, bool))):
        return None
    if isinstance(value, str) and _is_tuple(hint):
        kind = _element_type(hint)
        return tuple(kind(v.strip()) for v in value.split(",") if v.strip())
    return value


def from_params(config_class: type, params: Mapping[str, Any], *, prefix: str = "", **fixed: Any) -> Any:
    """A ``config_class`` from resolved parameters (see the module docstring); ``fixed`` values win."""
    hints = _hints(config_class)
    values = {}
    for f in dataclasses.fields(config_class):
        key = prefix + f.name
        if key in params:
            values[f.name] = _convert(hints[f.name], params[key])
    values.update(fixed)
    return config_class(**values)


@dataclass(frozen=True)
class TrainConfig:
    """How a run trains (the method's own hyper-parameters live in the method's config)."""

    steps: int  # total optimisation steps of the run
    seed: int = 0  # seeds the global RNGs (per rank) and the data generator
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:N" or "mps" (see select_device)
    mixed_precision: bool = False  # bf16 autocast on CUDA (ignored elsewhere)
    ema_decay: float | None = None  # EMA of every trainable module's weights when set
    grad_clip: float | None = None  # max global grad norm in backward_step
    checkpoint_every: int = 500  # steps between checkpoints (one is also written at the end)
    log_every: int = 50  # steps between metrics records (one is also written at the end)
    progress: bool = True  # show a tqdm bar (rank 0 only)
    finite: tuple[str, ...] = ("loss",)  # metrics that must stay finite (else NonFiniteLossError)
    desc: str = "train"  # progress bar label
    ddp_find_unused: bool = False  # DistributedDataParallel(find_unused_parameters=...) under torchrun
    compile: bool | tuple[str, ...] = False  # torch.compile the forward modules (trainer.module) on CUDA (ignored
    # elsewhere): True compiles all; a tuple names the ones to compile (e.g. not a critic that needs double backward)

    @classmethod
    def of(cls, config: Any, **fixed: Any) -> TrainConfig:
        """The settings a method's config dataclass shares with :class:`TrainConfig` (the fields of the same
        name: ``steps``, ``seed``, ``device``, ``ema_decay``, ...), with ``fixed`` winning.

        Example:
            >>> @dataclass(frozen=True)
            ... class GANConfig:
            ...     steps: int = 100
            ...     seed: int = 3
            ...     lr: float = 1e-3
            >>> tc = TrainConfig.of(GANConfig(), seed=4, desc="gan")
            >>> tc.steps, tc.seed, tc.desc
            (100, 4, 'gan')
        """
        names = {f.name for f in dataclasses.fields(cls)}
        shared = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name in names}
        return cls(**{**shared, **fixed})

    def __post_init__(self) -> None:
        def bad(name: str, rule: str) -> None:
            raise ValueError(f"TrainConfig.{name} must be {rule}, got {getattr(self, name)!r}")

        if not isinstance(self.steps, int) or self.steps < 0:
            bad("steps", "a non-negative int")
        if not isinstance(self.seed, int) or self.seed < 0:
            bad("seed", "a non-negative int")
        for name in ("checkpoint_every", "log_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                bad(name, "a positive int")
        if self.ema_decay is not None and not 0.0 <= self.ema_decay <= 1.0:
            bad("ema_decay", "None or in [0, 1]")
        if self.grad_clip is not None and not self.grad_clip > 0:
            bad("grad_clip", "None or > 0")
        if not isinstance(self.compile, bool):
            if isinstance(self.compile, str) or not all(isinstance(n, str) for n in self.compile):
                bad("compile", "a bool or a tuple of module names")
            object.__setattr__(self, "compile", tuple(self.compile))
        if isinstance(self.finite, str) or not all(isinstance(n, str) for n in self.finite):
            bad("finite", "a tuple of metric names")
        object.__setattr__(self, "finite", tuple(self.finite))
