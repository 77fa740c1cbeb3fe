"""The high-resolution attention lab's run (mechanism, depth, window size M, global tokens G, map size, training),
checked when it is made, and the road to the one engine."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import torch

from models.blocks.windows import check_attention_fits
from models.core.engine import TrainConfig, Trainer, TrainerGroup
from models.core.evaluation import classification_step
from models.data.long_range import LongRangeTask
from models.labs.highres.models import MAX_MAP, HighResConfig, HighResModel

ATTENTION_BUDGET_BYTES = 256 * 2**20  # one layer's attention weights: a class shares one server
# Steps to each mechanism's plateau at the defaults (16x16 tokens, depth 2, batch 8, Adam 2e-3), read off the
# pretraining curves: W-MSA and W + SW stop early at their reach; GLAM sits on a plateau for 150 to 350 steps.
PLATEAU_STEPS = {"window": 100, "shifted": 150, "glam": 400, "full": 150, "deformable": 150}


def default_train() -> TrainConfig:
    return TrainConfig(steps=300, lr=2e-3, clip_norm=1.0)


@dataclass(frozen=True)
class HighResRun:
    """One run on the key-in-a-corner task: the mechanism and its shape, the map, the batch and the training.
    A run that cannot work is refused with a ``ValueError`` that says why (full attention with the estimate of
    its attention matrix)."""

    mechanism: str = "shifted"
    depth: int = 2
    window_size: int = 4
    n_global: int = 1
    map_size: int = 16
    n_points: int = 4
    batch_size: int = 8
    train: TrainConfig = field(default_factory=default_train)

    def __post_init__(self):
        if isinstance(self.map_size, int) and self.map_size > MAX_MAP:
            raise ValueError(
                f"a {self.map_size}x{self.map_size} map is too large to train here: at most {MAX_MAP}x{MAX_MAP} "
                f"tokens ({MAX_MAP**2:,})"
            )
        config = self.config  # the model's checks: window tiling, G, depth, sampling
        LongRangeTask(self.map_size, self.batch_size)  # the task's: batch size
        if self.mechanism == "full":
            check_attention_fits(config.n_tokens, config.n_heads, self.batch_size, ATTENTION_BUDGET_BYTES)

    @property
    def config(self) -> HighResConfig:
        return HighResConfig(
            self.mechanism, self.map_size, self.depth, self.window_size, self.n_global, n_points=self.n_points
        )

    @property
    def task(self) -> LongRangeTask:
        return LongRangeTask(self.map_size, self.batch_size)

    def settings(self) -> dict:
        """Plain values that rebuild the run (what a checkpoint stores)."""
        return {**asdict(self), "train": asdict(self.train)}

    @classmethod
    def from_settings(cls, settings: dict) -> HighResRun:
        return cls(**{**settings, "train": TrainConfig(**settings["train"])})


def build_trainer(run: HighResRun, device: torch.device | str | None = None) -> Trainer:
    """A fresh model of ``run`` (seeded) on the one engine: cross-entropy per token, accuracy over the scored
    tokens, fresh maps every step."""
    torch.manual_seed(run.train.seed)
    return Trainer(HighResModel(run.config), classification_step, run.task.sample, run.train, device)


def comparison_runs(run: HighResRun, mechanisms: tuple[str, ...], steps: int | None = None) -> dict[str, HighResRun]:
    """``run`` once per mechanism (same map, depth, window, G, seed, learning rate), each checked as it is made;
    ``steps`` for all, or None for each mechanism's plateau (PLATEAU_STEPS)."""
    if not mechanisms:
        raise ValueError("pick at least one mechanism to train")
    return {
        mechanism: replace(run, mechanism=mechanism, train=replace(run.train, steps=steps or PLATEAU_STEPS[mechanism]))
        for mechanism in mechanisms
    }


def build_comparison(
    run: HighResRun, mechanisms: tuple[str, ...], device: torch.device | str | None = None, steps: int | None = None
) -> TrainerGroup:
    """The side-by-side comparison of :func:`comparison_runs` as one engine-level group, the longest run first (a
    group's progress is counted against its first member's steps)."""
    runs = sorted(comparison_runs(run, mechanisms, steps).items(), key=lambda item: -item[1].train.steps)
    return TrainerGroup({mechanism: build_trainer(r, device) for mechanism, r in runs})
