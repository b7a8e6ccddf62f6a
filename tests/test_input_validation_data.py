"""Bad input to the public data functions (latentkit.data, the mixture of latentkit.score.exact, latentkit.viz's
grid) is refused with a ``ValueError`` naming the argument; one control per function shows good input passes.

Each case is ``(function, bad input)``: a callable that makes the one bad call, and the name the message must
hold. Nothing here needs the torchvision files: every bad call fails before a file is opened.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from latentkit import viz
from latentkit.data import ArrayDataset, GaussianMixture, batch_sampler, build_cache, check_available, load
from latentkit.score.exact import MixtureMarginals

F64 = torch.float64
MEANS = torch.tensor([[0.0, 0.0], [3.0, 1.0]])


def _mix(**kw) -> GaussianMixture:
    return GaussianMixture(**{"means": MEANS, "stds": torch.tensor([0.5, 1.0]), "weights": None, **kw})


def _ring() -> GaussianMixture:
    return GaussianMixture.ring(4)


X = torch.zeros(5, 2)
EMPTY = ArrayDataset(torch.zeros(0, 2))
SMALL = ArrayDataset(torch.zeros(10, 2))

BAD: dict[str, tuple] = {  # id: (call, argument name the message must hold)
    # GaussianMixture(means, stds, weights, event_shape)
    "mixture-means-nan": (lambda: _mix(means=torch.tensor([[0.0, math.nan], [1.0, 1.0]])), "means"),
    "mixture-means-inf": (lambda: _mix(means=torch.tensor([[0.0, math.inf], [1.0, 1.0]])), "means"),
    "mixture-means-1d": (lambda: _mix(means=torch.zeros(2), stds=torch.ones(2)), "means"),
    "mixture-means-no-components": (lambda: _mix(means=torch.zeros(0, 2), stds=torch.ones(0)), "means"),
    "mixture-stds-nan": (lambda: _mix(stds=torch.tensor([0.5, math.nan])), "stds"),
    "mixture-stds-inf": (lambda: _mix(stds=torch.tensor([math.inf, 0.5])), "stds"),
    "mixture-stds-negative": (lambda: _mix(stds=torch.tensor([0.5, -1.0])), "stds"),
    "mixture-stds-shape": (lambda: _mix(stds=torch.ones(3)), "stds"),
    "mixture-weights-nan": (lambda: _mix(weights=torch.tensor([math.nan, 0.5])), "weights"),
    "mixture-weights-negative": (lambda: _mix(weights=torch.tensor([1.5, -0.5])), "weights"),
    "mixture-weights-sum": (lambda: _mix(weights=torch.tensor([0.5, 0.6])), "weights"),
    "mixture-weights-shape": (lambda: _mix(weights=torch.ones(3) / 3), "weights"),
    "mixture-event-shape": (lambda: _mix(event_shape=(3,)), "event_shape"),
    # GaussianMixture.ring / .grid / .subset
    "ring-k-zero": (lambda: GaussianMixture.ring(0), "k"),
    "ring-k-float": (lambda: GaussianMixture.ring(2.5), "k"),
    "ring-radius-negative": (lambda: GaussianMixture.ring(radius=-1.0), "radius"),
    "ring-std-zero": (lambda: GaussianMixture.ring(std=0.0), "std"),
    "ring-std-nan": (lambda: GaussianMixture.ring(std=math.nan), "std"),
    "grid-side-zero": (lambda: GaussianMixture.grid(0), "side"),
    "grid-spacing-zero": (lambda: GaussianMixture.grid(spacing=0.0), "spacing"),
    "grid-std-negative": (lambda: GaussianMixture.grid(std=-0.1), "std"),
    "subset-empty": (lambda: _ring().subset([]), "components"),
    "subset-out-of-range": (lambda: _ring().subset([1, 4]), "components"),
    "subset-negative": (lambda: _ring().subset([-1]), "components"),
    # GaussianMixture.sample
    "sample-n-zero": (lambda: _ring().sample(0), "n"),
    "sample-n-negative": (lambda: _ring().sample(-3), "n"),
    "sample-n-float": (lambda: _ring().sample(2.5), "n"),
    "sample-n-bool": (lambda: _ring().sample(True), "n"),
    # the density under a kernel of std `std`
    "log_prob-std-negative": (lambda: _mix().log_prob(X, -0.1), "std"),
    "log_prob-std-nan": (lambda: _mix().log_prob(X, math.nan), "std"),
    "log_prob-std-shape": (lambda: _mix().log_prob(X, torch.ones(4)), "std"),
    "log_prob-x-shape": (lambda: _mix().log_prob(torch.zeros(5, 3)), "x"),
    "log_prob-point-masses-std-zero": (lambda: GaussianMixture.empirical(MEANS).log_prob(X, 0.0), "std"),
    "score-std-negative": (lambda: _mix().score(X, torch.tensor(-1.0)), "std"),
    "score-std-inf": (lambda: _mix().score(X, math.inf), "std"),
    "score-one-std-negative": (lambda: _mix().score(X, torch.tensor([1.0, 1.0, -1.0, 1.0, 1.0])), "std"),
    "denoise-std-negative": (lambda: _mix().denoise(X, -1.0), "std"),
    "responsibilities-x-shape": (lambda: _mix().responsibilities(torch.zeros(2)[None, None, :1]), "x"),
    # MixtureMarginals (the same class under score matching's conventions)
    "marginals-stds-negative": (lambda: MixtureMarginals(MEANS, stds=-0.5), "stds"),
    "marginals-weights-negative": (lambda: MixtureMarginals(MEANS, weights=torch.tensor([2.0, -1.0])), "weights"),
    "marginals-weights-zero": (lambda: MixtureMarginals(MEANS, weights=torch.zeros(2)), "weights"),
    "marginals-sample-n-zero": (lambda: MixtureMarginals(MEANS, 0.1).sample(0), "n"),
    "marginals-score-std-negative": (lambda: MixtureMarginals(MEANS, 0.1).score(X, -1.0), "std"),
    # load
    "load-name": (lambda: load("nope"), "dataset"),
    "load-split": (lambda: load("ring8", "val"), "split"),
    "load-n-zero": (lambda: load("ring8", n=0), "n"),
    "load-n-negative": (lambda: load("digits", n=-1), "n"),
    "load-n-float": (lambda: load("ring8", n=2.5), "n"),
    "load-n-bool": (lambda: load("ring8", n=True), "n"),
    "load-size-zero": (lambda: load("digits", size=0), "size"),
    "load-size-negative": (lambda: load("digits", size=-2), "size"),
    "load-size-bool": (lambda: load("digits", size=True), "size"),
    "load-channels": (lambda: load("digits", channels=2), "channels"),
    "load-channels-bool": (lambda: load("digits", channels=True), "channels"),
    "load-value-range-order": (lambda: load("digits", value_range=(1.0, 0.0)), "value_range"),
    "load-value-range-nan": (lambda: load("digits", value_range=(0.0, math.nan)), "value_range"),
    "load-value-range-scalar": (lambda: load("digits", value_range=5.0), "value_range"),
    "load-value-range-points": (lambda: load("ring8", value_range=(-1, 1)), "value_range"),
    "load-seed-negative": (lambda: load("ring8", seed=-1), "seed"),
    "load-seed-float": (lambda: load("ring8", seed=1.5), "seed"),
    "load-cache": (lambda: load("digits", cache="yes"), "cache"),
    "load-download": (lambda: load("digits", download="no"), "download"),
    "load-classes-repeat": (lambda: load("digits", classes=(1, 1)), "classes"),
    "load-classes-empty": (lambda: load("digits", classes=()), "classes"),
    "load-classes-float": (lambda: load("digits", classes=(1.5,)), "classes"),
    "load-classes-int": (lambda: load("digits", classes=3), "classes"),
    "load-classes-absent": (lambda: load("ring8", classes=(8,)), "class"),
    "load-option-unknown": (lambda: load("ring8", sigma=1.0), "option"),
    "load-ring8-std": (lambda: load("ring8", std=-0.1), "std"),
    "load-ring8-radius": (lambda: load("ring8", radius=math.nan), "radius"),
    "load-grid25-spacing": (lambda: load("grid25", spacing=0.0), "spacing"),
    "load-swiss-roll-noise": (lambda: load("swiss_roll", noise=-1.0), "noise"),
    "load-swiss-roll-scale": (lambda: load("swiss_roll", scale=0.0), "scale"),
    "load-mixture-type": (lambda: load("gaussian_mixture", mixture="ring"), "mixture"),
    "load-mixture-means": (lambda: load("gaussian_mixture", means=[[0.0, math.nan]], stds=1.0), "means"),
    "load-mixture-stds": (lambda: load("gaussian_mixture", means=[[0.0, 0.0]], stds=-1.0), "stds"),
    "load-mixture-weights": (
        lambda: load("gaussian_mixture", means=[[0.0], [1.0]], stds=1.0, weights=[1.0, 1.0]),
        "weights",
    ),
    "load-celeba-crop": (lambda: load("celeba", root="/nonexistent", crop=0), "crop"),
    # build_cache, check_available
    "build_cache-name": (lambda: build_cache("digits", root="/nonexistent"), "name"),
    "build_cache-workers": (lambda: build_cache("mnist", root="/nonexistent", workers=-1), "workers"),
    "build_cache-size": (lambda: build_cache("mnist", root="/nonexistent", size=0), "size"),
    "check_available-n": (lambda: check_available("mnist", root="/nonexistent", n=0), "n"),
    "check_available-split": (lambda: check_available("mnist", "valid", root="/nonexistent"), "split"),
    # batch_sampler, ArrayDataset
    "batch_sampler-batch-size-zero": (lambda: batch_sampler(SMALL, 0), "batch_size"),
    "batch_sampler-batch-size-float": (lambda: batch_sampler(SMALL, 2.5), "batch_size"),
    "batch_sampler-batch-size-bool": (lambda: batch_sampler(SMALL, True), "batch_size"),
    "batch_sampler-empty": (lambda: batch_sampler(EMPTY, 4), "dataset"),
    "ArrayDataset-y": (lambda: ArrayDataset(torch.zeros(4, 2), torch.zeros(3)), "y"),
    "ArrayDataset-t": (lambda: ArrayDataset(torch.zeros(4, 2), t=torch.zeros(5)), "t"),
    "from_dataset-n-zero": (lambda: ArrayDataset.from_dataset(SMALL, 0), "n"),
    "from_dataset-n-large": (lambda: ArrayDataset.from_dataset(SMALL, 11), "n"),
    "from_dataset-n-float": (lambda: ArrayDataset.from_dataset(SMALL, 2.5), "n"),
    # viz.image_grid
    "image_grid-images": (lambda: viz.image_grid(torch.zeros(2, 8, 8)), "images"),
    "image_grid-images-empty": (lambda: viz.image_grid(torch.zeros(0, 1, 8, 8)), "images"),
    "image_grid-nrow": (lambda: viz.image_grid(torch.zeros(2, 1, 8, 8), nrow=0), "nrow"),
    "image_grid-padding": (lambda: viz.image_grid(torch.zeros(2, 1, 8, 8), padding=-1), "padding"),
    "image_grid-value-range": (lambda: viz.image_grid(torch.zeros(2, 1, 8, 8), value_range=(1.0, 0.0)), "value_range"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_is_refused_naming_the_argument(case):
    call, name = BAD[case]
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call()


# ----------------------------------------------------------------------------- controls: good input passes
def test_controls_gaussian_mixture():
    mix = _mix(weights=torch.tensor([0.25, 0.75]))
    assert mix.num_components == 2 and mix.event_shape == (2,)
    point_masses = GaussianMixture(MEANS, 0.0)  # std 0: point masses (an empirical distribution)
    assert torch.isfinite(point_masses.log_prob(X, 0.5)).all()
    images = GaussianMixture(torch.rand(3, 1, 2, 2), 0.1)
    assert images.means.shape == (3, 4) and images.event_shape == (1, 2, 2)
    assert GaussianMixture.ring(3, radius=1.0, std=0.1).num_components == 3
    assert GaussianMixture.grid(2, spacing=1.0, std=0.1).num_components == 4
    assert _ring().subset([3, 0]).num_components == 2


def test_controls_sample_and_density():
    x, labels = _ring().sample(3, torch.Generator().manual_seed(0))
    assert x.shape == (3, 2) and labels.shape == (3,)
    mix = _mix()
    assert mix.log_prob(X).shape == (5,) and mix.log_prob(X, 0.0).shape == (5,)
    assert mix.log_prob(X.reshape(5, 1, 2), torch.full((5, 1), 0.3)).shape == (5, 1)
    assert mix.score(X, torch.full((5,), 0.2, dtype=F64)).shape == X.shape
    assert mix.denoise(X, 1.0).dtype == F64 and mix.responsibilities(X, 1.0).shape == (5, 2)
    marginals = MixtureMarginals(MEANS, stds=0.1, weights=torch.tensor([2.0, 6.0]))  # weights normalised here
    torch.testing.assert_close(marginals.weights, torch.tensor([0.25, 0.75], dtype=F64))
    assert marginals.sample(4, generator=torch.Generator().manual_seed(1)).shape == (4, 2)
    assert marginals.score(X, 0.0).shape == X.shape


def test_controls_load():
    assert len(load("ring8", "test", n=5, seed=3, classes=(1, 2), std=0.1, radius=1.0)) == 5
    assert len(load("grid25", n=4, spacing=1.0)) == 4 and len(load("swiss_roll", n=3, noise=0.0)) == 3
    assert len(load("gaussian_mixture", n=2, mixture=_ring())) == 2
    assert len(load("gaussian_mixture", n=2, means=[[0.0], [1.0]], stds=[1.0, 0.5], weights=[0.5, 0.5])) == 2
    ds = load("digits", "test", n=7, size=4, channels=3, value_range=(-1, 1), classes=[np.int64(3), 1], cache=True)
    assert ds.x.shape == (7, 3, 4, 4)


def test_controls_build_cache_and_check_available():
    check_available("ring8", n=10)
    check_available("mnist", root="/nonexistent", download=True)  # nothing to check: it would be downloaded
    with pytest.raises(FileNotFoundError):  # valid arguments reach the file check
        build_cache("mnist", root="/nonexistent", workers=0, size=14)


def test_controls_batch_sampler_and_array_dataset():
    xb, yb = batch_sampler(SMALL, 4)(torch.Generator().manual_seed(0))
    assert xb.shape == (4, 2) and bool((yb == -1).all())
    assert len(ArrayDataset(torch.zeros(4, 2), torch.zeros(4), t=torch.zeros(4))) == 4
    assert len(ArrayDataset.from_dataset(SMALL, 10)) == 10


def test_controls_image_grid():
    assert viz.image_grid(torch.zeros(2, 1, 8, 8), nrow=1, padding=0, value_range=(-1.0, 1.0)).shape == (16, 8, 1)
