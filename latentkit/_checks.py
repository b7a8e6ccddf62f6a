"""Input checks of the public functions (private helpers), with one message style:

    ``ValueError("<function>: <argument> must be <expected>, got <value>")``

Every check either raises or returns; none changes a computation (:func:`integer_labels` returns the
labels as ``int64``, exactly what the metrics cast them to before). Checks of tensor *values* wait for the
device, so training losses check shapes and Python numbers only.

Example:
    >>> real("dsm_constant", "t", 2.0, low=0.0, high=1.0, low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: dsm_constant: t must be in (0, 1], got 2.0
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "error",
    "real",
    "integer",
    "time",
    "times",
    "values",
    "finite",
    "ndim",
    "batch",
    "same_shape",
    "integer_labels",
    "symmetric_psd",
    "one_of",
]

#: Times a hair past ``T`` are round-off, not errors: ``VESDE.std_inverse(sigma_max)`` is ``T + 2e-9``.
T_ROUNDOFF = 1e-6


def _show(value: Any) -> str:
    """A short rendering of a bad value: numbers as such, arrays by their shape."""
    if isinstance(value, (Tensor, np.ndarray)):
        size = value.numel() if isinstance(value, Tensor) else value.size
        return repr(value.item()) if size == 1 else f"an array of shape {tuple(value.shape)}"
    return repr(value.item()) if isinstance(value, np.generic) else repr(value)


def error(where: str, name: str, expected: str, got: str) -> ValueError:
    """``ValueError("<where>: <name> must be <expected>, got <got>")``."""
    return ValueError(f"{where}: {name} must be {expected}, got {got}")


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool, what: str) -> str:
    if low is not None and high is not None:  # finite is implied; an int is said
        return (
            f"{'an int ' if what == 'an int' else ''}in {'(' if low_open else '['}{low:g}, {high:g}"
            f"{')' if high_open else ']'}"
        )
    if low is not None:
        return f"{what} {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{what} {'<' if high_open else '<='} {high:g}"
    return what


def _inside(v: float, low: float | None, high: float | None, low_open: bool, high_open: bool) -> bool:
    return (low is None or (v > low if low_open else v >= low)) and (
        high is None or (v < high if high_open else v <= high)
    )


def real(
    where: str,
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    expected: str | None = None,
) -> float:
    """A finite real number (a Python or numpy scalar, or a one-element tensor) in the given interval;
    ``expected`` replaces the interval in the message."""
    try:
        v = float(value)
    except (TypeError, ValueError, RuntimeError):
        v = math.nan
    if not (math.isfinite(v) and _inside(v, low, high, low_open, high_open)):
        raise error(where, name, expected or _interval(low, high, low_open, high_open, "a finite number"), _show(value))
    return v


def integer(where: str, name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """An integer (``int``, numpy integer; not ``bool``, not ``2.0``) in ``[low, high]``."""
    try:
        v = None if isinstance(value, (bool, np.bool_)) else operator.index(value)
    except TypeError:
        v = None
    if v is None or not _inside(v, low, high, False, False):
        raise error(where, name, _interval(low, high, False, False, "an int"), _show(value))
    return v


def time(where: str, name: str, t: Any, T: float) -> float:
    """A time of the SDE in ``(0, T]`` (the kernel degenerates at 0), up to round-off past ``T``."""
    return real(where, name, t, low=0.0, high=T * (1 + T_ROUNDOFF), low_open=True, expected=f"in (0, T] = (0, {T:g}]")


def times(where: str, name: str, t: Tensor, T: float) -> None:
    """:func:`time` for every value of a tensor (waits for the device)."""
    values(where, name, t, low=0.0, high=T * (1 + T_ROUNDOFF), low_open=True, expected=f"in (0, T] = (0, {T:g}]")


def values(
    where: str,
    name: str,
    x: Tensor | np.ndarray,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    expected: str | None = None,
) -> None:
    """Every value of ``x`` finite and in the interval (``NaN`` fails; ``expected`` replaces the interval in the
    message). Waits for the device: not for hot paths."""
    t = torch.as_tensor(x)
    ok = torch.isfinite(t)
    if low is not None:
        ok &= (t > low) if low_open else (t >= low)
    if high is not None:
        ok &= (t < high) if high_open else (t <= high)
    if not bool(ok.all()):
        bad = (~ok).nonzero()[0]
        at = f" at index {tuple(bad.tolist())}" if t.dim() else ""
        what = expected or (
            "finite" if low is None and high is None else _interval(low, high, low_open, high_open, "finite and")
        )
        raise error(where, name, what, f"{t[tuple(bad)].item()!r}{at}")


def finite(where: str, name: str, x: Tensor | np.ndarray) -> None:
    """Every value of ``x`` finite (no ``NaN``, no ``inf``)."""
    values(where, name, x)


def ndim(where: str, name: str, x: Tensor | np.ndarray, dims: int | tuple[int, ...], shape: str) -> None:
    """``x.ndim`` in ``dims``; ``shape`` describes the expected shape, e.g. ``"(N, F)"``."""
    if x.ndim not in ((dims,) if isinstance(dims, int) else dims):
        raise error(where, name, f"of shape {shape}", f"shape {tuple(x.shape)}")


def batch(where: str, name: str, x: Tensor, *, event: tuple[int, ...] | None = None, min_dim: int = 2) -> None:
    """``x`` a non-empty batch ``(B >= 1, *event)`` of at least ``min_dim`` dimensions."""
    want = "(B >= 1, *event)" if event is None else f"(B >= 1, {', '.join(map(str, event))})"
    if x.dim() < min_dim or x.shape[0] < 1 or (event is not None and tuple(x.shape[1:]) != tuple(event)):
        raise error(where, name, f"a batch of shape {want}", f"shape {tuple(x.shape)}")


def same_shape(where: str, name: str, x: Tensor, other_name: str, other: Tensor) -> None:
    """``x.shape == other.shape`` (no broadcasting)."""
    if tuple(x.shape) != tuple(other.shape):
        raise error(where, name, f"of the shape of {other_name}, {tuple(other.shape)}", f"shape {tuple(x.shape)}")


def integer_labels(where: str, name: str, y: Any, n: int | None = None) -> np.ndarray:
    """Class labels as a 1-D ``int64`` array (of length ``n`` when given).

    Integer (or boolean) arrays are accepted, and so are float arrays whose values are all integers (labels
    stored as floats); a fractional or non-finite value is refused rather than truncated.
    """
    a = y.detach().cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)
    if a.ndim != 1:
        raise error(where, name, "a 1-D array of class labels", f"shape {a.shape}")
    if n is not None and len(a) != n:
        raise error(where, name, f"of length {n} (one label per code)", f"length {len(a)}")
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a) | (a != np.round(a))
        if bad.any():
            raise error(where, name, "integer-valued class labels", repr(a[bad][0].item()))
    elif a.dtype.kind not in "biu":
        raise error(where, name, "integer class labels", f"dtype {a.dtype}")
    return a.astype(np.int64)


def symmetric_psd(
    where: str, name: str, c: np.ndarray, rtol: float = 1e-6, *, vectors: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Check that ``c`` is a finite, symmetric, positive semi-definite matrix up to round-off; return the
    eigenvalues of ``(c + c^T) / 2`` and, when ``vectors``, its eigenvectors (else ``None``).

    Tolerances are relative to the largest absolute entry (symmetry) and the largest absolute eigenvalue
    (definiteness), ``rtol`` each: covariances computed in float32 pass, a clearly negative eigenvalue does not.
    """
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise error(where, name, "a square matrix", f"shape {c.shape}")
    finite(where, name, c)
    scale = float(np.abs(c).max(initial=0.0))
    asym = float(np.abs(c - c.T).max(initial=0.0))
    if asym > rtol * scale:
        raise error(where, name, "symmetric", f"max |c - c^T| = {asym:.3g} (max |c| = {scale:.3g})")
    sym = (c + c.T) / 2
    w, v = np.linalg.eigh(sym) if vectors else (np.linalg.eigvalsh(sym), None)
    top = float(np.abs(w).max(initial=0.0))
    if w.size and w.min() < -rtol * top:
        raise error(
            where, name, "positive semi-definite", f"an eigenvalue {w.min():.3g} (largest |eigenvalue| {top:.3g})"
        )
    return w, v


def one_of(where: str, name: str, value: Any, options: tuple[Any, ...]) -> None:
    """``value`` among ``options``."""
    if value not in options:
        raise error(where, name, f"one of {', '.join(map(repr, options))}", repr(value))
