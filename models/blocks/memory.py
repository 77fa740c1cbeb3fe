"""A FINE-style memory (Themyr et al. 2022), simplified to 2D: a grid of memory ("volume") tokens covers a large
token map that is seen only crop by crop. Each crop reads and writes the memory cells it overlaps; the memory
then mixes, each cell reading the visited ones; the next crop reads what earlier crops wrote. So context crosses
crop borders, and every token can reach every other one indirectly, as the lecture says of FINE.

One crop step: z = [m_c ; x] (the crop's cells m_c in front of its tokens), a = MHA(LN(z)) (read and write in
one attention); x = x + a_x, x = x + FFN(LN(x)); m_c = m_c + a_m (FINE's vts += update); visited |= cells;
m = m + MHA(LN(m)) with keys restricted to visited cells (FINE puts -1000 on the others; here a boolean mask).

In FINE's code the volume tokens are learned parameters indexed by the crop's position, and the visited count
runs over training; here the memory is a state carried from crop to crop at run time, starting from a learned
initial grid, so that a crop's output visibly depends on the crops seen before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from models.blocks.attention import AttentionTrace, MultiHeadAttention
from models.blocks.transformer import FeedForward, LayerNorm
from models.blocks.windows import check_map

MAX_GRID = 32


def _pair(name: str, value: tuple[int, int], upper: int | None = None) -> tuple[int, int]:
    pair = tuple(value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in pair):
        raise ValueError(f"{name} must be two positive integers (height, width), got {value!r}")
    if upper is not None and max(pair) > upper:
        raise ValueError(f"{name} must be at most {upper} per side, got {pair}")
    return pair


def covered_cells(
    top: int, left: int, crop_size: tuple[int, int], cell_size: tuple[int, int], grid_width: int
) -> list[int]:
    """Flat indices (row * grid width + column) of the memory cells a crop at (top, left) overlaps."""
    rows = range(top // cell_size[0], (top + crop_size[0] - 1) // cell_size[0] + 1)
    cols = range(left // cell_size[1], (left + crop_size[1] - 1) // cell_size[1] + 1)
    return [r * grid_width + c for r in rows for c in cols]


@dataclass
class MemoryState:
    """The memory between crops: ``tokens`` (B, grid_h, grid_w, C) and ``visited`` (grid_h, grid_w), True for
    the cells some crop has read and written."""

    tokens: torch.Tensor
    visited: torch.Tensor


@dataclass
class CropMemoryTrace:
    """One crop step. ``output`` (B, h, w, C) the crop's tokens; ``memory`` the state after the step; ``cells``
    the flat indices of the cells the crop read and wrote; ``read_write`` the joint attention over [cells ; crop]
    (weights (B, heads, n_c + h w, n_c + h w)); ``memory_attention`` the memory's mixing, or None."""

    output: torch.Tensor
    memory: MemoryState
    cells: torch.Tensor
    read_write: AttentionTrace
    memory_attention: AttentionTrace | None

    @property
    def read_weights(self) -> torch.Tensor:
        """How much each crop token reads from each of its cells: ``(B, heads, h w, n_c)``."""
        n_cells = self.cells.numel()
        return self.read_write.weights[:, :, n_cells:, :n_cells]

    @property
    def write_weights(self) -> torch.Tensor:
        """How much each cell takes from each crop token: ``(B, heads, n_c, h w)``."""
        n_cells = self.cells.numel()
        return self.read_write.weights[:, :, :n_cells, n_cells:]


class CropMemory(nn.Module):
    """Crops of ``crop_size`` tokens anywhere on an ``image_size`` map, with a ``grid`` of memory cells tiling the
    map; ``mix_memory=False`` leaves out the memory's own attention (a cell then only holds its own crops)."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        image_size: tuple[int, int],
        grid: tuple[int, int],
        crop_size: tuple[int, int],
        d_ff: int | None = None,
        mix_memory: bool = True,
    ):
        super().__init__()
        self.image_size, self.grid = _pair("image size", image_size), _pair("memory grid", grid, MAX_GRID)
        self.crop_size = _pair("crop size", crop_size)
        if any(i % g for i, g in zip(self.image_size, self.grid, strict=True)):
            raise ValueError(f"a {self.grid[0]}x{self.grid[1]} memory grid does not tile a {image_size} map")
        if any(c > i for c, i in zip(self.crop_size, self.image_size, strict=True)):
            raise ValueError(f"crop size {self.crop_size} is larger than the image {self.image_size}")
        self.cell_size = (self.image_size[0] // self.grid[0], self.image_size[1] // self.grid[1])
        self.d_model = d_model
        self.memory_init = nn.Parameter(torch.randn(self.grid[0] * self.grid[1], d_model))
        self.norm1 = LayerNorm(d_model)
        self.read_write = MultiHeadAttention(d_model, n_heads)
        self.norm2 = LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff or 4 * d_model)
        self.memory_norm = LayerNorm(d_model) if mix_memory else None
        self.memory_attention = MultiHeadAttention(d_model, n_heads) if mix_memory else None

    def init_memory(self, batch: int) -> MemoryState:
        """The learned initial grid for ``batch`` images, no cell visited."""
        tokens = self.memory_init.view(*self.grid, self.d_model).expand(batch, -1, -1, -1)
        return MemoryState(tokens=tokens, visited=torch.zeros(self.grid, dtype=torch.bool, device=tokens.device))

    def cells(self, top: int, left: int) -> list[int]:
        """Flat indices of the cells a crop at (top, left) overlaps, or a clear message if it leaves the map."""
        for name, value, limit in (("top", top, 0), ("left", left, 1)):
            room = self.image_size[limit] - self.crop_size[limit]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= room:
                raise ValueError(f"crop {name} must be an integer between 0 and {room}, got {value!r}")
        return covered_cells(top, left, self.crop_size, self.cell_size, self.grid[1])

    def _mix(self, tokens: torch.Tensor, visited: torch.Tensor) -> tuple[torch.Tensor, AttentionTrace | None]:
        """m = m + MHA(LN(m)), every cell reading only visited cells; ``tokens`` (B, n_cells, C)."""
        if self.memory_attention is None:
            return tokens, None
        keys = visited.flatten()[None, :].expand(tokens.shape[1], -1)  # (n_cells, n_cells), True = may attend
        mixed = self.memory_attention.trace(self.memory_norm(tokens), mask=keys)
        return tokens + mixed.output, mixed

    def trace(self, crop: torch.Tensor, top: int, left: int, memory: MemoryState | None = None) -> CropMemoryTrace:
        batch, height, width = check_map(crop, self.d_model)
        if (height, width) != self.crop_size:
            raise ValueError(f"expected a {self.crop_size[0]}x{self.crop_size[1]} crop, got {height}x{width}")
        memory = self.init_memory(batch) if memory is None else memory
        cells = torch.tensor(self.cells(top, left), device=crop.device)
        tokens = memory.tokens.reshape(batch, -1, self.d_model)  # (B, n_cells, C)
        x = crop.reshape(batch, height * width, self.d_model)
        attended = self.read_write.trace(self.norm1(torch.cat([tokens[:, cells], x], dim=1)))  # over n_c + h w
        x = x + attended.output[:, cells.numel() :]
        x = x + self.ffn(self.norm2(x))
        tokens = tokens.index_add(1, cells, attended.output[:, : cells.numel()])  # write: m_c += a_m
        visited = memory.visited.flatten().index_fill(0, cells, True).view(self.grid)
        tokens, mixed = self._mix(tokens, visited)
        return CropMemoryTrace(
            output=x.view_as(crop),
            memory=MemoryState(tokens=tokens.view(batch, *self.grid, self.d_model), visited=visited),
            cells=cells,
            read_write=attended,
            memory_attention=mixed,
        )

    def forward(self, crop: torch.Tensor, top: int, left: int, memory: MemoryState | None = None) -> torch.Tensor:
        return self.trace(crop, top, left, memory).output

    def walk(
        self, image: torch.Tensor, positions: Sequence[tuple[int, int]], memory: MemoryState | None = None
    ) -> tuple[CropMemoryTrace, ...]:
        """Cut crops at ``positions`` (top, left) from an ``image_size`` token map (B, H, W, C) and run them in
        order, each reading the memory the previous ones left."""
        _, height, width = check_map(image, self.d_model)
        if (height, width) != self.image_size:
            raise ValueError(f"expected a {self.image_size[0]}x{self.image_size[1]} map, got {height}x{width}")
        steps = []
        for top, left in positions:
            self.cells(top, left)  # a clear message before slicing
            crop = image[:, top : top + self.crop_size[0], left : left + self.crop_size[1]]
            steps.append(self.trace(crop, top, left, memory))
            memory = steps[-1].memory
        return tuple(steps)
