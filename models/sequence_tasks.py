"""Sequence tasks for recurrent networks, with batch and step functions for the training engine.

Every task is a frozen dataclass with ``sample(step, generator) -> (x, y)`` (``x`` float ``(B, T, d)``),
``input_size``, ``output_size``, ``mapping`` and ``kind`` ("classification" or "regression"); the
engine's step function is :func:`task_step` (or :func:`classification_step` / :func:`regression_step`),
which honours ``ctx.tbptt_window``.

- :class:`RunningSum`: y_t = sum_{k<=t} x_k (the lecture's "computing sum", many-to-many regression).
- :class:`SumComparison`: is sum_t x_t[0] > sum_t x_t[1]? (the lecture's many-to-one example).
- :class:`FirstSymbolRecall`: read a symbol, then ``gap`` random distractor symbols, output the first
  symbol (a long-range dependency: a vanilla RNN fails as the gap grows, LSTM/GRU do not).
- :class:`MarkedRecall`: the same with a channel marking step 1 (the RNN and gradient labs' long-range task).
- :class:`AddingProblem`: add the two marked numbers of a long sequence (Hochreiter & Schmidhuber).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.engine import StepContext, StepOutput

MAX_LENGTH = 1000
MAX_BATCH = 1024
REGRESSION_TOLERANCE = 0.1


def _check_common(length: int, batch_size: int, min_length: int = 1) -> None:
    if not min_length <= length <= MAX_LENGTH:
        raise ValueError(f"sequence length must be between {min_length} and {MAX_LENGTH}, got {length}")
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH}, got {batch_size}")


@dataclass(frozen=True)
class RunningSum:
    """x_t ~ U(-1, 1), target y_t = x_1 + ... + x_t at every step (many-to-many regression)."""

    length: int = 10
    batch_size: int = 64
    mapping = "many_to_many"
    kind = "regression"
    input_size = 1
    output_size = 1

    def __post_init__(self):
        _check_common(self.length, self.batch_size)

    def sample(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.rand(self.batch_size, self.length, 1, generator=generator) * 2 - 1  # (B, T, 1)
        return x, x.cumsum(dim=1)  # (B, T, 1)


@dataclass(frozen=True)
class SumComparison:
    """x_t ~ U(0, 1)^2, label 1 if sum_t x_t[0] > sum_t x_t[1] else 0 (many-to-one)."""

    length: int = 10
    batch_size: int = 64
    mapping = "many_to_one"
    kind = "classification"
    input_size = 2
    output_size = 2
    classes = ("sum 1 <= sum 2", "sum 1 > sum 2")

    def __post_init__(self):
        _check_common(self.length, self.batch_size)

    def sample(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.rand(self.batch_size, self.length, 2, generator=generator)  # (B, T, 2)
        sums = x.sum(dim=1)
        return x, (sums[:, 0] > sums[:, 1]).long()  # (B,)


@dataclass(frozen=True)
class FirstSymbolRecall:
    """One-hot symbols x_1 .. x_{gap+1} drawn uniformly from ``n_symbols``; the target is x_1."""

    gap: int = 20
    n_symbols: int = 4
    batch_size: int = 64
    mapping = "many_to_one"
    kind = "classification"

    def __post_init__(self):
        _check_common(self.gap + 1, self.batch_size, min_length=2)
        if not 2 <= self.n_symbols <= 26:
            raise ValueError(f"number of symbols must be between 2 and 26, got {self.n_symbols}")

    @property
    def length(self) -> int:
        return self.gap + 1

    @property
    def input_size(self) -> int:
        return self.n_symbols

    @property
    def output_size(self) -> int:
        return self.n_symbols

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(chr(ord("A") + i) for i in range(self.n_symbols))

    def sample(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        symbols = torch.randint(self.n_symbols, (self.batch_size, self.length), generator=generator)
        return F.one_hot(symbols, self.n_symbols).float(), symbols[:, 0]  # (B, T, K), (B,)


@dataclass(frozen=True)
class MarkedRecall(FirstSymbolRecall):
    """First-symbol recall with one extra input channel that marks the first step.

    Without the marker a network must also discover which step came first from its zero initial state;
    with it the task is purely "remember x_1 across the gap", the long-range dependency of the lecture.
    """

    @property
    def input_size(self) -> int:
        return self.n_symbols + 1

    def sample(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = super().sample(step, generator)  # (B, T, K), (B,)
        marker = torch.zeros(*x.shape[:2], 1)
        marker[:, 0] = 1.0
        return torch.cat([x, marker], dim=-1), y  # (B, T, K + 1)


@dataclass(frozen=True)
class AddingProblem:
    """x_t = (value ~ U(0, 1), marker); two markers, one in each half; target = the sum of the marked values."""

    length: int = 50
    batch_size: int = 64
    mapping = "many_to_one"
    kind = "regression"
    input_size = 2
    output_size = 1

    def __post_init__(self):
        _check_common(self.length, self.batch_size, min_length=2)

    def sample(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        B, T = self.batch_size, self.length
        values = torch.rand(B, T, generator=generator)
        half = T // 2
        first = torch.randint(half, (B,), generator=generator)
        second = half + torch.randint(T - half, (B,), generator=generator)
        markers = torch.zeros(B, T)
        rows = torch.arange(B)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        target = values[rows, first] + values[rows, second]
        return torch.stack([values, markers], dim=-1), target[:, None]  # (B, T, 2), (B, 1)


def _forward(
    model: nn.Module, batch: tuple, ctx: StepContext
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Run ``model`` on ``(x, y)`` or ``(x, y, lengths)``; truncated BPTT when ``ctx.tbptt_window`` is set."""
    x, y, *rest = batch
    lengths = rest[0] if rest else None
    window = ctx.tbptt_window if lengths is None else None
    return model(x, lengths=lengths, detach_every=window), y, lengths


def classification_step(model: nn.Module, batch: tuple, ctx: StepContext) -> StepOutput:
    """Cross-entropy (summed over steps for many-to-many, then averaged) and accuracy."""
    logits, y, _ = _forward(model, batch, ctx)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    accuracy = (logits.argmax(dim=-1) == y).float().mean()
    return StepOutput(loss=loss, metrics={"accuracy": accuracy.detach()})


def regression_step(model: nn.Module, batch: tuple, ctx: StepContext) -> StepOutput:
    """Mean squared error; "accuracy" = share of predictions within ``REGRESSION_TOLERANCE`` of the target."""
    prediction, y, _ = _forward(model, batch, ctx)
    loss = F.mse_loss(prediction, y)
    accuracy = ((prediction - y).abs() < REGRESSION_TOLERANCE).float().mean()
    return StepOutput(loss=loss, metrics={"accuracy": accuracy.detach(), "mse": loss.detach()})


def task_step(kind: str):
    """The step function for a task's ``kind``."""
    if kind not in ("classification", "regression"):
        raise ValueError(f"task kind must be 'classification' or 'regression', got {kind!r}")
    return classification_step if kind == "classification" else regression_step
