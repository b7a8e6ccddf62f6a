"""latentkit.metrics against closed forms and obvious cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from latentkit import data, metrics

torch.set_num_threads(1)


def test_bits_per_dim_of_a_unit_gaussian_matches_the_hand_value():
    d = 4
    x = torch.tensor([[0.0, 1.0, -1.0, 2.0]])
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(-1)
    # by hand: (d/2 log 2 pi + |x|^2 / 2) / (d log 2) = (2 log 2 pi + 3) / (4 log 2)
    hand = (2 * math.log(2 * math.pi) + 3.0) / (4 * math.log(2))
    assert float(metrics.bits_per_dim(log_p, d)) == pytest.approx(hand, rel=1e-6)
    assert float(metrics.bits_per_dim(log_p, d, n_bits=3)) == pytest.approx(hand + 3, rel=1e-6)
    # a uniform density on [0, 1)^d of 8-bit data is exactly 8 bits/dim
    assert float(metrics.bits_per_dim(torch.tensor(0.0), 10, n_bits=8)) == 8.0


def _random_cov(rng: np.random.Generator, n: int) -> np.ndarray:
    m = rng.normal(size=(n, n))
    return m @ m.T + 0.1 * np.eye(n)


def test_frechet_distance_of_gaussians_closed_forms():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    a, b = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)
    # commuting (diagonal) covariances: ||mu1 - mu2||^2 + sum (sqrt(a) - sqrt(b))^2
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert metrics.frechet_distance_gaussians(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)
    # general covariances: against scipy's sqrtm of cov1 cov2
    c1, c2 = _random_cov(rng, 6), _random_cov(rng, 6)
    m1, m2 = rng.normal(size=6), rng.normal(size=6)
    ref = np.sum((m1 - m2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * np.trace(scipy.linalg.sqrtm(c1 @ c2)).real
    got = metrics.frechet_distance_gaussians(m1, c1, m2, c2)
    assert got == pytest.approx(ref, rel=1e-8)
    assert metrics.frechet_distance_gaussians(m2, c2, m1, c1) == pytest.approx(got, rel=1e-8)
    assert metrics.frechet_distance_gaussians(m1, c1, m1, c1) == pytest.approx(0.0, abs=1e-9)
    # singular (rank-deficient) covariances stay finite and non-negative
    low = np.outer(m1, m1)
    assert 0.0 <= metrics.frechet_distance_gaussians(m1, low, m1, low) < 1e-6


def test_frechet_distance_of_samples_approaches_the_gaussian_value():
    rng = np.random.default_rng(1)
    c1, c2 = _random_cov(rng, 3), _random_cov(rng, 3)
    x = rng.multivariate_normal(np.zeros(3), c1, size=200_000)
    y = rng.multivariate_normal(np.ones(3), c2, size=200_000)
    exact = metrics.frechet_distance_gaussians(np.zeros(3), c1, np.ones(3), c2)
    assert metrics.frechet_distance(x, y) == pytest.approx(exact, rel=0.02)
    with pytest.raises(ValueError, match="features must be"):
        metrics.frechet_distance(np.zeros(3), y)


def test_separability_metrics_on_separated_and_random_codes():
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(4), 50)
    centres = 10 * rng.normal(size=(4, 8))
    codes = centres[labels] + rng.normal(size=(200, 8))
    assert metrics.silhouette(codes, labels) > 0.7
    assert metrics.knn_accuracy(codes[::2], labels[::2], codes[1::2], labels[1::2]) == 1.0
    assert metrics.linear_probe_accuracy(codes[::2], labels[::2], codes[1::2], labels[1::2]) == 1.0
    noise = rng.normal(size=(200, 8))
    assert abs(metrics.silhouette(noise, labels)) < 0.1
    sep = metrics.separability(noise[::2], labels[::2], noise[1::2], labels[1::2])
    assert set(sep) == {"silhouette", "knn", "linear"} and sep["knn"] < 0.5


def test_feature_classifier_and_its_frechet_distance():
    train, test = data.load("digits", "train"), data.load("digits", "test")
    clf = metrics.train_feature_classifier(train.x, train.y, steps=150, batch_size=64, width=8, feature_dim=32)
    with torch.no_grad():
        accuracy = (clf(test.x).argmax(1) == test.y).float().mean()
    assert accuracy > 0.8
    same = metrics.classifier_frechet_distance(clf, train.x[:300], test.x[:300])
    noise = metrics.classifier_frechet_distance(clf, train.x[:300], torch.rand(300, 1, 8, 8))
    assert 0 <= same < noise / 5
    with pytest.raises(ValueError, match="built for images of shape"):
        clf.features(torch.zeros(2, 1, 9, 9))


def test_inception_fid_says_what_is_missing():
    try:
        value = metrics.inception_frechet_distance(torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8))
    except ImportError as err:
        assert "pytorch-fid" in str(err)
    except FileNotFoundError as err:
        assert "FID Inception weights" in str(err)
    else:  # weights available: a number
        assert math.isfinite(value)


def test_mode_coverage_on_ring8():
    ring = data.load("ring8", n=2000)
    means, std = ring.mixture.means, float(ring.mixture.stds[0])
    full = metrics.mode_coverage(ring.x, means, std)
    assert full["modes_covered"] == 8 and full["n_modes"] == 8 and full["high_quality_share"] > 0.98
    collapsed = ring.x[ring.y < 3]
    part = metrics.mode_coverage(collapsed, means, std)
    assert part["modes_covered"] == 3 and sum(part["counts"]) == pytest.approx(len(collapsed), abs=10)
    far = metrics.mode_coverage(torch.full((10, 2), 100.0), means, std)
    assert far["modes_covered"] == 0 and far["high_quality_share"] == 0.0
    assert metrics.mode_coverage(ring.x[:20], means, std, min_count=50)["modes_covered"] == 0
