"""Noisy injective flows (Cunningham, Agrawal, Zabounidis, Fiterau & Sheldon, "Normalizing Flows Across
Dimensions", 2020): flows whose latent space is lower-dimensional than the data, with a stochastic inverse.

* :mod:`~latentkit.nif.gaussian` -- the Gaussian NIF layer in closed form (eqs. 11-13, 58);
* :mod:`~latentkit.nif.upsample` -- the nearest-neighbour upsampling NIF, ``O(dim_z)`` (section 4.1);
* :mod:`~latentkit.nif.coupling` -- stochastic coupling (section 4.2);
* :mod:`~latentkit.nif.flows` -- Glow-style flow layers and the multiscale flow;
* :mod:`~latentkit.nif.models` -- NF baseline, NIF (section 4.3) and deep NIF (appendix B.4);
* :mod:`~latentkit.nif.train` -- the config, data splits, training on the engine, the preset entry points;
* :mod:`~latentkit.nif.evaluate` -- bits/dim, samples over ``s`` and ``t``, Fréchet distance vs ``s``, embeddings.
"""

from latentkit.nif.coupling import StochasticCoupling
from latentkit.nif.flows import (
    ActNorm,
    AffineCoupling,
    Flow,
    FlowSequence,
    InvConv1x1,
    MultiscaleFlow,
    Reverse,
    Squeeze,
    glow_step,
)
from latentkit.nif.gaussian import GaussianNIF, LinearGaussianNIF, nif_terms
from latentkit.nif.models import (
    DeepNIFPrior,
    FlowModel,
    NIFPrior,
    UnitGaussianPrior,
    bin_centres,
    build_model,
    dequantize,
    quantize,
    to_image,
)
from latentkit.nif.upsample import UpsampleNIF, upsampling_matrix

__all__ = [
    "GaussianNIF",
    "LinearGaussianNIF",
    "nif_terms",
    "UpsampleNIF",
    "upsampling_matrix",
    "StochasticCoupling",
    "Flow",
    "ActNorm",
    "InvConv1x1",
    "AffineCoupling",
    "Reverse",
    "Squeeze",
    "FlowSequence",
    "glow_step",
    "MultiscaleFlow",
    "FlowModel",
    "UnitGaussianPrior",
    "NIFPrior",
    "DeepNIFPrior",
    "build_model",
    "dequantize",
    "quantize",
    "bin_centres",
    "to_image",
]
