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
* :mod:`~latentkit.growing.evaluate` -- random walks over dimension groups, axis walks, the per-group
  variability of section 9, axis shares of the Swiss-roll latent, parameter counts over training.
"""

from latentkit.growing.cnn import (
    STRATEGIES,
    CNNArch,
    Discriminator,
    Generator,
    Stage,
    count_parameters,
    gaussian_latent,
    grow_discriminator,
    grow_generator,
    growth_stages,
    real_images,
    set_fade,
)
from latentkit.growing.configs import CNNGANConfig, MLPGANConfig, cnn_configs, swiss_roll_configs
from latentkit.growing.evaluate import (
    axis_shares,
    axis_walk,
    group_variability,
    latent_groups,
    parameter_schedule,
    random_walk,
    resample_group,
)
from latentkit.growing.layers import GrowConv2d, downsample, fade, minibatch_stddev, resize_to, upsample
from latentkit.growing.losses import (
    gradient_penalty,
    interpolate,
    ns_discriminator_loss,
    ns_generator_loss,
    wgan_critic_loss,
    wgan_generator_loss,
)
from latentkit.growing.mlp import MLPDiscriminator, MLPGenerator, grow_latent, uniform_latent
from latentkit.growing.train import GANRun, fit_cnn_gan, fit_mlp_gan, phase_images

__all__ = [
    "STRATEGIES",
    "CNNArch",
    "Stage",
    "Generator",
    "Discriminator",
    "growth_stages",
    "grow_generator",
    "grow_discriminator",
    "real_images",
    "set_fade",
    "count_parameters",
    "GrowConv2d",
    "minibatch_stddev",
    "upsample",
    "downsample",
    "resize_to",
    "fade",
    "ns_discriminator_loss",
    "ns_generator_loss",
    "wgan_critic_loss",
    "wgan_generator_loss",
    "gradient_penalty",
    "interpolate",
    "MLPGenerator",
    "MLPDiscriminator",
    "grow_latent",
    "uniform_latent",
    "MLPGANConfig",
    "CNNGANConfig",
    "GANRun",
    "fit_mlp_gan",
    "fit_cnn_gan",
    "gaussian_latent",
    "phase_images",
    "swiss_roll_configs",
    "cnn_configs",
    "latent_groups",
    "resample_group",
    "random_walk",
    "axis_walk",
    "group_variability",
    "axis_shares",
    "parameter_schedule",
]
