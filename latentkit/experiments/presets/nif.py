"""Presets of chapter 5, noisy injective flows (Cunningham et al. 2020, section 5 and appendix B).

* ``nif-mnist5k`` -- the chapter's own CPU scale, on a GPU when present, trained longer.
* ``glow-<dataset>`` -- the Glow baseline alone (16 steps per level, 256 channels; multiscale depth 2
  for Fashion-MNIST, 4 for CIFAR-10, 5 for CelebA 64x64); ``train`` trains only the NF into
  ``OUT/glow-<dataset>/train/nf``, which the NIF presets can reuse with ``-p nf_dir ...``.
* ``nif-<dataset>-<k>`` for k in 64, 128, 256, 512 -- the NF baseline and NIF-k with the same seed and
  batches (the paper's protocol), batch 32, Adam 1e-4 with warm-up and gradient clipping, 3-bit data;
  the chapter then prints bits/dim (table 2), the Fréchet-distance-vs-s curve with s chosen on a
  validation split (figure 7, table 1) and the embedding separability (figure 4). The Fréchet distance
  uses the FID Inception network when ``pytorch-fid`` and its weights are installed (``fid=auto``).

The torchvision datasets need ``latentkit.data.load(..., download=True)`` once on a machine with
internet (see ``latentkit.data``). Training runs under ``torchrun --nproc_per_node=N -m
latentkit.experiments train NAME`` (the batch size is per process).
"""

from latentkit.experiments.registry import Preset, register

CHAPTER = "05_nif_stochastic_inverse.ipynb"
TRAIN = "latentkit.nif.train:train_preset"

register(Preset(
    name="nif-mnist5k",
    description="chapter 5 on the 5,000 real MNIST digits at 16x16, 3 bits, trained 10x longer (GPU if present)",
    chapter=CHAPTER,
    parameters={"steps": 6000, "hidden": 64, "flow_steps": 8, "device": "auto", "threads": 2},
    train=TRAIN,
    paper="figures 3-7 and table 2 in miniature",
))

# The paper's configurations as chapter parameters (0 stands for None). They equal
# latentkit.nif.train.PAPER (a test checks it); they are spelled out here so that listing presets does not
# import torch.
_COMMON = {"n_bits": 3, "flow_steps": 16, "hidden": 256, "steps": 100_000, "batch_size": 32, "lr": 1e-4,
           "warmup": 1000, "grad_clip": 100.0, "n_valid": 5000,
           "n_eval": 10_000, "classifier_steps": 5000, "fid": "auto", "device": "auto", "threads": 8}
_PAPER_SCALE = {  # name -> (parameters of the data set, name in the paper)
    "fashion-mnist": ({"dataset": "fashion_mnist", "size": 0, "levels": 2}, "Fashion-MNIST"),
    "cifar10": ({"dataset": "cifar10", "size": 0, "levels": 4}, "CIFAR-10"),
    "celeba": ({"dataset": "celeba", "size": 64, "attribute": "Male", "levels": 5}, "CelebA 64x64"),
}

for key, (params, paper_name) in _PAPER_SCALE.items():
    register(Preset(
        name=f"glow-{key}",
        description=f"Glow baseline NF on {paper_name} (16 steps/level, 256 channels, depth {params['levels']}); "
                    "train: the NF alone",
        chapter=CHAPTER,
        parameters={**_COMMON, **params, "dim_z": 64},
        train="latentkit.nif.train:train_nf_preset",
        paper=f"the NF rows of tables 1-2 ({paper_name})",
    ))
    for k in (64, 128, 256, 512):
        register(Preset(
            name=f"nif-{key}-{k}",
            description=f"NF baseline and NIF-{k} on {paper_name} (Glow prior replaced by a closed-form Gaussian NIF)",
            chapter=CHAPTER,
            parameters={**_COMMON, **params, "dim_z": k},
            train=TRAIN,
            paper=f"the NIF-{k} row of tables 1-2 ({paper_name}); figures 3-7",
        ))
