"""Training, evaluation and pretraining for the segmentation lab (through the one engine)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.checkpoint import Checkpoint, load_checkpoint, load_weights, save_checkpoint
from models.engine import StepContext, StepOutput, TrainConfig, Trainer
from models.segmentation import UNet, build_model
from models.segmentation_data import SegmentationBatches, SegmentationTask, generate_batch, generate_sample

VALIDATION_SEED = 12345
DICE_EPS = 1e-6


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


@dataclass(frozen=True)
class Recipe:
    """One pretrained model: which task and architecture, and how long to train."""

    task: str
    architecture: str
    steps: int
    lr: float = 2e-3
    batch_size: int = 16
    depth: int = 2
    seed: int = 0


def make_trainer(
    model: UNet, task: SegmentationTask, steps: int, lr: float, batch_size: int, seed: int, device=None, chunk_size=10
):
    """The engine set up for segmentation: AdamW, gradient clipping at 1, fresh slices every step."""
    config = TrainConfig(
        steps=steps, lr=lr, optimizer="adamw", weight_decay=1e-4, clip_norm=1.0, chunk_size=chunk_size, seed=seed
    )
    return Trainer(model, segmentation_step, SegmentationBatches(task, batch_size), config, device)


@torch.no_grad()
def predict(model: UNet, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Hard predictions (B, H, W) in eval mode, in batches, on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    preds = [model(images[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(preds)


@dataclass
class Evaluation:
    """Scores on a fixed validation set: mean Dice and, per object, its evidence distance and correctness."""

    dice: float
    dice_per_image: np.ndarray
    distances: np.ndarray
    correct: np.ndarray


def evaluate(model: UNet, task: SegmentationTask, n_images: int = 64, seed: int = VALIDATION_SEED) -> Evaluation:
    """Dice and object accuracy on ``n_images`` fixed slices.

    An object counts as labelled foreground when more than half of its pixels are predicted
    foreground; it is correct when that agrees with its target label.
    """
    images, masks = generate_batch(task, seed, 0, n_images)
    preds = predict(model, images)
    dice = dice_per_image(preds, masks).numpy()
    distances, correct = [], []
    for i in range(n_images):
        sample = generate_sample(task, seed, i)
        for obj, region in zip(sample.objects, sample.object_masks, strict=True):
            labelled = preds[i].numpy()[region].mean() > 0.5
            distances.append(obj.distance)
            correct.append(labelled == obj.is_target)
    return Evaluation(float(dice.mean()), dice, np.array(distances), np.array(correct))


RECIPES = {
    "key_unet": Recipe("key", "unet", 250),
    "key_attention_unet": Recipe("key", "attention_unet", 250),
    "key_utransformer": Recipe("key", "utransformer", 250),
    "local_unet": Recipe("local", "unet", 150, batch_size=8),
    "local_utransformer": Recipe("local", "utransformer", 150, batch_size=8),
}


def checkpoint_path(assets: Path, name: str) -> Path:
    return assets / f"segmentation_{name}.pt"


def train_recipe(recipe: Recipe, log=None) -> tuple[UNet, Trainer]:
    torch.manual_seed(recipe.seed)
    model = build_model(recipe.architecture, depth=recipe.depth)
    trainer = make_trainer(
        model, SegmentationTask(recipe.task), recipe.steps, recipe.lr, recipe.batch_size, recipe.seed
    )
    for chunk in trainer.chunks():
        if log is not None and chunk and chunk[-1].step % 50 == 0:
            log(f"step {chunk[-1].step} loss {chunk[-1].loss:.3f} dice {chunk[-1].metrics['dice']:.3f}")
    return model, trainer


def load_pretrained(assets: Path, name: str) -> UNet:
    """Rebuild and load a pretrained model (weights_only=True through :func:`load_checkpoint`)."""
    path = checkpoint_path(assets, name)
    return model_from_checkpoint(load_checkpoint(path), str(path))


def pretrain(assets: Path, names: list[str] | None = None) -> list[Path]:
    """Train every recipe and save it with its validation Dice (200 fixed slices) in the metadata."""
    torch.set_num_threads(min(2, torch.get_num_threads()))
    paths = []
    for name in names or list(RECIPES):
        recipe = RECIPES[name]
        model, trainer = train_recipe(recipe, log=lambda line, name=name: print(f"{name}: {line}", flush=True))
        model = model.cpu()
        score = evaluate(model, SegmentationTask(recipe.task), n_images=200)
        print(f"{name}: validation Dice {score.dice:.3f}", flush=True)
        config = {"architecture": recipe.architecture, **model.config}
        meta = {
            "recipe": asdict(recipe),
            "steps": trainer.step,
            "validation_dice": score.dice,
            "status": trainer.status,
        }
        paths.append(save_checkpoint(checkpoint_path(assets, name), model, config, meta))
    return paths


PRETRAINED: dict[str, dict[str, str]] = {
    "key": {"U-Net": "key_unet", "Attention U-Net": "key_attention_unet", "U-Transformer": "key_utransformer"},
    "local": {"U-Net": "local_unet", "U-Transformer": "local_utransformer"},
}


def model_from_checkpoint(ckpt: Checkpoint, source: str) -> UNet:
    """A fresh model (eval mode) built from a checkpoint's config, with its weights copied in."""
    config = dict(ckpt.config)
    model = build_model(config.pop("architecture"), **config)
    return load_weights(model, ckpt, source).eval()
