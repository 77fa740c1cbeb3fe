"""The attention lab's pretrained defaults: every toy task with snapshots for the checkpoint scrubber, and
reverse without a positional encoding (which fails)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path

from torch import nn

from models.blocks.transformer import TokenTransformer
from models.core.checkpoint import load_checkpoint, rebuild, save_checkpoint
from models.core.evaluation import accuracy
from models.labs.attention.spec import DEFAULTS, TARGET_ACCURACY, AttentionRun, build_model, build_trainer

SNAPSHOTS = {"reverse": 8}  # the scrubber's default run; the others keep 2 (checkpoints stay small)


def train_with_snapshots(run: AttentionRun, n_snapshots: int = 3, device="cpu"):
    """Train ``run``; returns (model, history, [(step, state_dict)]) with snapshots at 0 and evenly after."""
    trainer = build_trainer(run, device)
    steps = run.train.steps
    marks = {round(steps * (i + 1) / n_snapshots) for i in range(n_snapshots)}
    snapshots = [(0, copy.deepcopy(trainer.model.state_dict()))]
    while not trainer.done:
        for metrics in trainer.run_chunk(1):
            if metrics.step in marks:
                snapshots.append((metrics.step, copy.deepcopy(trainer.model.state_dict())))
    return trainer.model, trainer.history, snapshots


def checkpoint_path(assets: Path, name: str, positional: str | None = None) -> Path:
    suffix = "" if positional is None else f"_{positional}"
    return assets / f"attention_{name}{suffix}.pt"


def save_snapshots(path: Path, run: AttentionRun, snapshots: list, meta: dict) -> Path:
    """One checkpoint holding every snapshot: state-dict keys ``s<i>.<name>``, steps in ``meta``."""
    models = nn.ModuleDict()
    for i, (_, state) in enumerate(snapshots):
        model = build_model(run.task, run.model)
        model.load_state_dict(state)
        models[f"s{i}"] = model
    meta = {**meta, "snapshot_steps": [step for step, _ in snapshots]}
    return save_checkpoint(path, models, run.config(), meta)


@dataclass
class PretrainedRun:
    """A pretrained default loaded back: its run, the snapshot models by step, and meta."""

    run: AttentionRun
    steps: list[int]
    models: list[TokenTransformer]
    meta: dict

    @property
    def final(self) -> TokenTransformer:
        return self.models[-1]


def load_pretrained(path: Path) -> PretrainedRun:
    """Read a snapshot checkpoint written by :func:`save_snapshots`."""
    checkpoint = load_checkpoint(path)
    steps = list(checkpoint.meta.get("snapshot_steps", ()))

    def snapshots(config: dict) -> nn.ModuleDict:
        run = AttentionRun.from_config(config)
        return nn.ModuleDict({f"s{i}": build_model(run.task, run.model) for i in range(len(steps))})

    container = rebuild(checkpoint, path, snapshots)
    models = [container[f"s{i}"] for i in range(len(steps))]
    return PretrainedRun(AttentionRun.from_config(checkpoint.config), steps, models, checkpoint.meta)


def pretrain(assets: Path) -> list[Path]:
    """Every default task (with snapshots for the scrubber), plus reverse without PE (it fails)."""
    runs = [(name, run, None) for name, run in DEFAULTS.items()]
    reverse = DEFAULTS["reverse"]
    runs.append(("reverse", replace(reverse, model=replace(reverse.model, positional="none")), "none"))
    paths = []
    for name, run, suffix in runs:
        n_snapshots = SNAPSHOTS.get(name, 2) if suffix is None else 1
        model, history, snapshots = train_with_snapshots(run, n_snapshots)
        meta = {
            "final_accuracy": accuracy(model, run.task.test_batches()),
            "target_accuracy": TARGET_ACCURACY[name] if suffix is None else None,
            "curve": {column: history.column(column).round(4).tolist() for column in ("step", "loss", "accuracy")},
        }
        paths.append(save_snapshots(checkpoint_path(assets, name, suffix), run, snapshots, meta))
    return paths
