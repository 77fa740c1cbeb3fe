"""The segmentation lab's pretrained models: every architecture on the long-range striped-key task, the local
control and the brain MRI slices, with what the page states about them measured once and kept in the metadata
(validation Dice, accuracy beyond the U-Net's receptive field, the attention's mass on the key) and, timed side by
side after all are trained, the cost of a training step and of an inference.
Weights are stored in float16 (half the bytes; the stated scores are those of the stored weights)."""

from __future__ import annotations

import copy
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from torch import nn

from models.blocks.unet import theoretical_receptive_field
from models.core.checkpoint import Checkpoint, load_checkpoint, rebuild, save_checkpoint
from models.labs.segmentation.analysis import attention_of, cost, evaluate, key_attention
from models.labs.segmentation.architectures import label, model_from_settings, model_settings
from models.labs.segmentation.spec import SegmentationRun, build_trainer
from models.labs.segmentation.tasks import LabTask

VALIDATION_IMAGES = 200
KEY_IMAGES = 16
RF_RADIUS = theoretical_receptive_field(2) / 2  # the depth-2 U-Net's: objects farther from the key are "far"
DEFAULT_STEPS = {"striped": 300, "local": 150, "mri": 300}  # about 30 CPU-minutes for all 22 on one thread
STEPS = {"striped": {"utransformer": 500}, "local": {}, "mri": {}}  # (task, architecture): steps where they differ
BATCH = {"striped": 16, "local": 8, "mri": 8}
ARCHITECTURES = ("unet", "attention_unet", "utransformer", "transunet", "setr", "swin_unet", "glam_swin_unet")
MHSA_ONLY = "utransformer_mhsa"


def _run(kind: str, architecture: str, cross_attention: bool = True) -> SegmentationRun:
    steps = STEPS[kind].get(architecture, DEFAULT_STEPS[kind])
    default = SegmentationRun()
    return SegmentationRun(
        LabTask(kind),
        architecture,
        batch_size=BATCH[kind],
        train=replace(default.train, steps=steps),
        cross_attention=cross_attention,
    )


RECIPES: dict[str, SegmentationRun] = {
    **{f"{kind}_{arch}": _run(kind, arch) for kind in DEFAULT_STEPS for arch in ARCHITECTURES},
    f"striped_{MHSA_ONLY}": _run("striped", "utransformer", cross_attention=False),
}


def pretrained_names(kind: str) -> dict[str, str]:
    """{model label: recipe name} of the pretrained models on the task ``kind``."""
    return {recipe_label(run): name for name, run in RECIPES.items() if run.task.kind == kind}


def recipe_label(run: SegmentationRun) -> str:
    return label(run.architecture, run.decoder, run.cross_attention)


def checkpoint_path(assets: Path, name: str) -> Path:
    return assets / f"segmentation_{name}.pt"


def measure(model: nn.Module, run: SegmentationRun) -> dict:
    """What the page states about a trained model: validation Dice, accuracy on objects farther from the key than the
    depth-2 U-Net's receptive-field radius, the attention's key mass over uniform (head mean, best head), the
    number of parameters."""
    task = run.task
    score = evaluate(model, task, n_images=VALIDATION_IMAGES)
    far = score.distances > RF_RADIUS
    facts = {"validation_dice": score.dice, "far_accuracy": float(np.mean(score.correct[far])) if far.any() else None}
    if task.long_range and attention_of(model.trace(task.batch(0, 1)[0])) is not None:
        mass = key_attention(model, task, KEY_IMAGES)
        facts["key_attention"] = {"head_mean": mass.head_mean, "best_head": mass.best_head}
    facts["parameters"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return facts


def pretrain_one(assets: Path, name: str) -> Path:
    """Train recipe ``name``, store it in float16, and record what the stored weights score."""
    run = RECIPES[name]
    trainer = build_trainer(run, device="cpu")
    for chunk in trainer.chunks():
        if chunk and chunk[-1].step % 100 == 0:
            print(f"  {name}: step {chunk[-1].step} loss {chunk[-1].loss:.3f} dice {chunk[-1].metrics['dice']:.3f}")
    path = checkpoint_path(assets, name)
    settings = model_settings(trainer.model)
    meta = {"task": asdict(run.task), "steps": trainer.step, "status": trainer.status, "label": recipe_label(run)}
    save_checkpoint(path, copy.deepcopy(trainer.model).half(), settings, meta)
    meta.update(measure(load_pretrained(assets, name), run))
    print(f"  {name}: {meta}", flush=True)
    return save_checkpoint(path, load_pretrained(assets, name).half(), settings, meta)


def record_costs(assets: Path, names: list[str] | None = None, repeats: int = 5) -> None:
    """Time every stored model (or those ``names``), one after another in this process so that the milliseconds
    compare, and write them into its metadata: a training step and an inference on a batch of its task."""
    for name in names or RECIPES:
        run, path = RECIPES[name], checkpoint_path(assets, name)
        checkpoint = load_checkpoint(path)
        spent = cost(model_from_checkpoint(checkpoint, str(path)), run.task, run.batch_size, repeats)
        timing = {"step_ms": spent.step_ms, "inference_ms": spent.inference_ms, "batch_size": run.batch_size}
        print(f"  {name}: {timing}", flush=True)
        model = model_from_checkpoint(checkpoint, str(path)).half()
        save_checkpoint(path, model, checkpoint.config, {**checkpoint.meta, "cost": timing})


def pretrain(assets: Path, names: list[str] | None = None) -> list[Path]:
    """Train every recipe (or those ``names``), then time them side by side."""
    paths = [pretrain_one(assets, name) for name in names or RECIPES]
    record_costs(assets, names)
    return paths


def model_from_checkpoint(checkpoint: Checkpoint, source: str) -> nn.Module:
    """A fresh model (float32, eval mode) built from a checkpoint's settings, with its weights copied in."""
    return rebuild(checkpoint, source, model_from_settings)


def load_pretrained(assets: Path, name: str) -> nn.Module:
    """Rebuild and load a pretrained model (weights_only=True through :func:`load_checkpoint`)."""
    path = checkpoint_path(assets, name)
    return model_from_checkpoint(load_checkpoint(path), str(path))
