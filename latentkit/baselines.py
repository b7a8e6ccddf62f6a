"""A plain autoencoder: the baseline every learned code in this book is compared with.

An MLP encoder maps an image to a ``code_dim``-dimensional code and an MLP decoder maps the code back;
both are trained on the mean squared reconstruction error. It is also the tiny model with which the
getting-started chapter tours the training engine (progress, checkpoints, resume, metrics).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from latentkit import data, engine

__all__ = [
    "Autoencoder",
    "AutoencoderConfig",
    "reconstruction_loss",
    "fit_autoencoder",
    "encode_dataset",
    "train_preset",
]


@dataclass(frozen=True)
class AutoencoderConfig:
    """Training configuration of :class:`Autoencoder` (defaults: the getting-started chapter)."""

    dataset: str = "digits"  # any image set of latentkit.data.load
    size: int | None = None  # resize images to size x size (None: native)
    code_dim: int = 2  # dimension of the code
    hidden: int = 128  # width of the hidden layers
    steps: int = 600  # optimisation steps
    batch_size: int = 128
    lr: float = 1e-3  # Adam learning rate
    seed: int = 0
    device: str = "auto"
    ema_decay: float | None = None  # EMA of the weights (None: off)
    checkpoint_every: int = 100
    log_every: int = 20
    mixed_precision: bool = False  # bf16 autocast on CUDA
    compile: bool = False  # torch.compile the networks on CUDA (ignored elsewhere)
    progress: bool = True


class Autoencoder(nn.Module):
    """MLP autoencoder for images of shape ``in_shape`` with outputs in [0, 1].

    Arguments:
        in_shape: ``(C, H, W)`` of one image.
        code_dim: dimension of the code.
        hidden: width of the two hidden layers of encoder and decoder.

    Example:
        >>> ae = Autoencoder((1, 8, 8), code_dim=2)
        >>> ae.encode(torch.zeros(5, 1, 8, 8)).shape
        torch.Size([5, 2])
    """

    def __init__(self, in_shape: tuple[int, ...], code_dim: int = 2, hidden: int = 128) -> None:
        super().__init__()
        if code_dim < 1 or hidden < 1:
            raise ValueError(f"code_dim and hidden must be positive, got {code_dim}, {hidden}")
        self.in_shape = tuple(in_shape)
        d = math.prod(self.in_shape)
        self.encoder = nn.Sequential(
            nn.Flatten(),
            nn.Linear(d, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, code_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(code_dim, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, d),
            nn.Sigmoid(),
        )

    def _check(self, x: Tensor) -> None:
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"Autoencoder built for images of shape {self.in_shape}, got {tuple(x.shape[1:])}")

    def encode(self, x: Tensor) -> Tensor:
        self._check(x)
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z).view(-1, *self.in_shape)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))


def reconstruction_loss(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
    """Mean squared reconstruction error per pixel of a batch ``(x, y)``."""
    x, _ = batch
    return (model(x) - x).square().mean()


def _dataset(config: AutoencoderConfig, split: str) -> data.ArrayDataset:
    return data.load(config.dataset, split, size=config.size, value_range=(0.0, 1.0), seed=config.seed)


def fit_autoencoder(config: AutoencoderConfig, out_dir: str | Path | None = None) -> tuple[Autoencoder, engine.Trainer]:
    """Train (or resume, or reload a finished run of) an autoencoder with the engine.

    Returns the model (the EMA weights when ``ema_decay`` is set) and the trainer, whose ``history``
    holds the logged losses of this call.
    """
    engine.seed_everything(config.seed)
    train = _dataset(config, "train")
    model = Autoencoder(tuple(train.x.shape[1:]), config.code_dim, config.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    train_config = engine.TrainConfig.of(config, desc="autoencoder")
    trainer = engine.Trainer(out_dir, {"model": model}, {"model": optimizer}, train_config)
    sample = data.batch_sampler(train, config.batch_size, trainer.device)

    def step(tr: engine.Trainer, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        with tr.autocast():
            loss = reconstruction_loss(tr.module("model"), batch)
        tr.backward_step(loss, "model")
        return {"loss": loss.detach()}

    trainer.fit(step, sample)
    return trainer.ema_module("model"), trainer


@torch.no_grad()
def encode_dataset(model: Autoencoder, dataset: data.ArrayDataset, batch_size: int = 512) -> Tensor:
    """Codes of every example of an in-memory dataset (on the CPU)."""
    model.eval()
    device = next(model.parameters()).device
    codes = [model.encode(dataset.x[i : i + batch_size].to(device)).cpu() for i in range(0, len(dataset), batch_size)]
    return torch.cat(codes)


def config_from_parameters(params: Mapping[str, Any]) -> AutoencoderConfig:
    """The getting-started chapter's autoencoder config from its (resolved) parameters
    (:func:`latentkit.engine.from_params`)."""
    return engine.from_params(AutoencoderConfig, params)


def train_preset(params: Mapping[str, Any], out_dir: str | Path) -> None:
    """Entry point of ``python -m latentkit.experiments train`` (the chapter's resolved parameters)."""
    fit_autoencoder(config_from_parameters(params), out_dir)
