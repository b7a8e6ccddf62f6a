"""Score-based generative modelling and the DSM constant (Abstreiter, Bauer & Mehrjou; sections 1.1-1.2).

* :mod:`~latentkit.score.sde` -- the forward SDE (eq. 1), its kernel and prior, the reverse drift (eq. 2);
* :mod:`~latentkit.score.losses` -- the DSM objective (eqs. 4-5), weightings ``lambda(t)``, t-samplers;
* :mod:`~latentkit.score.exact` -- exact mixture scores, explicit score matching (eq. 3), the constant (eq. 6);
* :mod:`~latentkit.score.models` -- an MLP and a DDPM++-style U-Net, optionally conditional;
* :mod:`~latentkit.score.sample` -- reverse-SDE sampling, predictor-corrector;
* :mod:`~latentkit.score.encoder` -- encoders ``E_phi(x_0)``, their penalties and the loss of eq. 8;
* :mod:`~latentkit.score.train` -- configs and ``fit`` on :mod:`latentkit.engine` (imported lazily);
* :mod:`~latentkit.score.represent` -- conditional runs: labels (eq. 7), learned codes (eq. 8), section 3.2's
  schedules, on train's config, data, model and trainer (imported lazily);
* :mod:`~latentkit.score.evaluate` -- codes, probes, latent grids, swapped codes, sample diversity.
"""

# Each module's __all__ is its public API; the package re-exports all of it.
from latentkit.score import encoder, exact, losses, models, sample, sde
from latentkit.score.encoder import *  # noqa: F403
from latentkit.score.exact import *  # noqa: F403
from latentkit.score.losses import *  # noqa: F403
from latentkit.score.models import *  # noqa: F403
from latentkit.score.sample import *  # noqa: F403
from latentkit.score.sde import *  # noqa: F403

__all__ = list(
    dict.fromkeys([*encoder.__all__, *exact.__all__, *losses.__all__, *models.__all__, *sample.__all__, *sde.__all__])
)
