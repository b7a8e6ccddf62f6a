"""Experiments: presets (paper-scale configurations) and the runner.

``python -m latentkit.experiments list | show NAME | train NAME | run NAME [-p key value ...] [--out DIR]``
(see :mod:`latentkit.experiments.__main__`). Chapters use :class:`Outputs` for their files.
"""

from latentkit.experiments.outputs import Outputs
from latentkit.experiments.registry import Preset, all_presets, get, names, register

__all__ = ["Outputs", "Preset", "all_presets", "get", "names", "register"]
