"""Small building blocks the methods' training loops share: a warm-up schedule, phase folders, a module's device.

Example:
    >>> import torch
    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = warmup_schedule(opt, 4)
    >>> rates = []
    >>> for _ in range(5):
    ...     rates.append(opt.param_groups[0]["lr"])
    ...     opt.step()
    ...     sched.step()
    >>> rates
    [0.25, 0.5, 0.75, 1.0, 1.0]
    >>> phase_dirs(None, 2), [p.name for p in phase_dirs("runs/x", 2)]
    ([None, None], ['phase_0', 'phase_1'])
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

__all__ = ["module_device", "phase_dirs", "warmup_schedule"]


def warmup_schedule(optimizer: torch.optim.Optimizer, warmup: int) -> LambdaLR:
    """Linear learning-rate warm-up: step ``k`` (from 0) runs at ``min(1, (k + 1) / warmup)`` times the base
    rate; ``warmup <= 0`` keeps the base rate. Register it with the trainer so that it is checkpointed."""
    if warmup <= 0:
        return LambdaLR(optimizer, lambda step: 1.0)
    return LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))


def phase_dirs(out_dir: str | Path | None, n: int) -> list[Path | None]:
    """The folders ``out_dir/phase_0 .. phase_{n-1}`` of a run trained in ``n`` phases (``None`` without one)."""
    return [None if out_dir is None else Path(out_dir) / f"phase_{k}" for k in range(n)]


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter (the CPU for a module without parameters)."""
    first = next(module.parameters(), None)
    return first.device if first is not None else torch.device("cpu")
