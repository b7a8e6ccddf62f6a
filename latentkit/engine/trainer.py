"""The training run: :class:`TrainConfig`, :class:`Trainer` and :func:`fit_loss`.

Part of :mod:`latentkit.engine`; see its docstring for the contract.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
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

from latentkit.engine.checkpoint import CheckpointError, NonFiniteLossError, load_checkpoint, save_checkpoint
from latentkit.engine.ema import EMA
from latentkit.engine.logs import MetricsLogger, _to_number, _truncate_metrics, progress
from latentkit.engine.runtime import _derive_seed, autocast, barrier, init_distributed, seed_everything

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
