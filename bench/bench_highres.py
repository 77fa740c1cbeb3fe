"""High-resolution attention lab: window against full attention at 64x64 tokens, measured beside Swin's formulas,
and the live default comparison's training time.

Attention layers alone (W-MSA with M = 4 against MSA over all 4,096 tokens, C = 32, 4 heads, batch 1), forward and
backward, on one thread. Memory is what the forward pass saves for the backward pass (every saved tensor, counted
once through autograd's saved-tensor hooks), the measure of training memory that holds on a CPU; the formula's
memory ratio is the attention matrices' (hw)^2 against hw M^2. Both wall-clock and process CPU seconds are recorded:
on a machine shared with other jobs the wall clock mostly measures the others.
"""

from __future__ import annotations

import statistics
import time

import torch

from models.blocks.attention import MultiHeadAttention
from models.blocks.windows import WindowAttention, attention_matrix_bytes, msa_cost, window_msa_cost
from models.labs.highres.analysis import evaluate
from models.labs.highres.models import MECHANISMS
from models.labs.highres.spec import HighResRun, build_comparison

SIDE, CHANNELS, HEADS, WINDOW, BATCH = 64, 32, 4, 4, 1
REPEATS = 3
LIVE_BUDGET_SECONDS = 60


def saved_bytes(run) -> int:
    """Bytes of the distinct tensors autograd saves for backward while ``run()`` computes the forward pass."""
    seen: dict[tuple[int, int], int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        seen[(storage.data_ptr(), storage.nbytes())] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        run()
    return sum(seen.values())


def time_forward_backward(layer, x: torch.Tensor) -> dict:
    walls, cpus = [], []
    for _ in range(REPEATS + 1):  # the first run warms up
        started, started_cpu = time.perf_counter(), time.process_time()
        layer(x).sum().backward()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - started_cpu)
    return {"median_wall_ms": statistics.median(walls[1:]) * 1000, "median_cpu_ms": statistics.median(cpus[1:]) * 1000}


def window_vs_full() -> dict:
    torch.manual_seed(0)
    grid = torch.randn(BATCH, SIDE, SIDE, CHANNELS, requires_grad=True)
    tokens = grid.detach().reshape(BATCH, SIDE * SIDE, CHANNELS).requires_grad_(True)
    window, full = WindowAttention(CHANNELS, HEADS, WINDOW), MultiHeadAttention(CHANNELS, HEADS)
    timed = {"window": time_forward_backward(window, grid), "full": time_forward_backward(full, tokens)}
    memory = {"window": saved_bytes(lambda: window(grid)), "full": saved_bytes(lambda: full(tokens))}
    n = SIDE * SIDE
    predicted_speed = msa_cost(SIDE, SIDE, CHANNELS) / window_msa_cost(SIDE, SIDE, CHANNELS, WINDOW)
    predicted_memory = attention_matrix_bytes(n, n, HEADS) / attention_matrix_bytes(
        WINDOW**2, WINDOW**2, HEADS, n // WINDOW**2
    )
    speed = timed["full"]["median_cpu_ms"] / timed["window"]["median_cpu_ms"]
    memory_ratio = memory["full"] / memory["window"]
    return {
        "setting": f"{SIDE}x{SIDE} tokens, C = {CHANNELS}, {HEADS} heads, M = {WINDOW}, batch {BATCH}, fwd + bwd",
        "window_ms": {k: round(v, 1) for k, v in timed["window"].items()},
        "full_ms": {k: round(v, 1) for k, v in timed["full"].items()},
        "saved_for_backward_mb": {k: round(v / 2**20, 1) for k, v in memory.items()},
        "speed_ratio_measured_cpu": round(speed, 1),
        "speed_ratio_formula": round(predicted_speed, 1),
        "speed_measured_over_formula": round(speed / predicted_speed, 2),
        "memory_ratio_measured": round(memory_ratio, 1),
        "memory_ratio_formula_attention_matrices": round(predicted_memory, 1),
        "memory_measured_over_formula": round(memory_ratio / predicted_memory, 2),
    }


def live_comparison() -> dict:
    """The page's default side-by-side run (16x16 tokens, each mechanism to its plateau), timed per mechanism."""
    group = build_comparison(HighResRun(), MECHANISMS, "cpu")
    seconds = {}
    for name, trainer in group.trainers.items():
        started, started_cpu = time.perf_counter(), time.process_time()
        trainer.run()
        seconds[name] = (time.perf_counter() - started, time.process_time() - started_cpu)
    total_cpu = sum(cpu for _, cpu in seconds.values())
    return {
        "per_mechanism": {
            name: {
                "steps": group.trainers[name].step,
                "wall_seconds": round(wall, 1),
                "cpu_seconds": round(cpu, 1),
                "test_accuracy": round(evaluate(group.trainers[name].model), 3),
            }
            for name, (wall, cpu) in seconds.items()
        },
        "total_cpu_seconds": round(total_cpu, 1),
        "within_budget": total_cpu <= LIVE_BUDGET_SECONDS,
        "budget_seconds": LIVE_BUDGET_SECONDS,
    }


def run() -> dict:
    torch.set_num_threads(1)
    return {
        "threads": torch.get_num_threads(),
        "window_vs_full_attention": window_vs_full(),
        "live_default_comparison": live_comparison(),
        "note": "one thread; machine shared with other jobs (CPU seconds estimate an idle core)",
    }
