"""The RNN lab's tasks, defaults, training to a target, pretrained checkpoints and analysis helpers.

A lab task is named ("pos", "running_sum", "sum_comparison", "recall", "recall_long"); :data:`LAB_TASKS` gives each
its default hyperparameters and the target it reaches within its step budget (the convergence tests
and ``bench/bench_rnn.py`` check those).
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from captum.attr import IntegratedGradients

from models import pos_lexicon
from models.checkpoint import Checkpoint, CheckpointError, load_checkpoint, load_weights, save_checkpoint
from models.engine import TrainConfig, Trainer
from models.rnn import CELLS, ModelTrace, RecurrentModel
from models.sequence_tasks import FirstSymbolRecall, MarkedRecall, RunningSum, SumComparison, task_step

EVAL_SEED = 12345
EVAL_SIZE = 1024
LESSON_STEPS = 60
LESSON_COPIES = 8
MAX_NEIGHBOURS = 16  # same-ending words whose predictions a lesson reports


@dataclass(frozen=True)
class LabTask:
    """A task with its default model and training settings, and the target its test metric reaches."""

    name: str
    title: str
    hidden_size: int
    lr: float
    steps: int
    target: float
    batch_size: int = 64
    clip_norm: float | None = 1.0
    params: dict[str, Any] = field(default_factory=dict)
    cell: str = "lstm"  # the cell whose time to target the tests and the benchmark check

    def make(self, batch_size: int | None = None, **params: Any):
        """The task object (its ``sample`` is the engine's batch function)."""
        kwargs = {**self.params, **params, "batch_size": batch_size or self.batch_size}
        return TASK_FACTORIES[self.name](**kwargs)


TASK_FACTORIES = {
    "pos": pos_lexicon.PartOfSpeech,
    "running_sum": RunningSum,
    "sum_comparison": SumComparison,
    "recall": MarkedRecall,
    "recall_long": MarkedRecall,
}

LAB_TASKS: dict[str, LabTask] = {
    "pos": LabTask("pos", "Part of speech of a word ('deep' => adjective)", 64, 1e-2, 800, 0.75, batch_size=128),
    "running_sum": LabTask("running_sum", "Running sum (many-to-many)", 32, 1e-2, 800, 0.9),
    "sum_comparison": LabTask("sum_comparison", "Is sum of dim 1 > sum of dim 2? (many-to-one)", 32, 1e-2, 600, 0.95),
    "recall": LabTask(
        "recall",
        "Recall the first symbol after a gap of 20 steps",
        32,
        1e-2,
        600,
        0.95,
        params={"gap": 20},
    ),
    "recall_long": LabTask(
        "recall_long",
        "Recall the first symbol after a long gap (120 steps)",
        32,
        1e-2,
        800,
        0.95,
        params={"gap": 120},
    ),
}


@dataclass(frozen=True)
class ModelSpec:
    """The architecture a user picks on the page."""

    cell: str = "lstm"
    hidden_size: int = 32
    num_layers: int = 1
    bidirectional: bool = False
    nonlinearity: str = "tanh"


def lab_task(name: str) -> LabTask:
    if name not in LAB_TASKS:
        raise ValueError(f"task must be one of {sorted(LAB_TASKS)}, got {name!r}")
    return LAB_TASKS[name]


def default_spec(task_name: str, cell: str | None = None) -> ModelSpec:
    t = lab_task(task_name)
    return ModelSpec(cell=cell or t.cell, hidden_size=t.hidden_size)


def task_knobs(task_name: str) -> tuple[str, ...]:
    """The task settings a user may change: the gap of the recall tasks, the length of the sum tasks."""
    if task_name.startswith("recall"):
        return ("gap",)
    return () if lab_task(task_name).name == "pos" else ("length",)


def has_pretrained(task_name: str, spec: ModelSpec, task_params: dict[str, Any]) -> bool:
    """Whether ``make pretrain`` trained this architecture on this task (default size and task settings)."""
    t = lab_task(task_name)
    return spec == default_spec(task_name, spec.cell) and t.make(**task_params) == t.make()


def build_model(task, spec: ModelSpec) -> RecurrentModel:
    """A fresh model for ``task``; on the recall tasks LSTM and GRU gates get the chrono initialisation."""
    model = RecurrentModel(
        spec.cell,
        task.input_size,
        spec.hidden_size,
        task.output_size,
        num_layers=spec.num_layers,
        bidirectional=spec.bidirectional,
        nonlinearity=spec.nonlinearity,
        mapping=task.mapping,
    )
    if isinstance(task, FirstSymbolRecall) and spec.cell != "rnn":
        model.body.chrono_init(max(task.length, 3))
    return model


def make_trainer(model: RecurrentModel, task, config: TrainConfig, device=None) -> Trainer:
    return Trainer(model, task_step(task.kind), task.sample, config, device=device)


def default_config(task_name: str, seed: int = 0, **overrides: Any) -> TrainConfig:
    t = lab_task(task_name)
    return replace(TrainConfig(steps=t.steps, lr=t.lr, clip_norm=t.clip_norm, seed=seed, chunk_size=25), **overrides)


@torch.no_grad()
def evaluate(model: RecurrentModel, task_name: str, task=None) -> float:
    """The task's test metric: held-out word accuracy (pos) or accuracy on a fixed-seed batch."""
    if task_name == "pos":
        return pos_lexicon.accuracy(model, "test")
    task = replace(task or lab_task(task_name).make(), batch_size=EVAL_SIZE)
    x, y = task.sample(0, torch.Generator().manual_seed(EVAL_SEED))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = model(x.to(device)).cpu()
    model.train(was_training)
    if task.kind == "classification":
        return float((out.argmax(-1) == y).float().mean())
    from models.sequence_tasks import REGRESSION_TOLERANCE

    return float(((out - y).abs() < REGRESSION_TOLERANCE).float().mean())


@dataclass
class TargetRun:
    """``steps`` and training ``seconds`` (evaluations not counted) to reach the target (the whole run if never
    reached); ``metric`` at the end."""

    reached: bool
    steps: int
    seconds: float
    metric: float
    total_steps: int = 0
    curves: dict[str, list[float]] = field(default_factory=dict)


def train_to_target(
    task_name: str,
    spec: ModelSpec | None = None,
    seed: int = 0,
    eval_every: int = 50,
    max_steps: int | None = None,
    stop_at_target: bool = True,
) -> tuple[RecurrentModel, TargetRun]:
    """Train a model on the task's defaults, evaluating every ``eval_every`` steps, until the test metric
    reaches the task's target (``stop_at_target``) or the step budget ends."""
    t = lab_task(task_name)
    task = t.make()
    spec = spec or default_spec(task_name)
    torch.manual_seed(seed)
    model = build_model(task, spec)
    trainer = make_trainer(model, task, default_config(task_name, seed=seed, steps=max_steps or t.steps), device="cpu")
    seconds, metric, hit = 0.0, 0.0, None
    while not trainer.done:
        started = time.perf_counter()
        trainer.run_chunk(eval_every)
        seconds += time.perf_counter() - started
        metric = evaluate(model, task_name, task)
        if metric >= t.target and hit is None:
            hit = (trainer.step, seconds)
            if stop_at_target:
                break
    steps, seconds = hit or (trainer.step, seconds)
    curves = {name: trainer.history.column(name).round(4).tolist() for name in ("step", "loss", "accuracy")}
    return model, TargetRun(hit is not None, steps, seconds, metric, trainer.step, curves)


def checkpoint_path(assets: Path, task_name: str, cell: str) -> Path:
    return assets / f"rnn_{task_name}_{cell}.pt"


def pretrain(assets: Path, tasks: tuple[str, ...] | None = None) -> list[Path]:
    """Default models for every task and cell (1 layer, unidirectional), trained for the whole step budget.

    The meta keeps the training curves and the step at which the target was reached, so the page shows
    RNN vs LSTM vs GRU before any click.
    """
    paths = []
    for task_name in tasks or tuple(LAB_TASKS):
        for cell in CELLS:
            model, run = train_to_target(task_name, default_spec(task_name, cell), stop_at_target=False)
            meta = {
                "task": task_name,
                "steps": run.total_steps,
                "steps_to_target": run.steps if run.reached else None,
                "test_metric": run.metric,
                "reached_target": run.reached,
                "seconds": run.seconds,
                "curves": run.curves,
            }
            path = save_checkpoint(checkpoint_path(assets, task_name, cell), model, model.config(), meta)
            target = f"target at step {run.steps}" if run.reached else "target not reached"
            print(f"  {path.name}: {run.total_steps} steps, {target}, test {run.metric:.3f}", flush=True)
            paths.append(path)
    return paths


def model_from_checkpoint(checkpoint: Checkpoint, source: str) -> RecurrentModel:
    """A fresh model with the checkpoint's architecture and weights (the checkpoint is not modified)."""
    try:
        model = RecurrentModel(**checkpoint.config)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{source}: bad model config in checkpoint: {error}") from None
    return load_weights(model, checkpoint, source)


def load_pretrained(assets: Path, task_name: str, cell: str) -> tuple[RecurrentModel, dict]:
    """The pretrained default model for ``task_name`` and ``cell`` and its meta (CheckpointError if absent)."""
    checkpoint = load_checkpoint(checkpoint_path(assets, task_name, cell))
    return model_from_checkpoint(checkpoint, f"{task_name}/{cell}"), checkpoint.meta


def spec_of(model: RecurrentModel) -> ModelSpec:
    c = model.config()
    return ModelSpec(c["cell"], c["hidden_size"], c["num_layers"], c["bidirectional"], c["nonlinearity"])


# --- display examples and analysis ---------------------------------------------------------------

POS_EXAMPLES = ("deep", "quickly", "table", "run", "beautiful", "walked", "slowly", "house", "happy", "eating")


@dataclass
class Examples:
    """Display inputs: x (B, T, d), lengths (B,) or None, labels (B,) or targets, token strings per input."""

    x: torch.Tensor
    lengths: torch.Tensor | None
    targets: torch.Tensor
    tokens: list[list[str]]
    names: list[str]


def pca_words(per_class: int = 6) -> tuple[str, ...]:
    """Held-out words for the PCA view: the first ``per_class`` test words of each class, 4 to 9 letters."""
    words, labels = pos_lexicon.split("test")
    chosen = []
    for k in range(len(pos_lexicon.CLASSES)):
        pool = [w for w, y in zip(words, labels.tolist(), strict=True) if y == k and 4 <= len(w) <= 9]
        chosen += pool[:: max(1, len(pool) // per_class)][:per_class]
    return tuple(chosen)


def display_examples(task_name: str, n: int = 8, task=None, words: tuple[str, ...] | None = None) -> Examples:
    """A fixed set of inputs to show (the same every run); ``words`` for the pos task (default POS_EXAMPLES)."""
    if task_name == "pos":
        words = words or POS_EXAMPLES
        cleaned = [pos_lexicon.clean_word(w)[0] for w in words]
        x, lengths = pos_lexicon.encode_words(cleaned)
        lexicon = pos_lexicon.load_lexicon()
        labels = torch.tensor([pos_lexicon.CLASSES.index(lexicon.get(w, "noun")) for w in cleaned])
        return Examples(x, lengths, labels, [list(w) for w in cleaned], cleaned)
    task = replace(task or lab_task(task_name).make(), batch_size=n)
    x, y = task.sample(0, torch.Generator().manual_seed(EVAL_SEED + 1))
    return Examples(x, None, y, [token_labels(task_name, seq) for seq in x], [f"example {i + 1}" for i in range(n)])


def token_labels(task_name: str, seq: torch.Tensor) -> list[str]:
    """Axis labels for the steps of one input ``(T, d)``."""
    if task_name.startswith("recall"):
        return [chr(ord("A") + int(i)) for i in seq[:, : lab_task(task_name).make().n_symbols].argmax(-1)]
    if task_name == "running_sum":
        return [f"{float(v):+.2f}" for v in seq[:, 0]]
    return [f"{float(a):.2f}|{float(b):.2f}" for a, b in seq.tolist()]


@torch.no_grad()
def trace_examples(model: RecurrentModel, examples: Examples) -> ModelTrace:
    device = next(model.parameters()).device
    lengths = examples.lengths.to(device) if examples.lengths is not None else None
    return model.trace(examples.x.to(device), lengths=lengths)


def pca_project(states: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Project rows of ``states`` (N, H) on their top-k principal components; returns (N, k), explained ratio."""
    if states.ndim != 2 or states.shape[0] < 2:
        raise ValueError(f"PCA needs at least 2 states of shape (N, H), got {states.shape}")
    centred = states - states.mean(axis=0, keepdims=True)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    k_eff = min(k, vt.shape[0])
    projected = centred @ vt[:k_eff].T
    if k_eff < k:
        projected = np.pad(projected, ((0, 0), (0, k - k_eff)))
    variance = s**2
    ratio = variance[:k_eff] / variance.sum() if variance.sum() > 0 else np.zeros(k_eff)
    return projected, np.pad(ratio, (0, k - k_eff))


@dataclass
class WordPrediction:
    word: str
    notes: list[str]
    probabilities: np.ndarray  # (classes,)
    step_probabilities: np.ndarray  # (T, classes): the prediction if the word ended at step t
    attributions: np.ndarray  # (T,) Integrated Gradients per character, for the predicted class
    target: int
    delta: float
    in_lexicon: str | None


def predict_word(model: RecurrentModel, text: str, target: int | None = None, n_steps: int = 32) -> WordPrediction:
    """Class probabilities of a typed word and per-character Integrated Gradients (Captum).

    IG integrates the gradient of the target logit along x_alpha = alpha * x (alpha in [0, 1]) from the
    all-zero baseline to the word's one-hot characters; a character's attribution sums its row.
    Raises ValueError for unusable input (see :func:`pos_lexicon.clean_word`).
    """
    word, notes = pos_lexicon.clean_word(text)
    device = next(model.parameters()).device
    x, _ = pos_lexicon.encode_words([word])
    x = x.to(device)
    model.eval()
    with torch.no_grad():
        trace = model.trace(x)
    probabilities = torch.softmax(trace.outputs[0], -1).cpu().numpy()
    step_probabilities = torch.softmax(trace.step_outputs[0], -1).cpu().numpy()
    target = int(probabilities.argmax()) if target is None else target
    with torch.backends.cudnn.flags(enabled=False):
        ig = IntegratedGradients(lambda inputs: model(inputs))
        attr, delta = ig.attribute(
            x, baselines=torch.zeros_like(x), target=target, n_steps=n_steps, return_convergence_delta=True
        )
    return WordPrediction(
        word=word,
        notes=notes,
        probabilities=probabilities,
        step_probabilities=step_probabilities,
        attributions=attr[0].sum(-1).detach().cpu().numpy(),
        target=target,
        delta=float(delta.abs().max()),
        in_lexicon=pos_lexicon.load_lexicon().get(word),
    )


@dataclass
class Lesson:
    """What teaching one word did: its class probabilities, the held-out accuracy and the predictions for
    the training words that end like it, each before and after."""

    word: str
    label: int
    before: np.ndarray
    after: np.ndarray
    test_accuracy: tuple[float, float]
    neighbours: list[tuple[str, str, str, str]]  # (word, lexicon class, predicted before, predicted after)


def _class_probabilities(model: RecurrentModel, words: list[str]) -> np.ndarray:
    """Class probabilities ``(N, classes)`` of each word, from one batched forward."""
    device = next(model.parameters()).device
    x, lengths = pos_lexicon.encode_words(words)
    model.eval()
    with torch.no_grad():
        return torch.softmax(model(x.to(device), lengths=lengths), -1).cpu().numpy()


def teach_word(
    model: RecurrentModel,
    text: str,
    label: int,
    steps: int = LESSON_STEPS,
    copies: int = LESSON_COPIES,
    lr: float = 1e-3,
    seed: int = 0,
) -> tuple[RecurrentModel, Lesson]:
    """Fine-tune a copy of ``model`` with ``copies`` copies of the word (class ``label``) in every batch of
    training words, and report what changed (``model`` is not modified)."""
    word, _ = pos_lexicon.clean_word(text)
    lesson_task = pos_lexicon.WordLesson(word, label, copies)
    taught = copy.deepcopy(model)
    _, neighbours = pos_lexicon.same_ending(word)
    neighbours = neighbours[:MAX_NEIGHBOURS]
    shown = [word] + [w for w, _ in neighbours]  # the word first, then its neighbours
    before = _class_probabilities(model, shown)
    config = TrainConfig(steps=steps, lr=lr, clip_norm=1.0, seed=seed)
    trainer = Trainer(taught, task_step("classification"), lesson_task.sample, config)
    trainer.run()
    if trainer.status == "diverged":
        raise ValueError(f"the lesson diverged: {trainer.stop_reason}")
    after = _class_probabilities(taught, shown)
    predicted = [[pos_lexicon.CLASSES[int(k)] for k in p.argmax(-1)[1:]] for p in (before, after)]
    return taught, Lesson(
        word=word,
        label=label,
        before=before[0],
        after=after[0],
        test_accuracy=(pos_lexicon.accuracy(model), pos_lexicon.accuracy(taught)),
        neighbours=[(w, c, b, a) for (w, c), b, a in zip(neighbours, *predicted, strict=True)],
    )


def spec_dict(spec: ModelSpec) -> dict:
    return asdict(spec)


def layer_view(trace: ModelTrace, index: int, layer: int, direction: int, length: int) -> dict[str, Any]:
    """One input's internals as numpy ``(T, H)`` arrays: "h", "c" (LSTM, else None), "gates" {name: (T, H)}."""
    rec = trace.recurrent
    if not 0 <= layer < len(rec.hidden):
        raise ValueError(f"layer must be between 1 and {len(rec.hidden)}")
    if not 0 <= direction < rec.hidden[layer].shape[2]:
        raise ValueError("this network has no backward direction")

    def pick(tensor: torch.Tensor) -> np.ndarray:
        return tensor[index, :length, direction].detach().cpu().numpy()

    return {
        "h": pick(rec.hidden[layer]),
        "c": pick(rec.cell[layer]) if rec.cell is not None else None,
        "gates": {name: pick(value) for name, value in rec.gates[layer].items()},
    }


def trajectories(trace: ModelTrace, lengths: list[int], layer: int, direction: int, k: int = 2):
    """h_t of every input projected on the top-k principal components of all their states.

    Returns (points (N, T, k) with zeros past each length, explained-variance ratios (k,)).
    """
    hidden = trace.recurrent.hidden[layer][:, :, direction].detach().cpu().numpy()  # (N, T, H)
    states = np.concatenate([hidden[i, :n] for i, n in enumerate(lengths)])
    projected, explained = pca_project(states, k)
    points = np.zeros((hidden.shape[0], hidden.shape[1], k))
    offset = 0
    for i, n in enumerate(lengths):
        points[i, :n] = projected[offset : offset + n]
        offset += n
    return points, explained


def step_predictions(trace: ModelTrace, index: int, length: int, kind: str) -> np.ndarray:
    """The output layer read at every step for one input: probabilities (T, C) or values (T,)."""
    out = trace.step_outputs[index, :length].detach().cpu()
    return torch.softmax(out, -1).numpy() if kind == "classification" else out[:, 0].numpy()


def example_labels(task_name: str, examples: Examples, task=None) -> list[str]:
    """A class name per display input (for colours): the true class, or the sign of the final sum."""
    if task_name == "pos":
        return [pos_lexicon.CLASSES[int(i)] for i in examples.targets]
    if task_name == "running_sum":
        return ["final sum > 0" if float(y[-1]) > 0 else "final sum <= 0" for y in examples.targets]
    classes = (task or lab_task(task_name).make()).classes
    return [classes[int(i)] for i in examples.targets]


class SideBySide:
    """Three trainers (RNN, LSTM, GRU) advanced in turn; quacks like a :class:`Trainer` for the page."""

    def __init__(self, trainers: dict[str, Trainer]):
        self.trainers = trainers
        first = next(iter(trainers.values()))
        self.config = first.config

    @property
    def step(self) -> int:
        return min(t.step for t in self.trainers.values())

    @property
    def done(self) -> bool:
        return all(t.done for t in self.trainers.values())

    @property
    def status(self) -> str:
        statuses = {t.status for t in self.trainers.values()}
        for status in ("running", "diverged", "stopped", "finished"):
            if status in statuses:
                return status
        return "ready"

    @property
    def stop_reason(self) -> str:
        return "; ".join(f"{name.upper()}: {t.stop_reason}" for name, t in self.trainers.items() if t.stop_reason)

    def request_stop(self) -> None:
        for trainer in self.trainers.values():
            trainer.request_stop()

    def run_for(self, seconds: float) -> None:
        share = seconds / len(self.trainers)
        for trainer in self.trainers.values():
            trainer.run_for(share)

    def curves(self) -> dict[str, dict[str, np.ndarray]]:
        return {
            name: {c: t.history.column(c) for c in ("step", "loss", "accuracy")} for name, t in self.trainers.items()
        }


def side_by_side(task_name: str, spec: ModelSpec, config: TrainConfig, device=None, **task_params) -> SideBySide:
    """RNN, LSTM and GRU with the same seed, task, size and training settings."""
    task = lab_task(task_name).make(**task_params)
    trainers = {}
    for cell in CELLS:
        torch.manual_seed(config.seed)
        model = build_model(task, replace(spec, cell=cell))
        trainers[cell] = make_trainer(model, task, config, device=device)
    return SideBySide(trainers)
