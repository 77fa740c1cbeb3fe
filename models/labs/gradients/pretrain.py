"""The gradient lab's pretrained comparison: RNN, LSTM and GRU trained at each dependency length."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

from models.blocks.recurrent import CELL_LABELS, CELLS, RecurrentModel
from models.core.checkpoint import Checkpoint, rebuild, save_checkpoint
from models.core.engine import TrainConfig
from models.labs.gradients.spec import GradientRun, build_model, build_trainer, evaluate

COMPARISON_GAPS = (5, 10, 20, 40, 80, 120)
COMPARISON_SEEDS = (0, 1, 2, 3, 4)  # a vanilla RNN's outcome varies from seed to seed: the page shows each
SOLVED = 0.9  # test accuracy at which a run counts as having learned the recall
# The RNN lab's recall recipe (its task, initialisation, size and training), so the two labs agree.
COMPARISON = GradientRun(
    hidden_size=32, batch_size=64, probe_every=10**6, train=TrainConfig(steps=800, lr=1e-2, clip_norm=1.0)
)
COMPARISON_FILE = "gradients_cells.json"


def checkpoint_name(cell: str) -> str:
    return f"gradients_{cell}.pt"


def compare_cells(base: GradientRun = COMPARISON, gaps=COMPARISON_GAPS, seeds=COMPARISON_SEEDS, cells=CELLS) -> dict:
    """Train each cell at each gap from each seed; test accuracy ``[cell][gap][seed]``, and each cell's model at
    the longest gap from the first seed."""
    accuracy = {cell: [[0.0] * len(seeds) for _ in gaps] for cell in cells}
    models = {}
    for cell in cells:
        for g, gap in enumerate(gaps):
            for s, seed in enumerate(seeds):
                run = replace(base, cell=cell, gap=gap).with_train(seed=seed)
                trainer = build_trainer(run, device="cpu")
                trainer.run()
                accuracy[cell][g][s] = evaluate(trainer.model, run)
                if (gap, seed) == (gaps[-1], seeds[0]):
                    models[cell] = trainer.model
    return {
        "gaps": list(gaps),
        "seeds": list(seeds),
        "accuracy": accuracy,
        "chance": base.chance,
        "run": asdict(base),
        "models": models,
    }


def pretrain(assets: Path) -> list[Path]:
    """Train RNN, LSTM and GRU at every comparison gap and seed; write accuracies (JSON) and the longest gap's
    models (first seed)."""
    assets.mkdir(parents=True, exist_ok=True)
    result = compare_cells()
    models = result.pop("models")
    paths = []
    for cell, model in models.items():
        run = replace(COMPARISON, cell=cell, gap=result["gaps"][-1])
        meta = {"accuracy": result["accuracy"][cell][-1][0]}
        paths.append(save_checkpoint(assets / checkpoint_name(cell), model, asdict(run), meta))
    path = assets / COMPARISON_FILE
    path.write_text(json.dumps(result, indent=2) + "\n")
    return [*paths, path]


def run_from_config(config: dict) -> GradientRun:
    """The :class:`GradientRun` a checkpoint's config describes."""
    return GradientRun(**{**config, "train": TrainConfig(**config["train"])})


def model_from_checkpoint(checkpoint: Checkpoint, source: str) -> tuple[RecurrentModel, GradientRun]:
    model = rebuild(checkpoint, source, lambda config: build_model(run_from_config(config)))
    return model, run_from_config(checkpoint.config)


def solved_runs(data: dict, cell: str) -> list[int]:
    """How many seeds of ``cell`` reached :data:`SOLVED` test accuracy at each gap of a comparison."""
    return [sum(accuracy >= SOLVED for accuracy in per_seed) for per_seed in data["accuracy"][cell]]


def solved_summary(data: dict) -> str:
    """The comparison's outcome in words: how many seeds learned the recall at the shortest and the longest gap."""
    n, first, last = len(data["seeds"]), min(data["gaps"]), max(data["gaps"])
    parts = []
    for cell in data["accuracy"]:
        counts = solved_runs(data, cell)
        parts.append(f"{CELL_LABELS[cell]} {counts[0]} of {n} at gap {first}, {counts[-1]} of {n} at gap {last}")
    return f"Measured, runs that reached {SOLVED:.0%} test accuracy: " + "; ".join(parts) + "."


def initial_keep_biases(run: GradientRun) -> tuple[float, float]:
    """The smallest and largest keep-gate bias (b_U + b_W of the LSTM forget gate) that ``run``'s LSTM starts with."""
    bias = build_model(replace(run, cell="lstm")).body.keep_gate_bias()
    return float(bias.min()), float(bias.max())
