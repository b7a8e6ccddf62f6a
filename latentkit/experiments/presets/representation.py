"""Presets of chapter 2: conditional score matching and score-based representation learning
(Abstreiter et al., sections 2-3 and appendix A.1).

The chapter in two notebooks: ``02_conditional_score_matching`` (labels, then codes learnt under uniform t and
uniform sigma: Figures 2, 3, 10) and ``02b_code_granularity`` (a single t per run: the DSM loss against the
constant, and the silhouette sweep of Figure 4). The ``repr-*-codes`` presets train and run the first at the
paper's scale, the ``repr-*-single-t`` presets the second (the whole sweep, several seeds, one figure).
Architectures and optimiser follow appendix A.1 and score_sde (Adam 2e-4, 5000 warm-up steps, gradient
clipping 1, EMA 0.999).
"""

from latentkit.experiments.registry import Preset, register

_PAPER = {"batch_size": 128, "lr": 2e-4, "warmup": 5000, "ema_decay": 0.999, "device": "cuda"}
_MNIST = {"dataset": "mnist", "image_size": 28, "channels": "32,64", "num_res_blocks": 2, **_PAPER}
_CIFAR3 = {"dataset": "cifar10", "image_size": 32, "classes": "0,1,2", "channels": "32,32,32", "num_res_blocks": 2,
           **_PAPER}

register(Preset(
    name="repr-mnist5k",
    description="chapter 2 at its default (CPU) scale: labels on ring8, 2-d codes of 14x14 mnist5k digits",
    chapter="02_conditional_score_matching.ipynb",
    parameters={"dataset": "mnist5k", "image_size": 14, "device": "auto"},
    train="latentkit.score.represent:train_codes_preset",
    paper="sections 2.1-3.2.1, Figures 2, 3 and 10",
))

register(Preset(
    name="repr-mnist-codes",
    description="paper-scale MNIST codes: L1 encoder under uniform t (80k steps); KL encoder under uniform sigma "
                "(80k steps) then a frozen encoder under uniform t (80k steps)",
    chapter="02_conditional_score_matching.ipynb",
    parameters={**_MNIST, "uniform_steps": 80_000, "sigma_steps": 80_000, "frozen_steps": 80_000,
                "sample_steps": 1000},
    train="latentkit.score.represent:train_codes_preset",
    paper="section 3.1 (Figure 2a-b), 3.2.1 (Figure 3), appendix A.1 MNIST hyperparameters",
))

register(Preset(
    name="repr-cifar10-codes",
    description="paper-scale CIFAR-10 (first three classes) codes: U-Net 32/16/8 x 32 channels, 90k steps",
    chapter="02_conditional_score_matching.ipynb",
    parameters={**_CIFAR3, "uniform_steps": 90_000, "sigma_steps": 90_000, "frozen_steps": 90_000,
                "sample_steps": 1000},
    train="latentkit.score.represent:train_codes_preset",
    paper="section 3.1 (Figure 2c-d), appendix A.1 CIFAR10 hyperparameters",
))

register(Preset(
    name="repr-cifar10-deep",
    description="CIFAR-10 (all classes) deep model for samples: 4 resolutions 32/64/64/64, 8 residual blocks, 300k steps",
    chapter="02_conditional_score_matching.ipynb",
    parameters={**_PAPER, "dataset": "cifar10", "image_size": 32, "classes": "", "channels": "32,64,64,64",
                "num_res_blocks": 8, "uniform_steps": 300_000, "sigma_steps": 300_000, "frozen_steps": 300_000,
                "sample_steps": 1000},
    train="latentkit.score.represent:train_codes_preset",
    paper="appendix A.1 CIFAR10 (deep) hyperparameters, Figures 8-9",
))

register(Preset(
    name="repr-mnist5k-single-t",
    description="chapter 2b at its default (CPU) scale: a few single-t runs on 14x14 mnist5k digits",
    chapter="02b_code_granularity.ipynb",
    parameters={"dataset": "mnist5k", "image_size": 14, "device": "auto"},
    train="latentkit.score.represent:train_sweep_preset",
    paper="section 3.2.2, Figure 4 (left)",
))

register(Preset(
    name="repr-mnist-single-t",
    description="Figure 4 (left) at paper scale: MNIST, one run per t in 0.1..1.0, three seeds, 80k steps each",
    chapter="02b_code_granularity.ipynb",
    parameters={**_MNIST, "sweep_t": "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0", "seeds": 3, "sweep_steps": 80_000},
    train="latentkit.score.represent:train_sweep_preset",
    paper="section 3.2.2, Figure 4 (left), appendix A.1",
))

register(Preset(
    name="repr-cifar10-single-t",
    description="Figure 4 (right) at paper scale: CIFAR-10 first three classes, t in 0.1..1.0, three seeds, 90k steps",
    chapter="02b_code_granularity.ipynb",
    parameters={**_CIFAR3, "sweep_t": "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0", "seeds": 3, "sweep_steps": 90_000},
    train="latentkit.score.represent:train_sweep_preset",
    paper="section 3.2.2, Figure 4 (right), appendix A.1",
))
