"""Presets of the score-based chapters: paper-scale score models (Abstreiter et al., appendix A.1).

``score-mnist`` and ``score-cifar10`` train the U-Nets of appendix A.1 with chapter 1's objective (the paper's
VE SDE, t ~ U[0, 1], lambda = sigma^2) -- the score models the later chapters build on -- and ``run`` executes
chapter 1 on them. The architecture and the rest of the optimiser (warm-up, clipping, EMA) come from
``latentkit.score.train.PRESETS[dataset]``, whose comments give their sources.
"""

from latentkit.experiments.registry import Preset, code, ours, paper, register

_REPO = "korabs-x/representation_score_based score_sde/"
_MNIST_CFG = f"{_REPO}configs/default_mnist_ve_configs.py"
_CHECK_OFF = ours(False, "the chapter's claims are asserted at its default scale only")

register(
    Preset(
        name="score-ring8",
        description="chapter 1 at its default (CPU) scale: the DSM constant on 8 Gaussians, a 2-d MLP score model",
        chapter="01_dsm_constant.ipynb",
        parameters={"device": ours("auto", "a GPU when there is one; the chapter's defaults otherwise")},
        train="latentkit.score.train:train_preset",
        paper="sections 1.1-1.2, eqs. 1-6 (the DSM constant)",
    )
)

register(
    Preset(
        name="score-mnist",
        description="paper-scale MNIST score model: U-Net 28x28x32 + 14x14x64, two residual blocks each, 80k steps",
        chapter="01_dsm_constant.ipynb",
        parameters={
            "dataset": paper("mnist", "sec. 3.1 and appendix A.1, MNIST"),
            "steps": paper(80_000, "appendix A.1, MNIST: trained for 80k iterations"),
            "batch_size": code(128, f"{_MNIST_CFG}: training.batch_size = 128"),
            "lr": code(2e-4, f"{_MNIST_CFG}: optim.lr = 2e-4"),
            "device": ours("cuda", "80k U-Net steps are a GPU job (about 4.5 s per step on 2 CPU cores)"),
            "check": _CHECK_OFF,
        },
        train="latentkit.score.train:train_preset",
        paper="appendix A.1, MNIST hyperparameters (the score model of sections 3.1-3.2)",
    )
)

register(
    Preset(
        name="score-cifar10",
        description="paper-scale CIFAR-10 (first three classes) score model: U-Net 32/16/8 x 32 channels, 90k steps",
        chapter="01_dsm_constant.ipynb",
        parameters={
            "dataset": paper("cifar10", "appendix A.1, CIFAR10 (the first three classes, sec. 3.2.2)"),
            "steps": paper(90_000, "appendix A.1, CIFAR10: trained for 90k iterations"),
            "batch_size": code(64, f"{_REPO}job_cifar.sh: --config.training.batch_size=64"),
            "lr": code(2e-4, f"{_REPO}configs/default_my_cifar10_configs.py: optim.lr = 2e-4"),
            "device": ours("cuda", "90k U-Net steps are a GPU job"),
            "check": _CHECK_OFF,
        },
        train="latentkit.score.train:train_preset",
        paper="appendix A.1, CIFAR10 hyperparameters (silhouette-score models, section 3.2.2)",
    )
)
