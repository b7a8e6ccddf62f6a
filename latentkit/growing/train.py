"""Training growing GANs on :mod:`latentkit.engine`, one engine run per growth phase.

**How growth is made resumable.** The engine checkpoints ``state_dict`` s, whose shapes change when a
network grows. Each growth phase ``k`` is therefore its own :class:`~latentkit.engine.Trainer` run in
``out_dir/phase_k`` with architecture ``stage_k`` (a pure function of the config), and every schedule
inside a phase (``alpha``, ``beta``, ``tau``) is a pure function of the phase's step. On (re)start the
last phase with a checkpoint is rebuilt at its stage and resumed by the engine; a later phase starts by
*growing* the previous phase's final weights (a finished phase returns at once with its weights loaded).
Optimizer moments restart with each phase (the thesis rebuilt its graph at each growth).

Schedules are measured in images shown (real examples drawn, summed over processes): phase 0 trains
``initial_images``; each later phase fades new weights in over ``fade_images`` (``alpha, beta: 0 -> 1``,
``tau: 0 -> tau_end``) and then stabilises for ``stable_images``. Models that do not grow (bGAN) train
one phase as long as the others' total.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from latentkit import data, engine
from latentkit.growing.cnn import (
    Discriminator,
    Generator,
    Stage,
    gaussian_latent,
    grow_discriminator,
    grow_generator,
    growth_stages,
    real_images,
    set_fade,
)
from latentkit.growing.configs import (
    CELEBA_EPOCH,
    OPTIMIZERS,
    CNNGANConfig,
    MLPGANConfig,
    chapter_configs,
    cnn_configs,
    cnn_seed_configs,
    swiss_roll_configs,
)
from latentkit.growing.mlp import MLPDiscriminator, MLPGenerator, grow_latent, uniform_latent
from latentkit.growing.steps import gan_step, make_optimizer

__all__ = [
    "MLPGANConfig",
    "CNNGANConfig",
    "GANRun",
    "fit_mlp_gan",
    "fit_cnn_gan",
    "gaussian_latent",
    "cnn_configs",
    "cnn_seed_configs",
    "swiss_roll_configs",
    "phase_images",
    "train_preset",
    "train_preset_mlp",
    "train_preset_cnn",
    "chapter_configs",
    "OPTIMIZERS",
    "CELEBA_EPOCH",
]


@dataclass
class GANRun:
    """What a fit returns: the final networks (eval mode, fully faded in) and each phase's record."""

    generator: nn.Module
    discriminator: nn.Module
    stages: list[Any]  # latent sizes (MLP) or Stage s (CNN), one per phase
    histories: list[list[dict]] = field(default_factory=list)  # logged metrics per phase
    steps_trained_now: int = 0  # steps this call trained (0: everything was reused)
    phase_steps: list[int] = field(default_factory=list)  # steps of each phase


def _first_phase(dirs: list[Path | None]) -> int:
    """The last phase that has a checkpoint (training resumes there), else 0."""
    started = [k for k, p in enumerate(dirs) if p is not None and (p / "checkpoint.pt").exists()]
    return started[-1] if started else 0


def _train_config(
    cfg: MLPGANConfig | CNNGANConfig, k: int, steps: int, desc: str, fading: bool = False
) -> engine.TrainConfig:
    # fading: layers that fade out (alpha = 1) or in (alpha = 0) get no gradient -> DDP must look for them
    compile_ = getattr(cfg, "compile", False)
    return engine.TrainConfig.of(
        cfg,
        steps=steps,
        seed=cfg.seed + k,
        finite=("loss_d", "loss_g"),
        desc=desc,
        # torch.compile cannot differentiate twice: the gradient penalty keeps D eager
        compile=("G",) if compile_ and cfg.loss == "wgan-gp" else compile_,
        ddp_find_unused=fading,
    )


def _seeded(seed: int, build: Callable[[], Any]) -> Any:
    """Build networks from their own seed (new weights do not depend on what ran before)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


# ----------------------------------------------------------------------------------------------- MLP


def fit_mlp_gan(cfg: MLPGANConfig, out_dir: str | Path | None = None) -> GANRun:
    """Train an MLP GAN on 2-D points, growing the latent through ``cfg.latent_sizes`` (sec. 6.1, 7.1)."""
    ds = data.load(cfg.dataset, "train", n=cfg.n, seed=cfg.seed)
    if ds.x.dim() != 2:
        raise ValueError(f"the MLP GAN trains on point sets (N, D); {cfg.dataset!r} has shape {tuple(ds.x.shape)}")
    sizes, zmax = cfg.latent_sizes, cfg.latent_sizes[-1]
    dirs = engine.phase_dirs(out_dir, len(sizes))
    start = _first_phase(dirs)
    dim = ds.x.shape[1]
    g = d = tr = None
    run = GANRun(None, None, list(sizes))
    for k, size in enumerate(sizes):
        steps = max(1, cfg.images // len(sizes) // cfg.batch_size)
        run.phase_steps.append(steps)
        if k < start:
            run.histories.append([])
            continue
        if k == start:
            g, d = _seeded(
                cfg.seed * 1009 + k,
                lambda: (MLPGenerator(size, dim, cfg.hidden, cfg.depth), MLPDiscriminator(dim, cfg.hidden, cfg.depth)),
            )
        else:
            g = grow_latent(tr.raw("G"), size)
            d = tr.raw("D")
        tr = engine.Trainer(
            dirs[k],
            {"G": g, "D": d},
            {"G": make_optimizer(cfg, g.parameters()), "D": make_optimizer(cfg, d.parameters())},
            _train_config(cfg, k, steps, f"phase {k} (latent {size})"),
        )
        sample = data.batch_sampler(ds, cfg.batch_size, tr.device)
        before = tr.step if tr.resume() else 0
        tr.fit(lambda t, batch: gan_step(cfg, t, batch[0], lambda b: uniform_latent(b, zmax, device=t.device)), sample)
        run.steps_trained_now += tr.step - before
        run.histories.append(list(tr.history))
    run.generator, run.discriminator = tr.raw("G").eval(), tr.raw("D").eval()
    return run


# ----------------------------------------------------------------------------------------------- CNN


def phase_images(cfg: CNNGANConfig) -> list[int]:
    """Images shown in each phase of ``cfg.strategy`` (bGAN: one phase as long as all the others)."""
    arch = cfg.arch
    cycles = max(len(arch.latent_sizes), arch.blocks)
    total = cfg.initial_images + (cycles - 1) * (cfg.fade_images + cfg.stable_images)
    n = len(growth_stages(cfg.strategy, arch))
    if n == 1:
        return [total]
    return [cfg.initial_images] + [cfg.fade_images + cfg.stable_images] * (n - 1)


def _load_images(cfg: CNNGANConfig) -> Any:
    kwargs: dict[str, Any] = {"root": cfg.root} if cfg.root else {}
    if cfg.crop:  # celeba's option: data.load refuses it for other sets
        kwargs["crop"] = cfg.crop
    ds = data.load(
        cfg.dataset,
        "train",
        n=cfg.n,
        size=cfg.resolution,
        channels=cfg.channels,
        value_range=(-1.0, 1.0),
        seed=cfg.seed,
        **kwargs,
    )
    shape = tuple(ds.info.shape)
    if shape != (cfg.channels, cfg.resolution, cfg.resolution):
        raise ValueError(
            f"{cfg.dataset!r} gives images {shape}, the model needs {(cfg.channels, cfg.resolution, cfg.resolution)}"
        )
    return ds


def fit_cnn_gan(cfg: CNNGANConfig, out_dir: str | Path | None = None, dataset: Any = None) -> GANRun:
    """Train one model of table 1 through its growth phases (see the module docstring).

    ``dataset`` (optional) replaces the images ``cfg`` names (an image dataset in [-1, 1]).
    """
    ds = dataset if dataset is not None else _load_images(cfg)
    stages = growth_stages(cfg.strategy, cfg.arch)
    images = phase_images(cfg)
    dirs = engine.phase_dirs(out_dir, len(stages))
    start = _first_phase(dirs)
    zmax = cfg.arch.max_latent
    world = engine.init_distributed(cfg.device).world_size
    global_batch = cfg.batch_size * world
    g = d = tr = None
    run = GANRun(None, None, stages)
    for k, stage in enumerate(stages):
        prev = stages[k - 1] if k > 0 else None
        steps = max(1, images[k] // global_batch)
        run.phase_steps.append(steps)
        if k < start:
            run.histories.append([])
            continue
        seed = cfg.seed * 1009 + k
        if k == start:
            g, d = _seeded(
                seed, lambda: (Generator(stage, prev, cfg.channels), Discriminator(stage, prev, cfg.channels))
            )
        else:
            g, d = _seeded(seed, lambda: (grow_generator(tr.raw("G"), stage), grow_discriminator(tr.raw("D"), stage)))
        opt = {name: make_optimizer(cfg, m.parameters()) for name, m in (("G", g), ("D", d))}
        tr = engine.Trainer(
            dirs[k],
            {"G": g, "D": d},
            opt,
            _train_config(
                cfg,
                k,
                steps,
                f"{cfg.strategy} phase {k} ({stage.resolution}px, z {stage.latent})",
                fading=prev is not None and prev.blocks < stage.blocks,
            ),
        )
        sample = data.batch_sampler(ds, cfg.batch_size, tr.device)

        def step_fn(
            t: engine.Trainer, batch: Any, stage: Stage = stage, prev: Stage | None = prev, k: int = k
        ) -> dict[str, Any]:
            progress = 1.0 if k == 0 else min(1.0, t.step * global_batch / max(1, cfg.fade_images))
            set_fade(t.raw("G"), progress)
            set_fade(t.raw("D"), progress)
            real = real_images(batch[0], stage, prev, progress)
            out = gan_step(cfg, t, real, lambda b: gaussian_latent(b, zmax, device=t.device))
            out["alpha"] = progress
            return out

        before = tr.step if tr.resume() else 0
        tr.fit(step_fn, sample)
        run.steps_trained_now += tr.step - before
        run.histories.append(list(tr.history))
    g, d = tr.raw("G"), tr.raw("D")
    set_fade(g, 1.0)
    set_fade(d, 1.0)
    g.to_rgb_prev = d.from_rgb_prev = None  # faded out: the final networks are those of tables 2-3
    run.generator, run.discriminator = g.eval(), d.eval()
    return run


# -------------------------------------------------------------------------------------------- presets


def train_preset_mlp(params: Mapping[str, Any], out_dir: str | Path) -> None:
    """``python -m latentkit.experiments train``: the three Swiss-roll runs of sec. 7.1.

    Parameters ``roll_*`` are :class:`MLPGANConfig` fields; ``roll_lr_high`` is experiment 1's rate.
    ``params`` are the chapter's resolved parameters. Runs go to ``out_dir/roll_high``, ``out_dir/roll_tuned``
    and ``out_dir/roll_grown``.
    """
    for name, cfg in swiss_roll_configs(params).items():
        fit_mlp_gan(cfg, Path(out_dir) / name)


def train_preset_cnn(params: Mapping[str, Any], out_dir: str | Path) -> None:
    """``python -m latentkit.experiments train``: every CNN model of the preset into ``out_dir/<model>``
    (and ``out_dir/<model>_seed<i>`` for the further seeds when ``cnn_seeds > 1``)."""
    for name, cfg in cnn_seed_configs(params).items():
        fit_cnn_gan(cfg, Path(out_dir) / name)


def train_preset(params: Mapping[str, Any], out_dir: str | Path) -> None:
    """``python -m latentkit.experiments train``: the Swiss-roll runs, then the CNN models."""
    train_preset_mlp(params, out_dir)
    train_preset_cnn(params, out_dir)
