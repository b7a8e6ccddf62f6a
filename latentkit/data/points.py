"""The synthetic point sets of :data:`latentkit.data.POINT_SETS`: ``swiss_roll`` (scikit-learn's), ``ring8``,
``grid25`` and ``gaussian_mixture`` (draws of a :class:`~latentkit.data.GaussianMixture`, which they carry as
``.mixture``). Each split is its own draw from ``seed``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from latentkit import _checks
from latentkit.data.arrays import ArrayDataset
from latentkit.data.base import DatasetInfo, _derive_seed, _select_classes
from latentkit.data.mixture import GaussianMixture

_SYNTHETIC_N = {"train": 10_000, "test": 2_000}  # default number of points per split
_OPTIONS: dict[str, dict[str, Any]] = {  # each point set's options and their defaults
    "swiss_roll": {"noise": 0.5, "scale": 1.0},
    "ring8": {"radius": 2.0, "std": 0.02},
    "grid25": {"spacing": 2.0, "std": 0.05},
    "gaussian_mixture": {"mixture": None, "means": None, "stds": None, "weights": None},
}


def _points(
    name: str, split: str, n: int | None, classes: Sequence[int] | None, seed: int, opts: dict[str, Any]
) -> ArrayDataset:
    n = _SYNTHETIC_N[split] if n is None else n
    g_seed = _derive_seed(seed, split)
    if name == "swiss_roll":
        from sklearn.datasets import make_swiss_roll

        if classes is not None:
            raise ValueError("'swiss_roll' has no labels, so classes must be None")
        _checks.real("load('swiss_roll')", "noise", opts["noise"], low=0.0)
        _checks.real("load('swiss_roll')", "scale", opts["scale"], low=0.0, low_open=True)
        xyz, t = make_swiss_roll(n, noise=opts["noise"], random_state=np.random.RandomState(g_seed))
        x = torch.as_tensor(xyz[:, [0, 2]] * opts["scale"], dtype=torch.float32)
        info = DatasetInfo(name, split, (2,), None, None, None)
        return ArrayDataset(x, None, info, t=torch.as_tensor(t, dtype=torch.float32))
    if name == "ring8":
        mix = GaussianMixture.ring(8, radius=opts["radius"], std=opts["std"])
    elif name == "grid25":
        mix = GaussianMixture.grid(5, spacing=opts["spacing"], std=opts["std"])
    elif opts["mixture"] is not None:
        if opts["means"] is not None:
            raise ValueError("give either mixture= or means=/stds=/weights=, not both")
        mix = opts["mixture"]
        if not isinstance(mix, GaussianMixture):
            raise _checks.error(
                "load('gaussian_mixture')", "mixture", "a latentkit.data.GaussianMixture", type(mix).__name__
            )
    else:
        if opts["means"] is None or opts["stds"] is None:
            raise ValueError("'gaussian_mixture' needs mixture=GaussianMixture(...) or means= and stds=")
        mix = GaussianMixture(opts["means"], opts["stds"], opts["weights"])
    _, _, kept = _select_classes(name, torch.zeros(0, dtype=torch.int64), range(mix.num_components), classes)
    mix = mix.subset(kept) if classes is not None else mix
    x, y = mix._draw(n, torch.Generator(mix.means.device).manual_seed(g_seed))  # points and components
    info = DatasetInfo(name, split, mix.event_shape, None, len(kept), kept)
    return ArrayDataset(x.to(torch.float32), y, info, mixture=mix)
