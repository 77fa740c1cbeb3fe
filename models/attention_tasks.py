"""Toy sequence tasks whose attention can be read, and the tiny transformer that learns them.

Every task maps a sequence of tokens x_1..x_T to one target per position, so an encoder with a
per-token head solves it; each has a head pattern to look for:

- reverse: y_t = x_{T+1-t} (an anti-diagonal attention map; needs positions),
- offset copy: y_t = x_{t-s} for t > s (a diagonal shifted by s; needs positions),
- sort: y = the tokens in increasing order (position t looks for the token of rank t),
- count: y_t = how many times x_t occurs in the sequence (attend to equal tokens; order-free,
  so it is learned without any positional encoding).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import IntegratedGradients
from torch import nn

from models.attention import EncoderOutput, TransformerEncoder, attention_rollout, check_heads, head_mean
from models.checkpoint import load_checkpoint, load_weights, save_checkpoint
from models.engine import StepContext, StepOutput, TrainConfig, Trainer
from models.positional import positional_module, sinusoidal_encoding

IGNORE_INDEX = -100
TASKS = ("reverse", "offset_copy", "sort", "count")
MAX_LENGTH = 32
MAX_VOCAB = 32


@dataclass(frozen=True)
class ToyTask:
    """One toy task: its name, vocabulary, sequence length, the offset (offset copy) and batch size."""

    name: str = "reverse"
    vocab_size: int = 8
    length: int = 8
    offset: int = 2
    batch_size: int = 64

    def __post_init__(self):
        if self.name not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.name!r}")
        if not 2 <= self.vocab_size <= MAX_VOCAB:
            raise ValueError(f"vocabulary size must be between 2 and {MAX_VOCAB}, got {self.vocab_size}")
        if not 2 <= self.length <= MAX_LENGTH:
            raise ValueError(f"sequence length must be between 2 and {MAX_LENGTH}, got {self.length}")
        if self.name == "offset_copy" and not 1 <= self.offset < self.length:
            raise ValueError(f"offset must be between 1 and length - 1 = {self.length - 1}, got {self.offset}")
        if not 1 <= self.batch_size <= 1024:
            raise ValueError(f"batch size must be between 1 and 1024, got {self.batch_size}")

    @property
    def n_classes(self) -> int:
        """Output classes: the vocabulary, or counts 1..T for the count task."""
        return self.length + 1 if self.name == "count" else self.vocab_size

    def targets(self, tokens: torch.Tensor) -> torch.Tensor:
        """The target of every position for ``tokens`` (B, T); IGNORE_INDEX where there is none."""
        if self.name == "reverse":
            return tokens.flip(-1)
        if self.name == "sort":
            return tokens.sort(dim=-1).values
        if self.name == "count":
            return (tokens[:, :, None] == tokens[:, None, :]).sum(-1)  # (B, T)
        targets = torch.full_like(tokens, IGNORE_INDEX)
        targets[:, self.offset :] = tokens[:, : -self.offset]
        return targets

    def sample(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch (tokens (B, T), targets (B, T)) drawn from ``generator``."""
        tokens = torch.randint(self.vocab_size, (self.batch_size, self.length), generator=generator)
        return tokens, self.targets(tokens)

    def parse(self, text: str) -> torch.Tensor:
        """Tokens typed as integers separated by spaces or commas -> a (1, T) tensor, checked."""
        parts = text.replace(",", " ").split()
        if len(parts) != self.length:
            raise ValueError(f"type exactly {self.length} tokens (this model's sequence length), got {len(parts)}")
        try:
            values = [int(part) for part in parts]
        except ValueError:
            raise ValueError(f"tokens must be integers between 0 and {self.vocab_size - 1}, got {text!r}") from None
        if not all(0 <= value < self.vocab_size for value in values):
            raise ValueError(f"tokens must be integers between 0 and {self.vocab_size - 1}, got {values}")
        return torch.tensor([values])


@dataclass
class TransformerTrace:
    """The tiny transformer's internals: logits (B, T, classes) and its encoder's output."""

    logits: torch.Tensor
    encoder: EncoderOutput


class TinyTransformer(nn.Module):
    """Token embedding e_t + positional p_t -> N encoder blocks -> a linear head per token."""

    def __init__(
        self,
        vocab_size: int,
        n_classes: int,
        max_len: int,
        d_model: int = 32,
        n_heads: int = 2,
        n_layers: int = 2,
        d_ff: int = 64,
        positional: str = "sinusoidal",
        norm_first: bool = False,
    ):
        super().__init__()
        check_heads(d_model, n_heads)
        self.positional_kind = positional
        self.embed = nn.Embedding(vocab_size, d_model)
        self.positional = positional_module(positional, max_len, d_model)
        self.encoder = TransformerEncoder(n_layers, d_model, n_heads, d_ff, norm_first)
        self.head = nn.Linear(d_model, n_classes)

    def inspect(self, tokens: torch.Tensor) -> TransformerTrace:
        return self.from_embeddings(self.embed(tokens))

    def from_embeddings(self, embeddings: torch.Tensor) -> TransformerTrace:
        """The model from the token embeddings e_t (B, T, d) on: + p_t, encoder, head."""
        encoded = self.encoder(self.positional(embeddings))
        return TransformerTrace(logits=self.head(encoded.last_hidden_state), encoder=encoded)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.inspect(tokens).logits  # (B, T, classes)


@dataclass(frozen=True)
class ModelConfig:
    d_model: int = 32
    n_heads: int = 2
    n_layers: int = 2
    d_ff: int = 64
    positional: str = "sinusoidal"
    norm_first: bool = False


def build_model(task: ToyTask, config: ModelConfig = ModelConfig()) -> TinyTransformer:
    return TinyTransformer(task.vocab_size, task.n_classes, task.length, **asdict(config))


def token_step(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], context: StepContext) -> StepOutput:
    """Cross-entropy over the positions that have a target; accuracy per token and per whole sequence."""
    tokens, targets = batch
    logits = model(tokens)
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)
    scored = targets != IGNORE_INDEX
    correct = (logits.argmax(-1) == targets) | ~scored
    return StepOutput(
        loss=loss,
        metrics={
            "accuracy": correct[scored].float().mean().detach(),
            "sequence_accuracy": correct.all(-1).float().mean().detach(),
        },
    )


@torch.no_grad()
def evaluate(model: nn.Module, task: ToyTask, n_batches: int = 4, seed: int = 1234) -> float:
    """Token accuracy on fresh batches (a generator apart from training's)."""
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    correct = total = 0
    model.eval()
    for step in range(n_batches):
        tokens, targets = (t.to(device) for t in task.sample(step, generator))
        scored = targets != IGNORE_INDEX
        correct += (model(tokens).argmax(-1)[scored] == targets[scored]).sum().item()
        total += scored.sum().item()
    return correct / total


@dataclass(frozen=True)
class Recipe:
    """A pretrained default: task, model, learning rate, step budget and the accuracy it must reach."""

    task: ToyTask
    model: ModelConfig
    lr: float
    steps: int
    target_accuracy: float


DEFAULTS: dict[str, Recipe] = {
    "reverse": Recipe(ToyTask("reverse"), ModelConfig(), 3e-3, 200, 0.95),
    "offset_copy": Recipe(ToyTask("offset_copy"), ModelConfig(), 3e-3, 200, 0.95),
    "sort": Recipe(ToyTask("sort"), ModelConfig(), 3e-3, 300, 0.95),
    "count": Recipe(ToyTask("count", vocab_size=6), ModelConfig(positional="none"), 3e-3, 500, 0.9),
}
DEFAULT_TASK = "reverse"
SNAPSHOTS = {"reverse": 8}  # the scrubber's default run; the others keep 2 (checkpoints stay small)


def trainer_for(recipe: Recipe, model: nn.Module | None = None, seed: int = 0, device=None) -> Trainer:
    """A Trainer of ``recipe`` (a fresh model unless one is given) on the one engine."""
    torch.manual_seed(seed)
    model = model if model is not None else build_model(recipe.task, recipe.model)
    config = TrainConfig(steps=recipe.steps, lr=recipe.lr, clip_norm=1.0, seed=seed, chunk_size=25)
    return Trainer(model, token_step, recipe.task.sample, config, device=device)


def train_with_snapshots(recipe: Recipe, n_snapshots: int = 3, seed: int = 0, device="cpu"):
    """Train ``recipe``; returns (model, history, [(step, state_dict)]) with snapshots at 0 and evenly after."""
    trainer = trainer_for(recipe, seed=seed, device=device)
    marks = {round(recipe.steps * (i + 1) / n_snapshots) for i in range(n_snapshots)}
    snapshots = [(0, copy.deepcopy(trainer.model.state_dict()))]
    while not trainer.done:
        for metrics in trainer.run_chunk(1):
            if metrics.step in marks:
                snapshots.append((metrics.step, copy.deepcopy(trainer.model.state_dict())))
    return trainer.model, trainer.history, snapshots


def checkpoint_path(assets: Path, name: str, positional: str | None = None) -> Path:
    suffix = "" if positional is None else f"_{positional}"
    return assets / f"attention_{name}{suffix}.pt"


def save_snapshots(path: Path, recipe: Recipe, snapshots: list, meta: dict) -> Path:
    """One checkpoint holding every snapshot: state-dict keys ``s<i>.<name>``, steps in ``meta``."""
    models = nn.ModuleDict()
    for i, (_, state) in enumerate(snapshots):
        model = build_model(recipe.task, recipe.model)
        model.load_state_dict(state)
        models[f"s{i}"] = model
    config = {"task": asdict(recipe.task), "model": asdict(recipe.model), "lr": recipe.lr, "steps": recipe.steps}
    meta = {**meta, "snapshot_steps": [step for step, _ in snapshots]}
    return save_checkpoint(path, models, config, meta)


@dataclass
class PretrainedRun:
    """A pretrained default loaded back: its recipe, the snapshot models by step, and meta."""

    recipe: Recipe
    steps: list[int]
    models: list[TinyTransformer]
    meta: dict

    @property
    def final(self) -> TinyTransformer:
        return self.models[-1]


def load_pretrained(path: Path) -> PretrainedRun:
    """Read a snapshot checkpoint written by :func:`save_snapshots`."""
    checkpoint = load_checkpoint(path)
    config = checkpoint.config
    recipe = Recipe(ToyTask(**config["task"]), ModelConfig(**config["model"]), config["lr"], config["steps"], 0.0)
    steps = list(checkpoint.meta["snapshot_steps"])
    container = nn.ModuleDict({f"s{i}": build_model(recipe.task, recipe.model) for i in range(len(steps))})
    load_weights(container, checkpoint, path)
    models = [container[f"s{i}"].eval() for i in range(len(steps))]
    return PretrainedRun(recipe, steps, models, checkpoint.meta)


def pretrain(assets: Path) -> list[Path]:
    """Every default task (with snapshots for the scrubber), plus reverse without PE (it fails)."""
    paths = []
    runs = [(name, recipe, None) for name, recipe in DEFAULTS.items()]
    no_pe = DEFAULTS["reverse"]
    runs.append(("reverse", Recipe(no_pe.task, ModelConfig(positional="none"), no_pe.lr, no_pe.steps, 0.0), "none"))
    for name, recipe, suffix in runs:
        n_snapshots = SNAPSHOTS.get(name, 2) if suffix is None else 1
        model, history, snapshots = train_with_snapshots(recipe, n_snapshots)
        curve = {name: history.column(name).round(4).tolist() for name in ("step", "loss", "accuracy")}
        meta = {
            "final_accuracy": evaluate(model, recipe.task),
            "target_accuracy": recipe.target_accuracy,
            "curve": curve,
        }
        paths.append(save_snapshots(checkpoint_path(assets, name, suffix), recipe, snapshots, meta))
    return paths


MAX_WORDS = 12
MAX_WORD_LENGTH = 20


def parse_words(text: str) -> list[str]:
    """A few words separated by spaces, checked: 2 to MAX_WORDS words of at most MAX_WORD_LENGTH letters."""
    words = text.split()
    if not 2 <= len(words) <= MAX_WORDS:
        raise ValueError(f"type between 2 and {MAX_WORDS} tokens separated by spaces, got {len(words)}")
    too_long = [w for w in words if len(w) > MAX_WORD_LENGTH]
    if too_long:
        raise ValueError(f"tokens must be at most {MAX_WORD_LENGTH} characters, got {too_long}")
    return words


def word_embeddings(words: list[str], d_model: int, positional: bool = False) -> torch.Tensor:
    """A fixed toy embedding e(word) (the same word always gets the same row), optionally + sinusoidal p_t."""
    if not 2 <= d_model <= 16 or d_model % 2:
        raise ValueError(f"embedding width must be an even number between 2 and 16, got {d_model}")
    rows = []
    for word in words:
        seed = int.from_bytes(word.lower().encode()[:8].ljust(8, b"\0"), "little") % (2**31)
        rows.append(torch.randn(d_model, generator=torch.Generator().manual_seed(seed + len(word))))
    X = torch.stack(rows).round(decimals=2)  # (N, d)
    if positional:
        X = X + sinusoidal_encoding(len(words), d_model)
    return X


def random_projections(d_model: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """W_q, W_k, W_v of shape (d, d), drawn from ``seed`` and rounded for display."""
    generator = torch.Generator().manual_seed(seed)
    return tuple((torch.randn(d_model, d_model, generator=generator) / d_model**0.5).round(decimals=2) for _ in "qkv")


@torch.no_grad()
def equivariance_gap(model: TinyTransformer, tokens: torch.Tensor, permutation: torch.Tensor) -> float:
    """max |f(x_perm) - f(x)_perm|: 0 (up to float error) without positional encoding."""
    model.eval()
    return (model(tokens[:, permutation]) - model(tokens)[:, permutation]).abs().max().item()


@dataclass
class AttentionMaps:
    """Everything the page shows for one input, as numpy: A per layer/head, head means, rollout, outputs."""

    tokens: list[str]
    attentions: np.ndarray  # (L, H, T, T)
    head_means: np.ndarray  # (L, T, T)
    rollout: np.ndarray  # (T, T)
    predictions: list[int]
    targets: list[int]

    @property
    def accuracy(self) -> float:
        scored = [(p, t) for p, t in zip(self.predictions, self.targets, strict=True) if t != IGNORE_INDEX]
        return sum(p == t for p, t in scored) / max(len(scored), 1)


@torch.no_grad()
def attention_maps(model: TinyTransformer, task: ToyTask, tokens: torch.Tensor) -> AttentionMaps:
    """Run ``model`` on one sequence ``tokens`` (1, T) and collect its attention maps."""
    device = next(model.parameters()).device
    trace = model.inspect(tokens.to(device))
    attentions = torch.stack(trace.encoder.attentions)[:, 0]  # (L, H, T, T)
    return AttentionMaps(
        tokens=[str(t) for t in tokens[0].tolist()],
        attentions=attentions.cpu().numpy(),
        head_means=head_mean(attentions).cpu().numpy(),
        rollout=attention_rollout(trace.encoder.attentions)[0].cpu().numpy(),
        predictions=trace.logits.argmax(-1)[0].tolist(),
        targets=task.targets(tokens)[0].tolist(),
    )


def example_tokens(task: ToyTask, seed: int = 0) -> str:
    """A sample input of ``task`` as text (what the page's token box starts with)."""
    tokens = torch.randint(task.vocab_size, (task.length,), generator=torch.Generator().manual_seed(seed))
    return " ".join(str(t) for t in tokens.tolist())


def token_attribution(model: TinyTransformer, tokens: torch.Tensor, position: int, steps: int = 32) -> np.ndarray:
    """Captum's Integrated Gradients of the predicted class at ``position`` w.r.t. each input token's embedding
    e_t (baseline: e = 0, the positional encoding kept), summed over the features: one signed score per token."""
    if not 0 <= position < tokens.shape[1]:
        raise ValueError(f"position must be between 0 and {tokens.shape[1] - 1}, got {position}")
    model.eval()
    embeddings = model.embed(tokens.to(next(model.parameters()).device)).detach()  # (1, T, d)

    def logits_at(e: torch.Tensor) -> torch.Tensor:
        return model.from_embeddings(e).logits[:, position]  # (B, classes)

    target = int(logits_at(embeddings).argmax(-1))
    attribution = IntegratedGradients(logits_at).attribute(
        embeddings, baselines=torch.zeros_like(embeddings), target=target, n_steps=steps
    )
    return attribution[0].sum(-1).detach().cpu().numpy()
