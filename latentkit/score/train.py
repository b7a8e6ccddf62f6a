"""Training score models with :mod:`latentkit.engine` (EMA, checkpoints, resume, DDP).

:class:`ScoreConfig` holds every choice of a run: data, model, SDE, objective (t-sampling, weighting)
and optimisation. :data:`PRESETS` holds the paper's model sizes (appendix A.1) and the small CPU
configurations of the book; :func:`config_for` picks one by dataset. :func:`fit` trains (or resumes,
or reloads a finished run) and returns a :class:`ScoreRun`; :func:`train_preset` is what
``python -m latentkit.experiments train score-mnist`` calls (also under ``torchrun``). The conditional runs of
:mod:`latentkit.score.represent` extend :class:`ScoreConfig` and build on :func:`load_data`,
:func:`build_model` and :func:`make_trainer`.

Point sets whose exact density is known (``ring8``, ``grid25``, ``gaussian_mixture``) are trained on
fresh draws of the mixture at every step unless ``n_train`` is set; image sets on their training split.
Every ``log_every`` steps the explicit loss (eq. 3) and the constant (eq. 6) are logged beside the DSM
loss on the same draws (``esm``, ``const``) -- against the mixture's exact marginals or, for a finite
training set, against its empirical distribution (``track_exact=False`` turns this off).

Example:
    >>> cfg = config_for("ring8", steps=20, progress=False, device="cpu")
    >>> run = fit(cfg)
    >>> sorted(run.trainer.history[-1])
    ['const', 'dsm', 'esm', 'grad_norm', 'loss', 'step']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from latentkit import data, engine
from latentkit.score.exact import MixtureMarginals, score_matching_terms
from latentkit.score.losses import TSampling, Weighting, dsm_loss, get_t_sampler, get_weighting
from latentkit.score.models import Parameterization, ScoreMLP, ScoreUNet
from latentkit.score.sde import VESDE

__all__ = [
    "ScoreConfig",
    "PRESETS",
    "config_for",
    "ScoreRun",
    "build_model",
    "load_data",
    "load_training_data",
    "make_trainer",
    "unet_trunk",
    "fit",
    "config_from_parameters",
    "train_preset",
]


@dataclass(frozen=True)
class ScoreConfig:
    """One score-model training run (defaults: a 2-D MLP on ``ring8``, a minute on a CPU)."""

    # data
    dataset: str = "ring8"  # any set of latentkit.data.load
    n_train: int | None = None  # training examples (None: all; mixtures: fresh draws every step)
    image_size: int | None = None  # resize images (None: native size)
    classes: tuple[int, ...] | None = None  # keep these classes only (e.g. CIFAR-10's first three)
    value_range: tuple[float, float] = (0.0, 1.0)  # pixel range of image sets (score_sde's VE models: [0, 1])
    # model
    model: Literal["auto", "mlp", "unet"] = "auto"  # "auto": an MLP for points, a U-Net for images
    hidden: int = 128  # MLP width
    depth: int = 3  # MLP hidden layers
    channels: tuple[int, ...] = (32, 64)  # U-Net channels per resolution
    num_res_blocks: int = 2  # U-Net residual blocks per resolution
    dropout: float = 0.0  # U-Net dropout
    parameterization: Parameterization = "edm"  # output parameterisation (latentkit.score.models)
    sigma_data: float | None = None  # data std for "edm" (None: measured on the training data)
    fourier_scale: float | None = None  # scale of the Fourier features of log std (None: model default)
    # SDE and objective
    sigma_min: float = 0.01  # VE SDE sigma(0) (paper: 0.01)
    sigma_max: float = 50.0  # VE SDE sigma(1) (paper: 50)
    t_sampling: TSampling = "uniform_t"  # latentkit.score.losses.get_t_sampler
    fixed_t: float = 0.5  # the t of t_sampling="fixed"
    weighting: Weighting = "kernel_variance"  # lambda(t)
    # optimisation
    steps: int = 3000  # optimisation steps
    batch_size: int = 256  # examples per step (per process under torchrun)
    lr: float = 1e-3  # Adam learning rate
    warmup: int = 0  # linear learning-rate warm-up steps (score_sde: 5000)
    grad_clip: float | None = 1.0  # max gradient norm (score_sde: 1)
    ema_decay: float | None = 0.999  # EMA of the weights (score_sde's VE models: 0.999)
    seed: int = 0
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:N", "mps"
    mixed_precision: bool = False  # bf16 autocast on CUDA
    compile: bool = False  # torch.compile the networks on CUDA (ignored elsewhere)
    checkpoint_every: int = 1000
    log_every: int = 50
    track_exact: bool = True  # log the explicit loss and the constant beside the DSM loss
    progress: bool = True

    def __post_init__(self) -> None:
        engine.check_fields(self)

    @property
    def is_points(self) -> bool:
        """Whether the dataset is a 2-D point set (:data:`latentkit.data.POINT_SETS`) rather than images."""
        return self.dataset in data.POINT_SETS

    def sde(self) -> VESDE:
        return VESDE(self.sigma_min, self.sigma_max)

    def t_sampler(self):
        return get_t_sampler(self.t_sampling, self.sde(), t=self.fixed_t)


PRESETS: dict[str, ScoreConfig] = {
    # The book's CPU scale: a 2-D MLP on 8 Gaussians on a ring, a small U-Net on 8x8 digits.
    "ring8": ScoreConfig(dataset="ring8", model="mlp", lr=3e-3, ema_decay=0.99),
    "grid25": ScoreConfig(dataset="grid25", model="mlp", lr=3e-3, ema_decay=0.99),
    "digits": ScoreConfig(dataset="digits", model="unet", channels=(32, 64), num_res_blocks=1, batch_size=128, lr=2e-4),
    "mnist5k": ScoreConfig(
        dataset="mnist5k", model="unet", channels=(32, 64), num_res_blocks=2, batch_size=128, lr=2e-4
    ),
    # Paper appendix A.1: MNIST 28x28x32 and 14x14x64, two residual blocks each, 80k iterations;
    # CIFAR-10 (first three classes) 32/16/8 resolutions with 32 channels, two blocks each, 90k iterations.
    # The paper states no optimiser; the authors' code (korabs-x/representation_score_based, on score_sde):
    # Adam 2e-4, 5000 warm-up steps, gradient clipping 1; EMA 0.9999 and batch 128 for MNIST
    # (mnist_deep_continuous_ve.py, default_mnist_ve_configs.py), EMA 0.999 and batch 64 for CIFAR-10
    # (my_cifar10_deep_continuous_ve.py, job_cifar.sh).
    "mnist": ScoreConfig(
        dataset="mnist",
        model="unet",
        channels=(32, 64),
        num_res_blocks=2,
        steps=80_000,
        batch_size=128,
        lr=2e-4,
        warmup=5000,
        ema_decay=0.9999,
        checkpoint_every=5000,
        log_every=500,
    ),
    "cifar10": ScoreConfig(
        dataset="cifar10",
        model="unet",
        channels=(32, 32, 32),
        num_res_blocks=2,
        classes=(0, 1, 2),
        steps=90_000,
        batch_size=64,
        lr=2e-4,
        warmup=5000,
        ema_decay=0.999,
        checkpoint_every=5000,
        log_every=500,
    ),
}


def config_for(dataset: str, **overrides: Any) -> ScoreConfig:
    """The preset for ``dataset`` (a key of :data:`PRESETS`) with ``overrides`` (``None`` values are skipped)."""
    if dataset not in PRESETS:
        raise ValueError(f"no score-model preset for dataset {dataset!r}; valid: {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[dataset], **{k: v for k, v in overrides.items() if v is not None})


@dataclass
class ScoreRun:
    """A trained (or resumed) run: the EMA model, the SDE, the data and the trainer."""

    config: ScoreConfig
    model: nn.Module  #: the EMA weights (the raw ones when ema_decay is None), eval mode
    sde: VESDE
    trainer: engine.Trainer
    train_data: data.ArrayDataset | None  #: the training set (None: fresh mixture draws)
    exact: MixtureMarginals | None  #: the exact p_0 the run is trained on, when known
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def history(self) -> list[dict]:
        return self.trainer.history


def load_data(config: ScoreConfig, split: str = "train") -> data.ArrayDataset:
    """The ``split`` of ``config``'s dataset in memory (``n_train`` examples of the training split)."""
    kwargs: dict[str, Any] = {"n": config.n_train if split == "train" else None, "seed": config.seed}
    if config.classes is not None:
        kwargs["classes"] = config.classes
    if not config.is_points:
        kwargs.update(size=config.image_size, value_range=config.value_range)
    ds = data.load(config.dataset, split, **kwargs)
    return ds if isinstance(ds, data.ArrayDataset) else data.ArrayDataset.from_dataset(ds)


def load_training_data(config: ScoreConfig) -> tuple[data.ArrayDataset | None, MixtureMarginals | None]:
    """The training set (``None`` for fresh mixture draws) and the exact ``p_0`` it stands for
    (the mixture, or the empirical distribution of a finite set; ``None`` when not tracked)."""
    ds = load_data(config)
    mixture = getattr(ds, "mixture", None)
    if mixture is not None and config.n_train is None:
        return None, MixtureMarginals.from_mixture(mixture)
    exact = MixtureMarginals.empirical(ds.x) if config.track_exact else None
    return ds, exact


def build_model(config: ScoreConfig, event_shape: tuple[int, ...], sigma_data: float, **cond: int) -> nn.Module:
    """The score model of ``config`` for data of shape ``event_shape``; ``cond`` (``cond_dim``, ``cond_layers``
    of :class:`~latentkit.score.models.ScoreMLP` and :class:`~latentkit.score.models.ScoreUNet`) makes it
    conditional."""
    kind = config.model
    if kind == "auto":
        kind = "mlp" if len(event_shape) == 1 else "unet"
    extra = {} if config.fourier_scale is None else {"fourier_scale": config.fourier_scale}
    extra.update(cond)
    if kind == "mlp":
        if len(event_shape) != 1:
            raise ValueError(f"the MLP score model needs (D,) data, got examples of shape {event_shape}")
        return ScoreMLP(
            event_shape[0],
            hidden=config.hidden,
            depth=config.depth,
            parameterization=config.parameterization,
            sigma_data=sigma_data,
            **extra,
        )
    if len(event_shape) != 3 or event_shape[1] != event_shape[2]:
        raise ValueError(f"the U-Net score model needs square (C, H, W) images, got {event_shape}")
    return ScoreUNet(
        **unet_trunk(config, event_shape),
        dropout=config.dropout,
        parameterization=config.parameterization,
        sigma_data=sigma_data,
        **extra,
    )


def unet_trunk(config: ScoreConfig, event_shape: tuple[int, ...]) -> dict[str, Any]:
    """The U-Net arguments ``config`` gives every image network of a run (the score model and, in
    :mod:`latentkit.score.represent`, the encoder): input channels and size, channels per resolution, residual
    blocks."""
    return {
        "in_channels": event_shape[0],
        "image_size": event_shape[1],
        "channels": config.channels,
        "num_res_blocks": config.num_res_blocks,
    }


def make_trainer(
    config: ScoreConfig,
    model: nn.Module,
    out_dir: str | Path | None,
    *,
    desc: str,
    steps: int | None = None,
    seed: int | None = None,
) -> engine.Trainer:
    """An engine trainer of ``model`` with ``config``'s optimisation: Adam on the parameters that need
    gradients, the linear warm-up, clipping, EMA, checkpoints in ``out_dir``. ``steps`` and ``seed`` default
    to the config's (a later phase of a run passes its own)."""
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    scheduler = engine.warmup_schedule(optimizer, config.warmup)
    train_config = engine.TrainConfig.of(
        config,
        steps=config.steps if steps is None else steps,
        seed=config.seed if seed is None else seed,
        desc=desc,
    )
    return engine.Trainer(out_dir, {"model": model}, {"model": optimizer}, train_config, {"model": scheduler})


def fit(config: ScoreConfig, out_dir: str | Path | None = None) -> ScoreRun:
    """Train a score model on the DSM objective (eqs. 4-5) with the engine; resumable and idempotent.

    Logs ``loss`` (= ``dsm``, the objective on the step's batch), ``grad_norm`` and, every ``log_every``
    steps when the exact ``p_0`` is known, ``esm`` and ``const`` on the same draws (eqs. 3 and 6).
    """
    engine.seed_everything(config.seed)
    sde = config.sde()
    train_data, exact = load_training_data(config)
    if train_data is None:
        assert exact is not None
        event_shape = exact.event_shape
        probe = exact.sample(10_000, generator=torch.Generator().manual_seed(config.seed))
    else:
        event_shape = tuple(train_data.x.shape[1:])
        probe = train_data.x
    sigma_data = config.sigma_data if config.sigma_data is not None else float(probe.float().std())
    model = build_model(config, event_shape, sigma_data)
    trainer = make_trainer(config, model, out_dir, desc=f"score model ({config.dataset})")
    device = trainer.device
    if exact is not None:
        exact = exact.to(device)
    if train_data is None:
        mixture = exact

        def sample(generator: torch.Generator) -> Tensor:
            return mixture.sample(config.batch_size, generator=generator).to(device)
    else:
        draw = data.batch_sampler(train_data, config.batch_size, device)

        def sample(generator: torch.Generator) -> Tensor:
            return draw(generator)[0]

    t_sampler, lam = config.t_sampler(), get_weighting(config.weighting, sde)

    def step(tr: engine.Trainer, x0: Tensor) -> dict[str, float | Tensor]:
        t = t_sampler(x0.shape[0], generator=tr.generator, device=x0.device, dtype=x0.dtype)
        noise = torch.randn(x0.shape, generator=tr.generator).to(device=x0.device, dtype=x0.dtype)
        metrics: dict[str, float | Tensor] = {}
        logged = (tr.step + 1) % config.log_every == 0 or tr.step + 1 == config.steps
        if exact is not None and logged:  # eq. 6 on this step's draws, with the weights the loss sees
            terms = score_matching_terms(tr.raw("model"), x0, sde, exact, t=t, noise=noise, weighting=lam)
            metrics.update(dsm=terms.dsm.mean(), esm=terms.esm.mean(), const=terms.const.mean())
        with tr.autocast():
            loss = dsm_loss(tr.module("model"), x0, sde, t=t, noise=noise, weighting=lam)
        metrics.update(loss=loss.detach(), grad_norm=tr.backward_step(loss, "model"))
        return metrics

    trainer.fit(step, sample)
    result = trainer.ema_module("model").eval()
    return ScoreRun(config, result, sde, trainer, train_data, exact)


# Chapter 1's parameters whose 0 stands for the value of the dataset's preset.
_PRESET_IF_ZERO = ("batch_size", "lr", "n_train")


def config_from_parameters(params: Mapping[str, Any], **fixed: Any) -> ScoreConfig:
    """The config of chapter 1's trained model from its parameters: ``dataset`` picks the preset
    (:func:`config_for`) and every other name that is a field overrides it (:func:`latentkit.engine.from_params`),
    but for ``batch_size``, ``lr`` and ``n_train`` set to 0 (the preset's value); ``fixed`` wins. The chapter
    and :func:`train_preset` both call this, so a run trained by ``python -m latentkit.experiments train`` is
    the one the chapter reuses."""
    preset = config_for(params.get("dataset", "ring8"))
    given = {k: v for k, v in params.items() if v or k not in _PRESET_IF_ZERO}
    return engine.from_params(ScoreConfig, {**dataclasses.asdict(preset), **given}, **fixed)


def train_preset(params: Mapping[str, Any], out_dir: str | Path) -> ScoreRun:
    """Entry point of ``python -m latentkit.experiments train NAME`` (safe under ``torchrun``)."""
    return fit(config_from_parameters(params), out_dir)
