"""The RNN lab's pretrained defaults: every task and cell trained to its budget, and read back."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from models.blocks.recurrent import CELLS, RecurrentModel
from models.core.checkpoint import Checkpoint, load_checkpoint, rebuild, save_checkpoint
from models.core.evaluation import accuracy
from models.labs.rnn.spec import LAB_TASKS, RnnRun, build_trainer, default_run, evaluate, lab_task

EVAL_EVERY = 50


@dataclass
class TargetRun:
    """``steps`` and training ``seconds`` (evaluations not counted) to reach the target (the whole run if never
    reached); ``metric`` at the end."""

    reached: bool
    steps: int
    seconds: float
    metric: float
    total_steps: int = 0
    curves: dict[str, list[float]] = field(default_factory=dict)
    train_metric: float | None = None  # accuracy on the training examples, where the task has a fixed set


def train_to_target(run: RnnRun, stop_at_target: bool = True) -> tuple[RecurrentModel, TargetRun]:
    """Train ``run`` on the CPU, evaluating every ``EVAL_EVERY`` steps, until the test metric reaches the task's
    target (``stop_at_target``) or the step budget ends."""
    target = lab_task(run.task).target
    task = run.make_task()
    trainer = build_trainer(run, device="cpu")
    seconds, metric, hit = 0.0, 0.0, None
    while not trainer.done:
        started = time.perf_counter()
        trainer.run_chunk(EVAL_EVERY)
        seconds += time.perf_counter() - started
        metric = evaluate(trainer.model, task)
        if metric >= target and hit is None:
            hit = (trainer.step, seconds)
            if stop_at_target:
                break
    steps, seconds = hit or (trainer.step, seconds)
    curves = {name: trainer.history.column(name).round(4).tolist() for name in ("step", "loss", "accuracy")}
    fit = accuracy(trainer.model, task.training_batches()) if task.training_batches is not None else None
    return trainer.model, TargetRun(hit is not None, steps, seconds, metric, trainer.step, curves, fit)


def checkpoint_path(assets: Path, task_name: str, cell: str) -> Path:
    return assets / f"rnn_{task_name}_{cell}.pt"


def pretrain(assets: Path) -> list[Path]:
    """Default models for every task and cell (1 layer, unidirectional), trained for the whole step budget.

    The meta keeps the training curves and the step at which the target was reached, so the page shows
    RNN vs LSTM vs GRU before any click.
    """
    paths = []
    for task_name in LAB_TASKS:
        for cell in CELLS:
            model, run = train_to_target(default_run(task_name, cell), stop_at_target=False)
            meta = {
                "task": task_name,
                "steps": run.total_steps,
                "steps_to_target": run.steps if run.reached else None,
                "test_metric": run.metric,
                "train_metric": run.train_metric,
                "reached_target": run.reached,
                "seconds": run.seconds,
                "curves": run.curves,
            }
            path = save_checkpoint(checkpoint_path(assets, task_name, cell), model, model.config(), meta)
            reached = f"target at step {run.steps}" if run.reached else "target not reached"
            print(f"  {path.name}: {run.total_steps} steps, {reached}, test {run.metric:.3f}", flush=True)
            paths.append(path)
    return paths


def model_from_checkpoint(checkpoint: Checkpoint, source: str) -> RecurrentModel:
    """A fresh model (eval mode) with the checkpoint's architecture and weights (the checkpoint is not modified)."""
    return rebuild(checkpoint, source, lambda config: RecurrentModel(**config))


def load_pretrained(assets: Path, task_name: str, cell: str) -> tuple[RecurrentModel, dict]:
    """The pretrained default model for ``task_name`` and ``cell`` and its meta (CheckpointError if absent)."""
    path = checkpoint_path(assets, task_name, cell)
    checkpoint = load_checkpoint(path)
    return model_from_checkpoint(checkpoint, str(path)), checkpoint.meta
