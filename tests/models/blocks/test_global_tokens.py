"""GLAM against references built here: window attention over [global tokens ; window tokens] is full attention
masked to pairs of one window (and one region of the rolled map between window tokens), with the relative bias on
window pairs only; without G-MSA a token sees only its window and its own global tokens; with G-MSA the global
tokens read every window in one block, and a window token reads another window after two."""

from __future__ import annotations

import pytest
import torch

from models.blocks.global_tokens import Glam, GlamBlock, check_global_tokens, glam_cost
from models.blocks.windows import WindowAttention, window_msa_cost
from tests.models.blocks.test_windows import (
    DEVICE,
    coordinates,
    pair_bias,
    reference_attention,
    same,
    shifted_regions,
)


def grad_map(output: torch.Tensor, *inputs: torch.Tensor) -> list[torch.Tensor]:
    """Which entries of each input ``output`` depends on, summed over features: a gradient above 1e-20 (Swin's
    -100 mask is additive, so a masked pair still passes a gradient of order e^-100)."""
    grads = torch.autograd.grad(output.sum(), inputs, allow_unused=True, retain_graph=True)
    return [
        torch.zeros(i.shape[:-1], dtype=torch.bool) if g is None else g.abs().sum(-1).cpu() > 1e-20
        for i, g in zip(inputs, grads, strict=True)
    ]


@pytest.mark.parametrize("shifted", [False, True])
@pytest.mark.parametrize(("height", "width", "m", "g"), [(8, 8, 4, 1), (8, 12, 4, 3), (14, 14, 7, 2)])
def test_window_attention_over_global_and_window_tokens_matches_a_masked_full_attention(height, width, m, g, shifted):
    module = WindowAttention(8, 2, m, shifted).to(DEVICE)
    with torch.no_grad():
        module.relative_bias.table.normal_()
    x = torch.randn(2, height, width, 8, device=DEVICE)
    n_windows = (height // m) * (width // m)
    prefix = torch.randn(2, n_windows, g, 8, device=DEVICE)
    s, n_g = (m // 2 if shifted else 0), n_windows * g
    rows, cols = coordinates(height, width)  # of the rolled map
    window = torch.cat([torch.arange(n_g, device=DEVICE) // g, (rows // m) * (width // m) + cols // m])
    allowed = same(window)  # global tokens first, then the map's tokens row by row
    if shifted:
        allowed[n_g:, n_g:] &= same(shifted_regions(height, m)[rows]) & same(shifted_regions(width, m)[cols])
    bias = torch.zeros(2, *allowed.shape, device=DEVICE)  # zero on the global tokens' rows and columns
    bias[:, n_g:, n_g:] = pair_bias(module.relative_bias.table, rows, cols, m, allowed[n_g:, n_g:])
    rolled = torch.roll(x, shifts=(-s, -s), dims=(1, 2))
    sequence = torch.cat([prefix.reshape(2, n_g, 8), rolled.reshape(2, -1, 8)], dim=1)
    expected, _ = reference_attention(module.attention, sequence, allowed, bias)
    traced = module.trace(x, prefix)
    torch.testing.assert_close(traced.prefix_output, expected[:, :n_g].view(2, n_windows, g, 8), atol=1e-5, rtol=1e-4)
    expected_map = torch.roll(expected[:, n_g:].view(2, height, width, 8), shifts=(s, s), dims=(1, 2))
    torch.testing.assert_close(traced.output, expected_map, atol=1e-5, rtol=1e-4)
    assert traced.weights.shape == (2, n_windows, 2, g + m * m, g + m * m)


def test_the_glam_block_is_window_attention_then_g_msa_on_the_global_tokens():
    block = GlamBlock(8, 2, 4, 2, (8, 8)).to(DEVICE)
    x = torch.randn(2, 8, 8, 8, device=DEVICE)
    g = torch.randn(2, 4, 2, 8, device=DEVICE)
    with torch.no_grad():
        windowed = block.window_attention.trace(block.norm1(x), g)
        y = x + windowed.output
        y = y + block.ffn(block.norm2(y))
        tokens = windowed.prefix_output.reshape(2, 8, 8) + block.global_position
        mixed, weights = reference_attention(
            block.global_attention, tokens, torch.ones(8, 8, dtype=torch.bool, device=DEVICE)
        )
        traced = block.trace(x, g)
    torch.testing.assert_close(traced.output, y)
    torch.testing.assert_close(traced.global_tokens, mixed.view(2, 4, 2, 8), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(traced.global_attention.weights, weights, atol=1e-6, rtol=1e-5)
    shared = block.trace(x, torch.randn(2, 8, device=DEVICE))  # (G, C): the same tokens copied to every window
    assert shared.global_tokens.shape == (2, 4, 2, 8)


def test_without_g_msa_a_token_sees_only_its_window_and_its_own_global_tokens():
    block = GlamBlock(8, 2, 4, 2, (8, 8), global_attention=False).to(DEVICE)
    x = torch.randn(1, 8, 8, 8, device=DEVICE, requires_grad=True)
    g = torch.randn(1, 4, 2, 8, device=DEVICE, requires_grad=True)
    traced = block.trace(x, g)
    seen_x, seen_g = grad_map(traced.output[:, 1, 2], x, g)  # a token of window 0
    expected = torch.zeros(1, 8, 8, dtype=torch.bool)
    expected[:, :4, :4] = True
    assert torch.equal(seen_x, expected)
    assert torch.equal(seen_g, torch.tensor([[[True, True], [False, False], [False, False], [False, False]]]))
    seen_x, seen_g = grad_map(traced.global_tokens[:, 3], x, g)  # window 3's global tokens
    assert torch.equal(seen_x, expected.flip(1, 2))
    assert seen_g[0, 3].all() and not seen_g[0, :3].any()


def test_shifted_without_g_msa_a_token_sees_its_region_of_its_shifted_window():
    block = GlamBlock(8, 2, 4, 1, (8, 8), shifted=True, global_attention=False).to(DEVICE)
    x = torch.randn(1, 8, 8, 8, device=DEVICE, requires_grad=True)
    g = torch.randn(1, 4, 1, 8, device=DEVICE, requires_grad=True)
    seen_x, seen_g = grad_map(block(x, g)[:, 0, 0], x, g)
    # token (0, 0) sits at (6, 6) of the map rolled by (-2, -2): window 3, region (2, 2), i.e. rows/cols 6..7
    # of the rolled map, rows/cols 0..1 of the map
    expected = torch.zeros(1, 8, 8, dtype=torch.bool)
    expected[:, :2, :2] = True
    assert torch.equal(seen_x, expected)
    assert torch.equal(seen_g[0, :, 0], torch.tensor([False, False, False, True]))


def test_with_g_msa_global_tokens_read_every_window_in_one_block_and_window_tokens_in_two():
    torch.manual_seed(1)
    x = torch.randn(1, 8, 8, 8, device=DEVICE, requires_grad=True)
    block = GlamBlock(8, 2, 4, 1, (8, 8)).to(DEVICE)
    traced = block.trace(x, torch.randn(1, 8, device=DEVICE))
    assert grad_map(traced.global_tokens[:, 0], x)[0][0, 7, 7]  # window 0's global token reads window 3
    assert not grad_map(traced.output[:, 0, 0], x)[0][0, 4:, 4:].any()  # its window tokens not yet
    for global_attention in (True, False):
        glam = Glam(2, 8, 2, 4, 1, (8, 8), shifted_windows=False, global_attention=global_attention).to(DEVICE)
        reached = grad_map(glam(x)[:, 0, 0], x)[0][0]
        own_window = torch.zeros(8, 8, dtype=torch.bool)
        own_window[:4, :4] = True
        assert reached.all() if global_attention else torch.equal(reached, own_window)


@pytest.mark.parametrize(
    ("n", "m", "g"), [(8, 2, 1), (8, 4, 2), (14, 7, 1), (16, 4, 5), (28, 7, 5), (32, 8, 10), (56, 7, 1), (64, 8, 15)]
)
def test_glam_shapes_for_page_sizes(n, m, g):
    glam = Glam(2, 8, 2, m, g, (n, n)).to(DEVICE)
    x = torch.randn(1, n, n, 8, device=DEVICE)
    with torch.no_grad():
        traced = glam.trace(x)
        assert torch.equal(traced.output, glam(x))
    n_windows = (n // m) ** 2
    assert traced.output.shape == x.shape and traced.global_tokens.shape == (1, n_windows, g, 8)
    assert traced.blocks[0].window.weights.shape == (1, n_windows, 2, g + m * m, g + m * m)
    assert traced.blocks[1].global_attention.weights.shape == (1, 2, n_windows * g, n_windows * g)
    assert [b.window.shift for b in traced.blocks] == [0, m // 2 if n > m else 0]


def test_bad_settings_are_refused_with_clear_messages():
    with pytest.raises(ValueError, match="G = 0 is plain window attention"):
        check_global_tokens(0)
    with pytest.raises(ValueError, match="global tokens per window"):
        Glam(2, 8, 2, 4, 0, (8, 8))
    with pytest.raises(ValueError, match="does not tile a 16x16 map"):
        GlamBlock(8, 2, 7, 1, (16, 16))
    block = GlamBlock(8, 2, 4, 2, (8, 8)).to(DEVICE)
    with pytest.raises(ValueError, match="runs on a 8x8 map, got 16x16"):
        block(torch.randn(1, 16, 16, 8, device=DEVICE), torch.randn(2, 8, device=DEVICE))
    with pytest.raises(ValueError, match="expected global tokens"):
        block(torch.randn(1, 8, 8, 8, device=DEVICE), torch.randn(3, 8, device=DEVICE))
    with pytest.raises(ValueError, match="depth"):
        Glam(0, 8, 2, 4, 1, (8, 8))


def test_glam_cost_is_window_cost_on_g_plus_m2_tokens_plus_g_msa():
    assert glam_cost(16, 16, 32, 4, 0) == window_msa_cost(16, 16, 32, 4)
    n_windows, tokens = 16, 1 + 16
    windows = n_windows * (4 * tokens * 32**2 + 2 * tokens**2 * 32)
    assert glam_cost(16, 16, 32, 4, 1) == windows + 4 * 16 * 32**2 + 2 * 16**2 * 32
