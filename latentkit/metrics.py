"""Metrics shared by the chapters: separability of codes, bits/dim, Fréchet distances, mode coverage.

* Codes: :func:`silhouette` (scikit-learn, euclidean), :func:`knn_accuracy` and
  :func:`linear_probe_accuracy` (fit on a train split, scored on a test split), and
  :func:`separability` for all three at once.
* Likelihoods: :func:`bits_per_dim` from a log-density over dequantised data.
* Sample quality: :func:`frechet_distance` between two feature sets (Heusel et al. 2017, the formula of
  FID) with a stable matrix square root. The feature extractor is either a small classifier trained on the
  same dataset (:class:`FeatureClassifier`, :func:`train_feature_classifier`,
  :func:`classifier_frechet_distance`; works offline -- call it what it is, a *classifier Fréchet distance*,
  not FID) or, when its weights are available, the Inception network of the FID
  (:func:`inception_frechet_distance`, through the maintained ``pytorch-fid`` package).
* 2-D mixtures: :func:`mode_coverage` (modes covered and share of high-quality samples, as in
  Metz et al. 2017 and Srivastava et al. 2017).
* Over seeds: :func:`seed_summary` (mean, standard error and the p-value of Student's one-sample t-test,
  :func:`student_t_p`), for the comparisons the chapters report as mean ± standard error.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentkit import _checks

__all__ = [
    "bits_per_dim",
    "silhouette",
    "knn_accuracy",
    "linear_probe_accuracy",
    "separability",
    "gaussian_statistics",
    "frechet_distance_gaussians",
    "frechet_distance",
    "FeatureClassifier",
    "train_feature_classifier",
    "extract_features",
    "classifier_frechet_distance",
    "inception_feature_extractor",
    "inception_frechet_distance",
    "mode_coverage",
    "pca_codes",
    "SeedSummary",
    "seed_summary",
    "student_t_p",
]

ArrayLike = Tensor | np.ndarray | Sequence[float]


def _np(x: ArrayLike, dtype=np.float64) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _codes(where: str, name: str, x: ArrayLike, min_n: int = 1) -> np.ndarray:
    """Codes ``(N >= min_n, ...)`` as float64, finite."""
    a = _np(x)
    if a.ndim < 1 or len(a) < min_n:
        raise _checks.error(where, name, f"an array of codes (N >= {min_n}, ...)", f"shape {a.shape}")
    _checks.finite(where, name, a)
    return a


def _probe_inputs(
    where: str, train_codes: ArrayLike, train_labels: ArrayLike, test_codes: ArrayLike, test_labels: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and test codes (float64, finite, the same features per example) and their integer labels."""
    a, b = _codes(where, "train_codes", train_codes), _codes(where, "test_codes", test_codes)
    if a.shape[1:] != b.shape[1:]:
        raise _checks.error(
            where,
            "test_codes",
            f"of shape (M, {', '.join(map(str, a.shape[1:]))}) like train_codes",
            f"shape {b.shape}",
        )
    return (
        a,
        _checks.integer_labels(where, "train_labels", train_labels, len(a)),
        b,
        _checks.integer_labels(where, "test_labels", test_labels, len(b)),
    )


# -- likelihoods ----------------------------------------------------------------------------------------
def bits_per_dim(log_density: Tensor, dims: int, n_bits: int | None = None) -> Tensor:
    """Bits per dimension ``-log p(x) / (D log 2)`` of a continuous log-density.

    Arguments:
        log_density: ``log p(x)`` in nats, any shape.
        dims: number of dimensions ``D`` of one example.
        n_bits: when the density is over data scaled so that each of the ``2^n_bits`` quantisation bins
            has width ``2^-n_bits`` (e.g. uniformly dequantised pixels in ``[0, 1)`` or ``[-1/2, 1/2)``),
            the discrete log-probability is ``log p(x) - D n_bits log 2``, i.e. ``n_bits`` is added.
            ``None``: the bins already have unit width (e.g. data in ``0 .. 255``).

    ``dims`` must be an int ``>= 1`` and ``n_bits`` ``None`` or an int ``>= 1`` (``ValueError``).

    Example:
        >>> round(float(bits_per_dim(torch.tensor(-0.5 * math.log(2 * math.pi)), dims=1)), 6)  # N(0, 1) at 0
        1.325748
    """
    _checks.integer("bits_per_dim", "dims", dims, low=1)
    if n_bits is not None:
        _checks.integer("bits_per_dim", "n_bits", n_bits, low=1)
    bpd = -log_density / (dims * math.log(2.0))
    return bpd if n_bits is None else bpd + n_bits


# -- separability of codes -----------------------------------------------------------------------------
def silhouette(codes: ArrayLike, labels: ArrayLike, sample_size: int | None = None, seed: int = 0) -> float:
    """Mean silhouette coefficient of ``codes`` grouped by ``labels`` (euclidean; -1 .. 1, higher = better
    separated classes). ``sample_size`` subsamples (with ``seed``) for large sets.

    Labels, here and in every metric of codes, are integer class indices: integer arrays, or float arrays
    whose values are integers (a fractional label is refused, never truncated); one per code. The number of
    classes must be in ``[2, N - 1]``.
    """
    from sklearn.metrics import silhouette_score

    z = _codes("silhouette", "codes", codes, min_n=3)
    y = _checks.integer_labels("silhouette", "labels", labels, len(z))
    classes = len(np.unique(y))
    if not 2 <= classes <= len(z) - 1:
        raise _checks.error("silhouette", "labels", f"of 2 to N - 1 = {len(z) - 1} classes", f"{classes}")
    if sample_size is not None:
        _checks.integer("silhouette", "sample_size", sample_size, low=2)
    return float(
        silhouette_score(z.reshape(len(z), -1), y, metric="euclidean", sample_size=sample_size, random_state=seed)
    )


def knn_accuracy(
    train_codes: ArrayLike, train_labels: ArrayLike, test_codes: ArrayLike, test_labels: ArrayLike, k: int = 5
) -> float:
    """Accuracy on the test split of a ``k``-nearest-neighbour classifier (euclidean) fit on the train split;
    ``1 <= k <= N_train``, labels as for :func:`silhouette`."""
    from sklearn.neighbors import KNeighborsClassifier

    a, ya, b, yb = _probe_inputs("knn_accuracy", train_codes, train_labels, test_codes, test_labels)
    _checks.integer("knn_accuracy", "k", k, low=1, high=len(a))
    clf = KNeighborsClassifier(n_neighbors=k).fit(a.reshape(len(a), -1), ya)
    return float(clf.score(b.reshape(len(b), -1), yb))


def linear_probe_accuracy(
    train_codes: ArrayLike,
    train_labels: ArrayLike,
    test_codes: ArrayLike,
    test_labels: ArrayLike,
    c: float = 1.0,
    max_iter: int = 2000,
) -> float:
    """Accuracy on the test split of a logistic regression (codes standardised on the train split); ``c > 0``,
    ``max_iter >= 1``, at least two classes in ``train_labels``, labels as for :func:`silhouette`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    a, ya, b, yb = _probe_inputs("linear_probe_accuracy", train_codes, train_labels, test_codes, test_labels)
    _checks.real("linear_probe_accuracy", "c", c, low=0.0, low_open=True)
    _checks.integer("linear_probe_accuracy", "max_iter", max_iter, low=1)
    if len(np.unique(ya)) < 2:
        raise _checks.error("linear_probe_accuracy", "train_labels", "of at least 2 classes", "1")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))
    clf.fit(a.reshape(len(a), -1), ya)
    return float(clf.score(b.reshape(len(b), -1), yb))


def pca_codes(train: ArrayLike, test: ArrayLike, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Examples flattened and projected to ``dim`` dimensions by a PCA fit on ``train`` (float64): the best
    linear code of that size, the baseline every learned code is compared with. ``dim`` in
    ``[1, min(N_train, features)]``; ``test`` has ``train``'s features."""
    from sklearn.decomposition import PCA

    a, b = _codes("pca_codes", "train", train), _codes("pca_codes", "test", test)
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    if a.shape[1] != b.shape[1]:
        raise _checks.error(
            "pca_codes", "test", f"of {a.shape[1]} features per example (those of train)", f"{b.shape[1]}"
        )
    _checks.integer("pca_codes", "dim", dim, low=1, high=min(a.shape))
    pca = PCA(dim, random_state=0).fit(a)
    return pca.transform(a), pca.transform(b)


def separability(
    train_codes: ArrayLike, train_labels: ArrayLike, test_codes: ArrayLike, test_labels: ArrayLike, k: int = 5
) -> dict[str, float]:
    """``{"silhouette": ..., "knn": ..., "linear": ...}``: silhouette of the test codes by class, and the
    kNN and linear-probe accuracies trained on the train codes."""
    _probe_inputs("separability", train_codes, train_labels, test_codes, test_labels)
    return {
        "silhouette": silhouette(test_codes, test_labels),
        "knn": knn_accuracy(train_codes, train_labels, test_codes, test_labels, k),
        "linear": linear_probe_accuracy(train_codes, train_labels, test_codes, test_labels),
    }


# -- Fréchet distance ------------------------------------------------------------------------------------
def gaussian_statistics(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of ``features`` ``(N, F)``, in float64; ``N >= 2``, finite."""
    f = _np(features)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"gaussian_statistics: features must be (N >= 2, F), got shape {f.shape}")
    _checks.finite("gaussian_statistics", "features", f)
    return f.mean(0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def _psd_sqrt(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The square root of a PSD matrix from its eigen-decomposition (round-off negative eigenvalues clipped)."""
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance_gaussians(mu1: ArrayLike, cov1: ArrayLike, mu2: ArrayLike, cov2: ArrayLike) -> float:
    """Fréchet (2-Wasserstein squared) distance between ``N(mu1, cov1)`` and ``N(mu2, cov2)``:

    ``||mu1 - mu2||^2 + tr(cov1) + tr(cov2) - 2 tr((cov1^1/2 cov2 cov1^1/2)^1/2)``.

    The square root is taken of the *symmetric* PSD matrix ``cov1^1/2 cov2 cov1^1/2`` by an eigenvalue
    decomposition (negative round-off eigenvalues clipped), which has the same trace as ``sqrtm(cov1 cov2)``
    but avoids the complex, ill-conditioned general square root.

    The means must be finite ``(F,)`` and the covariances finite, symmetric and positive semi-definite
    ``(F, F)`` up to round-off (relative tolerance ``1e-6`` on the asymmetry and on negative eigenvalues):
    for any other matrix the formula is no distance (``ValueError``).
    """
    where = "frechet_distance_gaussians"
    m1, m2 = np.atleast_1d(_np(mu1)), np.atleast_1d(_np(mu2))
    c1, c2 = np.atleast_2d(_np(cov1)), np.atleast_2d(_np(cov2))
    _checks.ndim(where, "mu1", m1, 1, "(F,)")
    f = m1.shape[0]
    for name, v, shape in (("mu2", m2, (f,)), ("cov1", c1, (f, f)), ("cov2", c2, (f, f))):
        if v.shape != shape:
            raise _checks.error(where, name, f"of shape {shape} (F = {f}, from mu1)", f"shape {v.shape}")
    _checks.finite(where, "mu1", m1)
    _checks.finite(where, "mu2", m2)
    s1 = _psd_sqrt(*_checks.symmetric_psd(where, "cov1", c1, vectors=True))
    _checks.symmetric_psd(where, "cov2", c2)
    m = s1 @ c2 @ s1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum()
    value = float(np.square(m1 - m2).sum() + np.trace(c1) + np.trace(c2) - 2.0 * tr_sqrt)
    return max(value, 0.0)  # a distance: only round-off (of order 1e-8 tr(cov)) can make it negative


def frechet_distance(features_a: ArrayLike, features_b: ArrayLike) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets ``(N, F)`` and ``(M, F)``."""
    stats_a, stats_b = gaussian_statistics(features_a), gaussian_statistics(features_b)
    if stats_a[0].shape != stats_b[0].shape:
        raise _checks.error(
            "frechet_distance",
            "features_b",
            f"of shape (M, {stats_a[0].shape[0]}) (F of features_a)",
            f"{stats_b[0].shape[0]} features",
        )
    return frechet_distance_gaussians(*stats_a, *stats_b)


class FeatureClassifier(nn.Module):
    """A small CNN classifier whose penultimate layer is the feature space of the classifier Fréchet distance.

    Arguments:
        in_shape: ``(C, H, W)`` of the images (in ``[0, 1]``); ``C >= 1``, ``H, W >= 2``.
        n_classes: number of classes (``>= 2``).
        feature_dim: dimension of the features (``>= 1``).
        width: channels of the first convolution (the second has twice as many; ``>= 1``).
    """

    def __init__(
        self, in_shape: tuple[int, int, int], n_classes: int = 10, feature_dim: int = 64, width: int = 32
    ) -> None:
        super().__init__()
        if (
            len(in_shape) != 3
            or not all(isinstance(v, numbers.Integral) for v in in_shape)
            or in_shape[0] < 1
            or min(in_shape[1:]) < 2
        ):
            raise _checks.error(
                "FeatureClassifier", "in_shape", "(C, H, W) of ints with C >= 1, H, W >= 2", repr(tuple(in_shape))
            )
        _checks.integer("FeatureClassifier", "n_classes", n_classes, low=2)
        _checks.integer("FeatureClassifier", "feature_dim", feature_dim, low=1)
        _checks.integer("FeatureClassifier", "width", width, low=1)
        self.in_shape = tuple(in_shape)
        c = in_shape[0]
        self.body = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(32 * width, feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, n_classes)

    def features(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"FeatureClassifier built for images of shape {self.in_shape}, got {tuple(x.shape)}")
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def train_feature_classifier(
    images: Tensor,
    labels: Tensor,
    steps: int = 400,
    batch_size: int = 128,
    lr: float = 2e-3,
    feature_dim: int = 64,
    width: int = 32,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> FeatureClassifier:
    """Train a :class:`FeatureClassifier` with Adam on ``(images, labels)`` (batches from a seeded generator,
    so the result is reproducible); returned in eval mode.

    ``images`` ``(N, C, H, W)``; ``labels`` ``N`` class indices ``>= 0`` (integer-valued floats are accepted and
    cast), at least two classes; ``steps``, ``batch_size >= 1``; ``lr > 0``.
    """
    where = "train_feature_classifier"
    if images.dim() != 4 or len(images) < 1:
        raise _checks.error(where, "images", "a batch (N >= 1, C, H, W)", f"shape {tuple(images.shape)}")
    y = _checks.integer_labels(where, "labels", labels, len(images))
    if y.min() < 0 or y.max() < 1:
        raise _checks.error(
            where, "labels", "class indices >= 0 of at least 2 classes", f"labels in [{y.min()}, {y.max()}]"
        )
    _checks.integer(where, "steps", steps, low=1)
    _checks.integer(where, "batch_size", batch_size, low=1)
    _checks.real(where, "lr", lr, low=0.0, low_open=True)
    if not (isinstance(labels, Tensor) and labels.dtype == torch.long):
        labels = torch.as_tensor(y)
    torch.manual_seed(seed)
    n_classes = int(labels.max()) + 1
    model = FeatureClassifier(tuple(images.shape[1:]), n_classes, feature_dim, width).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(images), (batch_size,), generator=gen)
        loss = F.cross_entropy(model(images[idx].to(device)), labels[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


@torch.no_grad()
def extract_features(
    extractor, images: Tensor, batch_size: int = 500, device: str | torch.device | None = None
) -> np.ndarray:
    """``extractor(batch)`` over ``images`` in batches moved to ``device`` (default: that of the extractor's
    parameters when it is a module or a bound method of one, else the CPU), as float64 numpy ``(N, F)``;
    ``N >= 1``, ``batch_size >= 1``."""
    _checks.integer("extract_features", "batch_size", batch_size, low=1)
    if len(images) < 1:
        raise _checks.error("extract_features", "images", "a non-empty batch", f"shape {tuple(images.shape)}")
    if device is None:
        owner = extractor if isinstance(extractor, nn.Module) else getattr(extractor, "__self__", None)
        params = list(owner.parameters()) if isinstance(owner, nn.Module) else []
        device = params[0].device if params else "cpu"
    out = [extractor(images[i : i + batch_size].to(device)).double().cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(out).flatten(1).numpy()


def classifier_frechet_distance(
    classifier: FeatureClassifier, real: Tensor, fake: Tensor, batch_size: int = 500
) -> float:
    """Fréchet distance between real and generated images in the feature space of ``classifier``
    (a dataset-specific stand-in for FID; values are not comparable with FID)."""
    _checks.integer("classifier_frechet_distance", "batch_size", batch_size, low=1)
    return frechet_distance(
        extract_features(classifier.features, real, batch_size), extract_features(classifier.features, fake, batch_size)
    )


def inception_feature_extractor(
    device: str | torch.device = "cpu", download: bool = False
) -> Callable[[Tensor], Tensor]:
    """The 2048-d pool features of the FID Inception network (``pytorch-fid``) as ``fn(images) -> (N, 2048)``
    for images in ``[0, 1]`` ``(N, C, H, W)`` (grey images repeated to 3 channels, resized to 299 inside).

    Needs the ``pytorch-fid`` package and its weights file in ``torch.hub.get_dir()/checkpoints``; with
    ``download=False`` (the default, for offline machines) a missing file is an error that says where to
    put it.
    """
    try:
        from pytorch_fid import inception as fid_inception
    except ImportError as err:
        raise ImportError(
            "the Inception FID needs the pytorch-fid package (pip install pytorch-fid); "
            "offline, use classifier_frechet_distance instead"
        ) from err
    url = fid_inception.FID_WEIGHTS_URL
    path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    if not path.exists() and not download:
        raise FileNotFoundError(
            f"FID Inception weights not found at {path}; download {url} there "
            "(or pass download=True on a machine with internet)"
        )
    model = fid_inception.InceptionV3([fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).to(device).eval()

    def features(x: Tensor) -> Tensor:
        x = x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x
        return model(x.float().to(device))[0].flatten(1)

    return features


def inception_frechet_distance(
    real: Tensor, fake: Tensor, batch_size: int = 50, device: str | torch.device = "cpu", download: bool = False
) -> float:
    """The Fréchet Inception Distance (Heusel et al. 2017) of images in ``[0, 1]`` through
    :func:`inception_feature_extractor`. Compare values only with FIDs computed the same way (same number
    of samples, same resizing). ``real`` and ``fake`` are ``(N >= 2, C, H, W)``, ``batch_size >= 1`` (checked
    before the network is loaded)."""
    for name, x in (("real", real), ("fake", fake)):
        if x.dim() != 4 or len(x) < 2:
            raise _checks.error(
                "inception_frechet_distance", name, "images (N >= 2, C, H, W)", f"shape {tuple(x.shape)}"
            )
    _checks.integer("inception_frechet_distance", "batch_size", batch_size, low=1)
    features = inception_feature_extractor(device, download)
    return frechet_distance(
        extract_features(features, real, batch_size, device), extract_features(features, fake, batch_size, device)
    )


# -- mode coverage -----------------------------------------------------------------------------------------
def mode_coverage(
    samples: ArrayLike, means: ArrayLike, std: float, n_std: float = 3.0, min_count: int = 1
) -> dict[str, float | int | list[int]]:
    """Mode coverage of samples from a generator trained on a Gaussian mixture (e.g. 8 on a ring).

    A sample is *high quality* when it lies within ``n_std`` standard deviations of its nearest mode; a mode
    is *covered* when at least ``min_count`` high-quality samples belong to it (Metz et al. 2017; papers
    differ in ``min_count``, so report it).

    Returns:
        ``{"modes_covered": int, "n_modes": int, "high_quality_share": float, "counts": [per mode]}``.

    Checked: ``samples`` ``(N >= 0, d)`` and ``means`` ``(K >= 1, d)`` finite, ``std > 0``, ``n_std > 0``,
    ``min_count >= 1``.
    """
    where = "mode_coverage"
    x, m = _np(samples), _np(means)
    if x.ndim != 2 or m.ndim != 2 or x.shape[1] != m.shape[1]:
        raise ValueError(f"mode_coverage: samples (N, d) and means (K, d) must share d, got {x.shape} and {m.shape}")
    if len(m) < 1:
        raise _checks.error(where, "means", "(K >= 1, d)", f"shape {m.shape}")
    _checks.finite(where, "samples", x)
    _checks.finite(where, "means", m)
    _checks.real(where, "std", std, low=0.0, low_open=True)
    _checks.real(where, "n_std", n_std, low=0.0, low_open=True)
    _checks.integer(where, "min_count", min_count, low=1)
    d = np.sqrt(((x[:, None, :] - m[None, :, :]) ** 2).sum(-1))
    nearest = d.argmin(1)
    good = d[np.arange(len(x)), nearest] <= n_std * std
    counts = np.bincount(nearest[good], minlength=len(m))
    return {
        "modes_covered": int((counts >= min_count).sum()),
        "n_modes": int(len(m)),
        "high_quality_share": float(good.mean()) if len(x) else 0.0,
        "counts": counts.tolist(),
    }


# -- over seeds ---------------------------------------------------------------------------------------------
def student_t_p(t: float, df: int) -> float:
    """Two-sided p-value ``P(|T| >= |t|)`` of Student's t with ``df`` (a positive integer) degrees of freedom.

    The closed forms of Abramowitz and Stegun 26.7.3-26.7.4 for ``A(t | df) = P(|T| < t)``, with
    ``theta = atan(t / sqrt(df))``: ``df = 1``: ``2 theta / pi``; odd ``df``: ``2/pi (theta + sin cos (1 +
    2/3 cos^2 + ... + (2 4 ... (df-3)) / (1 3 ... (df-2)) cos^(df-3)))``; even ``df``: ``sin (1 + 1/2 cos^2 +
    ... + (1 3 ... (df-3)) / (2 4 ... (df-2)) cos^(df-2))``.

    Example:
        >>> round(student_t_p(4.302653, 2), 6)  # the 5 % critical value of 2 degrees of freedom
        0.05
    """
    if df < 1 or int(df) != df:
        raise ValueError(f"df must be a positive integer, got {df}")
    df = int(df)
    theta = math.atan(abs(t) / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    if df % 2:
        term, total = 1.0, 1.0 if df > 1 else 0.0
        for k in range(3, df - 1, 2):  # (2 4 ... (k-1)) / (1 3 ... k) cos^(k-1): k = 3, 5, ..., df - 2
            term *= (k - 1) / k * c2
            total += term
        inside = 2 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)
    else:
        term, total = 1.0, 1.0
        for k in range(2, df - 1, 2):  # (1 3 ... (k-1)) / (2 4 ... k) cos^k: k = 2, 4, ..., df - 2
            term *= (k - 1) / k * c2
            total += term
        inside = math.sin(theta) * total
    return min(1.0, max(0.0, 1.0 - inside))


@dataclass(frozen=True)
class SeedSummary:
    """A measure over ``n`` seeds: its mean, standard error and the two-sided p-value of the t-test of
    ``mean == reference`` (``nan`` for ``n < 2``)."""

    mean: float
    se: float
    n: int
    reference: float
    p: float

    def significant(self, level: float = 0.05) -> bool:
        """Whether the mean differs from the reference at ``level`` (never for fewer than two seeds)."""
        return self.n >= 2 and self.p < level


def seed_summary(values: Sequence[float], reference: float = 0.0) -> SeedSummary:
    """Mean and standard error ``s / sqrt(n)`` of ``values`` (one per seed) and the p-value of Student's
    one-sample two-sided t-test of ``mean == reference``, ``t = (mean - reference) / se`` with ``n - 1``
    degrees of freedom (:func:`student_t_p`).

    Example:
        >>> s = seed_summary([1.2, 1.4, 1.3], reference=1.0)
        >>> round(s.mean, 3), round(s.se, 3), round(s.p, 3), s.significant()
        (1.3, 0.058, 0.035, True)
    """
    x = [float(v) for v in values]
    n = len(x)
    if n == 0:
        raise ValueError("seed_summary needs at least one value")
    mean = sum(x) / n
    if n < 2:
        return SeedSummary(mean, math.nan, n, reference, math.nan)
    se = math.sqrt(sum((v - mean) ** 2 for v in x) / (n - 1) / n)
    if se == 0:
        p = 1.0 if mean == reference else 0.0
    else:
        p = student_t_p((mean - reference) / se, n - 1)
    return SeedSummary(mean, se, n, reference, p)
