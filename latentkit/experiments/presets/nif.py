"""Presets of chapter 5, noisy injective flows (Cunningham et al. 2020, section 5 and appendix B).

* ``nif-mnist5k`` -- the chapter's own CPU scale, on a GPU when present, trained longer.
* ``glow-<dataset>`` -- the Glow baseline alone (16 steps per level, 256 channels; multiscale depth 2
  for Fashion-MNIST, 4 for CIFAR-10, 5 for CelebA 64x64, as in the authors' experiment definitions);
  ``train`` trains only the NF into ``OUT/glow-<dataset>/train/nf``, which the NIF presets can reuse with
  ``-p nf_dir ...``.
* ``nif-<dataset>`` -- the NF baseline and a NIF with latent size ``dim_z`` (64; 128 for CelebA, figure 7's)
  with the same seed and
  batches (the paper's protocol), batch 32, Adam 1e-4 without warm-up, gradients clipped at the authors' norm
  (all three from the authors' code, not the paper), 3-bit data; the chapter then prints bits/dim (table 2), the Fréchet-distance-vs-s
  curve with s chosen on a validation split (figure 7, table 1) and the embedding separability (figure 4).
  Our ``s`` is section 5.2's, ``y ~ N(Az + b, s Sigma)``; the authors' code samples ``N(Az, s^2 I)`` (it sets the
  learned log-variances to zero when sampling), so its ``s`` values and ours are not interchangeable.
  The Fréchet distance uses the FID Inception network when ``pytorch-fid`` and its weights are installed
  (``fid=auto``). The other rows of tables 1-2 are ``-p dim_z 128`` (256, 512) with their own ``--out``; the NF
  trained once by ``glow-<dataset>`` is shared through ``-p nf_dir OUT/glow-<dataset>/train/nf``.

Each setting names its source (``show NAME``): the paper states only the flow's size (sec. 5: "16 steps ...,
each with 256 channels, and 5 multiscale components"); the rest comes from the authors' code
(``Information-Fusion-Lab-Umass/NoisyInjectiveFlows``) or is ours. The torchvision datasets need
``latentkit.data.load(..., download=True)`` once on a machine with internet (see ``latentkit.data``).
Training runs under ``torchrun --nproc_per_node=N -m latentkit.experiments train NAME`` (the batch size is
per process).
"""

from latentkit.experiments.registry import Preset, code, ours, paper, register
from latentkit.nif.train import paper_grad_clip

CHAPTER = "05_nif_stochastic_inverse.ipynb"
TRAIN = "latentkit.nif.train:train_preset"
_REPO = "Information-Fusion-Lab-Umass/NoisyInjectiveFlows"

register(
    Preset(
        name="nif-mnist5k",
        description="chapter 5 on the 5,000 real MNIST digits at 16x16, 3 bits, trained 10x longer (GPU if present)",
        chapter=CHAPTER,
        parameters={
            "steps": ours(6000, "twelve times the CPU scale's 500 steps: the models get close to converged"),
            "hidden": ours(64, "twice the CPU scale's coupling width, still small enough for a laptop GPU"),
            "flow_steps": ours(8, "twice the CPU scale's Glow steps per level"),
            "device": ours("auto", "a GPU when there is one"),
            "threads": ours(2, "the data pipeline and evaluation use both cores of a laptop"),
            "check": ours(False, "the chapter's claims are asserted at its default scale only"),
        },
        train=TRAIN,
        paper="figures 3-7 and table 2 in miniature",
    )
)

# The paper's configurations as chapter parameters (0 stands for None). They equal
# latentkit.nif.train.PAPER (a test checks it).
_COMMON = {
    "n_bits": code(3, f"{_REPO} generate_images_for_fid.py: --quantize default=3 (train_runner.py's is 5)"),
    "flow_steps": paper(16, "sec. 5: GLOW with 16 steps of their flow"),
    "hidden": paper(256, "sec. 5: each with 256 channels"),
    "steps": ours(100_000, "the paper gives no length and the code trains until stopped (max_iterations 1e7)"),
    "batch_size": code(32, f"{_REPO} experiment_definitions/adam_warmup.yaml: batch_size: 32"),
    "lr": code(1e-4, f"{_REPO} experiment_definitions/adam.yaml: lr: 0.0001"),
    "warmup": code(0, f"{_REPO} experiment_definitions/adam.yaml: warmup: 0"),
    "n_valid": ours(5000, "s is chosen on 5,000 held-out training images, then reported on the test split"),
    "n_eval": ours(10_000, "10,000 images per Frechet distance, the usual FID sample size"),
    "classifier_steps": ours(5000, "the feature classifier of the Frechet distance reaches a plateau"),
    "fid": ours("auto", "the Inception FID of the paper when pytorch-fid and its weights are installed"),
    "device": ours("auto", "a GPU when there is one"),
    "threads": ours(8, "data loading and evaluation on a GPU node's cores"),
    "check": ours(False, "the chapter's claims are asserted at its default scale only"),
    "deep": ours(False, "the deep NIF of appendix B.4 is a third model to train: opt in with -p deep True"),
}
_DEFS = f"{_REPO} experiment_definitions"
_CLIP = f"{_REPO} optimizer.py: clip_grads(g, 5.0) on nats/image, i.e. 5/(D ln 2) on our bits/dim"
_PAPER_SCALE = {  # name -> (parameters of the data set, name in the paper)
    "fashion-mnist": (
        {
            "dataset": paper("fashion_mnist", "sec. 5, tables 1-2: Fashion MNIST"),
            "size": paper(0, "sec. 5: Fashion MNIST at its own 28x28"),
            "levels": code(2, f"{_DEFS}/fmnist_64.yaml: n_multiscale: 2"),
            "grad_clip": code(paper_grad_clip(784), _CLIP),
        },
        "Fashion-MNIST",
    ),
    "cifar10": (
        {
            "dataset": paper("cifar10", "sec. 5, tables 1-2: CIFAR-10"),
            "size": paper(0, "sec. 5: CIFAR-10 at its own 32x32"),
            "levels": code(4, f"{_DEFS}/cifar_64.yaml: n_multiscale: 4"),
            "grad_clip": code(paper_grad_clip(3072), _CLIP),
        },
        "CIFAR-10",
    ),
    "celeba": (
        {
            "dataset": paper("celeba", "sec. 5, tables 1-2 and figures 5, 7: CelebA"),
            "size": code(64, f"{_DEFS}/celeba_64.yaml: x_shape 64 x 64 x 3"),
            "crop": ours(128, "the code strides a 128x128 window 7 px below centre by 2; we centre it and resize"),
            "attribute": ours("Male", "a binary label for the embedding separability of figure 4"),
            "levels": code(5, f"{_DEFS}/celeba_64.yaml: n_multiscale: 5 (sec. 5: 5 multiscale components)"),
            "grad_clip": code(paper_grad_clip(3 * 64 * 64), _CLIP),
        },
        "CelebA 64x64",
    ),
}

for key, (params, paper_name) in _PAPER_SCALE.items():
    register(
        Preset(
            name=f"glow-{key}",
            description=f"Glow baseline NF on {paper_name} (16 steps/level, 256 channels, depth {params['levels'].value}); "
            "train: the NF alone",
            chapter=CHAPTER,
            parameters={
                **_COMMON,
                **params,
                "dim_z": ours(64, "unused by the NF; the chapter's NIF comparison then uses NIF-64"),
            },
            train="latentkit.nif.train:train_nf_preset",
            paper=f"the NF rows of tables 1-2 ({paper_name})",
        )
    )
    k = 128 if key == "celeba" else 64
    dim_z = (
        paper(k, "figure 7: CelebA FID vs s, latent state dimensionality 128")
        if key == "celeba"
        else paper(k, "tables 1-2: the NIF-64 row (-p dim_z 128, 256 or 512 for the others)")
    )
    register(
        Preset(
            name=f"nif-{key}",
            description=f"NF baseline and NIF-{k} on {paper_name} (Glow prior replaced by a closed-form Gaussian NIF); "
            "-p dim_z K for the other rows",
            chapter=CHAPTER,
            parameters={**_COMMON, **params, "dim_z": dim_z},
            train=TRAIN,
            paper=f"the NIF rows of tables 1-2 ({paper_name}); figures 3-7",
        )
    )
