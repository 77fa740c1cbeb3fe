"""The one attention against independent references: torch's SDPA (with a boolean mask and an additive bias),
nn.MultiheadAttention with the same weights, cross-attention recomputed by hand, and attention rollout."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.blocks.attention import MultiHeadAttention, attention_rollout, head_mean, scaled_dot_product_attention


def test_sdpa_matches_torch_with_and_without_mask():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 4)
    out, weights = scaled_dot_product_attention(q, k, v)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5)
    assert weights.shape == (2, 3, 5, 7)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 5), atol=1e-6)
    mask = torch.rand(5, 7) > 0.4
    mask[:, 0] = True  # every query may attend to at least one key
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-5)
    assert (weights[..., ~mask] == 0).all()


def test_sdpa_rejects_bad_inputs():
    q = torch.randn(1, 4, 8)
    with pytest.raises(ValueError, match="same width"):
        scaled_dot_product_attention(q, torch.randn(1, 4, 6), torch.randn(1, 4, 6))
    with pytest.raises(ValueError, match="boolean"):
        scaled_dot_product_attention(q, q, q, torch.ones(4, 4))


@pytest.mark.parametrize("use_mask", [False, True])
def test_multi_head_matches_nn_multihead_attention(use_mask):
    torch.manual_seed(1)
    reference = nn.MultiheadAttention(16, 4, batch_first=True)
    ours = MultiHeadAttention(16, 4)
    ours.load_torch_weights(reference)
    x = torch.randn(3, 6, 16)
    mask = torch.ones(6, 6, dtype=torch.bool).tril() if use_mask else None
    traced = ours.trace(x, mask=mask)
    y, weights = traced.output, traced.weights
    ref_mask = None if mask is None else ~mask  # torch: True = may NOT attend
    y_ref, w_ref = reference(x, x, x, attn_mask=ref_mask, need_weights=True, average_attn_weights=False)
    assert weights.shape == (3, 4, 6, 6)
    assert torch.allclose(y, y_ref, atol=1e-5)
    assert torch.allclose(weights, w_ref, atol=1e-6)


def test_heads_must_divide_d_model():
    with pytest.raises(ValueError, match="must divide d_model"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="positive integer"):
        MultiHeadAttention(16, 0)


def test_rollout_rows_sum_to_one_and_head_mean():
    torch.manual_seed(5)
    attentions = [torch.rand(2, 3, 6, 6).softmax(-1) for _ in range(3)]
    rollout = attention_rollout(attentions)
    assert rollout.shape == (2, 6, 6)
    assert torch.allclose(rollout.sum(-1), torch.ones(2, 6), atol=1e-5)
    assert torch.allclose(head_mean(attentions[0]), attentions[0].mean(1))
    # one layer, no residual: rollout is the head mean itself
    assert torch.allclose(attention_rollout(attentions[:1], residual=0.0), head_mean(attentions[0]), atol=1e-6)
    with pytest.raises(ValueError):
        attention_rollout([])


def test_an_additive_bias_matches_torch_float_mask():
    """A float ``attn_mask`` in torch's SDPA is added to the scores: the same as our ``bias``."""
    torch.manual_seed(8)
    q, k, v = torch.randn(2, 4, 5, 8), torch.randn(2, 4, 6, 8), torch.randn(2, 4, 6, 3)
    bias = torch.randn(4, 5, 6)
    out, weights = scaled_dot_product_attention(q, k, v, bias=bias)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=bias), atol=1e-5, rtol=1e-5)
    scores = q @ k.transpose(-2, -1) / 8**0.5 + bias
    torch.testing.assert_close(weights, scores.softmax(-1))


def test_cross_attention_takes_keys_and_values_from_their_own_sources():
    """Queries from x, keys from c, values from v: recomputed here from the projections' weights."""
    torch.manual_seed(9)
    attention = MultiHeadAttention(8, 2, output_projection=False)
    x, c, v = torch.randn(3, 4, 8), torch.randn(3, 6, 8), torch.randn(3, 6, 8)
    traced = attention.trace(x, c, v)

    def heads(t):
        return t.view(3, -1, 2, 4).transpose(1, 2)  # (B, h, T, d_head)

    q, k, values = heads(attention.q_proj(x)), heads(attention.k_proj(c)), heads(attention.v_proj(v))
    A = (q @ k.transpose(-2, -1) / 2.0).softmax(-1)  # sqrt(d_head) = 2
    torch.testing.assert_close(traced.weights, A)
    torch.testing.assert_close(traced.head_outputs, A @ values)
    torch.testing.assert_close(traced.output, (A @ values).transpose(1, 2).reshape(3, 4, 8))
    assert traced.weights.shape == (3, 2, 4, 6)
