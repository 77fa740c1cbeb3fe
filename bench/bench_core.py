"""The engine: its overhead against a plain PyTorch loop, and how closely ``run_for`` keeps its deadline.

Engine and plain loop train the same model from the same initial weights on the same precomputed
batches; they alternate in rounds so that machine noise hits both alike, and the median rates compare.
"""

from __future__ import annotations

import copy
import statistics
import time

import torch

from models.core.engine import StepContext, TrainConfig, Trainer
from models.core.evaluation import classification_step
from models.labs.positional.spec import TASK, build_model

STEPS_PER_ROUND = 150
ROUNDS = 11
ENGINE_OVERHEAD_GOAL = 0.05
TICK_SECONDS = 0.4


def _batches(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    return [TASK.sample(step, generator) for step in range(n)]


def _plain_loop_rate(model, batches) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    context = StepContext(step=0, device=torch.device("cpu"), tbptt_window=None)
    started = time.perf_counter()
    for batch in batches:
        optimizer.zero_grad(set_to_none=True)
        loss = classification_step(model, batch, context).loss
        loss.backward()
        optimizer.step()
    return len(batches) / (time.perf_counter() - started)


def _engine_rate(model, batches) -> float:
    config = TrainConfig(steps=len(batches), lr=3e-3, chunk_size=25)
    trainer = Trainer(model, classification_step, lambda step, _: batches[step], config, device="cpu")
    started = time.perf_counter()
    trainer.run()
    return len(batches) / (time.perf_counter() - started)


def engine_overhead() -> dict:
    torch.manual_seed(0)
    initial = build_model("learned")
    batches = _batches(STEPS_PER_ROUND)
    _plain_loop_rate(copy.deepcopy(initial), batches[:20])  # warm-up
    plain, engine = [], []
    for _ in range(ROUNDS):
        plain.append(_plain_loop_rate(copy.deepcopy(initial), batches))
        engine.append(_engine_rate(copy.deepcopy(initial), batches))
    plain_rate, engine_rate = statistics.median(plain), statistics.median(engine)
    overhead = 1.0 - engine_rate / plain_rate
    return {
        "model": "offset-copy TokenTransformer (d=32, 1 layer, 2 heads), batch 64 x 24 tokens, Adam",
        "plain_loop_steps_per_s": round(plain_rate, 1),
        "engine_steps_per_s": round(engine_rate, 1),
        "overhead": round(overhead, 4),
        "goal_overhead_at_most": ENGINE_OVERHEAD_GOAL,
        "met": overhead <= ENGINE_OVERHEAD_GOAL,
    }


def run_for_overrun(chunk_size: int = 1000, ticks: int = 15) -> dict:
    """``run_for(TICK_SECONDS)`` with a chunk far longer than the tick: how far past its deadline a tick ends."""
    torch.manual_seed(0)
    batches = _batches(50)
    config = TrainConfig(steps=10**6, lr=3e-3, chunk_size=chunk_size)
    trainer = Trainer(build_model("learned"), classification_step, lambda step, _: batches[step % 50], config, "cpu")
    overruns, steps = [], []
    for _ in range(ticks):
        started = time.perf_counter()
        steps.append(len(trainer.run_for(TICK_SECONDS)))
        overruns.append(time.perf_counter() - started - TICK_SECONDS)
    return {
        "tick_seconds": TICK_SECONDS,
        "chunk_size": chunk_size,
        "median_steps_per_tick": statistics.median(steps),
        "median_overrun_ms": round(1000 * statistics.median(overruns), 1),
        "max_overrun_ms": round(1000 * max(overruns), 1),
    }


def run() -> dict:
    return {"engine_overhead": engine_overhead(), "run_for_deadline": run_for_overrun()}
