"""Train a tiny MLP with latentkit.engine; optionally SIGKILL the process inside a given step.

Usage: python tests/engine_scripts/resume_mlp.py OUT_DIR STEPS [KILL_AT_STEP] [--delay SECONDS]

``--delay`` sleeps that long in every step (a slow run, for tests that signal it while it trains); it does
not change the numbers.

The step function uses every RNG the engine must restore on resume: batches from the trainer's
generator, dropout and noise from torch's global RNG, and Python's and NumPy's global RNGs.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time

import numpy as np
import torch
from torch import nn

from latentkit.engine import TrainConfig, Trainer, seed_everything


def train(out_dir: str | None, steps: int, kill_at: int | None = None, delay: float = 0.0) -> Trainer:
    torch.set_num_threads(1)
    seed_everything(123)
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 1))
    data_x = torch.randn(256, 2, generator=torch.Generator().manual_seed(7))
    data_y = data_x[:, :1] * data_x[:, 1:] + 0.5 * data_x[:, :1]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=15, gamma=0.5)
    config = TrainConfig(
        steps=steps,
        seed=5,
        device="cpu",
        ema_decay=0.9,
        grad_clip=1.0,
        checkpoint_every=10,
        log_every=5,
        progress=False,
    )

    def sample(generator: torch.Generator):
        index = torch.randint(0, len(data_x), (32,), generator=generator)
        return data_x[index], data_y[index]

    def step_fn(trainer: Trainer, batch):
        x, y = batch
        x = x + 0.05 * torch.randn_like(x) * (1 + random.random()) + 0.01 * float(np.random.randn())
        loss = (trainer.module("model")(x) - y).pow(2).mean()
        grad_norm = trainer.backward_step(loss, "model")
        if kill_at is not None and trainer.step + 1 == kill_at:  # inside step `kill_at` (1-based)
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(delay)
        return {"loss": loss, "grad_norm": grad_norm}

    trainer = Trainer(out_dir, {"model": model}, {"model": optimizer}, config, {"model": scheduler})
    return trainer.fit(step_fn, sample)


if __name__ == "__main__":
    args = sys.argv[1:]
    delay = 0.0
    if "--delay" in args:
        i = args.index("--delay")
        delay = float(args[i + 1])
        del args[i : i + 2]
    train(args[0], int(args[1]), int(args[2]) if len(args) > 2 else None, delay)
