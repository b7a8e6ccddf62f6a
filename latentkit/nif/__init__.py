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

# Each module's __all__ is its public API; the package re-exports all of it.
from latentkit.nif import coupling, flows, gaussian, models, upsample
from latentkit.nif.coupling import *  # noqa: F403
from latentkit.nif.flows import *  # noqa: F403
from latentkit.nif.gaussian import *  # noqa: F403
from latentkit.nif.models import *  # noqa: F403
from latentkit.nif.upsample import *  # noqa: F403

__all__ = list(
    dict.fromkeys([*coupling.__all__, *flows.__all__, *gaussian.__all__, *models.__all__, *upsample.__all__])
)
