"""Training IVE-GAN (eq. 3) and its plain GAN baseline on the engine: :class:`IVEGANConfig` and :func:`fit`.

One optimisation step (:func:`make_step`) alternates, as usual for GANs:

1. **D and D'** ascend eq. 3 on a batch ``x``: pairs ``(T(x), x)`` are real, ``(G(z', E(x)), x)`` fake;
   ``x`` is real for D', ``G(z', z)`` with ``z ~ U(-1, 1)`` fake (G and E are not updated).
   With ``marginal_recon=True`` D' also sees ``G(z', E(x))`` as fake, as eq. 3's last term is printed.
2. **G and E** descend it (non-saturating by default, see :mod:`latentkit.ivegan.losses`) with fresh noise.

``method="gan"`` is the baseline: the same generator (fed ``z ~ U(-1, 1)`` and ``z'``), the same ``D_enc``
and D' head, the same optimisers, batch and step count -- only the pair term (and so the encoder) is gone.

Modules of the trainer: ``"E"`` (IVE-GAN only), ``"G"``, ``"D"``; optimisers ``"gen"`` (E and G) and
``"disc"`` (D_enc and both heads). Runs are resumable and work under ``torchrun``.

Example:
    >>> cfg = IVEGANConfig(dataset="ring8", n=256, steps=3, batch_size=32, device="cpu", progress=False)
    >>> run = fit(cfg)
    >>> run.trainer.step, sorted(run.trainer.history[-1])[:3]
    (3, ['d_loss', 'g_loss', 'marginal_fake'])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from latentkit import data as lkdata
from latentkit.engine import TrainConfig, Trainer, check_fields, from_params
from latentkit.ivegan.losses import generator_loss, loss_terms
from latentkit.ivegan.models import Discriminator, Encoder, Generator, code_norm_name, conv_ivegan, mlp_ivegan
from latentkit.ivegan.transforms import Transform, celeba_transform, mixture_shift, mnist_transform

__all__ = [
    "IVEGANConfig",
    "IVEGAN",
    "build",
    "make_transform",
    "load_training_data",
    "prior",
    "make_step",
    "fit",
    "chapter_runs",
    "train_preset",
]

_FACE_SETS = ("celeba", "cifar10")
IMAGE_RANGE = (-1.0, 1.0)  # images are trained in [-1, 1] with a tanh generator


@dataclass(frozen=True)
class IVEGANConfig:
    """One IVE-GAN (or baseline GAN) run. Defaults: table 1 (the synthetic set)."""

    dataset: str = "ring8"  # a latentkit.data name: ring8, grid25 (points); mnist5k, mnist, digits, celeba (images)
    method: Literal["ivegan", "gan"] = "ivegan"  # eq. 3, or the baseline: eq. 1 with the same G and D'
    n: int | None = None  # training examples (None: the whole train split)
    size: int | None = None  # image side (None: the dataset's own; celeba in the paper: 128)
    crop: int = 0  # celeba: side of the centre crop before resizing (0: the loader's 178; the paper: 128)
    attribute: str = ""  # celeba: the attribute used as class label for the probes (e.g. "Male"; "": none)
    arch: Literal["mlp", "conv"] = "mlp"  # "mlp" (table 1; images flattened) or "conv" (tables 2 and 3)
    layout: Literal["mnist", "celeba"] = "mnist"  # conv layout: "mnist" (table 2) or "celeba" (table 3)
    z_dim: int = 3  # size of the code z = E(x)
    noise_dim: int = 4  # size of the noise z'
    hidden: int = 128  # mlp: hidden units per layer
    depth: int = 1  # mlp: hidden layers per network
    activation: str = "tanh"  # mlp: hidden activation (tanh, relu, lrelu)
    width: float = 1.0  # conv: multiplies every channel count (1.0: the paper)
    feature_dim: int = 3  # images: size of D_enc's output (table 2: 3, table 3: 1024); points: D_enc = identity
    head_width: float = 1.0  # conv: multiplies the discriminator heads' hidden sizes
    marginal_recon: bool = False  # D' also judges G(z', E(x)) as fake (eq. 3's last term as printed)
    code_norm: bool | str = (
        False  # normalise the code before E's tanh: "batch" (True), "whiten", "none" (False); not in the paper
    )
    strength: float = 1.0  # strength of T (1.0: the paper's; 0: the identity)
    max_degrees: float | None = None  # images: largest rotation of T at strength 1 (None: the paper's 20)
    max_shift: float | None = (
        None  # images: largest shift in px at strength 1 (None: 4/28 MNIST, 20/128 CelebA of the side)
    )
    steps: int = 2000  # optimisation steps (each: one D/D' update, one G/E update)
    batch_size: int = 1024  # examples per step (per process under torchrun)
    lr_g: float = 2e-4  # Adam learning rate of G and E
    lr_d: float = 1e-4  # Adam learning rate of D and D'
    beta1: float = 0.7  # Adam beta1 (table 3: 0.5)
    beta2: float = 0.999  # Adam beta2
    saturating: bool = False  # G/E minimise eq. 3 literally (True) or the non-saturating loss (False)
    seed: int = 0  # seeds weights, noise and batches
    device: str = "auto"  # engine device
    mixed_precision: bool = False  # bf16 autocast on CUDA (ignored elsewhere)
    compile: bool = False  # torch.compile the networks on CUDA (ignored elsewhere)
    checkpoint_every: int = 1000  # steps between checkpoints
    log_every: int = 50  # steps between logged metrics
    progress: bool = True  # progress bar

    def __post_init__(self) -> None:
        check_fields(self)  # method, arch, layout
        for name in ("z_dim", "noise_dim", "steps", "batch_size", "hidden", "depth", "feature_dim"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < (0 if name == "steps" else 1):
                raise ValueError(f"IVEGANConfig.{name} must be a positive int, got {getattr(self, name)!r}")
        code_norm_name(self.code_norm)  # raises on an unknown name
        if not self.strength >= 0:
            raise ValueError(f"IVEGANConfig.strength must be >= 0, got {self.strength}")

    @property
    def is_points(self) -> bool:
        return self.dataset in lkdata.POINT_SETS


@dataclass
class IVEGAN:
    """A trained run: the networks (``encoder`` is ``None`` for the baseline), its T and its trainer."""

    config: IVEGANConfig
    encoder: Encoder | None
    generator: Generator
    discriminator: Discriminator
    transform: Transform
    trainer: Trainer | None = None

    @property
    def history(self) -> list[dict]:
        return self.trainer.history if self.trainer is not None else []

    def eval(self) -> IVEGAN:
        for m in (self.encoder, self.generator, self.discriminator):
            if m is not None:
                m.eval()
        return self


def load_training_data(config: IVEGANConfig, split: str = "train") -> torch.utils.data.Dataset:
    """The dataset of a run: point sets as they are, images in [-1, 1]. torchvision digit sets (``mnist``,
    ``fashion_mnist``) are materialised as an ``ArrayDataset`` (``.x``, ``.y``); ``celeba`` stays lazy."""
    kwargs: dict[str, Any] = {"n": config.n, "seed": 0}
    if not config.is_points:
        kwargs.update(value_range=IMAGE_RANGE)
        if config.size is not None:
            kwargs["size"] = config.size
    if config.crop:  # celeba's options: data.load refuses them for other sets
        kwargs["crop"] = config.crop
    if config.attribute:
        kwargs["attribute"] = config.attribute
    ds = lkdata.load(config.dataset, split, **kwargs)
    if config.dataset in ("mnist", "fashion_mnist") and not isinstance(ds, lkdata.ArrayDataset):
        ds = lkdata.ArrayDataset.from_dataset(ds)
    return ds


def make_transform(
    config: IVEGANConfig, dataset: torch.utils.data.Dataset | None = None, strength: float | None = None
) -> Transform:
    """The paper's T for the run's dataset: eq. 4 for mixtures (needs ``dataset.mixture``), shifts and
    rotations for digits, plus flips and colour jitter for faces; scaled by ``strength`` (default: the
    config's). Shifts scale with the image side (4 px at 28 px, 20 px at 128 px) unless ``max_shift`` is set."""
    s = config.strength if strength is None else strength
    if config.is_points:
        mixture = getattr(dataset, "mixture", None)
        if mixture is None:
            raise ValueError(f"eq. 4 needs the mixture's covariance; dataset {config.dataset!r} has no .mixture")
        return mixture_shift(float(mixture.stds.max()), s)
    faces = config.dataset in _FACE_SETS
    paper_size = 128 if faces else 28  # the paper's shifts are 20 px of 128 (CelebA) and 4 px of 28 (MNIST)
    size = config.size or (dataset[0][0].shape[-1] if dataset is not None else paper_size)
    max_shift = config.max_shift if config.max_shift is not None else (20.0 if faces else 4.0) * size / paper_size
    options = {"max_shift": max_shift}
    if config.max_degrees is not None:
        options["max_degrees"] = config.max_degrees
    if faces:
        return celeba_transform(s, IMAGE_RANGE, **options)
    return mnist_transform(s, IMAGE_RANGE, **options)


def build(config: IVEGANConfig, data_shape: tuple[int, ...]) -> tuple[Encoder | None, Generator, Discriminator]:
    """The networks of a run for data of shape ``data_shape`` (``(D,)`` or ``(C, H, W)``), seeded by
    the caller."""
    ivegan = config.method == "ivegan"
    if config.arch == "mlp":
        points = len(data_shape) == 1
        return mlp_ivegan(
            data_shape[0] if points else tuple(data_shape),
            config.z_dim,
            config.noise_dim,
            config.hidden,
            config.depth,
            config.activation,
            output="linear" if points else "tanh",
            pair=ivegan,
            with_encoder=ivegan,
            feature_dim=None if points else config.feature_dim,
            code_norm=config.code_norm,
        )
    if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
        raise ValueError(f"arch='conv' needs square images (C, H, H), got {data_shape}")
    return conv_ivegan(
        data_shape[0],
        data_shape[1],
        config.z_dim,
        config.noise_dim,
        config.layout,
        config.width,
        config.feature_dim,
        config.head_width,
        output="tanh",
        pair=ivegan,
        with_encoder=ivegan,
        code_norm=config.code_norm,
    )


def prior(n: int, dim: int, like: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """``z ~ U(-1, 1)^dim`` (the range of the encoder's tanh codes), on ``like``'s device and dtype."""
    return 2 * torch.rand(n, dim, generator=generator, device=like.device, dtype=like.dtype) - 1


def _noise(n: int, dim: int, like: Tensor) -> Tensor:
    """``z' ~ N(0, I)``."""
    return torch.randn(n, dim, device=like.device, dtype=like.dtype)


def make_step(config: IVEGANConfig, transform: Transform) -> Callable[[Trainer, Any], dict[str, float]]:
    """The step function for :meth:`Trainer.fit` (see the module docstring)."""
    ivegan = config.method == "ivegan"
    recon_to_dprime = ivegan and config.marginal_recon

    def step(tr: Trainer, batch: Any) -> dict[str, float]:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        x = x.to(tr.device)
        n = x.shape[0]
        g_raw = tr.raw("G")
        enc, gen, disc = (tr.module("E") if ivegan else None), tr.module("G"), tr.module("D")

        def reconstruct_and_sample() -> tuple[Tensor, Tensor]:
            """G(z', E(x)) for the batch (none for the baseline) and G(z', z) for n codes z from the prior."""
            codes = enc(x) if ivegan else x.new_zeros(0, g_raw.z_dim)
            z = torch.cat([codes, prior(n, g_raw.z_dim, x)])
            fakes = gen(_noise(len(z), g_raw.noise_dim, x), z)
            return fakes[: len(codes)], fakes[len(codes) :]

        # 1. D and D' ascend V (eq. 3); G and E are held fixed.
        with tr.autocast():
            with torch.no_grad():
                recon, sample = reconstruct_and_sample()
            if ivegan:
                tx = transform(x)
                pair, marg = disc(
                    torch.cat([tx, recon]),
                    torch.cat([x, x]),
                    torch.cat([x, sample, recon] if recon_to_dprime else [x, sample]),
                )
                terms = loss_terms(
                    pair[:n], pair[n:], marg[:n], marg[n : 2 * n], marg[2 * n :] if recon_to_dprime else None
                )
            else:
                _, marg = disc(None, None, torch.cat([x, sample]))
                terms = loss_terms(None, None, marg[:n], marg[n:])
            d_loss = sum(terms.values())
        tr.backward_step(d_loss, "disc")

        # 2. G and E descend it, with fresh noise.
        with tr.autocast():
            recon, sample = reconstruct_and_sample()
            if ivegan:
                pair, marg = disc(recon, x, torch.cat([sample, recon]) if recon_to_dprime else sample)
            else:
                pair, marg = disc(None, None, sample)
            g_loss = generator_loss(pair, marg[:n], config.saturating, marg[n:] if recon_to_dprime else None)
        tr.backward_step(g_loss, "gen")
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), **{k: v.detach() for k, v in terms.items()}}

    return step


def fit(
    config: IVEGANConfig, out_dir: str | Path | None = None, dataset: torch.utils.data.Dataset | None = None
) -> IVEGAN:
    """Train (or resume, or just load a finished) run in ``out_dir`` (``None``: in memory).

    Arguments:
        config: the run.
        out_dir: checkpoint and ``metrics.jsonl`` directory.
        dataset: the training data (default: :func:`load_training_data`).
    """
    dataset = dataset if dataset is not None else load_training_data(config)
    shape = tuple(dataset[0][0].shape)
    torch.manual_seed(config.seed)
    enc, gen, disc = build(config, shape)
    modules: dict[str, nn.Module] = {"G": gen, "D": disc}
    gen_params = list(gen.parameters())
    if enc is not None:
        modules = {"E": enc, **modules}
        gen_params = list(enc.parameters()) + gen_params
    betas = (config.beta1, config.beta2)
    optimizers = {
        "gen": torch.optim.Adam(gen_params, lr=config.lr_g, betas=betas, eps=1e-8),
        "disc": torch.optim.Adam(disc.parameters(), lr=config.lr_d, betas=betas, eps=1e-8),
    }
    tcfg = TrainConfig.of(config, finite=("d_loss", "g_loss"), desc=f"{config.method} {config.dataset}")
    trainer = Trainer(out_dir, modules, optimizers, tcfg)
    transform = make_transform(config, dataset)
    sample = lkdata.batch_sampler(dataset, config.batch_size, trainer.device)
    trainer.fit(make_step(config, transform), sample)
    run = IVEGAN(
        config, trainer.raw("E") if enc is not None else None, trainer.raw("G"), trainer.raw("D"), transform, trainer
    )
    return run.eval()


# -- the chapter's runs ----------------------------------------------------------------------------------


# The image runs' settings when the chapter does not give them: table 2/3's convolutional networks, and leaky
# ReLU for the dense stand-in (``image_arch="mlp"``). Every other ``image_*`` name defaults to IVEGANConfig's.
_IMAGE_DEFAULTS = {"image_arch": "conv", "image_activation": "lrelu"}


def chapter_runs(params: Mapping[str, Any]) -> dict[str, IVEGANConfig]:
    """Every run chapter 4 trains, by sub-folder name of ``Outputs(out_dir).train_dir``, from the
    chapter's parameters (so that ``train PRESET`` and ``run PRESET`` share finished runs).

    * ``ring_{method}_seed{k}``: IVE-GAN and the baseline on ``ring_dataset``, ``ring_seeds`` seeds.
    * ``image_z{large_code_dim}`` and ``image_z{code_dim}``: IVE-GAN on ``image_dataset`` with the
      paper's T (``image_arch``: ``"conv"``, table 2/3, or ``"mlp"``, dense layers of ``image_hidden``
      units, a CPU stand-in); ``image_z{code_dim}_rot{tchoice_degrees}``: the same with rotations up to
      ``tchoice_degrees`` (the T-choice experiment; none when ``tchoice_degrees`` is 0). The large-code run trains ``large_code_steps`` steps
      (optional; default ``image_steps``), the T-choice run ``tchoice_steps`` (optional; default
      ``image_steps``; the chapter compares it with the 3-d run's snapshot at that step), the 3-d one
      ``image_steps``.
    * The ring runs read every ``ring_<field>`` and the image runs every ``image_<field>`` of
      :class:`IVEGANConfig` (:func:`latentkit.engine.from_params`: ``image_size`` 0 is the dataset's own size).
      Names not given take the config's defaults (the paper's: no code normalisation, no
      ``marginal_recon``), except ``image_arch`` (``"conv"``) and ``image_activation`` (``"lrelu"``).
    """
    p = dict(params)
    seed = int(p.get("seed", 0))
    common = dict(device=p.get("device", "cpu"), progress=p.get("progress", True))
    runs: dict[str, IVEGANConfig] = {}
    for k in range(int(p["ring_seeds"])):
        for method in ("ivegan", "gan"):
            runs[f"ring_{method}_seed{seed + k}"] = from_params(
                IVEGANConfig,
                p,
                prefix="ring_",
                method=method,
                seed=seed + k,
                log_every=50,
                checkpoint_every=max(1, p["ring_steps"]),
                **common,
            )

    def image_run(z_dim: int, steps: int, **extra: Any) -> IVEGANConfig:
        return from_params(
            IVEGANConfig,
            {**_IMAGE_DEFAULTS, **p},
            prefix="image_",
            z_dim=z_dim,
            steps=steps,
            seed=seed,
            log_every=25,
            checkpoint_every=max(1, min(steps, 2000)),
            **common,
            **extra,
        )

    code_dim = int(p["code_dim"])
    large_steps = int(p.get("large_code_steps") or p["image_steps"])
    for z in dict.fromkeys((int(p["large_code_dim"]), code_dim)):
        runs[f"image_z{z}"] = image_run(z, p["image_steps"] if z == code_dim else large_steps)
    deg = p["tchoice_degrees"]
    if deg:  # the T-choice experiment
        t_steps = int(p.get("tchoice_steps") or p["image_steps"])
        runs[f"image_z{code_dim}_rot{deg:g}"] = image_run(code_dim, t_steps, max_degrees=float(deg))
    return runs


def train_preset(params: Mapping[str, Any], out_dir: str | Path) -> dict[str, IVEGAN]:
    """Entry point of ``python -m latentkit.experiments train`` for the IVE-GAN presets: every run of
    :func:`chapter_runs` (from the chapter's resolved parameters) into ``out_dir/<run>``; safe under
    ``torchrun``. The training data of each dataset are loaded once."""
    torch.set_num_threads(int(params["threads"]))
    runs, datasets = {}, {}
    for name, cfg in chapter_runs(params).items():
        key = (cfg.dataset, cfg.n, cfg.size, cfg.crop, cfg.attribute)  # what load_training_data reads
        if key not in datasets:
            datasets[key] = load_training_data(cfg)
        runs[name] = fit(cfg, Path(out_dir) / name, dataset=datasets[key])
    return runs
