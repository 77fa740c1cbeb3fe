"""The segmentation lab's run (task, architecture, training), its loss and Dice, and the road to the engine."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from models.blocks.unet import DEPTHS, UNet
from models.core.engine import StepContext, StepOutput, TrainConfig, Trainer
from models.data.ct_slices import SegmentationBatches, SegmentationTask
from models.labs.segmentation.models import ARCHITECTURES, build_model


@dataclass(frozen=True)
class SegmentationRun:
    """One run: the task, the architecture and its depth, the batch size and the training settings."""

    task: SegmentationTask = SegmentationTask()
    architecture: str = "utransformer"
    depth: int = 2
    batch_size: int = 16
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(steps=250, lr=2e-3, optimizer="adamw", weight_decay=1e-4, clip_norm=1.0)
    )

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        if self.depth not in DEPTHS:
            raise ValueError(f"depth must be one of {DEPTHS}, got {self.depth}")
        build_model(self.architecture, depth=self.depth).check_input(torch.zeros(1, 1, self.task.size, self.task.size))


def soft_dice_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """1 - soft Dice of the foreground probability, per image, averaged: 1 - 2|P.M| / (|P| + |M|)."""
    p = torch.softmax(logits, dim=1)[:, 1]  # (B, H, W)
    m = masks.float()
    inter = (p * m).flatten(1).sum(1)
    total = p.flatten(1).sum(1) + m.flatten(1).sum(1)
    return (1 - (2 * inter + 1) / (total + 1)).mean()


def dice_per_image(pred: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Hard Dice 2|P & M| / (|P| + |M|) per image (1 when both are empty). pred, masks: (B, H, W)."""
    p, m = pred.bool().flatten(1), masks.bool().flatten(1)
    inter = (p & m).sum(1).float()
    total = (p.sum(1) + m.sum(1)).float()
    return torch.where(total > 0, 2 * inter / total.clamp(min=1), torch.ones_like(total))


def segmentation_step(model: UNet, batch: tuple[torch.Tensor, torch.Tensor], context: StepContext) -> StepOutput:
    """Cross-entropy + soft Dice loss; reports the batch's mean hard Dice."""
    images, masks = batch
    logits = model(images)
    loss = F.cross_entropy(logits, masks) + soft_dice_loss(logits, masks)
    dice = dice_per_image(logits.argmax(1), masks).mean()
    return StepOutput(loss=loss, metrics={"dice": dice.detach()})


def build_trainer(run: SegmentationRun, device: torch.device | str | None = None) -> Trainer:
    """A fresh model of ``run`` (seeded), trained on fresh slices every step."""
    torch.manual_seed(run.train.seed)
    model = build_model(run.architecture, depth=run.depth)
    return Trainer(model, segmentation_step, SegmentationBatches(run.task, run.batch_size), run.train, device)
