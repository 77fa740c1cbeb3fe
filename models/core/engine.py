"""The one training engine every lab uses.

A :class:`Trainer` advances a model in short chunks of optimizer steps so that a UI can redraw and
stop between chunks. Each step reports a :class:`StepMetrics` (loss, task metrics, the gradient norm
before clipping, and per-time-step gradient norms of any "probe" tensors the step exposes). A
non-finite loss or gradient stops training with a reason and keeps the last finite weights.

The task side is two plain callables, so the engine knows nothing about any lab::

    batch_fn(step: int, generator: torch.Generator) -> Batch          # any tensors / tuples of them
    step_fn(model, batch, context: StepContext) -> StepOutput          # forward + loss

Usage::

    trainer = Trainer(model, step_fn, batch_fn, TrainConfig(steps=500, lr=1e-2, clip_norm=1.0))
    for chunk in trainer.chunks():          # or trainer.run(callback)
        print(chunk[-1].loss)
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch._dynamo  # noqa: F401  torch's optimizers import it on first use (2 s): here, not in a user's first click
from torch import nn

from models.core.device import default_device


@dataclass
class TrainConfig:
    """Hyperparameters of one training run, validated when it is made (a ``ValueError`` names the field)."""

    steps: int = 1000
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    clip_norm: float | None = None
    tbptt_window: int | None = None
    chunk_size: int = 25
    seed: int = 0
    history_capacity: int = 1000
    schedule: str = "constant"  # or "cosine": the learning rate decays from lr to 0 over the steps

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"learning rate must be a positive number, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight decay must be >= 0, got {self.weight_decay}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"clipping threshold must be positive (or None for no clipping), got {self.clip_norm}")
        if self.tbptt_window is not None and self.tbptt_window < 1:
            raise ValueError(f"truncated-BPTT window must be at least 1 step, got {self.tbptt_window}")
        if self.chunk_size < 1:
            raise ValueError(f"chunk size must be at least 1, got {self.chunk_size}")
        if self.history_capacity < 2:
            raise ValueError(f"history capacity must be at least 2, got {self.history_capacity}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"learning-rate schedule must be one of {SCHEDULES}, got {self.schedule!r}")

    def lr_at(self, step: int) -> float:
        """The learning rate of optimizer step ``step`` (0-based)."""
        if self.schedule == "cosine":
            return self.lr * 0.5 * (1 + math.cos(math.pi * step / self.steps))
        return self.lr


SCHEDULES = ("constant", "cosine")
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


@dataclass
class StepContext:
    """What a step function may need from the engine: the step index, device and BPTT window."""

    step: int
    device: torch.device
    tbptt_window: int | None


@dataclass
class StepOutput:
    """What a step function returns.

    ``loss`` is the scalar to minimise. ``metrics`` are extra scalars to report (accuracy, Dice...).
    ``probes`` are intermediate tensors of shape ``(B, T, ...)`` whose gradient norm per time step
    (||dL/dh_k||, summed over features, averaged over the batch) the engine records.
    """

    loss: torch.Tensor
    metrics: dict[str, float | torch.Tensor] = field(default_factory=dict)
    probes: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class StepMetrics:
    step: int
    loss: float
    grad_norm: float
    metrics: dict[str, float] = field(default_factory=dict)
    probe_grad_norms: dict[str, np.ndarray] = field(default_factory=dict)


class MetricHistory:
    """A bounded record of :class:`StepMetrics` that always spans the whole run. A run that diverges ends on
    the step that overflowed (its loss or gradient norm not finite), so a chart can mark where it happened.

    When full it keeps every second entry and records only every second step from then on, so a
    curve drawn from it covers step 1 to now at a resolution that halves as the run grows.
    """

    def __init__(self, capacity: int = 1000):
        self.capacity = capacity
        self.stride = 1
        self.entries: list[StepMetrics] = []

    def append(self, entry: StepMetrics) -> None:
        if entry.step % self.stride and math.isfinite(entry.loss) and math.isfinite(entry.grad_norm):
            return
        self.entries.append(entry)
        if len(self.entries) > self.capacity:
            self.stride *= 2
            self.entries = [e for e in self.entries if e.step % self.stride == 0]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.column(name)

    def column(self, name: str) -> np.ndarray:
        """``"step"``, ``"loss"``, ``"grad_norm"`` or a metric name, as a float array (NaN where absent)."""
        if name in ("step", "loss", "grad_norm"):
            return np.array([getattr(e, name) for e in self.entries], dtype=float)
        return np.array([e.metrics.get(name, np.nan) for e in self.entries], dtype=float)

    def probe_matrix(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, rows): the recorded per-time-step gradient norms of probe ``name`` over training."""
        rows = [(e.step, e.probe_grad_norms[name]) for e in self.entries if name in e.probe_grad_norms]
        if not rows:
            return np.zeros(0), np.zeros((0, 0))
        return np.array([s for s, _ in rows]), np.stack([r for _, r in rows])


Batch = Any
BatchFn = Callable[[int, torch.Generator], Batch]
StepFn = Callable[[nn.Module, Batch, StepContext], StepOutput]


class Trainer:
    """Trains ``model`` with ``step_fn`` on batches from ``batch_fn``, in chunks, stoppable.

    Attributes a UI reads: ``step`` (steps done), ``history`` (:class:`MetricHistory`), ``status``
    ("ready", "running", "finished", "stopped" or "diverged") and ``stop_reason``.
    """

    def __init__(
        self,
        model: nn.Module,
        step_fn: StepFn,
        batch_fn: BatchFn,
        config: TrainConfig | None = None,
        device: torch.device | str | None = None,
    ):
        self.config = config or TrainConfig()
        self.device = torch.device(device) if device is not None else default_device()
        self.model = model.to(self.device)
        self.step_fn = step_fn
        self.batch_fn = batch_fn
        self.optimizer = OPTIMIZERS[self.config.optimizer](
            self.model.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay
        )
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.history = MetricHistory(self.config.history_capacity)
        self.step = 0
        self.status = "ready"
        self.stop_reason: str | None = None
        self._stop_requested = threading.Event()
        self._parameters = [p for p in self.model.parameters() if p.requires_grad]
        self._last_good = [p.detach().clone() for p in self._parameters]
        self._last_good_step = 0

    @property
    def done(self) -> bool:
        return self.status in ("finished", "stopped", "diverged")

    def request_stop(self) -> None:
        """Ask the trainer to stop before its next step (safe to call from another thread)."""
        self._stop_requested.set()
        if self.status == "ready":
            self._finish("stopped", "stopped by the user before the first step")

    def run_chunk(self, n_steps: int | None = None, deadline: float | None = None) -> list[StepMetrics]:
        """Run up to ``n_steps`` (default ``config.chunk_size``) steps, and none after ``deadline``
        (a ``time.perf_counter()`` value; at least one step is taken); returns their metrics."""
        if self.done:
            return []
        self.status = "running"
        self.model.train()
        chunk = []
        for _ in range(min(n_steps or self.config.chunk_size, self.config.steps - self.step)):
            if self._stop_requested.is_set():
                self._finish("stopped", f"stopped by the user at step {self.step}")
                break
            metrics = self._train_step()
            if metrics is None:
                self._recover()
                break
            chunk.append(metrics)
            if deadline is not None and time.perf_counter() >= deadline:
                break
        if not self.done and self.step >= self.config.steps:
            self._finish("finished", f"finished {self.step} steps")
        return chunk

    def run_for(self, seconds: float) -> list[StepMetrics]:
        """Train until ``seconds`` have passed (checked after every step) or the run ends (a UI tick)."""
        return self.run_chunk(self.config.steps, deadline=time.perf_counter() + seconds)

    def chunks(self) -> Iterator[list[StepMetrics]]:
        """Yield each chunk's metrics until the run finishes, is stopped, or diverges."""
        while not self.done:
            yield self.run_chunk()

    def run(self, callback: Callable[[list[StepMetrics]], None] | None = None) -> MetricHistory:
        """Train to the end, calling ``callback(chunk)`` after each chunk; returns the history."""
        for chunk in self.chunks():
            if callback is not None:
                callback(chunk)
        return self.history

    def _train_step(self) -> StepMetrics | None:
        """One optimizer step; None (and a stop reason) if the loss or gradient is not finite."""
        batch = _to_device(self.batch_fn(self.step, self.generator), self.device)
        context = StepContext(step=self.step, device=self.device, tbptt_window=self.config.tbptt_window)
        self.optimizer.zero_grad(set_to_none=True)
        output = self.step_fn(self.model, batch, context)
        for probe in output.probes.values():
            probe.retain_grad()
        loss_value = output.loss.item()
        if not math.isfinite(loss_value):
            self.stop_reason = f"loss became {loss_value} at step {self.step + 1}"
            self.history.append(StepMetrics(step=self.step + 1, loss=loss_value, grad_norm=math.nan))
            return None
        self._remember_good_weights()
        output.loss.backward()
        grads = [p.grad for p in self._parameters if p.grad is not None]
        total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))  # ||dL/dtheta|| before clipping
        grad_norm = total.item()
        if self.config.clip_norm is not None and grad_norm > self.config.clip_norm:
            torch.nn.utils.clip_grads_with_norm_(self._parameters, self.config.clip_norm, total)
        if not math.isfinite(grad_norm):
            self.stop_reason = f"gradient norm became {grad_norm} at step {self.step + 1}"
            self.history.append(StepMetrics(step=self.step + 1, loss=loss_value, grad_norm=grad_norm))
            return None
        if self.config.schedule != "constant":
            for group in self.optimizer.param_groups:
                group["lr"] = self.config.lr_at(self.step)
        self.optimizer.step()
        self.step += 1
        metrics = StepMetrics(
            step=self.step,
            loss=loss_value,
            grad_norm=grad_norm,
            metrics={
                name: float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
                for name, value in output.metrics.items()
            },
            probe_grad_norms={name: _per_step_grad_norm(p) for name, p in output.probes.items()},
        )
        self.history.append(metrics)
        return metrics

    def _remember_good_weights(self) -> None:
        """Copy the weights that just produced a finite loss (into preallocated buffers, no graph)."""
        with torch.no_grad():
            torch._foreach_copy_(self._last_good, self._parameters)
        self._last_good_step = self.step

    def _recover(self) -> None:
        """After a non-finite loss or gradient, go back to the last weights whose loss was finite."""
        with torch.no_grad():
            for saved, parameter in zip(self._last_good, self._parameters, strict=True):
                parameter.copy_(saved)
        self.stop_reason += f"; restored the weights of step {self._last_good_step}, the last with a finite loss"
        self.status = "diverged"

    def _finish(self, status: str, reason: str) -> None:
        self.status = status
        self.stop_reason = reason


class TrainerGroup:
    """Several trainers advanced side by side (RNN, LSTM and GRU on one task); read like one :class:`Trainer`.

    ``step`` is the slowest member's, ``status`` the most telling one ("running" before "diverged",
    "stopped", "finished"), and ``run_for`` shares its time between the members still training.
    """

    STATUS_ORDER = ("running", "diverged", "stopped", "finished", "ready")

    def __init__(self, trainers: dict[str, Trainer]):
        if not trainers:
            raise ValueError("a trainer group needs at least one trainer")
        self.trainers = trainers
        self.config = next(iter(trainers.values())).config

    @property
    def step(self) -> int:
        return min(trainer.step for trainer in self.trainers.values())

    @property
    def done(self) -> bool:
        return all(trainer.done for trainer in self.trainers.values())

    @property
    def status(self) -> str:
        statuses = {trainer.status for trainer in self.trainers.values()}
        return next(status for status in self.STATUS_ORDER if status in statuses)

    @property
    def stop_reason(self) -> str:
        return "; ".join(f"{name}: {t.stop_reason}" for name, t in self.trainers.items() if t.stop_reason)

    @property
    def histories(self) -> dict[str, MetricHistory]:
        return {name: trainer.history for name, trainer in self.trainers.items()}

    @property
    def models(self) -> dict[str, nn.Module]:
        return {name: trainer.model for name, trainer in self.trainers.items()}

    def request_stop(self) -> None:
        for trainer in self.trainers.values():
            trainer.request_stop()

    def run_for(self, seconds: float) -> None:
        active = [trainer for trainer in self.trainers.values() if not trainer.done]
        for trainer in active:
            trainer.run_for(seconds / len(active))


def _per_step_grad_norm(probe: torch.Tensor) -> np.ndarray:
    """||dL/dh_k|| for each time step k of a ``(B, T, ...)`` probe, averaged over the batch."""
    if probe.grad is None:
        return np.zeros(probe.shape[1])
    grad = probe.grad.flatten(start_dim=2)  # (B, T, F)
    return grad.norm(dim=-1).mean(dim=0).detach().cpu().numpy()


def _to_device(batch: Batch, device: torch.device) -> Batch:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(item, device) for item in batch)
    if isinstance(batch, dict):
        return {key: _to_device(value, device) for key, value in batch.items()}
    return batch


def at_chance(history: MetricHistory, metric: str, chance: float, margin: float = 0.05) -> float | None:
    """The run's final ``metric`` (mean of its last tenth of recorded steps) if it ended within ``margin`` of
    ``chance``, i.e. it learned nothing; None if it learned something (or recorded no finite value)."""
    values = history.column(metric)
    values = values[np.isfinite(values)]
    if not values.size:
        return None
    final = float(values[-max(1, len(values) // 10) :].mean())
    return final if final <= chance + margin else None
