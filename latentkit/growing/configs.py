"""Configs of the growing GANs and chapter 3's runs built from its parameters (Sandström, sections 7.1, 7.2.3).

* :class:`MLPGANConfig` -- an MLP GAN on 2-D points (sec. 7.1), its latent grown through ``latent_sizes``;
* :class:`CNNGANConfig` -- one CNN model of table 1 (defaults: the thesis's CelebA 128x128 setting);
* :func:`swiss_roll_configs`, :func:`cnn_configs`, :func:`cnn_seed_configs`, :func:`chapter_configs` -- the
  chapter's runs from its resolved parameters (``roll_*`` and ``cnn_*`` name config fields, see
  :func:`latentkit.engine.from_params`; ``cnn_seeds`` repeats every CNN model with seeds ``seed, seed + 1, ...``).

Fields typed with a ``Literal`` (``loss``, ``optimizer``, ``strategy``) are checked by
:func:`latentkit.engine.check_fields`, which names the valid choices.

Example:
    >>> params = {"roll_lr": 0.001, "roll_lr_high": 5.0, "models": "bGAN, clgGAN", "cnn_resolution": 16,
    ...           "cnn_widths": "32,16,8", "cnn_latent_sizes": "8,16,32", "cnn_n": 0, "cnn_root": "", "seed": 1}
    >>> runs = chapter_configs(params)
    >>> list(runs)
    ['roll_high', 'roll_tuned', 'roll_grown', 'bGAN', 'clgGAN']
    >>> runs["roll_high"].lr, runs["roll_grown"].latent_sizes, runs["clgGAN"].widths, runs["clgGAN"].n
    (5.0, (1, 2), (32, 16, 8), None)
    >>> {name: cfg.seed for name, cfg in cnn_seed_configs({**params, "cnn_seeds": 2}).items()}
    {'bGAN': 1, 'clgGAN': 1, 'bGAN_seed1': 2, 'clgGAN_seed1': 2}
    >>> CNNGANConfig(optimizer="sgd")
    Traceback (most recent call last):
    ...
    ValueError: CNNGANConfig.optimizer must be one of 'rmsprop', 'adam', got 'sgd'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

from latentkit import engine
from latentkit.growing.cnn import CNNArch, Strategy, growth_stages
from latentkit.growing.evaluate import axis_indices
from latentkit.growing.losses import Loss

__all__ = [
    "Optimizer",
    "OPTIMIZERS",
    "CELEBA_EPOCH",
    "MLPGANConfig",
    "CNNGANConfig",
    "swiss_roll_configs",
    "cnn_configs",
    "cnn_seed_configs",
    "chapter_configs",
]

Optimizer = Literal["rmsprop", "adam"]  # the optimizers of both networks
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
# One epoch: the 162,770 images of CelebA's train split, on which the models train. The thesis (sec. 7.2.3)
# trains on the whole set of 202,599; we keep its valid and test splits out of training.
CELEBA_EPOCH = 162_770


def _check(cfg: Any) -> None:
    engine.check_fields(cfg)
    for name in ("batch_size", "d_updates", "g_updates"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{type(cfg).__name__}.{name} must be >= 1, got {getattr(cfg, name)}")


@dataclass(frozen=True)
class MLPGANConfig:
    """An MLP GAN on 2-D points (sec. 7.1); ``latent_sizes=(1, 2)`` grows the latent 1 -> 2."""

    dataset: str = "swiss_roll"  # a 2-D point set of latentkit.data.load
    n: int | None = None  # training points (None: the loader's default)
    latent_sizes: tuple[int, ...] = (2,)  # latent size of each phase; (1, 2) grows 1 -> 2 (sec. 6.1)
    hidden: int = 32  # units per hidden layer (G and D)
    depth: int = 4  # hidden layers (G and D)
    loss: Loss = "ns"  # "ns" (eqs. 6, 8) or "wgan-gp" (eqs. 13, 14)
    gp_weight: float = 10.0  # lambda of the gradient penalty (wgan-gp)
    optimizer: Optimizer = "rmsprop"  # "rmsprop" or "adam"
    lr: float = 1e-3  # learning rate of both networks (the thesis also shows 5: too high)
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas
    batch_size: int = 128  # minibatch size
    d_updates: int = 10  # discriminator updates per minibatch (sec. 7.1: ten)
    g_updates: int = 10  # generator updates per minibatch (sec. 7.1: ten)
    images: int = 1_920_000  # real examples drawn in total, split equally over the phases
    seed: int = 0  # seed of the data order, initialisation and noise
    device: str = "auto"  # training device
    checkpoint_every: int = 500  # steps between checkpoints
    log_every: int = 50  # steps between metric records
    progress: bool = True  # progress bars

    def __post_init__(self) -> None:
        _check(self)


@dataclass(frozen=True)
class CNNGANConfig:
    """A CNN GAN of table 1 (defaults: the thesis's CelebA 128x128 setting, sec. 7.2.3)."""

    strategy: Strategy = "clgGAN"  # bGAN, bgGAN, cgGAN, lgGAN or clgGAN (table 1)
    dataset: str = "celeba"  # an image set of latentkit.data.load
    n: int | None = None  # training images (None: all)
    root: str | None = None  # dataset folder of torchvision sets (None: the default)
    crop: int = 0  # celeba: side of the centre crop taken before resizing (0: the loader's 178; thesis 128)
    channels: int = 3  # image channels
    resolution: int = 128  # final image size
    widths: tuple[int, ...] = (256, 128, 64, 32, 16, 8)  # channels per block, 4x4 .. final (tables 2-3)
    latent_sizes: tuple[int, ...] = (8, 16, 32, 64, 128, 256)  # latent per growth cycle; the last is the max
    loss: Loss = "wgan-gp"  # "wgan-gp" (eqs. 13, 14) or "ns" (eqs. 6, 8)
    gp_weight: float = 10.0  # lambda
    optimizer: Optimizer = "adam"  # "adam" or "rmsprop"
    lr: float = 1e-4  # learning rate
    betas: tuple[float, float] = (0.0, 0.99)  # Adam betas
    eps: float = 1e-8  # Adam epsilon
    batch_size: int = 16  # minibatch size per process
    d_updates: int = 1  # discriminator updates per minibatch
    g_updates: int = 1  # generator updates per minibatch
    initial_images: int = 4 * CELEBA_EPOCH  # images of the first phase (4 epochs, sec. 7.2.3)
    fade_images: int = 4 * CELEBA_EPOCH  # images over which new weights fade in (4 epochs)
    stable_images: int = 4 * CELEBA_EPOCH  # images of stabilising after the fade-in (4 epochs)
    seed: int = 547  # the thesis's seed
    device: str = "auto"  # training device
    mixed_precision: bool = False  # bf16 autocast on CUDA
    compile: bool = False  # torch.compile the networks on CUDA (ignored elsewhere)
    checkpoint_every: int = 1000  # steps between checkpoints
    log_every: int = 100  # steps between metric records
    progress: bool = True  # progress bars

    def __post_init__(self) -> None:
        _check(self)
        growth_stages(self.strategy, self.arch)  # checks that the sizes fit the strategy

    @property
    def arch(self) -> CNNArch:
        return CNNArch(self.resolution, self.widths, self.latent_sizes)


def _common(params: Mapping[str, Any]) -> dict[str, Any]:
    """The chapter-wide parameters every run takes."""
    return {k: params[k] for k in ("seed", "device", "progress") if k in params}


def swiss_roll_configs(params: Mapping[str, Any]) -> dict[str, MLPGANConfig]:
    """The three experiments of sec. 7.1 from chapter parameters (``roll_*``, ``seed``, ``device``):
    ``roll_high`` (rate ``roll_lr_high``, figure 7), ``roll_tuned`` (figure 8), ``roll_grown`` (1 -> 2, figure 9)."""
    base = engine.from_params(MLPGANConfig, params, prefix="roll_", **_common(params))
    return {
        "roll_high": replace(base, lr=params["roll_lr_high"], latent_sizes=(2,)),
        "roll_tuned": replace(base, latent_sizes=(2,)),
        "roll_grown": replace(base, latent_sizes=(1, 2)),
    }


def cnn_configs(params: Mapping[str, Any]) -> dict[str, CNNGANConfig]:
    """One :class:`CNNGANConfig` per model named in ``params["models"]`` (comma-separated) from the
    chapter parameters ``cnn_*`` (plus ``seed``, ``device``)."""
    models = [m.strip() for m in str(params["models"]).split(",") if m.strip()]
    return {m: engine.from_params(CNNGANConfig, params, prefix="cnn_", **_common(params), strategy=m) for m in models}


def cnn_seed_configs(params: Mapping[str, Any]) -> dict[str, CNNGANConfig]:
    """The CNN models of :func:`cnn_configs`, each repeated with ``params["cnn_seeds"]`` seeds (default 1):
    ``seed`` in the folder ``<model>``, ``seed + i`` in ``<model>_seed<i>``, seed-major."""
    seeds = int(params.get("cnn_seeds", 1))
    if seeds < 1:
        raise ValueError(f"cnn_seeds must be >= 1, got {seeds}")
    runs = {}
    for i in range(seeds):
        for name, cfg in cnn_configs(params).items():
            runs[name if i == 0 else f"{name}_seed{i}"] = replace(cfg, seed=cfg.seed + i)
    return runs


def chapter_configs(params: Mapping[str, Any]) -> dict[str, MLPGANConfig | CNNGANConfig]:
    """Every run of chapter 3 by folder name: the Swiss-roll runs and the CNN models with their seeds.
    Also checks ``axis_coordinates`` (sec. 7.2.2's coordinates, counted from 1)."""
    axis_indices(str(params.get("axis_coordinates", "")), 1 << 30)
    return {**swiss_roll_configs(params), **cnn_seed_configs(params)}
