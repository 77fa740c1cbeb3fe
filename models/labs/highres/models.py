"""One model family for the five answers to attention's O(N^2): a shared token embedding (e + p, p a learned
absolute position per cell), ``depth`` blocks of one mechanism, and a shared head (LayerNorm, linear) per token.

- ``window``: W-MSA only (Swin's eq. 2 without the shift): a token reads its own M x M window, forever.
- ``shifted``: W-MSA and SW-MSA alternating (Swin, layers l and l+1 of the slide): the reach grows with depth.
- ``glam``: GLAM blocks, G global tokens per window and G-MSA among them: every token reaches every other
  one indirectly from the second block on.
- ``full``: plain MSA over all h w tokens (the pre-norm encoder block): Omega = 4hwC^2 + 2(hw)^2 C.
- ``deformable``: CoTr's deformable attention, K sampled points per head around each token.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from models.blocks.attention import AttentionTrace, check_heads
from models.blocks.deformable import DeformableBlock, DeformableBlockTrace, check_sampling
from models.blocks.global_tokens import Glam, GlamBlockTrace, check_global_tokens
from models.blocks.transformer import EncoderBlock, LayerNorm
from models.blocks.windows import SwinBlockTrace, SwinStage, check_map, check_window
from models.data.long_range import N_CLASSES, VOCAB_SIZE

MECHANISMS = ("window", "shifted", "glam", "full", "deformable")
WINDOWED = ("window", "shifted", "glam")
LABELS = {
    "window": "W-MSA",
    "shifted": "W-MSA + SW-MSA",
    "glam": "GLAM",
    "full": "full MSA",
    "deformable": "deformable",
}
MIN_MAP, MAX_MAP = 4, 64
MAP_CHOICES = (8, 12, 16, 24, 32)  # the page's map sides (tokens) and window sizes M
WINDOW_CHOICES = (2, 3, 4, 6, 8)
MAX_LAB_DEPTH = 12


def _check_int(name: str, value: int, lower: int, upper: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lower <= value <= upper:
        raise ValueError(f"{name} must be an integer between {lower} and {upper}, got {value!r}")


@dataclass(frozen=True)
class HighResConfig:
    """The model: its mechanism, square map of ``map_size`` tokens a side, depth, window size M, global tokens G
    (GLAM), sampled points K and levels (deformable), and widths. Checked when made, with the blocks' messages."""

    mechanism: str = "shifted"
    map_size: int = 16
    depth: int = 2
    window_size: int = 4
    n_global: int = 1
    n_points: int = 4
    n_levels: int = 1
    d_model: int = 32
    n_heads: int = 2
    d_ff: int = 64

    def __post_init__(self):
        if self.mechanism not in MECHANISMS:
            raise ValueError(f"mechanism must be one of {MECHANISMS}, got {self.mechanism!r}")
        _check_int("map size", self.map_size, MIN_MAP, MAX_MAP)
        _check_int("depth", self.depth, 1, MAX_LAB_DEPTH)
        check_heads(self.d_model, self.n_heads)
        _check_int("feed-forward width", self.d_ff, 1, 16 * self.d_model)
        if self.mechanism in WINDOWED:
            check_window(self.map_size, self.map_size, self.window_size)
        if self.mechanism in ("shifted", "glam") and self.window_size < 2:
            raise ValueError("shifted windows need a window size of at least 2 (the shift is M // 2)")
        if self.mechanism == "glam":
            check_global_tokens(self.n_global)
        if self.mechanism == "deformable":
            check_sampling(self.n_levels, self.n_points)
            if self.n_levels == 2 and self.map_size % 2:
                raise ValueError(f"a second level halves the map: it needs an even map size, got {self.map_size}")

    @property
    def n_tokens(self) -> int:
        return self.map_size**2


@dataclass
class FullBlockTrace:
    """A full-attention block on a map: ``output`` (B, H, W, C) and its attention, weights (B, heads, hw, hw)."""

    output: torch.Tensor
    attention: AttentionTrace


class FullAttentionBlock(nn.Module):
    """The pre-norm encoder block on the flattened map: x = x + MHA(LN(x)); x = x + FFN(LN(x)) over all h w
    tokens."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        self.block = EncoderBlock(d_model, n_heads, d_ff, norm_first=True)

    def trace(self, x: torch.Tensor) -> FullBlockTrace:
        batch, height, width = check_map(x, self.block.attention.d_model)
        out, attended = self.block.trace(x.reshape(batch, height * width, -1))  # (B, hw, C)
        return FullBlockTrace(output=out.view_as(x), attention=attended)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x).output


BlockTrace = SwinBlockTrace | GlamBlockTrace | FullBlockTrace | DeformableBlockTrace


@dataclass
class HighResTrace:
    """What the model computed: ``output`` logits (B, H, W, classes); ``hidden_states`` the embedded map, then
    each block's output, (B, H, W, C) each; ``blocks`` each block's trace (its attention weights, masks,
    global-token attention or sampling points); ``global_tokens`` GLAM's (B, nW, G, C) at the end, else None."""

    output: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...]
    blocks: tuple[BlockTrace, ...]
    global_tokens: torch.Tensor | None = None


def _body(config: HighResConfig) -> nn.Module:
    c = config
    if c.mechanism in ("window", "shifted"):
        return SwinStage(c.depth, c.d_model, c.n_heads, c.window_size, c.mechanism == "shifted", c.d_ff)
    if c.mechanism == "glam":
        grid = (c.map_size, c.map_size)
        return Glam(c.depth, c.d_model, c.n_heads, c.window_size, c.n_global, grid, shifted_windows=True, d_ff=c.d_ff)
    if c.mechanism == "full":
        return nn.ModuleList(FullAttentionBlock(c.d_model, c.n_heads, c.d_ff) for _ in range(c.depth))
    return nn.ModuleList(DeformableBlock(c.d_model, c.n_heads, c.n_points, c.n_levels, c.d_ff) for _ in range(c.depth))


class HighResModel(nn.Module):
    """Tokens (B, H, W) -> e + p -> ``depth`` blocks of ``config.mechanism`` -> LN -> linear: logits
    (B, H, W, classes)."""

    def __init__(
        self, config: HighResConfig = HighResConfig(), vocab_size: int = VOCAB_SIZE, n_classes: int = N_CLASSES
    ):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(vocab_size, config.d_model)  # e
        self.position = nn.Parameter(torch.zeros(config.map_size, config.map_size, config.d_model))  # p
        nn.init.trunc_normal_(self.position, std=0.02)
        self.body = _body(config)
        self.norm = LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, n_classes)

    def settings(self) -> dict:
        """Plain values that rebuild the model (what a checkpoint stores)."""
        return {
            "config": asdict(self.config),
            "vocab_size": self.embed.num_embeddings,
            "n_classes": self.head.out_features,
        }

    def embed_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """e + p: ``(B, H, W)`` token ids -> ``(B, H, W, C)``, or a clear message for a map of the wrong size."""
        size = self.config.map_size
        if tokens.dim() != 3 or tokens.shape[1:] != (size, size):
            raise ValueError(
                f"this model takes {size}x{size} token maps (batch, {size}, {size}), got {tuple(tokens.shape)}"
            )
        return self.embed(tokens) + self.position

    def _blocks(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[BlockTrace], torch.Tensor | None]:
        if isinstance(self.body, (SwinStage, Glam)):
            traced = self.body.trace(x)
            return list(traced.hidden_states), list(traced.blocks), getattr(traced, "global_tokens", None)
        hidden_states, blocks = [x], []
        for block in self.body:
            blocks.append(block.trace(hidden_states[-1]))
            hidden_states.append(blocks[-1].output)
        return hidden_states, blocks, None

    def trace_embeddings(self, x: torch.Tensor) -> HighResTrace:
        """The model from the embedded map ``x`` (B, H, W, C) on (what a reach map differentiates)."""
        hidden_states, blocks, global_tokens = self._blocks(x)
        logits = self.head(self.norm(hidden_states[-1]))  # (B, H, W, classes)
        return HighResTrace(logits, tuple(hidden_states), tuple(blocks), global_tokens)

    def trace(self, tokens: torch.Tensor) -> HighResTrace:
        return self.trace_embeddings(self.embed_tokens(tokens))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.trace(tokens).output


def model_from_settings(settings: dict) -> HighResModel:
    """The model that :meth:`HighResModel.settings` describes (fresh weights)."""
    return HighResModel(HighResConfig(**settings["config"]), settings["vocab_size"], settings["n_classes"])
