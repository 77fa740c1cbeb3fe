"""Foundation benchmarks: the engine's overhead against a plain PyTorch loop, and the PE lab's P and K.

Engine and plain loop train the same model from the same initial weights on the same precomputed
batches; they alternate in rounds so that machine noise hits both alike, and the median rates compare.
"""

from __future__ import annotations

import copy
import statistics
import time

import torch

from models.engine import StepContext, TrainConfig, Trainer
from models.order_task import DEFAULT_TASK, build_model, offset_copy_step
from models.positional import positional_similarity, sinusoidal_encoding

STEPS_PER_ROUND = 150
ROUNDS = 7
ENGINE_OVERHEAD_GOAL = 0.10
PE_GOAL_SECONDS = 0.1


def _batches(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    return [DEFAULT_TASK.sample(step, generator) for step in range(n)]


def _plain_loop_rate(model, batches) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    context = StepContext(step=0, device=torch.device("cpu"), tbptt_window=None)
    started = time.perf_counter()
    for batch in batches:
        optimizer.zero_grad(set_to_none=True)
        loss = offset_copy_step(model, batch, context).loss
        loss.backward()
        optimizer.step()
    return len(batches) / (time.perf_counter() - started)


def _engine_rate(model, batches) -> float:
    config = TrainConfig(steps=len(batches), lr=3e-3, chunk_size=25)
    trainer = Trainer(model, offset_copy_step, lambda step, _: batches[step], config, device="cpu")
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
        "model": "offset-copy TinyOrderModel (d=32, 1 layer), batch 64 x 24 tokens, Adam",
        "plain_loop_steps_per_s": round(plain_rate, 1),
        "engine_steps_per_s": round(engine_rate, 1),
        "overhead": round(overhead, 4),
        "goal_overhead_at_most": ENGINE_OVERHEAD_GOAL,
        "met": overhead <= ENGINE_OVERHEAD_GOAL,
    }


def pe_build_time() -> dict:
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        P = sinusoidal_encoding(512, 512)
        positional_similarity(P)
        timings.append(time.perf_counter() - started)
    median = statistics.median(timings)
    return {
        "d_model": 512,
        "positions": 512,
        "median_seconds": round(median, 5),
        "goal_seconds": PE_GOAL_SECONDS,
        "met": median < PE_GOAL_SECONDS,
    }


def run() -> dict:
    return {"engine_overhead": engine_overhead(), "pe_build": pe_build_time()}
