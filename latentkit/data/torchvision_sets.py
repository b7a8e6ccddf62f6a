"""The torchvision sets (MNIST, Fashion-MNIST, CIFAR-10, CelebA): where their files live, how to open them,
how one image is decoded to the uint8 ``(C, size, size)`` a cache stores, and the lazy
:class:`TorchvisionDataset` that decodes one image per item."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from latentkit.data.base import DatasetInfo, DatasetNotFoundError

if TYPE_CHECKING:
    from latentkit.data.cache import _CacheKey

_TV = {  # name -> (torchvision class, folder under root, files it needs there, how to get them)
    "mnist": (
        "MNIST",
        "MNIST/raw",
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        "the four uncompressed IDX files (gunzip the .gz files of http://yann.lecun.com/exdb/mnist/)",
    ),
    "fashion_mnist": (
        "FashionMNIST",
        "FashionMNIST/raw",
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        "the four uncompressed IDX files of https://github.com/zalandoresearch/fashion-mnist",
    ),
    "cifar10": (
        "CIFAR10",
        "cifar-10-batches-py",
        ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta"),
        "the extracted cifar-10-python.tar.gz of https://www.cs.toronto.edu/~kriz/cifar.html",
    ),
    "celeba": (
        "CelebA",
        "celeba",
        (
            "img_align_celeba",
            "list_attr_celeba.txt",
            "identity_CelebA.txt",
            "list_bbox_celeba.txt",
            "list_landmarks_align_celeba.txt",
            "list_eval_partition.txt",
        ),
        "the extracted img_align_celeba.zip and the five list files of "
        "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (download=True needs the gdown package)",
    ),
}
_NATIVE = {"mnist": (1, 28), "fashion_mnist": (1, 28), "cifar10": (3, 32), "celeba": (3, 64)}  # channels, default size


def default_root() -> Path:
    """``$LATENTKIT_DATA`` if set, else ``~/.cache/latentkit/data``."""
    return Path(os.environ.get("LATENTKIT_DATA") or Path.home() / ".cache" / "latentkit" / "data").expanduser()


def _not_found(
    name: str, root: Path, found: str, cache_file: Path | None = None, download_error: Exception | None = None
) -> DatasetNotFoundError:
    _, folder, files, how = _TV[name]
    tried = f"download=True failed ({download_error}). " if download_error is not None else ""
    cached = ""
    if cache_file is not None:
        others = sorted(p.name for p in cache_file.parent.glob(f"{name}-*.pt")) if cache_file.parent.is_dir() else []
        cached = (
            f" A decoded cache {cache_file} (written by the first load from those files; it can be copied "
            f"between machines) would do instead; caches of {name!r} there: {', '.join(others) or 'none'}."
        )
    return DatasetNotFoundError(
        f"{name!r} not found in {root / folder} ({found}). {tried}Get it with load({name!r}, download=True, "
        f"root={str(root)!r}) on a machine with internet access, or put {how} there: "
        f"{', '.join(files)}. The root defaults to $LATENTKIT_DATA or ~/.cache/latentkit/data.{cached}"
    )


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
        found = (
            f"missing: {', '.join(missing)}"
            if missing
            else "all files are there but torchvision rejected them (integrity/md5 check failed)"
        )
        raise _not_found(name, root, found, cache_file, err if download else None) from err


def _label_table(name: str, base: Any) -> dict[str, Any]:
    """All labels of a torchvision split in file order, as a cache stores them (CelebA: all 40 attributes
    as 0/1, their names; others: class ids and names), and each example's index in the full dataset."""
    if name == "celeba":
        stems = [Path(f).stem for f in base.filename]
        source = [int(s) - 1 for s in stems] if all(s.isdigit() for s in stems) else range(len(stems))
        return {
            "labels": None,
            "class_names": None,
            "attributes": base.attr.to(torch.uint8),
            "attribute_names": [a for a in base.attr_names if a],
            "source_index": torch.as_tensor(list(source), dtype=torch.int64),
        }
    return {
        "labels": torch.as_tensor(base.targets, dtype=torch.int64),
        "class_names": list(base.classes),
        "attributes": None,
        "attribute_names": None,
        "source_index": torch.arange(len(base)),
    }


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
    from torchvision.transforms.functional import center_crop

    with Image.open(path) as img:
        w, h = img.size
        if h < crop or w < crop:
            raise ValueError(f"crop {crop} is larger than the image ({h}x{w}): {path}")
        scale = 1.0
        d = next((d for d in (8, 4, 2) if crop / d >= size), 1)
        if d > 1 and img.format == "JPEG":
            drafted = img.draft("RGB", (w // d, h // d))
            if drafted is not None:
                scale = drafted[1][2] / w
        rgb = img.convert("RGB")
    if scale == 1.0 and size == crop:
        out = center_crop(rgb, [crop, crop])
    else:  # crop and resize in one step, from the drafted image: the centre square as torchvision places it
        left, top = int(round((w - crop) / 2)), int(round((h - crop) / 2))
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
        chunks = (
            _transform_uint8(_raw_images(base, key.name, i, i + 4096), size=key.size, channels=key.channels)
            for i in range(0, n, 4096)
        )
    elif workers > 0:  # batches collated in the worker processes
        chunks = torch.utils.data.DataLoader(_Decoded(base, key), batch_size=128, num_workers=workers)
    else:
        chunks = (_decode(base, key, j)[None] for j in range(n))
    for chunk in chunks:
        out[done : done + len(chunk)] = chunk.numpy()
        done += len(chunk)
        bar.update(len(chunk))
    bar.close()
    return images
