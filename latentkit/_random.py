"""Random draws from an explicit ``torch.Generator`` on any device (private helpers)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["rand", "randn"]


def _draw(fn, shape, generator, device, dtype) -> Tensor:
    # A generator lives on one device; draw there, then move (a CPU generator can feed a CUDA run).
    where = generator.device if generator is not None else device
    out = fn(tuple(shape), generator=generator, device=where, dtype=dtype)
    return out.to(device) if device is not None else out


def rand(shape, *, generator: torch.Generator | None = None, device=None, dtype=None) -> Tensor:
    """``U[0, 1)`` draws of ``shape`` from ``generator``, returned on ``device``."""
    return _draw(torch.rand, shape, generator, device, dtype)


def randn(shape, *, generator: torch.Generator | None = None, device=None, dtype=None) -> Tensor:
    """Standard normal draws of ``shape`` from ``generator``, returned on ``device``."""
    return _draw(torch.randn, shape, generator, device, dtype)
