"""GLAM (Themyr et al. 2022): G learnable global tokens per window, placed in front of the window's M*M tokens
(like ViT's CLS token). Window attention runs over the G + M*M tokens; then G-MSA, plain multi-head attention
among the global tokens of all windows, lets every visual token reach every other one indirectly.

Follows the authors' code (themyrl/glam, ``swin_transformer_gtv8.py``): the relative bias and the shift mask
touch only the window-by-window block; the window tokens are layer-normed, the global tokens are not; G-MSA adds
a learned absolute position embedding and its output replaces the global tokens (no residual, no MLP); they go
to the next block's windows by index. So a window token reads other windows from the second block on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.blocks.attention import AttentionTrace, MultiHeadAttention
from models.blocks.transformer import FeedForward, LayerNorm
from models.blocks.windows import MAX_DEPTH, WindowAttention, WindowAttentionTrace, check_map, check_window

MAX_GLOBAL_TOKENS = 64


def check_global_tokens(n_global: int) -> None:
    """A clear message unless 1 <= G <= MAX_GLOBAL_TOKENS."""
    if isinstance(n_global, bool) or not isinstance(n_global, int) or not 1 <= n_global <= MAX_GLOBAL_TOKENS:
        raise ValueError(
            f"GLAM needs between 1 and {MAX_GLOBAL_TOKENS} global tokens per window (G), got {n_global!r}; "
            "G = 0 is plain window attention"
        )


def _window_count(grid: tuple[int, int], window_size: int) -> int:
    height, width = grid
    check_window(height, width, window_size)
    return (height // window_size) * (width // window_size)


def glam_cost(height: int, width: int, channels: int, window_size: int, n_global: int) -> int:
    """Swin's count on GLAM: nW (4 N C^2 + 2 N^2 C) for the windows of N = G + M^2 tokens, plus
    4 (nW G) C^2 + 2 (nW G)^2 C for G-MSA over the nW G global tokens; nW = hw / M^2."""
    n_windows, tokens = _window_count((height, width), window_size), n_global + window_size**2
    n_tokens = n_windows * n_global
    windows = n_windows * (4 * tokens * channels**2 + 2 * tokens**2 * channels)
    return windows + 4 * n_tokens * channels**2 + 2 * n_tokens**2 * channels


@dataclass
class GlamBlockTrace:
    """One GLAM block. ``output`` (B, H, W, C); ``global_tokens`` (B, nW, G, C) as they leave the block;
    ``window`` the window attention over G + M*M tokens (its ``prefix_output``: the global tokens before G-MSA);
    ``global_attention`` G-MSA's trace, weights (B, heads, nW G, nW G), or None when it is turned off."""

    output: torch.Tensor
    global_tokens: torch.Tensor
    window: WindowAttentionTrace
    global_attention: AttentionTrace | None


class GlamBlock(nn.Module):
    """x = x + (S)W-MSA([g; LN(x)]) per window; x = x + FFN(LN(x)); g = G-MSA(g + p) over all windows' g.

    ``grid`` is the (H, W) token map the block runs on (G-MSA's position embedding has one row per global
    token); ``global_attention=False`` leaves G-MSA out (each window keeps its own global tokens).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        window_size: int,
        n_global: int,
        grid: tuple[int, int],
        shifted: bool = False,
        d_ff: int | None = None,
        global_attention: bool = True,
    ):
        super().__init__()
        check_global_tokens(n_global)
        self.d_model, self.n_global, self.grid = d_model, n_global, tuple(grid)
        self.n_windows = _window_count(self.grid, window_size)
        self.norm1 = LayerNorm(d_model)
        self.window_attention = WindowAttention(d_model, n_heads, window_size, shifted)
        self.norm2 = LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff or 4 * d_model)
        self.global_attention = MultiHeadAttention(d_model, n_heads) if global_attention else None
        self.global_position = None
        if global_attention:
            self.global_position = nn.Parameter(torch.zeros(self.n_windows * n_global, d_model))  # p
            nn.init.trunc_normal_(self.global_position, std=0.02)

    def _global_tokens(self, tokens: torch.Tensor, batch: int) -> torch.Tensor:
        """(G, C) copied to every window, or (B, nW, G, C) as it is."""
        if tokens.shape == (self.n_global, self.d_model):
            return tokens.expand(batch, self.n_windows, -1, -1)
        if tokens.shape != (batch, self.n_windows, self.n_global, self.d_model):
            sizes = f"{self.n_global}, {self.d_model}"
            expected = f"({sizes}) or ({batch}, {self.n_windows}, {sizes})"
            raise ValueError(f"expected global tokens {expected}, got {tuple(tokens.shape)}")
        return tokens

    def trace(self, x: torch.Tensor, global_tokens: torch.Tensor) -> GlamBlockTrace:
        batch, height, width = check_map(x, self.d_model)
        if (height, width) != self.grid:
            raise ValueError(f"this GLAM block runs on a {self.grid[0]}x{self.grid[1]} map, got {height}x{width}")
        windowed = self.window_attention.trace(self.norm1(x), prefix=self._global_tokens(global_tokens, batch))
        x = x + windowed.output
        x = x + self.ffn(self.norm2(x))
        g = windowed.prefix_output  # (B, nW, G, C)
        if self.global_attention is None:
            return GlamBlockTrace(output=x, global_tokens=g, window=windowed, global_attention=None)
        mixed = self.global_attention.trace(g.reshape(batch, -1, g.shape[-1]) + self.global_position)  # (B, nW G, C)
        return GlamBlockTrace(output=x, global_tokens=mixed.output.view_as(g), window=windowed, global_attention=mixed)

    def forward(self, x: torch.Tensor, global_tokens: torch.Tensor) -> torch.Tensor:
        return self.trace(x, global_tokens).output


@dataclass
class GlamTrace:
    """A stack of GLAM blocks: ``output`` (B, H, W, C), ``global_tokens`` after the last block, ``hidden_states``
    (input, then each block's output) and the blocks' traces."""

    output: torch.Tensor
    global_tokens: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...]
    blocks: tuple[GlamBlockTrace, ...]


class Glam(nn.Module):
    """``depth`` GLAM blocks (W-MSA and SW-MSA alternating with ``shifted_windows``) sharing one set of G learned
    global tokens, Parameter(G, C), copied to every window at the first block."""

    def __init__(
        self,
        depth: int,
        d_model: int,
        n_heads: int,
        window_size: int,
        n_global: int,
        grid: tuple[int, int],
        shifted_windows: bool = True,
        global_attention: bool = True,
        d_ff: int | None = None,
    ):
        super().__init__()
        if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
            raise ValueError(f"depth must be between 1 and {MAX_DEPTH}, got {depth!r}")
        check_global_tokens(n_global)
        self.global_tokens = nn.Parameter(torch.randn(n_global, d_model))
        self.blocks = nn.ModuleList(
            GlamBlock(
                d_model, n_heads, window_size, n_global, grid, shifted_windows and i % 2 == 1, d_ff, global_attention
            )
            for i in range(depth)
        )

    def trace(self, x: torch.Tensor) -> GlamTrace:
        hidden_states, blocks, g = [x], [], self.global_tokens
        for block in self.blocks:
            traced = block.trace(hidden_states[-1], g)
            hidden_states.append(traced.output)
            blocks.append(traced)
            g = traced.global_tokens
        return GlamTrace(
            output=hidden_states[-1], global_tokens=g, hidden_states=tuple(hidden_states), blocks=tuple(blocks)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x).output
