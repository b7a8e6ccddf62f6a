"""Presets of the latent-space-growing chapter (Sandström's thesis, sections 7.1 and 7.2).

``growing`` is the chapter at its default (CPU) scale. ``growing-swiss-roll-paper`` runs the three
Swiss-roll experiments with the thesis's settings (sec. 7.1). ``growing-celeba`` trains the five CNN models of
table 1 on CelebA with the thesis's settings (sec. 7.2.3: centre crop 128x128, WGAN-GP with lambda 10, Adam
1e-4 with betas (0, 0.99) and eps 1e-8, batch 16, latent 8 -> 256, 44 epochs: 4 for the first phase, then 4 of
fade-in and 4 of stabilising per growth, seed 547); an epoch is CelebA's 162,770-image train split (the thesis
trains on all 202,599 images). Under ``torchrun`` each process draws its own batches of 16.
``growing-celeba-clg`` is the clgGAN alone. Both walk the thesis's coordinates 1, 2, 5, 90, 195 and 250 of the
256-dimensional latent (sec. 7.2.2, counted from 1 as the thesis counts; 0-based indices 0, 1, 4, 89, 194, 249)
and train one seed per model, as the thesis does. CelebA must be on disk (see latentkit.data).
"""

from latentkit.experiments.registry import Preset, ours, paper, register
from latentkit.growing.train import CELEBA_EPOCH

_EPOCHS4 = ours(
    4 * CELEBA_EPOCH,
    "sec. 7.2.3: 4 epochs; an epoch here is the 162,770-image train split (the thesis's 202,599 include valid/test)",
)
_CELEBA = {
    "cnn_dataset": paper("celeba", "sec. 7.2: the CelebA dataset"),
    "cnn_crop": paper(128, "sec. 7.2.3: images cropped to 128x128 from the middle of the CelebA images"),
    "cnn_channels": paper(3, "sec. 7.2: CelebA's colour images"),
    "cnn_resolution": paper(128, "sec. 7.2.3: 128x128 training images"),
    "cnn_widths": paper("256,128,64,32,16,8", "tables 2-3: channels of the blocks from 4x4 to 128x128"),
    "cnn_latent_sizes": paper("8,16,32,64,128,256", "table 1 and sec. 7.2.3: latent grown from 8 to 256"),
    "cnn_lr": paper(0.0001, "sec. 7.2.3: Adam with alpha = 0.0001, beta1 = 0, beta2 = 0.99"),
    "cnn_batch_size": paper(16, "sec. 7.2.3: the minibatch size is 16 (per process: N processes draw 16 N)"),
    "cnn_initial_images": _EPOCHS4,
    "cnn_fade_images": _EPOCHS4,
    "cnn_stable_images": _EPOCHS4,
    "cnn_checkpoint_every": ours(2000, "a checkpoint every few minutes on a GPU"),
    "eval_references": ours(32, "twice the CPU scale's reference latents: a steadier variability estimate"),
    "cnn_seeds": ours(1, "one seed per model as in the thesis (sec. 7.2.3); each seed of the five is GPU days"),
    "axis_coordinates": paper(
        "1,2,5,90,195,250",
        "sec. 7.2.2, figures 21-26: coordinate axes 1, 2, 5, 90, 195, 250 (counted from 1: indices 0, 1, 4, 89, 194, 249)",
    ),
    "seed": paper(547, "sec. 7.2.3: a random seed of 547 is used for all experiments"),
    "device": ours("auto", "a GPU when there is one"),
    "check": ours(False, "the chapter's claims are asserted at its default scale only"),
}

register(
    Preset(
        name="growing",
        description="latent space growing: Swiss-roll MLP GANs and the five CNN GANs on 16x16 digits (CPU scale)",
        chapter="03_latent_growing.ipynb",
        parameters={},
        train="latentkit.growing.train:train_preset",
        paper="Sandstrom (2019), sec. 7.1 figs. 7-9; sec. 7.2.1 protocol and sec. 9 measure at small scale",
    )
)

register(
    Preset(
        name="growing-swiss-roll-paper",
        description="the three Swiss-roll experiments of sec. 7.1 with the thesis's settings (1.92M points, 10 updates)",
        chapter="03_latent_growing.ipynb",
        parameters={
            "roll_images": paper(1_920_000, "sec. 7.1: the discriminator is shown 1.92M real examples during training"),
            "roll_d_updates": paper(
                10, "sec. 7.1: the generator and discriminator are updated ten times per minibatch"
            ),
            "roll_g_updates": paper(
                10, "sec. 7.1: the generator and discriminator are updated ten times per minibatch"
            ),
            "roll_lr": paper(0.001, "figures 8-9 captions: learning rate 0.001"),
            "roll_lr_high": paper(5.0, "figure 7 caption: MLP GAN trained from scratch, learning rate 5"),
            "roll_batch_size": paper(128, "sec. 7.1: the optimizer is RMSprop and the minibatch size is 128"),
            "check": ours(False, "the chapter's claims are asserted at its default scale only"),
        },
        train="latentkit.growing.train:train_preset_mlp",
        paper="Sandstrom (2019), sec. 7.1, figures 7-9",
    )
)

register(
    Preset(
        name="growing-celeba",
        description="bGAN, bgGAN, cgGAN, lgGAN and clgGAN on CelebA 128x128, thesis settings (44 epochs; GPU, torchrun)",
        chapter="03_latent_growing.ipynb",
        parameters=_CELEBA,
        train="latentkit.growing.train:train_preset_cnn",
        paper="Sandstrom (2019), sec. 7.2, tables 1-15, figures 10-27",
    )
)

register(
    Preset(
        name="growing-celeba-clg",
        description="the clgGAN alone on CelebA 128x128 with the thesis's settings (figures 18-19, 21-26)",
        chapter="03_latent_growing.ipynb",
        parameters={**_CELEBA, "models": ours("clgGAN", "the thesis's best model alone, a fifth of the cost")},
        train="latentkit.growing.train:train_preset_cnn",
        paper="Sandstrom (2019), sec. 7.2.1-7.2.2, figures 18-19 and 21-26",
    )
)
