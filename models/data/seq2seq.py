"""A sequence-to-sequence task whose input and output lengths differ, generated in code: digits spelled out in
words, read character by character, written as digits ("four two seven" -> "427").

The input has about five characters per output digit, so the two lengths differ and grow together: an
encoder-decoder that passes only its last hidden state must squeeze every digit into one vector (the
lecture's bottleneck), while attention can look back at each word when it writes its digit.

Source characters: padding (0), space and a-z. Target symbols: padding (0), start "^" (1), end "$" (2) and the
digits 0-9 (3..12). A decoder reads "^ 4 2 7" and must write "4 2 7 $".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from models.core.evaluation import IGNORE_INDEX

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SOURCE_CHARS = "_ abcdefghijklmnopqrstuvwxyz"  # "_" is padding (index 0)
TARGET_SYMBOLS = "_^$0123456789"  # padding, start, end, digits
PAD, START, END = 0, 1, 2
SOURCE_VOCAB = len(SOURCE_CHARS)
TARGET_VOCAB = len(TARGET_SYMBOLS)
MAX_DIGITS = 16
MAX_CHARS = MAX_DIGITS * 6  # the longest digit word has 5 letters, plus a space
MAX_BATCH = 1024
TEST_SEED = 2468
TEST_PER_LENGTH = 64


def spell(digits: list[int] | tuple[int, ...]) -> str:
    """Digits -> their words separated by single spaces: [4, 2] -> "four two"."""
    return " ".join(DIGIT_WORDS[d] for d in digits)


def parse_digit_words(text: str, max_digits: int = MAX_DIGITS) -> list[int]:
    """Typed digit words -> digits; a ValueError says what is wrong with an empty, non-ASCII, overlong or unknown
    input. Case and extra spaces do not matter."""
    if not text.strip():
        raise ValueError("type some digits in words, e.g. 'four two seven'")
    if len(text) > MAX_CHARS:
        raise ValueError(f"the input has {len(text)} characters; at most {MAX_CHARS}")
    if not text.isascii():
        odd = sorted({ch for ch in text if not ch.isascii()})
        raise ValueError(f"ASCII letters only; not: {' '.join(repr(ch) for ch in odd)}")
    words = text.lower().split()
    unknown = sorted({w for w in words if w not in DIGIT_WORDS})
    if unknown:
        raise ValueError(f"digit words only (zero to nine); not: {', '.join(unknown)}")
    if len(words) > max_digits:
        raise ValueError(f"{len(words)} digits; this model reads at most {max_digits}")
    return [DIGIT_WORDS.index(w) for w in words]


def encode_sources(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Source strings -> character indices right-padded with 0, ``(B, S_max)``, and lengths ``(B,)``."""
    bad = sorted({ch for text in texts for ch in text if ch not in SOURCE_CHARS[1:]})
    if bad:
        raise ValueError(f"spaces and letters a-z only; not: {' '.join(repr(ch) for ch in bad)}")
    lengths = torch.tensor([len(t) for t in texts])
    sources = torch.zeros(len(texts), int(lengths.max()), dtype=torch.long)
    for i, text in enumerate(texts):
        sources[i, : len(text)] = torch.tensor([SOURCE_CHARS.index(ch) for ch in text])
    return sources, lengths


def encode_targets(sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Digit lists -> decoder inputs "^ d_1 .. d_n" (padded with 0) and targets "d_1 .. d_n $" (padded with
    ``IGNORE_INDEX``), ``(B, n_max + 1)`` each."""
    width = max(len(s) for s in sequences) + 1
    inputs = torch.full((len(sequences), width), PAD, dtype=torch.long)
    targets = torch.full((len(sequences), width), IGNORE_INDEX, dtype=torch.long)
    for i, digits in enumerate(sequences):
        symbols = [d + 3 for d in digits]
        inputs[i, : len(digits) + 1] = torch.tensor([START, *symbols])
        targets[i, : len(digits) + 1] = torch.tensor([*symbols, END])
    return inputs, targets


def decode_symbols(symbols: list[int]) -> str:
    """Target symbols -> the digits written, up to the end token: [6, 5, 2] -> "32"."""
    out = []
    for s in symbols:
        if s == END:
            break
        out.append(TARGET_SYMBOLS[s])
    return "".join(out)


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def make_batch(sequences: list[list[int]]) -> Batch:
    """(sources (B, S), source lengths (B,), decoder inputs (B, U), targets (B, U)) for digit lists."""
    return (*encode_sources([spell(s) for s in sequences]), *encode_targets(sequences))


@dataclass(frozen=True)
class DigitWords:
    """Batches of ``min_digits`` to ``max_digits`` random digits (length uniform), spelled out as the source."""

    min_digits: int = 1
    max_digits: int = 10
    batch_size: int = 64

    def __post_init__(self):
        if not 1 <= self.min_digits <= self.max_digits <= MAX_DIGITS:
            raise ValueError(
                f"need 1 <= min_digits <= max_digits <= {MAX_DIGITS}, got {self.min_digits}, {self.max_digits}"
            )
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch size must be between 1 and {MAX_BATCH}, got {self.batch_size}")

    @property
    def lengths(self) -> range:
        return range(self.min_digits, self.max_digits + 1)

    def draw(self, n: int, generator: torch.Generator, length: int | None = None) -> list[list[int]]:
        """``n`` digit lists (of ``length`` digits, or random lengths)."""
        if length is None:
            counts = torch.randint(self.min_digits, self.max_digits + 1, (n,), generator=generator).tolist()
        else:
            counts = [length] * n
        return [torch.randint(10, (k,), generator=generator).tolist() for k in counts]

    def sample(self, step: int, generator: torch.Generator) -> Batch:
        return make_batch(self.draw(self.batch_size, generator))

    def test_sets(self) -> Iterator[tuple[int, Batch]]:
        """(length, batch of ``TEST_PER_LENGTH`` inputs of that many digits) for every length, the same every call."""
        generator = torch.Generator().manual_seed(TEST_SEED)
        for length in self.lengths:
            yield length, make_batch(self.draw(TEST_PER_LENGTH, generator, length))

    def test_batches(self) -> Iterator[Batch]:
        return (batch for _, batch in self.test_sets())
