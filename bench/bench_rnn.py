"""RNN lab: time to target for each default task (goal <= 15 s on 2 CPU cores), and the cost of a trace.

Time to target counts training time only (the periodic test evaluations are excluded). The trace (step
by step, every gate kept) is timed side by side with the fused forward on the same display batch
(fastest of 15 calls each), so the ratio holds on any machine.
"""

from __future__ import annotations

import time

import torch

from models import rnn_lab
from models.pretrain import ASSETS
from models.rnn import CELLS

GOAL_SECONDS = 15.0
REPEATS = 15


def _best_ms(fn) -> float:
    """The fastest of ``REPEATS`` calls (the least disturbed by other processes on a shared machine)."""
    fn()
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return 1000 * min(times)


def time_to_target() -> dict:
    results = {}
    for task_name, task in rnn_lab.LAB_TASKS.items():
        _, run = rnn_lab.train_to_target(task_name)
        results[task_name] = {
            "cell": task.cell,
            "target": task.target,
            "reached": run.reached,
            "steps": run.steps,
            "seconds": round(run.seconds, 2),
            "test_metric": round(run.metric, 4),
            "within_goal": run.reached and run.seconds <= GOAL_SECONDS,
        }
    return results


@torch.no_grad()
def trace_cost() -> dict:
    results = {}
    for task_name in rnn_lab.LAB_TASKS:
        examples = rnn_lab.display_examples(task_name)
        for cell in CELLS:
            model, _ = rnn_lab.load_pretrained(ASSETS, task_name, cell)
            model.eval()
            fused = _best_ms(lambda m=model, e=examples: m(e.x, lengths=e.lengths))
            traced = _best_ms(lambda m=model, e=examples: rnn_lab.trace_examples(m, e))
            results[f"{task_name}/{cell}"] = {
                "batch": list(examples.x.shape),
                "fused_ms": round(fused, 3),
                "trace_ms": round(traced, 3),
                "trace_over_fused": round(traced / fused, 1),
            }
    return results


def run() -> dict:
    return {
        "goal_seconds_to_target": GOAL_SECONDS,
        "time_to_target": time_to_target(),
        "trace_cost": trace_cost(),
        "note": "CPU, shared machine: absolute times are noisy; trace_over_fused is measured side by side",
    }
