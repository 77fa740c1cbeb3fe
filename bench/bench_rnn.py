"""RNN lab: time to target for each default task (goal <= 15 s on 2 CPU cores), and the cost of a trace.

Time to target counts training time only (the periodic test evaluations are excluded). The trace (step
by step, every gate kept) is timed side by side with the fused forward on the same display batch
(fastest of 15 calls each), so the ratio holds on any machine.
"""

from __future__ import annotations

import time

import torch

from models.blocks.recurrent import CELLS
from models.core.pretrain import ASSETS
from models.labs.rnn.analysis import display_examples, trace_examples
from models.labs.rnn.pretrain import load_pretrained, train_to_target
from models.labs.rnn.spec import LAB_TASKS, build_trainer, default_run

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
    for task_name, task in LAB_TASKS.items():
        _, run = train_to_target(default_run(task_name))
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
    for task_name, lab_task in LAB_TASKS.items():
        task = lab_task.make()
        examples = display_examples(task)
        lengths = None if task.equal_length else examples.lengths
        for cell in CELLS:
            model, _ = load_pretrained(ASSETS, task_name, cell)
            model.eval()
            fused = _best_ms(lambda m=model, e=examples, n=lengths: m(e.x, lengths=n))
            traced = _best_ms(lambda m=model, e=examples: trace_examples(m, e))
            results[f"{task_name}/{cell}"] = {
                "batch": list(examples.x.shape),
                "fused_ms": round(fused, 3),
                "trace_ms": round(traced, 3),
                "trace_over_fused": round(traced / fused, 1),
            }
    return results


def step_cost_by_threads(steps: int = 40) -> dict:
    """ms per training step of the default part-of-speech LSTM with 1 and with 2 torch threads, side by side."""
    results = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        trainer = build_trainer(default_run("pos", steps=steps), device="cpu")
        started = time.perf_counter()
        trainer.run()
        results[f"{threads}_threads_ms_per_step"] = round(1000 * (time.perf_counter() - started) / steps, 1)
    return results


def run() -> dict:
    """Time to target with 1 torch thread, the slower case (the test suite's setting); ``step_cost_by_threads``
    shows, side by side, what a second thread gains on this machine (the app keeps torch's default)."""
    previous = torch.get_num_threads()
    try:
        by_threads = step_cost_by_threads()
        torch.set_num_threads(1)
        return {
            "goal_seconds_to_target": GOAL_SECONDS,
            "torch_threads": 1,
            "time_to_target": time_to_target(),
            "trace_cost": trace_cost(),
            "pos_step_cost_by_threads": by_threads,
            "note": "CPU, shared machine: absolute times are noisy; ratios are measured side by side",
        }
    finally:
        torch.set_num_threads(previous)
