"""Run under torchrun (2 CPU processes, gloo): DDP training, and DDP resume against an uninterrupted run.

Usage: python -m torch.distributed.run --standalone --nproc_per_node=2 tests/engine_scripts/ddp_train.py OUT

Phase "a" trains 20 steps into OUT/a (checkpoints at 10 and 20); phase "b" continues OUT/a to 30 steps with
new module objects (a resume); phase "c" trains 30 steps uninterrupted into OUT/c. Phase "d" sends SIGTERM
to rank 1 alone inside step 7 (every rank must stop after step 7); in phase "e" rank 0 holds a RunLock on
OUT/e before training there (every rank must refuse). Each rank writes OUT/rank{R}.pt with its final weights
of b and c, the batches it drew in c, and what d and e raised.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import torch
from torch import nn

from latentkit.engine import (
    RunLock,
    RunLockedError,
    TrainConfig,
    Trainer,
    TrainingInterrupted,
    cleanup_distributed,
    seed_everything,
)


def run(out_dir: Path, steps: int, seen: list | None = None, sigterm: tuple[int, int] | None = None) -> Trainer:
    seed_everything(0)  # the same initial weights on every rank (DDP would broadcast rank 0's anyway)
    model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Dropout(0.1), nn.Linear(16, 1))
    data_x = torch.randn(512, 3, generator=torch.Generator().manual_seed(1))
    data_y = data_x.sum(dim=1, keepdim=True).sin()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    config = TrainConfig(steps=steps, device="cpu", checkpoint_every=10, log_every=5, progress=False)

    def sample(generator: torch.Generator):
        index = torch.randint(0, len(data_x), (16,), generator=generator)
        return data_x[index], data_y[index]

    def step_fn(trainer: Trainer, batch):
        x, y = batch
        if seen is not None:
            seen.append(x.clone())
        x = x + 0.01 * torch.randn_like(x)  # per-rank noise from the global RNG
        if sigterm is not None and (trainer.dist.rank, trainer.step + 1) == sigterm:  # (rank, 1-based step)
            os.kill(os.getpid(), signal.SIGTERM)
        loss = (trainer.module("model")(x) - y).pow(2).mean()
        trainer.backward_step(loss, "model")
        return {"loss": loss}

    trainer = Trainer(out_dir, {"model": model}, {"model": optimizer}, config)
    return trainer.fit(step_fn, sample)


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = Path(sys.argv[1])
    run(out / "a", 20)
    b = run(out / "a", 30)
    seen: list = []
    c = run(out / "c", 30, seen)
    stopped: dict = {"step": None, "message": None}
    try:
        run(out / "d", 30, sigterm=(1, 7))
    except TrainingInterrupted as err:
        stopped = {"step": err.step, "message": str(err)}
    lock = RunLock(out / "e").acquire() if c.dist.is_main else None
    refused = None
    try:
        run(out / "e", 5)
    except RunLockedError as err:
        refused = str(err)
    if lock is not None:
        lock.release()
    torch.save(
        {
            "rank": c.dist.rank,
            "world_size": c.dist.world_size,
            "b": b.raw("model").state_dict(),
            "c": c.raw("model").state_dict(),
            "b_history": b.history,
            "c_history": c.history,
            "batches": torch.stack(seen),
            "d_step": stopped["step"],
            "d_message": stopped["message"],
            "e_refused": refused,
        },
        out / f"rank{c.dist.rank}.pt",
    )
    cleanup_distributed()
