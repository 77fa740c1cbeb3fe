"""The ViT lab's run: the model's shape and the training settings, and the road to the engine."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from models.core.engine import TrainConfig, Trainer
from models.core.evaluation import classification_step
from models.data.digits import DigitBatches
from models.labs.vit.model import ViT, ViTConfig


@dataclass(frozen=True)
class ViTRun:
    model: ViTConfig = ViTConfig()
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=600, lr=3e-3, clip_norm=1.0))
    batch_size: int = 64


def build_trainer(run: ViTRun, device: torch.device | str | None = None) -> Trainer:
    """A fresh ViT (seeded) trained on random training digits: cross-entropy of the CLS token's class."""
    torch.manual_seed(run.train.seed)
    return Trainer(ViT(run.model), classification_step, DigitBatches(run.batch_size).sample, run.train, device)
