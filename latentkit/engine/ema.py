"""Exponential moving average of a module's weights.

Part of :mod:`latentkit.engine`; see its docstring for the contract.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

# ------------------------------------------------------------------------------------------------- EMA


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, DistributedDataParallel) else module


def _frozen_copy(module: nn.Module) -> nn.Module:
    copied = copy.deepcopy(_unwrap(module)).eval().requires_grad_(False)
    for p in copied.parameters():
        p.grad = None
    return copied


class EMA:
    """Exponential moving average of a module's parameters; buffers are copied.

    After each :meth:`update`, ``ema = decay * ema + (1 - decay) * param`` for every trainable floating-point
    parameter; frozen ones (``requires_grad=False``) are copied, so that their average is exactly their value.
    If the model's parameters change shape or names (a growing network), the copy is rebuilt
    from the model and keeps the averages of the parameters that still match (``.module`` is replaced).

    Arguments:
        model: the module to track (a ``DistributedDataParallel`` wrapper is unwrapped).
        decay: the averaging weight in ``[0, 1]``; e.g. 0.999.

    Example:
        >>> net = nn.Linear(2, 2)
        >>> ema = EMA(net, decay=0.9)
        >>> with torch.no_grad():
        ...     _ = net.weight.add_(1.0)
        >>> ema.update(net)
        >>> torch.allclose(ema.module.weight, net.weight - 0.9)
        True
    """

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay!r}")
        self.decay = float(decay)
        self.module = _frozen_copy(model)  # eval mode, requires_grad False
        self.num_updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model``'s current parameters and copy its buffers."""
        model = _unwrap(model)
        params, ema_params = dict(model.named_parameters()), dict(self.module.named_parameters())
        buffers, ema_buffers = dict(model.named_buffers()), dict(self.module.named_buffers())
        if _shapes(params) != _shapes(ema_params) or _shapes(buffers) != _shapes(ema_buffers):
            self._resync(model)
            params, ema_params = dict(model.named_parameters()), dict(self.module.named_parameters())
            buffers, ema_buffers = dict(model.named_buffers()), dict(self.module.named_buffers())
        for name, p in params.items():
            e = ema_params[name]
            if p.dtype.is_floating_point and p.requires_grad:
                e.mul_(self.decay).add_(p.detach(), alpha=1.0 - self.decay)
            else:
                e.copy_(p)
        for name, b in buffers.items():
            ema_buffers[name].copy_(b)
        self.num_updates += 1

    def _resync(self, model: nn.Module) -> None:
        old = dict(self.module.named_parameters())
        self.module = _frozen_copy(model)
        with torch.no_grad():
            for name, p in self.module.named_parameters():
                if name in old and old[name].shape == p.shape:
                    p.copy_(old[name])

    def state_dict(self) -> dict:
        """``{"decay", "num_updates", "module"}`` (the averaged module's ``state_dict``)."""
        return {"decay": self.decay, "num_updates": self.num_updates, "module": self.module.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore the averaged weights and the update count (the decay stays the constructor's)."""
        self.module.load_state_dict(state["module"])
        self.num_updates = int(state.get("num_updates", 0))


def _shapes(tensors: Mapping[str, Tensor]) -> dict[str, torch.Size]:
    return {k: v.shape for k, v in tensors.items()}
