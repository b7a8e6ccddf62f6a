"""Training conditional score models: labels (eq. 7) and learned codes (eq. 8), with section 3.2's schedules.

:class:`ReprConfig` describes one run; ``code`` says what conditions the score model:

* ``"none"`` -- nothing: the unconditional model of chapter 1, the baseline whose loss stops at ``C``;
* ``"labels"`` -- a one-hot class label ``y(x_0)`` (conditional score matching, eq. 7);
* ``"deterministic"`` / ``"probabilistic"`` -- an encoder ``E_phi(x_0)`` trained jointly (eq. 8), with
  the L1 or KL penalty of appendix A.1 (:mod:`latentkit.score.encoder`).

The t-sampling controls what the code holds (section 3.2): ``"uniform_t"`` (3.1), ``"uniform_sigma"``
(high noise levels, 3.2.1) or a single ``"fixed"`` t (3.2.2). The paper's two-phase recipe -- learn the
representation under one t-sampling, then freeze the encoder and train on with uniform t for sample
quality -- is ``frozen_steps > 0``. Each phase is its own resumable engine run in ``out_dir/phase_k``;
the second starts from the first's final (EMA) weights with a fresh optimizer, so a run killed in either
phase resumes where it stopped and a finished run reloads at once.

:class:`ReprConfig` extends :class:`~latentkit.score.train.ScoreConfig`, and the data, the score model and
each phase's trainer come from :mod:`latentkit.score.train`'s :func:`load_data`,
:func:`~latentkit.score.train.build_model` and :func:`~latentkit.score.train.make_trainer`.

Example:
    >>> cfg = ReprConfig(dataset="ring8", n_train=512, code="labels", steps=5, progress=False, device="cpu")
    >>> run = fit(cfg)
    >>> run.model(torch.zeros(3, 2), torch.ones(3), run.condition(torch.zeros(3, 2), torch.tensor([0, 1, 2]))).shape
    torch.Size([3, 2])
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from latentkit import data, engine
from latentkit.score.encoder import (
    ENCODER_KINDS,
    LOGVAR_OFFSET,
    PAPER_REG_WEIGHTS,
    CodeConditionedScore,
    EncoderKind,
    ImageEncoder,
    MLPEncoder,
    representation_loss,
)
from latentkit.score.exact import MixtureMarginals
from latentkit.score.losses import dsm_loss, get_t_sampler, get_weighting
from latentkit.score.sde import VESDE
from latentkit.score.train import ScoreConfig, build_model, load_data, make_trainer, unet_trunk

__all__ = [
    "CODES",
    "ReprConfig",
    "ReprRun",
    "build",
    "load_data",
    "fit",
    "config_from_parameters",
    "code_sizes",
    "codes_configs",
    "sweep_configs",
    "train_codes_preset",
    "train_sweep_preset",
]

Code = Literal["none", "labels", EncoderKind]  # no code, the label (eq. 7) or an encoder (eq. 8)
CODES: tuple[str, ...] = typing.get_args(Code)


@dataclass(frozen=True)
class ReprConfig(ScoreConfig):
    """One conditional score-model run: the fields of :class:`~latentkit.score.train.ScoreConfig` (the
    U-Net's also shape the encoder's downsampling path, which mirrors it; ``steps``, ``t_sampling`` and
    ``fixed_t`` are phase 1's, ``warmup`` is each phase's) and what conditions the score model.

    The first block only changes ScoreConfig's defaults, to chapter 2's CPU scale on 14x14 mnist5k digits,
    and keeps ``track_exact`` off: a conditional model meets the constant only on average over its codes; it
    is compared with it after training (:func:`latentkit.score.evaluate.dsm_against_constant`). Point sets
    are drawn once (``n_train`` of them).
    """

    # ScoreConfig's fields with other defaults
    dataset: str = "mnist5k"
    image_size: int | None = 14
    channels: tuple[int, ...] = (16, 32)  # paper MNIST: (32, 64)
    num_res_blocks: int = 1  # paper: 2
    steps: int = 1500  # steps of phase 1 (encoder and score model together)
    batch_size: int = 64  # authors' code: 128 MNIST, 64 CIFAR-10
    ema_decay: float | None = 0.99  # authors' code: 0.9999 MNIST, 0.999 CIFAR-10
    checkpoint_every: int = 500
    track_exact: Literal[False] = False
    # what conditions the score model
    code: Code = "deterministic"
    latent_dim: int = 2  # d_z of the encoder (2 for the figures)
    reg_weight: float | None = None  # L1 / KL weight (None: the paper's 1e-5 / 1e-7)
    enc_hidden: int = 256  # width of the encoder's three dense layers
    cond_layers: int = 4  # dense layers mapping the code up to the embedding (A.1: four)
    logvar_offset: float = LOGVAR_OFFSET  # shift of the KL encoder's log-variance (authors' code: -5)
    frozen_steps: int = 0  # steps of phase 2: encoder frozen, uniform t (paper: 80k after 3.2.1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.frozen_steps and self.code not in ENCODER_KINDS:
            raise ValueError(
                f"frozen_steps needs an encoder (code 'deterministic' or 'probabilistic'), got code={self.code!r}"
            )

    @property
    def penalty_weight(self) -> float:
        """The code penalty's weight: ``reg_weight`` or the paper's value for the encoder kind."""
        if self.reg_weight is not None:
            return float(self.reg_weight)
        return PAPER_REG_WEIGHTS.get(self.code, 0.0)


@dataclass
class ReprRun:
    """A trained run: the final (EMA) model in eval mode, the data and each phase's trainer."""

    config: ReprConfig
    model: nn.Module  #: CodeConditionedScore for an encoder, else the score model
    sde: VESDE
    train_data: data.ArrayDataset
    num_classes: int
    trainers: list[engine.Trainer] = field(default_factory=list)

    @property
    def encoder(self) -> nn.Module | None:
        return self.model.encoder if isinstance(self.model, CodeConditionedScore) else None

    @property
    def score_model(self) -> nn.Module:
        return self.model.score if isinstance(self.model, CodeConditionedScore) else self.model

    @property
    def histories(self) -> list[list[dict]]:
        return [tr.history for tr in self.trainers]

    def empirical(self) -> MixtureMarginals:
        """The empirical ``p_0`` of the training set, whose constant (eq. 6) the unconditional loss meets."""
        return MixtureMarginals.empirical(self.train_data.x)

    @torch.no_grad()
    def encode(self, x: Tensor, batch_size: int = 500) -> Tensor:
        """Deterministic codes ``E_phi(x)`` (means for a probabilistic encoder), on ``x``'s device."""
        if self.encoder is None:
            raise ValueError(f"this run has no encoder (code={self.config.code!r})")
        param = next(self.model.parameters())
        out = [
            self.encoder.encode(x[i : i + batch_size].to(param.device, param.dtype))
            for i in range(0, x.shape[0], batch_size)
        ]
        return torch.cat(out).to(x.device)

    def condition(self, x0: Tensor | None = None, y: Tensor | None = None) -> Tensor | None:
        """The ``cond`` input the score model expects: one-hot ``y`` (labels), ``E_phi(x0)`` (encoder), None."""
        code = self.config.code
        if code == "labels":
            if y is None:
                raise ValueError("a label-conditional run needs y")
            return F.one_hot(y.long(), self.num_classes).float()
        if code in ENCODER_KINDS:
            if x0 is None:
                raise ValueError("an encoder run needs x0")
            return self.encode(x0)
        return None


def build(config: ReprConfig, event_shape: tuple[int, ...], num_classes: int, sigma_data: float) -> nn.Module:
    """The network of ``config``: a (conditional) score model, with its encoder for eq. 8."""
    cond_dim = {"none": 0, "labels": num_classes}.get(config.code, config.latent_dim)
    score = build_model(config, event_shape, sigma_data, cond_dim=cond_dim, cond_layers=config.cond_layers)
    if config.code not in ENCODER_KINDS:
        return score
    if len(event_shape) == 1:
        encoder: nn.Module = MLPEncoder(
            event_shape[0],
            config.latent_dim,
            hidden=config.hidden,
            kind=config.code,
            logvar_offset=config.logvar_offset,
        )
    else:
        encoder = ImageEncoder(
            **unet_trunk(config, event_shape),
            latent_dim=config.latent_dim,
            hidden=config.enc_hidden,
            kind=config.code,
            logvar_offset=config.logvar_offset,
        )
    return CodeConditionedScore(score, encoder)


def fit(config: ReprConfig, out_dir: str | Path | None = None) -> ReprRun:
    """Train (or resume, or reload) a conditional score model on eq. 7 / eq. 8, phase by phase.

    Logged per phase: ``loss`` (what is minimised), ``dsm`` (the weighted DSM term), ``penalty`` (the code
    penalty before weighting) and ``grad_norm``.
    """
    engine.seed_everything(config.seed)
    sde = config.sde()
    train = load_data(config)
    if config.code == "labels" and train.y is None:
        raise ValueError(f"code='labels' needs a labelled dataset; {config.dataset!r} has no labels")
    num_classes = int(train.info.num_classes or (int(train.y.max()) + 1 if train.y is not None else 0))
    sigma_data = config.sigma_data if config.sigma_data is not None else float(train.x.float().std())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build(config, tuple(train.x.shape[1:]), num_classes, sigma_data)
    phases = [(config.steps, config.t_sampling, config.penalty_weight)]
    if config.frozen_steps:
        phases.append((config.frozen_steps, "uniform_t", 0.0))
    dirs = engine.phase_dirs(out_dir, len(phases))
    run = ReprRun(config, model, sde, train, num_classes)
    lam = get_weighting(config.weighting, sde)
    for k, (steps, t_sampling, reg_weight) in enumerate(phases):
        if k == 1:
            model = copy.deepcopy(run.trainers[-1].ema_module("model")).requires_grad_(True)
            model.freeze_encoder()
            model.train()
        desc = f"{config.code} code, {t_sampling}" + (f" t={config.fixed_t}" if t_sampling == "fixed" else "")
        tr = make_trainer(
            config,
            model,
            dirs[k],
            steps=steps,
            seed=config.seed + 1000 * k,
            desc=f"phase {k + 1}/{len(phases)}: {desc}",
        )
        draw = data.batch_sampler(train, config.batch_size, tr.device)
        t_sampler = get_t_sampler(t_sampling, sde, t=config.fixed_t)
        tr.fit(_step_fn(run, t_sampler, lam, reg_weight), draw)
        run.trainers.append(tr)
    run.model = run.trainers[-1].ema_module("model").eval()
    return run


def _step_fn(run: ReprRun, t_sampler, lam, reg_weight: float):
    """One optimisation step on eq. 8 (an encoder), eq. 7 (labels) or eq. 5 (no condition)."""

    def step(tr: engine.Trainer, batch: tuple[Tensor, Tensor]) -> dict[str, float | Tensor]:
        x0, y = batch
        t = t_sampler(x0.shape[0], generator=tr.generator, device=x0.device, dtype=x0.dtype)
        with tr.autocast():
            if run.config.code in ENCODER_KINDS:
                out = representation_loss(
                    tr.module("model"), x0, run.sde, reg_weight=reg_weight, t=t, weighting=lam, generator=tr.generator
                )
                loss, metrics = out.loss, {"dsm": out.dsm.detach(), "penalty": out.penalty.detach()}
            else:
                cond = F.one_hot(y, run.num_classes).to(x0.dtype) if run.config.code == "labels" else None
                loss = dsm_loss(tr.module("model"), x0, run.sde, cond=cond, t=t, weighting=lam, generator=tr.generator)
                metrics = {"dsm": loss.detach()}
        metrics.update(loss=loss.detach(), grad_norm=tr.backward_step(loss, "model"))
        return metrics

    return step


def config_from_parameters(params: Mapping[str, Any], **fixed: Any) -> ReprConfig:
    """A config from a chapter's (or a preset's) parameters: every name that is a :class:`ReprConfig` field
    overrides the default (``None`` is skipped), converted by :func:`latentkit.engine.from_params`:
    ``channels`` and ``classes`` may be comma-separated strings (``""``: all classes), ``image_size=0`` keeps
    the native size. ``fixed`` wins."""
    return engine.from_params(ReprConfig, {k: v for k, v in params.items() if v is not None}, **fixed)


def code_sizes(value: str | Sequence[int] | None) -> tuple[int, ...]:
    """Code sizes ``d_z`` from a comma-separated string (``"2,8,32"``; empty: none) or a sequence of ints;
    each ``>= 1``, no repeats."""
    if value is None:
        return ()
    parts = [p.strip() for p in value.split(",")] if isinstance(value, str) else list(value)
    sizes = []
    for p in parts:
        if p == "":
            continue
        try:
            d = int(p)
        except (TypeError, ValueError):
            d = 0
        if d < 1 or str(d) != str(p).strip():
            raise ValueError(f"code sizes must be integers >= 1, got {p!r} in {value!r}")
        sizes.append(d)
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"code sizes repeat: {value!r}")
    return tuple(sizes)


def codes_configs(params: Mapping[str, Any]) -> dict[str, ReprConfig]:
    """The runs of chapter 2 (``02_conditional_score_matching``), by name: ``labels`` (eq. 7 on the 2-D
    ring, ``label_steps``), ``uniform_t`` (an L1 encoder under uniform t, section 3.1, ``uniform_steps``),
    ``uniform_sigma`` (an encoder of kind ``sigma_code``, by default the KL encoder of Figure 3, under
    uniform sigma, then ``frozen_steps`` with the encoder frozen, section 3.2.1); with ``kl_steps > 0``,
    ``uniform_t_kl`` (the KL encoder under uniform t, Figures 5, 6 and 8) and, for Figure 11,
    ``code_size_D``: the ``uniform_t`` run with a code of size ``D`` for each ``D`` of ``diversity_dims``
    other than ``latent_dim`` (whose run is ``uniform_t``). The chapter and :func:`train_codes_preset` both
    build them here."""
    base = config_from_parameters(params)
    uniform_t = dataclasses.replace(
        base,
        code="deterministic",
        t_sampling="uniform_t",
        steps=int(params.get("uniform_steps", base.steps)),
        frozen_steps=0,
    )
    extra = {
        f"code_size_{d}": dataclasses.replace(uniform_t, latent_dim=d)
        for d in code_sizes(params.get("diversity_dims"))
        if d != uniform_t.latent_dim
    }
    kl_steps = int(params.get("kl_steps", 0))
    if kl_steps < 0:
        raise ValueError(f"kl_steps must be >= 0 (0: no KL run), got {kl_steps}")
    if kl_steps:
        extra["uniform_t_kl"] = dataclasses.replace(uniform_t, code="probabilistic", steps=kl_steps)
    return {
        "labels": ReprConfig(
            dataset="ring8",
            n_train=10_000,
            code="labels",
            steps=int(params.get("label_steps", 800)),
            batch_size=256,
            lr=3e-3,
            hidden=64,
            seed=base.seed,
            device=base.device,
            progress=base.progress,
        ),
        "uniform_t": uniform_t,
        "uniform_sigma": dataclasses.replace(
            base,
            code=str(params.get("sigma_code", "probabilistic")),
            t_sampling="uniform_sigma",
            steps=int(params.get("sigma_steps", base.steps)),
            frozen_steps=int(params.get("frozen_steps", 0)),
        ),
        **extra,
    }


@dataclass(frozen=True)
class _Sweep:
    """Chapter 2b's own parameters (the others give the runs' :class:`ReprConfig`)."""

    sweep_t: tuple[float, ...] = (0.7,)  # the single t of each run
    seeds: int = 1  # runs per t
    sweep_steps: int = 500  # training steps of each run
    compare_t: float = 0.7  # the t of the network without an encoder


def sweep_configs(params: Mapping[str, Any]) -> dict[str, ReprConfig]:
    """The runs of chapter 2b (``02b_code_granularity``), by name: one L1 encoder per t of ``sweep_t`` and
    seed ``seed .. seed + seeds - 1`` trained on that single t only (section 3.2.2), ``sweep_steps`` each,
    and ``none``: the same network without an encoder at ``compare_t``."""
    sweep = engine.from_params(_Sweep, params)
    base = dataclasses.replace(
        config_from_parameters(params), code="deterministic", t_sampling="fixed", steps=sweep.sweep_steps
    )
    seed0 = base.seed
    runs = {"none": dataclasses.replace(base, code="none", fixed_t=sweep.compare_t)}
    for t in sweep.sweep_t:
        for s in range(seed0, seed0 + sweep.seeds):
            runs[f"t{t:.2f}_seed{s}"] = dataclasses.replace(base, fixed_t=t, seed=s)
    return runs


def _train_all(configs: Mapping[str, ReprConfig], out_dir: str | Path) -> dict[str, ReprRun]:
    return {name: fit(cfg, Path(out_dir) / name) for name, cfg in configs.items()}


def train_codes_preset(params: Mapping[str, Any], out_dir: str | Path) -> dict[str, ReprRun]:
    """``python -m latentkit.experiments train repr-*-codes``: every run of :func:`codes_configs` into
    ``out_dir/NAME`` (safe under ``torchrun``)."""
    return _train_all(codes_configs(params), out_dir)


def penalty_control_configs(params: Mapping[str, Any]) -> dict[str, ReprConfig]:
    """Chapter 2b's section 4, when ``penalty_control`` is set: ``no_penalty``, the run of the largest t of
    ``sweep_t`` at seed ``seed`` trained without the L1 penalty (``reg_weight = 0``); empty otherwise."""
    if not params.get("penalty_control", False):
        return {}
    sweep = engine.from_params(_Sweep, params)
    configs = sweep_configs(params)
    top = configs[f"t{max(sweep.sweep_t):.2f}_seed{config_from_parameters(params).seed}"]
    return {"no_penalty": dataclasses.replace(top, reg_weight=0.0)}


def train_sweep_preset(params: Mapping[str, Any], out_dir: str | Path) -> dict[str, ReprRun]:
    """``python -m latentkit.experiments train repr-*-single-t``: every run of :func:`sweep_configs` and of
    :func:`penalty_control_configs`, so that ``run`` trains nothing."""
    return _train_all({**sweep_configs(params), **penalty_control_configs(params)}, out_dir)
