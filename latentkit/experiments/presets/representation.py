"""Presets of chapter 2: conditional score matching and score-based representation learning
(Abstreiter et al., sections 2-3 and appendix A.1).

The chapter in two notebooks: ``02_conditional_score_matching`` (labels, then codes learnt under uniform t and
uniform sigma: Figures 2, 3 or 7, and 10; Figure 5 with ``kl_steps``, Figure 11 with ``diversity_dims``) and
``02b_code_granularity`` (a single t per run: the DSM loss against the constant, and the silhouette sweep of
Figure 4). The ``repr-*-codes`` presets train and run the first at the
paper's scale, the ``repr-*-single-t`` presets the second (the whole sweep, several seeds, one figure).
Architectures follow appendix A.1, which states no optimiser settings ("we did not change any of the
hyperparameters of the optimizer"): they come from the authors' code (korabs-x/representation_score_based,
built on score_sde): Adam 2e-4, 5000 warm-up steps, gradient clipping 1, EMA 0.9999 for MNIST and 0.999 for
CIFAR-10, batch 128 for MNIST and 64 for CIFAR-10. The paper's CIFAR-10 runs use the L1 encoder under uniform
t only (Figure 2c-d); the uniform-sigma and frozen phases of the CIFAR-10 presets mirror the MNIST recipe and
are ours.
"""

from latentkit.experiments.registry import Preset, code, ours, paper, register

_REPO = "korabs-x/representation_score_based score_sde/"
_MNIST_CFG = f"{_REPO}configs/default_mnist_ve_configs.py"
_PAPER = {
    "lr": code(2e-4, f"{_MNIST_CFG}: optim.lr = 2e-4"),
    "warmup": code(5000, f"{_MNIST_CFG}: optim.warmup = 5000"),
    "device": ours("cuda", "80k-300k U-Net steps are a GPU job (about 5 s per step on 2 CPU cores)"),
    "check": ours(False, "the chapter's claims are asserted at its default scale only"),
}
_CIFAR_OPT = {
    "batch_size": code(64, f"{_REPO}job_cifar.sh: --config.training.batch_size=64"),
    "ema_decay": code(0.999, f"{_REPO}configs/ddpmpp/my_cifar10_deep_continuous_ve.py: model.ema_rate = 0.999"),
}
_MNIST = {
    "dataset": paper("mnist", "sec. 3.1, MNIST"),
    "image_size": paper(28, "appendix A.1, MNIST: resolutions 28x28x32 and 14x14x64"),
    "channels": paper("32,64", "appendix A.1, MNIST: resolutions 28x28x32 and 14x14x64"),
    "num_res_blocks": paper(2, "appendix A.1, MNIST: two residual blocks at each resolution"),
    "batch_size": code(128, f"{_MNIST_CFG}: training.batch_size = 128"),
    "ema_decay": code(0.9999, f"{_REPO}configs/ddpmpp/mnist_deep_continuous_ve.py: model.ema_rate = 0.9999"),
    **_PAPER,
}
_CIFAR3 = {
    "dataset": paper("cifar10", "sec. 3.1, CIFAR-10 limited to its first three classes"),
    "image_size": paper(32, "appendix A.1, CIFAR10: resolutions 32x32x32, 16x16x32, 8x8x32"),
    "classes": paper("0,1,2", "sec. 3.1: a subset of three classes, the first three"),
    "channels": paper("32,32,32", "appendix A.1, CIFAR10: resolutions 32x32x32, 16x16x32, 8x8x32"),
    "num_res_blocks": paper(2, "appendix A.1, CIFAR10: two residual blocks at each resolution"),
    **_CIFAR_OPT,
    **_PAPER,
}
_KL = paper("probabilistic", "sec. 3.2.1, Figure 3: a probabilistic encoder (KL) under uniform sampling of sigma")
_KL_CIFAR = ours("probabilistic", "the paper's MNIST recipe of Figure 3 (KL under uniform sigma) applied to CIFAR-10")
_DIVERSITY_DIMS = ours(
    "2,3,10,128",
    "Figure 11 lists no code sizes; the authors' MNIST runs (experiment names in "
    f"{_MNIST_CFG}) have 2-, 3-, 10- and 128-d codes",
)
_SAMPLE_STEPS = code(1000, f"{_MNIST_CFG}: model.num_scales = 1000 (reverse-SDE steps)")
_SWEEP_T = ours(
    "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0", "ten t across Figure 4's axis (0.1 to 1); the text lists none"
)
_SEEDS = paper(3, "Figure 4 caption: silhouette scores using a single t over three runs")
_CPU = {"device": ours("auto", "a GPU when there is one; the chapter's defaults otherwise")}

register(
    Preset(
        name="repr-mnist5k",
        description="chapter 2 at its default (CPU) scale: labels on ring8, 2-d codes of 14x14 mnist5k digits",
        chapter="02_conditional_score_matching.ipynb",
        parameters=_CPU,
        train="latentkit.score.represent:train_codes_preset",
        paper="sections 2.1-3.2.1, Figures 2, 3 and 10",
    )
)

register(
    Preset(
        name="repr-mnist-codes",
        description="paper-scale MNIST codes: L1 and KL encoders under uniform t (80k steps each); KL encoder "
        "under uniform sigma (80k steps) then a frozen encoder under uniform t (80k steps); Figure 11's L1 runs "
        "with codes of 3, 10 and 128 dimensions (80k steps each)",
        chapter="02_conditional_score_matching.ipynb",
        parameters={
            **_MNIST,
            "uniform_steps": paper(80_000, "appendix A.1, MNIST: each model is trained for 80k iterations"),
            "kl_steps": paper(
                80_000, "Figure 5 (KL, uniform t); appendix A.1: each model is trained for 80k iterations"
            ),
            "diversity_dims": _DIVERSITY_DIMS,
            "sigma_code": _KL,
            "sigma_steps": paper(80_000, "appendix A.1, MNIST: each model is trained for 80k iterations"),
            "frozen_steps": paper(80_000, "appendix A.1: an additional 80k iterations with a frozen encoder"),
            "sample_steps": _SAMPLE_STEPS,
        },
        train="latentkit.score.represent:train_codes_preset",
        paper="section 3.1 (Figures 2a-b, 5 and 11), 3.2.1 (Figure 3), appendix A.1 MNIST hyperparameters",
    )
)

register(
    Preset(
        name="repr-cifar10-codes",
        description="CIFAR-10 (first three classes) codes, U-Net 32/16/8 x 32 channels, 90k steps: L1 and KL under "
        "uniform t (Figures 2c-d, 6); ours: KL under uniform sigma, then a frozen encoder",
        chapter="02_conditional_score_matching.ipynb",
        parameters={
            **_CIFAR3,
            "uniform_steps": paper(90_000, "appendix A.1, CIFAR10: each model is trained for 90k iterations"),
            "kl_steps": paper(90_000, "Figure 6 (KL, uniform t); appendix A.1, CIFAR10: 90k iterations"),
            "sigma_code": _KL_CIFAR,
            "sigma_steps": ours(90_000, "no CIFAR-10 uniform-sigma run in the paper; as long as its 90k runs"),
            "frozen_steps": ours(
                90_000,
                "appendix A.1 gives the frozen phase for MNIST only (80k = its training length); we use CIFAR's 90k",
            ),
            "sample_steps": _SAMPLE_STEPS,
        },
        train="latentkit.score.represent:train_codes_preset",
        paper="section 3.1 (Figures 2c-d and 6), appendix A.1 CIFAR10 hyperparameters",
    )
)

register(
    Preset(
        name="repr-cifar10-deep",
        description="CIFAR-10 (all classes) deep model for samples: 4 resolutions 32/64/64/64, 8 residual blocks, 300k steps",
        chapter="02_conditional_score_matching.ipynb",
        parameters={
            **_PAPER,
            **_CIFAR_OPT,
            "dataset": paper("cifar10", "sec. 3.1 and Figures 8-9: all classes of CIFAR-10"),
            "image_size": paper(32, "appendix A.1: resolutions 32x32x32, 16x16x64, 8x8x64 and 4x4x64"),
            "classes": paper("", "Figures 8-9: all classes of CIFAR-10"),
            "channels": paper("32,64,64,64", "appendix A.1: resolutions 32x32x32, 16x16x64, 8x8x64 and 4x4x64"),
            "num_res_blocks": paper(8, "appendix A.1: eight residual blocks per resolution"),
            "uniform_steps": paper(300_000, "appendix A.1: each model is trained for 300k iterations"),
            "kl_steps": paper(300_000, "Figure 8 (KL, uniform t, all classes); appendix A.1: 300k iterations"),
            "sigma_code": _KL_CIFAR,
            "sigma_steps": ours(300_000, "no uniform-sigma run on all of CIFAR-10 in the paper; as long as its"),
            "frozen_steps": ours(300_000, "the frozen phase is stated for MNIST only; we match the 300k"),
            "sample_steps": _SAMPLE_STEPS,
        },
        train="latentkit.score.represent:train_codes_preset",
        paper="appendix A.1 CIFAR10 (deep) hyperparameters, Figures 9 (L1, uniform t) and 8 (KL, uniform t); the "
        "uniform-sigma runs are ours",
    )
)

register(
    Preset(
        name="repr-mnist5k-single-t",
        description="chapter 2b at its default (CPU) scale: a few single-t runs on 14x14 mnist5k digits",
        chapter="02b_code_granularity.ipynb",
        parameters=_CPU,
        train="latentkit.score.represent:train_sweep_preset",
        paper="section 3.2.2, Figure 4 (left)",
    )
)

register(
    Preset(
        name="repr-mnist-single-t",
        description="Figure 4 (left) at paper scale: MNIST, one run per t in 0.1..1.0, three seeds, 80k steps each",
        chapter="02b_code_granularity.ipynb",
        parameters={
            **_MNIST,
            "sweep_t": _SWEEP_T,
            "seeds": _SEEDS,
            "sweep_steps": paper(80_000, "appendix A.1, MNIST: each model is trained for 80k iterations"),
        },
        train="latentkit.score.represent:train_sweep_preset",
        paper="section 3.2.2, Figure 4 (left), appendix A.1",
    )
)

register(
    Preset(
        name="repr-cifar10-single-t",
        description="Figure 4 (right) at paper scale: CIFAR-10 first three classes, t in 0.1..1.0, three seeds, 90k steps",
        chapter="02b_code_granularity.ipynb",
        parameters={
            **_CIFAR3,
            "sweep_t": _SWEEP_T,
            "seeds": _SEEDS,
            "sweep_steps": paper(90_000, "appendix A.1, CIFAR10: each model is trained for 90k iterations"),
        },
        train="latentkit.score.represent:train_sweep_preset",
        paper="section 3.2.2, Figure 4 (right), appendix A.1",
    )
)
