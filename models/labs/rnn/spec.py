"""The RNN lab's tasks and defaults, the spec of a run, and the one road from a spec to the engine.

A lab task is named ("pos", "running_sum", "sum_comparison", "recall", "recall_long"); :data:`LAB_TASKS`
gives each its data, its default model and training settings and the target its test metric reaches within
its step budget (the convergence tests and ``make bench`` check those).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch

from models.blocks.recurrent import CELLS, MAX_HIDDEN, MAX_LAYERS, NONLINEARITIES, RecurrentModel, recurrent_step
from models.core.engine import TrainConfig, Trainer, TrainerGroup
from models.core.evaluation import accuracy, within_tolerance
from models.core.memory import MemoryEstimate
from models.data.lexicon import PartOfSpeech
from models.data.sequences import REGRESSION_TOLERANCE, MarkedRecall, RunningSum, SumComparison


@dataclass(frozen=True)
class LabTask:
    """A task with its data, its default model and training settings, and the target its test metric reaches."""

    name: str
    title: str
    factory: type
    hidden_size: int
    lr: float
    steps: int
    target: float
    batch_size: int = 64
    clip_norm: float | None = 1.0
    params: dict[str, Any] = field(default_factory=dict)
    cell: str = "lstm"  # the cell whose time to target the tests and the benchmark check
    schedule: str = "constant"

    def make(self, batch_size: int | None = None, **params: Any):
        """The task object (its ``sample`` is the engine's batch function)."""
        return self.factory(**{**self.params, **params, "batch_size": batch_size or self.batch_size})


LAB_TASKS: dict[str, LabTask] = {
    "pos": LabTask(
        "pos",
        "Part of speech of a word ('deep' => adjective)",
        PartOfSpeech,
        80,
        2e-2,
        3000,
        0.75,
        128,
        params={"frequency_mix": 0.8, "mix_ramp": 3000},
        schedule="cosine",
    ),
    "running_sum": LabTask("running_sum", "Running sum (many-to-many)", RunningSum, 32, 1e-2, 800, 0.9),
    "sum_comparison": LabTask(
        "sum_comparison", "Is sum of dim 1 > sum of dim 2? (many-to-one)", SumComparison, 32, 1e-2, 600, 0.95
    ),
    "recall": LabTask(
        "recall",
        "Recall the first symbol after a gap of 20 steps",
        MarkedRecall,
        32,
        1e-2,
        600,
        0.95,
        params={"gap": 20},
    ),
    "recall_long": LabTask(
        "recall_long",
        "Recall the first symbol after a long gap (120 steps)",
        MarkedRecall,
        32,
        1e-2,
        800,
        0.95,
        params={"gap": 120},
    ),
}


def lab_task(name: str) -> LabTask:
    if name not in LAB_TASKS:
        raise ValueError(f"task must be one of {sorted(LAB_TASKS)}, got {name!r}")
    return LAB_TASKS[name]


@dataclass(frozen=True)
class ModelSpec:
    """The architecture a user picks on the page."""

    cell: str = "lstm"
    hidden_size: int = 32
    num_layers: int = 1
    bidirectional: bool = False
    nonlinearity: str = "tanh"

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}")
        if not 1 <= self.hidden_size <= MAX_HIDDEN:
            raise ValueError(f"hidden size must be between 1 and {MAX_HIDDEN}, got {self.hidden_size}")
        if not 1 <= self.num_layers <= MAX_LAYERS:
            raise ValueError(f"number of layers must be between 1 and {MAX_LAYERS}, got {self.num_layers}")
        if self.nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {self.nonlinearity!r}")


@dataclass(frozen=True)
class RnnRun:
    """One run of the lab: the task and its settings (``gap`` or ``length``), the model, the cells trained
    side by side (one cell: the model's), and the training settings."""

    task: str = "pos"
    task_settings: dict[str, int] = field(default_factory=dict)
    model: ModelSpec = ModelSpec()
    compare: bool = False
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        knobs = lab_task(self.task).make().knobs
        unknown = sorted(set(self.task_settings) - set(knobs))
        if unknown:
            raise ValueError(f"the {self.task} task has no setting {unknown}; it has {list(knobs)}")
        task = self.make_task()
        if self.train.tbptt_window is not None and (self.model.bidirectional or not task.equal_length):
            raise ValueError("truncated BPTT needs a unidirectional net on an equal-length task (not part of speech)")

    def make_task(self, batch_size: int | None = None):
        return lab_task(self.task).make(batch_size, **self.task_settings)

    @property
    def cells(self) -> tuple[str, ...]:
        return CELLS if self.compare else (self.model.cell,)


def default_run(task_name: str, cell: str | None = None, seed: int = 0, **train: Any) -> RnnRun:
    """The task's pretrained defaults (size, learning rate, steps, clipping), with ``train`` overrides."""
    t = lab_task(task_name)
    config = TrainConfig(steps=t.steps, lr=t.lr, clip_norm=t.clip_norm, seed=seed, schedule=t.schedule)
    return RnnRun(task_name, {}, ModelSpec(cell or t.cell, t.hidden_size), train=replace(config, **train))


def has_pretrained(run: RnnRun) -> bool:
    """Whether ``make pretrain`` trained this architecture on this task (default size and task settings)."""
    defaults = default_run(run.task, run.model.cell)
    return run.model == defaults.model and run.make_task() == defaults.make_task()


def build_model(task, spec: ModelSpec) -> RecurrentModel:
    """A fresh model for ``task``; on a long-range task LSTM and GRU gates get the chrono initialisation."""
    model = RecurrentModel(
        spec.cell,
        task.input_size,
        spec.hidden_size,
        task.output_size,
        num_layers=spec.num_layers,
        bidirectional=spec.bidirectional,
        nonlinearity=spec.nonlinearity,
        mapping=task.mapping,
    )
    if task.memory_span is not None and spec.cell != "rnn":
        model.body.chrono_init(max(task.memory_span, 3))
    return model


def build_trainer(run: RnnRun, device: torch.device | str | None = None) -> Trainer | TrainerGroup:
    """The engine set up for ``run``: one trainer, or RNN, LSTM and GRU side by side from the same seed; a run
    whose memory estimate exceeds the server's per-run budget is refused (``ValueError``)."""
    task = run.make_task()
    models = {}
    for cell in run.cells:
        torch.manual_seed(run.train.seed)
        models[cell] = build_model(task, replace(run.model, cell=cell))
    x = task.sample(0, torch.Generator().manual_seed(0))[0]  # (B, T, input)
    sum((model.memory_estimate(*x.shape[:2]) for model in models.values()), MemoryEstimate(0, 0)).check()
    step = recurrent_step(task.kind, REGRESSION_TOLERANCE)
    trainers = {cell: Trainer(model, step, task.sample, run.train, device) for cell, model in models.items()}
    return TrainerGroup(trainers) if run.compare else trainers[run.model.cell]


def evaluate(model: RecurrentModel, task) -> float:
    """The task's test metric on its held-out data: accuracy, or the share of sums within the tolerance."""
    if task.kind == "classification":
        return accuracy(model, task.test_batches())
    return within_tolerance(model, task.test_batches(), REGRESSION_TOLERANCE)
