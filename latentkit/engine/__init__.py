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
* **One process per run folder.** ``fit`` (and a direct ``resume`` or ``save``) holds a :class:`RunLock` on
  ``out_dir``: an exclusive, non-blocking ``flock`` on ``out_dir/.lock``, which names the holder's PID, host
  and start time. A second process training into the same folder raises :class:`RunLockedError` at once
  ("run folder ... is in use by process 1234 (started ... on host ...); wait for it to finish or train into
  another folder"), before touching any file, so ``metrics.jsonl`` and the checkpoint have one writer. The
  kernel drops the lock when its process dies (even by ``SIGKILL``): a stale ``.lock`` file never blocks.
  Locks of different folders are independent (a caller may lock ``OUT/NAME`` while the trainer locks
  ``OUT/NAME/train``); a second lock on the *same* folder, even in the same process, is refused. Under
  ``torchrun`` rank 0 holds the lock and every rank raises if it is taken. Temporary checkpoint files
  (named after their writer's PID) are deleted on resume only when that process is dead.
* **Errors.** A non-finite metric named in ``config.finite`` raises :class:`NonFiniteLossError` (with the
  step and the last good checkpoint, which is left intact). A non-finite global gradient norm in
  ``backward_step`` raises :class:`NonFiniteGradientError` (a :class:`NonFiniteLossError`, naming the step
  and the optimizer) *before* the optimizer steps, so the weights in memory stay finite. ``save`` refuses
  to write weights (modules or EMA copies) holding a NaN or an infinity, naming the module and the tensor,
  so a checkpoint on disk called "last good" always is. A missing, truncated, corrupt or foreign
  checkpoint raises :class:`CheckpointError` naming the file. Checkpoints hold plain ``state_dict``\\ s and
  tensors only and are read with ``torch.load(weights_only=True)``.
* **SIGTERM** (what schedulers, ``docker stop`` and ``torchrun`` send before killing) does not kill a run
  mid-step: during ``fit`` (main thread) it sets a flag; the current step finishes and is logged as usual,
  a checkpoint of it is written and :class:`TrainingInterrupted` is raised ("stopped by SIGTERM at step 37
  of 100; checkpoint .../checkpoint.pt (step 37) written; run the same command again to resume"), so the
  process exits with an error status and the same command continues bit-identically. Under ``torchrun``
  the flag travels with the per-step metrics ``all_reduce``, so every rank stops and saves after the same
  step. The previous handler is restored when ``fit`` returns.
* **Compilation.** ``TrainConfig(compile=True)`` wraps the forward modules (``trainer.module(name)``) in
  ``torch.compile`` on CUDA and is ignored elsewhere; ``raw(name)`` and the checkpoints keep the plain
  module, so runs with and without it share checkpoints (``compile`` may change when a run continues).
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

from latentkit.engine.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    NonFiniteGradientError,
    NonFiniteLossError,
    TrainingInterrupted,
    load_checkpoint,
    save_checkpoint,
)
from latentkit.engine.config import check_fields, from_params
from latentkit.engine.ema import EMA
from latentkit.engine.lock import RunLock, RunLockedError
from latentkit.engine.logs import MetricsLogger, progress, read_metrics
from latentkit.engine.runtime import (
    DistInfo,
    autocast,
    barrier,
    cleanup_distributed,
    init_distributed,
    seed_everything,
    select_device,
)
from latentkit.engine.steps import module_device, phase_dirs, warmup_schedule
from latentkit.engine.trainer import TrainConfig, Trainer, fit_loss

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "DistInfo",
    "EMA",
    "MetricsLogger",
    "NonFiniteGradientError",
    "NonFiniteLossError",
    "RunLock",
    "RunLockedError",
    "TrainConfig",
    "Trainer",
    "TrainingInterrupted",
    "autocast",
    "check_fields",
    "barrier",
    "cleanup_distributed",
    "fit_loss",
    "from_params",
    "init_distributed",
    "load_checkpoint",
    "module_device",
    "phase_dirs",
    "progress",
    "read_metrics",
    "save_checkpoint",
    "seed_everything",
    "select_device",
    "warmup_schedule",
]
