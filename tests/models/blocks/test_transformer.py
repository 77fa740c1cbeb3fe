"""The transformer encoder against torch's: LayerNorm, the encoder block in both norm orders, the stack's trace,
and the token transformer's permutation equivariance without a positional encoding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models.blocks.transformer import EncoderBlock, LayerNorm, TokenTransformer, TransformerEncoder


def test_layer_norm_matches_torch():
    torch.manual_seed(2)
    ours, reference = LayerNorm(12), nn.LayerNorm(12)
    with torch.no_grad():
        for p in (ours.weight, ours.bias):
            p.normal_()
        reference.weight.copy_(ours.weight)
        reference.bias.copy_(ours.bias)
    x = 3 * torch.randn(4, 5, 12) + 1
    assert torch.allclose(ours(x), reference(x), atol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_block_matches_torch_encoder_layer(norm_first):
    """Our block and nn.TransformerEncoderLayer (ReLU, no dropout) compute the same thing from the same weights."""
    torch.manual_seed(3)
    ours = EncoderBlock(16, 4, 32, norm_first=norm_first).eval()
    reference = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=norm_first).eval()
    ours.attention.load_torch_weights(reference.self_attn)
    with torch.no_grad():
        for mine, theirs in (
            (ours.ffn.linear1, reference.linear1),
            (ours.ffn.linear2, reference.linear2),
            (ours.norm1, reference.norm1),
            (ours.norm2, reference.norm2),
        ):
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)
    x = torch.randn(2, 7, 16)
    y, attended = ours.trace(x)
    with torch.no_grad():
        assert torch.allclose(y, reference(x), atol=1e-5)
    assert attended.weights.shape == (2, 4, 7, 7) and attended.head_outputs.shape == (2, 4, 7, 4)


def test_stack_returns_hidden_states_and_attentions():
    encoder = TransformerEncoder(3, 16, 2, 32)
    output = encoder.trace(torch.randn(2, 5, 16))
    assert len(output.hidden_states) == 4 and len(output.attentions) == 3
    assert all(a.shape == (2, 2, 5, 5) for a in output.attentions)
    assert torch.equal(output.hidden_states[-1], output.output)


def test_permutation_equivariance_without_positional_encoding():
    """Without PE, permuting the input tokens permutes the outputs and attention the same way."""
    torch.manual_seed(4)
    model = TokenTransformer(8, 8, 8, positional="none").eval()
    tokens = torch.randint(8, (2, 8))
    perm = torch.randperm(8)
    with torch.no_grad():
        trace, permuted = model.trace(tokens), model.trace(tokens[:, perm])
    assert torch.allclose(permuted.output, trace.output[:, perm], atol=1e-5)
    a, a_perm = trace.encoder.attentions[0], permuted.encoder.attentions[0]
    assert torch.allclose(a_perm, a[:, :, perm][:, :, :, perm], atol=1e-6)


def test_positional_encoding_breaks_equivariance():
    torch.manual_seed(4)
    model = TokenTransformer(8, 8, 8, positional="sinusoidal").eval()
    tokens = torch.randint(8, (2, 8))
    perm = torch.roll(torch.arange(8), 1)
    with torch.no_grad():
        assert not torch.allclose(model(tokens[:, perm]), model(tokens)[:, perm], atol=1e-3)
