"""The gradient lab's pretrained comparison: RNN, LSTM and GRU trained at each dependency length."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

from models.blocks.recurrent import CELLS, RecurrentModel
from models.core.checkpoint import Checkpoint, load_weights, save_checkpoint
from models.core.engine import TrainConfig
from models.labs.gradients.spec import GradientRun, build_model, build_trainer, evaluate

COMPARISON_GAPS = (5, 10, 20, 40, 80)
COMPARISON = GradientRun(hidden_size=32, probe_every=10**6, train=TrainConfig(steps=400, lr=2e-2))
COMPARISON_FILE = "gradients_cells.json"


def checkpoint_name(cell: str) -> str:
    return f"gradients_{cell}.pt"


def compare_cells(base: GradientRun = COMPARISON, gaps=COMPARISON_GAPS, cells=CELLS) -> dict:
    """Train each cell at each gap from the same seed; final accuracy, and the trained models at the last gap."""
    accuracy = {cell: [] for cell in cells}
    models = {}
    for cell in cells:
        for gap in gaps:
            run = replace(base, cell=cell, gap=gap)
            trainer = build_trainer(run, device="cpu")
            trainer.run()
            accuracy[cell].append(evaluate(trainer.model, run))
            models[cell] = trainer.model
    return {"gaps": list(gaps), "accuracy": accuracy, "chance": base.chance, "run": asdict(base), "models": models}


def pretrain(assets: Path) -> list[Path]:
    """Train RNN, LSTM and GRU at every comparison gap; write accuracies (JSON) and the last gap's models."""
    assets.mkdir(parents=True, exist_ok=True)
    result = compare_cells()
    models = result.pop("models")
    paths = []
    for cell, model in models.items():
        run = replace(COMPARISON, cell=cell, gap=result["gaps"][-1])
        config = asdict(run)
        paths.append(
            save_checkpoint(assets / checkpoint_name(cell), model, config, {"accuracy": result["accuracy"][cell][-1]})
        )
    path = assets / COMPARISON_FILE
    path.write_text(json.dumps(result, indent=2) + "\n")
    return [*paths, path]


def run_from_config(config: dict) -> GradientRun:
    """The :class:`GradientRun` a checkpoint's config describes."""
    return GradientRun(**{**config, "train": TrainConfig(**config["train"])})


def model_from_checkpoint(checkpoint: Checkpoint, source: str) -> tuple[RecurrentModel, GradientRun]:
    run = run_from_config(checkpoint.config)
    return load_weights(build_model(run), checkpoint, source).eval(), run
