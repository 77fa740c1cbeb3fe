"""A task where order matters, and the tiny transformer that learns it with either positional encoding.

Offset copy: read a sequence of random tokens and, at every position t >= s, output the token seen
s steps earlier (y_t = x_{t-s}). Without a positional encoding self-attention is permutation
equivariant and cannot tell which token came s steps earlier; with one it learns the task.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from models.checkpoint import save_checkpoint
from models.engine import StepContext, StepOutput, TrainConfig, Trainer
from models.positional import positional_module

IGNORE_INDEX = -100


@dataclass(frozen=True)
class OffsetCopyTask:
    vocab_size: int = 8
    length: int = 24
    offset: int = 3
    batch_size: int = 64

    def __post_init__(self):
        if not 2 <= self.vocab_size <= 64:
            raise ValueError(f"vocabulary size must be between 2 and 64, got {self.vocab_size}")
        if not 2 <= self.length <= 256:
            raise ValueError(f"sequence length must be between 2 and 256, got {self.length}")
        if not 1 <= self.offset < self.length:
            raise ValueError(f"offset must be between 1 and length - 1 = {self.length - 1}, got {self.offset}")

    def sample(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch (tokens (B, T), targets (B, T)); targets before the offset are ignored."""
        tokens = torch.randint(self.vocab_size, (self.batch_size, self.length), generator=generator)
        targets = torch.full_like(tokens, IGNORE_INDEX)
        targets[:, self.offset :] = tokens[:, : -self.offset]
        return tokens, targets


class TinyOrderModel(nn.Module):
    """Token embedding + positional encoding + one post-norm transformer encoder layer + a linear head."""

    def __init__(self, vocab_size: int, max_len: int, d_model: int = 32, n_heads: int = 2, positional: str = "learned"):
        super().__init__()
        self.positional_kind = positional
        self.embed = nn.Embedding(vocab_size, d_model)
        self.positional = positional_module(positional, max_len, d_model)
        self.encoder = nn.TransformerEncoderLayer(
            d_model, n_heads, dim_feedforward=2 * d_model, dropout=0.0, batch_first=True
        )
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.positional(self.embed(tokens))  # (B, T, d)
        return self.head(self.encoder(x))  # (B, T, V)

    def positional_table(self, length: int) -> torch.Tensor | None:
        """The (length, d_model) encodings the model adds, or None without positional encoding."""
        if self.positional_kind == "none":
            return None
        return self.positional.encoding(length).detach()


def offset_copy_step(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], context: StepContext) -> StepOutput:
    """Cross-entropy over the positions that have a target, and their accuracy."""
    tokens, targets = batch
    logits = model(tokens)
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)
    scored = targets != IGNORE_INDEX
    accuracy = (logits.argmax(-1)[scored] == targets[scored]).float().mean()
    return StepOutput(loss=loss, metrics={"accuracy": accuracy.detach()})


DEFAULT_TASK = OffsetCopyTask()
PRETRAIN_STEPS = 600


def build_model(positional: str, task: OffsetCopyTask = DEFAULT_TASK) -> TinyOrderModel:
    return TinyOrderModel(task.vocab_size, task.length, positional=positional)


def checkpoint_path(assets: Path, positional: str) -> Path:
    return assets / f"positional_offset_copy_{positional}.pt"


def pretrain(assets: Path) -> list[Path]:
    """Train the offset-copy model with learned and with sinusoidal PE (a few seconds each)."""
    paths = []
    for positional in ("learned", "sinusoidal"):
        torch.manual_seed(0)
        model = build_model(positional)
        trainer = Trainer(
            model, offset_copy_step, DEFAULT_TASK.sample, TrainConfig(steps=PRETRAIN_STEPS, lr=3e-3), device="cpu"
        )
        history = trainer.run()
        meta = {
            "steps": trainer.step,
            "final_accuracy": float(history.column("accuracy")[-1]),
            "task": asdict(DEFAULT_TASK),
        }
        paths.append(save_checkpoint(checkpoint_path(assets, positional), model, {"positional": positional}, meta))
    return paths
