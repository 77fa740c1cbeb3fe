"""Sequence tasks of the lecture for recurrent networks, generated in code.

Every task is a frozen dataclass with ``sample(step, generator) -> (x, y)`` (``x`` float ``(B, T, d)``),
``input_size``, ``output_size``, ``mapping`` ("many_to_one" or "many_to_many") and ``kind``
("classification" or "regression"), plus what a lab needs to show and score it: ``test_batches()`` (fixed
held-out data), ``display_batch(n)`` (fixed inputs and their names), ``token_labels(x)`` for one input and
``label_names(targets)``, the
settings a user may change (``knobs``), ``memory_span`` (how far back the answer lies, None when it
does not matter), ``equal_length`` (all sequences of a batch have the same length) and ``chance`` (the test
metric of a model that learned nothing, None where no simple rate applies).

- :class:`RunningSum`: y_t = sum_{k<=t} x_k (the lecture's "computing sum", many-to-many regression).
- :class:`SumComparison`: is sum_t x_t[0] > sum_t x_t[1]? (the lecture's many-to-one example).
- :class:`MarkedRecall`: read a symbol, then ``gap`` random distractors, output the first symbol (a
  long-range dependency: a vanilla RNN fails as the gap grows, LSTM and GRU do not).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

MAX_LENGTH = 1000
MAX_BATCH = 1024
REGRESSION_TOLERANCE = 0.1
TEST_SEED = 12345
TEST_SIZE = 1024
DISPLAY_SEED = TEST_SEED + 1


def _check_common(length: int, batch_size: int, min_length: int = 1) -> None:
    if not min_length <= length <= MAX_LENGTH:
        raise ValueError(f"sequence length must be between {min_length} and {MAX_LENGTH}, got {length}")
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH}, got {batch_size}")


class GeneratedTask:
    """What the generated tasks share: fixed test and display batches drawn from their own seeds."""

    knobs: tuple[str, ...] = ("length",)
    memory_span: int | None = None
    equal_length = True
    chance: float | None = None  # the test metric of a model that learned nothing

    training_batches = None  # fresh sequences every step: no fixed set of training examples to fit

    def test_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One batch of ``TEST_SIZE`` sequences, the same every call (a generator apart from training's)."""
        yield replace(self, batch_size=TEST_SIZE).sample(0, torch.Generator().manual_seed(TEST_SEED))

    def display_batch(self, n: int) -> tuple[tuple[torch.Tensor, torch.Tensor], list[str]]:
        """``n`` fixed inputs to show, ``(x, y)``, and their names."""
        batch = replace(self, batch_size=n).sample(0, torch.Generator().manual_seed(DISPLAY_SEED))
        return batch, [f"example {i + 1}" for i in range(n)]

    def label_names(self, targets: torch.Tensor) -> list[str]:
        """A class name per input (what the views colour by)."""
        return [self.classes[int(i)] for i in targets]


@dataclass(frozen=True)
class RunningSum(GeneratedTask):
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

    def token_labels(self, x: torch.Tensor) -> list[str]:
        return [f"{float(v):+.2f}" for v in x[:, 0]]

    def label_names(self, targets: torch.Tensor) -> list[str]:
        return ["final sum > 0" if float(y[-1]) > 0 else "final sum <= 0" for y in targets]


@dataclass(frozen=True)
class SumComparison(GeneratedTask):
    """x_t ~ U(0, 1)^2, label 1 if sum_t x_t[0] > sum_t x_t[1] else 0 (many-to-one)."""

    length: int = 10
    batch_size: int = 64
    mapping = "many_to_one"
    kind = "classification"
    input_size = 2
    output_size = 2
    classes = ("sum 1 <= sum 2", "sum 1 > sum 2")
    chance = 0.5

    def __post_init__(self):
        _check_common(self.length, self.batch_size)

    def sample(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.rand(self.batch_size, self.length, 2, generator=generator)  # (B, T, 2)
        sums = x.sum(dim=1)
        return x, (sums[:, 0] > sums[:, 1]).long()  # (B,)

    def token_labels(self, x: torch.Tensor) -> list[str]:
        return [f"{float(a):.2f}|{float(b):.2f}" for a, b in x.tolist()]


@dataclass(frozen=True)
class MarkedRecall(GeneratedTask):
    """One-hot symbols x_1 .. x_{gap+1} drawn uniformly from ``n_symbols``, plus a channel that marks step 1;
    the target is x_1 (many-to-one).

    Without the marker a network must also discover which step came first from its zero initial state;
    with it the task is purely "remember x_1 across the gap", the long-range dependency of the lecture.
    """

    gap: int = 20
    n_symbols: int = 4
    batch_size: int = 64
    mapping = "many_to_one"
    kind = "classification"
    knobs = ("gap",)

    def __post_init__(self):
        _check_common(self.gap + 1, self.batch_size, min_length=2)
        if not 2 <= self.n_symbols <= 26:
            raise ValueError(f"number of symbols must be between 2 and 26, got {self.n_symbols}")

    @property
    def length(self) -> int:
        return self.gap + 1

    @property
    def memory_span(self) -> int:
        return self.length

    @property
    def chance(self) -> float:
        return 1 / self.n_symbols

    @property
    def input_size(self) -> int:
        return self.n_symbols + 1

    @property
    def output_size(self) -> int:
        return self.n_symbols

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(chr(ord("A") + i) for i in range(self.n_symbols))

    def sample(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        symbols = torch.randint(self.n_symbols, (self.batch_size, self.length), generator=generator)
        x = F.one_hot(symbols, self.n_symbols).float()  # (B, T, K)
        marker = torch.zeros(*x.shape[:2], 1)
        marker[:, 0] = 1.0
        return torch.cat([x, marker], dim=-1), symbols[:, 0]  # (B, T, K + 1), (B,)

    def token_labels(self, x: torch.Tensor) -> list[str]:
        return [self.classes[int(i)] for i in x[:, : self.n_symbols].argmax(-1)]
