"""Preset modules, one per method; each registers its presets when imported.

Every module in this package is imported by :func:`latentkit.experiments.registry.all_presets`.
"""
