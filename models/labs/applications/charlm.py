"""One-to-many and many-to-many: a character language model on the lexicon's words.

The model is the package's one recurrent network (:class:`RecurrentModel`, LSTM or GRU, many-to-many) on
one-hot symbols: reading ". d e e p" it predicts p(x_{t+1} | x_1..x_t) = softmax(V h_t + b_y) at every step,
trained by cross-entropy, the loss per character. Its perplexity exp(mean loss per character) is set against
two language models in closed form from the same training words: unigram p(c) and bigram p(c | previous).
Sampling starts from the start token (or a typed prefix) and draws letter after letter from
softmax(logits / temperature) until the end token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn

from models.blocks.recurrent import RecurrentModel
from models.core.device import model_device
from models.core.engine import StepContext, StepOutput
from models.core.evaluation import IGNORE_INDEX, classification_output, inference
from models.data.lexicon import MAX_WORD_LENGTH, clean_word, load_lexicon
from models.data.words import SYMBOLS, VOCAB_SIZE, frame_words, one_hot, split_words, symbol_indices

LM_CELLS = ("lstm", "gru")
MIN_TEMPERATURE = 0.05
MAX_TEMPERATURE = 5.0
MAX_SAMPLES = 500
SMOOTHING = 1.0  # add-one (Laplace) smoothing of the n-gram counts


def build_charlm(cell: str = "lstm", hidden_size: int = 128, num_layers: int = 1) -> RecurrentModel:
    """A fresh character language model: one-hot symbols in, next-symbol logits out at every step."""
    if cell not in LM_CELLS:
        raise ValueError(f"the language model's cell must be one of {LM_CELLS}, got {cell!r}")
    return RecurrentModel(cell, VOCAB_SIZE, hidden_size, VOCAB_SIZE, num_layers=num_layers, mapping="many_to_many")


def charlm_step(model: RecurrentModel, batch: tuple[torch.Tensor, torch.Tensor], context: StepContext) -> StepOutput:
    """The engine's step: cross-entropy per character, next-letter accuracy and perplexity exp(loss)."""
    x, targets = batch
    output = classification_output(model(x), targets)
    output.metrics["perplexity"] = output.loss.detach().exp()
    return output


def perplexity(model: RecurrentModel, batches) -> float:
    """exp(mean -log p(x_{t+1} | x_1..x_t)) over every predicted symbol (end tokens included) of ``batches``."""
    total, count = 0.0, 0
    device = model_device(model)
    with inference(model):
        for x, targets in batches:
            logits = model(x.to(device)).cpu()
            scored = targets != IGNORE_INDEX
            total += float(nn.functional.cross_entropy(logits[scored], targets[scored], reduction="sum"))
            count += int(scored.sum())
    return math.exp(total / count)


def ngram_probabilities(words, order: int, alpha: float = SMOOTHING) -> torch.Tensor:
    """Closed-form n-gram model from ``words``, smoothed by adding ``alpha`` to every count.

    order 1: p(c) = (n(c) + alpha) / (N + alpha V), shape ``(V,)``; order 2: p(c | b) = (n(b c) + alpha) /
    (n(b) + alpha V), shape ``(V, V)`` indexed [b, c]; V = 27 symbols, counted over framed words (".deep.").
    """
    if order not in (1, 2):
        raise ValueError(f"order must be 1 (unigram) or 2 (bigram), got {order}")
    inputs, targets = frame_words(tuple(words))
    scored = targets != IGNORE_INDEX
    if order == 1:
        counts = targets[scored].bincount(minlength=VOCAB_SIZE).double()
        return (counts + alpha) / (counts.sum() + alpha * VOCAB_SIZE)
    pairs = inputs[scored] * VOCAB_SIZE + targets[scored]
    counts = pairs.bincount(minlength=VOCAB_SIZE**2).double().view(VOCAB_SIZE, VOCAB_SIZE)
    return (counts + alpha) / (counts.sum(dim=1, keepdim=True) + alpha * VOCAB_SIZE)


def ngram_losses(p: torch.Tensor, words) -> torch.Tensor:
    """-log p of every predicted symbol of ``words`` (letters and end tokens, word after word) under the n-gram
    table ``p`` of :func:`ngram_probabilities` (``(V,)`` unigram or ``(V, V)`` bigram)."""
    inputs, targets = frame_words(tuple(words))
    scored = targets != IGNORE_INDEX
    probabilities = p[targets[scored]] if p.dim() == 1 else p[inputs[scored], targets[scored]]
    return -probabilities.log()


def ngram_perplexity(train_words, eval_words, order: int, alpha: float = SMOOTHING) -> float:
    """Perplexity on ``eval_words`` of the n-gram model counted on ``train_words`` (see
    :func:`ngram_probabilities`)."""
    return math.exp(float(ngram_losses(ngram_probabilities(train_words, order, alpha), eval_words).mean()))


@lru_cache(maxsize=2)
def lexicon_ngram(order: int) -> torch.Tensor:
    """The n-gram table counted on the lexicon's training words (cached)."""
    return ngram_probabilities(split_words("train"), order)


@dataclass(frozen=True)
class Baselines:
    """Held-out perplexities of the closed-form unigram and bigram models counted on the training words."""

    unigram: float
    bigram: float


@lru_cache(maxsize=1)
def baselines() -> Baselines:
    """The unigram and bigram perplexities on the held-out words (counted once, then cached)."""
    train, test = split_words("train"), split_words("test")
    return Baselines(ngram_perplexity(train, test, 1), ngram_perplexity(train, test, 2))


@dataclass
class WordSteps:
    """A word read by the model, one row per predicted symbol (its letters, then the end token):
    ``symbols`` the true next symbols, ``distributions`` p(next | prefix) ``(n + 1, 27)``, ``loss`` -log p of
    the true symbol ``(n + 1,)``, ``hidden`` h_t ``(n + 1, H)`` and ``cell`` C_t (LSTM; None for a GRU)."""

    word: str
    notes: list[str]
    symbols: list[str]
    distributions: torch.Tensor
    loss: torch.Tensor
    hidden: torch.Tensor
    cell: torch.Tensor | None

    @property
    def perplexity(self) -> float:
        return math.exp(float(self.loss.mean()))


def read_word(model: RecurrentModel, text: str) -> WordSteps:
    """The model's next-letter distribution, loss and states along a typed word (cleaned by
    :func:`clean_word`: a ValueError says why an empty, non-Latin or overlong word is refused)."""
    word, notes = clean_word(text)
    inputs, targets = frame_words([word])
    with inference(model):
        trace = model.trace(one_hot(inputs).to(model_device(model)))
    logits = trace.output[0].cpu()  # (n + 1, 27)
    recurrent = trace.recurrent
    return WordSteps(
        word=word,
        notes=notes,
        symbols=[SYMBOLS[i] for i in targets[0].tolist()],
        distributions=logits.softmax(-1),
        loss=nn.functional.cross_entropy(logits, targets[0], reduction="none"),
        hidden=recurrent.hidden[-1][0, :, 0].cpu(),
        cell=recurrent.cell[-1][0, :, 0].cpu() if recurrent.cell is not None else None,
    )


def clean_prefix(text: str) -> tuple[str, list[str]]:
    """A typed prefix for sampling: "" (start from the start token) or letters a-z, at most
    ``MAX_WORD_LENGTH - 1`` of them (ValueError with the reason otherwise)."""
    if not text.strip():
        return "", ["no prefix: sampling starts from the start token"] if text else []
    prefix, notes = clean_word(text)
    if len(prefix) >= MAX_WORD_LENGTH:
        raise ValueError(f"the prefix has {len(prefix)} letters; at most {MAX_WORD_LENGTH - 1}")
    return prefix, notes


@dataclass
class SampledWord:
    """One sampled word: its letters, where it comes from (``"training word"``, ``"held-out lexicon word"`` or
    ``"new"``), and per step the distribution it was drawn from ``(steps, 27)`` and h_t ``(steps, H)``. The
    prefix's steps come first; ``ended`` is False when no end token came within ``MAX_WORD_LENGTH`` symbols."""

    word: str
    source: str
    distributions: torch.Tensor
    hidden: torch.Tensor
    ended: bool


@lru_cache(maxsize=1)
def _training_words() -> frozenset[str]:
    return frozenset(split_words("train"))


def word_source(word: str) -> str:
    """Whether ``word`` is one of the training words, a held-out word of the lexicon, or new."""
    if word not in load_lexicon():
        return "new"
    return "training word" if word in _training_words() else "held-out lexicon word"


def check_sampling(n: int, temperature: float) -> None:
    if not 1 <= n <= MAX_SAMPLES:
        raise ValueError(f"number of words must be between 1 and {MAX_SAMPLES}, got {n}")
    if not (isinstance(temperature, (int, float)) and MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE):
        raise ValueError(f"temperature must be between {MIN_TEMPERATURE} and {MAX_TEMPERATURE}, got {temperature!r}")


def sample_words(
    model: RecurrentModel, n: int = 10, temperature: float = 1.0, seed: int = 0, prefix: str = ""
) -> list[SampledWord]:
    """``n`` words drawn in parallel, letter by letter from softmax(logits / temperature), each starting from the
    start token and the (cleaned) ``prefix``, until the end token (at most ``MAX_WORD_LENGTH`` symbols)."""
    check_sampling(n, temperature)
    forced = symbol_indices(clean_prefix(prefix)[0])
    generator = torch.Generator().manual_seed(seed)
    device = model_device(model)
    symbols = torch.zeros(n, 1, dtype=torch.long)  # the start token
    rows, states, state = [], [], None
    with inference(model):
        for t in range(MAX_WORD_LENGTH):
            out, state = model.body.rnn(one_hot(symbols[:, -1:]).to(device), state)  # (n, 1, H)
            p = (model.head(out[:, 0]).cpu() / temperature).softmax(-1)  # (n, 27)
            drawn = torch.multinomial(p, 1, generator=generator)
            if t < len(forced):
                drawn = torch.full((n, 1), forced[t])
            rows.append(p)
            states.append(out[:, 0].cpu())
            symbols = torch.cat([symbols, drawn], dim=1)
            if bool((symbols[:, 1:] == 0).any(dim=1).all()):
                break
    return [_sampled(symbols[i, 1:], torch.stack(rows, 1)[i], torch.stack(states, 1)[i]) for i in range(n)]


def _sampled(drawn: torch.Tensor, distributions: torch.Tensor, hidden: torch.Tensor) -> SampledWord:
    """One row of a batched draw, cut at its end token."""
    ends = (drawn == 0).nonzero()
    letters = int(ends[0]) if len(ends) else len(drawn)
    word = "".join(SYMBOLS[i] for i in drawn[:letters].tolist())
    steps = letters + 1 if len(ends) else letters
    return SampledWord(word, word_source(word), distributions[:steps], hidden[:steps], bool(len(ends)))
