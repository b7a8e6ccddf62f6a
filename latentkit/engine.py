"""The training engine every method uses: device, seeding, AMP, EMA, checkpoints, resume, DDP, metrics.

The contract
------------
A training run is a :class:`Trainer` (named modules, named optimizers, a frozen :class:`TrainConfig` and an
output directory) driven by :meth:`Trainer.fit`, which calls a *step function* once per optimisation step::

    batch = sample(trainer.generator)       # data drawn with the trainer's generator only
    metrics = step_fn(trainer, batch)       # forward through trainer.module(name), trainer.backward_step(loss, name)

* **Resumable and idempotent.** ``fit`` checkpoints atomically (temporary file in the same directory, then
  ``os.replace``) every ``checkpoint_every`` steps and at the end. A new ``Trainer`` on the same ``out_dir``
  resumes from that checkpoint: modules, optimizers, schedulers, EMAs, the step, the history and *every*
  random number generator (Python, NumPy, torch CPU and the accelerator, the data generator, per rank), so
  that a run killed at any moment and resumed ends bit-identical (on the CPU) to an uninterrupted run. A
  complete run returns at once with its trained weights loaded; raising ``steps`` continues it.
* **Step numbers.** Inside ``step_fn``, ``trainer.step`` is the number of steps already done; the step being
  taken is ``trainer.step + 1``, which is the number logged to ``metrics.jsonl`` and named in errors.
* **Errors.** A non-finite metric named in ``config.finite`` raises :class:`NonFiniteLossError` (with the
  step and the last good checkpoint, which is left intact). A missing, truncated, corrupt or foreign
  checkpoint raises :class:`CheckpointError` naming the file. Checkpoints hold plain ``state_dict``\\ s and
  tensors only and are read with ``torch.load(weights_only=True)``.
* **One code path for 1 and N processes.** Under ``torchrun`` (``WORLD_SIZE > 1``) the trainer joins the
  process group (NCCL on CUDA, gloo otherwise), wraps trainable modules in ``DistributedDataParallel``,
  gives each rank its own data generator and noise, averages the metrics over ranks, and lets rank 0
  alone write files. ``step_fn`` must return the same metric names on every rank.

Example:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Linear(2, 1)
    >>> x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    >>> y = x @ torch.tensor([[2.0], [-1.0]])
    >>> def sample(g):
    ...     i = torch.randint(0, 64, (16,), generator=g)
    ...     return x[i], y[i]
    >>> def loss_fn(model, batch):
    ...     xb, yb = batch
    ...     return ((model(xb) - yb) ** 2).mean()
    >>> opt = torch.optim.Adam(model.parameters(), lr=0.05)
    >>> trainer = fit_loss(loss_fn, model, opt, sample, TrainConfig(steps=200, device="cpu", progress=False))
    >>> trainer.step, trainer.history[-1]["loss"] < 1e-2
    (200, True)
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import dataclasses
import json
import math
import os
import random
import re
import secrets
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import LRScheduler

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "DistInfo",
    "EMA",
    "MetricsLogger",
    "NonFiniteLossError",
    "TrainConfig",
    "Trainer",
    "autocast",
    "barrier",
    "cleanup_distributed",
    "fit_loss",
    "init_distributed",
    "load_checkpoint",
    "progress",
    "read_metrics",
    "save_checkpoint",
    "seed_everything",
    "select_device",
]

CHECKPOINT_FORMAT = {"format": "latentkit.checkpoint", "version": 1}  # tag added by save_checkpoint
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

    After each :meth:`update`, ``ema = decay * ema + (1 - decay) * param`` for every floating-point
    parameter. If the model's parameters change shape or names (a growing network), the copy is rebuilt
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
            if p.dtype.is_floating_point:
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


# ----------------------------------------------------------------------------------------- checkpoints


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupt, foreign, or does not fit the run."""


class NonFiniteLossError(FloatingPointError):
    """A metric that must stay finite (``TrainConfig.finite``) became NaN or infinite.

    Attributes ``metric``, ``value``, ``step`` (the step being taken, 1-based) and ``checkpoint`` (the last
    good checkpoint on disk, or ``None``) repeat what the message says.
    """

    def __init__(self, message: str, *, metric: str | None = None, value: float | None = None,
                 step: int | None = None, checkpoint: Path | None = None):
        super().__init__(message)
        self.metric, self.value, self.step, self.checkpoint = metric, value, step, checkpoint


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
        raise CheckpointError(f"{path} is not a latentkit checkpoint: it holds a {type(obj).__name__}, "
                              "not a tagged dict")
    if obj.get("format") != CHECKPOINT_FORMAT["format"]:
        raise CheckpointError(f"{path} is not a latentkit checkpoint: no format tag "
                              f"{CHECKPOINT_FORMAT['format']!r} (keys: {sorted(map(str, obj))[:8]})")
    version = obj.get("version")
    if not isinstance(version, int) or version > CHECKPOINT_FORMAT["version"]:
        raise CheckpointError(f"checkpoint {path} has format version {version!r}; this latentkit reads "
                              f"versions <= {CHECKPOINT_FORMAT['version']}")
    return obj


# ---------------------------------------------------------------------------------- metrics, progress


class MetricsLogger:
    """Append one JSON object ``{"step": step, **metrics}`` per :meth:`log` call to a JSON-lines file.

    Only rank 0 writes (the logger is disabled on other ranks of a process group). Each line is written
    and flushed on its own, so a killed run leaves at most one partial last line (:func:`read_metrics`
    skips it).

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "metrics.jsonl"
        >>> MetricsLogger(p).log(10, loss=0.5)
        >>> read_metrics(p)
        [{'step': 10, 'loss': 0.5}]
    """

    def __init__(self, path: str | Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled and _rank() == 0

    def log(self, step: int, **metrics: float) -> None:
        if not self.enabled:
            return
        record = {"step": int(step), **{k: _to_number(k, v) for k, v in metrics.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def read_metrics(path: str | Path) -> list[dict]:
    """The records of a JSON-lines metrics file, in order; a partial last line (killed writer) is skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metrics file {path} does not exist")
    lines = path.read_text(encoding="utf-8").split("\n")
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            if i == len(lines) - 1:  # no trailing newline: the writer was killed mid-line
                break
            raise ValueError(f"metrics file {path}, line {i + 1} is not JSON: {line[:80]!r}") from err
    return records


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop records after ``step`` (logged after the checkpoint a run resumes from) and a partial line."""
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    records = read_metrics(path)
    kept = [r for r in records if r.get("step", 0) <= step]
    if len(kept) == len(records) and (not text or text.endswith("\n")):
        return
    tmp = _temp_name(path)
    with open(tmp, "x", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in kept)
    os.replace(tmp, path)


def progress(total: int, desc: str = "", initial: int = 0, disable: bool = False):
    """A ``tqdm.auto`` progress bar (a widget in notebooks, text in terminals)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, initial=initial, disable=disable, dynamic_ncols=True)


def _to_number(name: str, value: Any) -> float | int:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise TypeError(f"metric {name!r} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        return float(value.detach().float().item())
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    raise TypeError(f"metric {name!r} must be a number or a scalar tensor, got {type(value).__name__}")


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


# ---------------------------------------------------------------------------------------- the trainer


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
        if isinstance(self.finite, str) or not all(isinstance(n, str) for n in self.finite):
            bad("finite", "a tuple of metric names")
        object.__setattr__(self, "finite", tuple(self.finite))


# config fields that may change between a run and its continuation without breaking reproducibility
_RESUMABLE_CHANGES = {"steps", "device", "checkpoint_every", "log_every", "progress", "desc"}


def _lookup(mapping: Mapping[str, Any], name: str, what: str) -> Any:
    if name not in mapping:
        raise KeyError(f"unknown {what} {name!r}; this trainer has: {', '.join(mapping) or 'none'}")
    return mapping[name]


class Trainer:
    """One training run: named modules and optimizers, a config and an output directory.

    Arguments:
        out_dir: where ``checkpoint.pt`` and ``metrics.jsonl`` live; ``None`` for an in-memory run.
        modules: the networks by name; moved to the device, wrapped in ``DistributedDataParallel`` under
            ``torchrun`` when they have trainable parameters.
        optimizers: by name; ``backward_step(loss, name)`` steps ``optimizers[name]`` (normally the
            optimizer of module ``name``).
        config: a :class:`TrainConfig`.
        schedulers: learning-rate schedulers keyed by optimizer name, stepped after their optimizer.

    Attributes: ``device``, ``dist`` (:class:`DistInfo`), ``step`` (steps done), ``config``, ``out_dir``,
    ``start_step`` (where the last :meth:`fit` began, after resuming),
    ``generator`` (the CPU ``torch.Generator`` batches are drawn with; seeded from ``config.seed`` and the
    rank), ``history`` (the logged metric records), ``optimizers``, ``schedulers``, ``emas``.

    Constructing a trainer seeds the global RNGs (Python, NumPy, torch) from ``config.seed`` and the rank,
    after the models exist, so that step functions drawing noise from them are reproducible.

    Example:
        >>> net = nn.Linear(1, 1)
        >>> tr = Trainer(None, {"net": net}, {"net": torch.optim.SGD(net.parameters(), lr=0.1)},
        ...              TrainConfig(steps=5, device="cpu", progress=False))
        >>> def step_fn(tr, x):
        ...     loss = (tr.module("net")(x) - 2 * x).pow(2).mean()
        ...     return {"loss": loss, "grad_norm": tr.backward_step(loss, "net")}
        >>> tr.fit(step_fn, lambda g: torch.randn(8, 1, generator=g)).step
        5
    """

    def __init__(self, out_dir: str | Path | None, modules: Mapping[str, nn.Module],
                 optimizers: Mapping[str, torch.optim.Optimizer], config: TrainConfig,
                 schedulers: Mapping[str, LRScheduler] | None = None):
        if not modules:
            raise ValueError("a Trainer needs at least one module")
        for name, m in modules.items():
            if not isinstance(m, nn.Module):
                raise TypeError(f"module {name!r} must be an nn.Module, got {type(m).__name__}")
        schedulers = dict(schedulers or {})
        for name in schedulers:
            _lookup(optimizers, name, "optimizer (scheduler keys must name optimizers)")
        self.config = config
        self.dist = init_distributed(config.device)
        self.device = self.dist.device
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.optimizers = dict(optimizers)
        self.schedulers = schedulers
        self.step = 0
        self.start_step = 0  # the step at which the last call of fit() began (after resuming)
        self.history: list[dict] = []
        self._raw = {name: m.to(self.device) for name, m in modules.items()}
        self._wrapped: dict[str, nn.Module] = {}
        for name, m in self._raw.items():
            trainable = any(p.requires_grad for p in m.parameters())
            if self.dist.world_size > 1 and trainable:
                ids = [self.device.index] if self.device.type == "cuda" else None
                m = DistributedDataParallel(m, device_ids=ids, find_unused_parameters=config.ddp_find_unused)
            self._wrapped[name] = m
        self.emas: dict[str, EMA] = {}
        if config.ema_decay is not None:
            self.emas = {name: EMA(m, config.ema_decay) for name, m in self._raw.items()
                         if any(p.requires_grad for p in m.parameters())}
        seed_everything(_derive_seed(config.seed, self.dist.rank, 0))
        self.generator = torch.Generator().manual_seed(_derive_seed(config.seed, self.dist.rank, 1))
        self._checkpoint_step: int | None = None  # step of the last checkpoint saved or loaded
        if self.out_dir is not None and self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self._logger = MetricsLogger(self.metrics_path, enabled=self.dist.is_main) if self.metrics_path else None

    # -- access ---------------------------------------------------------------------------------------

    def module(self, name: str) -> nn.Module:
        """The module for forward passes (``DistributedDataParallel``-wrapped under ``torchrun``)."""
        return _lookup(self._wrapped, name, "module")

    def raw(self, name: str) -> nn.Module:
        """The unwrapped module (for its attributes, sampling and ``state_dict``)."""
        return _lookup(self._raw, name, "module")

    def ema_module(self, name: str) -> nn.Module:
        """The EMA copy of module ``name`` when ``config.ema_decay`` is set, else the raw module."""
        module = self.raw(name)
        return self.emas[name].module if name in self.emas else module

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast on CUDA when ``config.mixed_precision``; a no-op otherwise."""
        return autocast(self.device, self.config.mixed_precision)

    @property
    def is_complete(self) -> bool:
        """Whether ``config.steps`` steps are done (after :meth:`fit` or :meth:`resume`)."""
        return self.step >= self.config.steps

    @property
    def checkpoint_path(self) -> Path | None:
        return self.out_dir / "checkpoint.pt" if self.out_dir is not None else None

    @property
    def metrics_path(self) -> Path | None:
        return self.out_dir / "metrics.jsonl" if self.out_dir is not None else None

    # -- one optimisation step --------------------------------------------------------------------------

    def backward_step(self, loss: Tensor, name: str, retain_graph: bool = False) -> float:
        """Zero the grads of optimizer ``name``, backpropagate ``loss``, clip, step the optimizer (and its
        scheduler).

        Returns:
            The global gradient norm of the optimizer's parameters before clipping (also without clipping).
        """
        optimizer = _lookup(self.optimizers, name, "optimizer")
        optimizer.zero_grad(set_to_none=True)
        loss.backward(retain_graph=retain_graph)
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if not params:
            norm = torch.zeros(())
        elif self.config.grad_clip is not None:
            norm = nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        else:
            norm = nn.utils.get_total_norm([p.grad for p in params])
        optimizer.step()
        if name in self.schedulers:
            self.schedulers[name].step()
        return float(norm)

    # -- checkpoints ------------------------------------------------------------------------------------

    def _rng_state(self) -> dict:
        py = random.getstate()
        _, keys, pos, has_gauss, cached = np.random.get_state()
        state = {
            "python": {"version": py[0], "internal": torch.tensor(py[1], dtype=torch.int64), "gauss_next": py[2]},
            "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
            "torch": torch.get_rng_state(),
            "generator": self.generator.get_state(),
        }
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        elif self.device.type == "mps":
            state["mps"] = torch.mps.get_rng_state()
        return state

    def _set_rng_state(self, state: dict) -> None:
        py = state["python"]
        random.setstate((py["version"], tuple(py["internal"].tolist()), py["gauss_next"]))
        npy = state["numpy"]
        np.random.set_state(("MT19937", npy["keys"].numpy().astype(np.uint32), npy["pos"],
                             npy["has_gauss"], npy["cached_gaussian"]))
        torch.set_rng_state(state["torch"])
        self.generator.set_state(state["generator"])
        if self.device.type == "cuda" and "cuda" in state:
            torch.cuda.set_rng_state(state["cuda"], self.device)
        elif self.device.type == "mps" and "mps" in state:
            torch.mps.set_rng_state(state["mps"])

    def save(self) -> None:
        """Checkpoint now (a collective under ``torchrun``: every rank calls it, rank 0 writes)."""
        if self.checkpoint_path is None:
            return
        rng = [self._rng_state()]
        if self.dist.world_size > 1:
            rng = [None] * self.dist.world_size
            dist.all_gather_object(rng, self._rng_state())
        if self.dist.is_main:
            save_checkpoint(self.checkpoint_path, {
                "step": self.step,
                "modules": {name: m.state_dict() for name, m in self._raw.items()},
                "optimizers": {name: o.state_dict() for name, o in self.optimizers.items()},
                "schedulers": {name: s.state_dict() for name, s in self.schedulers.items()},
                "ema": {name: e.state_dict() for name, e in self.emas.items()},
                "rng": rng,  # one entry per rank
                "world_size": self.dist.world_size,
                "history": self.history,
                "config": dataclasses.asdict(self.config),
            })
        barrier()
        self._checkpoint_step = self.step

    def resume(self) -> bool:
        """Load ``out_dir/checkpoint.pt`` if it exists (every module, optimizer, scheduler, EMA, the step,
        the history and all RNG states). Returns whether a checkpoint was loaded.

        Without a checkpoint the run starts afresh: metrics records left by an earlier attempt are dropped.
        """
        path = self.checkpoint_path
        if path is None:
            return False
        if self.dist.is_main:
            for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a writer killed mid-save
                stale.unlink(missing_ok=True)
        barrier()
        if not path.exists():
            if self.dist.is_main:
                _truncate_metrics(self.metrics_path, self.step)
            barrier()
            return False
        ckpt = load_checkpoint(path, map_location="cpu")
        self._load_payload(ckpt, path)
        if self.dist.is_main:
            _truncate_metrics(self.metrics_path, self.step)
        barrier()
        return True

    def _load_payload(self, ckpt: dict, path: Path) -> None:
        for section, names in (("modules", self._raw), ("optimizers", self.optimizers),
                               ("schedulers", self.schedulers)):
            missing = set(names) - set(ckpt.get(section, {}))
            if missing:
                raise CheckpointError(f"checkpoint {path} has no {section} {sorted(missing)} "
                                      f"(it has {sorted(ckpt.get(section, {}))})")
        saved = ckpt.get("config", {})
        changed = [k for k, v in dataclasses.asdict(self.config).items()
                   if k not in _RESUMABLE_CHANGES and k in saved and _norm(saved[k]) != _norm(v)]
        if changed:
            warnings.warn(f"resuming {path} with a different {', '.join(changed)} than it was trained with; "
                          "the continued run is not reproducible", stacklevel=3)
        try:
            for name, m in self._raw.items():
                m.load_state_dict(ckpt["modules"][name])
            for name, o in self.optimizers.items():
                o.load_state_dict(ckpt["optimizers"][name])
            for name, s in self.schedulers.items():
                s.load_state_dict(ckpt["schedulers"][name])
            for name, e in self.emas.items():
                if name in ckpt.get("ema", {}):
                    e.load_state_dict(ckpt["ema"][name])
                else:  # EMA switched on for a continued run: start the average from the loaded weights
                    self.emas[name] = EMA(self._raw[name], e.decay)
        except (RuntimeError, ValueError, KeyError) as err:
            raise CheckpointError(f"checkpoint {path} does not fit this run: {err}") from err
        rng = ckpt["rng"]
        if len(rng) != self.dist.world_size:
            warnings.warn(f"checkpoint {path} was written by {len(rng)} processes, resuming with "
                          f"{self.dist.world_size}: the continued run is not bit-identical", stacklevel=3)
        if self.dist.rank < len(rng):
            self._set_rng_state(rng[self.dist.rank])
        else:
            seed_everything(_derive_seed(self.config.seed, self.dist.rank, 2 + int(ckpt["step"])))
            self.generator.manual_seed(_derive_seed(self.config.seed, self.dist.rank, 3 + int(ckpt["step"])))
        self.step = int(ckpt["step"])
        self.history = list(ckpt.get("history", []))
        self._checkpoint_step = self.step

    # -- the loop ---------------------------------------------------------------------------------------

    def _reduce(self, metrics: dict[str, float]) -> dict[str, float]:
        """Average the metrics over ranks, so every rank logs and checks the same numbers."""
        if self.dist.world_size == 1 or not metrics:
            return metrics
        names = sorted(metrics)
        device = self.device if self.device.type == "cuda" else torch.device("cpu")
        values = torch.tensor([float(metrics[k]) for k in names], dtype=torch.float64, device=device)
        dist.all_reduce(values)
        return dict(zip(names, (values / self.dist.world_size).tolist()))

    def _non_finite(self, metrics: dict[str, float]) -> NonFiniteLossError | None:
        missing = [n for n in self.config.finite if n not in metrics]
        if missing:
            raise ValueError(f"TrainConfig.finite names {missing} but the step function returned "
                             f"{sorted(metrics)}; set TrainConfig(finite=...) to the metrics that must stay finite")
        for name in self.config.finite:
            value = metrics[name]
            if not math.isfinite(value):
                step = self.step + 1
                if self.checkpoint_path is None:
                    where = "no checkpoint is written for an in-memory run (out_dir=None)"
                elif self._checkpoint_step is None:
                    where = f"no checkpoint has been written yet in {self.out_dir}"
                else:
                    where = (f"the last good checkpoint is {self.checkpoint_path} (step {self._checkpoint_step}), "
                             "left intact")
                return NonFiniteLossError(
                    f"non-finite metric {name!r} = {value} at step {step} of {self.config.steps}; {where}",
                    metric=name, value=value, step=step,
                    checkpoint=self.checkpoint_path if self._checkpoint_step is not None else None)
        return None

    def fit(self, step_fn: Callable[[Trainer, Any], Mapping[str, float | Tensor]],
            sample: Callable[[torch.Generator], Any]) -> Trainer:
        """Train until ``config.steps`` steps are done, resuming from ``out_dir`` if a checkpoint is there.

        Arguments:
            step_fn: ``step_fn(trainer, batch) -> {"loss": ..., ...}`` does one optimisation step (forward
                through :meth:`module`, :meth:`backward_step`) and returns scalar metrics.
            sample: ``sample(generator) -> batch`` draws a batch using only ``generator``.

        Returns:
            ``self``, with ``history`` holding the logged records.

        Raises:
            NonFiniteLossError: a metric in ``config.finite`` is NaN or infinite (nothing is saved).
        """
        if self.step == 0:
            self.resume()
        self.start_step = self.step
        cfg = self.config
        if self.step >= cfg.steps:
            return self
        bar = progress(cfg.steps, desc=cfg.desc, initial=self.step, disable=not (cfg.progress and self.dist.is_main))
        try:
            while self.step < cfg.steps:
                batch = sample(self.generator)
                out = step_fn(self, batch)
                if not isinstance(out, Mapping):
                    raise TypeError(f"the step function must return a mapping of metrics, got {type(out).__name__}")
                metrics = self._reduce({k: _to_number(k, v) for k, v in out.items()})
                error = self._non_finite(metrics)
                if error is not None:
                    raise error
                for name, ema in self.emas.items():
                    ema.update(self._raw[name])
                self.step += 1
                last = self.step == cfg.steps
                if self.step % cfg.log_every == 0 or last:
                    self.history.append({"step": self.step, **metrics})
                    if self._logger is not None:
                        self._logger.log(self.step, **metrics)
                if self.step % cfg.checkpoint_every == 0 or last:
                    self.save()
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)
        finally:
            bar.close()
        return self


def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value


def fit_loss(loss_fn: Callable[[nn.Module, Any], Tensor], model: nn.Module, optimizer: torch.optim.Optimizer,
             sample: Callable[[torch.Generator], Any], config: TrainConfig, out_dir: str | Path | None = None,
             schedulers: LRScheduler | Mapping[str, LRScheduler] | None = None) -> Trainer:
    """Train one model on one loss: ``loss_fn(model, batch)`` under autocast, then ``backward_step``.

    The model is registered as ``"model"``; metrics are ``{"loss", "grad_norm"}``. ``schedulers`` is a
    scheduler or ``{"model": scheduler}``. Returns the :class:`Trainer` (see the module example).
    """
    if isinstance(schedulers, LRScheduler):
        schedulers = {"model": schedulers}

    def step_fn(trainer: Trainer, batch: Any) -> dict[str, float | Tensor]:
        with trainer.autocast():
            loss = loss_fn(trainer.module("model"), batch)
        grad_norm = trainer.backward_step(loss, "model")
        return {"loss": loss.detach(), "grad_norm": grad_norm}

    trainer = Trainer(out_dir, {"model": model}, {"model": optimizer}, config, schedulers)
    return trainer.fit(step_fn, sample)
