"""The one entry point, :func:`load` (and :func:`build_cache`, :func:`check_available`): its arguments checked,
then handed to the point sets, the in-memory image sets or the torchvision sets (see :mod:`latentkit.data`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from latentkit.data.arrays import _small_images
from latentkit.data.base import DATASETS, POINT_SETS, DatasetInfo, _choices, _derive_seed, _select_classes, _take_n
from latentkit.data.cache import CachedImageDataset, _cache_key, _cached_payload, _CacheKey
from latentkit.data.points import _OPTIONS as _POINT_OPTIONS
from latentkit.data.points import _points
from latentkit.data.torchvision_sets import (
    _TV,
    TorchvisionDataset,
    _label_table,
    _missing_files,
    _not_found,
    _open_torchvision,
    default_root,
)


def _select(
    key: _CacheKey,
    table: dict[str, Any],
    n: int | None,
    classes: Sequence[int] | None,
    seed: int,
    attribute: str | None,
) -> tuple[Tensor, Tensor | None, tuple[int, ...] | None, tuple[str, ...] | None]:
    """Positions kept in the split, their (relabelled) labels, the kept class ids and names."""
    name = key.name
    class_names: tuple[str, ...] | None
    if name == "celeba":
        names = list(table["attribute_names"])
        if attribute is None:
            if classes is not None:
                raise ValueError(
                    "'celeba' is unlabelled unless attribute= names one of its 40 attributes; classes needs attribute"
                )
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


def _torchvision(
    key: _CacheKey,
    root: Path,
    download: bool,
    cache: bool,
    n: int | None,
    classes: Sequence[int] | None,
    seed: int,
    value_range: tuple[float, float],
    attribute: str | None,
) -> CachedImageDataset | TorchvisionDataset:
    if cache:
        table, path = _cached_payload(key, root, download)
    else:
        base = _open_torchvision(key.name, key.split, root, download)
        table = _label_table(key.name, base)
    idx, y, kept, class_names = _select(key, table, n, classes, seed, attribute)
    info = DatasetInfo(
        key.name,
        key.split,
        (key.channels, key.size, key.size),
        value_range,
        None if kept is None else len(kept),
        kept,
        class_names,
    )
    if cache:
        return CachedImageDataset(table["images"], idx, y, info, path)
    return TorchvisionDataset(base, idx, y, info, key)


_OPTIONS: dict[str, dict[str, Any]] = {  # per-dataset options and their defaults
    **_POINT_OPTIONS,
    "celeba": {"crop": 178, "attribute": None},
}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_arguments(
    name: str,
    split: str,
    n: int | None,
    size: int | None,
    channels: int | None,
    value_range: tuple[float, float],
    seed: int,
    cache: bool,
    options: dict[str, Any],
    download: bool = False,
) -> tuple[dict[str, Any], tuple[float, float] | None]:
    """Validate :func:`load`'s arguments; returns the dataset's options (defaults filled in) and the
    value range as floats (``None`` for point sets)."""
    _choices("dataset", name, DATASETS)
    _choices(f"split for {name!r}", split, ("train", "valid", "test") if name == "celeba" else ("train", "test"))
    valid_opts = _OPTIONS.get(name, {})
    for key in options:
        if key not in valid_opts:
            raise ValueError(f"unknown option {key!r} for {name!r}; valid options: {', '.join(valid_opts) or 'none'}")
    if n is not None and (not _is_int(n) or n < 1):
        raise ValueError(f"n must be a positive int or None, got {n!r}")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    for what, flag in (("cache", cache), ("download", download)):
        if not isinstance(flag, bool):
            raise ValueError(f"{what} must be True or False, got {flag!r}")
    try:
        lo, hi = (float(v) for v in value_range) if len(value_range) == 2 else (math.nan, math.nan)
    except (TypeError, ValueError):
        lo = hi = math.nan
    opts = {**valid_opts, **options}
    if name in POINT_SETS:
        for what, v in (("size", size), ("channels", channels)):
            if v is not None:
                raise ValueError(f"{what}={v!r} applies to image datasets; {name!r} is a 2-D point set")
        if (lo, hi) != (0.0, 1.0):
            raise ValueError(f"value_range={value_range!r} applies to image datasets; {name!r} is a point set")
        return opts, None
    if size is not None and (not _is_int(size) or size < 1):
        raise ValueError(f"size must be a positive int or None, got {size!r}")
    if channels is not None and (not _is_int(channels) or channels not in (1, 3)):
        raise ValueError(f"channels must be 1 or 3 (None keeps the dataset's own), got {channels!r}")
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"value_range must be finite (lo, hi) with lo < hi, got {value_range!r}")
    if name in _TV:
        _cache_key(name, split, size, channels, opts)  # validates crop
    return opts, (lo, hi)


def _data_root(root: str | Path | None) -> Path:
    return default_root() if root is None else Path(root).expanduser()


def load(
    name: str,
    split: str = "train",
    *,
    root: str | Path | None = None,
    download: bool = False,
    n: int | None = None,
    size: int | None = None,
    channels: int | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    classes: Sequence[int] | None = None,
    seed: int = 0,
    cache: bool = True,
    **options: Any,
) -> torch.utils.data.Dataset:
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
    opts, vrange = _check_arguments(name, split, n, size, channels, value_range, seed, cache, options, download)
    if name in POINT_SETS:
        return _points(name, split, n, classes, seed, opts)
    assert vrange is not None
    if name in ("digits", "mnist5k"):
        return _small_images(name, split, n, classes, seed, {"size": size, "channels": channels, "value_range": vrange})
    key = _cache_key(name, split, size, channels, opts)
    return _torchvision(key, _data_root(root), download, cache, n, classes, seed, vrange, opts.get("attribute"))


def build_cache(
    name: str,
    split: str = "train",
    *,
    root: str | Path | None = None,
    download: bool = False,
    size: int | None = None,
    channels: int | None = None,
    workers: int | None = None,
    **options: Any,
) -> Path:
    """Decode torchvision set ``name`` / ``split`` once into its uint8 cache under ``root`` and return
    the cache file (a current cache is reused as is). ``size``, ``channels`` and ``crop=`` (CelebA) are
    as in :func:`load`, whose first call with ``cache=True`` does the same; :func:`load`'s selection
    keywords (``n``, ``classes``, ``seed``, ``value_range``, ``attribute``, ``cache``) are accepted and
    ignored, since a cache holds the whole split. ``workers``: decoding processes for CelebA (default:
    up to 8 for large splits, none for small ones). Raises :class:`DatasetNotFoundError` like
    :func:`load`, and ``OSError`` when the file cannot be written.
    """
    if name not in _TV:
        raise ValueError(
            f"unknown dataset {name!r} for build_cache (name): only the torchvision sets are cached; "
            f"valid: {', '.join(map(repr, _TV))}"
        )
    if workers is not None and (not _is_int(workers) or workers < 0):
        raise ValueError(f"workers must be a non-negative int or None, got {workers!r}")
    selection = {k: options.pop(k) for k in ("n", "classes", "seed", "value_range", "cache") if k in options}
    options.pop("attribute", None)  # every attribute is cached
    opts, _ = _check_arguments(
        name,
        split,
        selection.get("n"),
        size,
        channels,
        selection.get("value_range", (0.0, 1.0)),
        selection.get("seed", 0),
        True,
        options,
        download,
    )
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
        >>> from latentkit.data import DatasetNotFoundError
        >>> check_available("ring8", n=100)  # in memory: always there
        >>> try:
        ...     check_available("cifar10", root="/nonexistent", size=32)
        ... except DatasetNotFoundError as err:
        ...     print(str(err).split(",")[0])
        'cifar10' not found in /nonexistent/cifar-10-batches-py (missing: data_batch_1
    """
    kw = {k: options.pop(k) for k in _LOAD_KEYWORDS if k in options}
    size, channels, cache = kw.get("size"), kw.get("channels"), kw.get("cache", True)
    opts, _ = _check_arguments(
        name,
        split,
        kw.get("n"),
        size,
        channels,
        kw.get("value_range", (0.0, 1.0)),
        kw.get("seed", 0),
        cache,
        options,
        kw.get("download", False),
    )
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
