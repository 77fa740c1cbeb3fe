"""Deformable attention against references built here: integer offsets from token centres read the token there,
fractional ones a hand-written bilinear interpolation with zeros outside the map, all the weight on one point
returns that point's value through W_v and W_o, and the cost grows linearly with the number of tokens."""

from __future__ import annotations

import math

import pytest
import torch

from models.blocks.deformable import (
    DeformableAttention,
    DeformableBlock,
    deformable_attention_cost,
    reference_points,
)
from models.core.device import default_device

DEVICE = default_device()


def token_centres(height: int, width: int) -> torch.Tensor:
    return torch.tensor([[(j + 0.5) / width, (i + 0.5) / height] for i in range(height) for j in range(width)])


def with_integer_offsets(attention: DeformableAttention, low: int = -3, high: int = 3) -> torch.Tensor:
    """Offsets that are the same integers (dx, dy) for every query: ``(heads, L, K, 2)``."""
    offsets = torch.randint(low, high + 1, (attention.n_heads, attention.n_levels, attention.n_points, 2))
    with torch.no_grad():
        attention.sampling_offsets.weight.zero_()
        attention.sampling_offsets.bias.copy_(offsets.flatten().float())
    return offsets


def read(values: torch.Tensor, row: int, col: int, head: int, d_head: int) -> torch.Tensor:
    """Head ``head``'s slice of token (row, col) of ``values`` (B, H, W, C), zero outside the map."""
    height, width = values.shape[1:3]
    if not (0 <= row < height and 0 <= col < width):
        return torch.zeros(values.shape[0], d_head, device=values.device)
    return values[:, row, col, head * d_head : (head + 1) * d_head]


def bilinear(values: torch.Tensor, x: float, y: float, head: int, d_head: int) -> torch.Tensor:
    """Bilinear interpolation at normalised (x, y), token (i, j) centred at ((j + 0.5) / W, (i + 0.5) / H)."""
    height, width = values.shape[1:3]
    px, py = x * width - 0.5, y * height - 0.5
    x0, y0 = math.floor(px), math.floor(py)
    fx, fy = px - x0, py - y0
    corners = [(y0, x0, (1 - fy) * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx), (y0 + 1, x0, fy * (1 - fx))]
    corners.append((y0 + 1, x0 + 1, fy * fx))
    return sum(w * read(values, r, c, head, d_head) for r, c, w in corners)


def test_reference_points_are_token_centres_row_by_row():
    torch.testing.assert_close(reference_points(3, 5), token_centres(3, 5))


@pytest.mark.parametrize(("height", "width"), [(6, 8), (8, 8), (5, 7)])
def test_integer_offsets_from_token_centres_read_the_token_there(height, width):
    attention = DeformableAttention(8, 2, n_levels=1, n_points=3).to(DEVICE)
    offsets = with_integer_offsets(attention)
    x = torch.randn(2, height, width, 8, device=DEVICE)
    with torch.no_grad():
        traced = attention.trace(x.reshape(2, -1, 8), reference_points(height, width, DEVICE), [x])
        values = attention.value_proj(x)
    expected = torch.zeros_like(traced.sampled)
    for q in range(height * width):
        i, j = divmod(q, width)
        for h in range(2):
            for k in range(3):
                dx, dy = offsets[h, 0, k].tolist()
                expected[:, q, h, 0, k] = read(values, i + dy, j + dx, h, 4)
    torch.testing.assert_close(traced.sampled, expected, atol=1e-5, rtol=1e-5)


def test_fractional_points_on_two_levels_are_bilinear_with_zeros_outside():
    torch.manual_seed(3)
    attention = DeformableAttention(8, 2, n_levels=2, n_points=2).to(DEVICE)
    with torch.no_grad():
        attention.sampling_offsets.weight.normal_(std=1.0)  # offsets that differ by query, some off the map
    fine, coarse = torch.randn(1, 6, 8, 8, device=DEVICE), torch.randn(1, 3, 4, 8, device=DEVICE)
    query = fine.reshape(1, -1, 8)
    reference = token_centres(6, 8).to(DEVICE)
    with torch.no_grad():
        traced = attention.trace(query, reference, [fine, coarse])
        raw = attention.sampling_offsets(query).view(1, 48, 2, 2, 2, 2)  # (B, N_q, h, L, K, (dx, dy)) in tokens
        sizes = torch.tensor([[8.0, 6.0], [4.0, 3.0]], device=DEVICE)
        torch.testing.assert_close(
            traced.sampling_locations, reference[None, :, None, None, None] + raw / sizes[:, None]
        )
        level_values = [attention.value_proj(fine), attention.value_proj(coarse)]
    for q in range(0, 48, 5):
        for h in range(2):
            for level in range(2):
                for k in range(2):
                    x, y = traced.sampling_locations[0, q, h, level, k].tolist()
                    expected = bilinear(level_values[level], x, y, h, 4)
                    torch.testing.assert_close(traced.sampled[:, q, h, level, k], expected, atol=1e-5, rtol=1e-4)


def test_all_the_weight_on_one_point_returns_that_points_value_through_w_v_and_w_o():
    attention = DeformableAttention(8, 2, n_levels=1, n_points=4).to(DEVICE)
    offsets = with_integer_offsets(attention, -2, 2)
    chosen = [3, 1]  # the point each head keeps
    with torch.no_grad():
        attention.attention_weights.bias.fill_(-1e4)
        for h, k in enumerate(chosen):
            attention.attention_weights.bias[h * 4 + k] = 0.0
    x = torch.randn(2, 5, 6, 8, device=DEVICE)
    with torch.no_grad():
        traced = attention.trace(x.reshape(2, -1, 8), reference_points(5, 6, DEVICE), [x])
        values = attention.value_proj(x)
        heads = torch.zeros(2, 30, 8, device=DEVICE)
        for q in range(30):
            i, j = divmod(q, 6)
            for h, k in enumerate(chosen):
                dx, dy = offsets[h, 0, k].tolist()
                heads[:, q, h * 4 : (h + 1) * 4] = read(values, i + dy, j + dx, h, 4)
        expected = attention.output_proj(heads)
    assert traced.attention_weights[0, 0, :, 0].argmax(-1).tolist() == chosen
    torch.testing.assert_close(traced.output, expected, atol=1e-5, rtol=1e-5)


def test_initial_offsets_point_along_each_heads_direction_and_weights_are_uniform():
    attention = DeformableAttention(8, 4, n_levels=2, n_points=3).to(DEVICE)
    x = torch.randn(1, 4, 4, 8, device=DEVICE)
    coarse = torch.randn(1, 2, 2, 8, device=DEVICE)
    traced = attention.trace(x.reshape(1, -1, 8), reference_points(4, 4, DEVICE), [x, coarse])
    offsets = attention.sampling_offsets.bias.view(4, 2, 3, 2)
    directions = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], device=DEVICE)
    scale = torch.tensor([1.0, 2.0, 3.0], device=DEVICE)
    expected = directions[:, None, None, :] * scale[None, None, :, None]
    torch.testing.assert_close(offsets, expected.expand(-1, 2, -1, -1), atol=1e-6, rtol=0)
    torch.testing.assert_close(traced.attention_weights, torch.full_like(traced.attention_weights, 1 / 6))


def test_gradients_reach_the_offsets_so_the_sampling_points_can_learn():
    attention = DeformableAttention(8, 2, n_points=2).to(DEVICE)
    with torch.no_grad():
        attention.sampling_offsets.bias.add_(0.3)  # off the token centres
    x = torch.randn(1, 6, 6, 8, device=DEVICE)
    attention(x.reshape(1, -1, 8), reference_points(6, 6, DEVICE), [x]).pow(2).sum().backward()
    assert attention.sampling_offsets.weight.grad.abs().sum() > 0
    assert attention.attention_weights.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("n", [8, 14, 16, 28, 32, 56, 64])
@pytest.mark.parametrize("levels", [1, 2])
def test_block_shapes_for_page_sizes(n, levels):
    block = DeformableBlock(8, 2, n_points=4, n_levels=levels).to(DEVICE)
    x = torch.randn(1, n, n, 8, device=DEVICE)
    with torch.no_grad():
        traced = block.trace(x)
        assert torch.equal(traced.output, block(x))
    assert traced.output.shape == x.shape
    assert traced.attention.sampling_locations.shape == (1, n * n, 2, levels, 4, 2)
    assert traced.attention.sampled.shape == (1, n * n, 2, levels, 4, 4)
    torch.testing.assert_close(
        traced.attention.attention_weights.sum(dim=(-1, -2)), torch.ones(1, n * n, 2, device=DEVICE)
    )


def test_cost_is_linear_in_the_number_of_tokens():
    assert deformable_attention_cost(256, 256, 32, 4, 1, 4) == 256 * 32**2 * 2 + 3 * 256 * 32 * 16 + 5 * 256 * 4 * 32
    assert deformable_attention_cost(8192, 8192, 32, 4, 2, 4) == 2 * deformable_attention_cost(4096, 4096, 32, 4, 2, 4)


def test_bad_settings_are_refused_with_clear_messages():
    with pytest.raises(ValueError, match=r"between 1 and 32 points \(K\)"):
        DeformableAttention(8, 2, n_points=0)
    with pytest.raises(ValueError, match="one or two feature levels"):
        DeformableAttention(8, 2, n_levels=3)
    with pytest.raises(ValueError, match="must divide d_model"):
        DeformableAttention(8, 3)
    attention = DeformableAttention(8, 2, n_levels=2).to(DEVICE)
    x = torch.randn(1, 4, 4, 8, device=DEVICE)
    with pytest.raises(ValueError, match="reads 2 feature level"):
        attention(x.reshape(1, -1, 8), reference_points(4, 4, DEVICE), [x])
    with pytest.raises(ValueError, match="reference points"):
        attention(x.reshape(1, -1, 8), reference_points(4, 2, DEVICE), [x, x])
    with pytest.raises(ValueError, match="even size"):
        DeformableBlock(8, 2, n_levels=2).to(DEVICE)(torch.randn(1, 7, 7, 8, device=DEVICE))
