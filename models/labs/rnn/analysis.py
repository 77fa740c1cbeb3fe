"""What the RNN lab's views show, computed here: display inputs and their traces, one layer's internals,
PCA trajectories of h_t, the prediction read at every step, a typed word explained, and a one-word lesson."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import IntegratedGradients

from models.blocks.recurrent import RecurrentModel, RecurrentModelTrace, recurrent_step
from models.core.device import model_device
from models.core.engine import TrainConfig, Trainer
from models.core.evaluation import accuracy, inference
from models.data import lexicon

DISPLAY_SIZE = 10
TRAJECTORY_SIZE = 24
LESSON_STEPS = 60
LESSON_COPIES = 8
MAX_NEIGHBOURS = 16  # same-ending words whose predictions a lesson reports


@dataclass
class Examples:
    """Display inputs: x (B, T, d), lengths (B,), targets, the step labels and name of each input, and the class
    name each is coloured by."""

    x: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor
    tokens: list[list[str]]
    names: list[str]
    labels: list[str]


def display_examples(task, n: int = DISPLAY_SIZE) -> Examples:
    """A fixed set of ``n`` inputs of ``task`` to show (the same every run)."""
    (x, *rest), names = task.display_batch(n)
    *lengths, targets = rest
    lengths = lengths[0] if lengths else torch.full((len(x),), x.shape[1])
    tokens = [task.token_labels(seq[:length]) for seq, length in zip(x, lengths.tolist(), strict=True)]
    return Examples(x, lengths, targets, tokens, names, task.label_names(targets))


def trace_examples(model: RecurrentModel, examples: Examples) -> RecurrentModelTrace:
    with inference(model):
        return model.trace(examples.x.to(model_device(model)), lengths=examples.lengths)


def layer_view(trace: RecurrentModelTrace, index: int, layer: int, direction: int, length: int) -> dict:
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


def trajectories(trace: RecurrentModelTrace, lengths: list[int], layer: int, direction: int, k: int = 2):
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


def step_predictions(trace: RecurrentModelTrace, index: int, length: int, kind: str) -> np.ndarray:
    """The output layer read at every step for one input: probabilities (T, C) or values (T,)."""
    out = trace.step_outputs[index, :length].detach().cpu()
    return torch.softmax(out, -1).numpy() if kind == "classification" else out[:, 0].numpy()


@dataclass
class WordPrediction:
    word: str
    notes: list[str]
    probabilities: np.ndarray  # (classes,)
    step_probabilities: np.ndarray  # (T, classes): the prediction if the word ended at step t
    attributions: np.ndarray  # (T,) Integrated Gradients per character, for the class ``target``
    target: int
    delta: float
    in_lexicon: str | None


def predict_word(model: RecurrentModel, text: str, target: int | None = None, n_steps: int = 32) -> WordPrediction:
    """Class probabilities of a typed word and per-character Integrated Gradients (Captum).

    IG integrates the gradient of the target logit along x_alpha = alpha * x (alpha in [0, 1]) from the
    all-zero baseline to the word's one-hot characters; a character's attribution sums its row.
    Raises ValueError for unusable input (see :func:`models.data.lexicon.clean_word`).
    """
    word, notes = lexicon.clean_word(text)
    x, _ = lexicon.encode_words([word])
    x = x.to(model_device(model))
    with inference(model):
        trace = model.trace(x)
    probabilities = torch.softmax(trace.output[0], -1).cpu().numpy()
    step_probabilities = torch.softmax(trace.step_outputs[0], -1).cpu().numpy()
    target = int(probabilities.argmax()) if target is None else target
    model.eval()
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
        in_lexicon=lexicon.load_lexicon().get(word),
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


def class_probabilities(model: RecurrentModel, words: list[str]) -> np.ndarray:
    """Class probabilities ``(N, classes)`` of each word, from one batched forward."""
    x, lengths = lexicon.encode_words(words)
    with inference(model):
        return torch.softmax(model(x.to(model_device(model)), lengths), -1).cpu().numpy()


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
    word, _ = lexicon.clean_word(text)
    lesson_task = lexicon.WordLesson(word, label, copies)
    taught = copy.deepcopy(model)
    _, neighbours = lexicon.same_ending(word)
    neighbours = neighbours[:MAX_NEIGHBOURS]
    shown = [word] + [w for w, _ in neighbours]  # the word first, then its neighbours
    before = class_probabilities(model, shown)
    config = TrainConfig(steps=steps, lr=lr, clip_norm=1.0, seed=seed)
    trainer = Trainer(taught, recurrent_step("classification"), lesson_task.sample, config, model_device(model))
    trainer.run()
    if trainer.status == "diverged":
        raise ValueError(f"the lesson diverged: {trainer.stop_reason}")
    after = class_probabilities(taught, shown)
    predicted = [[lexicon.CLASSES[int(k)] for k in p.argmax(-1)[1:]] for p in (before, after)]
    held_out = lexicon.PartOfSpeech()
    return taught, Lesson(
        word=word,
        label=label,
        before=before[0],
        after=after[0],
        test_accuracy=(accuracy(model, held_out.test_batches()), accuracy(taught, held_out.test_batches())),
        neighbours=[(w, c, b, a) for (w, c), b, a in zip(neighbours, *predicted, strict=True)],
    )
