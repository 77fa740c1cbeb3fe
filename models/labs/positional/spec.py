"""A task where order matters, and the tiny transformer that learns it with either positional encoding.

Offset copy: read a sequence of random tokens and, at every position t >= s, output the token seen
s steps earlier (y_t = x_{t-s}). Without a positional encoding self-attention is permutation
equivariant and cannot tell which token came s steps earlier; with one it learns the task.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from models.blocks.positional import POSITIONAL_KINDS
from models.blocks.transformer import TokenTransformer
from models.core.engine import TrainConfig, Trainer
from models.core.evaluation import classification_step
from models.data.tokens import ToyTask

TASK = ToyTask("offset_copy", vocab_size=8, length=24, offset=3)
D_MODEL = 32


@dataclass(frozen=True)
class PositionalRun:
    """One run of the lab: which positional encoding the transformer adds, and the training settings."""

    positional: str = "learned"
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=600, lr=3e-3))

    def __post_init__(self):
        if self.positional not in POSITIONAL_KINDS:
            raise ValueError(f"positional encoding must be one of {POSITIONAL_KINDS}, got {self.positional!r}")


def build_model(positional: str) -> TokenTransformer:
    """Token embedding + positional encoding + one post-norm encoder block (2 heads) + a linear head."""
    return TokenTransformer(
        TASK.vocab_size,
        TASK.n_classes,
        TASK.length,
        D_MODEL,
        n_heads=2,
        n_layers=1,
        d_ff=2 * D_MODEL,
        positional=positional,
    )


def build_trainer(run: PositionalRun, device: torch.device | str | None = None) -> Trainer:
    torch.manual_seed(run.train.seed)
    return Trainer(build_model(run.positional), classification_step, TASK.sample, run.train, device)
