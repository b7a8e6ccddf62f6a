"""Training NFs and NIFs on the engine: the config, the data splits, ``fit`` and the preset entry points.

The NF baseline and the NIF share the flow architecture, the seed (so the same initial flow weights)
and the batches -- the paper's protocol ("initializing and training the models with the batches of data
by sharing random keys"); only the prior on the flow's output differs (see :mod:`latentkit.nif.models`).
The loss is the negative log-likelihood in bits/dim of uniformly dequantised ``n_bits`` data; the NF and
NIF values are exact, the deep NIF's is the bound of eq. 9.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from latentkit import data, engine
from latentkit.metrics import bits_per_dim
from latentkit.nif.models import MODEL_KINDS, FlowModel, build_model, dequantize

__all__ = [
    "NIFConfig",
    "PAPER",
    "config_from_parameters",
    "paper_grad_clip",
    "fit",
    "load_splits",
    "make_model",
    "train_nf_preset",
    "train_preset",
]


@dataclass(frozen=True)
class NIFConfig:
    """An NF / NIF experiment (defaults: the chapter's CPU scale; :data:`PAPER` holds the paper's values)."""

    dataset: str = "mnist5k"  # any image set of latentkit.data.load
    size: int | None = 16  # resize to size x size (None or 0: native); divisible by 2 ** levels
    channels: int | None = None  # 1 or 3 (None: the dataset's own)
    attribute: str = ""  # CelebA only: the attribute used as class label (e.g. "Male")
    crop: int = 0  # CelebA only: side of the centre crop before resizing (0: the loader's 178)
    n_bits: int = 3  # bits per pixel (the reference code's evaluation: 3; its training default: 5)
    n_train: int | None = None  # training images (None: all but the validation split)
    n_valid: int = 500  # images held out of the train split to choose s
    levels: int = 2  # multiscale depth (reference code: 2 Fashion-MNIST, 4 CIFAR-10, 5 CelebA)
    flow_steps: int = 4  # Glow steps per level (paper: 16)
    hidden: int = 32  # channels of the coupling networks (paper: 256)
    clamp: float = 2.0  # bound of the couplings' log-scale
    dim_z: int = 16  # NIF latent dimension (paper: 64, 128, 256, 512)
    deep_couplings: int = 4  # deep NIF: couplings of the low-dimensional flow (paper: 10)
    deep_hidden: int = 128  # deep NIF: units of their MLPs (paper: 1024)
    deep_layers: int = 2  # deep NIF: hidden layers of the MLPs (paper: 4)
    float64_nif: bool = False  # run the NIF's Cholesky algebra in float64
    steps: int = 500  # optimisation steps per model
    batch_size: int = 64  # reference code: 32
    lr: float = 2e-3  # Adam learning rate (reference code: 1e-4)
    warmup: int = 50  # steps of linear learning-rate warm-up
    grad_clip: float | None = 50.0  # max global gradient norm (None or 0: off)
    seed: int = 0  # same seed for every model: same initial flow, same batches
    device: str = "auto"
    mixed_precision: bool = False  # bf16 autocast on CUDA (the Cholesky algebra stays float32/64)
    compile: bool = False  # torch.compile the networks on CUDA (ignored elsewhere)
    checkpoint_every: int = 500
    log_every: int = 25
    progress: bool = True

    def __post_init__(self) -> None:
        # chapter parameters are plain ints / floats: 0 means "native size" and "no clipping"
        if self.size == 0:
            object.__setattr__(self, "size", None)
        if self.grad_clip is not None and self.grad_clip <= 0:
            object.__setattr__(self, "grad_clip", None)
        if self.n_bits < 1 or self.n_bits > 8:
            raise ValueError(f"n_bits must be in 1..8, got {self.n_bits}")
        if self.dim_z < 1 or self.levels < 1 or self.flow_steps < 1:
            raise ValueError(
                f"dim_z, levels and flow_steps must be >= 1, got {self.dim_z}, {self.levels}, {self.flow_steps}"
            )


def paper_grad_clip(dims: int) -> float:
    """The reference code's gradient clip on our loss: it clips the global norm of the gradient of the mean
    negative log-likelihood in nats per image at 5.0 (``optimizer.py``); our loss is bits per dimension,
    ``dims * ln 2`` times smaller, so the same clip is ``5 / (dims ln 2)``."""
    return round(5.0 / (dims * math.log(2)), 8)


_PAPER_COMMON = dict(flow_steps=16, hidden=256, dim_z=64, steps=100_000, batch_size=32, lr=1e-4, warmup=0, n_valid=5000)
#: The paper-scale configurations. Section 5 states Glow with 16 steps per level, 256 channels and "5
#: multiscale components"; the authors' code (Information-Fusion-Lab-Umass/NoisyInjectiveFlows) gives the
#: rest: depth 2 / 4 / 5 per dataset (``experiment_definitions/*.yaml``), batch 32 and Adam 1e-4 with no
#: warm-up (``adam.yaml``), gradients clipped at norm 5 (:func:`paper_grad_clip`), CelebA at 64x64. The step
#: count is ours (the code trains until stopped), and so is the CelebA crop (see the nif presets).
PAPER: dict[str, NIFConfig] = {
    "fashion_mnist": NIFConfig(
        dataset="fashion_mnist", size=None, levels=2, grad_clip=paper_grad_clip(784), **_PAPER_COMMON
    ),
    "cifar10": NIFConfig(dataset="cifar10", size=None, levels=4, grad_clip=paper_grad_clip(3072), **_PAPER_COMMON),
    "celeba": NIFConfig(
        dataset="celeba",
        size=64,
        crop=128,
        attribute="Male",
        levels=5,
        grad_clip=paper_grad_clip(3 * 64 * 64),
        **_PAPER_COMMON,
    ),
}


def load_splits(config: NIFConfig, n_test: int | None = None) -> dict[str, torch.utils.data.Dataset]:
    """``{"train", "valid", "test"}``: the train split minus its first ``n_valid`` images, those ``n_valid``
    images, and ``n_test`` test images (in-memory sets come shuffled by :func:`latentkit.data.load`,
    torchvision sets in file order).

    In-memory sets stay :class:`~latentkit.data.ArrayDataset` s; lazy sets are subsets (valid and test are
    materialised, so keep ``n_valid`` and ``n_test`` moderate).
    """
    kw: dict[str, Any] = dict(size=config.size, channels=config.channels, seed=config.seed)
    if config.dataset == "celeba" and config.attribute:
        kw["attribute"] = config.attribute
    if config.crop:  # celeba's option: data.load refuses it for other sets
        kw["crop"] = config.crop
    full = data.load(config.dataset, "train", **kw)
    test = data.load(config.dataset, "test", n=n_test, **kw)
    n = len(full)
    if not 0 < config.n_valid < n:
        raise ValueError(f"n_valid must be in 1..{n - 1} for {config.dataset!r}, got {config.n_valid}")
    end = n if config.n_train is None else min(n, config.n_valid + config.n_train)
    if isinstance(full, data.ArrayDataset):
        train = data.ArrayDataset(full.x[config.n_valid : end], full.y[config.n_valid : end], full.info)
        valid = data.ArrayDataset(full.x[: config.n_valid], full.y[: config.n_valid], full.info)
    else:
        train = torch.utils.data.Subset(full, range(config.n_valid, end))
        valid = data.ArrayDataset.from_dataset(torch.utils.data.Subset(full, range(config.n_valid)))
        test = data.ArrayDataset.from_dataset(test)
    return {"train": train, "valid": valid, "test": test}


def _image_shape(dataset: torch.utils.data.Dataset) -> tuple[int, int, int]:
    x, _ = dataset[0]
    return tuple(x.shape)  # type: ignore[return-value]


def make_model(config: NIFConfig, kind: str, image_shape: tuple[int, int, int]) -> FlowModel:
    """The model of ``kind`` (``"nf"``, ``"nif"``, ``"deep_nif"``) for ``config``, seeded with ``config.seed``."""
    torch.manual_seed(config.seed)  # the same initial flow weights for every kind
    return build_model(
        kind,
        image_shape,
        levels=config.levels,
        steps=config.flow_steps,
        hidden=config.hidden,
        clamp=config.clamp,
        dim_z=config.dim_z,
        n_bits=config.n_bits,
        deep_couplings=config.deep_couplings,
        deep_hidden=config.deep_hidden,
        deep_layers=config.deep_layers,
        compute_dtype=torch.float64 if config.float64_nif else None,
    )


def fit(
    config: NIFConfig, kind: str, out_dir: str | Path | None = None, train_set: torch.utils.data.Dataset | None = None
) -> tuple[FlowModel, engine.Trainer]:
    """Train (or resume, or reload a finished run of) one model of ``kind`` on the engine.

    Actnorm's data-dependent initialisation uses a batch drawn with a generator seeded by ``config.seed``
    (the same batch on every rank under ``torchrun``; the statistics are also averaged over ranks); its
    ``initialized`` buffers are saved with the weights, so a resumed run does not re-initialise.

    Returns the model (eval mode) and the trainer (``history``: logged ``loss`` = bits/dim).
    """
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; valid kinds: {', '.join(MODEL_KINDS)}")
    train_set = train_set if train_set is not None else load_splits(config)["train"]
    model = make_model(config, kind, _image_shape(train_set))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = engine.warmup_schedule(optimizer, config.warmup)
    train_config = engine.TrainConfig.of(config, desc=kind)
    trainer = engine.Trainer(
        out_dir, {"model": model}, {"model": optimizer}, train_config, schedulers={"model": scheduler}
    )
    device = trainer.device
    init_gen = torch.Generator().manual_seed(config.seed)
    x0, _ = data.batch_sampler(train_set, max(config.batch_size, 64), "cpu")(init_gen)
    model.initialize(dequantize(x0, config.n_bits, init_gen).to(device))
    sample = data.batch_sampler(train_set, config.batch_size, device)
    dims = math.prod(model.image_shape)

    def step(tr: engine.Trainer, batch: tuple[Tensor, Tensor]) -> dict[str, Any]:
        x = dequantize(batch[0], config.n_bits)
        with tr.autocast():
            loss = bits_per_dim(tr.module("model")(x), dims, config.n_bits).mean()
        grad_norm = tr.backward_step(loss, "model")
        return {"loss": loss.detach(), "grad_norm": grad_norm}

    trainer.fit(step, sample)
    return trainer.raw("model").eval(), trainer


def config_from_parameters(params: Mapping[str, Any]) -> NIFConfig:
    """The chapter's NF / NIF config from its (resolved) parameters: every name that is a
    :class:`NIFConfig` field (:func:`latentkit.engine.from_params`)."""
    return engine.from_params(NIFConfig, params)


def train_preset(params: Mapping[str, Any], out_dir: str | Path) -> None:
    """``python -m latentkit.experiments train`` for the NIF presets: the NF baseline (unless ``nf_dir``
    names a finished one), the NIF and, with ``deep=True``, the deep NIF, into ``out_dir/<kind>``."""
    config = config_from_parameters(params)
    splits = load_splits(config, n_test=1)
    kinds = ([] if params.get("nf_dir") else ["nf"]) + ["nif"] + (["deep_nif"] if params.get("deep") else [])
    for kind in kinds:
        fit(config, kind, Path(out_dir) / kind, splits["train"])


def train_nf_preset(params: Mapping[str, Any], out_dir: str | Path) -> None:
    """``train`` for the Glow baseline presets: the NF alone, into ``out_dir/nf``."""
    config = config_from_parameters(params)
    fit(config, "nf", Path(out_dir) / "nf", load_splits(config, n_test=1)["train"])
