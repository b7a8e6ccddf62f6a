"""Evaluating NFs and NIFs: bits/dim, samples over ``s`` and ``t``, the Fréchet-distance-vs-``s`` curve
and embeddings by the stochastic inverse (section 5 of the paper).

Everything takes explicit seeds, runs in batches on the model's device without gradients and returns
CPU tensors or floats, so that a chapter prints the same numbers on every run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from latentkit.engine import module_device
from latentkit.metrics import (
    bits_per_dim,
    extract_features,
    frechet_distance,
    inception_feature_extractor,
    train_feature_classifier,
)
from latentkit.nif.models import FlowModel, bin_centres, dequantize

__all__ = [
    "evaluate_bits_per_dim",
    "sample_images",
    "decode_images",
    "embed_images",
    "feature_extractor",
    "frechet_vs_s",
    "choose_s",
]


@torch.no_grad()
def evaluate_bits_per_dim(model: FlowModel, images: Tensor, seed: int = 0, batch_size: int = 500) -> float:
    """Mean bits/dim of ``images`` in ``[0, 1]`` (one dequantisation drawn from ``seed``)."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    total = 0.0
    for i in range(0, len(images), batch_size):
        x = dequantize(images[i : i + batch_size], model.n_bits, g)
        torch.manual_seed(seed + i)  # the deep NIF's bound draws z ~ q(z|x) from the global generator
        logp = model.log_prob(x.to(module_device(model))).double().cpu()
        total += float(bits_per_dim(logp, math.prod(model.image_shape), model.n_bits).sum())
    return total / len(images)


@torch.no_grad()
def sample_images(
    model: FlowModel, n: int, s: float = 1.0, t: float = 1.0, seed: int = 0, batch_size: int = 500
) -> Tensor:
    """``n`` samples in ``[0, 1]`` at noise scale ``s`` and temperature ``t``, drawn from ``seed``."""
    model.eval()
    g = torch.Generator(module_device(model)).manual_seed(seed)
    out = [model.sample(min(batch_size, n - i), s, t, g).cpu() for i in range(0, n, batch_size)]
    return torch.cat(out)


@torch.no_grad()
def decode_images(model: FlowModel, z: Tensor, s: float = 1.0, seed: int = 0, batch_size: int = 500) -> Tensor:
    """Images of latents ``z`` at noise scale ``s`` (the same ``seed`` gives the same noise direction
    for every ``s``: figure 6's walk away from the manifold)."""
    model.eval()
    g = torch.Generator(module_device(model)).manual_seed(seed)
    z = z.to(module_device(model))
    return torch.cat([model.decode(z[i : i + batch_size], s, g).cpu() for i in range(0, len(z), batch_size)])


@torch.no_grad()
def embed_images(model: FlowModel, images: Tensor, batch_size: int = 500) -> Tensor:
    """Codes of ``images``: the stochastic inverse's mean ``z+`` (NIF) or the flow's output (NF)."""
    model.eval()
    dev = module_device(model)
    return torch.cat([model.embed(images[i : i + batch_size].to(dev)).cpu() for i in range(0, len(images), batch_size)])


def feature_extractor(
    kind: str,
    train_images: Tensor,
    train_labels: Tensor | None,
    n_bits: int,
    classifier_steps: int = 300,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> tuple[str, Callable[[Tensor], Tensor]]:
    """The feature space of the Fréchet distance, as ``(name, features)``.

    ``kind``: ``"classifier"`` trains a :class:`~latentkit.metrics.FeatureClassifier` on the training images
    quantised to ``n_bits`` (bin centres, as the samples are); ``"inception"`` is the FID's Inception
    network (needs ``pytorch-fid`` and its weights); ``"auto"`` is Inception when available, else the
    classifier. ``name`` says which one was used ("classifier Fréchet distance" or "FID").
    """
    if kind not in ("classifier", "inception", "auto"):
        raise ValueError(f"unknown feature space {kind!r}; valid: 'classifier', 'inception', 'auto'")
    if kind in ("inception", "auto"):
        try:
            return "FID", inception_feature_extractor(device)
        except (ImportError, FileNotFoundError) as err:
            if kind == "inception":
                raise
            print(f"Inception FID unavailable ({err}); using the classifier Fréchet distance instead")
    if train_labels is None or int(train_labels.min()) < 0:
        raise ValueError("the classifier Fréchet distance needs labelled training images")
    classifier = train_feature_classifier(
        bin_centres(train_images, n_bits), train_labels, steps=classifier_steps, seed=seed, device=device
    )
    return "classifier Fréchet distance", classifier.features


def frechet_vs_s(
    model: FlowModel,
    features: Callable[[Tensor], Tensor],
    reference: Tensor,
    s_values: Sequence[float],
    n: int = 1000,
    t: float = 1.0,
    seed: int = 0,
    batch_size: int = 500,
) -> list[float]:
    """Fréchet distance between ``reference`` images (quantised to the model's bits, like the samples) and
    ``n`` samples at each ``s``, with the same latents and noise directions for every ``s``: figure 7."""
    device = module_device(model)
    ref = extract_features(features, bin_centres(reference, model.n_bits), batch_size, device)
    out = []
    for s in s_values:
        fake = sample_images(model, n, s, t, seed, batch_size)
        out.append(frechet_distance(ref, extract_features(features, fake, batch_size, device)))
    return out


def choose_s(s_values: Sequence[float], distances: Sequence[float]) -> float:
    """The ``s`` with the smallest distance (ties: the smaller ``s``)."""
    best = min(range(len(s_values)), key=lambda i: (distances[i], s_values[i]))
    return float(s_values[best])
