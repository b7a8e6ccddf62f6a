"""Presets of chapter 4 (IVE-GAN): the paper's synthetic, MNIST and CelebA experiments (appendix B).

Each preset sets the chapter's parameters to the paper's (conv networks, no code normalisation, D'
on samples only, every model trained as long: the chapter's CPU defaults differ); ``train NAME`` trains every run of the chapter
(:func:`latentkit.ivegan.train.chapter_runs`) into ``OUT/NAME/train`` (also under ``torchrun``), and
``run NAME`` executes the chapter on those runs.
"""

from latentkit.experiments.registry import Preset, register

_TRAIN = "latentkit.ivegan.train:train_preset"
_MNIST_TRAIN = 60_000  # torchvision MNIST training images
_CELEBA_TRAIN = 162_770  # CelebA training images

# Table 1 (synthetic set): tanh 128-unit networks, Adam (2e-4 / 1e-4, beta1 0.7), batch 1024, 50,000 steps.
register(Preset(
    name="ivegan-ring",
    description="IVE-GAN vs a plain GAN on 8 Gaussians on a ring with the networks and optimiser of table 1",
    chapter="04_ivegan_invariances.ipynb",
    parameters={"ring_dataset": "ring8", "ring_seeds": 3, "ring_steps": 50_000, "ring_snapshots": 6,
                "ring_batch_size": 1024, "ring_hidden": 128, "ring_depth": 1, "ring_activation": "tanh",
                "ring_lr_g": 2e-4, "ring_lr_d": 1e-4, "ring_beta1": 0.7, "ring_code_norm": "none", "ring_marginal_recon": False,
                "device": "auto"},
    train=_TRAIN,
    paper="IVE-GAN sec. 4.1, figure 2, table 1",
))

# Table 2 (MNIST): the convolutional networks at full width, D_enc of 3 features, 16-d and 3-d codes,
# 4-d noise, Adam (2e-4 / 1e-4, beta1 0.7), batch 512, 100 epochs of the 60,000 training digits.
register(Preset(
    name="ivegan-mnist",
    description="IVE-GAN on MNIST (torchvision, 60k) with 16-d and 3-d codes, table 2 networks, 100 epochs",
    chapter="04_ivegan_invariances.ipynb",
    parameters={"image_dataset": "mnist", "image_size": 0, "image_arch": "conv", "image_code_norm": "none", "image_marginal_recon": False,
                "large_code_steps": 0, "tchoice_steps": 0,
                "image_layout": "mnist", "image_width": 1.0,
                "image_feature_dim": 3, "image_head_width": 1.0, "image_noise_dim": 4,
                "image_steps": 100 * _MNIST_TRAIN // 512, "image_batch_size": 512, "image_lr_g": 2e-4,
                "image_lr_d": 1e-4, "image_beta1": 0.7, "large_code_dim": 16, "code_dim": 3, "device": "auto"},
    train=_TRAIN,
    paper="IVE-GAN sec. 4.2, figures 3-5, table 2",
))

# Table 3 (CelebA 128x128): 1024-d code, 16-d noise, Adam (2e-4 / 1e-4, beta1 0.5), batch 64, 16 epochs.
register(Preset(
    name="ivegan-celeba",
    description="IVE-GAN on CelebA 128x128 with a 1024-d code and 16-d noise, table 3 networks, 16 epochs",
    chapter="04_ivegan_invariances.ipynb",
    parameters={"image_dataset": "celeba", "image_size": 128, "image_arch": "conv", "image_code_norm": "none", "image_marginal_recon": False,
                "large_code_steps": 0, "tchoice_steps": 0,
                "image_layout": "celeba", "image_width": 1.0,
                "image_feature_dim": 1024, "image_head_width": 1.0, "image_noise_dim": 16,
                "image_steps": 16 * _CELEBA_TRAIN // 64, "image_batch_size": 64, "image_lr_g": 2e-4,
                "image_lr_d": 1e-4, "image_beta1": 0.5, "large_code_dim": 1024, "code_dim": 3, "device": "auto"},
    train=_TRAIN,
    paper="IVE-GAN sec. 4.3, figures 6, 7, 9, table 3",
))
