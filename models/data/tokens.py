"""Toy token tasks whose solution shows in an attention map, generated in code.

Every task maps a sequence of tokens x_1..x_T to one target per position, so an encoder with a
per-token head solves it; each has a head pattern to look for:

- reverse: y_t = x_{T+1-t} (an anti-diagonal attention map; needs positions),
- offset copy: y_t = x_{t-s} for t > s (a diagonal shifted by s; needs positions; the positional-encoding
  lab's task),
- sort: y = the tokens in increasing order (position t looks for the token of rank t),
- count: y_t = how many times x_t occurs in the sequence (attend to equal tokens; order-free,
  so it is learned without any positional encoding).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from models.core.evaluation import IGNORE_INDEX

TASKS = ("reverse", "offset_copy", "sort", "count")
MAX_LENGTH = 32
MAX_VOCAB = 32
TEST_SEED = 1234
TEST_BATCHES = 4


def _offset_targets(tokens: torch.Tensor, offset: int) -> torch.Tensor:
    targets = torch.full_like(tokens, IGNORE_INDEX)
    targets[:, offset:] = tokens[:, :-offset]
    return targets


@dataclass(frozen=True)
class ToyTask:
    """One toy task: its name, vocabulary, sequence length, the offset (offset copy) and batch size."""

    name: str = "reverse"
    vocab_size: int = 8
    length: int = 8
    offset: int = 2
    batch_size: int = 64

    def __post_init__(self):
        if self.name not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.name!r}")
        if not 2 <= self.vocab_size <= MAX_VOCAB:
            raise ValueError(f"vocabulary size must be between 2 and {MAX_VOCAB}, got {self.vocab_size}")
        if not 2 <= self.length <= MAX_LENGTH:
            raise ValueError(f"sequence length must be between 2 and {MAX_LENGTH}, got {self.length}")
        if self.name == "offset_copy" and not 1 <= self.offset < self.length:
            raise ValueError(f"offset must be between 1 and length - 1 = {self.length - 1}, got {self.offset}")
        if not 1 <= self.batch_size <= 1024:
            raise ValueError(f"batch size must be between 1 and 1024, got {self.batch_size}")

    @property
    def n_classes(self) -> int:
        """Output classes: the vocabulary, or counts 1..T for the count task."""
        return self.length + 1 if self.name == "count" else self.vocab_size

    def targets(self, tokens: torch.Tensor) -> torch.Tensor:
        """The target of every position for ``tokens`` (B, T); IGNORE_INDEX where there is none."""
        rule = {
            "reverse": lambda t: t.flip(-1),
            "offset_copy": lambda t: _offset_targets(t, self.offset),
            "sort": lambda t: t.sort(dim=-1).values,
            "count": lambda t: (t[:, :, None] == t[:, None, :]).sum(-1),  # (B, T)
        }
        return rule[self.name](tokens)

    def sample(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch (tokens (B, T), targets (B, T)) drawn from ``generator``."""
        tokens = torch.randint(self.vocab_size, (self.batch_size, self.length), generator=generator)
        return tokens, self.targets(tokens)

    def test_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Fresh batches from a generator apart from training's, the same every call."""
        generator = torch.Generator().manual_seed(TEST_SEED)
        for step in range(TEST_BATCHES):
            yield self.sample(step, generator)

    def example(self, seed: int = 0) -> str:
        """A sample input as text (what a page's token box starts with)."""
        tokens = torch.randint(self.vocab_size, (self.length,), generator=torch.Generator().manual_seed(seed))
        return " ".join(str(t) for t in tokens.tolist())

    def parse(self, text: str) -> torch.Tensor:
        """Tokens typed as integers separated by spaces or commas -> a (1, T) tensor, checked."""
        parts = text.replace(",", " ").split()
        if len(parts) != self.length:
            raise ValueError(f"type exactly {self.length} tokens (this model's sequence length), got {len(parts)}")
        try:
            values = [int(part) for part in parts]
        except ValueError:
            raise ValueError(f"tokens must be integers between 0 and {self.vocab_size - 1}, got {text!r}") from None
        if not all(0 <= value < self.vocab_size for value in values):
            raise ValueError(f"tokens must be integers between 0 and {self.vocab_size - 1}, got {values}")
        return torch.tensor([values])
