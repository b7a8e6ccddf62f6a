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

from latentkit.engine.checkpoint import CHECKPOINT_FORMAT, CheckpointError, NonFiniteLossError, load_checkpoint, save_checkpoint
from latentkit.engine.ema import EMA
from latentkit.engine.logs import MetricsLogger, progress, read_metrics
from latentkit.engine.runtime import (DistInfo, autocast, barrier, cleanup_distributed, init_distributed, seed_everything,
                                      select_device)
from latentkit.engine.trainer import TrainConfig, Trainer, fit_loss

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
