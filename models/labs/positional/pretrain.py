"""The positional-encoding lab's pretrained defaults: the offset-copy transformer with each encoding."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from models.blocks.transformer import TokenTransformer
from models.core.checkpoint import Checkpoint, rebuild, save_checkpoint
from models.core.evaluation import accuracy
from models.labs.positional.spec import TASK, PositionalRun, build_model, build_trainer

PRETRAINED = ("learned", "sinusoidal")


def checkpoint_path(assets: Path, positional: str) -> Path:
    return assets / f"positional_offset_copy_{positional}.pt"


def pretrain(assets: Path) -> list[Path]:
    """Train the offset-copy model with learned and with sinusoidal PE (a few seconds each)."""
    paths = []
    for positional in PRETRAINED:
        trainer = build_trainer(PositionalRun(positional), device="cpu")
        trainer.run()
        meta = {
            "steps": trainer.step,
            "test_accuracy": accuracy(trainer.model, TASK.test_batches()),
            "task": asdict(TASK),
        }
        paths.append(
            save_checkpoint(checkpoint_path(assets, positional), trainer.model, {"positional": positional}, meta)
        )
    return paths


def model_from_checkpoint(checkpoint: Checkpoint, source: str) -> TokenTransformer:
    return rebuild(checkpoint, source, lambda config: build_model(config["positional"]))
