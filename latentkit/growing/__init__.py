"""Latent space growing of GANs (Sandström, thesis; sections 6-7 and 9).

* :mod:`~latentkit.growing.losses` -- non-saturating GAN (eqs. 6, 8) and WGAN-GP (eqs. 13, 14);
* :mod:`~latentkit.growing.layers` -- growable convolutions (``beta`` fade-in), minibatch std (eq. 15),
  nearest upsampling, average-pool downsampling, ``alpha`` fades;
* :mod:`~latentkit.growing.mlp` -- the growable MLP GAN of section 6.1 (zero-initialised latent columns);
* :mod:`~latentkit.growing.cnn` -- the CNN family of table 1 (bGAN, bgGAN, cgGAN, lgGAN, clgGAN) with the
  growth strategy as a parameter;
* :mod:`~latentkit.growing.configs` -- the MLP and CNN GAN configs and chapter 3's runs from its parameters;
* :mod:`~latentkit.growing.steps` -- one training step: the optimizers, the two objectives, interleaved updates;
* :mod:`~latentkit.growing.train` -- resumable phase-by-phase training on the engine and the presets' entry points;
* :mod:`~latentkit.growing.evaluate` -- random walks over dimension groups, axis walks (the thesis's coordinates,
  counted from 1), the per-group variability of section 9 and its summary over seeds, axis shares of the
  Swiss-roll latent, parameter counts over training.
"""

# Each module's __all__ is its public API; the package re-exports all of it.
from latentkit.growing import cnn, configs, evaluate, layers, losses, mlp, train
from latentkit.growing.cnn import *  # noqa: F403
from latentkit.growing.configs import *  # noqa: F403
from latentkit.growing.evaluate import *  # noqa: F403
from latentkit.growing.layers import *  # noqa: F403
from latentkit.growing.losses import *  # noqa: F403
from latentkit.growing.mlp import *  # noqa: F403
from latentkit.growing.train import *  # noqa: F403

__all__ = list(
    dict.fromkeys(
        [
            *cnn.__all__,
            *configs.__all__,
            *evaluate.__all__,
            *layers.__all__,
            *losses.__all__,
            *mlp.__all__,
            *train.__all__,
        ]
    )
)
