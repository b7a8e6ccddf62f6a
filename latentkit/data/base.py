"""What every dataset module shares: the dataset names, the errors, :class:`DatasetInfo` and the
selection helpers (class subsets, ``n``, seeds per split)."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

POINT_SETS: tuple[str, ...] = ("swiss_roll", "ring8", "grid25", "gaussian_mixture")  # the 2-D point sets
DATASETS: tuple[str, ...] = (
    *POINT_SETS,
    "digits",
    "mnist5k",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "celeba",
)


class DatasetNotFoundError(FileNotFoundError):
    """A torchvision dataset is not on disk (or failed torchvision's integrity check)."""


class DatasetCacheError(RuntimeError):
    """A decoded-image cache file is corrupt, foreign, or stale where it cannot be rebuilt."""


@dataclass(frozen=True)
class DatasetInfo:
    """What one example looks like: ``shape`` of one ``x``; ``value_range`` of pixels (``None`` for
    point sets); ``classes`` are the original class ids kept (label ``i`` means ``classes[i]``)."""

    name: str
    split: str
    shape: tuple[int, ...]
    value_range: tuple[float, float] | None
    num_classes: int | None
    classes: tuple[int, ...] | None
    class_names: tuple[str, ...] | None = None


# ----------------------------------------------------------------------------- validation helpers
def _choices(what: str, value: Any, valid: Sequence[Any]) -> None:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(map(repr, valid))}")


def _derive_seed(seed: int, split: str) -> int:
    code = {"train": 0, "test": 1, "valid": 2}[split]
    return int(np.random.SeedSequence([seed, code]).generate_state(1)[0])


def _select_classes(
    name: str, labels: Tensor, available: Sequence[int], classes: Sequence[int] | None
) -> tuple[Tensor, Tensor, tuple[int, ...]]:
    """Indices of examples whose label is in ``classes``, their relabelled labels, the kept ids."""
    if classes is None:
        return torch.arange(len(labels)), labels, tuple(available)
    try:
        given = list(classes)
        kept = tuple(operator.index(c) for c in given if not isinstance(c, bool))
    except TypeError:  # not a sequence, or a class id that is not an int
        given, kept = [], ()
    if not kept or len(kept) != len(given) or len(set(kept)) != len(kept):
        raise ValueError(f"classes must be a non-empty sequence of int class ids without repeats, got {classes!r}")
    for c in kept:
        if c not in available:
            raise ValueError(f"class {c} is not present in {name!r}; valid classes: {list(available)}")
    lut = torch.full((max(available) + 1,), -1, dtype=torch.int64)
    lut[torch.tensor(kept)] = torch.arange(len(kept))
    new = lut[labels]
    idx = torch.nonzero(new >= 0).squeeze(1)
    return idx, new[idx], kept


def _take_n(name: str, total: int, n: int | None) -> int:
    if n is None:
        return total
    if n > total:
        raise ValueError(f"n={n} but {name!r} has only {total} examples in this split")
    return n
