"""The high-resolution attention lab's pretrained comparison: every mechanism on the key-in-a-corner task, each
trained to its plateau, plus W-MSA + SW-MSA at depth 4 to show the reach (and the accuracy) climbing with depth,
and GLAM with G = 2 and 4 global tokens per window for the page's G slider."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from models.core.checkpoint import Checkpoint, load_checkpoint, rebuild, save_checkpoint
from models.labs.highres.analysis import accuracy_bound, evaluate
from models.labs.highres.models import MECHANISMS, HighResModel, model_from_settings
from models.labs.highres.spec import PLATEAU_STEPS, HighResRun, build_trainer, default_train

DEEP_SHIFTED = "shifted_depth4"


GLAM_RECIPES = {1: "glam", 2: "glam_g2", 4: "glam_g4"}  # G -> recipe


def _run(mechanism: str, steps: int, depth: int = 2, n_global: int = 1) -> HighResRun:
    return HighResRun(mechanism, depth=depth, n_global=n_global, train=replace(default_train(), steps=steps))


RECIPES: dict[str, HighResRun] = {
    **{mechanism: _run(mechanism, PLATEAU_STEPS[mechanism]) for mechanism in MECHANISMS},
    DEEP_SHIFTED: _run("shifted", 300, depth=4),
    **{name: _run("glam", 400, n_global=g) for g, name in GLAM_RECIPES.items() if g > 1},
}
COMPARISON = MECHANISMS  # the default side-by-side comparison (the recipes of the same name)


def checkpoint_path(assets: Path, name: str) -> Path:
    return assets / f"highres_{name}.pt"


def reach_bound(run: HighResRun) -> float | None:
    """The accuracy the run's reach allows (None for deformable attention, whose reach is learned)."""
    if run.mechanism == "deformable":
        return None
    return accuracy_bound(run.mechanism, run.map_size, run.depth, run.window_size, run.n_global)


def train_recipe(name: str, device: str = "cpu") -> tuple[HighResModel, dict]:
    """Train one recipe; returns the model and its metadata (test accuracy, the bound its reach allows, seconds,
    the training curve)."""
    run = RECIPES[name]
    trainer = build_trainer(run, device)
    started = time.perf_counter()
    trainer.run()
    seconds = time.perf_counter() - started
    meta = {
        "run": run.settings(),
        "steps": trainer.step,
        "status": trainer.status,
        "seconds": round(seconds, 2),
        "test_accuracy": evaluate(trainer.model, run.task),
        "accuracy_bound": reach_bound(run),
        "curve": {column: trainer.history.column(column).round(4).tolist() for column in ("step", "loss", "accuracy")},
    }
    return trainer.model, meta


def pretrain(assets: Path) -> list[Path]:
    """Train every recipe and save it with its test accuracy and training time in the metadata."""
    paths = []
    for name in RECIPES:
        model, meta = train_recipe(name)
        bound = "" if meta["accuracy_bound"] is None else f" (reach allows {meta['accuracy_bound']:.3f})"
        print(f"  {name}: test accuracy {meta['test_accuracy']:.3f}{bound} in {meta['seconds']:.1f} s", flush=True)
        paths.append(save_checkpoint(checkpoint_path(assets, name), model, model.settings(), meta))
    return paths


def model_from_checkpoint(checkpoint: Checkpoint, source: str) -> HighResModel:
    """A fresh model (eval mode) built from a checkpoint's settings, with its weights copied in."""
    return rebuild(checkpoint, source, model_from_settings)


def load_pretrained(assets: Path, name: str) -> tuple[HighResModel, dict]:
    """A pretrained model and its metadata (read with weights_only=True through :func:`load_checkpoint`)."""
    path = checkpoint_path(assets, name)
    checkpoint = load_checkpoint(path)
    return model_from_checkpoint(checkpoint, str(path)), checkpoint.meta
