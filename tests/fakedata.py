"""Small fake torchvision dataset files for tests (no network), in the layout torchvision 0.29.1 reads.

    from fakedata import write_fake_torchvision, patched_md5, build_caches

    truth = write_fake_torchvision(root)          # MNIST, Fashion-MNIST, CIFAR-10, CelebA under root
    with patched_md5(root):                       # torchvision's md5 tables now expect the fake files
        ds = latentkit.data.load("cifar10", root=root)
    build_caches(root, [("celeba", "train", {"size": 64})])   # decoded caches: no torchvision needed later

CIFAR-10 and CelebA check md5 sums of their files. :func:`patched_md5` (or :func:`md5_patches` with
pytest's monkeypatch) sets the class attributes holding the expected sums (``CIFAR10.train_list``,
``.test_list``, ``.meta``, ``CelebA.file_list``) to the sums of the fake files, so torchvision's own
integrity check still runs, and passes, unchanged. Only the process that patches sees the fake sums:
a subprocess (a chapter run by papermill) must find decoded caches instead, which
:func:`build_caches` writes; :func:`latentkit.data.load` then never opens the torchvision files.

The sets are small but hold a few training batches of 64: MNIST-like 128 train / 64 test (labels
``i % 10``, pixel (0, 0) is 0 and (0, 1) is 255 in every image), CIFAR-10 128 / 64 (all ten classes in
both splits), CelebA 96 / 32 / 32 aligned 178x218 JPEGs with the real 40 attribute names.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import struct
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CELEBA_ATTRIBUTES",
    "CIFAR10_CLASSES",
    "build_caches",
    "md5_patches",
    "patched_md5",
    "write_fake_torchvision",
]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CELEBA_ATTRIBUTES = (  # the 40 columns of list_attr_celeba.txt, in the file's order
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
)
DATASETS = ("mnist", "fashion_mnist", "cifar10", "celeba")


# ----------------------------------------------------------------------------- writers
def _write_idx(path: Path, arr: np.ndarray) -> None:
    """IDX ("Pascal Vincent") file: magic 0x0000 08 ndim (uint8), big-endian sizes, raw bytes."""
    header = struct.pack(">I", 0x0800 | arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    path.write_bytes(header + arr.astype(np.uint8).tobytes())


def write_fake_mnist(
    root: Path, folder: str, n_train: int, n_test: int, rng: np.random.Generator
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``root/folder/raw`` IDX files; returns ``{split: (images (N, 28, 28) uint8, labels (N,))}``."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    out = {}
    for prefix, split, count in (("train", "train", n_train), ("t10k", "test", n_test)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        images[:, 0, 0], images[:, 0, 1] = 0, 255  # the full intensity range is present
        labels = (np.arange(count) % 10).astype(np.uint8)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        out[split] = (images, labels.astype(np.int64))
    return out


def write_fake_cifar10(
    root: Path, n_train: int, n_test: int, rng: np.random.Generator
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``root/cifar-10-batches-py`` (five train batches, a test batch, the meta file); returns
    ``{split: (images (N, 3, 32, 32) uint8 in file order, labels (N,))}``."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, count, files in (
        ("train", n_train, [f"data_batch_{i}" for i in range(1, 6)]),
        ("test", n_test, ["test_batch"]),
    ):
        images = rng.integers(0, 256, size=(count, 3, 32, 32), dtype=np.uint8)
        labels = rng.permutation(np.arange(count) % 10)  # every class present when count >= 10
        for name, part in zip(files, np.array_split(np.arange(count), len(files))):
            with open(folder / name, "wb") as f:
                pickle.dump(
                    {"data": images[part].reshape(len(part), -1), "labels": labels[part].tolist(), "batch_label": name},
                    f,
                )
        out[split] = (images, labels.astype(np.int64))
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list(CIFAR10_CLASSES), "num_cases_per_batch": max(1, n_train // 5)}, f)
    return out


def _face(i: int, tint: int, textured: bool, rng: np.random.Generator) -> np.ndarray:
    """One 218x178 "aligned face": black 20-row bands, a 178x178 centre square (green, blue 255, red
    ``tint``); ``textured`` adds smooth shapes and noise, so JPEG sizes and decoding costs are realistic."""
    img = np.zeros((218, 178, 3), dtype=np.uint8)
    img[20:198] = 255
    img[20:198, :, 0] = tint
    if textured:
        yy, xx = np.mgrid[0:218, 0:178].astype(np.float32)
        phase = rng.uniform(0, 2 * np.pi, size=3)
        waves = np.stack([np.sin(xx / (9 + 3 * c) + phase[c]) * np.cos(yy / (13 + 2 * c) + i) for c in range(3)], -1)
        ellipse = ((xx - 89) / 55) ** 2 + ((yy - 115) / 70) ** 2 < 1
        base = 90 + 60 * waves + 70 * ellipse[..., None] + rng.normal(0, 10, size=(218, 178, 3))
        img = np.clip(base, 0, 255).astype(np.uint8)
    return img


def write_fake_celeba(
    root: Path, counts: Sequence[int] = (96, 32, 32), rng: np.random.Generator | None = None, textured: bool = False
) -> dict[str, Any]:
    """``root/celeba``: ``img_align_celeba/*.jpg`` (178 wide, 218 high, as the real aligned images) and
    the five list files, ``counts`` images in the train / valid / test partitions (interleaved). Returns
    ``{"filenames", "partition" (N,), "attributes" (N, 40) 0/1, "attribute_names", "tint" (N,)}``."""
    from PIL import Image

    rng = np.random.default_rng(0) if rng is None else rng
    if len(counts) != 3 or min(counts) < 2:
        raise ValueError(f"counts must be 3 sizes >= 2 (torchvision fails on a 1-image split), got {counts}")
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    partition = np.concatenate([np.full(c, p) for p, c in enumerate(counts)])
    partition = partition[rng.permutation(len(partition))]
    n = len(partition)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    tint = (255 - (np.arange(n) * 37) % 200).astype(np.int64)  # tells the images apart (red channel)
    for i, name in enumerate(names):
        Image.fromarray(_face(i, int(tint[i]), textured, rng)).save(folder / "img_align_celeba" / name, quality=95)
    attributes = rng.integers(0, 2, size=(n, len(CELEBA_ATTRIBUTES)))
    attributes[: 2 * len(counts)] = np.arange(2 * len(counts))[:, None] % 2  # both values in every column
    lines = {
        "list_eval_partition.txt": [f"{f} {p}" for f, p in zip(names, partition)],
        "identity_CelebA.txt": [f"{f} {i + 1}" for i, f in enumerate(names)],
        "list_bbox_celeba.txt": [str(n), "image_id x_1 y_1 width height"] + [f"{f} 1 2 3 4" for f in names],
        "list_landmarks_align_celeba.txt": [str(n), " ".join(f"p{k}" for k in range(10))]
        + [f"{f} " + " ".join(["5"] * 10) for f in names],
        "list_attr_celeba.txt": [str(n), " ".join(CELEBA_ATTRIBUTES) + " "]  # the real file's trailing space
        + [f"{f} " + " ".join(f"{2 * a - 1:2d}" for a in row) for f, row in zip(names, attributes)],
    }
    for fname, rows in lines.items():
        (folder / fname).write_text("\n".join(rows) + "\n")
    return {
        "filenames": names,
        "partition": partition,
        "attributes": attributes,
        "attribute_names": CELEBA_ATTRIBUTES,
        "tint": tint,
    }


def write_fake_torchvision(
    root: Path,
    n_train: int = 128,
    n_test: int = 64,
    *,
    celeba: Sequence[int] = (96, 32, 32),
    names: Iterable[str] = DATASETS,
    seed: int = 0,
) -> dict[str, Any]:
    """Write fake files of ``names`` (default all four torchvision sets) under ``root``.

    MNIST / Fashion-MNIST / CIFAR-10 get ``n_train`` / ``n_test`` images, CelebA ``celeba`` =
    (train, valid, test) images. Returns the truth per set: ``{name: {split: (images, labels)}}`` for the
    first three (images uint8, MNIST ``(N, 28, 28)``, CIFAR ``(N, 3, 32, 32)``, in file order) and
    :func:`write_fake_celeba`'s dictionary for ``celeba``.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    truth: dict[str, Any] = {}
    for name in names:
        if name in ("mnist", "fashion_mnist"):
            truth[name] = write_fake_mnist(root, "MNIST" if name == "mnist" else "FashionMNIST", n_train, n_test, rng)
        elif name == "cifar10":
            truth[name] = write_fake_cifar10(root, n_train, n_test, rng)
        elif name == "celeba":
            truth[name] = write_fake_celeba(root, celeba, rng)
        else:
            raise ValueError(f"unknown fake dataset {name!r}; valid: {', '.join(DATASETS)}")
    return truth


# ----------------------------------------------------------------------------- md5 tables
def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def md5_patches(root: Path) -> list[tuple[Any, str, Any]]:
    """``(object, attribute, value)`` triples pointing torchvision's expected md5 sums at the fake files
    under ``root`` (for ``monkeypatch.setattr(*triple)``); sets whose files are absent are left alone."""
    import torchvision.datasets as tvd

    root = Path(root)
    out: list[tuple[Any, str, Any]] = []
    cifar = root / "cifar-10-batches-py"
    if (cifar / "batches.meta").is_file():
        batches = [[f"data_batch_{i}", _md5(cifar / f"data_batch_{i}")] for i in range(1, 6)]
        out += [
            (tvd.CIFAR10, "train_list", batches),
            (tvd.CIFAR10, "test_list", [["test_batch", _md5(cifar / "test_batch")]]),
            (tvd.CIFAR10, "meta", {**tvd.CIFAR10.meta, "md5": _md5(cifar / "batches.meta")}),
        ]
    if (root / "celeba" / "list_eval_partition.txt").is_file():
        out.append(
            (
                tvd.CelebA,
                "file_list",
                [
                    (fid, md5 if f.endswith(".zip") else _md5(root / "celeba" / f), f)
                    for fid, md5, f in tvd.CelebA.file_list
                ],
            )
        )
    return out


@contextlib.contextmanager
def patched_md5(root: Path) -> Iterator[None]:
    """Within the block, torchvision's md5 tables expect the fake files under ``root`` (restored after)."""
    patches = md5_patches(root)
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in patches]
    try:
        for obj, attr, value in patches:
            setattr(obj, attr, value)
        yield
    finally:
        for obj, attr, value in reversed(saved):
            setattr(obj, attr, value)


def build_caches(root: Path, specs: Iterable[tuple[str, str] | tuple[str, str, dict[str, Any]]]) -> list[Path]:
    """Decode ``(name, split[, options])`` specs into :func:`latentkit.data.build_cache` caches under
    ``root`` (md5 sums patched meanwhile); ``options`` are load's ``size``, ``channels``, ``crop``.
    A subprocess with ``LATENTKIT_DATA=root`` then loads these sets from the caches alone."""
    from latentkit import data

    paths = []
    with patched_md5(root):
        for spec in specs:
            name, split, *rest = spec
            paths.append(data.build_cache(name, split, root=root, **(rest[0] if rest else {})))
    return paths
