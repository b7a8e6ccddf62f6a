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

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import Tensor, nn

from latentkit import data, engine
from latentkit.growing.cnn import (CNNArch, Discriminator, Generator, Stage, growth_stages, grow_discriminator,
                                   grow_generator, real_images, set_fade)
from latentkit.growing.losses import (LOSSES, gradient_penalty, ns_discriminator_loss, ns_generator_loss,
                                      wgan_critic_loss, wgan_generator_loss)
from latentkit.growing.mlp import MLPDiscriminator, MLPGenerator, grow_latent, uniform_latent

__all__ = ["MLPGANConfig", "CNNGANConfig", "GANRun", "fit_mlp_gan", "fit_cnn_gan", "gaussian_latent", "cnn_configs", "swiss_roll_configs",
           "phase_images", "train_preset", "train_preset_mlp", "train_preset_cnn", "chapter_configs", "OPTIMIZERS"]

OPTIMIZERS = ("rmsprop", "adam")
# One epoch: the 162,770 images of CelebA's train split, on which the models train. The thesis (sec. 7.2.3)
# trains on the whole set of 202,599; we keep its valid and test splits out of training.
CELEBA_EPOCH = 162_770


def gaussian_latent(n: int, size: int, generator: torch.Generator | None = None,
                    device: torch.device | str = "cpu") -> Tensor:
    """``size``-d standard Gaussians normalised to unit length (sec. 7.2.3); models use the first entries."""
    gen_device = generator.device if generator is not None else "cpu"
    z = torch.randn(n, size, generator=generator, device=gen_device).to(device)
    return z / z.norm(dim=1, keepdim=True)


@dataclass(frozen=True)
class MLPGANConfig:
    """An MLP GAN on 2-D points (sec. 7.1); ``latent_sizes=(1, 2)`` grows the latent 1 -> 2."""

    dataset: str = "swiss_roll"  # a 2-D point set of latentkit.data.load
    n: int | None = None  # training points (None: the loader's default)
    latent_sizes: tuple[int, ...] = (2,)  # latent size of each phase; (1, 2) grows 1 -> 2 (sec. 6.1)
    hidden: int = 32  # units per hidden layer (G and D)
    depth: int = 4  # hidden layers (G and D)
    loss: str = "ns"  # "ns" (eqs. 6, 8) or "wgan-gp" (eqs. 13, 14)
    gp_weight: float = 10.0  # lambda of the gradient penalty (wgan-gp)
    optimizer: str = "rmsprop"  # "rmsprop" or "adam"
    lr: float = 1e-3  # learning rate of both networks (the thesis also shows 5: too high)
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas
    batch_size: int = 128  # minibatch size
    d_updates: int = 10  # discriminator updates per minibatch (sec. 7.1: ten)
    g_updates: int = 10  # generator updates per minibatch (sec. 7.1: ten)
    images: int = 1_920_000  # real examples drawn in total, split equally over the phases
    seed: int = 0  # seed of the data order, initialisation and noise
    device: str = "auto"  # training device
    checkpoint_every: int = 500  # steps between checkpoints
    log_every: int = 50  # steps between metric records
    progress: bool = True  # progress bars

    def __post_init__(self) -> None:
        object.__setattr__(self, "latent_sizes", tuple(int(z) for z in self.latent_sizes))
        _check_common(self)


@dataclass(frozen=True)
class CNNGANConfig:
    """A CNN GAN of table 1 (defaults: the thesis's CelebA 128x128 setting, sec. 7.2.3)."""

    strategy: str = "clgGAN"  # bGAN, bgGAN, cgGAN, lgGAN or clgGAN (table 1)
    dataset: str = "celeba"  # an image set of latentkit.data.load
    n: int | None = None  # training images (None: all)
    root: str | None = None  # dataset folder of torchvision sets (None: the default)
    crop: int = 0  # celeba: side of the centre crop taken before resizing (0: the loader's 178; thesis 128)
    channels: int = 3  # image channels
    resolution: int = 128  # final image size
    widths: tuple[int, ...] = (256, 128, 64, 32, 16, 8)  # channels per block, 4x4 .. final (tables 2-3)
    latent_sizes: tuple[int, ...] = (8, 16, 32, 64, 128, 256)  # latent per growth cycle; the last is the max
    loss: str = "wgan-gp"  # "wgan-gp" (eqs. 13, 14) or "ns" (eqs. 6, 8)
    gp_weight: float = 10.0  # lambda
    optimizer: str = "adam"  # "adam" or "rmsprop"
    lr: float = 1e-4  # learning rate
    betas: tuple[float, float] = (0.0, 0.99)  # Adam betas
    eps: float = 1e-8  # Adam epsilon
    batch_size: int = 16  # minibatch size per process
    d_updates: int = 1  # discriminator updates per minibatch
    g_updates: int = 1  # generator updates per minibatch
    initial_images: int = 4 * CELEBA_EPOCH  # images of the first phase (4 epochs, sec. 7.2.3)
    fade_images: int = 4 * CELEBA_EPOCH  # images over which new weights fade in (4 epochs)
    stable_images: int = 4 * CELEBA_EPOCH  # images of stabilising after the fade-in (4 epochs)
    seed: int = 547  # the thesis's seed
    device: str = "auto"  # training device
    mixed_precision: bool = False  # bf16 autocast on CUDA
    compile: bool = False  # torch.compile the networks on CUDA (ignored elsewhere)
    checkpoint_every: int = 1000  # steps between checkpoints
    log_every: int = 100  # steps between metric records
    progress: bool = True  # progress bars

    def __post_init__(self) -> None:
        for name in ("widths", "latent_sizes", "betas"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        _check_common(self)
        growth_stages(self.strategy, self.arch)  # validates strategy and sizes

    @property
    def arch(self) -> CNNArch:
        return CNNArch(self.resolution, self.widths, self.latent_sizes)


def _check_common(cfg: Any) -> None:
    if cfg.loss not in LOSSES:
        raise ValueError(f"unknown loss {cfg.loss!r}; valid: {', '.join(LOSSES)}")
    if cfg.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {cfg.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
    for name in ("batch_size", "d_updates", "g_updates"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)}")


@dataclass
class GANRun:
    """What a fit returns: the final networks (eval mode, fully faded in) and each phase's record."""

    generator: nn.Module
    discriminator: nn.Module
    stages: list[Any]  # latent sizes (MLP) or Stage s (CNN), one per phase
    histories: list[list[dict]] = field(default_factory=list)  # logged metrics per phase
    steps_trained_now: int = 0  # steps this call trained (0: everything was reused)
    phase_steps: list[int] = field(default_factory=list)  # steps of each phase


def _optimizer(cfg: Any, params: Any) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=getattr(cfg, "eps", 1e-8))
    return torch.optim.RMSprop(params, lr=cfg.lr)


def _d_loss(cfg: Any, d: nn.Module, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    real_out, fake_out = d(real), d(fake)
    if cfg.loss == "ns":
        return ns_discriminator_loss(real_out, fake_out), torch.zeros((), device=real.device)
    gp = gradient_penalty(d, real, fake)
    return wgan_critic_loss(real_out, fake_out) + cfg.gp_weight * gp, gp.detach()


def _g_loss(cfg: Any, fake_out: Tensor) -> Tensor:
    return ns_generator_loss(fake_out) if cfg.loss == "ns" else wgan_generator_loss(fake_out)


def _gan_step(cfg: Any, tr: engine.Trainer, real: Tensor, latent: Callable[[int], Tensor]) -> dict[str, Tensor]:
    """``d_updates`` critic and ``g_updates`` generator updates on one minibatch (interleaved)."""
    g, d = tr.module("G"), tr.module("D")
    b = real.shape[0]
    loss_d = loss_g = gp = torch.zeros(())
    for i in range(max(cfg.d_updates, cfg.g_updates)):
        if i < cfg.d_updates:
            with torch.no_grad():
                fake = g(latent(b))
            with tr.autocast():
                loss_d, gp = _d_loss(cfg, d, real, fake)
            tr.backward_step(loss_d, "D")
        if i < cfg.g_updates:
            with tr.autocast():
                loss_g = _g_loss(cfg, d(g(latent(b))))
            tr.backward_step(loss_g, "G")
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "gp": gp}


def _phase_dirs(out_dir: Path | None, n: int) -> list[Path | None]:
    return [None if out_dir is None else out_dir / f"phase_{k}" for k in range(n)]


def _first_phase(dirs: list[Path | None]) -> int:
    """The last phase that has a checkpoint (training resumes there), else 0."""
    started = [k for k, p in enumerate(dirs) if p is not None and (p / "checkpoint.pt").exists()]
    return started[-1] if started else 0


def _train_config(cfg: Any, k: int, steps: int, desc: str, fading: bool = False) -> engine.TrainConfig:
    # fading: layers that fade out (alpha = 1) or in (alpha = 0) get no gradient -> DDP must look for them
    return engine.TrainConfig(steps=steps, seed=cfg.seed + k, device=cfg.device, checkpoint_every=cfg.checkpoint_every,
                              log_every=cfg.log_every, progress=cfg.progress, finite=("loss_d", "loss_g"),
                              desc=desc, mixed_precision=getattr(cfg, "mixed_precision", False),
                              # torch.compile cannot differentiate twice: the gradient penalty keeps D eager
                              compile=(("G",) if getattr(cfg, "compile", False) and getattr(cfg, "loss", "") == "wgan-gp"
                                       else getattr(cfg, "compile", False)),
                              ddp_find_unused=fading)


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
    out_dir = Path(out_dir) if out_dir is not None else None
    sizes, zmax = cfg.latent_sizes, cfg.latent_sizes[-1]
    dirs = _phase_dirs(out_dir, len(sizes))
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
            g, d = _seeded(cfg.seed * 1009 + k, lambda: (MLPGenerator(size, dim, cfg.hidden, cfg.depth),
                                                         MLPDiscriminator(dim, cfg.hidden, cfg.depth)))
        else:
            g = grow_latent(tr.raw("G"), size)
            d = tr.raw("D")
        tr = engine.Trainer(dirs[k], {"G": g, "D": d},
                            {"G": _optimizer(cfg, g.parameters()), "D": _optimizer(cfg, d.parameters())},
                            _train_config(cfg, k, steps, f"phase {k} (latent {size})"))
        sample = data.batch_sampler(ds, cfg.batch_size, tr.device)
        before = tr.step if tr.resume() else 0
        tr.fit(lambda t, batch: _gan_step(cfg, t, batch[0], lambda b: uniform_latent(b, zmax, device=t.device)),
               sample)
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
    ds = data.load(cfg.dataset, "train", n=cfg.n, size=cfg.resolution, channels=cfg.channels,
                   value_range=(-1.0, 1.0), seed=cfg.seed, **kwargs)
    shape = tuple(ds.info.shape)
    if shape != (cfg.channels, cfg.resolution, cfg.resolution):
        raise ValueError(f"{cfg.dataset!r} gives images {shape}, the model needs "
                         f"{(cfg.channels, cfg.resolution, cfg.resolution)}")
    return ds


def fit_cnn_gan(cfg: CNNGANConfig, out_dir: str | Path | None = None, dataset: Any = None) -> GANRun:
    """Train one model of table 1 through its growth phases (see the module docstring).

    ``dataset`` (optional) replaces the images ``cfg`` names (an image dataset in [-1, 1]).
    """
    ds = dataset if dataset is not None else _load_images(cfg)
    out_dir = Path(out_dir) if out_dir is not None else None
    stages = growth_stages(cfg.strategy, cfg.arch)
    images = phase_images(cfg)
    dirs = _phase_dirs(out_dir, len(stages))
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
            g, d = _seeded(seed, lambda: (Generator(stage, prev, cfg.channels), Discriminator(stage, prev, cfg.channels)))
        else:
            g, d = _seeded(seed, lambda: (grow_generator(tr.raw("G"), stage), grow_discriminator(tr.raw("D"), stage)))
        opt = {name: _optimizer(cfg, m.parameters()) for name, m in (("G", g), ("D", d))}
        tr = engine.Trainer(dirs[k], {"G": g, "D": d}, opt,
                            _train_config(cfg, k, steps, f"{cfg.strategy} phase {k} ({stage.resolution}px, z {stage.latent})",
                                          fading=prev is not None and prev.blocks < stage.blocks))
        sample = data.batch_sampler(ds, cfg.batch_size, tr.device)

        def step_fn(t: engine.Trainer, batch: Any, stage: Stage = stage, prev: Stage | None = prev,
                    k: int = k) -> dict[str, Any]:
            progress = 1.0 if k == 0 else min(1.0, t.step * global_batch / max(1, cfg.fade_images))
            set_fade(t.raw("G"), progress)
            set_fade(t.raw("D"), progress)
            real = real_images(batch[0], stage, prev, progress)
            out = _gan_step(cfg, t, real, lambda b: gaussian_latent(b, zmax, device=t.device))
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


def _parse_tuple(value: Any) -> Any:
    """``"32,16,8"`` -> ``(32, 16, 8)`` (chapter parameters are scalars); other values unchanged."""
    if not isinstance(value, str):
        return value
    items = [v.strip() for v in value.split(",") if v.strip()]
    return tuple(float(v) if any(c in v for c in ".e") else int(v) for v in items)


def _params_to(config_class: type, params: Mapping[str, Any], prefix: str = "") -> Any:
    """A config from the chapter parameters named ``prefix + field`` (tuple fields given as "a,b,c")."""
    from latentkit.experiments.registry import config_from

    tuples = {f.name for f in fields(config_class) if str(f.type).startswith("tuple")}
    values = {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}
    values = {k: _parse_tuple(v) if k in tuples else v for k, v in values.items()}
    if values.get("n") == 0:
        values["n"] = None
    if values.get("root") == "":
        values["root"] = None
    return config_from(config_class, values)


def _common(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: params[k] for k in ("seed", "device", "progress") if k in params}


def train_preset_mlp(params: Mapping[str, Any], out_dir: str | Path) -> None:
    """``python -m latentkit.experiments train``: the three Swiss-roll runs of sec. 7.1.

    Parameters ``roll_*`` are :class:`MLPGANConfig` fields; ``roll_lr_high`` is experiment 1's rate.
    ``params`` are the chapter's resolved parameters. Runs go to ``out_dir/roll_high``, ``out_dir/roll_tuned`` and ``out_dir/roll_grown``.
    """
    for name, cfg in swiss_roll_configs(params).items():
        fit_mlp_gan(cfg, Path(out_dir) / name)


def swiss_roll_configs(params: Mapping[str, Any]) -> dict[str, MLPGANConfig]:
    """The three experiments of sec. 7.1 from chapter parameters (``roll_*``, ``seed``, ``device``)."""
    base = _params_to(MLPGANConfig, params, "roll_")
    base = MLPGANConfig(**{**asdict(base), **_common(params)})
    high = params["roll_lr_high"]
    return {
        "roll_high": MLPGANConfig(**{**asdict(base), "lr": high, "latent_sizes": (2,)}),
        "roll_tuned": MLPGANConfig(**{**asdict(base), "latent_sizes": (2,)}),
        "roll_grown": MLPGANConfig(**{**asdict(base), "latent_sizes": (1, 2)}),
    }


def cnn_configs(params: Mapping[str, Any]) -> dict[str, CNNGANConfig]:
    """One :class:`CNNGANConfig` per model named in ``params["models"]`` (comma-separated) from the
    chapter parameters ``cnn_*`` (plus ``seed``, ``device``)."""
    base = _params_to(CNNGANConfig, params, "cnn_")
    common = _common(params)
    models = [m.strip() for m in str(params["models"]).split(",") if m.strip()]
    return {m: CNNGANConfig(**{**asdict(base), **common, "strategy": m}) for m in models}


def chapter_configs(params: Mapping[str, Any]) -> dict[str, MLPGANConfig | CNNGANConfig]:
    """Every run of chapter 3 by folder name: the Swiss-roll runs and the CNN models."""
    return {**swiss_roll_configs(params), **cnn_configs(params)}


def train_preset_cnn(params: Mapping[str, Any], out_dir: str | Path) -> None:
    """``python -m latentkit.experiments train``: every CNN model of the preset into ``out_dir/<model>``."""
    for name, cfg in cnn_configs(params).items():
        fit_cnn_gan(cfg, Path(out_dir) / name)


def train_preset(params: Mapping[str, Any], out_dir: str | Path) -> None:
    """``python -m latentkit.experiments train``: the Swiss-roll runs, then the CNN models."""
    train_preset_mlp(params, out_dir)
    train_preset_cnn(params, out_dir)
