"""The crop memory against references built here: the cells a crop covers and the visited mask from rectangle
overlaps; a crop's output depends on an earlier crop's input only through the memory (by gradients), through a
shared cell without the memory's own attention and through any cell with it; unvisited cells are never read."""

from __future__ import annotations

import pytest
import torch

from models.blocks.memory import CropMemory, MemoryState
from models.core.device import default_device

DEVICE = default_device()


def overlapping_cells(top, left, crop, cell, grid) -> list[int]:
    """Cells whose rectangle meets the crop's, by brute force over the grid."""
    return [
        r * grid[1] + c
        for r in range(grid[0])
        for c in range(grid[1])
        if top < (r + 1) * cell[0]
        and r * cell[0] < top + crop[0]
        and left < (c + 1) * cell[1]
        and c * cell[1] < left + crop[1]
    ]


def dependence(output: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Which tokens of ``image`` (B, H, W, C) ``output`` depends on: ``(H, W)`` boolean."""
    (grad,) = torch.autograd.grad(output.sum(), image, retain_graph=True, allow_unused=True)
    return torch.zeros(image.shape[1:3], dtype=torch.bool) if grad is None else grad.abs().sum(dim=(0, 3)).cpu() > 0


def region(top: int, left: int, size: int, shape=(16, 16)) -> torch.Tensor:
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[top : top + size, left : left + size] = True
    return mask


def test_a_crop_covers_the_cells_its_rectangle_overlaps():
    memory = CropMemory(8, 2, (16, 16), (4, 4), (6, 5))
    for top in range(11):
        for left in range(12):
            assert memory.cells(top, left) == overlapping_cells(top, left, (6, 5), (4, 4), (4, 4))


def test_the_visited_mask_is_the_union_of_the_cells_the_crops_touched():
    memory = CropMemory(8, 2, (16, 24), (4, 3), (6, 5)).to(DEVICE)
    image = torch.randn(2, 16, 24, 8, device=DEVICE)
    positions = [(0, 0), (5, 9), (10, 19)]
    with torch.no_grad():
        steps = memory.walk(image, positions)
    touched = set()
    for step, (top, left) in zip(steps, positions, strict=True):
        cells = overlapping_cells(top, left, (6, 5), (4, 8), (4, 3))
        touched.update(cells)
        assert step.cells.tolist() == cells
        expected = torch.zeros(12, dtype=torch.bool)
        expected[sorted(touched)] = True
        assert torch.equal(step.memory.visited.cpu(), expected.view(4, 3))
        unvisited = ~step.memory.visited.flatten()
        assert (step.memory_attention.weights[..., unvisited] == 0).all()  # nobody reads an unvisited cell


def test_a_later_crop_reads_an_earlier_one_only_through_the_memory():
    torch.manual_seed(2)
    image = torch.randn(1, 16, 16, 8, device=DEVICE, requires_grad=True)
    mixing = CropMemory(8, 2, (16, 16), (2, 2), (4, 4)).to(DEVICE)  # cells of 8x8
    first, second, third = mixing.walk(image, [(0, 0), (4, 4), (12, 12)])
    assert torch.equal(dependence(first.output, image), region(0, 0, 4))
    assert torch.equal(dependence(third.output, image), region(0, 0, 4) | region(4, 4, 4) | region(12, 12, 4))
    cut = MemoryState(tokens=second.memory.tokens.detach(), visited=second.memory.visited)
    alone = mixing.trace(image[:, 12:, 12:], 12, 12, cut)
    torch.testing.assert_close(alone.output, third.output)
    assert torch.equal(dependence(alone.output, image), region(12, 12, 4))  # no path but the memory

    local = CropMemory(8, 2, (16, 16), (2, 2), (4, 4), mix_memory=False).to(DEVICE)
    first, second, third = local.walk(image, [(0, 0), (4, 4), (12, 12)])
    assert torch.equal(dependence(second.output, image), region(0, 0, 4) | region(4, 4, 4))  # they share cell 0
    assert torch.equal(dependence(third.output, image), region(12, 12, 4))  # cell 3 holds nothing of them


def test_the_memory_mixes_only_from_visited_cells():
    memory = CropMemory(8, 2, (16, 16), (4, 4), (4, 4)).to(DEVICE)
    tokens = torch.randn(1, 4, 4, 8, device=DEVICE, requires_grad=True)
    state = MemoryState(tokens=tokens, visited=torch.zeros(4, 4, dtype=torch.bool, device=DEVICE))
    after = memory.trace(torch.randn(1, 4, 4, 8, device=DEVICE), 0, 0, state).memory
    (grad,) = torch.autograd.grad(after.tokens[0, 1, 1].sum(), tokens)
    read = grad.abs().sum(dim=(0, 3)).cpu() > 0
    expected = torch.zeros(4, 4, dtype=torch.bool)
    expected[0, 0] = expected[1, 1] = True  # the visited cell, and the cell itself (query and residual)
    assert torch.equal(read, expected)


@pytest.mark.parametrize(("image", "grid", "crop"), [(16, 4, 4), (32, 4, 8), (64, 8, 16), (24, 3, 10), (8, 1, 8)])
def test_shapes_and_traces(image, grid, crop):
    memory = CropMemory(8, 2, (image, image), (grid, grid), (crop, crop)).to(DEVICE)
    x = torch.randn(2, crop, crop, 8, device=DEVICE)
    with torch.no_grad():
        traced = memory.trace(x, image - crop, 0)
        assert torch.equal(traced.output, memory(x, image - crop, 0))
    n_cells = traced.cells.numel()
    assert traced.output.shape == x.shape and traced.memory.tokens.shape == (2, grid, grid, 8)
    assert traced.read_weights.shape == (2, 2, crop * crop, n_cells)
    assert traced.write_weights.shape == (2, 2, n_cells, crop * crop)
    assert traced.memory.visited.sum() == n_cells


def test_bad_settings_are_refused_with_clear_messages():
    with pytest.raises(ValueError, match="does not tile"):
        CropMemory(8, 2, (16, 16), (3, 3), (4, 4))
    with pytest.raises(ValueError, match="larger than the image"):
        CropMemory(8, 2, (16, 16), (4, 4), (20, 4))
    with pytest.raises(ValueError, match="at most 32"):
        CropMemory(8, 2, (128, 128), (64, 64), (4, 4))
    with pytest.raises(ValueError, match="two positive integers"):
        CropMemory(8, 2, (16, 16), (0, 4), (4, 4))
    memory = CropMemory(8, 2, (16, 16), (4, 4), (4, 4)).to(DEVICE)
    with pytest.raises(ValueError, match="crop left must be an integer between 0 and 12"):
        memory(torch.randn(1, 4, 4, 8, device=DEVICE), 0, 13)
    with pytest.raises(ValueError, match="expected a 4x4 crop"):
        memory(torch.randn(1, 5, 4, 8, device=DEVICE), 0, 0)
    with pytest.raises(ValueError, match="expected a 16x16 map"):
        memory.walk(torch.randn(1, 8, 8, 8, device=DEVICE), [(0, 0)])
