"""Swin's windows against references built here from token coordinates: W-MSA is full attention masked to pairs
in the same window, SW-MSA is full attention on the rolled map masked to pairs in the same window and region,
the relative-bias index follows (dy + M - 1)(2M - 1) + (dx + M - 1), patch merging takes the 2x2 neighbours."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from models.blocks.attention import MultiHeadAttention
from models.blocks.windows import (
    SHIFT_MASK_VALUE,
    PatchMerging,
    RelativePositionBias,
    SwinBlock,
    SwinStage,
    WindowAttention,
    attention_matrix_bytes,
    check_attention_fits,
    check_window,
    msa_cost,
    relative_position_index,
    shift_attention_bias,
    shift_region_mask,
    shift_regions,
    window_msa_cost,
    window_partition,
    window_reverse,
)
from models.core.device import default_device
from models.labs.highres.models import MAP_CHOICES, WINDOW_CHOICES

DEVICE = default_device()
PAGE_MAPS = tuple(sorted({*MAP_CHOICES, 14, 28, 56, 64}))  # the lab's choices and Swin-like sizes (M = 7)
PAGE_WINDOWS = tuple(sorted({*WINDOW_CHOICES, 7}))
TILING = [(n, m) for n in PAGE_MAPS for m in PAGE_WINDOWS if n % m == 0]
NOT_TILING = [(n, m) for n in PAGE_MAPS for m in PAGE_WINDOWS if n % m]


def coordinates(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column of every token of an H x W map, row by row."""
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return rows.flatten().to(DEVICE), cols.flatten().to(DEVICE)


def same(labels: torch.Tensor) -> torch.Tensor:
    return labels[:, None] == labels[None, :]


def window_tokens(height: int, width: int, m: int) -> torch.Tensor:
    """Flat index of token t of window w, both row by row: ``(nW, M*M)``."""
    w, t = torch.meshgrid(torch.arange((height // m) * (width // m)), torch.arange(m * m), indexing="ij")
    rows = (w // (width // m)) * m + t // m
    cols = (w % (width // m)) * m + t % m
    return (rows * width + cols).to(DEVICE)


def pair_bias(table: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, m: int, allowed: torch.Tensor):
    """The relative bias of every allowed pair read from the table by the formula: ``(heads, N, N)``."""
    dy, dx = rows[:, None] - rows[None, :], cols[:, None] - cols[None, :]
    index = torch.where(allowed, (dy + m - 1) * (2 * m - 1) + (dx + m - 1), 0)
    return table[index].permute(2, 0, 1)


def reference_attention(attention: MultiHeadAttention, tokens: torch.Tensor, allowed: torch.Tensor, bias=None):
    """Full multi-head attention over all tokens with the module's W_q, W_k, W_v, W_o, written out here."""
    batch, n, d = tokens.shape
    heads = attention.n_heads

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(batch, n, heads, d // heads).transpose(1, 2)  # (B, h, N, d_head)

    q, k, v = split(attention.q_proj(tokens)), split(attention.k_proj(tokens)), split(attention.v_proj(tokens))
    scores = q @ k.transpose(-2, -1) / math.sqrt(d // heads)  # (B, h, N, N)
    if bias is not None:
        scores = scores + bias
    weights = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
    return attention.out_proj((weights @ v).transpose(1, 2).reshape(batch, n, d)), weights


def shifted_regions(size: int, m: int) -> torch.Tensor:
    """Region (0, 1, 2) along one axis of the rolled map: [0, size - M), [size - M, size - M/2), the rest."""
    i = torch.arange(size, device=DEVICE)
    return (i >= size - m).long() + (i >= size - m // 2).long()


def random_window_attention(d_model: int, heads: int, m: int, shifted: bool) -> WindowAttention:
    module = WindowAttention(d_model, heads, m, shifted).to(DEVICE)
    with torch.no_grad():
        module.relative_bias.table.normal_()  # a bias large enough to matter
    return module


@pytest.mark.parametrize(("height", "width", "m"), [(8, 8, 2), (8, 8, 4), (8, 12, 4), (14, 14, 7), (16, 16, 8)])
def test_w_msa_is_full_attention_with_a_same_window_mask(height, width, m):
    module = random_window_attention(8, 2, m, shifted=False)
    x = torch.randn(2, height, width, 8, device=DEVICE)
    rows, cols = coordinates(height, width)
    allowed = same(rows // m) & same(cols // m)
    bias = pair_bias(module.relative_bias.table, rows, cols, m, allowed)
    expected, weights = reference_attention(module.attention, x.reshape(2, -1, 8), allowed, bias)
    traced = module.trace(x)
    assert traced.shift == 0 and traced.shift_bias is None
    torch.testing.assert_close(traced.output.reshape(2, -1, 8), expected, atol=1e-5, rtol=1e-4)
    idx = window_tokens(height, width, m)
    in_window = weights[:, :, idx[:, :, None], idx[:, None, :]].permute(0, 2, 1, 3, 4)  # (B, nW, h, T, T)
    torch.testing.assert_close(traced.weights, in_window, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(("height", "width", "m"), [(8, 8, 2), (8, 8, 4), (8, 12, 4), (14, 14, 7), (16, 16, 8)])
def test_sw_msa_is_full_attention_on_the_rolled_map_within_window_and_region(height, width, m):
    module = random_window_attention(8, 2, m, shifted=True)
    x = torch.randn(2, height, width, 8, device=DEVICE)
    s = m // 2
    rolled = torch.roll(x, shifts=(-s, -s), dims=(1, 2))
    rows, cols = coordinates(height, width)
    region_rows, region_cols = shifted_regions(height, m)[rows], shifted_regions(width, m)[cols]
    allowed = same(rows // m) & same(cols // m) & same(region_rows) & same(region_cols)
    bias = pair_bias(module.relative_bias.table, rows, cols, m, allowed)
    expected, weights = reference_attention(module.attention, rolled.reshape(2, -1, 8), allowed, bias)
    traced = module.trace(x)
    assert traced.shift == s
    expected = torch.roll(expected.view(2, height, width, 8), shifts=(s, s), dims=(1, 2))
    torch.testing.assert_close(traced.output, expected, atol=1e-5, rtol=1e-4)
    idx = window_tokens(height, width, m)
    in_window = weights[:, :, idx[:, :, None], idx[:, None, :]].permute(0, 2, 1, 3, 4)
    torch.testing.assert_close(traced.weights, in_window, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(("height", "width", "m"), [(8, 8, 4), (8, 16, 4), (14, 14, 7), (16, 16, 2), (24, 24, 8)])
def test_the_shift_mask_keeps_pairs_in_one_region_of_the_rolled_map(height, width, m):
    s = m // 2
    rows, cols = coordinates(height, width)
    same_region = same(shifted_regions(height, m)[rows]) & same(shifted_regions(width, m)[cols])
    idx = window_tokens(height, width, m)
    expected = same_region[idx[:, :, None], idx[:, None, :]]  # (nW, T, T)
    mask = shift_region_mask(height, width, m, s)
    assert torch.equal(mask.to(DEVICE), expected)
    bias = shift_attention_bias(height, width, m, s)
    assert torch.equal(bias, torch.where(mask, 0.0, SHIFT_MASK_VALUE))
    labels = shift_regions(height, width, m, s)
    assert labels.unique().tolist() == list(range(9))
    assert torch.equal(
        labels.flatten().to(DEVICE), 3 * shifted_regions(height, m)[rows] + shifted_regions(width, m)[cols]
    )
    assert mask[0].all()  # the top-left window of the rolled map lies in one region
    assert not mask[-1].all()  # the bottom-right one gathers four


def test_no_shift_means_one_region_and_a_map_of_one_window_is_not_shifted():
    assert shift_regions(8, 8, 4, 0).eq(0).all() and shift_region_mask(8, 8, 4, 0).all()
    x = torch.randn(1, 4, 4, 8, device=DEVICE)
    plain, shifted = WindowAttention(8, 2, 4).to(DEVICE), WindowAttention(8, 2, 4, shifted=True).to(DEVICE)
    shifted.load_state_dict(plain.state_dict())
    traced = shifted.trace(x)
    assert traced.shift == 0 and traced.shift_bias is None
    torch.testing.assert_close(traced.output, plain(x))


@pytest.mark.parametrize("m", [1, 2, 4, 7, 8])
def test_the_relative_bias_index_is_dy_plus_m_minus_1_times_2m_minus_1_plus_dx_plus_m_minus_1(m):
    index = relative_position_index(m)
    assert index.shape == (m * m, m * m)
    for i in range(m * m):
        for j in range(m * m):
            dy, dx = i // m - j // m, i % m - j % m
            assert index[i, j] == (dy + m - 1) * (2 * m - 1) + (dx + m - 1)
    assert index.unique().numel() == (2 * m - 1) ** 2  # every table row is used
    bias = RelativePositionBias(m, 3)
    assert bias.table.shape == ((2 * m - 1) ** 2, 3)
    assert torch.equal(bias(), bias.table[index].permute(2, 0, 1))


@pytest.mark.parametrize(("n", "m"), TILING)
def test_partition_then_reverse_is_the_identity_and_windows_hold_the_right_tokens(n, m):
    x = torch.randn(2, n, n + m, 3, device=DEVICE)
    windows = window_partition(x, m)
    assert windows.shape == (2, (n // m) * ((n + m) // m), m * m, 3)
    assert torch.equal(window_reverse(windows, m, n, n + m), x)
    assert torch.equal(windows, x.reshape(2, -1, 3)[:, window_tokens(n, n + m, m)])


@pytest.mark.parametrize(("n", "m"), TILING)
def test_swin_stage_shapes_for_every_page_size_and_shifts_alternate(n, m):
    stage = SwinStage(2, 8, 2, m).to(DEVICE)
    x = torch.randn(1, n, n, 8, device=DEVICE)
    with torch.no_grad():
        traced = stage.trace(x)
        assert torch.equal(traced.output, stage(x))
    assert traced.output.shape == x.shape and len(traced.hidden_states) == 3
    assert [b.attention.shift for b in traced.blocks] == [0, m // 2 if n > m else 0]
    n_windows = (n // m) ** 2
    assert traced.blocks[1].attention.weights.shape == (1, n_windows, 2, m * m, m * m)
    assert torch.allclose(traced.blocks[0].attention.weights.sum(-1), torch.ones(1, n_windows, 2, m * m, device=DEVICE))


@pytest.mark.parametrize(("n", "m"), NOT_TILING)
def test_sizes_that_do_not_tile_are_refused_with_a_clear_message(n, m):
    with pytest.raises(ValueError, match=f"window size {m} does not tile a {n}x{n} map"):
        WindowAttention(8, 2, m)(torch.randn(1, n, n, 8, device=DEVICE))


def test_bad_settings_are_refused_with_clear_messages():
    with pytest.raises(ValueError, match="positive integer"):
        check_window(8, 8, 0)
    with pytest.raises(ValueError, match="at least 2"):
        WindowAttention(8, 2, 1, shifted=True)
    with pytest.raises(ValueError, match="must divide d_model"):
        SwinBlock(10, 3, 4)
    with pytest.raises(ValueError, match="token map"):
        WindowAttention(8, 2, 4)(torch.randn(1, 16, 8))
    with pytest.raises(ValueError, match="even map size"):
        PatchMerging(8)(torch.randn(1, 6, 7, 8))
    with pytest.raises(ValueError, match="depth"):
        SwinStage(0, 8, 2, 4)


def test_patch_merging_concatenates_the_four_2x2_neighbours_then_norms_and_halves():
    merge = PatchMerging(4).to(DEVICE)
    x = torch.randn(2, 6, 8, 4, device=DEVICE, requires_grad=True)
    expected = torch.empty(2, 3, 4, 16, device=DEVICE)
    for i in range(3):
        for j in range(4):
            corners = [(2 * i, 2 * j), (2 * i + 1, 2 * j), (2 * i, 2 * j + 1), (2 * i + 1, 2 * j + 1)]
            expected[:, i, j] = torch.cat([x[:, r, c] for r, c in corners], dim=-1)
    assert torch.equal(merge.gather(x), expected)
    normed = F.layer_norm(expected, (16,), merge.norm.weight, merge.norm.bias)
    out = merge(x)
    assert out.shape == (2, 3, 4, 8)
    torch.testing.assert_close(out, normed @ merge.reduction.weight.T, atol=1e-5, rtol=1e-5)
    out[:, 1, 2].sum().backward()
    touched = x.grad.abs().sum(dim=(0, 3)).nonzero().tolist()
    assert touched == [[2, 4], [2, 5], [3, 4], [3, 5]]


@pytest.mark.parametrize("n", [8, 16, 28, 32, 56, 64])
def test_patch_merging_shapes(n):
    assert PatchMerging(6).to(DEVICE)(torch.randn(1, n, n, 6, device=DEVICE)).shape == (1, n // 2, n // 2, 12)


def test_swin_block_is_pre_norm_with_residuals():
    block = SwinBlock(8, 2, 4, shifted=True).to(DEVICE)
    x = torch.randn(2, 8, 8, 8, device=DEVICE)
    with torch.no_grad():
        attended = x + block.attention(block.norm1(x))
        expected = attended + block.ffn(block.norm2(attended))
        traced = block.trace(x)
    torch.testing.assert_close(traced.output, expected)
    assert traced.attention.shift == 2


def test_cost_formulas_of_the_swin_paper():
    assert msa_cost(16, 16, 32) == 4 * 256 * 32**2 + 2 * 256**2 * 32 == 5_242_880
    assert window_msa_cost(16, 16, 32, 4) == 4 * 256 * 32**2 + 2 * 16 * 256 * 32 == 1_310_720
    assert window_msa_cost(8, 8, 32, 8) == msa_cost(8, 8, 32)  # one window covering the map is global attention
    assert window_msa_cost(64, 64, 32, 4) / window_msa_cost(32, 32, 32, 4) == 4  # linear in hw
    assert msa_cost(64, 64, 32) / msa_cost(32, 32, 32) > 15  # close to quadratic


def test_attention_memory_estimate_and_refusal():
    assert attention_matrix_bytes(4096, 4096, 4, batch=8) == 2 * 2**30  # 64x64 tokens, B = 8: 2 GiB in fp32
    check_attention_fits(1024, 4, 8, budget_bytes=2**30)
    with pytest.raises(ValueError, match=r"4,096 tokens needs 2\.00 GiB"):
        check_attention_fits(4096, 4, 8, budget_bytes=2**30)
