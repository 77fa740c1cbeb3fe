"""Tiny synthetic videos, generated in code: a square moving in a straight line on a dark frame and bouncing off
the walls (after the keras example ``conv_lstm.py``, smaller).

Each video comes with a label per frame, a "phase" as in surgical phase recognition: the number of times the
square has touched a wall so far (0, 1, then 2 or more). The phase of frame t depends on frames 1..t: a frame
alone shows where the square is, not how often it has bounced, so a per-frame network without memory cannot
know it, while a recurrent one can (synchronised many-to-many). The next frame depends on the square's
velocity, which no single frame shows either.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch

PHASES = ("before any bounce", "after one bounce", "after two bounces or more")
MAX_FRAMES = 32
MAX_SIZE = 32
MAX_BATCH = 512
TEST_SEED = 4321
TEST_SIZE = 512
DISPLAY_SEED = TEST_SEED + 1


@dataclass(frozen=True)
class MovingSquares:
    """Videos ``(B, T, 1, size, size)`` in {0, 1} and phases ``(B, T)``: a ``square`` x ``square`` block starts
    away from the walls and moves by (v_x, v_y) in {-1, 0, 1}^2 (not both 0) pixels per frame, reflected by the
    walls; the phase counts the frames at which it touches a wall (every touch is a bounce)."""

    frames: int = 12
    size: int = 16
    square: int = 4
    batch_size: int = 32

    def __post_init__(self):
        if not 2 <= self.frames <= MAX_FRAMES:
            raise ValueError(f"frames must be between 2 and {MAX_FRAMES}, got {self.frames}")
        if not 6 <= self.size <= MAX_SIZE:
            raise ValueError(f"frame size must be between 6 and {MAX_SIZE} pixels, got {self.size}")
        if not 1 <= self.square <= self.size - 3:
            raise ValueError(f"the square's side must be between 1 and size - 3 = {self.size - 3}, got {self.square}")
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch size must be between 1 and {MAX_BATCH}, got {self.batch_size}")

    @property
    def span(self) -> int:
        """The largest top-left coordinate, L = size - square (the square touches a wall at 0 or L)."""
        return self.size - self.square

    def trajectories(self, generator: torch.Generator) -> torch.Tensor:
        """Top-left corners ``(B, T, 2)`` (row, column): straight lines reflected at 0 and L."""
        B, L = self.batch_size, self.span
        position = torch.randint(1, L, (B, 2), generator=generator)  # away from the walls at t = 0
        moves = torch.tensor([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx])
        velocity = moves[torch.randint(len(moves), (B,), generator=generator)]  # (B, 2)
        corners = [position]
        for _ in range(self.frames - 1):
            position = position + velocity
            bounced = (position < 0) | (position > L)
            velocity = torch.where(bounced, -velocity, velocity)
            position = torch.where(bounced, position + 2 * velocity, position)
            corners.append(position)
        return torch.stack(corners, dim=1)

    def render(self, corners: torch.Tensor) -> torch.Tensor:
        """Top-left corners ``(B, T, 2)`` -> frames ``(B, T, 1, size, size)``."""
        grid = torch.arange(self.size)
        rows = (grid >= corners[..., :1]) & (grid < corners[..., :1] + self.square)  # (B, T, size)
        cols = (grid >= corners[..., 1:]) & (grid < corners[..., 1:] + self.square)
        return (rows[..., :, None] & cols[..., None, :]).float()[:, :, None]

    def phases(self, corners: torch.Tensor) -> torch.Tensor:
        """The phase of every frame ``(B, T)``: how many frames up to t show the square touching a wall, at most
        ``len(PHASES) - 1``."""
        touches = ((corners == 0) | (corners == self.span)).any(dim=-1)  # (B, T)
        return touches.long().cumsum(dim=1).clamp(max=len(PHASES) - 1)

    def sample(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch (videos ``(B, T, 1, size, size)``, phases ``(B, T)``)."""
        corners = self.trajectories(generator)
        return self.render(corners), self.phases(corners)

    def test_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``TEST_SIZE`` videos from a generator apart from training's, the same every call."""
        yield replace(self, batch_size=TEST_SIZE).sample(0, torch.Generator().manual_seed(TEST_SEED))

    def display_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` fixed videos to show and their phases."""
        return replace(self, batch_size=n).sample(0, torch.Generator().manual_seed(DISPLAY_SEED))

    def phase_shares(self) -> torch.Tensor:
        """How often each phase occurs in the test videos, ``(len(PHASES),)``."""
        _, phases = next(self.test_batches())
        return phases.flatten().bincount(minlength=len(PHASES)).float() / phases.numel()
