"""The training run: :class:`TrainConfig`, :class:`Trainer` and :func:`fit_loss`.

Part of :mod:`latentkit.engine`; see its docstring for the contract.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import LRScheduler

from latentkit.engine.checkpoint import (
    CheckpointError,
    NonFiniteGradientError,
    NonFiniteLossError,
    TrainingInterrupted,
    _non_finite_tensor,
    _remove_dead_temporaries,
    load_checkpoint,
    save_checkpoint,
)
from latentkit.engine.config import TrainConfig
from latentkit.engine.ema import EMA
from latentkit.engine.lock import acquire_run_lock
from latentkit.engine.logs import MetricsLogger, _to_number, _truncate_metrics, progress
from latentkit.engine.runtime import (
    DeferredSignal,
    _derive_seed,
    autocast,
    barrier,
    init_distributed,
    rng_state,
    seed_everything,
    set_rng_state,
)

# config fields that may change between a run and its continuation without breaking reproducibility
_RESUMABLE_CHANGES = {"steps", "device", "checkpoint_every", "log_every", "progress", "desc", "compile"}


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

    def __init__(
        self,
        out_dir: str | Path | None,
        modules: Mapping[str, nn.Module],
        optimizers: Mapping[str, torch.optim.Optimizer],
        config: TrainConfig,
        schedulers: Mapping[str, LRScheduler] | None = None,
    ):
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
        for name in config.compile if isinstance(config.compile, tuple) else ():
            _lookup(self._raw, name, "module (TrainConfig.compile names modules)")
        for name, m in self._raw.items():
            trainable = any(p.requires_grad for p in m.parameters())
            if self.dist.world_size > 1 and trainable:
                ids = [self.device.index] if self.device.type == "cuda" else None
                m = DistributedDataParallel(m, device_ids=ids, find_unused_parameters=config.ddp_find_unused)
            compiled = config.compile is True or (isinstance(config.compile, tuple) and name in config.compile)
            if compiled and self.device.type == "cuda":
                m = torch.compile(m)  # shares the raw module's parameters; state_dict stays the raw one's
            self._wrapped[name] = m
        self.emas: dict[str, EMA] = {}
        if config.ema_decay is not None:
            self.emas = {
                name: EMA(m, config.ema_decay)
                for name, m in self._raw.items()
                if any(p.requires_grad for p in m.parameters())
            }
        seed_everything(_derive_seed(config.seed, self.dist.rank, 0))
        self.generator = torch.Generator().manual_seed(_derive_seed(config.seed, self.dist.rank, 1))
        self._checkpoint_step: int | None = None  # step of the last checkpoint saved or loaded
        self._checkpoint_bad: str | None = None  # the non-finite tensor of a loaded checkpoint, if any
        self._locked = False  # whether this trainer holds its out_dir's RunLock (on the main rank)
        if self.out_dir is not None and self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self._logger = MetricsLogger(self.metrics_path, enabled=self.dist.is_main) if self.metrics_path else None

    # -- access ---------------------------------------------------------------------------------------

    def module(self, name: str) -> nn.Module:
        """The module for forward passes: ``DistributedDataParallel``-wrapped under ``torchrun``, and compiled
        with ``torch.compile`` on CUDA when ``config.compile`` is set."""
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

        Raises:
            NonFiniteGradientError: a gradient holds NaN or infinity; the optimizer and scheduler did not step.
            (Huge but finite gradients, whose float32 norm overflows, are measured in float64 and stepped.)
        """
        optimizer = _lookup(self.optimizers, name, "optimizer")
        optimizer.zero_grad(set_to_none=True)
        loss.backward(retain_graph=retain_graph)
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        grads = [p.grad for p in params]
        norm = nn.utils.get_total_norm(grads) if grads else torch.zeros(())
        value = float(norm)
        if not math.isfinite(value) and all(bool(torch.isfinite(g).all()) for g in grads):
            # the float32 sum of squares overflowed: the gradients themselves are finite
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.detach().double()) for g in grads]))
            value = float(norm)
        if grads and self.config.grad_clip is not None and math.isfinite(value):
            nn.utils.clip_grads_with_norm_(params, self.config.grad_clip, norm)
        if not math.isfinite(value):
            step = self.step + 1
            where, checkpoint = self._last_good()
            raise NonFiniteGradientError(
                f"non-finite gradient norm {value} of optimizer {name!r} at step {step} of {self.config.steps} "
                f"(the optimizer did not step); {where}",
                optimizer=name,
                value=value,
                step=step,
                checkpoint=checkpoint,
            )
        optimizer.step()
        if name in self.schedulers:
            self.schedulers[name].step()
        return value

    # -- checkpoints ------------------------------------------------------------------------------------

    def _find_non_finite(self) -> tuple[str, float] | None:
        owners = [(f"module {n!r}", m) for n, m in self._raw.items()]
        return _non_finite_tensor(owners + [(f"the EMA of module {n!r}", e.module) for n, e in self.emas.items()])

    def _last_good(self) -> tuple[str, Path | None]:
        """What error messages say about the checkpoint on disk, and its path if it is a good one to go back to."""
        if self.checkpoint_path is None:
            return "no checkpoint is written for an in-memory run (out_dir=None)", None
        if self._checkpoint_step is None:
            return f"no checkpoint has been written yet in {self.out_dir}", None
        if self._checkpoint_bad is not None:
            return (
                f"the checkpoint {self.checkpoint_path} (step {self._checkpoint_step}) this run resumed from "
                f"already holds non-finite weights ({self._checkpoint_bad}): there is no good checkpoint"
            ), None
        return (
            f"the last good checkpoint is {self.checkpoint_path} (step {self._checkpoint_step}), left intact",
            self.checkpoint_path,
        )

    @contextlib.contextmanager
    def _run_lock(self) -> Iterator[None]:
        """Hold ``out_dir``'s :class:`RunLock`: rank 0 takes it and every rank raises if it is taken elsewhere."""
        if self.out_dir is None or self._locked:
            yield
            return
        lock = acquire_run_lock(self.out_dir, self.dist)
        self._locked = True
        try:
            yield
        finally:
            self._locked = False
            if lock is not None:
                lock.release()

    def save(self) -> None:
        """Checkpoint now (a collective under ``torchrun``: every rank calls it, rank 0 writes).

        Raises:
            NonFiniteLossError: a floating parameter or buffer of a module or of its EMA copy is NaN or
                infinite; nothing is written (the previous checkpoint stays).
            RunLockedError: another process holds ``out_dir`` (when called outside :meth:`fit`).
        """
        if self.checkpoint_path is None:
            return
        with self._run_lock():
            local = (rng_state(self.generator, self.device), self._find_non_finite())
            gathered: list[Any] = [local]
            if self.dist.world_size > 1:
                gathered = [None] * self.dist.world_size
                dist.all_gather_object(gathered, local)
            bad = [(rank, found) for rank, (_, found) in enumerate(gathered) if found is not None]
            if bad:
                rank, (what, value) = bad[0]
                on = f" on rank {rank}" if self.dist.world_size > 1 else ""
                where, checkpoint = self._last_good()
                raise NonFiniteLossError(
                    f"{what} holds a non-finite value ({value}){on} after step {self.step} of {self.config.steps}; "
                    f"no checkpoint was written; {where}",
                    value=value,
                    step=self.step,
                    checkpoint=checkpoint,
                )
            if self.dist.is_main:
                save_checkpoint(
                    self.checkpoint_path,
                    {
                        "step": self.step,
                        "modules": {name: m.state_dict() for name, m in self._raw.items()},
                        "optimizers": {name: o.state_dict() for name, o in self.optimizers.items()},
                        "schedulers": {name: s.state_dict() for name, s in self.schedulers.items()},
                        "ema": {name: e.state_dict() for name, e in self.emas.items()},
                        "rng": [state for state, _ in gathered],  # one entry per rank
                        "world_size": self.dist.world_size,
                        "history": self.history,
                        "config": dataclasses.asdict(self.config),
                    },
                )
            barrier()
            self._checkpoint_step, self._checkpoint_bad = self.step, None

    def resume(self) -> bool:
        """Load ``out_dir/checkpoint.pt`` if it exists (every module, optimizer, scheduler, EMA, the step,
        the history and all RNG states). Returns whether a checkpoint was loaded.

        Without a checkpoint the run starts afresh: metrics records left by an earlier attempt are dropped.
        Temporary files of writers that died mid-save are deleted (those of live processes are kept).

        Raises:
            RunLockedError: another process holds ``out_dir`` (when called outside :meth:`fit`).
        """
        path = self.checkpoint_path
        if path is None:
            return False
        with self._run_lock():
            if self.dist.is_main:
                _remove_dead_temporaries(path)
                _remove_dead_temporaries(self.metrics_path)
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
        absent = [key for key in ("step", "modules", "optimizers", "rng") if key not in ckpt]
        if absent:
            raise CheckpointError(
                f"checkpoint {path} is not a training checkpoint of latentkit's engine: it lacks "
                f"{', '.join(map(repr, absent))} (it has {sorted(map(str, ckpt))[:8]})"
            )
        for section, names in (
            ("modules", self._raw),
            ("optimizers", self.optimizers),
            ("schedulers", self.schedulers),
        ):
            missing = set(names) - set(ckpt.get(section, {}))
            if missing:
                raise CheckpointError(
                    f"checkpoint {path} has no {section} {sorted(missing)} (it has {sorted(ckpt.get(section, {}))})"
                )
        saved = ckpt.get("config", {})
        changed = [
            k
            for k, v in dataclasses.asdict(self.config).items()
            if k not in _RESUMABLE_CHANGES and k in saved and _norm(saved[k]) != _norm(v)
        ]
        if changed:
            warnings.warn(
                f"resuming {path} with a different {', '.join(changed)} than it was trained with; "
                "the continued run is not reproducible",
                stacklevel=3,
            )
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
            warnings.warn(
                f"checkpoint {path} was written by {len(rng)} processes, resuming with "
                f"{self.dist.world_size}: the continued run is not bit-identical",
                stacklevel=3,
            )
        if self.dist.rank < len(rng):
            set_rng_state(rng[self.dist.rank], self.generator, self.device)
        else:
            seed_everything(_derive_seed(self.config.seed, self.dist.rank, 2 + int(ckpt["step"])))
            self.generator.manual_seed(_derive_seed(self.config.seed, self.dist.rank, 3 + int(ckpt["step"])))
        self.step = int(ckpt["step"])
        self.history = list(ckpt.get("history", []))
        self._checkpoint_step = self.step
        found = self._find_non_finite()
        self._checkpoint_bad = None if found is None else f"{found[0]} = {found[1]}"
        if found is not None:
            warnings.warn(
                f"checkpoint {path} (step {self.step}) holds non-finite weights: {self._checkpoint_bad}", stacklevel=3
            )

    # -- the loop ---------------------------------------------------------------------------------------

    def _reduce(self, metrics: dict[str, float], stop: bool = False) -> tuple[dict[str, float], bool]:
        """Average the metrics over ranks, so every rank logs and checks the same numbers, and learn whether
        any rank was asked to stop, so every rank stops after the same step (one ``all_reduce``)."""
        if self.dist.world_size == 1:
            return metrics, stop
        names = sorted(metrics)
        device = self.device if self.device.type == "cuda" else torch.device("cpu")
        values = torch.tensor([float(metrics[k]) for k in names] + [float(stop)], dtype=torch.float64, device=device)
        dist.all_reduce(values)
        *sums, stops = values.tolist()
        return dict(zip(names, (v / self.dist.world_size for v in sums))), stops > 0

    def _non_finite(self, metrics: dict[str, float]) -> NonFiniteLossError | None:
        missing = [n for n in self.config.finite if n not in metrics]
        if missing:
            raise ValueError(
                f"TrainConfig.finite names {missing} but the step function returned "
                f"{sorted(metrics)}; set TrainConfig(finite=...) to the metrics that must stay finite"
            )
        for name in self.config.finite:
            value = metrics[name]
            if not math.isfinite(value):
                step = self.step + 1
                where, checkpoint = self._last_good()
                return NonFiniteLossError(
                    f"non-finite metric {name!r} = {value} at step {step} of {self.config.steps}; {where}",
                    metric=name,
                    value=value,
                    step=step,
                    checkpoint=checkpoint,
                )
        return None

    def _interrupted(self, received: int | None) -> TrainingInterrupted:
        """Checkpoint the step just done (unless that happened already) and describe the stop."""
        if self._checkpoint_step != self.step:
            self.save()
        sig = signal.Signals(received or signal.SIGTERM)  # ranks told by the others had no signal themselves
        text = f"stopped by {sig.name} at step {self.step} of {self.config.steps}; "
        if self.checkpoint_path is None:
            text += "nothing was saved (an in-memory run, out_dir=None)"
        else:
            text += f"checkpoint {self.checkpoint_path} (step {self.step}) written; "
            text += "the run is complete" if self.is_complete else "run the same command again to resume"
        return TrainingInterrupted(text, step=self.step, checkpoint=self.checkpoint_path, signal=sig)

    def fit(
        self, step_fn: Callable[[Trainer, Any], Mapping[str, float | Tensor]], sample: Callable[[torch.Generator], Any]
    ) -> Trainer:
        """Train until ``config.steps`` steps are done, resuming from ``out_dir`` if a checkpoint is there.

        Holds ``out_dir``'s :class:`RunLock` throughout (rank 0). On ``SIGTERM`` (when called from the main
        thread) the current step is finished and logged, a checkpoint of it is written and
        :class:`TrainingInterrupted` is raised.

        Arguments:
            step_fn: ``step_fn(trainer, batch) -> {"loss": ..., ...}`` does one optimisation step (forward
                through :meth:`module`, :meth:`backward_step`) and returns scalar metrics.
            sample: ``sample(generator) -> batch`` draws a batch using only ``generator``.

        Returns:
            ``self``, with ``history`` holding the logged records.

        Raises:
            RunLockedError: another process (or another lock of this one) holds ``out_dir``; nothing is touched.
            NonFiniteLossError: a metric in ``config.finite`` is NaN or infinite (nothing is saved), or the
                weights are when a checkpoint is due (nothing is written).
            NonFiniteGradientError: a gradient norm in :meth:`backward_step` is NaN or infinite (the optimizer
                did not step; nothing is saved).
            TrainingInterrupted: ``SIGTERM`` arrived; the step it interrupted was completed and checkpointed.
        """
        with self._run_lock():
            if self.step == 0:
                self.resume()
            self.start_step = self.step
            if self.step < self.config.steps:
                with DeferredSignal(signal.SIGTERM) as sigterm:
                    self._loop(step_fn, sample, sigterm)
        return self

    def _loop(
        self,
        step_fn: Callable[[Trainer, Any], Mapping[str, float | Tensor]],
        sample: Callable[[torch.Generator], Any],
        sigterm: DeferredSignal,
    ) -> None:
        cfg = self.config
        bar = progress(cfg.steps, desc=cfg.desc, initial=self.step, disable=not (cfg.progress and self.dist.is_main))
        try:
            while self.step < cfg.steps:
                batch = sample(self.generator)
                out = step_fn(self, batch)
                if not isinstance(out, Mapping):
                    raise TypeError(f"the step function must return a mapping of metrics, got {type(out).__name__}")
                metrics, stop = self._reduce(
                    {k: _to_number(k, v) for k, v in out.items()}, stop=sigterm.received is not None
                )
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
                if stop:
                    raise self._interrupted(sigterm.received)
        finally:
            bar.close()


def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value


def fit_loss(
    loss_fn: Callable[[nn.Module, Any], Tensor],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    sample: Callable[[torch.Generator], Any],
    config: TrainConfig,
    out_dir: str | Path | None = None,
    schedulers: LRScheduler | Mapping[str, LRScheduler] | None = None,
) -> Trainer:
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
