"""Presets of the latent-space-growing chapter (Sandström's thesis, sections 7.1 and 7.2).

``growing`` is the chapter at its default (CPU) scale. ``growing-swiss-roll-paper`` runs the three
Swiss-roll experiments with the thesis's settings (RMSprop, batch 128, 1.92M real points, ten D and G
updates per minibatch, learning rates 5 and 0.001). ``growing-celeba`` trains the five CNN models of
table 1 on CelebA 128x128 with the thesis's settings (sec. 7.2.3: WGAN-GP with lambda 10, Adam 1e-4 with
betas (0, 0.99) and eps 1e-8, batch 16 per process, latent 8 -> 256, 44 epochs: 4 for the first phase,
then 4 of fade-in and 4 of stabilising per growth, seed 547); under ``torchrun`` each process draws its
own batches. ``growing-celeba-clg`` is the clgGAN alone. CelebA must be on disk (see latentkit.data).
"""

from latentkit.experiments.registry import Preset, register

_EPOCH = 202_599  # CelebA images: the thesis's epoch
_CELEBA = {
    "cnn_dataset": "celeba",
    "cnn_channels": 3,
    "cnn_resolution": 128,
    "cnn_widths": "256,128,64,32,16,8",
    "cnn_latent_sizes": "8,16,32,64,128,256",
    "cnn_lr": 0.0001,
    "cnn_batch_size": 16,
    "cnn_initial_images": 4 * _EPOCH,
    "cnn_fade_images": 4 * _EPOCH,
    "cnn_stable_images": 4 * _EPOCH,
    "cnn_checkpoint_every": 2000,
    "eval_references": 32,
    "seed": 547,
    "device": "auto",
}

register(Preset(
    name="growing",
    description="latent space growing: Swiss-roll MLP GANs and the five CNN GANs on 16x16 digits (CPU scale)",
    chapter="03_latent_growing.ipynb",
    parameters={},
    train="latentkit.growing.train:train_preset",
    paper="Sandstrom (2019), sec. 7.1 figs. 7-9; sec. 7.2.1 protocol and sec. 9 measure at small scale",
))

register(Preset(
    name="growing-swiss-roll-paper",
    description="the three Swiss-roll experiments of sec. 7.1 with the thesis's settings (1.92M points, 10 updates)",
    chapter="03_latent_growing.ipynb",
    parameters={"roll_images": 1_920_000, "roll_d_updates": 10, "roll_g_updates": 10, "roll_lr": 0.001,
                "roll_lr_high": 5.0, "roll_batch_size": 128},
    train="latentkit.growing.train:train_preset_mlp",
    paper="Sandstrom (2019), sec. 7.1, figures 7-9",
))

register(Preset(
    name="growing-celeba",
    description="bGAN, bgGAN, cgGAN, lgGAN and clgGAN on CelebA 128x128, thesis settings (44 epochs; GPU, torchrun)",
    chapter="03_latent_growing.ipynb",
    parameters=_CELEBA,
    train="latentkit.growing.train:train_preset_cnn",
    paper="Sandstrom (2019), sec. 7.2, tables 1-15, figures 10-27",
))

register(Preset(
    name="growing-celeba-clg",
    description="the clgGAN alone on CelebA 128x128 with the thesis's settings (figures 18-19, 21-26)",
    chapter="03_latent_growing.ipynb",
    parameters={**_CELEBA, "models": "clgGAN"},
    train="latentkit.growing.train:train_preset_cnn",
    paper="Sandstrom (2019), sec. 7.2.1-7.2.2, figures 18-19 and 21-26",
))
