"""latentkit.data: every dataset behind one loader.

The torchvision sets are tested without network against small fake files written to tmp_path in the
layout torchvision 0.29.1 reads. CIFAR-10 and CelebA check md5 sums of their files: the tests set the
class attributes holding the expected sums (`CIFAR10.train_list`, `.test_list`, `.meta`,
`CelebA.file_list`) to the sums of the fake files with monkeypatch, so torchvision's own integrity
check still runs (and passes) unchanged.
"""

from __future__ import annotations

import hashlib
import math
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from latentkit import data as D
from latentkit.data import ArrayDataset, DatasetNotFoundError, GaussianMixture, batch_sampler, load

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- fake torchvision files
def _write_idx(path: Path, arr: np.ndarray) -> None:
    """IDX ("Pascal Vincent") file: magic 0x0000 08 ndim (uint8), big-endian sizes, raw bytes."""
    header = struct.pack(">I", 0x0800 | arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    path.write_bytes(header + arr.astype(np.uint8).tobytes())


def _fake_mnist(root: Path, folder: str, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    out = {}
    for prefix, count in (("train", 40), ("t10k", 20)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        images[:, 0, 0], images[:, 0, 1] = 0, 255  # the full intensity range is present
        labels = (np.arange(count) % 10).astype(np.uint8)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        out["train" if prefix == "train" else "test"] = (images, labels)
    return out


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _fake_cifar(root: Path, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    out: dict[str, list] = {"train": [[], []], "test": [[], []]}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, size=(10, 3, 32, 32), dtype=np.uint8)
        labels = list(rng.permutation(10))
        with open(folder / name, "wb") as f:
            pickle.dump({"data": images.reshape(10, -1), "labels": labels, "batch_label": name}, f)
        split = "test" if name == "test_batch" else "train"
        out[split][0].append(images)
        out[split][1].extend(labels)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names, "num_cases_per_batch": 10}, f)
    return {s: (np.concatenate(v[0]), np.array(v[1])) for s, v in out.items()}


_CELEBA_PARTITION = [0, 0, 0, 0, 1, 1, 2, 2]  # 4 train, 2 valid, 2 test (torchvision fails on a 1-image split)
_CELEBA_ATTRS = ("Eyeglasses", "Male", "Smiling")


def _fake_celeba(root: Path) -> None:
    from PIL import Image

    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    names = [f"{i + 1:06d}.jpg" for i in range(len(_CELEBA_PARTITION))]
    for i, name in enumerate(names):
        img = np.zeros((218, 178, 3), dtype=np.uint8)  # real size: 218 high, 178 wide
        img[20:198] = 255  # the centre 178x178 square is white, the 20-row bands black
        img[20:198, :, 0] = 255 - 30 * i  # a per-image tint to tell them apart
        Image.fromarray(img).save(folder / "img_align_celeba" / name, quality=95)
    attr_rows = [[1 if (i + j) % 2 else -1 for j in range(3)] for i in range(len(names))]
    lines = {
        "list_eval_partition.txt": [f"{n} {p}" for n, p in zip(names, _CELEBA_PARTITION)],
        "identity_CelebA.txt": [f"{n} {i + 1}" for i, n in enumerate(names)],
        "list_bbox_celeba.txt": [str(len(names)), "image_id x_1 y_1 width height"]
        + [f"{n} 1 2 3 4" for n in names],
        "list_landmarks_align_celeba.txt": [str(len(names)), " ".join(f"p{k}" for k in range(10))]
        + [f"{n} " + " ".join(["5"] * 10) for n in names],
        "list_attr_celeba.txt": [str(len(names)), " ".join(_CELEBA_ATTRS) + " "]
        + [f"{n} " + " ".join(f"{a:2d}" for a in row) for n, row in zip(names, attr_rows)],
    }
    for fname, rows in lines.items():
        (folder / fname).write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def tv_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("tvdata")
    rng = np.random.default_rng(0)
    truth = {"mnist": _fake_mnist(root, "MNIST", rng), "fashion_mnist": _fake_mnist(root, "FashionMNIST", rng),
             "cifar10": _fake_cifar(root, rng)}
    _fake_celeba(root)
    return root, truth


@pytest.fixture
def md5_patched(tv_root, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict]:
    """Point torchvision's expected md5 sums at the fake files (the check itself still runs)."""
    import torchvision.datasets as tvd

    root, truth = tv_root
    cifar = root / "cifar-10-batches-py"
    monkeypatch.setattr(tvd.CIFAR10, "train_list", [[f"data_batch_{i}", _md5(cifar / f"data_batch_{i}")]
                                                    for i in range(1, 6)])
    monkeypatch.setattr(tvd.CIFAR10, "test_list", [["test_batch", _md5(cifar / "test_batch")]])
    monkeypatch.setattr(tvd.CIFAR10, "meta", {**tvd.CIFAR10.meta, "md5": _md5(cifar / "batches.meta")})
    monkeypatch.setattr(tvd.CelebA, "file_list", [
        (fid, _md5(root / "celeba" / f) if not f.endswith(".zip") else md5, f) for fid, md5, f in tvd.CelebA.file_list
    ])
    return root, truth


# ----------------------------------------------------------------------------- Gaussian mixtures
def _random_mixture(k: int = 4, d: int = 3, dtype=torch.float64) -> GaussianMixture:
    g = torch.Generator().manual_seed(1)
    w = torch.rand(k, generator=g, dtype=dtype) + 0.2
    return GaussianMixture(torch.randn(k, d, generator=g, dtype=dtype) * 2,
                           torch.rand(k, generator=g, dtype=dtype) + 0.3, w / w.sum())


def test_mixture_log_prob_matches_brute_force_float64():
    mix = _random_mixture()
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 3
    brute = torch.zeros(50, dtype=torch.float64)
    for mu, s, w in zip(mix.means, mix.stds, mix.weights):
        d = mu.numel()
        brute += w * (2 * math.pi * s**2) ** (-d / 2) * torch.exp(-((x - mu) ** 2).sum(-1) / (2 * s**2))
    torch.testing.assert_close(mix.log_prob(x), brute.log(), rtol=1e-10, atol=1e-10)
    # dtype follows the input; batch dimensions are kept
    lp32 = mix.log_prob(x.float().reshape(5, 10, 3))
    assert lp32.dtype == torch.float32 and lp32.shape == (5, 10)
    torch.testing.assert_close(lp32.double().reshape(50), brute.log(), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="dimension 3"):
        mix.log_prob(torch.zeros(4, 2))


def test_mixture_score_matches_autograd():
    mix = _random_mixture()
    x = torch.randn(20, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True)
    (grad,) = torch.autograd.grad(mix.log_prob(x).sum(), x)
    torch.testing.assert_close(mix.score(x.detach()), grad, rtol=1e-10, atol=1e-10)


def test_mixture_sample_moments_and_labels():
    mix = _random_mixture(k=3, d=2)
    x, y = mix.sample(100_000, generator=torch.Generator().manual_seed(0))
    assert x.shape == (100_000, 2) and y.dtype == torch.int64 and x.dtype == torch.float64
    torch.testing.assert_close(torch.bincount(y, minlength=3).double() / 1e5, mix.weights, atol=0.01, rtol=0)
    torch.testing.assert_close(x.mean(0), mix.mean, atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), mix.covariance, atol=0.05, rtol=0.02)
    # each point is its own component's Gaussian: standardised residuals are N(0, I)
    z = (x - mix.means[y]) / mix.stds[y, None]
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    # same generator state, same draw
    a = mix.sample(10, torch.Generator().manual_seed(5))
    b = mix.sample(10, torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_mixture_constructors_and_validation():
    ring = GaussianMixture.ring()
    assert ring.dim == 2 and ring.num_components == 8
    torch.testing.assert_close(ring.means.norm(dim=1), torch.full((8,), 2.0))
    angles = torch.atan2(ring.means[:, 1], ring.means[:, 0]) % (2 * math.pi)
    torch.testing.assert_close(angles, torch.arange(8) * math.pi / 4, atol=1e-5, rtol=0)
    assert torch.all(ring.stds == 0.02) and torch.allclose(ring.weights, torch.full((8,), 1 / 8))
    grid = GaussianMixture.grid()
    assert grid.num_components == 25
    assert sorted(set(grid.means.flatten().tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert len({tuple(m) for m in grid.means.tolist()}) == 25 and torch.all(grid.stds == 0.05)
    with pytest.raises(ValueError, match="summing to 1"):
        GaussianMixture(torch.zeros(2, 2), torch.ones(2), torch.tensor([0.5, 0.6]))
    with pytest.raises(ValueError, match="positive"):
        GaussianMixture(torch.zeros(2, 2), torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"\(K, D\)"):
        GaussianMixture(torch.zeros(2), torch.ones(2))
    sub = ring.subset([2, 5])
    assert torch.equal(sub.means, ring.means[[2, 5]]) and torch.allclose(sub.weights, torch.tensor([0.5, 0.5]))


# ----------------------------------------------------------------------------- point sets
@pytest.mark.parametrize("name", ["swiss_roll", "ring8", "grid25"])
def test_point_sets_shapes_determinism_and_splits(name):
    train, test = load(name), load(name, "test")
    assert isinstance(train, ArrayDataset)
    assert train.x.shape == (10_000, 2) and test.x.shape == (2_000, 2) and train.x.dtype == torch.float32
    assert train.info.shape == (2,) and train.info.value_range is None and train.info.split == "train"
    assert torch.equal(load(name, n=300).x, load(name, n=300).x)  # same seed, same data
    assert not torch.equal(load(name, n=300).x, load(name, n=300, seed=1).x)  # other seed, other data
    common = set(map(tuple, train.x.tolist())) & set(map(tuple, test.x.tolist()))
    assert not common  # train and test are different draws
    x, y = train[3]
    assert torch.equal(x, train.x[3]) and y.dtype == torch.int64


def test_swiss_roll_projection_noise_and_t():
    clean = load("swiss_roll", n=500, noise=0.0)
    t = clean.t
    torch.testing.assert_close(clean.x, torch.stack([t * t.cos(), t * t.sin()], 1), atol=1e-4, rtol=1e-5)
    assert clean.y is None and clean.info.num_classes is None and clean[0][1] == -1
    assert float(t.min()) >= 1.5 * math.pi and float(t.max()) <= 4.5 * math.pi
    noisy = load("swiss_roll", n=20_000)  # default noise 0.5 (thesis sec. 7.1)
    resid = noisy.x - torch.stack([noisy.t * noisy.t.cos(), noisy.t * noisy.t.sin()], 1)
    assert abs(float(resid.std()) - 0.5) < 0.02
    scaled = load("swiss_roll", n=500, noise=0.0, scale=0.1)
    torch.testing.assert_close(scaled.x, clean.x * 0.1)


def test_ring8_grid25_and_gaussian_mixture():
    ring = load("ring8", radius=3.0, std=0.1)
    assert ring.info.num_classes == 8 and ring.info.classes == tuple(range(8))
    assert ring.mixture is not None and torch.allclose(ring.mixture.means.norm(dim=1), torch.full((8,), 3.0))
    counts = torch.bincount(ring.y, minlength=8)
    assert counts.min() > 1_100 and counts.max() < 1_400
    dist = (ring.x - ring.mixture.means[ring.y]).norm(dim=1)
    assert float(dist.max()) < 0.1 * 6  # every point sits at its own component
    grid = load("grid25", n=2_000)
    assert grid.info.num_classes == 25 and float((grid.x - grid.mixture.means[grid.y]).abs().max()) < 0.05 * 6
    gm = load("gaussian_mixture", n=100, means=[[0.0, 0.0, 0.0], [5.0, 5.0, 5.0]], stds=0.5, weights=[0.25, 0.75])
    assert gm.x.shape == (100, 3) and gm.mixture.dim == 3 and gm.info.shape == (3,)
    mix = GaussianMixture.ring(4)
    assert load("gaussian_mixture", n=10, mixture=mix).mixture is mix
    with pytest.raises(ValueError, match="needs mixture="):
        load("gaussian_mixture")


def test_point_set_classes_filter():
    ds = load("ring8", n=1_000, classes=(5, 2))
    assert set(ds.y.tolist()) == {0, 1} and ds.info.classes == (5, 2) and ds.info.num_classes == 2
    full = GaussianMixture.ring()
    torch.testing.assert_close(ds.mixture.means, full.means[[5, 2]])
    assert float((ds.x - full.means[torch.tensor([5, 2])[ds.y]]).norm(dim=1).max()) < 0.15


# ----------------------------------------------------------------------------- in-memory image sets
def _rows(x: torch.Tensor) -> set:
    return {r.tobytes() for r in x.reshape(len(x), -1).numpy()}


def test_digits_split_counts_range_and_determinism():
    from sklearn.datasets import load_digits

    train, test = load("digits"), load("digits", "test")
    assert train.x.shape == (1438, 1, 8, 8) and test.x.shape == (359, 1, 8, 8) and train.x.dtype == torch.float32
    total = torch.as_tensor(np.bincount(load_digits().target))
    assert torch.equal(torch.bincount(train.y) + torch.bincount(test.y), total)
    assert torch.equal(torch.bincount(test.y), torch.round(0.2 * total).long())  # stratified 80/20
    assert not _rows(train.x) & _rows(test.x)  # disjoint (digits has no duplicate images)
    assert float(train.x.min()) == 0.0 and float(train.x.max()) == 1.0
    assert train.info.value_range == (0.0, 1.0) and train.info.num_classes == 10
    other = load("digits", seed=1)  # the split does not move with the seed; the order does
    assert _rows(other.x) == _rows(train.x) and not torch.equal(other.y, train.y)
    assert torch.equal(load("digits").x, train.x)


def test_digits_resize_range_n_classes():
    ds = load("digits", size=16, value_range=(-1.0, 1.0), n=100)
    assert ds.x.shape == (100, 1, 16, 16) and ds.info.shape == (1, 16, 16)
    assert float(ds.x.min()) >= -1.0 and float(ds.x.max()) <= 1.0
    assert float(ds.x.min()) < -0.99 and float(ds.x.max()) > 0.9  # spans the range
    assert torch.equal(load("digits", n=100).y, ds.y)  # n = the first n of the same order
    sub = load("digits", classes=[7, 1])
    ref = load("digits")
    assert set(sub.y.tolist()) == {0, 1} and sub.info.classes == (7, 1) and sub.info.num_classes == 2
    assert len(sub) == int((ref.y == 7).sum() + (ref.y == 1).sum())
    assert torch.equal(sub.x[sub.y == 0], ref.x[ref.y == 7])  # relabelled, same images in the same order


def test_mnist5k_split_counts_shuffle_and_resize():
    train, test = load("mnist5k"), load("mnist5k", "test", size=14)
    assert train.x.shape == (4000, 1, 28, 28) and test.x.shape == (1000, 1, 14, 14)
    assert torch.all(torch.bincount(train.y) == 400) and torch.all(torch.bincount(test.y) == 100)
    assert len(set(train.y[:50].tolist())) >= 5  # shuffled, not sorted by class
    assert float(train.x.min()) == 0.0 and float(train.x.max()) == 1.0
    assert float(test.x.min()) >= 0.0 and float(test.x.max()) <= 1.0 and float(test.x.max()) > 0.9
    assert not _rows(train.x) & _rows(load("mnist5k", "test").x)
    rgb = load("mnist5k", "test", n=8, channels=3)
    assert rgb.x.shape == (8, 3, 28, 28) and torch.equal(rgb.x[:, 0], rgb.x[:, 2])


# ----------------------------------------------------------------------------- torchvision sets
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_mnist_like_from_fake_idx_files(tv_root, name):
    root, truth = tv_root
    images, labels = truth[name]["test"]
    ds = load(name, "test", root=root)
    assert isinstance(ds, D.TorchvisionDataset) and len(ds) == 20
    assert ds.info.shape == (1, 28, 28) and ds.info.num_classes == 10
    x, y = ds[3]
    assert x.dtype == torch.float32 and x.shape == (1, 28, 28) and y == int(labels[3])
    torch.testing.assert_close(x[0], torch.as_tensor(images[3]).float() / 255)
    assert torch.equal(ds.y, torch.as_tensor(labels, dtype=torch.int64))
    sym = load(name, "train", root=root, value_range=(-1.0, 1.0), size=14, channels=3)
    xs, _ = sym[0]
    assert xs.shape == (3, 14, 14) and sym.info.shape == (3, 14, 14)
    assert float(xs.min()) >= -1.0 and float(xs.max()) <= 1.0
    full = load(name, "train", root=root, value_range=(-1.0, 1.0))[0][0]
    assert float(full.min()) == -1.0 and float(full.max()) == 1.0  # pixel 0 -> lo, 255 -> hi
    sub = load(name, "train", root=root, classes=(3, 8))
    assert len(sub) == 8 and set(sub.y.tolist()) == {0, 1} and sub.info.classes == (3, 8)
    assert all(int(truth[name]["train"][1][j]) == (3, 8)[int(c)] for j, c in zip(sub.indices, sub.y))
    few = load(name, "train", root=root, n=10, seed=3)
    assert len(few) == 10 and torch.equal(few.indices, load(name, "train", root=root, n=10, seed=3).indices)
    assert not torch.equal(few.indices, load(name, "train", root=root, n=10, seed=4).indices)


def test_cifar10_classes_channels_from_fake_batches(md5_patched):
    root, truth = md5_patched
    images, labels = truth["cifar10"]["train"]
    ds = load("cifar10", root=root)
    assert len(ds) == 50 and ds.info.shape == (3, 32, 32)
    x, y = ds[7]
    torch.testing.assert_close(x, torch.as_tensor(images[7]).float() / 255)
    assert y == int(labels[7])
    sub = load("cifar10", root=root, classes=(0, 1, 2))
    assert set(sub.y.tolist()) == {0, 1, 2} and len(sub) == 15
    assert sub.info.class_names == ("airplane", "automobile", "bird") and sub.info.num_classes == 3
    assert torch.equal(sub.y, torch.as_tensor(labels)[sub.indices])  # first classes keep their ids
    swapped = load("cifar10", root=root, classes=(2, 0))
    assert torch.equal(torch.as_tensor(labels)[swapped.indices], torch.tensor([2, 0])[swapped.y])
    gray = load("cifar10", "test", root=root, channels=1)
    xg, _ = gray[0]
    rgb = torch.as_tensor(truth["cifar10"]["test"][0][0]).float() / 255
    torch.testing.assert_close(xg[0], 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])


def test_celeba_crop_size_splits_and_attribute(md5_patched):
    root, _ = md5_patched
    ds = load("celeba", root=root)
    assert [len(load("celeba", s, root=root)) for s in ("train", "valid", "test")] == [4, 2, 2]
    x, y = ds[0]
    assert x.shape == (3, 64, 64) and ds.info.shape == (3, 64, 64) and y == -1 and ds.y is None
    assert float(x[1].mean()) > 0.97  # the centre 178x178 crop holds only the white square
    assert float(ds[0][0][0].mean()) > float(ds[2][0][0].mean()) + 0.2  # images differ by their red tint
    small = load("celeba", "test", root=root, crop=128, size=32, value_range=(-1.0, 1.0))
    xs = small[0][0]
    assert xs.shape == (3, 32, 32) and float(xs.min()) >= -1.0 and float(xs.max()) <= 1.0 and xs[1].mean() > 0.9
    lab = load("celeba", root=root, attribute="Male")
    assert lab.info.num_classes == 2 and lab.info.class_names == ("not Male", "Male")
    assert lab.y.tolist() == [((i + 1) % 2) for i in range(4)]  # -1/1 in the file -> 0/1
    only = load("celeba", root=root, attribute="Male", classes=(1,))
    assert len(only) == 2 and torch.all(only.y == 0)
    with pytest.raises(ValueError, match="Eyeglasses"):
        load("celeba", root=root, attribute="Bald")
    with pytest.raises(ValueError, match="attribute"):
        load("celeba", root=root, classes=(1,))
    with pytest.raises(ValueError, match="crop 300 is larger"):
        load("celeba", root=root, crop=300)[0]


def test_missing_dataset_errors(tmp_path, tv_root, monkeypatch):
    for name, needed in [("mnist", "train-images-idx3-ubyte"), ("cifar10", "data_batch_1"),
                         ("celeba", "list_eval_partition.txt"), ("fashion_mnist", "FashionMNIST")]:
        with pytest.raises(DatasetNotFoundError) as err:
            load(name, root=tmp_path)
        msg = str(err.value)
        assert isinstance(err.value, FileNotFoundError)
        assert str(tmp_path) in msg and "download=True" in msg and needed in msg
        assert "Dataset not found" not in msg  # not torchvision's message
    # one file missing is named as such
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (tv_root[0] / "MNIST" / "raw").iterdir():
        if f.name != "t10k-labels-idx1-ubyte":
            (raw / f.name).write_bytes(f.read_bytes())
    with pytest.raises(DatasetNotFoundError, match="missing: t10k-labels-idx1-ubyte"):
        load("mnist", root=tmp_path)
    # files present but wrong md5 (no patched sums): the integrity check is named
    with pytest.raises(DatasetNotFoundError, match="integrity"):
        load("cifar10", root=tv_root[0])
    # the default root comes from $LATENTKIT_DATA
    monkeypatch.setenv("LATENTKIT_DATA", str(tmp_path / "env_root"))
    assert D.default_root() == tmp_path / "env_root"
    with pytest.raises(DatasetNotFoundError, match="env_root"):
        load("cifar10")
    # a failing download is reported the same way (no network used)
    import torchvision.datasets.cifar as tvc

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(tvc, "download_and_extract_archive", offline)
    with pytest.raises(DatasetNotFoundError, match="download=True failed"):
        load("cifar10", root=tmp_path, download=True)


# ----------------------------------------------------------------------------- loader API
def test_array_dataset_to_and_from_dataset(tv_root):
    ds = load("ring8", n=50)
    moved = ds.to("meta")
    assert moved.x.device.type == "meta" and moved.mixture.means.device.type == "meta"
    assert ArrayDataset.from_dataset(ds).x.shape == (50, 2)
    sub = ArrayDataset.from_dataset(ds, n=10, generator=torch.Generator().manual_seed(0))
    assert len(sub) == 10 and sub.mixture is ds.mixture
    lazy = load("mnist", "test", root=tv_root[0], size=14)
    mat = ArrayDataset.from_dataset(lazy, n=6, generator=torch.Generator().manual_seed(1))
    again = ArrayDataset.from_dataset(lazy, n=6, generator=torch.Generator().manual_seed(1))
    assert mat.x.shape == (6, 1, 14, 14) and torch.equal(mat.x, again.x) and mat.info == lazy.info
    idx = torch.randperm(20, generator=torch.Generator().manual_seed(1))[:6].sort().values
    assert torch.equal(mat.x, torch.stack([lazy[int(i)][0] for i in idx])) and torch.equal(mat.y, lazy.y[idx])
    assert ArrayDataset.from_dataset(load("swiss_roll", n=20)).y is None
    with pytest.raises(ValueError, match=r"1\.\.20"):
        ArrayDataset.from_dataset(lazy, n=21)


def test_batch_sampler_determinism_and_device(tv_root):
    ds = load("ring8", n=200)
    sample = batch_sampler(ds, 32)
    g = torch.Generator().manual_seed(7)
    state = g.get_state()
    x1, y1 = sample(g)
    torch.manual_seed(123)  # the global RNG plays no part
    g.set_state(state)
    x2, y2 = sample(g)
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and x1.shape == (32, 2) and y1.dtype == torch.int64
    x3, _ = sample(g)
    assert not torch.equal(x1, x3)
    idx = torch.randint(200, (32,), generator=torch.Generator().manual_seed(7))  # uniform, with replacement
    assert torch.equal(x1, ds.x[idx]) and torch.equal(y1, ds.y[idx])
    xm, ym = batch_sampler(ds, 8, device="meta")(g)
    assert xm.device.type == "meta" and ym.device.type == "meta"
    if torch.cuda.is_available():
        assert batch_sampler(ds, 8, device="cuda")(g)[0].is_cuda
    _, yu = batch_sampler(load("swiss_roll", n=20), 5)(g)
    assert torch.all(yu == -1)
    lazy = load("mnist", "test", root=tv_root[0])
    xl, yl = batch_sampler(lazy, 4, device=torch.device("meta"))(torch.Generator().manual_seed(9))
    assert xl.shape == (4, 1, 28, 28) and xl.device.type == "meta"
    xc, yc = batch_sampler(lazy, 4)(torch.Generator().manual_seed(9))
    idx = torch.randint(20, (4,), generator=torch.Generator().manual_seed(9))
    assert torch.equal(xc, torch.stack([lazy[int(i)][0] for i in idx])) and torch.equal(yc, lazy.y[idx])
    with pytest.raises(ValueError, match="batch_size"):
        batch_sampler(ds, 0)
    with pytest.raises(TypeError, match="Generator"):
        sample(None)


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "mnits"}, r"unknown dataset 'mnits'; valid: .*'swiss_roll'.*'celeba'"),
    ({"name": "digits", "split": "valid"}, r"split .*'valid'; valid: 'train', 'test'"),
    ({"name": "celeba", "split": "val"}, r"'val'; valid: 'train', 'valid', 'test'"),
    ({"name": "digits", "size": 0}, "size must be a positive int"),
    ({"name": "digits", "classes": (3, 10)}, r"class 10 is not present in 'digits'; valid classes: \[0, 1"),
    ({"name": "ring8", "classes": (8,)}, "class 8 is not present in 'ring8'"),
    ({"name": "digits", "classes": (1, 1)}, "without repeats"),
    ({"name": "digits", "channels": 2}, "channels must be 1 or 3.*got 2"),
    ({"name": "digits", "value_range": (1.0, 0.0)}, r"lo < hi, got \(1.0, 0.0\)"),
    ({"name": "digits", "n": 5000}, "n=5000 but 'digits' has only 1438"),
    ({"name": "digits", "n": 0}, "n must be a positive int"),
    ({"name": "ring8", "sigma": 1.0}, "unknown option 'sigma' for 'ring8'; valid options: radius, std"),
    ({"name": "digits", "noise": 1.0}, "unknown option 'noise' for 'digits'; valid options: none"),
    ({"name": "ring8", "size": 16}, "size=16 applies to image datasets"),
    ({"name": "ring8", "value_range": (-1, 1)}, "value_range=.* applies to image datasets"),
    ({"name": "swiss_roll", "classes": (0,)}, "'swiss_roll' has no labels"),
    ({"name": "ring8", "seed": -1}, "seed must be a non-negative int"),
])
def test_errors_name_bad_value_and_choices(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load(**kwargs)


def test_datasets_tuple_lists_every_name():
    assert set(D.DATASETS) == {"swiss_roll", "ring8", "grid25", "gaussian_mixture", "digits", "mnist5k",
                               "mnist", "fashion_mnist", "cifar10", "celeba"}
