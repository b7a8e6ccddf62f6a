"""Devices, seeding, autocast and the process group (one code path for 1 and N processes).

Part of :mod:`latentkit.engine`; see its docstring for the contract.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import re
import signal
import threading
from dataclasses import dataclass
from types import FrameType, TracebackType

import numpy as np
import torch
import torch.distributed as dist

_DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")

# --------------------------------------------------------------------------------------------- devices


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def select_device(name: str = "auto") -> torch.device:
    """The torch device called ``name``.

    Arguments:
        name: ``"auto"`` (CUDA if available -- ``cuda:LOCAL_RANK`` under ``torchrun`` -- else MPS, else
            CPU), ``"cpu"``, ``"cuda"`` (``cuda:LOCAL_RANK`` under ``torchrun``), ``"cuda:N"`` or ``"mps"``.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
        RuntimeError: CUDA or MPS requested but not available.

    Example:
        >>> select_device("cpu")
        device(type='cpu')
    """
    if not isinstance(name, str) or not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", name):
        raise ValueError(f"unknown device {name!r}; valid choices: {', '.join(_DEVICE_CHOICES)}")
    local_rank = _env_int("LOCAL_RANK", 0) if _env_int("WORLD_SIZE", 1) > 1 else 0
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} requested but CUDA is not available on this machine")
        index = int(name.split(":")[1]) if ":" in name else local_rank
        if index >= torch.cuda.device_count():
            raise RuntimeError(f"device {name!r} requested but only {torch.cuda.device_count()} CUDA devices exist")
        return torch.device("cuda", index)
    if name == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("device 'mps' requested but MPS is not available on this machine")
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's ``random``, NumPy's global RNG and torch (CPU and every CUDA device).

    Arguments:
        seed: a non-negative integer (NumPy receives ``seed % 2**32``).

    Returns:
        A new CPU ``torch.Generator`` seeded with ``seed``, for drawing batches.

    Example:
        >>> g = seed_everything(0)
        >>> a = torch.rand(2); _ = seed_everything(0); bool((a == torch.rand(2)).all())
        True
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def _derive_seed(seed: int, rank: int, stream: int) -> int:
    """An independent 63-bit seed per (run seed, rank, stream) -- data and noise never share a stream."""
    return int(np.random.SeedSequence([seed, rank, stream]).generate_state(1, dtype=np.uint64)[0] >> 1)


def autocast(device: torch.device | str, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 ``torch.autocast`` on CUDA when ``enabled``; a no-op context elsewhere or when disabled.

    Example:
        >>> with autocast(torch.device("cpu")):
        ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
        torch.float32
    """
    device = torch.device(device)
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# -------------------------------------------------------------------------------------- random states


def rng_state(generator: torch.Generator, device: torch.device) -> dict:
    """Every random state a run depends on, as tensors and plain values (``torch.load(weights_only=True)``
    reads it back): Python's, NumPy's, torch's CPU one, ``generator``'s and ``device``'s (CUDA or MPS)."""
    py = random.getstate()
    _, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": py[0], "internal": torch.tensor(py[1], dtype=torch.int64), "gauss_next": py[2]},
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "generator": generator.get_state(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    elif device.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def set_rng_state(state: dict, generator: torch.Generator, device: torch.device) -> None:
    """Restore what :func:`rng_state` captured (the accelerator's state only on the same kind of device)."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"].tolist()), py["gauss_next"]))
    npy = state["numpy"]
    np.random.set_state(
        ("MT19937", npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
    elif device.type == "mps" and "mps" in state:
        torch.mps.set_rng_state(state["mps"])


# -------------------------------------------------------------------------------------- distributed


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the (possibly trivial) process group."""

    rank: int  # global rank, 0 in a single process
    world_size: int  # number of processes
    local_rank: int  # rank on this machine (selects the GPU)
    device: torch.device  # the device this process trains on

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that writes files and shows progress."""
        return self.rank == 0


def _rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the ``torchrun`` process group if launched by it (``WORLD_SIZE > 1``), else a single process.

    The group is created once per process (NCCL on CUDA, gloo otherwise) and destroyed at exit.

    Example:
        >>> init_distributed("cpu")
        DistInfo(rank=0, world_size=1, local_rank=0, device=device(type='cpu'))
    """
    world_size = _env_int("WORLD_SIZE", 1)
    dev = select_device(device)
    if world_size <= 1:
        return DistInfo(0, 1, 0, dev)
    if not dist.is_available():
        raise RuntimeError("launched with WORLD_SIZE > 1 but torch.distributed is not available")
    local_rank = _env_int("LOCAL_RANK", 0)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        atexit.register(cleanup_distributed)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dev)


def barrier() -> None:
    """Wait for every rank (a no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def cleanup_distributed() -> None:
    """Destroy the process group if there is one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# ------------------------------------------------------------------------------------------- signals


class DeferredSignal:
    """While active, a signal (``SIGTERM``) only records that it arrived, in ``received``, for the caller to
    act on at a safe point (the trainer: after the current step, by checkpointing and stopping).

    Python lets only the main thread install handlers: elsewhere the context does nothing (``received`` stays
    ``None``). On exit the previous handler is restored; if the block finished normally with a signal still
    unacted on (``received`` not reset to ``None`` -- it arrived after the caller's last check), the signal
    is raised again for the previous handler, as if this context had never been there.

    Example:
        >>> import os
        >>> with DeferredSignal(signal.SIGTERM) as deferred:
        ...     os.kill(os.getpid(), signal.SIGTERM)  # would end the process
        ...     print(deferred.received == signal.SIGTERM)
        ...     deferred.received = None  # acted on
        True
    """

    def __init__(self, signum: int = signal.SIGTERM):
        self.signum = signum
        self.received: int | None = None
        self._previous: object = None
        self._installed = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum

    def __enter__(self) -> DeferredSignal:
        self.received = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(self.signum, self._handler)
            self._installed = True
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if not self._installed:
            return
        signal.signal(self.signum, signal.SIG_DFL if self._previous is None else self._previous)
        self._installed = False
        if kind is None and self.received is not None:
            signal.raise_signal(self.received)
