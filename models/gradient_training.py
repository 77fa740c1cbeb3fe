"""Gradients during training: the RNN lab's models on its long-range task, with clipping and truncation.

The task is :class:`models.sequence_tasks.MarkedRecall`: read a marked symbol, then ``gap`` distractors,
output the first symbol. The loss sits at the last step, so dL/dh_k is the gradient that has travelled
t - k = gap - k steps back through time: the engine records ||dL/dh_k|| for every k ("probes").
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.checkpoint import save_checkpoint
from models.engine import StepContext, StepOutput, TrainConfig, Trainer
from models.gradients import gated_profile
from models.rnn import CELLS, RecurrentModel
from models.sequence_tasks import MarkedRecall

OPTIMIZERS = ("sgd", "adam")
MAX_GAP = 200
MAX_STEPS = 5000
PROBE = "h"


@dataclass(frozen=True)
class GradientRun:
    """One training run of the lab; every field is checked by :meth:`validate`."""

    cell: str = "rnn"
    gap: int = 20
    n_symbols: int = 4
    hidden_size: int = 32
    nonlinearity: str = "tanh"
    w_scale: float | None = None  # W orthogonal times w_scale: all singular values equal it (None: torch's init)
    steps: int = 400
    lr: float = 2e-2
    optimizer: str = "adam"
    clip_norm: float | None = None
    tbptt_window: int | None = None
    batch_size: int = 32
    probe_every: int = 5
    gate_bias: float = 6.0  # initial bias of the LSTM forget gate / GRU keep gate: the gated path starts open
    seed: int = 0

    def validate(self) -> GradientRun:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}")
        if not 1 <= self.gap <= MAX_GAP:
            raise ValueError(f"gap must be between 1 and {MAX_GAP}, got {self.gap}")
        if not 1 <= self.steps <= MAX_STEPS:
            raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {self.steps}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.w_scale is not None and not 0 < self.w_scale <= 10:
            raise ValueError(f"the scale of W must be in (0, 10], got {self.w_scale}")
        if self.probe_every < 1:
            raise ValueError(f"probe interval must be at least 1 step, got {self.probe_every}")
        return self

    @property
    def task(self) -> MarkedRecall:
        return MarkedRecall(gap=self.gap, n_symbols=self.n_symbols, batch_size=self.batch_size)

    @property
    def chance(self) -> float:
        return 1 / self.n_symbols


def build_model(run: GradientRun) -> RecurrentModel:
    """A one-layer many-to-one RecurrentModel, seeded; W = w_scale * (random orthogonal) if ``w_scale`` is set."""
    run.validate()
    task = run.task
    torch.manual_seed(run.seed)
    model = RecurrentModel(run.cell, task.input_size, run.hidden_size, task.output_size, nonlinearity=run.nonlinearity)
    rnn = model.body.rnn
    if run.cell != "rnn":  # torch's gate order: LSTM (i, f, g, o), GRU (r, u, n); f and u keep the state
        with torch.no_grad():
            rnn.bias_hh_l0[run.hidden_size : 2 * run.hidden_size] += run.gate_bias
    if run.w_scale is not None:
        W = rnn.weight_hh_l0  # (G*H, H): the gates' W stacked
        with torch.no_grad():
            for block in W.split(run.hidden_size):  # each gate's W: orthogonal, every singular value w_scale
                block.copy_(torch.linalg.qr(torch.randn_like(block)).Q * run.w_scale)
    return model


def make_step_fn(probe_every: int):
    """A step function: cross-entropy on the recalled symbol; every ``probe_every`` steps the step-by-step
    path runs with probes on h_k so the engine records ||dL/dh_k|| (otherwise the fused path runs)."""

    def step(model: RecurrentModel, batch: tuple, ctx: StepContext) -> StepOutput:
        x, y = batch
        probes = {}
        if ctx.step % probe_every == 0:
            trace = model.body.trace(x, detach_every=ctx.tbptt_window, probe=True)
            logits = model.head(trace.hidden[0][:, -1, 0])  # (B, M)
            probes[PROBE] = trace.probes[0]  # (B, T, 1, H)
        else:
            logits = model(x, detach_every=ctx.tbptt_window)
        loss = F.cross_entropy(logits, y)
        accuracy = (logits.argmax(dim=-1) == y).float().mean()
        return StepOutput(loss=loss, metrics={"accuracy": accuracy.detach()}, probes=probes)

    return step


def make_trainer(run: GradientRun, device: torch.device | str | None = None) -> Trainer:
    """The engine set up for ``run`` (model, task, clipping, truncated BPTT, seed)."""
    run.validate()
    config = TrainConfig(
        steps=run.steps,
        lr=run.lr,
        optimizer=run.optimizer,
        clip_norm=run.clip_norm,
        tbptt_window=run.tbptt_window,
        seed=run.seed,
        chunk_size=10,
    )
    return Trainer(build_model(run), make_step_fn(run.probe_every), run.task.sample, config, device)


def evaluate(model: RecurrentModel, run: GradientRun, batches: int = 4) -> float:
    """Accuracy on fresh batches (a generator seeded apart from training)."""
    generator = torch.Generator().manual_seed(run.seed + 12345)
    device = next(model.parameters()).device
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for step in range(batches):
            x, y = run.task.sample(step, generator)
            correct += int((model(x.to(device)).argmax(dim=-1).cpu() == y).sum())
            total += len(y)
    return correct / total


# --- lecture presets -----------------------------------------------------------------------------

PRESETS: dict[str, GradientRun] = {
    # tanh RNN with a contracting W: ||dL/dh_k|| dies within a few steps and the recall stays at chance
    "vanishing": GradientRun(cell="rnn", gap=30, w_scale=0.6, steps=300),
    # ReLU RNN with an expanding W and plain SGD: the gradient norm blows up and training diverges
    "exploding": GradientRun(cell="rnn", gap=30, nonlinearity="relu", w_scale=2.0, optimizer="sgd", lr=0.05, steps=300),
    # the same run with clipping by norm: bounded steps, training goes on
    "clipping": GradientRun(
        cell="rnn", gap=30, nonlinearity="relu", w_scale=2.0, optimizer="sgd", lr=0.05, steps=300, clip_norm=1.0
    ),
    # truncated BPTT: gradients beyond the window are cut to zero
    "truncation": GradientRun(cell="rnn", gap=30, steps=300, tbptt_window=10),
    # the gated fix: the LSTM's cell state carries the gradient across the gap
    "lstm": GradientRun(cell="lstm", gap=30, steps=300),
}


# --- RNN vs LSTM vs GRU against the dependency length --------------------------------------------

COMPARISON_GAPS = (5, 10, 20, 40, 80)
COMPARISON = GradientRun(steps=400, hidden_size=32, probe_every=10**6)
COMPARISON_FILE = "gradients_cells.json"


def checkpoint_name(cell: str) -> str:
    return f"gradients_{cell}.pt"


def compare_cells(base: GradientRun = COMPARISON, gaps=COMPARISON_GAPS, cells=CELLS) -> dict:
    """Train each cell at each gap from the same seed; final accuracy, and the trained models at the last gap."""
    accuracy = {cell: [] for cell in cells}
    models = {}
    for cell in cells:
        for gap in gaps:
            run = replace(base, cell=cell, gap=gap)
            trainer = make_trainer(run, device="cpu")
            trainer.run()
            accuracy[cell].append(evaluate(trainer.model, run))
            models[cell] = trainer.model
    return {"gaps": list(gaps), "accuracy": accuracy, "chance": base.chance, "run": asdict(base), "models": models}


def profile_along_time(model: RecurrentModel, run: GradientRun, seed: int = 0) -> dict[str, np.ndarray]:
    """||dh_T/dh_k|| (and ||dC_T/dC_k|| for an LSTM) of ``model`` on one sequence of the task, against T - k."""
    x, _ = run.task.sample(0, torch.Generator().manual_seed(seed))
    profile = gated_profile(model.body.rnn.cpu(), x[0])
    lags = np.arange(len(profile.dh))[::-1].copy()  # T - k for k = 0..T-1
    out = {"lag": lags, "dh": profile.dh}
    if profile.dC is not None:
        out["dC"], out["forget_path"] = profile.dC, profile.forget_path
    return out


def pretrain(assets: Path) -> list[Path]:
    """Train RNN, LSTM and GRU at every comparison gap; write accuracies (JSON) and the last gap's models."""
    assets.mkdir(parents=True, exist_ok=True)
    result = compare_cells()
    models = result.pop("models")
    paths = []
    for cell, model in models.items():
        path = assets / checkpoint_name(cell)
        run = replace(COMPARISON, cell=cell, gap=result["gaps"][-1])
        save_checkpoint(path, model, asdict(run), {"accuracy": result["accuracy"][cell][-1]})
        paths.append(path)
    path = assets / COMPARISON_FILE
    path.write_text(json.dumps(result, indent=2) + "\n")
    return [*paths, path]
