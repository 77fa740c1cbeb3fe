"""The applications lab's pretrained defaults: the character language model (LSTM), the encoder-decoder plain and
with attention, and the video model as a ConvLSTM and as the per-frame CNN, each trained to its step budget."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from torch import nn

from models.blocks.recurrent import RecurrentModel
from models.core.checkpoint import Checkpoint, load_checkpoint, rebuild, save_checkpoint
from models.core.engine import Trainer
from models.labs.applications.seq2seq import Seq2Seq
from models.labs.applications.spec import (
    Run,
    Seq2SeqRun,
    VideoRun,
    build_trainer,
    default_models,
    default_run,
    evaluate,
    experiment_of,
)
from models.labs.applications.video import VideoModel

CHUNK = 50
CURVES = {
    "charlm": ("loss", "perplexity"),
    "seq2seq": ("loss", "accuracy", "exact"),
    "video": ("loss", "iou", "accuracy"),
}
MODEL_CLASSES: dict[str, type[nn.Module]] = {"charlm": RecurrentModel, "seq2seq": Seq2Seq, "video": VideoModel}


def single(run: Run, name: str) -> Run:
    """``run`` narrowed to its model ``name`` (one trainer, not a group)."""
    if isinstance(run, Seq2SeqRun):
        return replace(run, compare=False, attention=name == "attention")
    if isinstance(run, VideoRun):
        return replace(run, compare=False, body=name)
    return run


def train_model(run: Run, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Train one model of ``run`` to its step budget; returns it and its meta: the training ``seconds`` (chunks
    only, no evaluation), the steps, the curves and the test scores of :func:`evaluate`."""
    trainer: Trainer = build_trainer(run, device=device)
    seconds = 0.0
    while not trainer.done:
        started = time.perf_counter()
        trainer.run_chunk(CHUNK)
        seconds += time.perf_counter() - started
    experiment = experiment_of(run)
    curves = {name: trainer.history.column(name).round(4).tolist() for name in ("step", *CURVES[experiment])}
    meta = {
        "experiment": experiment,
        "steps": trainer.step,
        "status": trainer.status,
        "seconds": round(seconds, 2),
        "curves": curves,
        "scores": evaluate(run, trainer.model),
    }
    return trainer.model, meta


def checkpoint_path(assets: Path, experiment: str, name: str) -> Path:
    return assets / f"applications_{experiment}_{name}.pt"


def pretrain(assets: Path) -> list[Path]:
    """Every experiment's default models, trained to their budget and written to ``assets``."""
    paths = []
    for experiment in ("charlm", "seq2seq", "video"):
        run = default_run(experiment)
        for name in default_models(run):
            model, meta = train_model(single(run, name))
            path = save_checkpoint(checkpoint_path(assets, experiment, name), model, model.config(), meta)
            print(f"  {path.name}: {meta['steps']} steps in {meta['seconds']:.1f} s, {summary(meta)}", flush=True)
            paths.append(path)
    return paths


def summary(meta: dict) -> str:
    scores = meta["scores"]
    if meta["experiment"] == "charlm":
        return f"perplexity {scores['perplexity']:.2f} (bigram {scores['bigram']:.2f}, unigram {scores['unigram']:.2f})"
    if meta["experiment"] == "seq2seq":
        return f"greedy exact match {scores['accuracy']:.3f}"
    return (
        f"next-frame IoU {scores['iou']:.3f} (copy-last {scores['copy_last_iou']:.3f}), phase {scores['accuracy']:.3f}"
    )


def load_pretrained(assets: Path, experiment: str, name: str) -> tuple[nn.Module, dict]:
    """A pretrained default (eval mode) and its meta; a CheckpointError when the file is absent or does not fit."""
    if experiment not in MODEL_CLASSES:
        raise ValueError(f"experiment must be one of {tuple(MODEL_CLASSES)}, got {experiment!r}")
    path = checkpoint_path(assets, experiment, name)
    checkpoint = load_checkpoint(path)
    return model_from_checkpoint(experiment, checkpoint, str(path)), checkpoint.meta


def model_from_checkpoint(experiment: str, checkpoint: Checkpoint, source: str = "checkpoint") -> nn.Module:
    """A fresh model of ``experiment`` rebuilt from ``checkpoint``'s config, with its weights, in eval mode."""
    return rebuild(checkpoint, source, lambda config: MODEL_CLASSES[experiment](**config))
