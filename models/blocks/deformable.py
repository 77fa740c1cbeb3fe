"""Deformable attention as CoTr uses it (Xie et al. 2021, after Deformable DETR, Zhu et al. 2021), in 2D:

    out(z_q) = W_o concat_h [ sum_l sum_k A_hlqk W_v f_l(p_q + delta p_hlqk) ]

Each query z_q has a reference point p_q; a linear layer on z_q predicts K offsets delta p per head and level,
another the weights A, a softmax over the L * K sampled points. f_l is sampled bilinearly at the shifted points,
so a query costs H L K samples instead of N keys: linear in the number of tokens. There is no Q K^T here.

Locations are normalised (x, y) in [0, 1]; offsets are in tokens of their level. Sampling uses
``grid_sample(align_corners=False)``: the normalised point ((j + 0.5) / W, (i + 0.5) / H) is the centre of
token (i, j), so a reference point at a token centre plus an integer offset lands exactly on a token; points
outside the map read zeros (``padding_mode="zeros"``), as in Deformable DETR's PyTorch version.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks.attention import check_heads
from models.blocks.transformer import FeedForward, LayerNorm
from models.blocks.windows import check_map

MAX_POINTS = 32
MAX_LEVELS = 2


def check_sampling(n_levels: int, n_points: int) -> None:
    """Clear messages for a level count other than 1 or 2 and for K outside 1..MAX_POINTS."""
    if isinstance(n_levels, bool) or not isinstance(n_levels, int) or not 1 <= n_levels <= MAX_LEVELS:
        raise ValueError(f"deformable attention here takes one or two feature levels, got {n_levels!r}")
    if isinstance(n_points, bool) or not isinstance(n_points, int) or not 1 <= n_points <= MAX_POINTS:
        raise ValueError(
            f"each query samples between 1 and {MAX_POINTS} points (K) per head and level, got {n_points!r}"
        )


def reference_points(height: int, width: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The centre of every token of an H x W map, row by row, as normalised (x, y): ``(H*W, 2)``."""
    ys, xs = torch.meshgrid(
        (torch.arange(height, device=device) + 0.5) / height,
        (torch.arange(width, device=device) + 0.5) / width,
        indexing="ij",
    )
    return torch.stack([xs, ys], dim=-1).reshape(height * width, 2)


def bilinear_sample(values: Sequence[torch.Tensor], locations: torch.Tensor) -> torch.Tensor:
    """f_l(p) for every query, head, level and point: ``values[l]`` is ``(B, heads, d_head, H_l, W_l)``,
    ``locations`` ``(B, N_q, heads, L, K, 2)`` normalised (x, y); returns ``(B, N_q, heads, L, K, d_head)``."""
    batch, n_queries, heads, _, points, _ = locations.shape
    sampled = []
    for level, value in enumerate(values):
        grid = 2 * locations[:, :, :, level] - 1  # (B, N_q, heads, K, 2) in grid_sample's [-1, 1]
        grid = grid.permute(0, 2, 1, 3, 4).reshape(batch * heads, n_queries, points, 2)
        out = F.grid_sample(
            value.flatten(0, 1), grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )  # (B * heads, d_head, N_q, K)
        sampled.append(out.view(batch, heads, -1, n_queries, points).permute(0, 3, 1, 4, 2))  # (B, N_q, h, K, d)
    return torch.stack(sampled, dim=3)


def deformable_attention_cost(
    n_queries: int, n_values: int, channels: int, n_heads: int, n_levels: int, n_points: int
) -> int:
    """Multiply-adds counted like Swin's: N_v C^2 (W_v) + N_q C^2 (W_o) + 3 N_q C H L K (offsets and weights)
    + 5 N_q L K C (four bilinear corners and the weight per sampled value): linear in the number of tokens."""
    samples = n_heads * n_levels * n_points
    return (
        n_values * channels**2
        + n_queries * channels**2
        + 3 * n_queries * channels * samples
        + (5 * n_queries * n_levels * n_points * channels)
    )


@dataclass
class DeformableAttentionTrace:
    """``output`` (B, N_q, C); ``sampling_locations`` (B, N_q, heads, L, K, 2) normalised (x, y);
    ``attention_weights`` A (B, N_q, heads, L, K), summing to 1 over L and K; ``sampled`` the values read there,
    W_v f_l(p), (B, N_q, heads, L, K, d_head)."""

    output: torch.Tensor
    sampling_locations: torch.Tensor
    attention_weights: torch.Tensor
    sampled: torch.Tensor


class DeformableAttention(nn.Module):
    """Multi-head, one- or two-level deformable attention with K points per head and level.

    Initialised as in Deformable DETR and CoTr: the offsets start along a direction set by each head's angle,
    scaled by k + 1, and the weight layer starts at zero (uniform weights).
    """

    def __init__(self, d_model: int, n_heads: int, n_levels: int = 1, n_points: int = 4):
        super().__init__()
        check_heads(d_model, n_heads)
        check_sampling(n_levels, n_points)
        self.d_model, self.n_heads, self.n_levels, self.n_points = d_model, n_heads, n_levels, n_points
        self.value_proj = nn.Linear(d_model, d_model)  # W_v
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)  # delta p
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)  # A before the softmax
        self.output_proj = nn.Linear(d_model, d_model)  # W_o
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        angles = torch.arange(self.n_heads, dtype=torch.float32) * (2 * math.pi / self.n_heads)
        directions = torch.stack([angles.cos(), angles.sin()], dim=-1)  # (heads, 2)
        directions = directions / directions.abs().max(dim=-1, keepdim=True).values
        scale = torch.arange(1, self.n_points + 1, dtype=torch.float32)[None, None, :, None]
        offsets = directions[:, None, None, :] * scale  # (heads, 1, K, 2)
        with torch.no_grad():
            nn.init.zeros_(self.sampling_offsets.weight)
            self.sampling_offsets.bias.copy_(offsets.expand(-1, self.n_levels, -1, -1).reshape(-1))
            nn.init.zeros_(self.attention_weights.weight)
            nn.init.zeros_(self.attention_weights.bias)
            for layer in (self.value_proj, self.output_proj):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def _values(self, value_maps: Sequence[torch.Tensor], batch: int) -> list[torch.Tensor]:
        """W_v f_l per level, split into heads: each ``(B, heads, d_head, H_l, W_l)``."""
        if len(value_maps) != self.n_levels:
            raise ValueError(f"this attention reads {self.n_levels} feature level(s), got {len(value_maps)}")
        values = []
        for value_map in value_maps:
            if check_map(value_map, self.d_model)[0] != batch:
                raise ValueError(f"value maps need the queries' batch size {batch}, got {value_map.shape[0]}")
            value = self.value_proj(value_map)  # (B, H_l, W_l, C)
            values.append(value.view(*value.shape[:3], self.n_heads, -1).permute(0, 3, 4, 1, 2))
        return values

    def trace(
        self, query: torch.Tensor, reference: torch.Tensor, value_maps: Sequence[torch.Tensor]
    ) -> DeformableAttentionTrace:
        """Queries ``(B, N_q, C)``, their reference points ``(N_q, 2)`` or ``(B, N_q, 2)`` normalised (x, y),
        and one ``(B, H_l, W_l, C)`` map per level."""
        if query.dim() != 3 or query.shape[-1] != self.d_model:
            raise ValueError(f"expected queries (batch, tokens, {self.d_model}), got {tuple(query.shape)}")
        batch, n_queries, _ = query.shape
        if reference.shape[-2:] != (n_queries, 2):
            raise ValueError(f"expected reference points ({n_queries}, 2) as (x, y), got {tuple(reference.shape)}")
        values = self._values(value_maps, batch)
        shape = (batch, n_queries, self.n_heads, self.n_levels, self.n_points)
        sizes = torch.tensor([[v.shape[-1], v.shape[-2]] for v in values], dtype=query.dtype, device=query.device)
        offsets = self.sampling_offsets(query).view(*shape, 2) / sizes[:, None, :]  # tokens -> normalised, per level
        locations = reference.expand(batch, -1, -1)[:, :, None, None, None, :] + offsets  # (B, N_q, h, L, K, 2)
        weights = self.attention_weights(query).view(*shape[:3], -1).softmax(dim=-1).view(shape)  # over L * K
        sampled = bilinear_sample(values, locations)  # (B, N_q, h, L, K, d_head)
        heads = (weights[..., None] * sampled).sum(dim=(3, 4))  # (B, N_q, h, d_head)
        return DeformableAttentionTrace(
            output=self.output_proj(heads.reshape(batch, n_queries, self.d_model)),
            sampling_locations=locations,
            attention_weights=weights,
            sampled=sampled,
        )

    def forward(self, query: torch.Tensor, reference: torch.Tensor, value_maps: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.trace(query, reference, value_maps).output


@dataclass
class DeformableBlockTrace:
    """A deformable block's ``output`` (B, H, W, C) and its attention's trace (queries row by row)."""

    output: torch.Tensor
    attention: DeformableAttentionTrace


class DeformableBlock(nn.Module):
    """Deformable self-attention on a token map, pre-norm: x = x + DA(LN(x)); x = x + FFN(LN(x)). Each token
    queries from its own centre; level 1 is the map, level 2 (``n_levels=2``) its 2x2 average pooling, standing
    in for CoTr's coarser CNN feature map."""

    def __init__(self, d_model: int, n_heads: int, n_points: int = 4, n_levels: int = 1, d_ff: int | None = None):
        super().__init__()
        self.d_model = d_model
        self.norm1 = LayerNorm(d_model)
        self.attention = DeformableAttention(d_model, n_heads, n_levels, n_points)
        self.norm2 = LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff or 4 * d_model)

    def _levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.attention.n_levels == 1:
            return [x]
        if x.shape[1] % 2 or x.shape[2] % 2:
            raise ValueError(f"a second level halves the map: it needs an even size, got {x.shape[1]}x{x.shape[2]}")
        coarse = F.avg_pool2d(x.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)  # (B, H/2, W/2, C)
        return [x, coarse]

    def trace(self, x: torch.Tensor) -> DeformableBlockTrace:
        batch, height, width = check_map(x, self.d_model)
        normed = self.norm1(x)
        attended = self.attention.trace(
            normed.reshape(batch, height * width, self.d_model),
            reference_points(height, width, x.device).to(x.dtype),
            self._levels(normed),
        )
        x = x + attended.output.view_as(x)
        return DeformableBlockTrace(output=x + self.ffn(self.norm2(x)), attention=attended)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x).output
