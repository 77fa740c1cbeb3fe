"""The ViT lab's pretrained default: the small ViT trained on the digits, with its held-out accuracy."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from models.core.checkpoint import load_checkpoint, rebuild, save_checkpoint
from models.core.evaluation import accuracy
from models.data.digits import DigitBatches
from models.labs.vit.model import ViT, ViTConfig
from models.labs.vit.spec import ViTRun, build_trainer

TARGET_TEST_ACCURACY = 0.9


def checkpoint_path(assets: Path) -> Path:
    return assets / "vit_digits.pt"


def held_out_accuracy(model: ViT) -> float:
    return accuracy(model, DigitBatches().test_batches())


def pretrain(assets: Path) -> list[Path]:
    trainer = build_trainer(ViTRun(), device="cpu")
    history = trainer.run()
    curve = {name: history.column(name).round(4).tolist() for name in ("step", "loss", "accuracy")}
    meta = {"test_accuracy": held_out_accuracy(trainer.model), "curve": curve}
    return [save_checkpoint(checkpoint_path(assets), trainer.model, asdict(trainer.model.config), meta)]


def load_pretrained(path: Path) -> tuple[ViT, dict]:
    checkpoint = load_checkpoint(path)
    return rebuild(checkpoint, path, lambda config: ViT(ViTConfig(**config))), checkpoint.meta
