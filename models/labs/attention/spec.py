"""The attention lab's runs: a tiny token transformer on a toy task, and the defaults it ships with."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from models.blocks.transformer import TokenTransformer
from models.core.engine import TrainConfig, Trainer
from models.core.evaluation import classification_step
from models.data.tokens import ToyTask


@dataclass(frozen=True)
class ModelConfig:
    d_model: int = 32
    n_heads: int = 2
    n_layers: int = 2
    d_ff: int = 64
    positional: str = "sinusoidal"
    norm_first: bool = False


@dataclass(frozen=True)
class AttentionRun:
    """One run: the toy task, the transformer, and the training settings."""

    task: ToyTask = ToyTask()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=200, lr=3e-3, clip_norm=1.0))

    def config(self) -> dict:
        """Plain values that rebuild the run (what a checkpoint stores)."""
        return {"task": asdict(self.task), "model": asdict(self.model), "train": asdict(self.train)}

    @classmethod
    def from_config(cls, config: dict) -> AttentionRun:
        return cls(ToyTask(**config["task"]), ModelConfig(**config["model"]), TrainConfig(**config["train"]))


def build_model(task: ToyTask, config: ModelConfig = ModelConfig()) -> TokenTransformer:
    return TokenTransformer(task.vocab_size, task.n_classes, task.length, **asdict(config))


def build_trainer(run: AttentionRun, device: torch.device | str | None = None) -> Trainer:
    """A fresh model of ``run`` (seeded) on the one engine: cross-entropy over the positions with a target."""
    torch.manual_seed(run.train.seed)
    return Trainer(build_model(run.task, run.model), classification_step, run.task.sample, run.train, device)


def _default(task: ToyTask, model: ModelConfig = ModelConfig(), steps: int = 200) -> AttentionRun:
    return AttentionRun(task, model, TrainConfig(steps=steps, lr=3e-3, clip_norm=1.0))


DEFAULTS: dict[str, AttentionRun] = {
    "reverse": _default(ToyTask("reverse")),
    "offset_copy": _default(ToyTask("offset_copy")),
    "sort": _default(ToyTask("sort"), steps=300),
    "count": _default(ToyTask("count", vocab_size=6), ModelConfig(positional="none"), steps=500),
}
TARGET_ACCURACY = {"reverse": 0.95, "offset_copy": 0.95, "sort": 0.95, "count": 0.9}
