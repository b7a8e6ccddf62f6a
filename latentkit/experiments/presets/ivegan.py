"""Presets of chapter 4 (IVE-GAN): the paper's synthetic, MNIST and CelebA experiments (appendix B).

Each preset sets the chapter's parameters to the paper's (conv networks, no code normalisation, D'
on samples only, every model trained as long: the chapter's CPU defaults differ); ``train NAME`` trains every
run of the chapter (:func:`latentkit.ivegan.train.chapter_runs`) into ``OUT/NAME/train`` (also under
``torchrun``), and ``run NAME`` executes the chapter on those runs. IVE-GAN has no public code: every value
not in the paper's tables is ours.
"""

from latentkit.experiments.registry import Preset, ours, paper, register

_TRAIN = "latentkit.ivegan.train:train_preset"
_MNIST_TRAIN = 60_000  # torchvision MNIST training images
_CELEBA_TRAIN = 162_770  # CelebA training images
_COMMON = {
    "device": ours("auto", "a GPU when there is one"),
    "check": ours(False, "the chapter's claims are asserted at its default scale only"),
}
_AS_PAPER = {  # the chapter's CPU-scale departures from the paper, switched back to the paper
    "image_arch": paper("conv", "tables 2 and 3: convolutional networks"),
    "image_code_norm": paper("none", "tables 2-3: E ends in a dense tanh layer, no normalisation layer"),
    "image_marginal_recon": paper(False, "sec. 3: D' judges real data against samples G(z', z), z ~ P_Z"),
    "image_width": paper(1.0, "tables 2 and 3: the channel counts as listed"),
    "image_head_width": paper(1.0, "tables 2 and 3: the discriminator heads as listed"),
    "large_code_steps": ours(0, "0 trains the large-code model as long as the small one (the paper trains all alike)"),
    "tchoice_steps": ours(0, "0 trains the T-choice model as long as the others"),
}

# Table 1 (synthetic set): tanh 128-unit networks, Adam (2e-4 / 1e-4, beta1 0.7), batch 1024, "Epochs 50000"
# (read as 50,000 steps: the synthetic data are drawn afresh).
register(
    Preset(
        name="ivegan-ring",
        description="IVE-GAN vs a plain GAN on 8 Gaussians on a ring with the networks and optimiser of table 1",
        chapter="04_ivegan_invariances.ipynb",
        parameters={
            "ring_dataset": paper("ring8", "sec. 4.1: eight Gaussians arranged in a ring"),
            "ring_seeds": ours(3, "three seeds show how often each model covers the modes"),
            "ring_steps": paper(50_000, "table 1: 'Epochs 50000' (read as steps: the synthetic set is drawn afresh)"),
            "ring_snapshots": paper(6, "figure 2: panels (b-g) show the generator at different iteration steps"),
            "ring_batch_size": paper(1024, "table 1: batch size 1024"),
            "ring_hidden": paper(128, "table 1: dense layers of 128 units"),
            "ring_depth": paper(1, "table 1: one hidden dense layer per network"),
            "ring_activation": paper("tanh", "table 1: tanh activations"),
            "ring_lr_g": paper(2e-4, "table 1: Optimizer_G Adam alpha = 2e-4"),
            "ring_lr_d": paper(1e-4, "table 1: Optimizer_D Adam alpha = 1e-4"),
            "ring_beta1": paper(0.7, "table 1: beta1 = 0.7"),
            "ring_code_norm": paper("none", "table 1: E ends in 'Dense 2 Tanh', no normalisation layer"),
            "ring_marginal_recon": paper(False, "sec. 3: D' judges real data against samples G(z', z), z ~ P_Z"),
            **_COMMON,
        },
        train=_TRAIN,
        paper="IVE-GAN sec. 4.1, figure 2, table 1",
    )
)

# Table 2 (MNIST): the convolutional networks at full width, D_enc of 3 features, 16-d and 3-d codes,
# 4-d noise, Adam (2e-4 / 1e-4, beta1 0.7), batch 512, 100 epochs of the 60,000 training digits.
register(
    Preset(
        name="ivegan-mnist",
        description="IVE-GAN on MNIST (torchvision, 60k) with 16-d and 3-d codes, table 2 networks, 100 epochs",
        chapter="04_ivegan_invariances.ipynb",
        parameters={
            "image_dataset": paper("mnist", "sec. 4.2: the MNIST dataset"),
            "image_size": ours(0, "MNIST's own 28x28 (0 keeps it); table 2's G ends at 32x32, cropped to 28"),
            "image_layout": paper("mnist", "table 2: the MNIST networks"),
            "image_feature_dim": paper(3, "table 2: D_enc ends in a dense layer of 3 units"),
            "image_noise_dim": paper(4, "table 2: a 4-dimensional noise z'"),
            "image_steps": paper(100 * _MNIST_TRAIN // 512, "table 2: 100 epochs of 60,000 digits at batch 512"),
            "image_batch_size": paper(512, "table 2: batch size 512"),
            "image_lr_g": paper(2e-4, "table 2: Optimizer_G Adam alpha = 2e-4"),
            "image_lr_d": paper(1e-4, "table 2: Optimizer_D Adam alpha = 1e-4"),
            "image_beta1": paper(0.7, "table 2: beta1 = 0.7"),
            "large_code_dim": paper(16, "sec. 4.2, figures 3-4: a 16-dimensional code"),
            "code_dim": paper(3, "sec. 4.2, figures 4-5: a 3-dimensional code"),
            **_AS_PAPER,
            **_COMMON,
        },
        train=_TRAIN,
        paper="IVE-GAN sec. 4.2, figures 3-5, table 2",
    )
)

# Table 3 (CelebA 128x128): 1024-d code, 16-d noise, Adam (2e-4 / 1e-4, beta1 0.5), batch 64, 16 epochs.
register(
    Preset(
        name="ivegan-celeba",
        description="IVE-GAN on CelebA 128x128 with a 1024-d code and 16-d noise, table 3 networks, 16 epochs",
        chapter="04_ivegan_invariances.ipynb",
        parameters={
            "image_dataset": paper("celeba", "sec. 4.3: the CelebA dataset"),
            "image_size": paper(128, "sec. 4.3: centrally cropped to 128x128 pixel"),
            "image_crop": paper(128, "sec. 4.3: centrally cropped to 128x128 pixel"),
            "image_attribute": ours(
                "Male", "the chapter's probes need a label; sec. 4.3 colours t-SNE plots by attributes"
            ),
            "image_layout": paper("celeba", "table 3: the CelebA networks"),
            "image_feature_dim": paper(1024, "table 3: D_enc ends in a dense layer of 1024 units"),
            "image_noise_dim": paper(16, "table 3: a 16-dimensional noise z'"),
            "image_steps": paper(
                16 * _CELEBA_TRAIN // 64, "table 3: 16 epochs at batch 64 (of the 162,770 train images)"
            ),
            "image_batch_size": paper(64, "table 3: batch size 64"),
            "image_lr_g": paper(2e-4, "table 3: Optimizer_G Adam alpha = 2e-4"),
            "image_lr_d": paper(1e-4, "table 3: Optimizer_D Adam alpha = 1e-4"),
            "image_beta1": paper(0.5, "table 3: beta1 = 0.5"),
            "large_code_dim": paper(1024, "sec. 4.3: the 1024-dimensional latent space"),
            "code_dim": ours(3, "the chapter's 3-d code figure; the paper shows CelebA's 1024-d code only"),
            "tchoice_degrees": ours(
                0.0, "the T-choice experiment tells 6 from 9: digits only, so no such run on faces"
            ),
            **_AS_PAPER,
            **_COMMON,
        },
        train=_TRAIN,
        paper="IVE-GAN sec. 4.3, figures 6, 7, 9, table 3",
    )
)
