"""The applications lab's three experiments, the typed spec of a run of each, and the one road from a spec to the
engine.

- ``charlm`` (:class:`CharLMRun`): one-to-many / many-to-many, a character language model on the lexicon.
- ``seq2seq`` (:class:`Seq2SeqRun`): many-to-many with different lengths, an encoder-decoder with or without
  attention; ``compare`` trains both side by side.
- ``video`` (:class:`VideoRun`): synchronised many-to-many, a ConvLSTM for the next frame and the phase;
  ``compare`` trains it beside the per-frame CNN without memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import nn

from models.blocks.conv_recurrent import KERNEL_SIZES, MAX_CHANNELS
from models.blocks.recurrent import MAX_HIDDEN, MAX_LAYERS
from models.core.engine import TrainConfig, Trainer, TrainerGroup
from models.data.seq2seq import DigitWords
from models.data.videos import MovingSquares
from models.data.words import LexiconWords
from models.labs.applications.charlm import LM_CELLS, baselines, build_charlm, charlm_step, perplexity
from models.labs.applications.seq2seq import Seq2Seq, accuracy_by_length, seq2seq_step
from models.labs.applications.video import BODIES, VideoModel, copy_last_iou, evaluate_video, video_step

SEQ2SEQ_MODELS = ("plain", "attention")


@dataclass(frozen=True)
class CharLMRun:
    """The character language model: its cell, size and depth, the words per batch, and the training."""

    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    data: LexiconWords = LexiconWords(128)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(steps=2000, lr=1e-2, clip_norm=1.0, schedule="cosine")
    )

    def __post_init__(self):
        if self.cell not in LM_CELLS:
            raise ValueError(f"the language model's cell must be one of {LM_CELLS}, got {self.cell!r}")
        if not 1 <= self.hidden_size <= MAX_HIDDEN:
            raise ValueError(f"hidden size must be between 1 and {MAX_HIDDEN}, got {self.hidden_size}")
        if not 1 <= self.num_layers <= MAX_LAYERS:
            raise ValueError(f"number of layers must be between 1 and {MAX_LAYERS}, got {self.num_layers}")

    @property
    def models(self) -> tuple[str, ...]:
        return (self.cell,)


@dataclass(frozen=True)
class Seq2SeqRun:
    """The encoder-decoder: with ``attention`` or plain (``compare``: both from the same seed), its size, the
    task (how many digits), and the training."""

    attention: bool = True
    compare: bool = False
    hidden_size: int = 64
    embedding_size: int = 32
    task: DigitWords = DigitWords()
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(steps=1200, lr=3e-3, clip_norm=1.0, schedule="cosine")
    )

    def __post_init__(self):
        Seq2Seq(self.hidden_size, self.embedding_size)  # its checks name a bad size

    @property
    def models(self) -> tuple[str, ...]:
        if self.compare:
            return SEQ2SEQ_MODELS
        return ("attention",) if self.attention else ("plain",)


@dataclass(frozen=True)
class VideoRun:
    """The video model: its ``body`` (``"convlstm"`` or ``"cnn"``; ``compare``: both from the same seed), its
    channels and kernel, the videos, and the training."""

    body: str = "convlstm"
    compare: bool = False
    hidden_channels: int = 8
    kernel_size: int = 3
    task: MovingSquares = MovingSquares()
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=400, lr=1e-2, clip_norm=1.0))

    def __post_init__(self):
        if self.body not in BODIES:
            raise ValueError(f"body must be one of {BODIES}, got {self.body!r}")
        if not 1 <= self.hidden_channels <= MAX_CHANNELS:
            raise ValueError(f"hidden channels must be between 1 and {MAX_CHANNELS}, got {self.hidden_channels}")
        if self.kernel_size not in KERNEL_SIZES:
            raise ValueError(f"kernel size must be one of {KERNEL_SIZES}, got {self.kernel_size}")

    @property
    def models(self) -> tuple[str, ...]:
        return BODIES if self.compare else (self.body,)


Run = CharLMRun | Seq2SeqRun | VideoRun
RUNS: dict[str, type] = {"charlm": CharLMRun, "seq2seq": Seq2SeqRun, "video": VideoRun}
EXPERIMENTS = tuple(RUNS)


def default_run(experiment: str, seed: int = 0, **train) -> Run:
    """The experiment's pretrained default, with ``train`` overrides (steps, lr...)."""
    if experiment not in RUNS:
        raise ValueError(f"experiment must be one of {EXPERIMENTS}, got {experiment!r}")
    run = RUNS[experiment]()
    return replace(run, train=replace(run.train, seed=seed, **train))


def build_model(run: Run, name: str | None = None) -> nn.Module:
    """A fresh model of ``run``; ``name`` picks one of ``run.models`` (default: the first)."""
    name = name or run.models[0]
    if isinstance(run, CharLMRun):
        return build_charlm(run.cell, run.hidden_size, run.num_layers)
    if isinstance(run, Seq2SeqRun):
        return Seq2Seq(run.hidden_size, run.embedding_size, attention=name == "attention")
    size = (run.task.size, run.task.size)
    return VideoModel(name, run.hidden_channels, size, run.kernel_size)


def build_trainer(run: Run, device: torch.device | str | None = None) -> Trainer | TrainerGroup:
    """The engine set up for ``run``: one trainer, or (``compare``) a group of the two models from the same seed
    on the same batches."""
    if isinstance(run, CharLMRun):
        step, batches = charlm_step, run.data.sample
    elif isinstance(run, Seq2SeqRun):
        step, batches = seq2seq_step, run.task.sample
    elif isinstance(run, VideoRun):
        step, batches = video_step, run.task.sample
    else:
        raise ValueError(f"not a run of the applications lab: {type(run).__name__}")
    trainers = {}
    for name in run.models:
        torch.manual_seed(run.train.seed)
        trainers[name] = Trainer(build_model(run, name), step, batches, run.train, device)
    return TrainerGroup(trainers) if len(trainers) > 1 else trainers[run.models[0]]


def experiment_of(run: Run) -> str:
    """The experiment a run belongs to: ``"charlm"``, ``"seq2seq"`` or ``"video"``."""
    for name, kind in RUNS.items():
        if isinstance(run, kind):
            return name
    raise ValueError(f"not a run of the applications lab: {type(run).__name__}")


def has_pretrained(run: Run, name: str | None = None) -> bool:
    """Whether ``make pretrain`` trained model ``name`` (default: the run's first) with the run's settings."""
    name = name or run.models[0]
    default = RUNS[experiment_of(run)]()
    if isinstance(run, CharLMRun):
        return replace(run, train=default.train) == default
    selector = {"attention": True} if isinstance(run, Seq2SeqRun) else {"body": "convlstm"}
    return name in default_models(run) and replace(run, train=default.train, compare=False, **selector) == default


def default_models(run: Run) -> tuple[str, ...]:
    """The models of ``run``'s experiment that ship pretrained."""
    return {CharLMRun: ("lstm",), Seq2SeqRun: SEQ2SEQ_MODELS, VideoRun: BODIES}[type(run)]


def evaluate(run: Run, model: nn.Module) -> dict:
    """The test scores of one model of ``run``: perplexity with the n-gram baselines (charlm), greedy exact-match
    accuracy overall and per number of digits (seq2seq), next-frame IoU and phase accuracy with the copy-last
    baseline (video)."""
    if isinstance(run, CharLMRun):
        ngrams = baselines()
        return {
            "perplexity": perplexity(model, run.data.test_batches()),
            "unigram": ngrams.unigram,
            "bigram": ngrams.bigram,
        }
    if isinstance(run, Seq2SeqRun):
        by_length = accuracy_by_length(model, run.task)
        return {"accuracy": sum(by_length.values()) / len(by_length), "accuracy_by_length": by_length}
    scores = evaluate_video(model, run.task.test_batches())
    return {
        "iou": scores.iou,
        "accuracy": scores.accuracy,
        "accuracy_by_frame": scores.accuracy_by_frame,
        "copy_last_iou": copy_last_iou(run.task.test_batches()),
    }
