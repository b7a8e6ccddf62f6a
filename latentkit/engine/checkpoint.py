"""Atomic, validated checkpoints (read with ``torch.load(weights_only=True)``) and the run's errors.

Part of :mod:`latentkit.engine`; see its docstring for the contract.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import secrets
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from latentkit.engine.lock import _pid_alive

CHECKPOINT_FORMAT = {"format": "latentkit.checkpoint", "version": 1}  # tag added by save_checkpoint

# ----------------------------------------------------------------------------------------- checkpoints


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupt, foreign, or does not fit the run."""


class NonFiniteLossError(FloatingPointError):
    """A metric that must stay finite (``TrainConfig.finite``) became NaN or infinite.

    Attributes ``metric``, ``value``, ``step`` (the step being taken, 1-based) and ``checkpoint`` (the last
    good checkpoint on disk, or ``None``) repeat what the message says.
    """

    def __init__(
        self,
        message: str,
        *,
        metric: str | None = None,
        value: float | None = None,
        step: int | None = None,
        checkpoint: Path | None = None,
    ):
        super().__init__(message)
        self.metric, self.value, self.step, self.checkpoint = metric, value, step, checkpoint


class NonFiniteGradientError(NonFiniteLossError):
    """The global gradient norm of an optimizer's parameters is NaN or infinite; the optimizer did not step.

    Besides :class:`NonFiniteLossError`'s attributes (``metric`` is ``None``, ``value`` the norm), ``optimizer``
    names the optimizer.
    """

    def __init__(
        self,
        message: str,
        *,
        optimizer: str,
        value: float | None = None,
        step: int | None = None,
        checkpoint: Path | None = None,
    ):
        super().__init__(message, value=value, step=step, checkpoint=checkpoint)
        self.optimizer = optimizer


class TrainingInterrupted(RuntimeError):
    """A signal (``SIGTERM``) stopped :meth:`Trainer.fit` after a step, and a checkpoint of that step was written.

    Attributes: ``step`` (steps done), ``checkpoint`` (its path, ``None`` for an in-memory run) and ``signal``
    (a ``signal.Signals``). Running the same training again resumes from the checkpoint.
    """

    def __init__(self, message: str, *, step: int, checkpoint: Path | None, signal: signal.Signals):
        super().__init__(message)
        self.step, self.checkpoint, self.signal = step, checkpoint, signal


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """Write ``payload`` (plus the :data:`CHECKPOINT_FORMAT` tag) to ``path`` atomically.

    The payload is written to a temporary file in the same directory, flushed to disk and moved over
    ``path`` with ``os.replace``, so ``path`` always holds either the old or the new checkpoint. Use only
    types that ``torch.load(weights_only=True)`` accepts: tensors, numbers, strings, lists, tuples, dicts.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "ck.pt"
        >>> save_checkpoint(p, {"step": 3, "w": torch.ones(2)})
        >>> load_checkpoint(p)["step"]
        3
    """
    if not isinstance(payload, dict):
        raise TypeError(f"checkpoint payload must be a dict, got {type(payload).__name__}")
    for key, value in CHECKPOINT_FORMAT.items():
        if key in payload and payload[key] != value:
            raise ValueError(f"checkpoint payload key {key!r} is reserved for the format tag {CHECKPOINT_FORMAT}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        with open(tmp, "xb") as f:  # created with the usual permissions (umask), unlike mkstemp's 0600
            torch.save({**payload, **CHECKPOINT_FORMAT}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the OS allows it
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _temp_name(path: Path) -> Path:
    """A fresh temporary name beside ``path`` (same file system, so ``os.replace`` is atomic)."""
    return path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def _temp_writer(tmp: Path, path: Path) -> int | None:
    """The PID in a temporary name that :func:`_temp_name` made for ``path``, or ``None`` if it is not one."""
    found = re.fullmatch(rf"\.{re.escape(path.name)}\.(\d+)\.[0-9a-f]+\.tmp", tmp.name)
    return int(found.group(1)) if found else None


def _remove_dead_temporaries(path: Path) -> list[Path]:
    """Delete the temporary files beside ``path`` left by writers that died (or by this process).

    A temporary file of a live process is kept: it may be a checkpoint being written right now. Returns the
    deleted paths.
    """
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = _temp_writer(tmp, path)
        if pid is not None and (pid == os.getpid() or not _pid_alive(pid)):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def _non_finite_tensor(owners: Iterable[tuple[str, nn.Module]]) -> tuple[str, float] | None:
    """The first floating parameter or buffer of the named modules that holds a NaN or an infinity (named,
    e.g. ``"module 'g' parameter 'fc.weight'"``) and that value; ``None`` when all are finite.

    One device synchronisation per module when all is well.

    Example:
        >>> net = nn.Linear(2, 1)
        >>> _non_finite_tensor([("module 'net'", net)]) is None
        True
        >>> with torch.no_grad():
        ...     _ = net.bias.fill_(float("inf"))
        >>> _non_finite_tensor([("module 'net'", net)])
        ("module 'net' parameter 'bias'", inf)
    """
    for owner, module in owners:
        tensors = [(f"parameter {k!r}", t.detach()) for k, t in module.named_parameters()]
        tensors += [(f"buffer {k!r}", t) for k, t in module.named_buffers()]
        tensors = [(k, t) for k, t in tensors if t.is_floating_point()]
        flags: dict[torch.device, list[Tensor]] = {}
        for _, t in tensors:
            flags.setdefault(t.device, []).append(torch.isfinite(t).all())
        if all(bool(torch.stack(f).all()) for f in flags.values()):
            continue
        for kind, t in tensors:
            bad = ~torch.isfinite(t)
            if bad.any():
                return f"{owner} {kind}", float(t[bad][0])
    return None


def _explain_load_error(err: Exception) -> str:
    text = str(err)
    found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\n\n|$)", text, flags=re.DOTALL)
    detail = (found.group(1) if found else text).strip().split("\n")[0]
    if "Unsupported global" in detail:
        detail = detail.split(" was not an allowed global")[0]
        return f"holds objects that torch.load(weights_only=True) refuses ({detail})"
    return f"is truncated or corrupt ({type(err).__name__}: {detail[:200]})"


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` with ``torch.load(weights_only=True)``.

    Raises:
        CheckpointError: the file is missing, empty, truncated, corrupt, holds objects that
            ``weights_only`` refuses, is not a latentkit checkpoint, or was written by a newer format.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist" + (" (it is a directory)" if path.is_dir() else ""))
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes)")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for bad files
        raise CheckpointError(f"checkpoint {path} {_explain_load_error(err)}") from err
    if not isinstance(obj, dict):
        raise CheckpointError(
            f"{path} is not a latentkit checkpoint: it holds a {type(obj).__name__}, not a tagged dict"
        )
    if obj.get("format") != CHECKPOINT_FORMAT["format"]:
        raise CheckpointError(
            f"{path} is not a latentkit checkpoint: no format tag "
            f"{CHECKPOINT_FORMAT['format']!r} (keys: {sorted(map(str, obj))[:8]})"
        )
    version = obj.get("version")
    if not isinstance(version, int) or version > CHECKPOINT_FORMAT["version"]:
        raise CheckpointError(
            f"checkpoint {path} has format version {version!r}; this latentkit reads "
            f"versions <= {CHECKPOINT_FORMAT['version']}"
        )
    return obj
