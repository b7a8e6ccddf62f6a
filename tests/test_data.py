"""latentkit.data: every dataset behind one loader.

The torchvision sets are tested without network against small fake files (tests/fakedata.py) written to
tmp_path in the layout torchvision 0.29.1 reads. CIFAR-10 and CelebA check md5 sums of their files: the
tests set the class attributes holding the expected sums (`CIFAR10.train_list`, `.test_list`, `.meta`,
`CelebA.file_list`) to the sums of the fake files with monkeypatch, so torchvision's own integrity
check still runs (and passes) unchanged. The lazy path is `cache=False`; the default reads (and first
writes) the decoded uint8 cache.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fakedata import CELEBA_ATTRIBUTES, build_caches, md5_patches, patched_md5, write_fake_torchvision
from latentkit import data as D
from latentkit.data import (
    ArrayDataset,
    CachedImageDataset,
    DatasetCacheError,
    DatasetNotFoundError,
    GaussianMixture,
    batch_sampler,
    check_available,
    load,
)
from latentkit.data import cache as data_cache  # where the cache code looks up the names monkeypatched below

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- fake torchvision files
@pytest.fixture(scope="module")
def tv_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Fake files of the four torchvision sets (tests/fakedata.py); this module's own root, as its tests
    write decoded caches into it."""
    root = tmp_path_factory.mktemp("tvdata")
    return root, write_fake_torchvision(root)


@pytest.fixture
def md5_patched(tv_root, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict]:
    """Point torchvision's expected md5 sums at the fake files (the check itself still runs)."""
    for obj, attr, value in md5_patches(tv_root[0]):
        monkeypatch.setattr(obj, attr, value)
    return tv_root


# ----------------------------------------------------------------------------- Gaussian mixtures
def _random_mixture(k: int = 4, d: int = 3, dtype=torch.float64) -> GaussianMixture:
    g = torch.Generator().manual_seed(1)
    w = torch.rand(k, generator=g, dtype=dtype) + 0.2
    return GaussianMixture(
        torch.randn(k, d, generator=g, dtype=dtype) * 2, torch.rand(k, generator=g, dtype=dtype) + 0.3, w / w.sum()
    )


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
@pytest.mark.parametrize("cache", [False, True], ids=["lazy", "cached"])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_mnist_like_from_fake_idx_files(tv_root, name, cache):
    root, truth = tv_root
    images, labels = truth[name]["test"]
    ds = load(name, "test", root=root, cache=cache)
    assert isinstance(ds, CachedImageDataset if cache else D.TorchvisionDataset) and len(ds) == len(labels)
    assert ds.info.shape == (1, 28, 28) and ds.info.num_classes == 10
    x, y = ds[3]
    assert x.dtype == torch.float32 and x.shape == (1, 28, 28) and y == int(labels[3])
    torch.testing.assert_close(x[0], torch.as_tensor(images[3]).float() / 255)
    assert torch.equal(ds.y, torch.as_tensor(labels, dtype=torch.int64))
    sym = load(name, "train", root=root, value_range=(-1.0, 1.0), size=14, channels=3, cache=cache)
    xs, _ = sym[0]
    assert xs.shape == (3, 14, 14) and sym.info.shape == (3, 14, 14)
    assert float(xs.min()) >= -1.0 and float(xs.max()) <= 1.0
    full = load(name, "train", root=root, value_range=(-1.0, 1.0), cache=cache)[0][0]
    assert float(full.min()) == -1.0 and float(full.max()) == 1.0  # pixel 0 -> lo, 255 -> hi
    train_labels = truth[name]["train"][1]
    sub = load(name, "train", root=root, classes=(3, 8), cache=cache)
    assert len(sub) == int(np.isin(train_labels, (3, 8)).sum()) and set(sub.y.tolist()) == {0, 1}
    assert sub.info.classes == (3, 8)
    assert all(int(train_labels[j]) == (3, 8)[int(c)] for j, c in zip(sub.indices, sub.y))
    few = load(name, "train", root=root, n=10, seed=3, cache=cache)
    assert len(few) == 10 and torch.equal(few.indices, load(name, "train", root=root, n=10, seed=3).indices)
    assert not torch.equal(few.indices, load(name, "train", root=root, n=10, seed=4, cache=cache).indices)


@pytest.mark.parametrize("cache", [False, True], ids=["lazy", "cached"])
def test_cifar10_classes_channels_from_fake_batches(md5_patched, cache):
    root, truth = md5_patched
    images, labels = truth["cifar10"]["train"]
    ds = load("cifar10", root=root, cache=cache)
    assert len(ds) == len(labels) and ds.info.shape == (3, 32, 32)
    x, y = ds[7]
    torch.testing.assert_close(x, torch.as_tensor(images[7]).float() / 255)
    assert y == int(labels[7])
    sub = load("cifar10", root=root, classes=(0, 1, 2), cache=cache)
    assert set(sub.y.tolist()) == {0, 1, 2} and len(sub) == int(np.isin(labels, (0, 1, 2)).sum())
    assert sub.info.class_names == ("airplane", "automobile", "bird") and sub.info.num_classes == 3
    assert torch.equal(sub.y, torch.as_tensor(labels)[sub.indices])  # first classes keep their ids
    swapped = load("cifar10", root=root, classes=(2, 0), cache=cache)
    assert torch.equal(torch.as_tensor(labels)[swapped.indices], torch.tensor([2, 0])[swapped.y])
    gray = load("cifar10", "test", root=root, channels=1, cache=cache)
    xg, _ = gray[0]
    rgb = torch.as_tensor(truth["cifar10"]["test"][0][0]).float() / 255
    # luminance rounded to uint8 once (the cache stores it): within half a grey level of the exact value
    torch.testing.assert_close(xg[0], 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2], atol=0.5 / 255 + 1e-6, rtol=0)


@pytest.mark.parametrize("cache", [False, True], ids=["lazy", "cached"])
def test_celeba_crop_size_splits_and_attribute(md5_patched, cache):
    root, truth = md5_patched
    fake = truth["celeba"]
    part, male = fake["partition"], fake["attributes"][:, CELEBA_ATTRIBUTES.index("Male")]
    ds = load("celeba", root=root, cache=cache)
    counts = [len(load("celeba", s, root=root, cache=cache)) for s in ("train", "valid", "test")]
    assert counts == [int((part == p).sum()) for p in range(3)] == [96, 32, 32]
    x, y = ds[0]
    assert x.shape == (3, 64, 64) and ds.info.shape == (3, 64, 64) and y == -1 and ds.y is None
    assert float(x[1].mean()) > 0.97  # the centre 178x178 crop holds only the white square
    reds = torch.stack([ds[i][0][0].mean() for i in range(6)])  # each image's red tint
    torch.testing.assert_close(
        reds, torch.as_tensor(fake["tint"][part == 0][:6] / 255, dtype=torch.float32), atol=0.02, rtol=0
    )
    small = load("celeba", "test", root=root, crop=128, size=32, value_range=(-1.0, 1.0), cache=cache)
    xs = small[0][0]
    assert xs.shape == (3, 32, 32) and float(xs.min()) >= -1.0 and float(xs.max()) <= 1.0 and xs[1].mean() > 0.9
    lab = load("celeba", root=root, attribute="Male", cache=cache)
    assert lab.info.num_classes == 2 and lab.info.class_names == ("not Male", "Male")
    assert lab.y.tolist() == male[part == 0].tolist()  # -1/1 in the file -> 0/1
    only = load("celeba", root=root, attribute="Male", classes=(1,), cache=cache)
    assert len(only) == int(male[part == 0].sum()) and torch.all(only.y == 0)
    with pytest.raises(ValueError, match="Eyeglasses"):
        load("celeba", root=root, attribute="Bold", cache=cache)
    with pytest.raises(ValueError, match="attribute"):
        load("celeba", root=root, classes=(1,), cache=cache)
    with pytest.raises(ValueError, match="crop 300 is larger"):
        load("celeba", root=root, crop=300, cache=cache)[0]


def test_missing_dataset_errors(tmp_path, tv_root, monkeypatch):
    for name, needed in [
        ("mnist", "train-images-idx3-ubyte"),
        ("cifar10", "data_batch_1"),
        ("celeba", "list_eval_partition.txt"),
        ("fashion_mnist", "FashionMNIST"),
    ]:
        with pytest.raises(DatasetNotFoundError) as err:
            load(name, root=tmp_path)
        msg = str(err.value)
        assert isinstance(err.value, FileNotFoundError)
        assert str(tmp_path) in msg and "download=True" in msg and needed in msg
        assert "Dataset not found" not in msg  # not torchvision's message
        assert "latentkit-cache" in msg  # a decoded cache would do too
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
        load("cifar10", root=tv_root[0], cache=False)
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


# ----------------------------------------------------------------------------- decoded caches
@pytest.fixture
def fresh_root(tmp_path) -> tuple[Path, dict]:
    """Fake MNIST and CelebA in a root of the test's own (tests here delete files)."""
    return tmp_path, write_fake_torchvision(tmp_path, 64, 32, celeba=(24, 4, 4), names=("mnist", "celeba"))


def _refuse_torchvision(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("torchvision was opened although a cache exists")

    monkeypatch.setattr(data_cache, "_open_torchvision", refuse)


def test_cache_built_once_then_loaded_without_torchvision(fresh_root, monkeypatch):
    import json

    root, truth = fresh_root
    with patched_md5(root):
        lazy = load("celeba", root=root, crop=128, size=128, channels=1, value_range=(-1.0, 1.0), cache=False)
        cached = load("celeba", root=root, crop=128, size=128, channels=1, value_range=(-1.0, 1.0))
    path = root / "latentkit-cache" / "celeba-train-crop128-128px-1ch.pt"
    assert cached.path == path and path.is_file() and isinstance(cached, CachedImageDataset)
    assert cached.images.dtype == torch.uint8 and cached.images.shape == (24, 1, 128, 128)  # uint8 storage
    assert cached.info == lazy.info and cached.info.shape == (1, 128, 128)
    assert torch.equal(torch.stack([cached[i][0] for i in range(24)]), torch.stack([lazy[i][0] for i in range(24)]))
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["key"] == {"name": "celeba", "split": "train", "crop": 128, "size": 128, "channels": 1}
    assert meta["count"] == 24 and meta["image_shape"] == [1, 128, 128] and meta["version"] == 1
    assert meta["attribute_names"] == list(CELEBA_ATTRIBUTES) and "list_attr_celeba.txt" in meta["sources"]
    lazy_mnist = load("mnist", root=root, size=14, channels=3, value_range=(-1.0, 1.0), cache=False)
    cached_mnist = load("mnist", root=root, size=14, channels=3, value_range=(-1.0, 1.0))
    assert torch.equal(
        torch.stack([lazy_mnist[i][0] for i in range(64)]), torch.stack([cached_mnist[i][0] for i in range(64)])
    )  # the same transform, bit for bit
    # the second load reads the cache alone: torchvision refused, its files gone
    _refuse_torchvision(monkeypatch)
    (root / "celeba").rename(root / "celeba-moved")
    (root / "MNIST").rename(root / "MNIST-moved")
    again = load("celeba", root=root, crop=128, size=128, channels=1, value_range=(-1.0, 1.0), attribute="Male")
    assert torch.equal(again[5][0], cached[5][0])
    male = truth["celeba"]["attributes"][truth["celeba"]["partition"] == 0, CELEBA_ATTRIBUTES.index("Male")]
    assert again.y.tolist() == male.tolist()
    assert len(load("mnist", root=root, size=14, channels=3)) == 64
    check_available("celeba", root=root, crop=128, size=128, channels=1, attribute="Male", n=3)
    check_available("celeba", root=root)  # size, channels, crop not given: a cache at any of them counts
    with pytest.raises(DatasetNotFoundError, match="celeba-train-crop128-128px-1ch.pt"):  # other crop: not cached
        check_available("celeba", root=root, crop=178)
    with pytest.raises(DatasetNotFoundError, match="missing"):
        check_available("celeba", "valid", root=root)
    monkeypatch.undo()  # torchvision allowed again: a set neither cached nor on disk
    with pytest.raises(DatasetNotFoundError, match="missing: img_align_celeba"):
        load("celeba", root=root, crop=178, size=128)


def test_prebuilt_caches_serve_a_process_without_patched_md5(fresh_root, monkeypatch):
    """What a test does before running a chapter in a subprocess (where md5 sums cannot be patched)."""
    import torchvision.datasets as tvd

    root, _ = fresh_root
    paths = build_caches(
        root,
        [
            ("mnist", "test", {"size": 32, "value_range": (-1.0, 1.0), "n": 5}),
            ("celeba", "valid", {"crop": 128, "size": 128, "attribute": "Male"}),
        ],
    )
    assert [p.name for p in paths] == ["mnist-test-nocrop-32px-1ch.pt", "celeba-valid-crop128-128px-3ch.pt"]
    assert tvd.CelebA.file_list[1][1] == "75e246fa4810816ffd6ee81facbd244c"  # the real md5 table is back
    _refuse_torchvision(monkeypatch)
    monkeypatch.setenv("LATENTKIT_DATA", str(root))
    assert len(load("mnist", "test", size=32, value_range=(-1.0, 1.0), n=5)) == 5
    assert load("celeba", "valid", crop=128, size=128, attribute="Male").info.shape == (3, 128, 128)


def test_cached_selections_match_lazy(fresh_root):
    root, truth = fresh_root
    with patched_md5(root):
        for kw in ({"classes": (3, 1)}, {"n": 7, "seed": 2}, {"classes": (0, 9), "n": 5}, {"size": 32}):
            lazy, cached = load("mnist", root=root, cache=False, **kw), load("mnist", root=root, **kw)
            assert torch.equal(lazy.indices, cached.indices) and torch.equal(lazy.y, cached.y)
            assert lazy.info == cached.info and torch.equal(lazy[1][0], cached[1][0])
        for kw in ({"attribute": "Smiling", "classes": (1,)}, {"n": 9, "seed": 1}, {"attribute": "Young", "n": 4}):
            lazy, cached = load("celeba", root=root, cache=False, **kw), load("celeba", root=root, **kw)
            assert torch.equal(lazy.indices, cached.indices) and lazy.info == cached.info
            assert (lazy.y is None and cached.y is None) or torch.equal(lazy.y, cached.y)
            assert torch.equal(lazy[0][0], cached[0][0])
    files = sorted(p.name for p in (root / "latentkit-cache").glob("*.pt"))
    assert files == [
        "celeba-train-crop178-64px-3ch.pt",
        "mnist-train-nocrop-28px-1ch.pt",
        "mnist-train-nocrop-32px-1ch.pt",
    ]  # value range, classes, n, attribute: one cache


def test_cache_write_is_atomic_and_corruption_is_reported(fresh_root, monkeypatch):
    root, _ = fresh_root
    cache_dir = root / "latentkit-cache"
    real_save = torch.save

    def killed(obj, f, *args, **kwargs):  # the process dies half-way through writing
        f.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        load("mnist", root=root)
    assert [p for p in cache_dir.iterdir() if p.suffix != ".lock"] == []  # no partial cache, no temporary file
    monkeypatch.setattr(torch, "save", real_save)
    ds = load("mnist", root=root)
    path = ds.path
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # truncated (e.g. a copy gone wrong)
    with pytest.raises(DatasetCacheError, match=r"corrupt.*delete it"):
        load("mnist", root=root)
    path.write_bytes(b"not a cache")
    with pytest.raises(DatasetCacheError, match="mnist-train-nocrop-28px-1ch.pt"):
        load("mnist", root=root)
    path.unlink()
    # the files it was built from changed: rebuilt, with a warning
    real_stats = data_cache._source_stats
    monkeypatch.setattr(
        data_cache,
        "_source_stats",
        lambda name, root: {f: {**v, "size": v["size"] + 1} for f, v in real_stats(name, root).items()},
    )
    load("mnist", root=root)
    monkeypatch.setattr(data_cache, "_source_stats", real_stats)
    with pytest.warns(UserWarning, match="rebuilding .*-images-idx3-ubyte is now"):
        load("mnist", root=root)
    assert load("mnist", root=root).path == path  # current again


def test_batch_sampler_and_from_dataset_on_cached_sets(fresh_root):
    root, _ = fresh_root
    with patched_md5(root):
        ds = load("celeba", root=root, value_range=(-1.0, 1.0), attribute="Male")
        lazy = load("celeba", root=root, value_range=(-1.0, 1.0), attribute="Male", cache=False)
    g = torch.Generator().manual_seed(3)
    xb, yb = batch_sampler(ds, 16)(g)
    idx = torch.randint(len(ds), (16,), generator=torch.Generator().manual_seed(3))
    assert xb.dtype == torch.float32 and xb.shape == (16, 3, 64, 64) and yb.dtype == torch.int64
    assert torch.equal(xb, torch.stack([ds[int(i)][0] for i in idx])) and torch.equal(yb, ds.y[idx])
    xl, yl = batch_sampler(lazy, 16)(torch.Generator().manual_seed(3))  # the lazy path: the same batch
    assert torch.equal(xb, xl) and torch.equal(yb, yl)
    xm, ym = batch_sampler(ds, 4, device="meta")(g)  # an accelerator keeps the uint8 images resident
    assert xm.device.type == "meta" and xm.dtype == torch.float32 and ym.device.type == "meta"
    if torch.cuda.is_available():
        xc, _ = batch_sampler(ds, 16, device="cuda")(torch.Generator().manual_seed(3))
        assert torch.equal(xc.cpu(), xb)
    sub = torch.utils.data.Subset(ds, range(4, 20))  # e.g. nif.train's split of the train set
    xs, ys = batch_sampler(sub, 8)(torch.Generator().manual_seed(1))
    j = torch.randint(16, (8,), generator=torch.Generator().manual_seed(1)) + 4
    assert torch.equal(xs, torch.stack([ds[int(i)][0] for i in j])) and torch.equal(ys, ds.y[j])
    mat = ArrayDataset.from_dataset(ds, n=6, generator=torch.Generator().manual_seed(1))
    ref = ArrayDataset.from_dataset(lazy, n=6, generator=torch.Generator().manual_seed(1))
    assert mat.x.dtype == torch.float32 and torch.equal(mat.x, ref.x) and torch.equal(mat.y, ref.y)
    assert mat.info == ds.info
    whole = ArrayDataset.from_dataset(torch.utils.data.Subset(ds, range(3)))
    assert torch.equal(whole.x, torch.stack([ds[i][0] for i in range(3)])) and torch.equal(whole.y, ds.y[:3])
    assert ArrayDataset.from_dataset(load("mnist", root=root, n=5)).x.shape == (5, 1, 28, 28)


def test_check_available(tmp_path, tv_root):
    root = tv_root[0]
    for name in ("swiss_roll", "ring8", "digits", "mnist5k"):
        check_available(name, root=tmp_path / "nowhere")  # in memory: nothing to check
    check_available("mnist", "test", root=root, size=32, classes=(1, 2))  # the files are there (md5 not checked)
    check_available("celeba", "valid", root=root, crop=128, size=128)
    check_available("cifar10", root=tmp_path, download=True)  # load will download
    with pytest.raises(DatasetNotFoundError, match=r"'cifar10' not found .*missing: data_batch_1.*download=True"):
        check_available("cifar10", root=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="missing"):
        check_available("mnist", root=tmp_path, cache=False)
    with pytest.raises(ValueError, match="unknown option 'crop' for 'mnist'"):
        check_available("mnist", root=root, crop=3)
    with pytest.raises(ValueError, match="size must be a positive int"):
        check_available("celeba", root=root, size=0)
    with pytest.raises(ValueError, match="unknown dataset"):
        check_available("imagenet")


# ----------------------------------------------------------------------------- loader API
def test_array_dataset_to_and_from_dataset(tv_root):
    ds = load("ring8", n=50)
    moved = ds.to("meta")
    assert moved.x.device.type == "meta" and moved.mixture.means.device.type == "meta"
    assert ArrayDataset.from_dataset(ds).x.shape == (50, 2)
    sub = ArrayDataset.from_dataset(ds, n=10, generator=torch.Generator().manual_seed(0))
    assert len(sub) == 10 and sub.mixture is ds.mixture
    lazy = load("mnist", "test", root=tv_root[0], size=14, cache=False)
    mat = ArrayDataset.from_dataset(lazy, n=6, generator=torch.Generator().manual_seed(1))
    again = ArrayDataset.from_dataset(lazy, n=6, generator=torch.Generator().manual_seed(1))
    assert mat.x.shape == (6, 1, 14, 14) and torch.equal(mat.x, again.x) and mat.info == lazy.info
    total = len(lazy)
    idx = torch.randperm(total, generator=torch.Generator().manual_seed(1))[:6].sort().values
    assert torch.equal(mat.x, torch.stack([lazy[int(i)][0] for i in idx])) and torch.equal(mat.y, lazy.y[idx])
    cached = ArrayDataset.from_dataset(
        load("mnist", "test", root=tv_root[0], size=14), n=6, generator=torch.Generator().manual_seed(1)
    )
    assert torch.equal(cached.x, mat.x) and torch.equal(cached.y, mat.y)
    assert ArrayDataset.from_dataset(load("swiss_roll", n=20)).y is None
    with pytest.raises(ValueError, match=rf"1\.\.{total}"):
        ArrayDataset.from_dataset(lazy, n=total + 1)


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
    lazy = load("mnist", "test", root=tv_root[0], cache=False)
    xl, yl = batch_sampler(lazy, 4, device=torch.device("meta"))(torch.Generator().manual_seed(9))
    assert xl.shape == (4, 1, 28, 28) and xl.device.type == "meta"
    xc, yc = batch_sampler(lazy, 4)(torch.Generator().manual_seed(9))
    idx = torch.randint(len(lazy), (4,), generator=torch.Generator().manual_seed(9))
    assert torch.equal(xc, torch.stack([lazy[int(i)][0] for i in idx])) and torch.equal(yc, lazy.y[idx])
    with pytest.raises(ValueError, match="batch_size"):
        batch_sampler(ds, 0)
    with pytest.raises(TypeError, match="Generator"):
        sample(None)


@pytest.mark.parametrize(
    "kwargs, match",
    [
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
    ],
)
def test_errors_name_bad_value_and_choices(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load(**kwargs)


def test_datasets_tuple_lists_every_name():
    assert set(D.DATASETS) == {
        "swiss_roll",
        "ring8",
        "grid25",
        "gaussian_mixture",
        "digits",
        "mnist5k",
        "mnist",
        "fashion_mnist",
        "cifar10",
        "celeba",
    }


def test_concurrent_loads_decode_a_missing_cache_once(md5_patched, monkeypatch):
    """torchrun ranks that all find the cache missing: one decodes, the others wait and read its file."""
    import threading

    import latentkit.data.cache as lkdata

    root, _ = md5_patched
    calls = []
    real = lkdata._build_payload

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(lkdata, "_build_payload", counted)
    results = []
    threads = [threading.Thread(target=lambda: results.append(load("mnist", root=root, size=14))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 3
    assert all(torch.equal(r[0][0], results[0][0][0]) for r in results)
