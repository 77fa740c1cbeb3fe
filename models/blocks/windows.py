"""Swin's local attention (Liu et al. 2021): window partition, W-MSA and SW-MSA with the relative position
bias and the shift mask, patch merging, the Swin block, and the cost formulas the lecture compares.

Maps are ``(B, H, W, C)`` token grids. A window holds M x M tokens; SW-MSA rolls the map by s = M // 2 with
``torch.roll``, attends inside the windows of the rolled map with a -100 bias between tokens of different
regions (Swin's mask), and rolls back. Every attention goes through :class:`MultiHeadAttention`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks.attention import MultiHeadAttention, check_heads
from models.blocks.transformer import FeedForward, LayerNorm

SHIFT_MASK_VALUE = -100.0  # Swin's additive mask between tokens of different regions
MAX_WINDOW = 32
MAX_DEPTH = 24
BYTES_PER_FLOAT = 4


def _check_positive(name: str, value: int, upper: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if upper is not None and value > upper:
        raise ValueError(f"{name} must be at most {upper}, got {value}")


def check_window(height: int, width: int, window_size: int) -> None:
    """A clear message unless M x M windows tile the H x W map exactly."""
    _check_positive("window size", window_size, MAX_WINDOW)
    _check_positive("map height", height)
    _check_positive("map width", width)
    if height % window_size or width % window_size:
        sides = [m for m in range(1, min(height, width, MAX_WINDOW) + 1) if height % m == 0 and width % m == 0]
        raise ValueError(
            f"window size {window_size} does not tile a {height}x{width} map: it must divide both sides "
            f"(window sizes that fit: {', '.join(map(str, sides))})"
        )


def check_map(x: torch.Tensor, channels: int) -> tuple[int, int, int]:
    """(B, H, W) of a ``(B, H, W, C)`` token map, or a clear message."""
    if x.dim() != 4 or x.shape[-1] != channels:
        raise ValueError(f"expected a token map (batch, height, width, {channels}), got {tuple(x.shape)}")
    return x.shape[0], x.shape[1], x.shape[2]


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """Cut ``(B, H, W, C)`` into non-overlapping M x M windows, row by row: ``(B, nW, M*M, C)``."""
    batch, height, width, channels = x.shape
    check_window(height, width, window_size)
    m = window_size
    windows = x.reshape(batch, height // m, m, width // m, m, channels).permute(0, 1, 3, 2, 4, 5)  # (B, h, w, M, M, C)
    return windows.reshape(batch, (height // m) * (width // m), m * m, channels)


def window_reverse(windows: torch.Tensor, window_size: int, height: int, width: int) -> torch.Tensor:
    """The inverse of :func:`window_partition`: ``(B, nW, M*M, C)`` -> ``(B, H, W, C)``."""
    check_window(height, width, window_size)
    m = window_size
    batch, channels = windows.shape[0], windows.shape[-1]
    x = windows.reshape(batch, height // m, width // m, m, m, channels).permute(0, 1, 3, 2, 4, 5)  # (B, h, M, w, M, C)
    return x.reshape(batch, height, width, channels)


def relative_position_index(window_size: int) -> torch.Tensor:
    """Swin's index into the bias table for each pair (i, j) of a window: (dy + M - 1)(2M - 1) + (dx + M - 1),
    with (dy, dx) = position_i - position_j; ``(M*M, M*M)``."""
    _check_positive("window size", window_size, MAX_WINDOW)
    m = window_size
    coords = torch.stack(torch.meshgrid(torch.arange(m), torch.arange(m), indexing="ij")).flatten(1)  # (2, M*M)
    delta = coords[:, :, None] - coords[:, None, :] + (m - 1)  # (2, M*M, M*M), each in [0, 2M - 2]
    return delta[0] * (2 * m - 1) + delta[1]


class RelativePositionBias(nn.Module):
    """Swin's learned bias B: a table of (2M - 1)^2 x heads entries, read at each pair's relative offset."""

    def __init__(self, window_size: int, n_heads: int):
        super().__init__()
        self.table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, n_heads))
        nn.init.trunc_normal_(self.table, std=0.02)
        self.register_buffer("index", relative_position_index(window_size), persistent=False)

    def forward(self) -> torch.Tensor:
        return self.table[self.index].permute(2, 0, 1)  # (heads, M*M, M*M)


def effective_shift(height: int, width: int, window_size: int, shifted: bool) -> int:
    """s = M // 2 for SW-MSA; 0 for W-MSA, and 0 when one window spans a side of the map (as Swin does)."""
    if not shifted or min(height, width) <= window_size:
        return 0
    return window_size // 2


def shift_regions(height: int, width: int, window_size: int, shift: int) -> torch.Tensor:
    """Labels 0..8 of the nine regions of the map rolled by (-s, -s): on each axis the slices (0:-M), (-M:-s)
    and (-s:) of Swin's code; ``(H, W)`` long. One region (all 0) without a shift."""
    check_window(height, width, window_size)
    labels = torch.zeros(height, width, dtype=torch.long)
    if shift == 0:
        return labels
    cuts = (slice(0, -window_size), slice(-window_size, -shift), slice(-shift, None))
    for i, rows in enumerate(cuts):
        for j, cols in enumerate(cuts):
            labels[rows, cols] = 3 * i + j
    return labels


def shift_region_mask(height: int, width: int, window_size: int, shift: int) -> torch.Tensor:
    """True where two tokens of a window of the rolled map lie in the same region (may attend):
    ``(nW, M*M, M*M)`` boolean."""
    labels = shift_regions(height, width, window_size, shift)[None, :, :, None]  # (1, H, W, 1)
    windows = window_partition(labels, window_size)[0, :, :, 0]  # (nW, M*M)
    return windows[:, :, None] == windows[:, None, :]


def shift_attention_bias(height: int, width: int, window_size: int, shift: int) -> torch.Tensor:
    """Swin's SW-MSA mask as an additive bias: 0 inside a region, -100 across regions; ``(nW, M*M, M*M)``."""
    same = shift_region_mask(height, width, window_size, shift)
    return torch.zeros(same.shape).masked_fill(~same, SHIFT_MASK_VALUE)


@dataclass
class WindowAttentionTrace:
    """One W-MSA / SW-MSA layer. ``output`` (B, H, W, C); ``weights`` A per window (B, nW, heads, P + M*M,
    P + M*M) on the rolled map, P the prefix tokens per window (GLAM's global tokens, else 0);
    ``prefix_output`` (B, nW, P, C) or None; ``relative_bias`` (heads, M*M, M*M); ``shift_bias`` the -100
    mask (nW, M*M, M*M) or None; ``shift`` s."""

    output: torch.Tensor
    weights: torch.Tensor
    prefix_output: torch.Tensor | None
    relative_bias: torch.Tensor
    shift_bias: torch.Tensor | None
    shift: int


class WindowAttention(nn.Module):
    """W-MSA (``shifted=False``) or SW-MSA: softmax(Q K^T / sqrt(d) + B) V inside each M x M window, B the
    relative position bias (plus the -100 shift mask for SW-MSA). As in Swin, a map with a side of only one
    window is not shifted.

    Optional ``prefix`` tokens (B, nW, P, C) are placed in front of each window's tokens and attend both
    ways; the relative bias and the shift mask touch only the window-by-window block (GLAM's code).
    """

    def __init__(self, d_model: int, n_heads: int, window_size: int, shifted: bool = False):
        super().__init__()
        check_heads(d_model, n_heads)
        _check_positive("window size", window_size, MAX_WINDOW)
        if shifted and window_size < 2:
            raise ValueError("shifted windows need a window size of at least 2 (the shift is M // 2)")
        self.d_model, self.window_size, self.shifted = d_model, window_size, shifted
        self.attention = MultiHeadAttention(d_model, n_heads)
        self.relative_bias = RelativePositionBias(window_size, n_heads)

    def _windows(self, x: torch.Tensor, prefix: torch.Tensor | None, shift: int) -> torch.Tensor:
        """The rolled map's windows with the prefix tokens in front: ``(B, nW, P + M*M, C)``."""
        rolled = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2)) if shift else x
        windows = window_partition(rolled, self.window_size)  # (B, nW, T, C), T = M*M
        if prefix is None:
            return windows
        if prefix.dim() != 4 or prefix.shape[:2] != windows.shape[:2] or prefix.shape[-1] != self.d_model:
            expected = f"({windows.shape[0]}, {windows.shape[1]}, P, {self.d_model})"
            raise ValueError(f"expected prefix tokens {expected}, got {tuple(prefix.shape)}")
        return torch.cat([prefix, windows], dim=2)

    def trace(self, x: torch.Tensor, prefix: torch.Tensor | None = None) -> WindowAttentionTrace:
        batch, height, width = check_map(x, self.d_model)
        check_window(height, width, self.window_size)
        shift = effective_shift(height, width, self.window_size, self.shifted)
        windows = self._windows(x, prefix, shift)  # (B, nW, P + T, C)
        n_windows, length = windows.shape[1:3]
        n_prefix = length - self.window_size**2
        relative = self.relative_bias()  # (heads, T, T)
        shift_bias = shift_attention_bias(height, width, self.window_size, shift).to(x) if shift else None
        bias = relative if shift_bias is None else relative + shift_bias[:, None]  # (heads, T, T) or (nW, heads, T, T)
        bias = F.pad(bias, (n_prefix, 0, n_prefix, 0))  # zero on the prefix rows and columns
        if shift_bias is not None:
            bias = bias.repeat(batch, 1, 1, 1)  # (B * nW, heads, P + T, P + T)
        attended = self.attention.trace(windows.reshape(batch * n_windows, length, self.d_model), bias=bias)
        out = attended.output.view(batch, n_windows, length, self.d_model)
        y = window_reverse(out[:, :, n_prefix:], self.window_size, height, width)  # (B, H, W, C)
        return WindowAttentionTrace(
            output=torch.roll(y, shifts=(shift, shift), dims=(1, 2)) if shift else y,
            weights=attended.weights.view(batch, n_windows, *attended.weights.shape[1:]),
            prefix_output=None if prefix is None else out[:, :, :n_prefix],
            relative_bias=relative,
            shift_bias=shift_bias,
            shift=shift,
        )

    def forward(self, x: torch.Tensor, prefix: torch.Tensor | None = None) -> torch.Tensor:
        return self.trace(x, prefix).output


class PatchMerging(nn.Module):
    """Swin's downsampling: concatenate each 2x2 neighbourhood [x(0,0), x(1,0), x(0,1), x(1,1)] (4C), LayerNorm,
    linear to 2C; ``(B, H, W, C)`` -> ``(B, H/2, W/2, 2C)``."""

    def __init__(self, d_model: int):
        super().__init__()
        _check_positive("d_model", d_model)
        self.d_model = d_model
        self.norm = LayerNorm(4 * d_model)
        self.reduction = nn.Linear(4 * d_model, 2 * d_model, bias=False)

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """The 2x2 neighbours side by side, in Swin's order: ``(B, H/2, W/2, 4C)``."""
        _, height, width = check_map(x, self.d_model)
        if height % 2 or width % 2:
            raise ValueError(f"patch merging needs an even map size, got {height}x{width}")
        return torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduction(self.norm(self.gather(x)))


@dataclass
class SwinBlockTrace:
    """A Swin block's ``output`` (B, H, W, C) and its window attention's trace."""

    output: torch.Tensor
    attention: WindowAttentionTrace


class SwinBlock(nn.Module):
    """Pre-norm Swin block: x = x + (S)W-MSA(LN(x)); x = x + FFN(LN(x)). The FFN is the package's (ReLU);
    Swin's MLP uses GELU."""

    def __init__(self, d_model: int, n_heads: int, window_size: int, shifted: bool = False, d_ff: int | None = None):
        super().__init__()
        self.norm1 = LayerNorm(d_model)
        self.attention = WindowAttention(d_model, n_heads, window_size, shifted)
        self.norm2 = LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff or 4 * d_model)

    def trace(self, x: torch.Tensor) -> SwinBlockTrace:
        attended = self.attention.trace(self.norm1(x))
        x = x + attended.output
        return SwinBlockTrace(output=x + self.ffn(self.norm2(x)), attention=attended)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x).output


@dataclass
class SwinStageTrace:
    """A stack of Swin blocks: ``output``, ``hidden_states`` (input, then each block's output) and the blocks'
    traces."""

    output: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...]
    blocks: tuple[SwinBlockTrace, ...]


class SwinStage(nn.Module):
    """``depth`` Swin blocks; with ``shifted_windows`` they alternate W-MSA and SW-MSA (layers l, l+1 of the
    slide), else all are W-MSA."""

    def __init__(
        self,
        depth: int,
        d_model: int,
        n_heads: int,
        window_size: int,
        shifted_windows: bool = True,
        d_ff: int | None = None,
    ):
        super().__init__()
        _check_positive("depth", depth, MAX_DEPTH)
        self.blocks = nn.ModuleList(
            SwinBlock(d_model, n_heads, window_size, shifted_windows and i % 2 == 1, d_ff) for i in range(depth)
        )

    def trace(self, x: torch.Tensor) -> SwinStageTrace:
        hidden_states, blocks = [x], []
        for block in self.blocks:
            traced = block.trace(hidden_states[-1])
            hidden_states.append(traced.output)
            blocks.append(traced)
        return SwinStageTrace(output=hidden_states[-1], hidden_states=tuple(hidden_states), blocks=tuple(blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x).output


def msa_cost(height: int, width: int, channels: int) -> int:
    """Swin's Omega(MSA) = 4hwC^2 + 2(hw)^2 C multiply-adds for global attention over h x w tokens."""
    n = height * width
    return 4 * n * channels**2 + 2 * n**2 * channels


def window_msa_cost(height: int, width: int, channels: int, window_size: int) -> int:
    """Swin's Omega(W-MSA) = 4hwC^2 + 2M^2 hwC: linear in hw for a fixed window size M."""
    n = height * width
    return 4 * n * channels**2 + 2 * window_size**2 * n * channels


def attention_matrix_bytes(n_queries: int, n_keys: int, heads: int, batch: int = 1) -> int:
    """Bytes of float32 attention weights A, ``(B, heads, T_q, T_k)``."""
    return batch * heads * n_queries * n_keys * BYTES_PER_FLOAT


def check_attention_fits(n_tokens: int, heads: int, batch: int, budget_bytes: int) -> None:
    """Refuse full attention over ``n_tokens`` whose attention matrix alone would exceed ``budget_bytes``,
    with the estimate in the message."""
    needed = attention_matrix_bytes(n_tokens, n_tokens, heads, batch)
    if needed > budget_bytes:
        raise ValueError(
            f"full attention over {n_tokens:,} tokens needs {needed / 2**30:.2f} GiB for its attention matrix alone "
            f"({batch} x {heads} heads x {n_tokens:,}^2 x 4 bytes), "
            f"more than the {budget_bytes / 2**30:.2f} GiB allowed"
        )
