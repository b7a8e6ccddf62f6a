"""Presets of the score-based chapters: paper-scale score models (Abstreiter et al., appendix A.1).

``score-mnist`` and ``score-cifar10`` train the U-Nets of appendix A.1 with chapter 1's objective (the paper's
VE SDE, t ~ U[0, 1], lambda = sigma^2) -- the score models the later chapters build on -- and ``run`` executes
chapter 1 on them. The architecture and optimiser come from ``latentkit.score.train.PRESETS[dataset]``.
"""

from latentkit.experiments.registry import Preset, register

register(Preset(
    name="score-ring8",
    description="chapter 1 at its default (CPU) scale: the DSM constant on 8 Gaussians, a 2-d MLP score model",
    chapter="01_dsm_constant.ipynb",
    parameters={"dataset": "ring8", "steps": 2000, "device": "auto"},
    train="latentkit.score.train:train_preset",
    paper="sections 1.1-1.2, eqs. 1-6 (the DSM constant)",
))

register(Preset(
    name="score-mnist",
    description="paper-scale MNIST score model: U-Net 28x28x32 + 14x14x64, two residual blocks each, 80k steps",
    chapter="01_dsm_constant.ipynb",
    parameters={"dataset": "mnist", "steps": 80_000, "batch_size": 128, "lr": 2e-4, "device": "cuda"},
    train="latentkit.score.train:train_preset",
    paper="appendix A.1, MNIST hyperparameters (the score model of sections 3.1-3.2)",
))

register(Preset(
    name="score-cifar10",
    description="paper-scale CIFAR-10 (first three classes) score model: U-Net 32/16/8 x 32 channels, 90k steps",
    chapter="01_dsm_constant.ipynb",
    parameters={"dataset": "cifar10", "steps": 90_000, "batch_size": 128, "lr": 2e-4, "device": "cuda"},
    train="latentkit.score.train:train_preset",
    paper="appendix A.1, CIFAR10 hyperparameters (silhouette-score models, section 3.2.2)",
))
