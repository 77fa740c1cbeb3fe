"""The segmentation lab's pretrained models: each architecture on the long-range task, two on the local one."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

from models.blocks.unet import UNet
from models.core.checkpoint import Checkpoint, load_checkpoint, rebuild, save_checkpoint
from models.data.ct_slices import SegmentationTask
from models.labs.segmentation.analysis import evaluate
from models.labs.segmentation.models import LABELS, build_model
from models.labs.segmentation.spec import SegmentationRun, build_trainer

VALIDATION_IMAGES = 200


def _run(kind: str, architecture: str, steps: int, batch_size: int = 16) -> SegmentationRun:
    default = SegmentationRun()
    return SegmentationRun(
        SegmentationTask(kind), architecture, batch_size=batch_size, train=replace(default.train, steps=steps)
    )


RECIPES: dict[str, SegmentationRun] = {
    "key_unet": _run("key", "unet", 250),
    "key_attention_unet": _run("key", "attention_unet", 250),
    "key_utransformer": _run("key", "utransformer", 250),
    "local_unet": _run("local", "unet", 150, batch_size=8),
    "local_utransformer": _run("local", "utransformer", 150, batch_size=8),
}


def pretrained_names(kind: str) -> dict[str, str]:
    """{architecture label: recipe name} of the pretrained models on the task ``kind``."""
    return {LABELS[run.architecture]: name for name, run in RECIPES.items() if run.task.kind == kind}


def checkpoint_path(assets: Path, name: str) -> Path:
    return assets / f"segmentation_{name}.pt"


def pretrain(assets: Path) -> list[Path]:
    """Train every recipe and save it with its validation Dice (200 fixed slices) in the metadata."""
    paths = []
    for name, run in RECIPES.items():
        trainer = build_trainer(run, device="cpu")
        for chunk in trainer.chunks():
            if chunk and chunk[-1].step % 50 == 0:
                print(f"  {name}: step {chunk[-1].step} loss {chunk[-1].loss:.3f} dice {chunk[-1].metrics['dice']:.3f}")
        score = evaluate(trainer.model, run.task, n_images=VALIDATION_IMAGES)
        print(f"  {name}: validation Dice {score.dice:.3f}", flush=True)
        config = {"architecture": run.architecture, **trainer.model.config}
        meta = {
            "task": asdict(run.task),
            "steps": trainer.step,
            "validation_dice": score.dice,
            "status": trainer.status,
        }
        paths.append(save_checkpoint(checkpoint_path(assets, name), trainer.model, config, meta))
    return paths


def model_from_checkpoint(checkpoint: Checkpoint, source: str) -> UNet:
    """A fresh model (eval mode) built from a checkpoint's config, with its weights copied in."""
    return rebuild(checkpoint, source, lambda config: build_model(**config))


def load_pretrained(assets: Path, name: str) -> UNet:
    """Rebuild and load a pretrained model (weights_only=True through :func:`load_checkpoint`)."""
    path = checkpoint_path(assets, name)
    return model_from_checkpoint(load_checkpoint(path), str(path))
