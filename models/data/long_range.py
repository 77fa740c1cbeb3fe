"""A long-range task on a token map, generated in code: "key in a corner".

Every token of an H x W map carries a random bit (token 0 or 1), except one cell in a random corner that
carries the key (token 2 for key 0, token 3 for key 1). The label of every bit token is its bit XOR the key;
the key cell is not scored. A token that cannot see the key can only guess (chance 1/2); one that sees it
solves it. So a model's accuracy is bounded by how many tokens the key can reach:

    accuracy <= 1/2 + 1/2 * mean over the four corners c of (share of the map that c reaches),

which makes the task a measure of the reach of W-MSA, W-MSA + SW-MSA, GLAM, full and deformable attention.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from models.core.evaluation import IGNORE_INDEX

BIT_TOKENS = 2
KEY_TOKEN = 2  # key k is token KEY_TOKEN + k
VOCAB_SIZE = 4
N_CLASSES = 2
CHANCE = 0.5
MIN_SIZE = 2
MAX_SIZE = 128
MAX_BATCH = 512
TEST_SEED = 4321
TEST_MAPS_PER_CASE = 32  # maps per (corner, key) in the test set
TEST_BATCH = 32


def corners(height: int, width: int) -> tuple[tuple[int, int], ...]:
    """The four corner cells (row, col): top left, top right, bottom left, bottom right."""
    return ((0, 0), (0, width - 1), (height - 1, 0), (height - 1, width - 1))


@dataclass(frozen=True)
class LongRangeTask:
    """Key-in-a-corner maps of ``size`` x ``size`` tokens, ``batch_size`` maps a batch."""

    size: int = 16
    batch_size: int = 32

    def __post_init__(self):
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not MIN_SIZE <= self.size <= MAX_SIZE:
            raise ValueError(f"map size must be between {MIN_SIZE} and {MAX_SIZE} tokens per side, got {self.size!r}")
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch size must be between 1 and {MAX_BATCH}, got {self.batch_size}")

    def make(self, bits: torch.Tensor, corner: torch.Tensor, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Maps from their parts: ``bits`` (B, H, W) in {0, 1}, the key's ``corner`` index (B,) into
        :func:`corners` and its bit ``key`` (B,); returns tokens (B, H, W) and targets (B, H, W)."""
        if (
            bits.shape[1:] != (self.size, self.size)
            or bits.numel()
            and not 0 <= int(bits.min()) <= int(bits.max()) <= 1
        ):
            raise ValueError(
                f"expected bits in {{0, 1}} of shape (batch, {self.size}, {self.size}), got {tuple(bits.shape)}"
            )
        cells = torch.tensor(corners(self.size, self.size), device=bits.device)[corner]  # (B, 2)
        batch = torch.arange(bits.shape[0], device=bits.device)
        targets = bits ^ key[:, None, None]
        tokens = bits.clone()
        tokens[batch, cells[:, 0], cells[:, 1]] = KEY_TOKEN + key
        targets[batch, cells[:, 0], cells[:, 1]] = IGNORE_INDEX
        return tokens, targets

    def sample(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch (tokens (B, H, W), targets (B, H, W)) drawn from ``generator`` (the engine's ``batch_fn``)."""
        bits = torch.randint(BIT_TOKENS, (self.batch_size, self.size, self.size), generator=generator)
        corner = torch.randint(4, (self.batch_size,), generator=generator)
        key = torch.randint(2, (self.batch_size,), generator=generator)
        return self.make(bits, corner, key)

    def test_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Fixed, balanced batches apart from training's, the same every call: every corner with either key
        equally often (TEST_MAPS_PER_CASE maps each), so a model blind to the key scores about 1/2 (exactly 1/2 if it
        answers each token's own bit)."""
        generator = torch.Generator().manual_seed(TEST_SEED)
        cases = torch.arange(8).repeat_interleave(TEST_MAPS_PER_CASE)  # (corner, key) = (case % 4, case // 4)
        for batch in cases.split(TEST_BATCH):
            bits = torch.randint(BIT_TOKENS, (len(batch), self.size, self.size), generator=generator)
            yield self.make(bits, batch % 4, batch // 4)

    def example(self, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """One map (tokens (1, H, W), targets (1, H, W)) for a page to show."""
        return LongRangeTask(self.size, 1).sample(0, torch.Generator().manual_seed(seed))
