"""Words of the lexicon (:mod:`models.data.lexicon`) as a character language model reads them.

A word is framed by one boundary symbol "." (index 0), read as the start token before its first letter and
predicted as the end token after its last one: "deep" is read as ". d e e p" and must predict "d e e p .".
Letters a-z are symbols 1..26. The lexicon's split (train and held-out test words) is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from models.core.evaluation import IGNORE_INDEX
from models.data.lexicon import ALPHABET, split

BOUNDARY = "."
SYMBOLS = BOUNDARY + ALPHABET  # index 0 is the start and end token, then a..z
VOCAB_SIZE = len(SYMBOLS)
TEST_BATCH = 2048
MAX_BATCH = 1024


def symbol_indices(word: str) -> list[int]:
    """Letters a-z -> symbol indices 1..26 (a ValueError names any other character)."""
    bad = sorted({ch for ch in word if ch not in ALPHABET})
    if bad:
        raise ValueError(f"letters a-z only; not: {' '.join(repr(ch) for ch in bad)}")
    return [SYMBOLS.index(ch) for ch in word]


def frame_words(words: list[str] | tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ". w_1 .. w_n" and targets "w_1 .. w_n ." as symbol indices, right-padded, ``(B, T_max + 1)`` each:
    inputs padded with -1, targets with ``IGNORE_INDEX``."""
    if not words:
        raise ValueError("no words to encode")
    width = max(len(w) for w in words) + 1
    inputs = torch.full((len(words), width), -1, dtype=torch.long)
    targets = torch.full((len(words), width), IGNORE_INDEX, dtype=torch.long)
    for i, word in enumerate(words):
        symbols = symbol_indices(word)
        inputs[i, : len(word) + 1] = torch.tensor([0, *symbols])
        targets[i, : len(word) + 1] = torch.tensor([*symbols, 0])
    return inputs, targets


def one_hot(inputs: torch.Tensor) -> torch.Tensor:
    """Symbol indices ``(B, T)`` (-1 = padding) -> one-hot x_t ``(B, T, VOCAB_SIZE)`` (padding = 0)."""
    return F.one_hot(inputs.clamp(min=0), VOCAB_SIZE).float() * (inputs >= 0)[..., None]


@lru_cache(maxsize=2)
def framed_split(name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``"train"`` or ``"test"`` words framed: inputs, targets ``(N, longest + 1)`` and word lengths ``(N,)``."""
    words = split(name)[0]
    inputs, targets = frame_words(words)
    return inputs, targets, torch.tensor([len(w) for w in words])


def split_words(name: str) -> tuple[str, ...]:
    """The ``"train"`` or ``"test"`` words of the lexicon, sorted."""
    return split(name)[0]


@dataclass(frozen=True)
class LexiconWords:
    """Batches of training words drawn uniformly: (one-hot inputs ``(B, T, 27)``, targets ``(B, T)``), T = the
    longest word of the batch + 1."""

    batch_size: int = 128

    def __post_init__(self):
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch size must be between 1 and {MAX_BATCH}, got {self.batch_size}")

    def sample(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets, lengths = framed_split("train")
        pick = torch.randint(len(lengths), (self.batch_size,), generator=generator)
        width = int(lengths[pick].max()) + 1
        return one_hot(inputs[pick, :width]), targets[pick, :width]

    def test_batches(self, name: str = "test") -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Every word of split ``name`` once (held-out words by default), in batches of ``TEST_BATCH``."""
        inputs, targets, lengths = framed_split(name)
        for start in range(0, len(lengths), TEST_BATCH):
            part = slice(start, start + TEST_BATCH)
            width = int(lengths[part].max()) + 1
            yield one_hot(inputs[part, :width]), targets[part, :width]
