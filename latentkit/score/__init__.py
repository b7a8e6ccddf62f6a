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

from latentkit.score.encoder import (
    ENCODER_KINDS,
    PAPER_REG_WEIGHTS,
    CodeConditionedScore,
    EncoderOutput,
    ImageEncoder,
    MLPEncoder,
    RepresentationLoss,
    code_penalty,
    kl_penalty,
    l1_penalty,
    representation_loss,
)
from latentkit.score.exact import (
    Estimate,
    MixtureMarginals,
    ScoreMatchingTerms,
    dsm_constant,
    esm_loss,
    score_matching_terms,
    weighted_dsm_constant,
)
from latentkit.score.losses import (
    WEIGHTINGS,
    DensityT,
    FixedT,
    Perturbation,
    TSampler,
    UniformSigma,
    UniformT,
    dsm_loss,
    get_t_sampler,
    get_weighting,
    model_score,
    perturb,
)
from latentkit.score.models import PARAMETERIZATIONS, GaussianFourierProjection, ScoreMLP, ScoreUNet, as_score_fn
from latentkit.score.sample import euler_maruyama_step, langevin_step, reverse_sde_sample
from latentkit.score.sde import SDE, VESDE, ScoreFn

__all__ = [
    "SDE",
    "VESDE",
    "ScoreFn",
    "TSampler",
    "UniformT",
    "UniformSigma",
    "FixedT",
    "DensityT",
    "get_t_sampler",
    "get_weighting",
    "WEIGHTINGS",
    "Perturbation",
    "perturb",
    "model_score",
    "dsm_loss",
    "MixtureMarginals",
    "Estimate",
    "ScoreMatchingTerms",
    "score_matching_terms",
    "esm_loss",
    "dsm_constant",
    "weighted_dsm_constant",
    "GaussianFourierProjection",
    "ScoreMLP",
    "ScoreUNet",
    "PARAMETERIZATIONS",
    "as_score_fn",
    "reverse_sde_sample",
    "euler_maruyama_step",
    "langevin_step",
    "ENCODER_KINDS",
    "PAPER_REG_WEIGHTS",
    "EncoderOutput",
    "ImageEncoder",
    "MLPEncoder",
    "CodeConditionedScore",
    "RepresentationLoss",
    "representation_loss",
    "code_penalty",
    "kl_penalty",
    "l1_penalty",
]
