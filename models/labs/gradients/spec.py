"""Gradients during training: a recurrent network on the long-range recall task, with clipping and truncation.

The task is :class:`models.data.sequences.MarkedRecall`: read a marked symbol, then ``gap`` distractors,
output the first symbol. The loss sits at the last step, so dL/dh_k is the gradient that has travelled
t - k = gap - k steps back through time: the engine records ||dL/dh_k|| for every k (the "probes").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from models.blocks.recurrent import CELLS, NONLINEARITIES, RecurrentModel, recurrent_step
from models.core.engine import TrainConfig, Trainer
from models.core.evaluation import accuracy
from models.data.sequences import MarkedRecall
from models.labs.gradients.jacobians import gated_profile

MAX_GAP = 200
MAX_STEPS = 5000


@dataclass(frozen=True)
class GradientRun:
    """One training run of the lab, validated when it is made."""

    cell: str = "rnn"
    gap: int = 20
    n_symbols: int = 4
    hidden_size: int = 32
    nonlinearity: str = "tanh"
    w_scale: float | None = None  # W orthogonal times w_scale: all singular values equal it (None: torch's init)
    batch_size: int = 32
    probe_every: int = 5
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=400, lr=2e-2))

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}")
        if self.nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {self.nonlinearity!r}")
        if not 1 <= self.gap <= MAX_GAP:
            raise ValueError(f"gap must be between 1 and {MAX_GAP}, got {self.gap}")
        if not 1 <= self.train.steps <= MAX_STEPS:
            raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {self.train.steps}")
        if self.w_scale is not None and not 0 < self.w_scale <= 10:
            raise ValueError(f"the scale of W must be in (0, 10], got {self.w_scale}")
        if self.probe_every < 1:
            raise ValueError(f"probe interval must be at least 1 step, got {self.probe_every}")

    @property
    def task(self) -> MarkedRecall:
        return MarkedRecall(gap=self.gap, n_symbols=self.n_symbols, batch_size=self.batch_size)

    @property
    def chance(self) -> float:
        return 1 / self.n_symbols

    def with_train(self, **changes) -> GradientRun:
        """The same run with some training settings changed (steps, lr, clip_norm ...)."""
        return replace(self, train=replace(self.train, **changes))


def build_model(run: GradientRun) -> RecurrentModel:
    """A one-layer many-to-one RecurrentModel, seeded and initialised as in the RNN lab: LSTM and GRU gates get
    the chrono initialisation over the task's length; W = w_scale * (random orthogonal) per gate if ``w_scale``
    is set."""
    task = run.task
    torch.manual_seed(run.train.seed)
    model = RecurrentModel(run.cell, task.input_size, run.hidden_size, task.output_size, nonlinearity=run.nonlinearity)
    if run.cell != "rnn":
        model.body.chrono_init(max(task.memory_span, 3))
    if run.w_scale is not None:
        W = model.body.weights(0)["W"]  # (G*H, H): the gates' W stacked
        with torch.no_grad():
            for block in W.split(run.hidden_size):  # each gate's W: orthogonal, every singular value w_scale
                block.copy_(torch.linalg.qr(torch.randn_like(block)).Q * run.w_scale)
    return model


def build_trainer(run: GradientRun, device: torch.device | str | None = None) -> Trainer:
    """The engine set up for ``run``: cross-entropy on the recalled symbol; every ``probe_every`` steps the
    step-by-step path records ||dL/dh_k||; a run over the server's memory budget per run is refused."""
    model = build_model(run)
    model.memory_estimate(run.batch_size, run.task.length).check()
    step = recurrent_step("classification", probe_every=run.probe_every)
    return Trainer(model, step, run.task.sample, run.train, device)


def evaluate(model: RecurrentModel, run: GradientRun) -> float:
    """Accuracy on the task's held-out batch."""
    return accuracy(model, run.task.test_batches())


def profile_along_time(model: RecurrentModel, run: GradientRun, seed: int = 0) -> dict[str, np.ndarray]:
    """||dh_T/dh_k|| (and ||dC_T/dC_k|| for an LSTM) of ``model`` on one sequence of the task, against T - k."""
    x, _ = run.task.sample(0, torch.Generator().manual_seed(seed))
    profile = gated_profile(model.body.cpu(), x[0])
    lags = np.arange(len(profile.dh))[::-1].copy()  # T - k for k = 0..T-1
    out = {"lag": lags, "dh": profile.dh}
    if profile.dC is not None:
        out["dC"], out["forget_path"] = profile.dC, profile.forget_path
    return out
