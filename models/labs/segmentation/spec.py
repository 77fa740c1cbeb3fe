"""The segmentation lab's run (task, architecture, training), its loss and Dice, and the road to the engine."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from models.core.engine import StepContext, StepOutput, TrainConfig, Trainer
from models.labs.segmentation.architectures import build
from models.labs.segmentation.tasks import LabTask


@dataclass(frozen=True)
class SegmentationRun:
    """One run: the task, the architecture with its depth (U-Net family), decoder (SETR) or MHCA skips
    (U-Transformer), the batch size and the training settings. A combination that cannot work is refused when the
    run is made, with the reason."""

    task: LabTask = LabTask()
    architecture: str = "utransformer"
    depth: int = 2
    batch_size: int = 16
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(steps=250, lr=2e-3, optimizer="adamw", weight_decay=1e-4, clip_norm=1.0)
    )
    decoder: str = "pup"
    cross_attention: bool = True

    def __post_init__(self):
        self.build()
        self.task.batches(self.batch_size)

    def build(self) -> nn.Module:
        """A fresh model of the run (the current torch seed)."""
        task = self.task
        return build(self.architecture, task.size, task.num_classes, self.depth, self.decoder, self.cross_attention)


def soft_dice_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """1 - soft Dice per foreground class c, per image, averaged: 1 - 2|P_c.M_c| / (|P_c| + |M_c|) (smoothed by 1).
    logits (B, C, H, W), masks (B, H, W)."""
    p = torch.softmax(logits, dim=1)[:, 1:].flatten(2)  # (B, C-1, H*W)
    m = F.one_hot(masks, logits.shape[1]).movedim(-1, 1)[:, 1:].flatten(2).float()  # (B, C-1, H*W)
    inter = (p * m).sum(2)
    total = p.sum(2) + m.sum(2)
    return (1 - (2 * inter + 1) / (total + 1)).mean()


def dice_per_image(pred: torch.Tensor, masks: torch.Tensor, num_classes: int = 2) -> torch.Tensor:
    """Hard Dice 2|P_c & M_c| / (|P_c| + |M_c|) per image, averaged over the foreground classes c = 1 .. C-1 (1 for a
    class absent from both). pred, masks: (B, H, W) -> (B,)."""
    scores = []
    for c in range(1, num_classes):
        p, m = (pred == c).flatten(1), (masks == c).flatten(1)
        inter = (p & m).sum(1).float()
        total = (p.sum(1) + m.sum(1)).float()
        scores.append(torch.where(total > 0, 2 * inter / total.clamp(min=1), torch.ones_like(total)))
    return torch.stack(scores).mean(0)


def segmentation_step(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], context: StepContext) -> StepOutput:
    """Cross-entropy + soft Dice loss; reports the batch's mean hard Dice."""
    images, masks = batch
    logits = model(images)  # (B, C, H, W)
    loss = F.cross_entropy(logits, masks) + soft_dice_loss(logits, masks)
    dice = dice_per_image(logits.argmax(1), masks, logits.shape[1]).mean()
    return StepOutput(loss=loss, metrics={"dice": dice.detach()})


def build_trainer(run: SegmentationRun, device: torch.device | str | None = None) -> Trainer:
    """A fresh model of ``run`` (seeded), trained on fresh images every step."""
    torch.manual_seed(run.train.seed)
    return Trainer(run.build(), segmentation_step, run.task.batches(run.batch_size), run.train, device)
