"""The decoded uint8 caches of the torchvision sets: the cache file (a ``torch.save`` payload beside a JSON
sidecar, written atomically, rebuilt when its sources change, built by one process under a lock while the
others wait), and :class:`CachedImageDataset`, the uint8 images read from it (see :mod:`latentkit.data`)."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import secrets
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from latentkit.data.base import DatasetCacheError, DatasetInfo
from latentkit.data.torchvision_sets import (
    _NATIVE,
    _TV,
    _decode_all,
    _label_table,
    _missing_files,
    _open_torchvision,
    _uint8_to_float,
)

_CACHE_DIR = "latentkit-cache"  # under the data root
_CACHE_FORMAT = "latentkit decoded image cache"
_CACHE_VERSION = 1  # bump when decoding changes: older caches are then rebuilt (or refused without sources)


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


class CachedImageDataset(torch.utils.data.Dataset):
    """Decoded images kept as uint8: example ``i`` is ``images[indices[i]]``, converted on access to
    float32 in ``info.value_range`` (bit for bit what the lazy :class:`TorchvisionDataset` returns).

    ``images`` ``(M, C, H, W)`` uint8 is all of a split, memory-mapped from the cache file ``path``
    (``None`` when the cache could not be saved), so a subset or several processes share one copy;
    ``indices`` (int64) are the kept positions in the split, ``y`` their int64 labels or ``None``.
    :func:`batch_sampler` gathers a batch as uint8, moves it to the device and converts it there;
    ``ArrayDataset.from_dataset`` materialises float32 ``.x`` (4x the bytes of the uint8 storage).
    """

    def __init__(
        self, images: Tensor, indices: Tensor, y: Tensor | None, info: DatasetInfo, path: Path | None = None
    ) -> None:
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
        return (
            f"CachedImageDataset({info.name!r}, split={info.split!r}, n={len(self)}, shape={info.shape}, "
            f"path={None if self.path is None else str(self.path)!r})"
        )


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
        meta.update(
            file=path.name,
            bytes=tmp[0].stat().st_size,
            count=len(images),
            image_shape=list(images.shape[1:]),
            dtype="uint8",
            created=datetime.now().astimezone().isoformat(timespec="seconds"),
        )
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
    fix = f"delete it (and {path.with_suffix('.json').name}); the next load rebuilds it from the torchvision files"
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # truncated zip, bad pickle, unreadable file ...
        raise DatasetCacheError(
            f"dataset cache {path} is corrupt or unreadable ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:200] if str(err) else ''}); {fix}"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != _CACHE_FORMAT:
        raise DatasetCacheError(f"{path} is not a latentkit dataset cache; {fix}")
    if payload.get("version") != _CACHE_VERSION:
        return payload, f"written by cache format version {payload.get('version')}, this is {_CACHE_VERSION}"
    images, expected = payload.get("images"), dataclasses.asdict(key)
    if payload.get("key") != expected:
        raise DatasetCacheError(f"{path} holds {payload.get('key')}, not {expected}; {fix}")
    table = ("labels", "attributes", "source_index")
    if (
        not isinstance(images, Tensor)
        or images.dtype != torch.uint8
        or tuple(images.shape[1:]) != (key.channels, key.size, key.size)
        or any(payload.get(k) is not None and len(payload[k]) != len(images) for k in table)
    ):
        raise DatasetCacheError(f"{path} has inconsistent contents; {fix}")
    return payload, None


def _stale_sources(payload: dict[str, Any], root: Path) -> str | None:
    """Why the torchvision files now present differ from those the cache was built from (by size)."""
    recorded = payload.get("sources") or {}
    for f, now in _source_stats(payload["key"]["name"], root).items():
        if f in recorded and recorded[f]["size"] != now["size"]:
            return f"{f} is now {now['size']} bytes, the cache was built from {recorded[f]['size']}"
    return None


def _cached_payload(
    key: _CacheKey, root: Path, download: bool, workers: int | None = None
) -> tuple[dict[str, Any], Path | None]:
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
            raise DatasetCacheError(
                f"dataset cache {path} is stale ({stale}) and the torchvision files to "
                f"rebuild it are not all in {root / _TV[key.name][1]}; delete the cache or "
                f"put the files there"
            )
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


def _build_payload(
    key: _CacheKey, root: Path, download: bool, workers: int | None, path: Path
) -> tuple[dict[str, Any], Path | None]:
    base = _open_torchvision(key.name, key.split, root, download, path)
    payload = {
        "format": _CACHE_FORMAT,
        "version": _CACHE_VERSION,
        "key": dataclasses.asdict(key),
        **_label_table(key.name, base),
        "sources": _source_stats(key.name, root),
    }
    payload["images"] = _decode_all(base, key, workers)
    try:
        _write_cache(path, payload)
    except OSError as err:
        warnings.warn(
            f"could not write the dataset cache {path} ({err}); using the decoded images without saving them",
            stacklevel=3,
        )
        return payload, None
    return payload, path
