"""latentkit: learning latent representations in generative models.

Four methods, one library (and one executable book):

* :mod:`latentkit.score` -- score-based representation learning (DSM constant, conditional
  score matching, an encoder whose code conditions the score model);
* :mod:`latentkit.growing` -- latent space growing of GANs;
* :mod:`latentkit.ivegan` -- the invariant encoding GAN;
* :mod:`latentkit.nif` -- noisy injective flows and their stochastic inverse.

Shared infrastructure: :mod:`latentkit.data` (every dataset behind one loader),
:mod:`latentkit.engine` (device, seeding, AMP, EMA, checkpoints, resume, DDP),
:mod:`latentkit.viz` (figures) and :mod:`latentkit.experiments` (presets and the runner).
"""

__version__ = "0.1.0"
