"""The 1,797 8x8 handwritten digits that ship with scikit-learn (read from the installed package)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import torch

N_TEST = 297


@dataclass(frozen=True)
class DigitsData:
    """The digit images (pixels in [0, 1]), split once into train and test."""

    train_images: torch.Tensor  # (N, 8, 8)
    train_labels: torch.Tensor  # (N,)
    test_images: torch.Tensor
    test_labels: torch.Tensor


@lru_cache(maxsize=1)
def load_digits_data(seed: int = 0) -> DigitsData:
    from sklearn.datasets import load_digits  # the data file ships with scikit-learn

    digits = load_digits()
    images = torch.tensor(digits.images / 16.0, dtype=torch.float32)
    labels = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    test, train = order[:N_TEST], order[N_TEST:]
    return DigitsData(images[train], labels[train], images[test], labels[test])


@dataclass(frozen=True)
class DigitBatches:
    """The engine's batches: random training digits ``(images (B, 8, 8), labels (B,))``; the test set held out."""

    batch_size: int = 64

    def __post_init__(self):
        if not 1 <= self.batch_size <= 1024:
            raise ValueError(f"batch size must be between 1 and 1024, got {self.batch_size}")

    def sample(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        data = load_digits_data()
        index = torch.randint(len(data.train_labels), (self.batch_size,), generator=generator)
        return data.train_images[index], data.train_labels[index]

    def test_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        data = load_digits_data()
        yield data.test_images, data.test_labels
